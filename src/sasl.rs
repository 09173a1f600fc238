//! SASL client messages for AUTHENTICATE: PLAIN (RFC 4616), XOAUTH2
//! (Google/Microsoft) and OAUTHBEARER (RFC 7628), and the reader for the
//! JSON error an OAuth server sends in its failure challenge.
//!
//! Everything built here contains a secret; callers pass it to the session
//! as secret data, which never reaches the transcript or the logs.

use crate::json::Json;
use crate::json::read::get_str;
use crate::password::Secret;

/// `\0user\0password` (no authorization identity).
pub fn plain(user: &str, password: &[u8]) -> Secret {
    let mut m = Vec::with_capacity(user.len() + password.len() + 2);
    m.push(0);
    m.extend_from_slice(user.as_bytes());
    m.push(0);
    m.extend_from_slice(password);
    Secret::new(m)
}

/// `user=<user>^Aauth=Bearer <token>^A^A`
pub fn xoauth2(user: &str, token: &[u8]) -> Secret {
    let mut m = Vec::with_capacity(user.len() + token.len() + 24);
    m.extend_from_slice(b"user=");
    m.extend_from_slice(user.as_bytes());
    m.extend_from_slice(b"\x01auth=Bearer ");
    m.extend_from_slice(token);
    m.extend_from_slice(b"\x01\x01");
    Secret::new(m)
}

/// RFC 7628: `n,a=<user>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A`.
/// In the GS2 header's `a=` the user name escapes ',' as `=2C` and '=' as
/// `=3D` (RFC 5801 section 4).
pub fn oauthbearer(user: &str, host: &str, port: u16, token: &[u8]) -> Secret {
    let mut m = Vec::with_capacity(user.len() + host.len() + token.len() + 48);
    m.extend_from_slice(b"n,a=");
    for b in user.bytes() {
        match b {
            b',' => m.extend_from_slice(b"=2C"),
            b'=' => m.extend_from_slice(b"=3D"),
            _ => m.push(b),
        }
    }
    m.extend_from_slice(b",\x01host=");
    m.extend_from_slice(host.as_bytes());
    m.extend_from_slice(format!("\x01port={port}\x01auth=Bearer ").as_bytes());
    m.extend_from_slice(token);
    m.extend_from_slice(b"\x01\x01");
    Secret::new(m)
}

/// The client's answer to an OAuth failure challenge: XOAUTH2 wants an
/// empty response, OAUTHBEARER the single byte 0x01 (RFC 7628 3.2.3).
pub fn oauth_failure_ack(oauthbearer: bool) -> Vec<u8> {
    if oauthbearer { vec![0x01] } else { Vec::new() }
}

/// What an OAuth server says in its error challenge
/// (`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthError {
    pub status: Option<String>,
    pub schemes: Option<String>,
    pub scope: Option<String>,
}

impl OAuthError {
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("schemes", &self.schemes),
            ("scope", &self.scope),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k} {v}"));
            }
        }
        if parts.is_empty() {
            "no details".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// Longest JSON challenge read; real ones are under 200 bytes.
const MAX_JSON: usize = 4096;

/// Reads the string members `status`, `schemes` and `scope` of a JSON
/// object. Anything that is not such an object gives `None`; other members
/// and non-string values are ignored. Control characters in the values
/// become spaces: they are shown on one line.
pub fn parse_oauth_error(json: &[u8]) -> Option<OAuthError> {
    if json.len() > MAX_JSON {
        return None;
    }
    let value = crate::json::read::parse(json).ok()?;
    if !matches!(value, Json::Obj(_)) {
        return None;
    }
    let text = |key: &str| get_str(&value, key).map(|v| v.replace(|c: char| c.is_control(), " "));
    Some(OAuthError {
        status: text("status"),
        schemes: text("schemes"),
        scope: text("scope"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message() {
        assert_eq!(plain("alice", b"pw").expose(), b"\0alice\0pw");
        assert_eq!(
            crate::base64::encode(plain("tim", b"tanstaaftanstaaf").expose()),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
    }

    #[test]
    fn xoauth2_message() {
        // Google's documented example (user someuser@example.com, token ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg)
        let m = xoauth2(
            "someuser@example.com",
            b"ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
        );
        assert_eq!(
            crate::base64::encode(m.expose()),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
    }

    #[test]
    fn oauthbearer_message() {
        // RFC 7628 section 4.1's example, with the user and port it uses.
        let m = oauthbearer(
            "user@example.com",
            "server.example.com",
            143,
            b"vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
        );
        assert_eq!(
            m.expose(),
            b"n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"
        );
        assert!(
            oauthbearer("a,b=c", "h", 993, b"t")
                .expose()
                .starts_with(b"n,a=a=2Cb=3Dc,\x01")
        );
    }

    #[test]
    fn failure_ack_bytes() {
        assert_eq!(oauth_failure_ack(false), b"");
        assert_eq!(crate::base64::encode(&oauth_failure_ack(true)), "AQ==");
    }

    #[test]
    fn oauth_error_json() {
        let e = parse_oauth_error(
            br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#,
        )
        .expect("json");
        assert_eq!(e.status.as_deref(), Some("401"));
        assert_eq!(e.schemes.as_deref(), Some("bearer"));
        assert_eq!(e.scope.as_deref(), Some("https://mail.google.com/"));
        assert_eq!(
            e.describe(),
            "status 401, schemes bearer, scope https://mail.google.com/"
        );
        let e = parse_oauth_error(
            br#" { "x": [1, {"y": null}], "status" : "invalid_token", "n": 3.5e2, "t": true } "#,
        )
        .expect("json");
        assert_eq!(e.status.as_deref(), Some("invalid_token"));
        assert_eq!(e.scope, None);
        assert_eq!(parse_oauth_error(b"{}"), Some(OAuthError::default()));
        assert_eq!(
            parse_oauth_error(br#"{"status":"a\"b\u00e9"}"#)
                .and_then(|e| e.status)
                .as_deref(),
            Some("a\"bé")
        );
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"status\"}",
            b"{\"a\":}",
            b"not json",
            b"{\"a\":\"unterminated}",
        ] {
            assert_eq!(
                parse_oauth_error(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(parse_oauth_error(deep.as_bytes()), None);
    }
}
