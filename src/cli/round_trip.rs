//! The round trip's flags (`--send-via` and its companions) checked into a
//! [`RoundTrip`]: where to send, how, as whom, from and to which address,
//! and the thresholds on the delivery delay. Without `--send-via` every
//! companion flag is a usage error: a check that does not send never
//! writes, and a flag that would be silently ignored hides a typo.

use std::path::PathBuf;

use super::Security;
use crate::age;

/// The port when `--send-via` names none: submission (RFC 6409).
pub const SUBMISSION_PORT: u16 = 587;
/// Submission over implicit TLS (RFC 8314).
pub const SUBMISSIONS_PORT: u16 = 465;

/// The environment variable for the SMTP password of `--send-user`.
pub const SEND_PASSWORD_ENV: &str = "IMAPCHECK_SEND_PASSWORD";

/// Where the SMTP login's secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendSecret {
    /// The IMAP login's user and secret (a mailbox that sends to itself).
    SameAsImap,
    /// `--send-user` with IMAPCHECK_SEND_PASSWORD.
    Env(String),
    /// `--send-user` with `--send-password-file`.
    File(String, PathBuf),
}

/// `--send-via` and the rest, checked.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub secret: SendSecret,
    pub from: String,
    pub to: String,
    /// `--keep`: leave the message in the folder.
    pub keep: bool,
    /// `--arrival`: the delay (seconds) that warns, and that is critical.
    pub arrival_warn: Option<f64>,
    pub arrival_crit: Option<f64>,
}

/// The round-trip flags as given.
pub struct Flags {
    pub send_via: Option<String>,
    pub send_security: Option<String>,
    pub send_user: Option<String>,
    pub send_password_file: Option<PathBuf>,
    pub send_from: Option<String>,
    pub send_to: Option<String>,
    pub keep: bool,
    pub arrival: Option<String>,
}

/// Checks the flags; `user` is the IMAP user, `env_set` whether
/// IMAPCHECK_SEND_PASSWORD is set.
pub fn from_flags(
    f: Flags,
    user: Option<&str>,
    env_set: bool,
) -> Result<Option<RoundTrip>, String> {
    let Some(via) = f.send_via else {
        let given = [
            ("--send-security", f.send_security.is_some()),
            ("--send-user", f.send_user.is_some()),
            ("--send-password-file", f.send_password_file.is_some()),
            ("--send-from", f.send_from.is_some()),
            ("--send-to", f.send_to.is_some()),
            ("--keep", f.keep),
            ("--arrival", f.arrival.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{flag} belongs to a round trip: it needs --send-via"
            ));
        }
        return Ok(None);
    };
    let Some(user) = user else {
        return Err("--send-via needs -u: the message is looked for in that mailbox".into());
    };
    let (host, port) = host_port(&via)?;
    let security = match (f.send_security.as_deref(), port) {
        (Some("tls"), _) | (None, Some(SUBMISSIONS_PORT)) => Security::Tls,
        (Some("starttls"), _) | (None, _) => Security::Starttls,
        (Some("none"), _) => Security::None,
        (Some(other), _) => {
            return Err(format!(
                "--send-security must be tls, starttls or none, not '{}'",
                other.escape_default()
            ));
        }
    };
    let port = port.unwrap_or(if security == Security::Tls {
        SUBMISSIONS_PORT
    } else {
        SUBMISSION_PORT
    });
    let secret = match (f.send_user, f.send_password_file) {
        (None, None) => SendSecret::SameAsImap,
        (None, Some(_)) => {
            return Err("--send-password-file goes with --send-user".into());
        }
        (Some(u), _) if !plain_text(&u) => {
            return Err(format!(
                "--send-user '{}' holds control characters",
                u.escape_default()
            ));
        }
        // As IMAPCHECK_PASSWORD before --password-file.
        (Some(u), _) if env_set => SendSecret::Env(u),
        (Some(u), Some(path)) => SendSecret::File(u, path),
        (Some(_), None) => {
            return Err(format!(
                "--send-user needs its password: set {SEND_PASSWORD_ENV} or use --send-password-file"
            ));
        }
    };
    let address = |flag: &str, given: Option<String>| -> Result<String, String> {
        let a = match given {
            Some(a) => a,
            None if user.contains('@') => user.to_string(),
            None => {
                return Err(format!(
                    "{flag} is needed: the IMAP user '{}' is no mail address",
                    user.escape_default()
                ));
            }
        };
        if !is_address(&a) {
            return Err(format!(
                "{flag} '{}' is no mail address",
                a.escape_default()
            ));
        }
        Ok(a)
    };
    let from = address("--send-from", f.send_from)?;
    let to = address("--send-to", f.send_to)?;
    let (arrival_warn, arrival_crit) = match f.arrival.as_deref() {
        Some(text) => {
            let (w, c) = match text.split_once(',') {
                Some((w, c)) => (delay(w)?, Some(delay(c)?)),
                None => (delay(text)?, None),
            };
            if c.is_some_and(|c| c < w) {
                return Err(
                    "--arrival: the critical delay must not be below the warning delay".into(),
                );
            }
            (Some(w), c)
        }
        None => (None, None),
    };
    Ok(Some(RoundTrip {
        host,
        port,
        security,
        secret,
        from,
        to,
        keep: f.keep,
        arrival_warn,
        arrival_crit,
    }))
}

/// A delay: seconds with fractions (`2.5`), or a duration (`90s`, `2m`).
fn delay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs >= 0.0 && secs.is_finite() => Ok(secs),
        Ok(_) => Err(format!(
            "--arrival: '{}' is no delay",
            text.escape_default()
        )),
        Err(_) => age::parse_duration(text)
            .map(|s| s as f64)
            .map_err(|e| format!("--arrival: {e}")),
    }
}

fn plain_text(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_control)
}

/// An address as MAIL FROM and RCPT TO carry it: local@domain, printable,
/// nothing that would end the command or the angle brackets.
fn is_address(a: &str) -> bool {
    a.split_once('@')
        .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        && a.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn host_port(via: &str) -> Result<(String, Option<u16>), String> {
    let bad = || {
        format!(
            "--send-via takes <host>[:<port>], not '{}'",
            via.escape_default()
        )
    };
    let (host, port) = if let Some(rest) = via.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':').ok_or_else(bad)?)),
        }
    } else {
        match via.split_once(':') {
            // More than one colon: an IPv6 address without a port.
            Some((h, p)) if !p.contains(':') => (h, Some(p)),
            _ => (via, None),
        }
    };
    if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'/') {
        return Err(bad());
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?),
        None => None,
    };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(via: Option<&str>) -> Flags {
        Flags {
            send_via: via.map(String::from),
            send_security: None,
            send_user: None,
            send_password_file: None,
            send_from: None,
            send_to: None,
            keep: false,
            arrival: None,
        }
    }

    #[test]
    fn ports_and_security_default_as_submission() {
        let rt = |via: &str, sec: Option<&str>| {
            let mut f = flags(Some(via));
            f.send_security = sec.map(String::from);
            from_flags(f, Some("m@example.org"), false)
                .map(|r| r.map(|r| (r.host, r.port, r.security)))
        };
        assert_eq!(
            rt("mx", None).unwrap(),
            Some(("mx".into(), 587, Security::Starttls))
        );
        assert_eq!(
            rt("mx:465", None).unwrap(),
            Some(("mx".into(), 465, Security::Tls))
        );
        assert_eq!(
            rt("mx", Some("tls")).unwrap(),
            Some(("mx".into(), 465, Security::Tls))
        );
        assert_eq!(
            rt("[::1]:2525", Some("none")).unwrap(),
            Some(("::1".into(), 2525, Security::None))
        );
        assert_eq!(
            rt("::1", None).unwrap(),
            Some(("::1".into(), 587, Security::Starttls))
        );
        for bad in ["mx:0", "mx:x", "[::1", "", "m x"] {
            assert!(rt(bad, None).is_err(), "{bad}");
        }
        assert!(rt("mx", Some("ssl")).is_err());
    }

    #[test]
    fn companions_need_send_via_and_addresses_default_to_the_user() {
        let mut f = flags(None);
        f.keep = true;
        assert!(
            from_flags(f, Some("u"), false)
                .unwrap_err()
                .contains("--keep")
        );
        assert!(from_flags(flags(None), Some("u"), false).unwrap().is_none());
        assert!(
            from_flags(flags(Some("mx")), Some("local"), false)
                .unwrap_err()
                .contains("--send-from")
        );
        assert!(
            from_flags(flags(Some("mx")), None, false)
                .unwrap_err()
                .contains("-u")
        );
        let r = from_flags(flags(Some("mx")), Some("m@example.org"), false)
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("m@example.org", "m@example.org")
        );
        assert_eq!(r.secret, SendSecret::SameAsImap);
        let mut f = flags(Some("mx"));
        f.send_to = Some("x>@y".into());
        assert!(from_flags(f, Some("m@example.org"), false).is_err());
    }

    #[test]
    fn send_user_needs_a_secret_source_off_the_command_line() {
        let mut f = flags(Some("mx"));
        f.send_user = Some("relay".into());
        assert!(
            from_flags(f, Some("m@e.org"), false)
                .unwrap_err()
                .contains(SEND_PASSWORD_ENV)
        );
        let mut f = flags(Some("mx"));
        f.send_user = Some("relay".into());
        assert_eq!(
            from_flags(f, Some("m@e.org"), true)
                .unwrap()
                .unwrap()
                .secret,
            SendSecret::Env("relay".into())
        );
        let mut f = flags(Some("mx"));
        f.send_password_file = Some("p".into());
        assert!(from_flags(f, Some("m@e.org"), true).is_err());
    }

    #[test]
    fn arrival_thresholds_are_durations() {
        let mut f = flags(Some("mx"));
        f.arrival = Some("2.5,2m".into());
        let r = from_flags(f, Some("m@e.org"), false).unwrap().unwrap();
        assert_eq!((r.arrival_warn, r.arrival_crit), (Some(2.5), Some(120.0)));
    }
}
