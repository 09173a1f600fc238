//! The `-v` transcript: every line sent and received, IMAP and the token
//! request's HTTPS alike, on stderr and in the trace log, with secrets
//! already replaced by whoever writes the line (the session, the token
//! request). Every line is escaped here, whole (`report::terminal`): what
//! a server or an endpoint sent cannot reach the terminal raw, whether or
//! not the caller escaped it first. With a capture (`serve`'s
//! `debug=true`), the lines go to that probe's own buffer instead of
//! stderr (see `capture`).

mod capture;

use std::io::Write;

pub use capture::{Capture, CaptureId};

use crate::report::terminal;

/// Writes the `-v` transcript (stderr, or the check's capture) and the
/// same lines to the trace log. Lines sent after TLS is up are marked
/// `[tls]`.
#[derive(Debug, Clone, Copy)]
pub struct Transcript {
    pub enabled: bool,
    /// Where the lines go instead of stderr.
    pub capture: Option<CaptureId>,
}

impl Transcript {
    pub fn line(&self, tls: bool, who: &str, text: &str) {
        let text = terminal(text);
        let mark = if tls { "[tls] " } else { "" };
        log::trace!("{mark}{who} {text}");
        if self.enabled {
            self.write(format_args!("{mark}{who} {text}"));
        }
    }

    /// A transcript line to the capture, or stderr; a closed stderr must
    /// not panic the check (see main's out!).
    fn write(&self, line: std::fmt::Arguments<'_>) {
        match self.capture {
            Some(id) => capture::append(id, line),
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    /// A line of the token request's HTTPS exchange (`who`: `C:`, `S:`
    /// or `--` for a note), secrets already masked by the caller.
    pub fn https(&self, who: &str, text: &str) {
        let text = terminal(text);
        log::trace!("[https] {who} {text}");
        if self.enabled {
            self.write(format_args!("[https] {who} {text}"));
        }
    }

    /// A note from imapcheck itself (not protocol data).
    pub fn note(&self, text: &str) {
        let text = terminal(text);
        log::debug!("{text}");
        if self.enabled {
            self.write(format_args!("-- {text}"));
        }
    }
}

/// Sends the log (`RUST_LOG`, else `default_filter`) to stderr, every
/// message escaped like the rest of the output whoever logged it: a log
/// line quoting a server, an endpoint or an HTTP client cannot reach the
/// terminal raw either. The transcript lines it carries are already
/// redacted.
pub fn init_log(default_filter: &str) {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default_filter))
        .target(env_logger::Target::Stderr)
        .format(|buf, record| {
            let text = record.args().to_string();
            writeln!(
                buf,
                "[{} {} {}] {}",
                buf.timestamp(),
                record.level(),
                record.target(),
                terminal(&text)
            )
        })
        .init();
}
