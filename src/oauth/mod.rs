//! OAuth 2.0 tokens fetched by imapcheck itself (RFC 6749): the token
//! endpoint's URL and client, the grant the flags choose (client
//! credentials, or a refresh token read from a file), the secrets that go
//! with it, and the form the request sends. The HTTPS client is `http`
//! (the answer's body framing `body`, its connection `wire`; the JSON is
//! read by `json::read`), the request and what its answer means `token`. The
//! `token` step of the check runs this on a thread of its own (see
//! `check::token`).

mod body;
pub mod http;
pub mod token;
mod wire;

use std::ffi::OsString;
use std::path::PathBuf;

use crate::password::{self, Secret};

/// The environment variable holding the client secret.
pub const CLIENT_SECRET_ENV: &str = "IMAPCHECK_OAUTH_CLIENT_SECRET";

/// Where the token comes from and how it is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    pub url: TokenUrl,
    pub client_id: String,
    pub scope: Option<String>,
    /// `--oauth-client-secret-file`; otherwise the environment, if set.
    pub client_secret_file: Option<PathBuf>,
    /// `--oauth-refresh-token-file`: the refresh-token grant.
    pub refresh_token_file: Option<PathBuf>,
}

/// The grant, chosen by what is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    ClientCredentials,
    RefreshToken,
}

impl Grant {
    /// The `grant_type` value (RFC 6749 sections 4.4 and 6).
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
        }
    }
}

impl OAuthConfig {
    pub fn grant(&self) -> Grant {
        if self.refresh_token_file.is_some() {
            Grant::RefreshToken
        } else {
            Grant::ClientCredentials
        }
    }
}

/// An `https://host[:port]/path[?query]` URL, split for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUrl {
    /// The host name or address, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The request target: path and query, at least `/`.
    pub target: String,
}

impl TokenUrl {
    /// Reads `--oauth-token-url`. Only `https:` is taken: the request
    /// carries the client secret or the refresh token.
    pub fn parse(url: &str) -> Result<TokenUrl, String> {
        let bad = |why: &str| format!("--oauth-token-url {}: {why}", url.escape_default());
        let Some(rest) = url
            .get(..8)
            .filter(|s| s.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
        else {
            return Err(bad(
                "only https:// URLs are taken (the request carries secrets)",
            ));
        };
        if rest.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("spaces and control characters are not allowed"));
        }
        if rest.contains('#') {
            return Err(bad("a URL with a #fragment is not a token endpoint"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad(
                "user names in the URL are not taken: use --oauth-client-id",
            ));
        }
        let target = match target {
            "" => "/".to_string(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_string(),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (h, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = match port {
            None => 443,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|&p| p != 0)
                .ok_or_else(|| bad("the port must be 1 to 65535"))?,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(TokenUrl {
            host: host.to_string(),
            port,
            target,
        })
    }

    /// The `Host:` header: brackets for IPv6, the port unless 443.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// The `--oauth-*` flags as given.
pub struct Flags {
    pub token_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub refresh_token_file: Option<PathBuf>,
    pub scope: Option<String>,
}

/// Checks the `--oauth-*` flags: none without `--oauth-token-url`, and a
/// client ID with it. `Err` is a message for stderr (exit 3).
pub fn from_flags(flags: Flags) -> Result<Option<OAuthConfig>, String> {
    let Some(url) = flags.token_url else {
        let given = flags.client_id.is_some()
            || flags.client_secret_file.is_some()
            || flags.refresh_token_file.is_some()
            || flags.scope.is_some();
        return if given {
            Err("the --oauth-* flags need --oauth-token-url".into())
        } else {
            Ok(None)
        };
    };
    let url = TokenUrl::parse(&url)?;
    let client_id = flags
        .client_id
        .filter(|id| !id.is_empty())
        .ok_or("--oauth-token-url needs --oauth-client-id")?;
    Ok(Some(OAuthConfig {
        url,
        client_id,
        scope: flags.scope.filter(|s| !s.is_empty()),
        client_secret_file: flags.client_secret_file,
        refresh_token_file: flags.refresh_token_file,
    }))
}

/// The secrets of the token request, read before the check starts.
#[derive(Clone, Default)]
pub struct OAuthSecrets {
    pub client_secret: Option<Secret>,
    pub refresh_token: Option<Secret>,
}

/// Reads the client secret (`--oauth-client-secret-file`, else
/// IMAPCHECK_OAUTH_CLIENT_SECRET) and the refresh token. `Err` names the
/// source, never the secret; the run is then UNKNOWN.
pub fn read_secrets(
    cfg: &OAuthConfig,
    env_secret: Option<OsString>,
) -> Result<OAuthSecrets, String> {
    use std::os::unix::ffi::OsStringExt;
    let client_secret = match (&cfg.client_secret_file, env_secret) {
        (Some(path), _) => Some(non_empty(
            path,
            "the client secret file",
            password::MAX_PASSWORD_LINE,
        )?),
        (None, Some(v)) if !v.is_empty() => Some(Secret::new(v.into_vec())),
        (None, _) => None,
    };
    if client_secret.is_none() && cfg.grant() == Grant::ClientCredentials {
        return Err(format!(
            "the client-credentials grant needs the client secret: set {CLIENT_SECRET_ENV} or use --oauth-client-secret-file (or give --oauth-refresh-token-file for the refresh-token grant)"
        ));
    }
    let refresh_token = match &cfg.refresh_token_file {
        Some(path) => Some(non_empty(
            path,
            "the refresh token file",
            password::MAX_TOKEN_LINE,
        )?),
        None => None,
    };
    Ok(OAuthSecrets {
        client_secret,
        refresh_token,
    })
}

/// The first line of `path`, which must not be empty: no endpoint takes
/// an empty secret, and sending one only earns a confusing refusal. The
/// file rules are the password file's (`password::read_first_line`): a
/// regular file, a line of at most `max_line` bytes, no control character.
fn non_empty(path: &std::path::Path, what: &str, max_line: usize) -> Result<Secret, String> {
    let secret = password::read_first_line(path, what, max_line)?;
    if secret.expose().is_empty() {
        return Err(format!("{what} {} is empty", path.display()));
    }
    Ok(secret)
}

/// Appends `key=value` to a form, percent-encoded as
/// application/x-www-form-urlencoded wants (space as `+`).
pub fn form_pair(form: &mut Vec<u8>, key: &str, value: &[u8]) {
    if !form.is_empty() {
        form.push(b'&');
    }
    for (i, part) in [key.as_bytes(), value].into_iter().enumerate() {
        if i == 1 {
            form.push(b'=');
        }
        for &b in part {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => form.push(b),
                b' ' => form.push(b'+'),
                _ => form.extend_from_slice(format!("%{b:02X}").as_bytes()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls() {
        let u = TokenUrl::parse("https://login.microsoftonline.com/tid/oauth2/v2.0/token")
            .expect("valid");
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("login.microsoftonline.com", 443, "/tid/oauth2/v2.0/token")
        );
        assert_eq!(u.host_header(), "login.microsoftonline.com");
        let u = TokenUrl::parse("HTTPS://127.0.0.1:8443?x=1").expect("valid");
        assert_eq!((u.port, u.target.as_str()), (8443, "/?x=1"));
        assert_eq!(u.host_header(), "127.0.0.1:8443");
        let u = TokenUrl::parse("https://[::1]:9/t").expect("valid");
        assert_eq!(
            (u.host.as_str(), u.host_header()),
            ("::1", "[::1]:9".into())
        );
        for bad in [
            "http://example.org/token",
            "example.org/token",
            "https://",
            "https://:443/",
            "https://h:0/",
            "https://h:99999/",
            "https://u:p@h/",
            "https://h/a b",
            "https://h/#f",
            "https://[::1/",
        ] {
            assert!(TokenUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    fn configure(list: &[&str]) -> Result<crate::cli::Config, String> {
        use argh::FromArgs;
        let args = crate::cli::Args::from_args(&["imapcheck"], list).map_err(|e| e.output)?;
        crate::cli::configure(args, false, false)
    }

    #[test]
    fn flags_choose_the_grant_and_the_mechanism() {
        use crate::cli::AuthMethod;
        let url = ["h", "-u", "a", "--oauth-token-url", "https://l/t"];
        let with = |more: &[&str]| configure(&[&url[..], more].concat());
        let c = with(&["--oauth-client-id", "c", "--oauth-scope", "s"]).expect("config");
        assert_eq!(c.auth, AuthMethod::XOAuth2, "xoauth2 by default");
        let oauth = c.oauth.expect("oauth");
        assert_eq!(oauth.grant(), Grant::ClientCredentials);
        assert_eq!(oauth.scope.as_deref(), Some("s"));
        let c =
            with(&["--oauth-client-id", "c", "--oauth-refresh-token-file", "f"]).expect("config");
        assert_eq!(c.oauth.expect("oauth").grant(), Grant::RefreshToken);
        let c = with(&["--oauth-client-id", "c", "--auth", "oauthbearer"]).expect("config");
        assert_eq!(c.auth, AuthMethod::OAuthBearer);
        assert!(configure(&["h"]).expect("no oauth").oauth.is_none());
        // Client credentials may be fetched once per address, and a refresh
        // token once per round.
        assert!(with(&["--oauth-client-id", "c", "--all-addresses"]).is_ok());
        assert!(
            with(&[
                "--oauth-client-id",
                "c",
                "--repeat",
                "2",
                "--oauth-refresh-token-file",
                "f"
            ])
            .is_ok()
        );
        for bad in [
            &["--oauth-client-id", "c", "--auth", "plain"][..],
            &["--oauth-client-id", ""],
            &[],
            &["--oauth-client-id", "c", "--password-stdin"],
            &[
                "--oauth-client-id",
                "c",
                "--all-addresses",
                "--oauth-refresh-token-file",
                "f",
            ],
        ] {
            assert!(with(bad).is_err(), "{bad:?} accepted");
        }
        assert!(configure(&["h", "-u", "a", "--oauth-scope", "s"]).is_err());
    }

    #[test]
    fn form_encoding() {
        let mut form = Vec::new();
        form_pair(&mut form, "grant_type", b"client_credentials");
        form_pair(
            &mut form,
            "scope",
            b"https://outlook.office365.com/.default offline_access",
        );
        form_pair(&mut form, "client_secret", "a+b&c=d~é".as_bytes());
        assert_eq!(
            String::from_utf8(form).expect("ASCII"),
            "grant_type=client_credentials&scope=https%3A%2F%2Foutlook.office365.com%2F.default+offline_access&client_secret=a%2Bb%26c%3Dd%7E%C3%A9"
        );
    }
}
