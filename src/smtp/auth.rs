//! SMTP AUTH (RFC 4954): which mechanism a login uses, and the exchange.
//! PLAIN, XOAUTH2 and OAUTHBEARER send their one message as the initial
//! response, so a login costs one round trip; LOGIN answers the server's
//! two `334` prompts. Every message holds a secret: it is written to the
//! wire from a [`Secret`] and shown in `-v` only as `***`.

use crate::base64;
use crate::password::Secret;
use crate::sasl;

use super::client::Smtp;
use super::error::{Phase, SmtpError};
use super::reply::Reply;

/// What the SMTP login is made of.
#[derive(Clone, Debug)]
pub struct SmtpLogin {
    pub user: String,
    /// The password, or for the OAuth mechanisms the access token.
    pub secret: Secret,
    /// The OAuth mechanism when the secret is a token; None: a password,
    /// sent with PLAIN where offered, else LOGIN.
    pub oauth: Option<OAuthMechanism>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthMechanism {
    XOAuth2,
    OAuthBearer,
}

/// The mechanism a login uses on a server that offers `offered`
/// (the words of EHLO's AUTH line, upper case).
pub fn choose(login: &SmtpLogin, offered: &[String]) -> Result<&'static str, SmtpError> {
    let has = |m: &str| offered.iter().any(|o| o == m);
    let wanted: &[&'static str] = match login.oauth {
        Some(OAuthMechanism::XOAuth2) => &["XOAUTH2"],
        Some(OAuthMechanism::OAuthBearer) => &["OAUTHBEARER"],
        None => &["PLAIN", "LOGIN"],
    };
    wanted
        .iter()
        .copied()
        .find(|m| has(m))
        .ok_or_else(|| SmtpError::NoMechanism {
            wanted: wanted.join(" or "),
            offered: offered.join(" "),
        })
}

/// The whole AUTH exchange; Ok with the 235, or the refusal.
pub fn authenticate(
    smtp: &mut Smtp,
    login: &SmtpLogin,
    mechanism: &'static str,
    host: &str,
    port: u16,
) -> Result<Reply, SmtpError> {
    let initial = match mechanism {
        "PLAIN" => Some(sasl::plain(&login.user, login.secret.expose())),
        "XOAUTH2" => Some(sasl::xoauth2(&login.user, login.secret.expose())),
        "OAUTHBEARER" => Some(sasl::oauthbearer(
            &login.user,
            host,
            port,
            login.secret.expose(),
        )),
        _ => None,
    };
    smtp.mask_in_replies(login.secret.clone());
    smtp.mask_in_replies(Secret::new(
        base64::encode(login.secret.expose()).into_bytes(),
    ));
    let reply = match initial {
        Some(message) => {
            smtp.mask_in_replies(Secret::new(base64::encode(message.expose()).into_bytes()));
            let wire = command_with_secret(&format!("AUTH {mechanism} "), message.expose());
            smtp.send_secret(&wire, &format!("AUTH {mechanism} ***"))?;
            smtp.reply(Phase::Auth)?
        }
        None => login_exchange(smtp, login)?,
    };
    match reply.code {
        235 => Ok(reply),
        // An OAuth server's error challenge (base64 JSON): the client
        // answers it, and the server then sends its failure.
        334 if login.oauth.is_some() => {
            let ack = sasl::oauth_failure_ack(login.oauth == Some(OAuthMechanism::OAuthBearer));
            smtp.send(
                format!("{}\r\n", base64::encode(&ack)).as_bytes(),
                "(answer to the OAuth error challenge)",
            )?;
            let after = smtp.reply(Phase::Auth)?;
            Err(SmtpError::Rejected {
                phase: Phase::Auth,
                reply: after,
            })
        }
        _ => Err(SmtpError::Rejected {
            phase: Phase::Auth,
            reply,
        }),
    }
}

/// AUTH LOGIN: the user name and the password, each after a `334`.
fn login_exchange(smtp: &mut Smtp, login: &SmtpLogin) -> Result<Reply, SmtpError> {
    smtp.send(b"AUTH LOGIN\r\n", "AUTH LOGIN")?;
    let prompt = smtp.reply(Phase::Auth)?;
    if prompt.code != 334 {
        return Ok(prompt);
    }
    let user = format!("{}\r\n", base64::encode(login.user.as_bytes()));
    smtp.send(user.as_bytes(), "*** (the user name)")?;
    let prompt = smtp.reply(Phase::Auth)?;
    if prompt.code != 334 {
        return Ok(prompt);
    }
    let wire = command_with_secret("", login.secret.expose());
    smtp.send_secret(&wire, "*** (the password)")?;
    smtp.reply(Phase::Auth)
}

/// `prefix` + base64(secret) + CRLF, all of it a secret.
fn command_with_secret(prefix: &str, secret: &[u8]) -> Secret {
    let encoded = Secret::new(base64::encode(secret).into_bytes());
    let mut wire = Secret::new(Vec::with_capacity(
        prefix.len() + encoded.expose().len() + 2,
    ));
    wire.extend(prefix.as_bytes());
    wire.extend(encoded.expose());
    wire.extend(b"\r\n");
    wire
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(oauth: Option<OAuthMechanism>) -> SmtpLogin {
        SmtpLogin {
            user: "u".into(),
            secret: Secret::new(b"pw".to_vec()),
            oauth,
        }
    }

    #[test]
    fn passwords_prefer_plain_and_tokens_need_their_mechanism() {
        let offered = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            choose(&login(None), &offered("LOGIN PLAIN")).unwrap(),
            "PLAIN"
        );
        assert_eq!(
            choose(&login(None), &offered("LOGIN CRAM-MD5")).unwrap(),
            "LOGIN"
        );
        assert!(choose(&login(None), &offered("CRAM-MD5")).is_err());
        let xo = Some(OAuthMechanism::XOAuth2);
        assert_eq!(
            choose(&login(xo), &offered("PLAIN XOAUTH2")).unwrap(),
            "XOAUTH2"
        );
        assert!(choose(&login(xo), &offered("PLAIN OAUTHBEARER")).is_err());
    }

    #[test]
    fn the_wire_form_is_base64_with_crlf() {
        let wire = command_with_secret("AUTH PLAIN ", b"\0u\0pw");
        assert_eq!(wire.expose(), b"AUTH PLAIN AHUAcHc=\r\n");
    }
}
