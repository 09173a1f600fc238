//! Command line → configuration: the flags (argh), their defaults and
//! checks, and where the password comes from. Nothing here touches the
//! network; a bad flag or an unreadable file is an UNKNOWN (exit 3) before
//! any connection is made.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;

use crate::transport::Family;

/// The longest `--timeout` accepted: a check that needs more than an hour
/// is not a check; the cap also keeps Duration arithmetic far from overflow.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// Longest password read from a file, stdin or the prompt. Real passwords
/// and OAuth tokens are far shorter; the cap stops `--password-stdin` from
/// swallowing a whole file by mistake.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

#[derive(FromArgs, Debug)]
/// Check an IMAP server step by step, the way an admin does by hand with
/// telnet: connect, TLS, greeting, CAPABILITY, STARTTLS, LOGIN, LIST,
/// EXAMINE, FETCH, LOGOUT. Reports each step's result and time; exit status
/// 0 ok, 1 warning, 2 critical, 3 unknown. The password is read from
/// IMAPCHECK_PASSWORD, --password-file, --password-stdin or a prompt, never
/// from the command line. See imapcheck(1) for details.
pub struct Args {
    /// server host name, IPv4 or IPv6 address (::1 or [::1])
    #[argh(positional)]
    pub host: Option<String>,

    /// TCP port (default 993 with --security tls, else 143)
    #[argh(option, short = 'p')]
    pub port: Option<u16>,

    /// tls, starttls or none (default: tls on port 993, else starttls)
    #[argh(option)]
    pub security: Option<String>,

    /// connect over IPv4 only
    #[argh(switch, short = '4')]
    pub ipv4: bool,

    /// connect over IPv6 only
    #[argh(switch, short = '6')]
    pub ipv6: bool,

    /// one deadline in seconds for the whole check (DNS, connect, TLS, every
    /// read and write); fractions allowed; default 10
    #[argh(option, short = 't')]
    pub timeout: Option<f64>,

    /// also trust the CA certificates in this PEM file
    #[argh(option)]
    pub ca_file: Option<PathBuf>,

    /// do not verify the certificate or host name (result at best WARNING)
    #[argh(switch)]
    pub insecure: bool,

    /// WARNING when the certificate expires within this many days (default 14)
    #[argh(option, default = "14")]
    pub cert_warn_days: u32,

    /// user name to log in as; without it the check stops before login
    #[argh(option, short = 'u')]
    pub user: Option<String>,

    /// read the password from the first line of this file
    #[argh(option)]
    pub password_file: Option<PathBuf>,

    /// read the password from the first line of standard input
    #[argh(switch)]
    pub password_stdin: bool,

    /// login (IMAP LOGIN, default), plain (AUTHENTICATE PLAIN), xoauth2 or
    /// oauthbearer (OAuth 2.0; the secret is the access token)
    #[argh(option)]
    pub auth: Option<String>,

    /// folder to open, in UTF-8 (default INBOX)
    #[argh(option)]
    pub folder: Option<String>,

    /// open the folder read-write with SELECT instead of read-only EXAMINE
    #[argh(switch)]
    pub select: bool,

    /// sequence number of the message to fetch (default: the newest)
    #[argh(option)]
    pub message: Option<u32>,

    /// WARNING when a quota of the folder is at or above this percent
    /// (default 90)
    #[argh(option, default = "90")]
    pub quota_warn: u32,

    /// CRITICAL when a quota of the folder is at or above this percent
    /// (default 100: a full mailbox rejects new mail)
    #[argh(option, default = "100")]
    pub quota_crit: u32,

    /// do not fetch a message
    #[argh(switch)]
    pub no_fetch: bool,

    /// also fetch the whole message (BODY.PEEK[], streamed) and check its size
    #[argh(switch)]
    pub body: bool,

    /// output format: text (default), nagios or json
    #[argh(option)]
    pub format: Option<String>,

    /// print the protocol transcript on stderr (secrets shown as ***)
    #[argh(switch, short = 'v')]
    pub verbose: bool,

    /// WARNING when the whole check takes longer than this many seconds
    #[argh(option, short = 'w')]
    pub warning: Option<f64>,

    /// CRITICAL when the whole check takes longer than this many seconds
    #[argh(option, short = 'c')]
    pub critical: Option<f64>,

    /// print the version and the TLS library, then exit
    #[argh(switch)]
    pub version: bool,
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
}

/// Where the password comes from, in the documented order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env,
    File(PathBuf),
    Stdin,
    Prompt,
    /// No source available (stdin is not a terminal and nothing else given).
    Missing,
}

/// The checked configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub family: Family,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    pub cert_warn_days: i64,
    pub user: Option<String>,
    pub password_source: PasswordSource,
    pub auth: AuthMethod,
    pub folder: String,
    pub select: bool,
    pub message: Option<u32>,
    pub no_fetch: bool,
    pub body: bool,
    pub quota_warn: u32,
    pub quota_crit: u32,
    pub format: Format,
    pub verbose: bool,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

/// A password or token. Never printed (Debug shows `***`), wiped on drop.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Wipe the bytes; black_box keeps the write from being optimized away.
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// Checks the parsed flags and fills in defaults. `Err` is a message for
/// stderr; the caller exits 3.
pub fn configure(args: Args, env_password_set: bool, stdin_is_tty: bool) -> Result<Config, String> {
    let raw_host = args
        .host
        .ok_or("a host is required: imapcheck <host> [options] (see --help)")?;
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
    let timeout = args.timeout.unwrap_or(10.0);
    if !(timeout > 0.0 && timeout <= MAX_TIMEOUT_SECS) {
        return Err(format!(
            "--timeout must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
        ));
    }
    for (flag, v) in [("--warning", args.warning), ("--critical", args.critical)] {
        if let Some(v) = v
            && !(v >= 0.0 && v.is_finite())
        {
            return Err(format!("{flag} must be a number of seconds, 0 or more"));
        }
    }
    let auth = match args.auth.as_deref() {
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
        Some(other) => {
            return Err(format!(
                "--format must be text, nagios or json, not '{}'",
                other.escape_default()
            ));
        }
    };
    if args.password_file.is_some() && args.password_stdin {
        return Err("--password-file and --password-stdin exclude each other".into());
    }
    if args.message == Some(0) {
        return Err("--message counts from 1".into());
    }
    if args.no_fetch && (args.body || args.message.is_some()) {
        return Err("--no-fetch excludes --body and --message".into());
    }
    let folder = args.folder.unwrap_or_else(|| "INBOX".to_string());
    if folder.is_empty() {
        return Err("--folder must not be empty".into());
    }
    let password_source = if args.user.is_none() {
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
        timeout: Duration::from_secs_f64(timeout),
        ca_file: args.ca_file,
        insecure: args.insecure,
        cert_warn_days: i64::from(args.cert_warn_days),
        user: args.user,
        password_source,
        auth,
        folder,
        select: args.select,
        message: args.message,
        no_fetch: args.no_fetch,
        body: args.body,
        quota_warn: args.quota_warn,
        quota_crit: args.quota_crit,
        format,
        verbose: args.verbose,
        warning: args.warning,
        critical: args.critical,
    })
}

/// Strips one line ending (LF or CRLF) and everything after the first line.
fn first_line(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(i) = bytes.iter().position(|&b| b == b'\n') {
        bytes.truncate(i);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    bytes
}

/// Reads the password from its source. `Err` is a message naming the source
/// (never the secret); the caller reports UNKNOWN.
pub fn read_password(
    source: &PasswordSource,
    env_value: Option<OsString>,
) -> Result<Secret, String> {
    let secret = read_secret(source, env_value)?;
    if secret.expose().is_empty() {
        // No IMAP server accepts an empty password; sending one only earns
        // a failed login (and on some servers a penalty) for a typo.
        let from = match source {
            PasswordSource::Env => "IMAPCHECK_PASSWORD".to_string(),
            PasswordSource::File(p) => format!("the password file {}", p.display()),
            PasswordSource::Stdin => "standard input".to_string(),
            PasswordSource::Prompt | PasswordSource::Missing => "the prompt".to_string(),
        };
        return Err(format!("the password from {from} is empty"));
    }
    Ok(secret)
}

fn read_secret(source: &PasswordSource, env_value: Option<OsString>) -> Result<Secret, String> {
    use std::os::unix::ffi::OsStringExt;
    match source {
        PasswordSource::Env => Ok(Secret::new(env_value.map(OsStringExt::into_vec).unwrap_or_default())),
        PasswordSource::File(path) => {
            let file = std::fs::File::open(path).map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            let mut bytes = Vec::new();
            file.take(MAX_SECRET_BYTES).read_to_end(&mut bytes).map_err(|e| format!("cannot read the password file {}: {e}", path.display()))?;
            Ok(Secret::new(first_line(bytes)))
        }
        PasswordSource::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_SECRET_BYTES)
                .read_until(b'\n', &mut bytes)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            if bytes.is_empty() {
                return Err("--password-stdin: standard input is empty".into());
            }
            Ok(Secret::new(first_line(bytes)))
        }
        PasswordSource::Prompt => prompt_password(),
        PasswordSource::Missing => Err("no password: set IMAPCHECK_PASSWORD, or use --password-file or --password-stdin (stdin is not a terminal, so there is no prompt)".into()),
    }
}

/// Prompts on the terminal with echo off. `stty` does the terminal mode so
/// we need no libc binding; echo is restored even when reading fails.
fn prompt_password() -> Result<Secret, String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("cannot open the terminal for the password prompt: {e}"))?;
    if !tty.is_terminal() {
        return Err("no terminal for the password prompt".into());
    }
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(
                tty.try_clone()
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            )
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut out = &tty;
    let _ = out.write_all(b"IMAP password: ");
    let _ = out.flush();
    let echo_off = stty("-echo");
    let mut bytes = Vec::new();
    let read = std::io::BufReader::new(&tty)
        .take(MAX_SECRET_BYTES)
        .read_until(b'\n', &mut bytes);
    if echo_off {
        stty("echo");
    }
    let _ = out.write_all(b"\n");
    read.map_err(|e| format!("cannot read the password from the terminal: {e}"))?;
    Ok(Secret::new(first_line(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, argh::EarlyExit> {
        Args::from_args(&["imapcheck"], list)
    }

    fn config(list: &[&str]) -> Result<Config, String> {
        configure(args(list).map_err(|e| e.output)?, false, false)
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

    #[test]
    fn first_line_strips_endings() {
        assert_eq!(first_line(b"pw\r\nrest".to_vec()), b"pw");
        assert_eq!(first_line(b"pw\n".to_vec()), b"pw");
        assert_eq!(first_line(b"p w \"\\".to_vec()), b"p w \"\\");
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new(b"hunter2".to_vec())), "***");
    }
}
