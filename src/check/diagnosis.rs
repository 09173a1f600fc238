//! The wording of every failure: what happened, what was expected, what
//! came instead and what to check next. The steps decide *that* a step
//! failed; this file says how it is put to the admin reading the report,
//! and chooses the hint from what the server and the system said. Fixed
//! wordings are [`Wording`]s; the rest are functions of what came.

use std::io::ErrorKind;

use crate::cli::{AuthMethod, Config, Security};
use crate::parser::{Code, Status};
use crate::report::{Failure, escape_cut, trim_eol};
use crate::sasl;
use crate::session::{Completion, SessionError};
use crate::transport::{
    self, Cleartext, ConnectError, Outcome, TlsError, cleartext_in, describe_io,
};

use super::seen::Seen;
use super::{Step, TEXT_CUT};

/// A failure; `got` is what the server sent, escaped and cut short here.
pub(super) fn failure(
    message: impl Into<String>,
    expected: impl Into<String>,
    got: Option<&[u8]>,
    hint: impl Into<String>,
) -> Failure {
    Failure {
        message: message.into(),
        expected: expected.into(),
        got: got.map(|g| escape_cut(trim_eol(g), TEXT_CUT)),
        hint: hint.into(),
    }
}

/// A failure whose words do not depend on the run.
pub(super) struct Wording {
    message: &'static str,
    expected: &'static str,
    hint: &'static str,
}

impl Wording {
    /// The failure, with what the server sent when it said something.
    pub(super) fn with(&self, got: Option<&[u8]>) -> Failure {
        failure(self.message, self.expected, got, self.hint)
    }
}

pub(super) const NO_CONNECTION: Wording = Wording {
    message: "no connection",
    expected: "an open connection",
    hint: "",
};

/// The TLS context could not be built (`message` says why).
pub(super) fn tls_setup(message: String) -> Failure {
    failure(
        message,
        "a usable TLS library and CA store",
        None,
        "check the OpenSSL installation",
    )
}

pub(super) const NO_TLS_CONTEXT: Wording = Wording {
    message: "TLS is not configured",
    expected: "a TLS context",
    hint: "",
};

// ---------- connect and TLS ----------

pub(super) fn connect_failure(e: &ConnectError, cfg: &Config) -> Failure {
    let port = cfg.port;
    match e {
        ConnectError::Resolve(msg) => failure(
            format!("cannot resolve {}", cfg.host),
            "an address for the host name",
            Some(msg.as_bytes()),
            "check the host name and the resolver (/etc/resolv.conf, /etc/hosts); -4/-6 limit the address family",
        ),
        ConnectError::ResolveTimeout => failure(
            format!("resolving {} did not finish within the deadline", cfg.host),
            "an address for the host name",
            None,
            "the DNS server is slow or unreachable: check /etc/resolv.conf, or use an IP address",
        ),
        ConnectError::Failed(attempts) => {
            let failed = || {
                attempts.iter().filter_map(|a| match &a.outcome {
                    Outcome::Failed(e) => Some(e.kind()),
                    _ => None,
                })
            };
            let refused =
                failed().next().is_some() && failed().all(|k| k == ErrorKind::ConnectionRefused);
            let timed_out = failed().any(|k| k == ErrorKind::TimedOut);
            let (message, hint) = if refused {
                (
                    "connection refused".to_string(),
                    format!(
                        "nothing listens on port {port} there, or a firewall rejects it: check the service is running (ss -ltn) and the firewall"
                    ),
                )
            } else if timed_out {
                (
                    "no answer before the deadline".to_string(),
                    format!(
                        "a firewall may drop packets to port {port}, or the host is wrong or down; try -t with more seconds"
                    ),
                )
            } else {
                (
                    "cannot connect".to_string(),
                    "check routing and the address".to_string(),
                )
            };
            failure(
                message,
                format!("a TCP connection to port {port}"),
                Some(e.to_string().as_bytes()),
                hint,
            )
        }
    }
}

/// The server's failed TLS start when its own bytes say more than
/// OpenSSL's error: cleartext where a TLS record must come (every record
/// starts with a content type from 0x14 to 0x17), or a close right after
/// the OK to STARTTLS.
fn tls_not_started(e: &TlsError, step: Step, cfg: &Config) -> Option<Failure> {
    if e.timed_out {
        return None;
    }
    let expected = "a TLS handshake";
    let seen = cleartext_in(&e.received);
    let m = e.message.to_ascii_lowercase();
    let closed = matches!(seen, Cleartext::Nothing | Cleartext::OnlyAlerts)
        && ["eof", "reset", "closed", "broken pipe", "shut down"]
            .iter()
            .any(|w| m.contains(w));
    let text = match seen {
        Cleartext::Text(t) => Some(t),
        _ => None,
    };
    let cleartext = text.is_some();
    match (step, cleartext, closed) {
        (Step::Starttls, true, _) => Some(failure(
            "the server said OK to STARTTLS, then sent cleartext instead of TLS: its own TLS setup failed",
            expected,
            text,
            "the server accepted STARTTLS but could not start TLS itself: its certificate or key file is missing or unreadable, or its TLS helper failed (Courier's couriertls runs as the courier user); its words above and its log say which",
        )),
        (Step::Starttls, false, true) => Some(failure(
            "the server closed the connection right after its OK to STARTTLS, without starting TLS",
            expected,
            Some(e.message.as_bytes()),
            "the server accepted STARTTLS but could not start TLS itself: check its certificate and key files, their permissions, and its log",
        )),
        (_, true, _) => Some(failure(
            "the server did not answer with TLS",
            expected,
            text,
            format!(
                "port {} answers in cleartext: for port 143 use --security starttls, or --security none to check cleartext on purpose",
                cfg.port
            ),
        )),
        _ => None,
    }
}

/// A failed TLS handshake, implicit (`step` tls) or after STARTTLS.
pub(super) fn tls_failure(e: &TlsError, step: Step, cfg: &Config) -> Failure {
    if let Some(f) = tls_not_started(e, step, cfg) {
        return f;
    }
    if let Some(f) = tls_chain_or_version(e) {
        return f;
    }
    let implicit = step == Step::Tls;
    let (message, timed_out) = (e.message.as_str(), e.timed_out);
    let m = message.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| m.contains(w));
    let expected = "a TLS handshake with a certificate that verifies";
    let (what, hint) = if timed_out {
        (
            "the TLS handshake did not finish before the deadline".to_string(),
            if implicit {
                "the server may expect cleartext first on this port: try --security starttls (port 143)".to_string()
            } else {
                "the server accepted STARTTLS but never completed the handshake".to_string()
            },
        )
    } else if has(&["certificate has expired"]) {
        (
            "the server certificate has expired".to_string(),
            "renew the server's certificate (--insecure checks the rest anyway)".to_string(),
        )
    } else if has(&["not yet valid"]) {
        (
            "the server certificate is not yet valid".to_string(),
            "check the clocks of this host and the server".to_string(),
        )
    } else if has(&["hostname mismatch", "ip address mismatch"]) {
        (format!("the server certificate is not valid for {}", cfg.tls_name()), "connect with the name the certificate was issued for (--sni when connecting to an address), or fix the certificate's names (subjectAltName)".to_string())
    } else if has(&["unable to get local issuer", "self-signed", "self signed"])
        && cfg.ca_file.is_none()
        && transport::trust_store_sources().is_empty()
    {
        (
            "no trusted CA certificates on this host: the server certificate cannot be verified"
                .to_string(),
            format!(
                "no CA bundle was found (looked for {} and SSL_CERT_FILE/SSL_CERT_DIR): pass the server's CA with --ca-file, or install ca-certificates",
                transport::CA_BUNDLE_FILES.join(", ")
            ),
        )
    } else if has(&[
        "self-signed",
        "self signed",
        "unable to get local issuer",
        "unable to get issuer",
        "unable to verify the first certificate",
    ]) {
        (
            "the server certificate is not issued by a trusted CA".to_string(),
            "if it is a private CA, pass it with --ca-file; if the chain lacks an intermediate, fix the server's certificate chain; is a CA bundle installed (ca-certificates)?".to_string(),
        )
    } else if has(&["certificate verify failed"]) {
        (
            "the server certificate did not verify".to_string(),
            "see the reason above; --ca-file adds a CA, --insecure skips verification".to_string(),
        )
    } else if has(&[
        "wrong version number",
        "packet length too long",
        "record layer failure",
        "unexpected eof",
        "http request",
    ]) {
        (
            "the server did not answer with TLS".to_string(),
            if implicit {
                format!(
                    "port {} may not use implicit TLS: for port 143 use --security starttls",
                    cfg.port
                )
            } else {
                "the server said OK to STARTTLS but did not start TLS".to_string()
            },
        )
    } else {
        ("the TLS handshake failed".to_string(), "check the server's TLS configuration (protocol versions, ciphers); openssl s_client shows more".to_string())
    };
    failure(what, expected, Some(message.as_bytes()), hint)
}

// ---------- greeting and capabilities ----------

/// A greeting that is an untagged status other than OK and PREAUTH.
pub(super) fn greeting_not_ok(status: Status, raw: &[u8]) -> Failure {
    let expected = "an untagged OK or PREAUTH greeting";
    if status == Status::Bye {
        return failure(
            "the server refused the connection (BYE greeting)",
            expected,
            Some(raw),
            "the server is refusing clients: too many connections, maintenance, or this address is blocked; the text says which",
        );
    }
    failure(
        "the greeting is not OK, PREAUTH or BYE",
        expected,
        Some(raw),
        "this does not look like an IMAP server",
    )
}

/// A greeting that is not an untagged status at all.
pub(super) fn greeting_not_a_status(raw: &[u8], security: Security) -> Failure {
    failure(
        "the greeting is not an untagged status",
        "\"* OK ...\"",
        Some(raw),
        not_imap_hint(raw, security),
    )
}

/// What else the first bytes of a server may be.
fn not_imap_hint(raw: &[u8], security: Security) -> String {
    if raw.starts_with(b"+OK") {
        "this looks like a POP3 server: IMAP is usually on port 143 (993 with TLS)".into()
    } else if raw.starts_with(b"220") {
        "this looks like an SMTP or FTP server, not IMAP".into()
    } else if raw.starts_with(b"SSH-") {
        "this is an SSH server, not IMAP".into()
    } else if raw.starts_with(b"HTTP/") {
        "this is an HTTP server, not IMAP".into()
    } else if matches!(raw.first(), Some(0x15 | 0x16)) && security != Security::Tls {
        "the server speaks TLS right away: use --security tls".into()
    } else {
        "this does not look like an IMAP server".into()
    }
}

pub(super) fn greeting_io_failure(e: &SessionError, security: Security) -> Failure {
    if e.timed_out() {
        let hint = if security == Security::Tls {
            "the server accepted TLS but sent no greeting: it may be overloaded, or its authentication backend hangs"
        } else {
            "the port may expect implicit TLS (try --security tls, port 993), or the server is overloaded"
        };
        return failure(
            "no greeting before the deadline",
            "an untagged OK greeting",
            None,
            hint,
        );
    }
    match e {
        SessionError::Protocol { what, got } => failure(
            format!("the greeting is not valid IMAP: {what}"),
            "\"* OK ...\"",
            Some(got),
            not_imap_hint(got, security),
        ),
        SessionError::Io(io) => failure(
            format!("no greeting: {}", describe_io(io)),
            "an untagged OK greeting",
            None,
            if security == Security::Tls {
                "the server closed the connection after TLS without a greeting: it may limit connections per client"
            } else {
                "the server closed the connection without a greeting: the port may expect implicit TLS (try --security tls), the server may limit connections per client, or the port is not IMAP"
            },
        ),
    }
}

/// CAPABILITY's answer was not OK, or OK without listing capabilities.
pub(super) fn capability_answer(done: &Completion) -> Failure {
    if done.status != Status::Ok {
        return failure(
            "the server refused CAPABILITY",
            "a tagged OK to CAPABILITY",
            Some(&done.raw),
            "every IMAP server must answer CAPABILITY; this is a broken server or not IMAP",
        );
    }
    failure(
        "no capabilities listed",
        "an untagged CAPABILITY response",
        Some(&done.raw),
        "the server answered OK but listed no capabilities",
    )
}

// ---------- STARTTLS ----------

/// Why the starttls step did not get to the TLS handshake.
pub(super) enum NoStarttls<'a> {
    /// A PREAUTH greeting (this one): authenticated in cleartext already.
    Preauth(Option<&'a str>),
    /// STARTTLS is not among these capabilities.
    NotOffered(&'a [String]),
    /// The server's answer to STARTTLS was not OK.
    Refused(&'a Completion),
    /// These bytes came after the OK, before the handshake.
    Injected(&'a [u8]),
}

pub(super) fn no_starttls(why: NoStarttls) -> Failure {
    match why {
        NoStarttls::Preauth(greeting) => failure(
            "PREAUTH greeting: the connection is already authenticated in cleartext, so STARTTLS can no longer be started (the CVE-2020-28896 downgrade)",
            "an OK greeting (not PREAUTH) before STARTTLS",
            greeting.map(str::as_bytes),
            "a PREAUTH greeting on a STARTTLS port is a known downgrade attack (CVE-2020-28896); use --security tls on port 993 or fix the server",
        ),
        NoStarttls::NotOffered(caps) => failure(
            "the server does not offer STARTTLS",
            "STARTTLS in the capabilities",
            Some(caps.join(" ").as_bytes()),
            "enable STARTTLS on the server, or use --security tls (port 993); imapcheck never falls back to cleartext (--security none checks cleartext on purpose)",
        ),
        NoStarttls::Refused(done) => failure(
            "the server refused STARTTLS",
            "a tagged OK to STARTTLS",
            Some(&done.raw),
            "the server announced STARTTLS but refused it: check its TLS certificate and key configuration",
        ),
        NoStarttls::Injected(leftover) => failure(
            "data arrived after the STARTTLS OK, before the TLS handshake: a response-injection attempt (CVE-2011-0411 class)",
            "nothing until the TLS handshake",
            Some(leftover),
            "something between you and the server (or the server itself) is injecting cleartext responses; do not trust this path",
        ),
    }
}

// ---------- login ----------

pub(super) const NO_PASSWORD: Wording = Wording {
    message: "no password",
    expected: "a password",
    hint: "set IMAPCHECK_PASSWORD or use --password-file",
};

/// A login the server has said it will not take, refused before any secret
/// is sent: LOGIN under LOGINDISABLED, or an unadvertised SASL mechanism.
pub(super) fn login_not_offered(seen: &Seen, auth: AuthMethod, tls: bool) -> Option<Failure> {
    let offered: Vec<&str> = seen
        .capabilities
        .iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("AUTH="))
        .map(String::as_str)
        .collect();
    let offered_text = if offered.is_empty() {
        "no AUTH= mechanisms".to_string()
    } else {
        offered.join(" ")
    };
    let oauth_offered = seen.offers_oauth();
    match auth.mechanism() {
        None if seen.has_cap("LOGINDISABLED") => {
            let hint = if oauth_offered && !seen.has_cap("AUTH=PLAIN") {
                "the server takes no passwords here but offers OAuth 2.0: use --auth xoauth2 (or oauthbearer) with an access token"
            } else {
                "the server requires TLS before login: use --security starttls (port 143) or --security tls (port 993)"
            };
            Some(failure(
                "the server forbids LOGIN on this connection (LOGINDISABLED); the password was not sent",
                "a server that allows LOGIN here",
                Some(seen.capabilities.join(" ").as_bytes()),
                hint,
            ))
        }
        None => None,
        Some(m) if seen.has_cap(&format!("AUTH={m}")) => None,
        Some(m) => {
            let hint = if !tls && matches!(auth, AuthMethod::Plain) {
                "many servers offer PLAIN only after TLS: use --security starttls or tls"
                    .to_string()
            } else if matches!(auth, AuthMethod::Plain) && oauth_offered {
                "the server offers OAuth 2.0 only: use --auth xoauth2 (or oauthbearer) with an access token".to_string()
            } else {
                format!(
                    "use one of the offered mechanisms ({offered_text}); --auth login uses the LOGIN command"
                )
            };
            Some(failure(
                format!("the server does not offer AUTHENTICATE {m} here; the secret was not sent"),
                format!("AUTH={m} in the capabilities"),
                Some(offered_text.as_bytes()),
                hint,
            ))
        }
    }
}

/// No tagged answer to LOGIN or AUTHENTICATE (`method`).
pub(super) fn login_io_failure(e: &SessionError, method: &str) -> Failure {
    let mut f = io_failure(e, Step::Login, &format!("a tagged response to {method}"));
    if e.timed_out() {
        f.hint = "servers hold back the answer to a wrong password on purpose (Courier for 5 s, Dovecot's auth_failure_delay 2 s): check the user name and password, and give -t more seconds to see the server's answer".to_string();
    }
    f
}

/// The server refused the login; `oauth` is what an OAuth server reported
/// in its error challenge.
pub(super) fn login_failure(
    done: &Completion,
    method: &str,
    tls: bool,
    seen: &Seen,
    oauth: Option<&sasl::OAuthError>,
) -> Failure {
    let code_name = match &done.code {
        Some(Code::Other { name, .. }) => name.as_str(),
        _ => "",
    };
    let text = String::from_utf8_lossy(&done.text).to_ascii_lowercase();
    let password_method = method == "LOGIN" || method == "AUTHENTICATE PLAIN";
    let hint = match code_name {
        _ if password_method && (text.contains("basic auth") || text.contains("basicauth")) => {
            "basic authentication (passwords) is disabled on this server: use --auth xoauth2 (or oauthbearer) with an OAuth 2.0 access token".to_string()
        }
        "AUTHENTICATIONFAILED" if password_method && seen.offers_oauth() && !seen.has_cap("AUTH=PLAIN") => {
            "wrong credentials, or the server accepts only OAuth 2.0: it offers no PLAIN but does offer OAuth, so try --auth xoauth2 with an access token".to_string()
        }
        "AUTHENTICATIONFAILED" => "wrong user name or password, or the account is locked or disabled".to_string(),
        "AUTHORIZATIONFAILED" => "the credentials are right but this user may not use this mailbox".to_string(),
        "EXPIRED" => "the password or account has expired".to_string(),
        "PRIVACYREQUIRED" => "the server wants TLS before login: use --security starttls or tls".to_string(),
        "UNAVAILABLE" => "the server's authentication or mailbox backend is unavailable; try again later and check the server's logs".to_string(),
        "CONTACTADMIN" => "the server says to contact its administrator".to_string(),
        _ if done.status == Status::Bad => format!("the server did not accept the {method} command itself; it may not support it"),
        _ if !tls && text.contains("plaintext") => "the server refuses passwords in cleartext: use --security starttls or tls".to_string(),
        _ => "check the user name and password; the server's text and logs may say more".to_string(),
    };
    let mut f = failure(
        format!("the server refused the login ({})", done.status.as_str()),
        format!("a tagged OK to {method}"),
        Some(&done.raw),
        hint,
    );
    if let Some(e) = oauth {
        f.message
            .push_str(&format!("; the OAuth server said: {}", e.describe()));
        f.hint = oauth_hint(e);
    }
    f
}

/// What to check after an OAuth rejection, from its JSON status.
fn oauth_hint(e: &sasl::OAuthError) -> String {
    let status = e.status.as_deref().unwrap_or("");
    let mut hint = match status {
        "400" | "invalid_request" => {
            "the server could not read the token request: check the user name".to_string()
        }
        "401" | "invalid_token" => {
            "the access token is invalid or expired: get a fresh one (they usually live one hour)"
                .to_string()
        }
        "403" | "insufficient_scope" => {
            "the token lacks the IMAP scope: request it with the scope the server names".to_string()
        }
        _ => "check the access token, its scope and that it belongs to this user".to_string(),
    };
    if let Some(scope) = &e.scope {
        hint.push_str(&format!(" (required scope: {scope})"));
    }
    hint
}

// ---------- the mailbox ----------

pub(super) const LIST_REFUSED: Wording = Wording {
    message: "the server refused LIST",
    expected: "a tagged OK to LIST",
    hint: "the account may be broken on the server (home directory, mail storage permissions)",
};

/// No answer to EXAMINE or SELECT (`verb`); `with_quota` when GETQUOTAROOT
/// went out in the same write.
pub(super) fn open_io_failure(
    e: &SessionError,
    step: Step,
    verb: &str,
    with_quota: bool,
) -> Failure {
    let mut f = io_failure(e, step, &format!("a tagged response to {verb}"));
    if with_quota && matches!(e, SessionError::Io(_)) {
        // The server may have died computing the quota, taking the
        // folder's answer with it.
        f.hint = format!(
            "GETQUOTAROOT went out together with {verb}: a server that fails while computing the quota (check its log, e.g. Dovecot running out of memory recalculating a maildir++ quota) drops both answers; {}",
            f.hint
        );
    }
    f
}

/// The folder `wanted` could not be opened; the hint names the folders
/// from LIST that come closest.
pub(super) fn folder_refused(
    done: &Completion,
    verb: &str,
    wanted: &str,
    folders: &[String],
) -> Failure {
    let close = closest_names(wanted, folders);
    let hint = if close.is_empty() {
        "check the folder name (--folder, in UTF-8; case matters except for INBOX)".to_string()
    } else {
        format!("closest folder names from LIST: {}", close.join(", "))
    };
    failure(
        format!("the server refused to open folder \"{wanted}\""),
        format!("a tagged OK to {verb}"),
        Some(&done.raw),
        hint,
    )
}

/// Folder names from LIST that are close to `wanted`, best first.
fn closest_names(wanted: &str, folders: &[String]) -> Vec<String> {
    let w = wanted.to_lowercase();
    let mut scored: Vec<(usize, &String)> = folders
        .iter()
        .map(|f| {
            let fl = f.to_lowercase();
            let last = fl.rsplit(['/', '.']).next().unwrap_or(&fl).to_string();
            let d = edit_distance(&w, &fl).min(edit_distance(&w, &last));
            (d, f)
        })
        .filter(|(d, f)| *d <= (w.chars().count() / 2).max(2) || f.to_lowercase().contains(&w))
        .collect();
    scored.sort_by_key(|(d, f)| (*d, f.len()));
    scored.into_iter().take(5).map(|(_, f)| f.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A quota at or above `--quota-crit`: `worst` is the fullest resource.
pub(super) fn cert_expiring(days: i64, crit: i64, not_after: &str) -> Failure {
    failure(
        format!("certificate expires in {days} days ({not_after})"),
        format!("at least {crit} days left (-D/--cert-crit-days)"),
        None,
        "renew the server certificate and reload the IMAP server",
    )
}

pub(super) fn message_count(exists: i64, range: &str) -> Failure {
    failure(
        format!("the folder has {exists} messages, outside the critical range {range}"),
        format!("a message count that --messages {range} does not alert on"),
        None,
        "a queue filling up or a heartbeat folder left empty: check what delivers to and empties the folder",
    )
}

pub(super) fn empty_folder(folder: &str) -> Failure {
    failure(
        format!("{folder} is empty: nothing has arrived (--max-age)"),
        "at least one message, newer than --max-age",
        None,
        "check the delivery that feeds this folder, and what empties it",
    )
}

pub(super) fn message_too_old(secs: u64, limits: Option<(u64, Option<u64>)>) -> Failure {
    let crit = limits.and_then(|(_, c)| c).unwrap_or_default();
    failure(
        format!(
            "newest message is {} old ({secs} s)",
            crate::age::human(secs)
        ),
        format!("a message at most {crit} s old (--max-age)"),
        None,
        "the delivery to this folder has stopped: check the sender, the MTA queue and the server's delivery log",
    )
}

pub(super) fn quota_full(pct: f64, worst: &str, crit: u32) -> Failure {
    failure(
        format!("mailbox quota at {pct:.1}%: {worst}"),
        format!("usage below {crit}% of every quota limit"),
        None,
        "a full mailbox rejects new mail: free space or raise the quota",
    )
}

// ---------- fetch ----------

pub(super) fn no_such_message(seq: u32, exists: u32) -> Failure {
    failure(
        format!("message {seq} does not exist: the folder has {exists}"),
        format!("a message number from 1 to {exists}"),
        None,
        "choose --message within the folder's size, or leave it out to fetch the newest",
    )
}

pub(super) fn fetch_refused(done: &Completion, seq: u32) -> Failure {
    failure(
        format!("the server refused to fetch message {seq}"),
        "a tagged OK to FETCH",
        Some(&done.raw),
        "the message may have been expunged meanwhile, or the mail store is damaged",
    )
}

pub(super) fn no_size(done: &Completion, seq: u32) -> Failure {
    failure(
        format!("no RFC822.SIZE for message {seq}"),
        format!("\"* {seq} FETCH (... RFC822.SIZE n ...)\""),
        Some(&done.raw),
        "the server answered OK without the requested data",
    )
}

pub(super) fn body_refused(done: &Completion, seq: u32) -> Failure {
    failure(
        format!("the server refused to fetch the body of message {seq}"),
        "a tagged OK to FETCH BODY.PEEK[]",
        Some(&done.raw),
        "the mail store may be damaged",
    )
}

pub(super) fn no_body(done: &Completion, seq: u32) -> Failure {
    failure(
        format!("no BODY[] for message {seq}"),
        format!("\"* {seq} FETCH (BODY[] {{n}} ...)\""),
        Some(&done.raw),
        "the server answered OK without the body",
    )
}

pub(super) fn body_size_mismatch(seq: u32, body: u64, size: u64) -> Failure {
    failure(
        format!("message {seq}: the body has {body} bytes but RFC822.SIZE announced {size}"),
        format!("BODY[] of exactly {size} bytes"),
        None,
        "the server delivered something other than it announced: a damaged mail store or index (on Dovecot, try doveadm force-resync)",
    )
}

// ---------- logout, and any step ----------

pub(super) const LOGOUT_REFUSED: Wording = Wording {
    message: "the server refused LOGOUT",
    expected: "* BYE, then a tagged OK",
    hint: "a server that refuses LOGOUT is broken",
};

/// No answer, a broken connection or a protocol error during `step`.
pub(super) fn io_failure(e: &SessionError, step: Step, expected: &str) -> Failure {
    let step = step.as_str();
    match e {
        SessionError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => failure(
            format!("no answer before the deadline during {step}"),
            expected,
            None,
            "the server is slow or hangs at this step: compare the step times, raise -t if it is only slow",
        ),
        SessionError::Io(io) => failure(
            format!("the connection failed during {step}: {}", describe_io(io)),
            expected,
            None,
            "the server closed or reset the connection; its logs say why",
        ),
        SessionError::Protocol { what, got } => failure(
            format!("protocol error during {step}: {what}"),
            expected,
            if got.is_empty() { None } else { Some(got) },
            "the server sent something no IMAP server should; run with -v for the transcript",
        ),
    }
}

/// A handshake that failed for a reason the chain as sent or the
/// server's version names: an issuer nobody sent, TLS 1.0 or 1.1 only.
fn tls_chain_or_version(e: &TlsError) -> Option<Failure> {
    let message = e.message.as_bytes();
    if let Some(v) = e.refused_version() {
        let version = match v {
            0x0300..0x0303 => crate::transport::tls::version_name(v),
            _ => "TLS versions older than 1.2".to_string(),
        };
        return Some(failure(
            format!(
                "this server offers only {version}; current clients and this OpenSSL refuse it"
            ),
            "a TLS 1.2 or 1.3 handshake",
            Some(message),
            "enable TLS 1.2 and 1.3 on the server: RFC 8996 retired TLS 1.0 and 1.1, and Microsoft 365, Apple and Mozilla clients no longer speak them",
        ));
    }
    let chain = e.chain.as_ref()?;
    let (issuer, url) = chain.missing_issuer.as_ref()?;
    let sent = match chain.sent.len() {
        1 => format!("only its own certificate, and its issuer {issuer} is not trusted here"),
        n => format!(
            "{n} certificates, and the last one's issuer {issuer} is neither sent nor trusted here"
        ),
    };
    // A caIssuers URL says a public CA's intermediate is meant; without
    // one the issuer may as well be a private root: both are said, the
    // likelier first.
    let hint = match url {
        Some(u) => format!(
            "the server must send the intermediate certificate {issuer} (the certificate says it is at {u}) after its own; if {issuer} is a private root CA instead, pass it with --ca-file"
        ),
        None => format!(
            "if {issuer} is a private root CA, pass it with --ca-file; otherwise the server must send the intermediate certificate {issuer} after its own"
        ),
    };
    Some(failure(
        format!("the server certificate is not issued by a trusted CA: the server sent {sent}"),
        "a certificate chain that reaches a trusted root",
        Some(message),
        hint,
    ))
}

/// `--min-tls`'s critical floor: the negotiated version is below it.
pub(super) fn tls_version_below(version: &str, floor: &str) -> Failure {
    failure(
        format!("the server negotiated {version}, below the critical --min-tls {floor}"),
        format!("{floor} or later"),
        None,
        "enable TLS 1.3 (and 1.2) on the server; RFC 8996 retired TLS 1.0 and 1.1",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_folder_names() {
        let folders: Vec<String> = ["INBOX", "Sent", "Deleted Items", "Entwürfe", "Archive/2024"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest_names("Deleted Item", &folders), ["Deleted Items"]);
        assert_eq!(closest_names("entwurfe", &folders), ["Entwürfe"]);
        assert_eq!(closest_names("2024", &folders), ["Archive/2024"]);
        assert!(closest_names("Zzzzzzzzzzzz", &folders).is_empty());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ü", "u"), 1);
    }

    #[test]
    fn greeting_hints_name_the_service() {
        assert!(not_imap_hint(b"+OK POP3 ready", Security::Starttls).contains("POP3"));
        assert!(not_imap_hint(b"220 smtp", Security::Starttls).contains("SMTP"));
        assert!(not_imap_hint(b"SSH-2.0-OpenSSH", Security::None).contains("SSH"));
        assert!(not_imap_hint(b"\x16\x03\x01", Security::Starttls).contains("--security tls"));
    }
}
