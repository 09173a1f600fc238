//! The flags, as argh parses them: names, short letters, help texts (which
//! `--help` prints and tests/manpage.rs holds against the man page). Their
//! meaning and checks are `configure`'s.

use std::path::PathBuf;

use argh::{ArgsInfo, FromArgs};

#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(help_triggers("-h", "--help", "help"))]
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

    /// the host, as the positional argument (monitoring-plugins style)
    #[argh(option, short = 'H')]
    pub hostname: Option<String>,

    /// TCP port (default 993 with --security tls, else 143)
    #[argh(option, short = 'p')]
    pub port: Option<u16>,

    /// tls, starttls or none (default: tls on port 993, else starttls)
    #[argh(option)]
    pub security: Option<String>,

    /// implicit TLS, the same as --security tls (check_imap's -S)
    #[argh(switch, short = 'S')]
    pub ssl: bool,

    /// connect over IPv4 only
    #[argh(switch, short = '4')]
    pub ipv4: bool,

    /// connect over IPv6 only
    #[argh(switch, short = '6')]
    pub ipv6: bool,

    /// check every address the host name resolves to, in parallel, each
    /// within the one deadline; the verdict is the worst of them
    #[argh(switch)]
    pub all_addresses: bool,

    /// run the check this many times, one after another, then show each
    /// step's minimum, median and maximum (Ctrl-C stops early)
    #[argh(option)]
    pub repeat: Option<u32>,

    /// seconds between the runs of --repeat (default 1)
    #[argh(option)]
    pub interval: Option<f64>,

    /// one deadline in seconds for the whole check (DNS, connect, TLS, every
    /// read and write); fractions allowed; default 10
    #[argh(option, short = 't')]
    pub timeout: Option<f64>,

    /// the name for SNI and certificate verification, when the host given is
    /// an address or another name (default: the host)
    #[argh(option)]
    pub sni: Option<String>,

    /// also trust the CA certificates in this PEM file
    #[argh(option)]
    pub ca_file: Option<PathBuf>,

    /// do not verify the certificate or host name (result at best WARNING)
    #[argh(switch)]
    pub insecure: bool,

    /// TLS version floor: <warn>[,<crit>], each 1.2 or 1.3: WARNING when
    /// the server negotiates below <warn>, CRITICAL below <crit> (default:
    /// the version is reported, not judged)
    #[argh(option)]
    pub min_tls: Option<String>,

    /// WARNING when the certificate expires within this many days (default 14)
    #[argh(option)]
    pub cert_warn_days: Option<u32>,

    /// CRITICAL when the certificate expires within this many days (default
    /// off: an expired certificate already fails verification)
    #[argh(option)]
    pub cert_crit_days: Option<u32>,

    /// certificate days: <warn>[,<crit>], as --cert-warn-days and
    /// --cert-crit-days (check_imap's -D)
    #[argh(option, short = 'D')]
    pub certificate: Option<String>,

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

    /// OAuth 2.0 token endpoint (https:// only): imapcheck fetches the
    /// access token itself in the token step; --auth then defaults to
    /// xoauth2
    #[argh(option)]
    pub oauth_token_url: Option<String>,

    /// the OAuth client (application) ID, with --oauth-token-url
    #[argh(option)]
    pub oauth_client_id: Option<String>,

    /// read the OAuth client secret from the first line of this file
    /// (else from IMAPCHECK_OAUTH_CLIENT_SECRET)
    #[argh(option)]
    pub oauth_client_secret_file: Option<PathBuf>,

    /// use the refresh-token grant with the token in this file's first
    /// line; a rotated token replaces the file
    #[argh(option)]
    pub oauth_refresh_token_file: Option<PathBuf>,

    /// the scope to ask for (Exchange Online app-only:
    /// https://outlook.office365.com/.default)
    #[argh(option)]
    pub oauth_scope: Option<String>,

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

    /// thresholds on the folder's message count, <warn>[,<crit>], each a
    /// range: 10 (above 10), 10: (below 10), ~:10, 10:20 (outside), @10:20
    /// (inside)
    #[argh(option)]
    pub messages: Option<String>,

    /// WARNING (and CRITICAL) when the fetched message's INTERNALDATE is
    /// older than <warn>[,<crit>]: 90s, 30m, 2h, 1d or seconds
    #[argh(option)]
    pub max_age: Option<String>,

    /// IMAP SEARCH keys, as one argument (e.g. 'FROM backup@example.org
    /// SUBJECT "nightly report"'): only matching messages count; --messages
    /// judges the match count and the newest match is fetched
    #[argh(option)]
    pub search: Option<String>,

    /// only messages whose INTERNALDATE is within this duration count
    /// (90s, 30m, 2h, 1d or seconds); alone, it searches ALL
    #[argh(option)]
    pub search_within: Option<String>,

    /// do not fetch a message
    #[argh(switch)]
    pub no_fetch: bool,

    /// also fetch the whole message (BODY.PEEK[], streamed) and check its size
    #[argh(switch)]
    pub body: bool,

    /// send one command at a time after login, for a server that does not
    /// answer commands sent together in one write
    #[argh(switch)]
    pub no_pipelining: bool,
    /// turn the check into a round trip: send a test message by SMTP
    /// through <host>[:<port>] (default port 587, 465 with tls), wait for
    /// it in the folder, then remove exactly that message
    #[argh(option)]
    pub send_via: Option<String>,

    /// tls, starttls or none for --send-via (default: tls on port 465, else
    /// starttls)
    #[argh(option)]
    pub send_security: Option<String>,

    /// the SMTP login's user when not the IMAP user; its password comes
    /// from IMAPCHECK_SEND_PASSWORD or --send-password-file
    #[argh(option)]
    pub send_user: Option<String>,

    /// read the SMTP password of --send-user from the first line of this
    /// file
    #[argh(option)]
    pub send_password_file: Option<PathBuf>,

    /// the round trip's sender address (default: the IMAP user)
    #[argh(option)]
    pub send_from: Option<String>,

    /// the round trip's recipient address (default: the IMAP user)
    #[argh(option)]
    pub send_to: Option<String>,

    /// leave the round trip's message in the folder
    #[argh(switch)]
    pub keep: bool,

    /// WARNING (and CRITICAL) when the round trip's delivery delay is above
    /// <warn>[,<crit>] seconds (fractions allowed) or 30s, 2m
    #[argh(option)]
    pub arrival: Option<String>,

    /// output format: text (default), nagios, json or openmetrics
    #[argh(option)]
    pub format: Option<String>,

    /// write the result to this file instead of standard output, replacing
    /// it atomically (for node_exporter's textfile collector); - is stdout
    #[argh(option)]
    pub output: Option<PathBuf>,

    /// add the label name=value to every sample of --format openmetrics
    /// (repeatable), so that two checks of one server differ
    #[argh(option)]
    pub label: Vec<String>,

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
    #[argh(switch, short = 'V')]
    pub version: bool,
}
