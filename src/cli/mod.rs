//! Command line → configuration: the flags (`args`, argh), their defaults
//! and checks (the number-and-range ones in `values`), and which source the
//! password is to come from (reading it is `password`'s). Nothing here
//! touches the network; a bad flag is an UNKNOWN (exit 3) before any
//! connection is made.

mod args;
pub mod getopt;
pub mod round_trip;
mod values;

pub use args::Args;
pub use round_trip::{RoundTrip, SendSecret};

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::age;
use crate::oauth::{self, Grant, OAuthConfig};
use crate::password::PasswordSource;
use crate::range::{self, Range};
use crate::transport::Family;

impl Config {
    /// The name TLS sends as SNI and verifies the certificate for.
    pub fn tls_name(&self) -> &str {
        self.sni.as_deref().unwrap_or(&self.host)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Tls,
    Starttls,
    None,
}

impl Security {
    pub fn as_str(self) -> &'static str {
        match self {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
            Security::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Login,
    Plain,
    XOAuth2,
    OAuthBearer,
}

impl AuthMethod {
    /// The longest first line a secret file (or standard input, or the
    /// prompt) may give for this method: with an OAuth mechanism the
    /// "password" is an access token, which may be longer than any
    /// password.
    pub fn secret_line_limit(self) -> usize {
        match self {
            AuthMethod::XOAuth2 | AuthMethod::OAuthBearer => crate::password::MAX_TOKEN_LINE,
            AuthMethod::Login | AuthMethod::Plain => crate::password::MAX_PASSWORD_LINE,
        }
    }

    /// The SASL mechanism name, for AUTHENTICATE (None for LOGIN).
    pub fn mechanism(self) -> Option<&'static str> {
        match self {
            AuthMethod::Login => None,
            AuthMethod::Plain => Some("PLAIN"),
            AuthMethod::XOAuth2 => Some("XOAUTH2"),
            AuthMethod::OAuthBearer => Some("OAUTHBEARER"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Nagios,
    Json,
    OpenMetrics,
}

/// `--min-tls`: TLS versions as on the wire (0x0303 is TLS 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsFloor {
    /// Below this: WARNING.
    pub warn: u16,
    /// Below this: CRITICAL.
    pub crit: Option<u16>,
}

/// The checked configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub family: Family,
    /// Connect to this address instead of resolving the host (one check of
    /// `--all-addresses`); the host still names the server for TLS.
    pub connect_to: Option<IpAddr>,
    pub all_addresses: bool,
    /// `--repeat`: how many runs (None: one, and no statistics).
    pub repeat: Option<u32>,
    /// `--interval`: the pause between runs of `--repeat`.
    pub interval: Duration,
    pub timeout: Duration,
    /// The name for SNI and verification when not the host (`--sni`).
    pub sni: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    /// `--min-tls`: the lowest TLS version that is not a finding.
    pub min_tls: Option<TlsFloor>,
    pub cert_warn_days: i64,
    /// CRITICAL below this many days left; None: off.
    pub cert_crit_days: Option<i64>,
    pub user: Option<String>,
    pub password_source: PasswordSource,
    pub auth: AuthMethod,
    /// `--oauth-token-url` and its flags: the token step fetches the
    /// access token.
    pub oauth: Option<OAuthConfig>,
    pub folder: String,
    pub select: bool,
    pub message: Option<u32>,
    pub no_fetch: bool,
    pub body: bool,
    /// `--no-pipelining`: after login, one command per write.
    pub no_pipelining: bool,
    pub quota_warn: u32,
    pub quota_crit: u32,
    /// `--messages`: ranges on EXISTS that warn and are critical.
    pub messages_warn: Option<Range>,
    pub messages_crit: Option<Range>,
    /// `--max-age` in seconds: warn, and crit when given.
    pub max_age: Option<(u64, Option<u64>)>,
    /// `--search`, checked (`--search-within` alone searches ALL).
    pub search: Option<crate::search::SearchKeys>,
    /// `--search-within` in seconds.
    pub search_within: Option<u64>,
    pub format: Format,
    /// `--output`: the file the result replaces, instead of stdout.
    pub output: Option<PathBuf>,
    /// `--label name=value`, in the order given: labels every
    /// OpenMetrics sample carries.
    pub labels: Vec<(String, String)>,
    pub verbose: bool,
    /// With `verbose`: the transcript goes to this capture, not stderr
    /// (`serve`'s `debug=true`); never set from the command line.
    pub capture: Option<crate::transcript::CaptureId>,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    /// `--send-via` and its flags: the check sends a message and waits
    /// for it (the only run that writes to the mailbox).
    pub round_trip: Option<RoundTrip>,
}

/// Checks the parsed flags and fills in defaults. `Err` is a message for
/// stderr; the caller exits 3.
pub fn configure(args: Args, env_password_set: bool, stdin_is_tty: bool) -> Result<Config, String> {
    let raw_host = match (args.host, args.hostname) {
        (Some(p), Some(h)) if p != h => {
            return Err(format!(
                "the host is given twice, as '{}' and as -H '{}'",
                p.escape_default(),
                h.escape_default()
            ));
        }
        (Some(h), _) | (None, Some(h)) => h,
        (None, None) => {
            return Err(
                "a host is required: imapcheck <host> or -H <host> [options] (see --help)".into(),
            );
        }
    };
    let host = raw_host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&raw_host)
        .to_string();
    if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'/') {
        return Err(format!(
            "'{}' is not a host name or address",
            raw_host.escape_default()
        ));
    }
    let security = match args.security.as_deref() {
        Some("tls") => Some(Security::Tls),
        Some("starttls") => Some(Security::Starttls),
        Some("none") => Some(Security::None),
        Some(other) => {
            return Err(format!(
                "--security must be tls, starttls or none, not '{}'",
                other.escape_default()
            ));
        }
        None => None,
    };
    let security = match (args.ssl, security) {
        (true, None | Some(Security::Tls)) => Some(Security::Tls),
        (true, Some(other)) => {
            return Err(format!(
                "-S/--ssl means --security tls, not --security {}",
                other.as_str()
            ));
        }
        (false, s) => s,
    };
    let (security, port) = match (security, args.port) {
        (Some(s), Some(p)) => (s, p),
        (Some(Security::Tls), None) => (Security::Tls, 993),
        (Some(s), None) => (s, 143),
        (None, Some(993)) => (Security::Tls, 993),
        (None, Some(p)) => (Security::Starttls, p),
        (None, None) => (Security::Starttls, 143),
    };
    if port == 0 {
        return Err("--port must be between 1 and 65535".into());
    }
    let family = match (args.ipv4, args.ipv6) {
        (true, true) => return Err("-4 and -6 exclude each other".into()),
        (true, false) => Family::V4,
        (false, true) => Family::V6,
        (false, false) => Family::Any,
    };
    if (family == Family::V4 && host.parse::<std::net::Ipv6Addr>().is_ok())
        || (family == Family::V6 && host.parse::<std::net::Ipv4Addr>().is_ok())
    {
        return Err(format!(
            "{host} is not an address of the family -4/-6 asks for"
        ));
    }
    if let Some(name) = &args.sni {
        if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'/') {
            return Err(format!(
                "--sni takes a host name, not '{}'",
                name.escape_default()
            ));
        }
        if security == Security::None {
            return Err("--sni needs TLS: it excludes --security none".into());
        }
    }
    let timeout = values::timeout(args.timeout)?;
    for (flag, v) in [("--warning", args.warning), ("--critical", args.critical)] {
        if let Some(v) = v
            && !(v >= 0.0 && v.is_finite())
        {
            return Err(format!("{flag} must be a number of seconds, 0 or more"));
        }
    }
    let min_tls = args.min_tls.as_deref().map(values::min_tls).transpose()?;
    if min_tls.is_some() && security == Security::None {
        return Err("--min-tls needs TLS: it excludes --security none".into());
    }
    let (cert_warn_days, cert_crit_days) = values::cert_days(
        args.certificate.as_deref(),
        args.cert_warn_days,
        args.cert_crit_days,
    )?;
    let oauth = oauth::from_flags(oauth::Flags {
        token_url: args.oauth_token_url,
        client_id: args.oauth_client_id,
        client_secret_file: args.oauth_client_secret_file,
        refresh_token_file: args.oauth_refresh_token_file,
        scope: args.oauth_scope,
    })?;
    let auth = match args.auth.as_deref() {
        None if oauth.is_some() => AuthMethod::XOAuth2,
        Some("login" | "plain") if oauth.is_some() => {
            return Err(
                "--oauth-token-url fetches an OAuth access token: it goes with --auth xoauth2 (the default) or oauthbearer".into(),
            );
        }
        None | Some("login") => AuthMethod::Login,
        Some("plain") => AuthMethod::Plain,
        Some("xoauth2") => AuthMethod::XOAuth2,
        Some("oauthbearer") => AuthMethod::OAuthBearer,
        Some(other) => {
            return Err(format!(
                "--auth must be login, plain, xoauth2 or oauthbearer, not '{}'",
                other.escape_default()
            ));
        }
    };
    let format = match args.format.as_deref() {
        None | Some("text") => Format::Text,
        Some("nagios") => Format::Nagios,
        Some("json") => Format::Json,
        Some("openmetrics") => Format::OpenMetrics,
        Some(other) => {
            return Err(format!(
                "--format must be text, nagios, json or openmetrics, not '{}'",
                other.escape_default()
            ));
        }
    };
    let (repeat, interval) = values::repetition(args.repeat, args.interval, format)?;
    let labels = values::labels(&args.label)?;
    // `-` and /dev/stdout are standard output; anything else must be a
    // file a rename may replace (no device, FIFO, /proc link, ...).
    let output = args
        .output
        .filter(|path| !crate::output::means_stdout(path));
    if let Some(path) = &output {
        crate::output::check_path(path)?;
    }
    if args.password_file.is_some() && args.password_stdin {
        return Err("--password-file and --password-stdin exclude each other".into());
    }
    if args.message == Some(0) {
        return Err("--message counts from 1".into());
    }
    if args.no_fetch && (args.body || args.message.is_some()) {
        return Err("--no-fetch excludes --body and --message".into());
    }
    let (messages_warn, messages_crit) = match args.messages.as_deref() {
        Some(text) => range::parse_pair("--messages", text)?,
        None => (None, None),
    };
    let max_age = match args.max_age.as_deref() {
        Some(_) if args.no_fetch => {
            return Err("--max-age needs the fetch: it excludes --no-fetch".into());
        }
        Some(_) if args.user.is_none() => {
            return Err("--max-age needs -u: without a login nothing is fetched".into());
        }
        Some(text) => Some(age::parse_pair(text)?),
        None => None,
    };
    let (search, search_within) = crate::search::configure(
        args.search.as_deref(),
        args.search_within.as_deref(),
        args.user.is_some(),
        args.message.is_some(),
    )?;
    if args.messages.is_some() && args.user.is_none() {
        return Err("--messages needs -u: without a login no folder is opened".into());
    }
    if oauth.is_some() {
        if args.user.is_none() {
            return Err("--oauth-token-url needs -u: the token logs in as that user".into());
        }
        if args.password_file.is_some() || args.password_stdin {
            return Err(
                "--oauth-token-url fetches the access token: it excludes --password-file and --password-stdin".into(),
            );
        }
        // Each address's check fetches a token of its own, at the same
        // time: one refresh token used twice at once is what a provider
        // that rotates them takes for a stolen token (and may revoke).
        let refresh = oauth
            .as_ref()
            .is_some_and(|o| o.grant() == Grant::RefreshToken);
        if refresh && args.all_addresses {
            return Err(
                "--all-addresses checks every address at once, each with a token request of its own: with --oauth-refresh-token-file the refresh token would be used several times at once, which a provider that rotates it may take for theft; use the client-credentials grant, or check one address".into(),
            );
        }
    }
    let round_trip = round_trip::from_flags(
        round_trip::Flags {
            send_via: args.send_via,
            send_security: args.send_security,
            send_user: args.send_user,
            send_password_file: args.send_password_file,
            send_from: args.send_from,
            send_to: args.send_to,
            keep: args.keep,
            arrival: args.arrival,
        },
        args.user.as_deref(),
        std::env::var_os(round_trip::SEND_PASSWORD_ENV).is_some(),
    )?;
    let folder = args.folder.unwrap_or_else(|| "INBOX".to_string());
    if folder.is_empty() {
        return Err("--folder must not be empty".into());
    }
    let password_source = if args.user.is_none() || oauth.is_some() {
        PasswordSource::Missing
    } else if env_password_set {
        PasswordSource::Env
    } else if let Some(p) = args.password_file {
        PasswordSource::File(p)
    } else if args.password_stdin {
        PasswordSource::Stdin
    } else if stdin_is_tty {
        PasswordSource::Prompt
    } else {
        PasswordSource::Missing
    };
    Ok(Config {
        host,
        port,
        security,
        family,
        connect_to: None,
        all_addresses: args.all_addresses,
        repeat,
        interval,
        timeout,
        sni: args.sni,
        ca_file: args.ca_file,
        insecure: args.insecure,
        min_tls,
        cert_warn_days,
        cert_crit_days,
        user: args.user,
        password_source,
        auth,
        oauth,
        folder,
        select: args.select,
        message: args.message,
        no_fetch: args.no_fetch,
        body: args.body,
        no_pipelining: args.no_pipelining,
        quota_warn: args.quota_warn,
        quota_crit: args.quota_crit,
        messages_warn,
        messages_crit,
        max_age,
        search,
        search_within,
        format,
        output,
        labels,
        verbose: args.verbose,
        capture: None,
        warning: args.warning,
        critical: args.critical,
        round_trip,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use argh::FromArgs;

    fn args(list: &[&str]) -> Result<Args, argh::EarlyExit> {
        Args::from_args(&["imapcheck"], list)
    }

    fn config(list: &[&str]) -> Result<Config, String> {
        configure(args(list).map_err(|e| e.output)?, false, false)
    }

    #[test]
    fn min_tls_needs_tls_and_takes_a_critical_floor() {
        let c = config(&["h", "--min-tls", "1.3,1.2"]).expect("config");
        let want = TlsFloor {
            warn: 0x0304,
            crit: Some(0x0303),
        };
        assert_eq!(c.min_tls, Some(want));
        assert_eq!(config(&["h"]).expect("config").min_tls, None);
        let e = config(&["h", "--security", "none", "--min-tls", "1.2"]).unwrap_err();
        assert!(e.contains("--min-tls needs TLS"), "{e}");
        assert!(config(&["h", "--min-tls", "1.0"]).is_err());
    }

    #[test]
    fn port_and_security_defaults() {
        let c = config(&["mail.example.org"]).expect("config");
        assert_eq!((c.port, c.security), (143, Security::Starttls));
        let c = config(&["h", "-p", "993"]).expect("config");
        assert_eq!((c.port, c.security), (993, Security::Tls));
        let c = config(&["h", "--security", "tls"]).expect("config");
        assert_eq!((c.port, c.security), (993, Security::Tls));
        let c = config(&["h", "--security", "none"]).expect("config");
        assert_eq!((c.port, c.security), (143, Security::None));
        let c = config(&["h", "-p", "10143"]).expect("config");
        assert_eq!((c.port, c.security), (10143, Security::Starttls));
        let c = config(&["h", "-p", "993", "--security", "starttls"]).expect("config");
        assert_eq!((c.port, c.security), (993, Security::Starttls));
    }

    #[test]
    fn ipv6_brackets_and_family() {
        assert_eq!(config(&["[::1]"]).expect("config").host, "::1");
        assert_eq!(config(&["::1", "-6"]).expect("config").family, Family::V6);
        assert!(config(&["::1", "-4"]).is_err());
        assert!(config(&["h", "-4", "-6"]).is_err());
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            &["h", "--security", "ssl"][..],
            &["h", "--timeout", "0"],
            &["h", "--timeout", "-1"],
            &["h", "--timeout", "NaN"],
            &["h", "--format", "xml"],
            &["h", "--auth", "cram-md5"],
            &["h", "--message", "0"],
            &["h", "--no-fetch", "--body"],
            &["h", "-p", "0"],
            &["h", "-w", "-1"],
            &["bad host"],
            &[],
        ] {
            assert!(config(bad).is_err(), "{bad:?} accepted");
        }
        assert!(
            args(&["h", "--password", "x"]).is_err(),
            "there must be no password flag"
        );
    }

    #[test]
    fn monitoring_plugin_conventions() {
        let c = config(&["-H", "mail.example.org"]).expect("-H");
        assert_eq!(c.host, "mail.example.org");
        let c = config(&["h", "--hostname", "h"]).expect("same host twice");
        assert_eq!(c.host, "h");
        assert!(config(&["a", "-H", "b"]).is_err(), "two different hosts");
        let c = config(&["-H", "h", "-S"]).expect("-S");
        assert_eq!((c.port, c.security), (993, Security::Tls));
        let c = config(&["-H", "h", "--ssl", "-p", "10993"]).expect("--ssl");
        assert_eq!((c.port, c.security), (10993, Security::Tls));
        assert!(config(&["h", "-S", "--security", "starttls"]).is_err());
        assert!(config(&["h", "-S", "--security", "tls"]).is_ok());
        assert!(args(&["-V"]).expect("-V").version);
        let help = args(&["-h"]).expect_err("-h is help");
        assert!(help.status.is_ok() && help.output.contains("Usage:"));
    }

    #[test]
    fn sni_name() {
        let c = config(&["-H", "192.0.2.10", "-S", "--sni", "mail.example.org"]).expect("sni");
        assert_eq!(
            (c.host.as_str(), c.tls_name()),
            ("192.0.2.10", "mail.example.org")
        );
        assert_eq!(config(&["h"]).expect("no sni").tls_name(), "h");
        assert!(config(&["h", "--sni", ""]).is_err());
        assert!(config(&["h", "--sni", "a b"]).is_err());
        assert!(config(&["h", "--sni", "n", "--security", "none"]).is_err());
    }

    #[test]
    fn certificate_days() {
        let days = |list: &[&str]| config(list).map(|c| (c.cert_warn_days, c.cert_crit_days));
        assert_eq!(days(&["h"]), Ok((14, None)));
        assert_eq!(days(&["h", "-D", "30,14"]), Ok((30, Some(14))));
        assert_eq!(days(&["h", "--certificate", "30"]), Ok((30, None)));
        assert_eq!(days(&["h", "--cert-warn-days", "20"]), Ok((20, None)));
        assert_eq!(
            days(&["h", "--cert-warn-days", "20", "--cert-crit-days", "5"]),
            Ok((20, Some(5)))
        );
        assert_eq!(days(&["h", "--cert-crit-days", "10"]), Ok((14, Some(10))));
        for bad in [
            &["h", "-D", "x"][..],
            &["h", "-D", "30,"],
            &["h", "-D", "-1"],
            &["h", "-D", "10,20"],
            &["h", "-D", "30", "--cert-warn-days", "30"],
            &["h", "--cert-crit-days", "20"],
        ] {
            assert!(config(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn labels_are_checked() {
        let c =
            config(&["h", "--label", "check=a=b", "--label", "_team=Mail Ops"]).expect("labels");
        assert_eq!(
            c.labels,
            vec![
                ("check".to_string(), "a=b".to_string()),
                ("_team".to_string(), "Mail Ops".to_string())
            ]
        );
        assert!(config(&["h"]).expect("none").labels.is_empty());
        for (bad, why) in [
            ("check", "name=value"),
            ("=x", "letters, digits"),
            ("9x=1", "letters, digits"),
            ("a-b=1", "letters, digits"),
            ("ä=1", "letters, digits"),
            ("__name__=x", "reserved"),
            ("host=x", "itself"),
            ("folder=x", "itself"),
            ("status=x", "itself"),
            ("check=", "empty"),
        ] {
            let e = config(&["h", "--label", bad]).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        let e = config(&["h", "--label", "a=1", "--label", "a=2"]).expect_err("twice");
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn password_source_order() {
        let parse = |list: &[&str], env: bool, tty: bool| {
            configure(args(list).expect("args"), env, tty)
                .expect("config")
                .password_source
        };
        assert_eq!(
            parse(&["h", "-u", "a", "--password-file", "f"], true, true),
            PasswordSource::Env
        );
        assert_eq!(
            parse(&["h", "-u", "a", "--password-file", "f"], false, true),
            PasswordSource::File("f".into())
        );
        assert_eq!(
            parse(&["h", "-u", "a", "--password-stdin"], false, true),
            PasswordSource::Stdin
        );
        assert_eq!(
            parse(&["h", "-u", "a"], false, true),
            PasswordSource::Prompt
        );
        assert_eq!(
            parse(&["h", "-u", "a"], false, false),
            PasswordSource::Missing
        );
        assert_eq!(
            parse(&["h"], true, true),
            PasswordSource::Missing,
            "no user, no password"
        );
    }
}
