//! The `-v` transcript: every line sent and received, IMAP and the token
//! request's HTTPS alike, on stderr and in the trace log, with secrets
//! already replaced by whoever writes the line (the session, the token
//! request). Every line is escaped here, whole (`report::terminal`): what
//! a server or an endpoint sent cannot reach the terminal raw, whether or
//! not the caller escaped it first.

use std::io::Write;

use crate::report::terminal;

/// Writes the `-v` transcript (stderr) and the same lines to the trace log.
/// Lines sent after TLS is up are marked `[tls]`.
#[derive(Debug, Clone, Copy)]
pub struct Transcript {
    pub enabled: bool,
}

impl Transcript {
    pub fn line(&self, tls: bool, who: &str, text: &str) {
        let text = terminal(text);
        let mark = if tls { "[tls] " } else { "" };
        log::trace!("{mark}{who} {text}");
        if self.enabled {
            // A closed stderr must not panic the check (see main's out!).
            let _ = writeln!(std::io::stderr(), "{mark}{who} {text}");
        }
    }

    /// A line of the token request's HTTPS exchange (`who`: `C:`, `S:`
    /// or `--` for a note), secrets already masked by the caller.
    pub fn https(&self, who: &str, text: &str) {
        let text = terminal(text);
        log::trace!("[https] {who} {text}");
        if self.enabled {
            let _ = writeln!(std::io::stderr(), "[https] {who} {text}");
        }
    }

    /// A note from imapcheck itself (not protocol data).
    pub fn note(&self, text: &str) {
        let text = terminal(text);
        log::debug!("{text}");
        if self.enabled {
            let _ = writeln!(std::io::stderr(), "-- {text}");
        }
    }
}
