//! imapcheck: the Exchange KB Q189326 IMAP check (greeting, LOGIN, LIST,
//! SELECT/EXAMINE, FETCH, LOGOUT) in one command, over cleartext, STARTTLS
//! or implicit TLS, with step-by-step results for people, Nagios and JSON.
//!
//! This file is the process around the library: flags, the password, the
//! output streams and the exit status.

use std::io::{IsTerminal, Write};

use argh::FromArgs;

use imapcheck::cli::{self, Config, Format, Security};
use imapcheck::report::{self, Failure, Report, StepStatus};
use imapcheck::{check, transport};

/// Writes a line to stdout. A closed pipe (`imapcheck ... | head -2`) must
/// not panic mid-session: the check still finishes and logs out, and only
/// the output that nobody reads is lost.
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
    let lazy_ca = unsafe { transport::prefer_lazy_ca_lookup() };

    // Logs go to stderr and are off unless RUST_LOG asks; the transcript
    // lines they carry are already redacted.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off"))
        .target(env_logger::Target::Stderr)
        .init();
    if lazy_ca {
        log::debug!("system CAs are looked up on demand in the hashed CA directory");
    }

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
            "imapcheck {}\nTLS: {}\ntrusted CAs: {}",
            env!("CARGO_PKG_VERSION"),
            tls_library(),
            if store.is_empty() {
                "none found on this host (use --ca-file)".to_string()
            } else {
                store.join(", ")
            }
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

    let password = match &cfg.user {
        Some(_) => match cli::read_password(&cfg.password_source, env_password) {
            Ok(p) => Some(p),
            Err(msg) => {
                return finish_unknown(
                    &cfg,
                    check::Step::Login,
                    msg,
                    "set IMAPCHECK_PASSWORD, or use --password-file or --password-stdin",
                );
            }
        },
        None => None,
    };
    let extra_roots = match &cfg.ca_file {
        Some(path) => match transport::load_ca_file(path) {
            Ok(c) => c,
            Err(msg) => {
                return finish_unknown(
                    &cfg,
                    check::tls_step(cfg.security),
                    msg,
                    "--ca-file takes a PEM file with one or more CA certificates",
                );
            }
        },
        None => Vec::new(),
    };
    let tls_settings = transport::TlsSettings {
        extra_roots,
        insecure: cfg.insecure,
    };

    if cfg.format == Format::Text {
        out!(
            "imapcheck {}: {} port {} ({}), deadline {} s",
            env!("CARGO_PKG_VERSION"),
            report::display_host(&cfg.host),
            cfg.port,
            match cfg.security {
                Security::Tls => "implicit TLS",
                Security::Starttls => "STARTTLS required",
                Security::None => "cleartext, no TLS",
            },
            cfg.timeout.as_secs_f64()
        );
    }
    let format = cfg.format;
    let mut on_event = |event: check::Event| {
        if format != Format::Text {
            return;
        }
        match event {
            check::Event::Step(step) => out!("{}", report::text_step(step)),
            check::Event::Alert(text) => {
                out!("{:<11} {:<8} {:>10}  {text}", "ALERT", "server", "")
            }
        }
        let _ = std::io::stdout().flush();
    };
    let report = check::Check::new(&cfg, password, tls_settings, &mut on_event).run();
    print_final(&cfg, &report);
    report.verdict().exit_code()
}

fn print_final(cfg: &Config, report: &Report) {
    match cfg.format {
        Format::Text => out!("{}", report::text_summary(report)),
        Format::Nagios => out!("{}", report::nagios(report)),
        Format::Json => out!("{}", report::json(report)),
    }
}

/// A run that cannot start (no password, unreadable file): UNKNOWN, and in
/// every format the usual output so scripts always get their one object.
fn finish_unknown(cfg: &Config, step: check::Step, message: String, hint: &str) -> i32 {
    let step = step.as_str();
    let mut report = check::empty_report(cfg);
    report.unknown = true;
    report.timeout_secs = cfg.timeout.as_secs_f64();
    let failure = Failure {
        message,
        expected: String::new(),
        got: None,
        hint: hint.to_string(),
    };
    if cfg.format == Format::Text {
        err!("imapcheck: {}\nhint: {}", failure.message, failure.hint);
    }
    if let Some(s) = report.steps.iter_mut().find(|s| s.name == step) {
        s.status = StepStatus::Skipped;
        s.detail = failure.message.clone();
    }
    report.error = Some((step, failure));
    print_final(cfg, &report);
    report.verdict().exit_code()
}

/// Which TLS library this binary uses, and its version.
fn tls_library() -> String {
    unsafe extern "C" {
        // OpenSSL >= 1.1.0; native-tls links libssl/libcrypto on Linux.
        fn OpenSSL_version(kind: std::ffi::c_int) -> *const std::ffi::c_char;
    }
    // SAFETY: OpenSSL_version(OPENSSL_VERSION = 0) returns a pointer to a
    // static NUL-terminated string owned by the library.
    let version = unsafe {
        let p = OpenSSL_version(0);
        if p.is_null() {
            String::from("OpenSSL (unknown version)")
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    if cfg!(feature = "vendored") {
        format!("{version}, vendored (statically linked into this binary)")
    } else {
        format!("{version}, the system's library")
    }
}
