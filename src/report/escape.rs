//! The one escaping rule for text that leaves for a terminal or a log:
//! whatever came from outside (a server, the token endpoint, a file) is
//! shown as received except for the characters a terminal would act on.
//!
//! - C0 controls, DEL and C1 controls (U+0080..U+009F, sent as UTF-8 or
//!   as a single byte) become `\xNN`; CR, LF and TAB become `\r`, `\n`
//!   and `\t`. A line break inside a field is therefore never a line.
//! - The line and paragraph separators (U+2028, U+2029) and the marks
//!   that reorder text (bidi embeddings, overrides and isolates
//!   U+202A..U+202E, U+2066..U+2069, and U+200E, U+200F, U+061C) become
//!   `\u{NNNN}`, as in the certificate subject.
//! - Bytes that are not UTF-8 become `\xNN`.
//!
//! A backslash is left as it is, so escaping is idempotent: text escaped
//! at its source (`escape_cut`) and escaped again by the writer (the text
//! renderer, the transcript, the log) reads the same. JSON and OpenMetrics
//! have their own escaping and do not use this.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a terminal could act on `c` (see the module comment).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

fn push_escaped(out: &mut String, c: char) {
    // Writing to a String cannot fail.
    let _ = match c {
        '\r' => out.write_str("\\r"),
        '\n' => out.write_str("\\n"),
        '\t' => out.write_str("\\t"),
        c if u32::from(c) <= 0xff => write!(out, "\\x{:02x}", u32::from(c)),
        c => write!(out, "\\u{{{:04x}}}", u32::from(c)),
    };
}

/// `s` with every unsafe character escaped, line breaks included:
/// what any writer for a terminal or a log puts out.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Escapes bytes for a terminal or a log by the rule above, cut after
/// `max` bytes with a note of how much was left out.
pub fn escape_cut(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut out = String::with_capacity(cut.len());
    for chunk in cut.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_unsafe(c) {
                push_escaped(&mut out, c);
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if bytes.len() > max {
        let _ = write!(out, "… ({} more bytes)", bytes.len() - max);
    }
    out
}

/// Text for a terminal built a line at a time: each line is escaped whole,
/// so the only line ends in the result are the ones `line` puts there.
/// The text renderer writes through this and cannot forget to escape.
#[derive(Default)]
pub struct Lines {
    text: String,
    /// A line was written (perhaps an empty one): the next needs a line end.
    started: bool,
}

impl Lines {
    pub fn new() -> Lines {
        Lines::default()
    }

    /// Appends one line (escaped) after those so far.
    pub fn line(&mut self, line: impl std::fmt::Display) -> &mut Lines {
        if self.started {
            self.text.push('\n');
        }
        self.started = true;
        let line = line.to_string();
        self.text.push_str(&terminal(&line));
        self
    }

    /// Appends an empty line.
    pub fn blank(&mut self) -> &mut Lines {
        self.line("")
    }

    pub fn finish(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_and_cut() {
        assert_eq!(escape_cut(b"a1 OK done", 100), "a1 OK done");
        assert_eq!(
            escape_cut(b"x\r\n\x1b[31m\xff", 100),
            "x\\r\\n\\x1b[31m\\xff"
        );
        assert_eq!(escape_cut("grüße".as_bytes(), 100), "grüße");
        assert_eq!(escape_cut(b"abcdef", 3), "abc… (3 more bytes)");
        assert_eq!(escape_cut("\u{9b}".as_bytes(), 10), "\\x9b");
        assert_eq!(escape_cut(b"\x7f\x07", 10), "\\x7f\\x07");
        assert_eq!(
            escape_cut("a\u{202e}b\u{2066}c\u{200f}\u{61c}\u{2028}".as_bytes(), 100),
            "a\\u{202e}b\\u{2066}c\\u{200f}\\u{061c}\\u{2028}"
        );
    }

    #[test]
    fn osc52_and_csi_are_inert() {
        let osc = "\x1b]52;c;ZXZpbA==\x07";
        assert_eq!(terminal(osc), "\\x1b]52;c;ZXZpbA==\\x07");
        assert_eq!(terminal("\u{9b}2J"), "\\x9b2J");
    }

    #[test]
    fn escaping_is_idempotent_and_borrows_safe_text() {
        for s in [
            "plain",
            "x\r\ny\x1b\u{9b}\u{202e}\\x1b",
            "a\\nb",
            "Entwürfe",
        ] {
            let once = terminal(s).into_owned();
            assert_eq!(terminal(&once), once, "{s:?}");
            assert!(!once.chars().any(is_unsafe), "{s:?}");
        }
        assert!(matches!(terminal("Entwürfe \\ ok"), Cow::Borrowed(_)));
        let bytes = b"\xff\x1b[2J\xc2\x9b";
        let cut = escape_cut(bytes, 100);
        assert_eq!(terminal(&cut), cut);
    }

    #[test]
    fn lines_escape_line_breaks_inside_a_line() {
        let mut l = Lines::new();
        l.line("INBOX\nIMAP OK - forged").line("second");
        l.blank();
        assert_eq!(l.finish(), "INBOX\\nIMAP OK - forged\nsecond\n");
        let mut l = Lines::new();
        l.line("").line("").blank().line("x");
        assert_eq!(l.finish(), "\n\n\nx");
    }
}
