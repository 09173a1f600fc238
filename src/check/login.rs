//! The login step: LOGIN, or AUTHENTICATE with PLAIN, XOAUTH2 or
//! OAUTHBEARER; never a secret the server has said it will not take. Also
//! RFC 2971 ID, which reports who the server says it is: sent where a
//! login would be when there is none, and after a login without a round
//! trip of its own (see `id_after_login`).

use crate::cli::AuthMethod;
use crate::parser::Status;
use crate::password::Secret;
use crate::report::{Failure, escape_cut, trim_eol};
use crate::sasl;
use crate::session::{Arg, Completion, Encoding, SessionError, encode_astring};

use super::diagnosis::{self, NO_CONNECTION, NO_PASSWORD};
use super::proxy_reuse;
use super::{Check, Done, StepOutcome, TEXT_CUT};

/// A login's tagged answer, and what an OAuth server reported in an error
/// challenge before it.
type LoginAnswer = (Result<Completion, SessionError>, Option<sasl::OAuthError>);

impl Check<'_> {
    pub(super) fn login(&mut self) -> StepOutcome {
        if self.preauth {
            return Done::skip("PREAUTH greeting: already authenticated");
        }
        let Some(user) = self.cfg.user.clone() else {
            return Done::skip("no --user given");
        };
        let secret = self
            .credentials
            .password
            .take()
            .ok_or_else(|| NO_PASSWORD.with(None))?;
        let tls = self.session()?.transport().is_tls();
        let auth = self.cfg.auth;
        let method = match auth.mechanism() {
            Some(m) => format!("AUTHENTICATE {m}"),
            None => "LOGIN".to_string(),
        };
        if let Some(refused) = diagnosis::login_not_offered(&self.seen, auth, tls) {
            return Err(refused);
        }
        // up-imapproxy says who it is only before login (see `pipeline`).
        self.logout_alone = self.seen.has_cap("XIMAPPROXY");
        // A password LOGIN sends quoted with \" or \\ in it: some servers
        // cannot parse that (see `quoting_hint`).
        let escaped = auth.mechanism().is_none()
            && matches!(encode_astring(secret.expose()), Encoding::Quoted(_))
            && secret.expose().iter().any(|b| matches!(b, b'"' | b'\\'));
        // Only capabilities announced by the login itself count as fresh.
        self.seen.capabilities_fresh = false;
        self.seen.proxy_reused = false;
        // LOGIN and AUTHENTICATE always go alone: see `plan_after_login`.
        let (done, oauth_error) = match auth.mechanism() {
            None => (
                self.run_command(&[
                    Arg::Raw("LOGIN"),
                    Arg::Str(user.as_bytes()),
                    Arg::Secret(secret.expose()),
                ]),
                None,
            ),
            Some(mechanism) => self.authenticate(mechanism, &user, &secret)?,
        };
        drop(secret);
        let done = done.map_err(|e| {
            let mut f = diagnosis::login_io_failure(&e, &method);
            // A proxy whose backend is down says so, then closes (nginx:
            // "* BAD internal server error"): keep its last words.
            if f.got.is_none()
                && let Some(last) = &self.last_words
            {
                f.got = Some(escape_cut(trim_eol(last), TEXT_CUT));
                f.message.push_str(" after its last words (see got)");
                if matches!(e, SessionError::Io(_)) && !e.timed_out() {
                    f.hint = "the server said this and closed: a proxy in front of the mail server (nginx) does so when its backend is down or unreachable; check the backend and the proxy's error log".to_string();
                }
            }
            f
        })?;
        if done.status != Status::Ok {
            let oauth = oauth_error.as_ref();
            let mut f = diagnosis::login_failure(&done, &method, tls, &self.seen, oauth);
            if done.status == Status::Bad && escaped {
                f.hint = quoting_hint();
            }
            return Err(f);
        }
        self.authenticated = true;
        self.plan_after_login();
        self.sync_literal_caps();
        let mut detail = if self.capabilities_with_list {
            format!("{user} via {method}; capabilities asked for with LIST")
        } else {
            format!(
                "{user} via {method}; {} capabilities after login",
                self.seen.capabilities.len()
            )
        };
        if !self.seen.referrals.is_empty() {
            detail.push_str(&format!(
                "; referral not followed: {}",
                self.seen.referrals.join(", ")
            ));
        }
        let mut warnings = Vec::new();
        if self.seen.proxy_reused {
            warnings.push(proxy_reuse::reuse_warning());
        }
        if !tls {
            warnings.push("credentials sent in cleartext (--security none)".to_string());
        }
        Done::ok_or_warn(warnings, detail)
    }

    /// AUTHENTICATE `mechanism` for `user` with `secret` (a password or an
    /// OAuth access token).
    fn authenticate(
        &mut self,
        mechanism: &str,
        user: &str,
        secret: &Secret,
    ) -> Result<LoginAnswer, Failure> {
        let auth = self.cfg.auth;
        let initial = match auth {
            AuthMethod::XOAuth2 => sasl::xoauth2(user, secret.expose()),
            AuthMethod::OAuthBearer => {
                sasl::oauthbearer(user, &self.cfg.host, self.cfg.port, secret.expose())
            }
            AuthMethod::Plain | AuthMethod::Login => sasl::plain(user, secret.expose()),
        };
        let sasl_ir = self.seen.has_cap("SASL-IR");
        let oauth = matches!(auth, AuthMethod::XOAuth2 | AuthMethod::OAuthBearer);
        let mut oauth_error = None;
        let seen = &mut self.seen;
        let last_words = &mut self.last_words;
        *last_words = None;
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| NO_CONNECTION.with(None))?;
        // A challenge after the initial response is an OAuth server's
        // error report (JSON); PLAIN has no second round, so an
        // empty answer lets the server finish with its NO.
        let mut on_challenge = |challenge: &[u8]| {
            if oauth {
                oauth_error =
                    Some(
                        sasl::parse_oauth_error(challenge).unwrap_or_else(|| sasl::OAuthError {
                            status: Some(escape_cut(challenge, TEXT_CUT)),
                            ..sasl::OAuthError::default()
                        }),
                    );
            }
            sasl::oauth_failure_ack(auth == AuthMethod::OAuthBearer)
        };
        // The secret alone too: a server may echo it decoded.
        session.mask_secret(secret.expose());
        let result = session.authenticate(
            mechanism,
            initial.expose(),
            sasl_ir,
            &mut on_challenge,
            &mut |u, raw| {
                *last_words = Some(raw.to_vec());
                seen.absorb(u, raw)
            },
        );
        if let Ok(done) = &result
            && let Some(code) = &done.code
        {
            seen.absorb_code(code, &done.text);
        }
        Ok((result, oauth_error))
    }

    /// Sends ID before the point where a login would be, when no login will
    /// be done (no --user, or PREAUTH): the server's identity is still worth
    /// reporting.
    pub(super) fn send_id_without_login(&mut self) -> Option<String> {
        if self.cfg.user.is_some() && !self.preauth {
            return None;
        }
        if !self.seen.has_cap("ID") {
            return None;
        }
        self.seen.server_id = None;
        self.id_sent = true;
        let ours = id_arguments();
        let done = self.run_command(&[Arg::Raw("ID"), Arg::Raw(&ours)]);
        self.describe_id(done)
    }

    /// What the server said about itself, from ID's completion. A refusal
    /// is not a failure of the check; nothing is reported then.
    pub(super) fn describe_id(&self, done: Result<Completion, SessionError>) -> Option<String> {
        let done = done.ok()?;
        if done.status != Status::Ok {
            return Some(format!("ID refused ({})", escape_cut(&done.text, TEXT_CUT)));
        }
        // imapproxy answers ID itself with a bare OK: say so, rather than
        // leave the server's identity out without a word.
        let Some(pairs) = self.seen.server_id.as_ref() else {
            return Some("none (the server answered ID with no data)".to_string());
        };
        if pairs.is_empty() {
            return Some("the server answered ID NIL".to_string());
        }
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
                .and_then(|(_, v)| v.as_deref())
                .map(|v| escape_cut(v, 80))
        };
        let mut parts: Vec<String> = [get("name"), get("version")]
            .into_iter()
            .flatten()
            .collect();
        for key in ["vendor", "os", "os-version"] {
            if let Some(v) = get(key) {
                parts.push(format!("{key} {v}"));
            }
        }
        if parts.is_empty() {
            parts.push(format!("{} fields", pairs.len()));
        }
        Some(parts.join(" "))
    }

    /// After a successful login: what still has to be asked, and when.
    /// Nothing is ever pipelined behind LOGIN or AUTHENTICATE: a server
    /// whose login process hands the connection to another process
    /// (Courier) loses what the client had already sent, and the check
    /// would wait out its deadline. So ID, and CAPABILITY when the login's
    /// answer carried none, ride in one write with LIST instead: they
    /// change nothing LIST needs, and cost no round trip of their own.
    /// Whether the server takes ID is judged from the capabilities the
    /// login announced, or else from those before it.
    fn plan_after_login(&mut self) {
        self.capabilities_with_list = !self.seen.capabilities_fresh;
        self.id_with_list = self.seen.has_cap("ID");
    }
}

/// Our side of RFC 2971 ID.
pub(super) fn id_arguments() -> String {
    format!(
        "(\"name\" \"imapcheck\" \"version\" \"{}\")",
        env!("CARGO_PKG_VERSION")
    )
}

/// The hint for a BAD to LOGIN whose password went quoted with `\"` or
/// `\\` in it: RFC 3501's quoted string allows both, but some servers
/// (Twisted, hoodiecrow) cannot parse them, and AUTHENTICATE PLAIN sends
/// the password base64-encoded instead.
fn quoting_hint() -> String {
    "the password holds \" or \\, which LOGIN must send quoted as \\\" or \\\\, and some servers cannot parse a quoted password with those: try --auth plain, which sends it base64-encoded".to_string()
}
