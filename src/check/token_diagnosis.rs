//! The wording of the token step's failures, in the four parts of every
//! failure (what happened, what was expected, what came, what to check):
//! the identity provider's OAuth errors (Entra ID's AADSTS codes, Google's
//! `invalid_grant`), answers that are not a token, and the HTTPS request
//! that did not get an answer, by the deadline or otherwise. Each hint
//! says what to change, and where: in the identity provider, or in the
//! flags.

use std::io::ErrorKind;

use crate::oauth::http::HttpError;
use crate::oauth::token::TokenError;
use crate::oauth::{CLIENT_SECRET_ENV, Grant, OAuthConfig};
use crate::report::Failure;
use crate::transport::{ConnectError, Outcome, describe_io};

use super::diagnosis::failure;

const EXPECTED: &str = "an access token from the token endpoint";

/// Where the client secret comes from, for hints.
fn secret_source(cfg: &OAuthConfig) -> String {
    match &cfg.client_secret_file {
        Some(p) => p.display().to_string(),
        None => CLIENT_SECRET_ENV.to_string(),
    }
}

/// The Entra ID (Azure AD) error code of an OAuth error: from
/// `error_codes`, or the `AADSTS` number the description starts with.
fn aadsts(codes: &[i64], description: Option<&str>) -> Option<i64> {
    codes.first().copied().or_else(|| {
        let rest = description?.strip_prefix("AADSTS")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// The endpoint's OAuth error: what it means and what to fix.
fn oauth_error(
    cfg: &OAuthConfig,
    status: u16,
    error: &str,
    description: Option<&str>,
    codes: &[i64],
) -> Failure {
    let code = aadsts(codes, description);
    let secret = secret_source(cfg);
    let entra = "in the Entra admin center (App registrations, your app)";
    let (what, hint) = match (code, error) {
        (Some(7_000_215), _) => (
            "the identity provider refused the client secret: it is wrong".to_string(),
            format!(
                "{entra}, Certificates & secrets: copy the secret's Value (not its Secret ID) into {secret}, or create a new client secret"
            ),
        ),
        (Some(7_000_222), _) => (
            "the client secret has expired".to_string(),
            format!(
                "{entra}, Certificates & secrets: create a new client secret and put its Value into {secret}; note its expiry date for the next renewal"
            ),
        ),
        (Some(700_016), _) => (
            "the identity provider knows no application with this client ID in this tenant"
                .to_string(),
            format!(
                "check that --oauth-client-id ({}) is the Application (client) ID of an app registered in the tenant the token URL names, and that an admin of that tenant consented to it",
                cfg.client_id
            ),
        ),
        (Some(90_002), _) => (
            "the identity provider knows no such tenant".to_string(),
            "the tenant in --oauth-token-url (https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token) is wrong: use the Directory (tenant) ID or a verified domain of the organisation".to_string(),
        ),
        (Some(70_011), _) | (None, "invalid_scope") => (
            "the identity provider refused the scope".to_string(),
            "for Exchange Online app-only access use --oauth-scope https://outlook.office365.com/.default; for a user's token https://outlook.office.com/IMAP.AccessAsUser.All offline_access; for Gmail https://mail.google.com/".to_string(),
        ),
        (_, "invalid_grant") => {
            let file = cfg
                .refresh_token_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the refresh token file".into());
            if cfg.grant() == Grant::RefreshToken {
                (
                    "the refresh token has expired or was revoked".to_string(),
                    format!(
                        "get a new refresh token through the provider's consent flow and write it into {file}; Google expires the refresh tokens of apps whose consent screen is in Testing after 7 days (publish it to In production), and every provider revokes them when the password changes or the user removes the app's access"
                    ),
                )
            } else {
                (
                    "the identity provider refused the grant".to_string(),
                    "check the grant the app registration allows and the client credentials"
                        .to_string(),
                )
            }
        }
        (_, "invalid_client") => (
            "the identity provider refused the client's authentication".to_string(),
            format!(
                "check --oauth-client-id ({}) and the client secret in {secret}",
                cfg.client_id
            ),
        ),
        (_, "unauthorized_client" | "unsupported_grant_type") => (
            format!(
                "the application may not use the {} grant",
                cfg.grant().as_str()
            ),
            "allow the grant for this app in the identity provider (Entra ID: application permissions and admin consent for client credentials; Google: a Desktop or Web client for refresh tokens)".to_string(),
        ),
        _ => (
            "the identity provider refused the token request".to_string(),
            "the error and its description say why; check the client ID, secret and scope in the identity provider".to_string(),
        ),
    };
    let mut got = format!("HTTP {status}: {error}");
    if let Some(d) = description {
        got.push_str(&format!(": {d}"));
    }
    let mut message = format!("{what} ({error}");
    if let Some(c) = code {
        message.push_str(&format!(", AADSTS{c}"));
    }
    message.push(')');
    failure(message, EXPECTED, Some(got.as_bytes()), hint)
}

/// A failure of the token step.
pub(super) fn failure_of(e: &TokenError, cfg: &OAuthConfig) -> Failure {
    let host = cfg.url.host_header();
    match e {
        TokenError::Setup(msg) => failure(
            format!("cannot set up TLS for the token endpoint: {msg}"),
            "a usable TLS library and CA store",
            None,
            "check the OpenSSL installation",
        ),
        TokenError::Http(h) => http_failure(h, &host),
        TokenError::Redirect { status, location } => failure(
            format!(
                "the token endpoint {host} answered with a redirect ({status}), which is not followed"
            ),
            "HTTP 200 with a JSON token answer",
            Some(
                format!(
                    "HTTP {status}, Location: {}",
                    location.as_deref().unwrap_or("(none)")
                )
                .as_bytes(),
            ),
            "put the token endpoint's own URL in --oauth-token-url (Entra ID: https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token; Google: https://oauth2.googleapis.com/token); a redirect would carry the client's secrets to another place",
        ),
        TokenError::OAuth {
            status,
            error,
            description,
            codes,
        } => oauth_error(cfg, *status, error, description.as_deref(), codes),
        TokenError::NotJson {
            status,
            reason,
            content_type,
            why,
            excerpt,
        } => {
            let kind = content_type.as_deref().unwrap_or("no Content-Type");
            let (message, hint) = match status {
                200..=299 => (
                    format!("the token endpoint's answer is not JSON ({kind}; {why})"),
                    "--oauth-token-url names something else than the token endpoint (a web page?): check the URL",
                ),
                404 | 405 => (
                    format!(
                        "the token endpoint {host} answered HTTP {status} {reason} without JSON ({kind})"
                    ),
                    "nothing takes the token request at that path: check the path of --oauth-token-url",
                ),
                401 | 403 | 407 => (
                    format!(
                        "the token endpoint {host} answered HTTP {status} {reason} without JSON ({kind})"
                    ),
                    "a gateway or firewall in front of the identity provider refused the request: check what sits between this host and the endpoint",
                ),
                500..=599 => (
                    format!(
                        "the token endpoint {host} answered HTTP {status} {reason} without JSON ({kind})"
                    ),
                    "the identity provider or a gateway in front of it has a problem: try again later and check the provider's status page",
                ),
                _ => (
                    format!(
                        "the token endpoint {host} answered HTTP {status} {reason} without JSON ({kind})"
                    ),
                    "an OAuth token endpoint answers with JSON: check --oauth-token-url",
                ),
            };
            failure(
                message,
                "a JSON token answer",
                Some(excerpt.as_bytes()),
                hint,
            )
        }
        TokenError::NoToken {
            status,
            reason,
            excerpt,
        } => failure(
            format!("the token endpoint's answer (HTTP {status} {reason}) holds no access_token"),
            "a JSON object with access_token",
            Some(excerpt.as_bytes()),
            "check --oauth-token-url is the OAuth 2.0 token endpoint, and the grant and scope it is asked for",
        ),
    }
}

/// No complete HTTP answer.
fn http_failure(e: &HttpError, host: &str) -> Failure {
    let expected = "a complete HTTP answer from the token endpoint";
    let deadline = |during: &str| {
        failure(
            format!("no answer from the token endpoint {host} {during} within the deadline"),
            expected,
            None,
            format!(
                "{host} or the way to it is slow or drops packets: check that this host reaches it (imapcheck uses no HTTP proxy), or raise -t; the token step runs beside connect and greeting, so only the login waits for it"
            ),
        )
    };
    match e {
        HttpError::Connect(ConnectError::Resolve(msg)) => failure(
            format!("cannot resolve the token endpoint's host {host}"),
            "an address for the host name",
            Some(msg.as_bytes()),
            "check the host in --oauth-token-url and the resolver (/etc/resolv.conf, /etc/hosts)",
        ),
        HttpError::Connect(ConnectError::ResolveTimeout) => deadline("(resolving its name)"),
        HttpError::Connect(ConnectError::Failed(attempts)) => {
            let timed_out = attempts.iter().any(
                |a| matches!(&a.outcome, Outcome::Failed(e) if e.kind() == ErrorKind::TimedOut),
            );
            if timed_out {
                return deadline("(connecting)");
            }
            let list: Vec<String> = attempts.iter().map(ToString::to_string).collect();
            failure(
                format!("cannot connect to the token endpoint {host}"),
                "a TCP connection to the token endpoint",
                Some(list.join(", ").as_bytes()),
                "check the host and port of --oauth-token-url and the firewall (imapcheck uses no HTTP proxy)",
            )
        }
        HttpError::Tls(t) if t.timed_out => deadline("(TLS handshake)"),
        HttpError::Tls(t) => failure(
            format!("the TLS handshake with the token endpoint {host} failed"),
            "a certificate that verifies for the endpoint's name",
            Some(t.message.as_bytes()),
            "a private CA goes in --ca-file (trusted for the token endpoint too); --insecure does not apply here, since the request carries the client's secrets",
        ),
        HttpError::Timeout { during } => deadline(during),
        HttpError::Io { during, error } => failure(
            format!(
                "the connection to the token endpoint {host} failed {during}: {}",
                describe_io(error)
            ),
            expected,
            None,
            "the endpoint or something in between closed the connection",
        ),
        HttpError::Malformed { what, got } => failure(
            format!("the token endpoint {host} did not answer with valid HTTP/1.1: {what}"),
            expected,
            if got.is_empty() { None } else { Some(got) },
            "check that --oauth-token-url is an HTTPS OAuth token endpoint",
        ),
        HttpError::TooLarge { what, limit } => failure(
            format!("the token endpoint's answer is too large: {what} over {limit} bytes"),
            "a token answer of a few KiB",
            None,
            "--oauth-token-url names something other than a token endpoint (a web page, a download): check the URL",
        ),
    }
}

/// The token thread ended without a result (a bug).
pub(super) fn thread_failed() -> Failure {
    failure(
        "the token request ended without a result",
        EXPECTED,
        None,
        "this is a bug in imapcheck: run with -v and report it",
    )
}
