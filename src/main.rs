//! imapcheck: the Exchange KB Q189326 IMAP check (greeting, LOGIN, LIST,
//! SELECT/EXAMINE, FETCH, LOGOUT) in one command, over cleartext, STARTTLS
//! or implicit TLS, with step-by-step results for people, Nagios and JSON.
//!
//! This file is the process around the library: flags, the password and
//! the exit status. The runner does the rest.

use std::io::{IsTerminal, Write};

use argh::FromArgs;

use imapcheck::check::Step;
use imapcheck::runner::Runner;
use imapcheck::transport;
use imapcheck::{cli, credentials, oauth, password};

/// Writes a line to stdout, ignoring a closed pipe (see `output::Output`).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Writes a line to stderr, ignoring a closed stream like `out!`.
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

fn main() {
    let code = run();
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

fn run() -> i32 {
    // SAFETY: first thing in the process; no other thread exists yet.
    let trust = unsafe { transport::adopt_trust_plan() };
    // `imapcheck serve …` is the exporter (a host named serve is `-H serve`).
    if std::env::args_os().nth(1).is_some_and(|a| a == "serve") {
        return serve_main();
    }

    // Logs go to stderr and are off unless RUST_LOG asks.
    imapcheck::transcript::init_log("off");
    log::debug!("system CAs: {}", trust.plan.describe());

    let mut raw_args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => raw_args.push(s),
            Err(a) => {
                err!("imapcheck: argument {:?} is not valid UTF-8", a);
                return 3;
            }
        }
    }
    // getopt's forms (--port=993, -p993, '-p 993', -4v, an empty '$ARG1$').
    let raw_args = cli::getopt::normalize(raw_args);
    let arg_refs: Vec<&str> = raw_args.iter().map(String::as_str).collect();
    let args = match cli::Args::from_args(&["imapcheck"], &arg_refs) {
        Ok(a) => a,
        Err(exit) => {
            // argh's own exit status for bad flags is 1, which monitoring
            // would read as WARNING: a usage error is UNKNOWN (3).
            return if exit.status.is_ok() {
                out!("{}", exit.output);
                0
            } else {
                err!("{}\nRun imapcheck --help for usage.", exit.output);
                3
            };
        }
    };
    if args.version {
        let store = transport::trust_store_sources();
        out!(
            "imapcheck {}\ntarget: {}\nTLS: {}\ntrusted CAs: {}; {}",
            env!("CARGO_PKG_VERSION"),
            env!("IMAPCHECK_TARGET"),
            tls_library(),
            if store.is_empty() {
                "none found on this host (use --ca-file)".to_string()
            } else {
                store.join(", ")
            },
            trust.plan.describe()
        );
        return 0;
    }
    let env_password = std::env::var_os("IMAPCHECK_PASSWORD");
    let cfg = match cli::configure(args, env_password.is_some(), std::io::stdin().is_terminal()) {
        Ok(c) => c,
        Err(msg) => {
            err!("imapcheck: {msg}\nRun imapcheck --help for usage.");
            return 3;
        }
    };

    let runner = Runner::new(&cfg);
    let mut credentials = credentials::Credentials::default();
    if let Some(oauth_cfg) = &cfg.oauth {
        match oauth::read_secrets(oauth_cfg, std::env::var_os(oauth::CLIENT_SECRET_ENV)) {
            Ok(s) => credentials.oauth = Some(s),
            Err(msg) => {
                let hint = "the token request needs its secrets before the check starts";
                return runner.cannot_start(Step::Token, msg, hint).exit_code();
            }
        }
    } else if cfg.user.is_some() {
        let max_line = cfg.auth.secret_line_limit();
        match password::read_password(&cfg.password_source, env_password, max_line) {
            Ok(p) => credentials.password = Some(p),
            Err(msg) => {
                let hint = "set IMAPCHECK_PASSWORD, or use --password-file or --password-stdin";
                return runner.cannot_start(Step::Login, msg, hint).exit_code();
            }
        }
    }
    runner.run(credentials).exit_code()
}

/// `imapcheck serve`, with its arguments after the word.
fn serve_main() -> i32 {
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(2)
        .map(|a| a.into_string())
        .collect();
    match args {
        Ok(args) => {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            imapcheck::serve::main(&refs)
        }
        Err(a) => {
            err!("imapcheck serve: argument {:?} is not valid UTF-8", a);
            3
        }
    }
}

/// Which TLS library this binary uses, and its version.
fn tls_library() -> String {
    // A static string; asking for it does not initialise OpenSSL.
    let version = openssl::version::version();
    if cfg!(feature = "vendored") {
        format!("{version}, vendored (statically linked into this binary)")
    } else {
        format!("{version}, the system's library")
    }
}
