//! How a command goes on the wire: each argument as an atom, a quoted
//! string or a literal, as its bytes need (RFC 3501 section 4.3), literals
//! non-synchronizing where LITERAL+/LITERAL- allow, and what the `-v`
//! transcript shows instead of secrets.

use crate::report::escape_cut;

use super::{Session, TRANSCRIPT_CUT};

/// LITERAL- (RFC 7888) allows non-synchronizing literals up to this size.
const LITERAL_MINUS_MAX: usize = 4096;

/// A command argument and how it is to be sent.
#[derive(Clone, Copy)]
pub enum Arg<'a> {
    /// Sent verbatim (keywords, sequence numbers, fetch item lists).
    Raw(&'a str),
    /// An astring: atom, quoted string or literal, as its bytes need.
    Str(&'a [u8]),
    /// Like `Str`, but shown as `***` in the transcript and never logged.
    Secret(&'a [u8]),
}

/// How an astring goes on the wire.
#[derive(Debug, PartialEq, Eq)]
pub enum Encoding {
    Atom,
    Quoted(Vec<u8>),
    Literal,
}

/// Chooses the encoding for an astring (RFC 3501 section 4.3, 9).
///
/// CR, LF, NUL and 8-bit bytes cannot be quoted: they go as a literal.
/// Atoms are used only for plain ATOM-CHARs, and never for "NIL", which a
/// server could read as the NIL token.
pub fn encode_astring(bytes: &[u8]) -> Encoding {
    if bytes
        .iter()
        .any(|&b| b == 0 || b == b'\r' || b == b'\n' || b >= 0x80)
    {
        return Encoding::Literal;
    }
    let atom_char = |b: u8| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b);
    if !bytes.is_empty()
        && bytes.iter().all(|&b| atom_char(b))
        && !bytes.eq_ignore_ascii_case(b"NIL")
    {
        return Encoding::Atom;
    }
    let mut q = Vec::with_capacity(bytes.len() + 2);
    q.push(b'"');
    for &b in bytes {
        if b == b'"' || b == b'\\' {
            q.push(b'\\');
        }
        q.push(b);
    }
    q.push(b'"');
    Encoding::Quoted(q)
}

impl Session {
    /// Appends one argument to a command being built. Atoms, quoted strings
    /// and non-synchronizing literals go in whole (`None`); for a
    /// synchronizing literal (`sync_ok` and neither LITERAL+ nor a small
    /// enough LITERAL- literal) only its `{n}` header goes in, and the
    /// payload comes back to be sent after the server's `+`.
    pub(super) fn push_arg<'b>(
        &self,
        arg: &Arg<'b>,
        sync_ok: bool,
        wire: &mut Vec<u8>,
        shown: &mut String,
    ) -> Option<(&'b [u8], bool)> {
        let (bytes, secret) = match *arg {
            Arg::Raw(s) => {
                wire.extend_from_slice(s.as_bytes());
                shown.push_str(s);
                return None;
            }
            Arg::Str(b) => (b, false),
            Arg::Secret(b) => (b, true),
        };
        match encode_astring(bytes) {
            Encoding::Atom => {
                wire.extend_from_slice(bytes);
                shown.push_str(&show_arg(bytes, secret));
                None
            }
            Encoding::Quoted(q) => {
                wire.extend_from_slice(&q);
                shown.push_str(&show_arg(&q, secret));
                None
            }
            Encoding::Literal => {
                let non_sync = !sync_ok
                    || self.literal_plus
                    || (self.literal_minus && bytes.len() <= LITERAL_MINUS_MAX);
                let plus = if non_sync { "+" } else { "" };
                let len = if secret {
                    "***".to_string()
                } else {
                    bytes.len().to_string()
                };
                wire.extend_from_slice(format!("{{{}{plus}}}\r\n", bytes.len()).as_bytes());
                shown.push_str(&format!("{{{len}{plus}}}\r\n"));
                if !non_sync {
                    return Some((bytes, secret));
                }
                wire.extend_from_slice(bytes);
                shown.push_str(&show_arg(bytes, secret));
                None
            }
        }
    }

    /// Whether `args` can be sent without waiting for a `+` continuation.
    pub(super) fn needs_no_continuation(&self, args: &[Arg]) -> bool {
        args.iter().all(|arg| match *arg {
            Arg::Raw(_) => true,
            Arg::Str(b) | Arg::Secret(b) => {
                encode_astring(b) != Encoding::Literal
                    || self.literal_plus
                    || (self.literal_minus && b.len() <= LITERAL_MINUS_MAX)
            }
        })
    }

    /// One command line with no synchronizing literal, CRLF included
    /// (callers check `needs_no_continuation` first).
    pub(super) fn encode_inline(&self, tag: &str, args: &[Arg]) -> (Vec<u8>, String) {
        let mut wire = tag.as_bytes().to_vec();
        let mut shown = tag.to_string();
        for arg in args {
            wire.push(b' ');
            shown.push(' ');
            let _ = self.push_arg(arg, false, &mut wire, &mut shown);
        }
        wire.extend_from_slice(b"\r\n");
        shown.push_str("\r\n");
        (wire, shown)
    }
}

/// An argument as the transcript shows it: secrets as `***`.
pub(super) fn show_arg(bytes: &[u8], secret: bool) -> String {
    if secret {
        "***".to_string()
    } else {
        escape_cut(bytes, TRANSCRIPT_CUT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn astring_encodings() {
        assert_eq!(encode_astring(b"alice"), Encoding::Atom);
        assert_eq!(encode_astring(b"INBOX.Sent-2024_x@y"), Encoding::Atom);
        assert_eq!(encode_astring(b""), Encoding::Quoted(b"\"\"".to_vec()));
        assert_eq!(
            encode_astring(b"NIL"),
            Encoding::Quoted(b"\"NIL\"".to_vec())
        );
        assert_eq!(
            encode_astring(b"nil"),
            Encoding::Quoted(b"\"nil\"".to_vec())
        );
        assert_eq!(
            encode_astring(b"Deleted Items"),
            Encoding::Quoted(b"\"Deleted Items\"".to_vec())
        );
        assert_eq!(
            encode_astring(br#"s3cret "quoted" \back"#),
            Encoding::Quoted(br#""s3cret \"quoted\" \\back""#.to_vec())
        );
        for special in ["a(b", "a)b", "a{b", "a%b", "a*b", "a]b", "a\tb"] {
            assert!(
                matches!(encode_astring(special.as_bytes()), Encoding::Quoted(_)),
                "{special}"
            );
        }
        for literal in [
            &b"a\rb"[..],
            b"a\nb",
            b"a\0b",
            "pässwörd".as_bytes(),
            b"\xff",
        ] {
            assert_eq!(encode_astring(literal), Encoding::Literal, "{literal:?}");
        }
    }
}
