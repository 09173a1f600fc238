//! `--search`: the user's SEARCH keys checked before connecting, against
//! the RFC 3501 / RFC 9051 grammar (section 6.4.4 and the `search-key`
//! rule), plus WITHIN's YOUNGER/OLDER (RFC 5032) and Gmail's X-GM-RAW.
//!
//! The keys are tokenized (atoms, quoted strings, parentheses), then read
//! key by key, each with the number and kind of arguments it takes, so a
//! typo is a usage error naming the word instead of a BAD from the server.
//! What comes out is the words to send: ASCII runs as they go on the wire,
//! each non-ASCII string on its own so the session sends it as a literal
//! (the search then carries `CHARSET UTF-8`).

use crate::session::Encoding;

use super::dates::{is_date, is_sequence_set};
use crate::session::encode_astring;

/// Longest `--search` accepted: SEARCH keys are a line a person writes; the
/// cap keeps a pasted file from becoming a command of megabytes.
pub const MAX_KEYS_LEN: usize = 4096;

/// Deepest nesting of parentheses, OR and NOT: the reader recurses.
const MAX_DEPTH: usize = 32;

/// An extension a key needs the server to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    /// RFC 5032 YOUNGER/OLDER.
    Within,
    /// Gmail's X-GM-RAW (capability X-GM-EXT-1).
    GmailRaw,
}

impl Extension {
    /// The capability that announces it.
    pub fn capability(self) -> &'static str {
        match self {
            Extension::Within => "WITHIN",
            Extension::GmailRaw => "X-GM-EXT-1",
        }
    }

    /// The key that needs it, for messages.
    pub fn key(self) -> &'static str {
        match self {
            Extension::Within => "YOUNGER/OLDER",
            Extension::GmailRaw => "X-GM-RAW",
        }
    }
}

/// One word of the search as sent: ASCII text as it goes on the wire, or a
/// string with 8-bit bytes, which the session sends as a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    Raw(String),
    Str(Vec<u8>),
}

impl Word {
    /// The word as a command argument.
    pub fn arg(&self) -> crate::session::Arg<'_> {
        match self {
            Word::Raw(s) => crate::session::Arg::Raw(s),
            Word::Str(b) => crate::session::Arg::Str(b),
        }
    }
}

/// Checked search keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchKeys {
    /// The keys as the user gave them, for display.
    pub text: String,
    pub words: Vec<Word>,
    /// A string holds non-ASCII: the search needs `CHARSET UTF-8`.
    pub utf8: bool,
    pub needs: Vec<Extension>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An atom as written (may hold UTF-8 when the user left a string
    /// unquoted).
    Atom(String),
    /// A quoted string, unescaped.
    Quoted(String),
    Open,
    Close,
}

/// What a key's argument must be.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Date,
    Number,
    NzNumber,
    SeqSet,
    Flag,
}

/// The keys with arguments, and theirs.
fn arguments(key: &str) -> Option<&'static [Kind]> {
    use Kind::*;
    Some(match key {
        "ALL" | "ANSWERED" | "DELETED" | "DRAFT" | "FLAGGED" | "NEW" | "OLD" | "RECENT"
        | "SEEN" | "UNANSWERED" | "UNDELETED" | "UNDRAFT" | "UNFLAGGED" | "UNSEEN" => &[],
        "BCC" | "BODY" | "CC" | "FROM" | "SUBJECT" | "TEXT" | "TO" | "X-GM-RAW" => &[Str],
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => &[Date],
        "LARGER" | "SMALLER" => &[Number],
        "YOUNGER" | "OLDER" => &[NzNumber],
        "KEYWORD" | "UNKEYWORD" => &[Flag],
        "HEADER" => &[Str, Str],
        "UID" => &[SeqSet],
        _ => return None,
    })
}

/// A usage error about `--search`.
fn bad(why: impl std::fmt::Display) -> String {
    format!("--search: {why}")
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    if let Some(c) = text.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(bad(format!(
            "{} is not allowed in search keys",
            c.escape_default()
        )));
    }
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(bad("a quoted string is not closed (a \" is missing)")),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => s.push(e),
                            _ => {
                                return Err(bad("in a quoted string, \\ may only escape \" or \\"));
                            }
                        },
                        Some(c) => s.push(c),
                    }
                }
                tokens.push(Token::Quoted(s));
            }
            '{' => {
                return Err(bad(
                    "literals ({n}) are not taken: quote the string, imapcheck sends it as a literal when it needs one",
                ));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if matches!(c, ' ' | '\t' | '(' | ')' | '"') {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                tokens.push(Token::Atom(s));
            }
        }
    }
    Ok(tokens)
}

/// Reads the tokens as search keys and builds the words to send.
struct Reader {
    tokens: Vec<Token>,
    pos: usize,
    /// The wire text built so far; flushed into `words` at each 8-bit
    /// string.
    line: String,
    words: Vec<Word>,
    utf8: bool,
    needs: Vec<Extension>,
}

/// Checks `text` as SEARCH keys.
pub fn parse(text: &str) -> Result<SearchKeys, String> {
    if text.len() > MAX_KEYS_LEN {
        return Err(bad(format!("longer than {MAX_KEYS_LEN} bytes")));
    }
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Err(bad("no search keys given (ALL matches every message)"));
    }
    let mut r = Reader {
        tokens,
        pos: 0,
        line: String::new(),
        words: Vec::new(),
        utf8: false,
        needs: Vec::new(),
    };
    while r.pos < r.tokens.len() {
        if r.tokens[r.pos] == Token::Close {
            return Err(bad("a ) without its ("));
        }
        r.key(0)?;
        // A key never ends on an 8-bit string at the top level, except
        // the last; the next key's text starts a new word.
    }
    r.flush();
    Ok(SearchKeys {
        text: text.to_string(),
        words: r.words,
        utf8: r.utf8,
        needs: r.needs,
    })
}

impl Reader {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// Appends wire text, with a space unless after "(" or at a start.
    fn push_text(&mut self, text: &str) {
        if !(self.line.is_empty() || self.line.ends_with('(') || text == ")") {
            self.line.push(' ');
        }
        self.line.push_str(text);
    }

    fn flush(&mut self) {
        if !self.line.is_empty() {
            self.words.push(Word::Raw(std::mem::take(&mut self.line)));
        }
    }

    /// The last word ends on an 8-bit string (sent as a literal, after
    /// which the session puts a space).
    fn ends_on_literal(&self) -> bool {
        self.line.is_empty() && matches!(self.words.last(), Some(Word::Str(_)))
    }

    fn key(&mut self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        let token = self
            .next()
            .ok_or_else(|| bad("a key is missing at the end"))?;
        let word = match token {
            Token::Open => {
                self.push_text("(");
                loop {
                    match self.tokens.get(self.pos) {
                        None => return Err(bad("a ( is not closed")),
                        Some(Token::Close) => break,
                        Some(_) => self.key(depth + 1)?,
                    }
                }
                self.pos += 1;
                if self.line.ends_with('(') {
                    return Err(bad("empty parentheses ()"));
                }
                // After a literal the session adds a space, and ")" may not
                // follow one: ALL (true for every message) closes the
                // group instead, which changes nothing.
                if self.ends_on_literal() {
                    self.push_text("ALL");
                }
                self.push_text(")");
                return Ok(());
            }
            Token::Close => return Err(bad("a ) without its (")),
            Token::Quoted(s) => {
                return Err(bad(format!(
                    "\"{}\" is a string where a search key belongs (is a key like SUBJECT missing before it?)",
                    s.escape_default()
                )));
            }
            Token::Atom(a) => a,
        };
        let upper = word.to_ascii_uppercase();
        if is_sequence_set(&word) {
            self.push_text(&word);
            return Ok(());
        }
        match upper.as_str() {
            "NOT" => {
                self.push_text("NOT");
                return self.key(depth + 1);
            }
            "OR" => {
                self.push_text("OR");
                self.key(depth + 1)?;
                return self.key(depth + 1);
            }
            _ => {}
        }
        let Some(kinds) = arguments(&upper) else {
            return Err(bad(format!(
                "unknown search key '{}' (RFC 9051 keys: FROM, TO, CC, BCC, SUBJECT, BODY, TEXT, HEADER, SINCE, BEFORE, ON, SENTSINCE, SENTBEFORE, SENTON, LARGER, SMALLER, SEEN, UNSEEN, FLAGGED, ANSWERED, DELETED, DRAFT, KEYWORD, UID, ALL, NOT, OR, (…); extensions YOUNGER, OLDER, X-GM-RAW)",
                word.escape_default()
            )));
        };
        match upper.as_str() {
            "YOUNGER" | "OLDER" => self.need(Extension::Within),
            "X-GM-RAW" => self.need(Extension::GmailRaw),
            _ => {}
        }
        self.push_text(&upper);
        for kind in kinds {
            self.argument(&upper, *kind)?;
        }
        Ok(())
    }

    fn need(&mut self, e: Extension) {
        if !self.needs.contains(&e) {
            self.needs.push(e);
        }
    }

    fn argument(&mut self, key: &str, kind: Kind) -> Result<(), String> {
        let missing = || {
            bad(format!(
                "{key} needs {}",
                match kind {
                    Kind::Str => "a string",
                    Kind::Date => "a date like 1-Feb-2024",
                    Kind::Number => "a number",
                    Kind::NzNumber => "a number of seconds, 1 or more",
                    Kind::SeqSet => "a sequence set like 1:5,7",
                    Kind::Flag => "a keyword (flag name)",
                }
            ))
        };
        let (text, quoted) = match self.next() {
            Some(Token::Atom(a)) => (a, false),
            Some(Token::Quoted(q)) => (q, true),
            _ => return Err(missing()),
        };
        let wrong = |what: &str| {
            bad(format!(
                "{key} needs {what}, not '{}'",
                text.escape_default()
            ))
        };
        match kind {
            Kind::Str => self.push_string(&text),
            Kind::Date => {
                if !is_date(&text) {
                    return Err(wrong("a date as d-Mon-yyyy, like 1-Feb-2024"));
                }
                self.push_text(&text);
            }
            Kind::Number | Kind::NzNumber => {
                let ok = !quoted
                    && text.bytes().all(|b| b.is_ascii_digit())
                    && text.parse::<u64>().is_ok_and(|n| {
                        !matches!(kind, Kind::NzNumber) || (1..=u64::from(u32::MAX)).contains(&n)
                    });
                if !ok {
                    return Err(wrong(if matches!(kind, Kind::NzNumber) {
                        "a number of seconds, 1 or more"
                    } else {
                        "a number"
                    }));
                }
                self.push_text(&text);
            }
            Kind::SeqSet => {
                if quoted || !is_sequence_set(&text) {
                    return Err(wrong("a sequence set like 1:5,7"));
                }
                self.push_text(&text);
            }
            Kind::Flag => {
                let atom = |b: u8| b > 0x20 && b < 0x7f && !b"(){%*\"\\]".contains(&b);
                if quoted || text.is_empty() || !text.bytes().all(atom) {
                    return Err(wrong("a keyword (an atom, like $Forwarded)"));
                }
                self.push_text(&text);
            }
        }
        Ok(())
    }

    /// A string argument: quoted or an atom inline, or a word of its own
    /// when it holds 8-bit bytes (a literal).
    fn push_string(&mut self, text: &str) {
        match encode_astring(text.as_bytes()) {
            Encoding::Atom => self.push_text(text),
            Encoding::Quoted(q) => self.push_text(&String::from_utf8_lossy(&q)),
            Encoding::Literal => {
                self.utf8 |= !text.is_ascii();
                self.flush_for_literal();
                self.words.push(Word::Str(text.as_bytes().to_vec()));
            }
        }
    }

    /// Ends the current wire text before a literal. A "(" cannot be
    /// followed by the session's space: it stays glued by opening the
    /// group with ALL, which changes nothing.
    fn flush_for_literal(&mut self) {
        if self.line.ends_with('(') {
            self.push_text("ALL");
        }
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Word {
        Word::Raw(s.into())
    }

    #[test]
    fn accepted_keys_and_their_wire_form() {
        let table: &[(&str, &[Word], bool)] = &[
            (
                "FROM backup@example.org",
                &[raw("FROM backup@example.org")],
                false,
            ),
            (
                "from backup@example.org subject \"nightly report\"",
                &[raw("FROM backup@example.org SUBJECT \"nightly report\"")],
                false,
            ),
            ("SINCE 1-Feb-2024", &[raw("SINCE 1-Feb-2024")], false),
            ("SINCE \"01-Feb-2024\"", &[raw("SINCE 01-Feb-2024")], false),
            ("OR FROM a FROM b", &[raw("OR FROM a FROM b")], false),
            ("NOT (SEEN FLAGGED)", &[raw("NOT (SEEN FLAGGED)")], false),
            ("( ( SEEN ) )", &[raw("((SEEN))")], false),
            ("HEADER X-Report yes", &[raw("HEADER X-Report yes")], false),
            (
                "LARGER 1000 SMALLER 2000",
                &[raw("LARGER 1000 SMALLER 2000")],
                false,
            ),
            ("UID 1:5,7:*", &[raw("UID 1:5,7:*")], false),
            ("1:3,9", &[raw("1:3,9")], false),
            ("KEYWORD $Forwarded", &[raw("KEYWORD $Forwarded")], false),
            (
                "SUBJECT \"a \\\"b\\\"\"",
                &[raw("SUBJECT \"a \\\"b\\\"\"")],
                false,
            ),
            ("SUBJECT NIL", &[raw("SUBJECT \"NIL\"")], false),
            (
                "SUBJECT Grüße FROM x",
                &[
                    raw("SUBJECT"),
                    Word::Str("Grüße".as_bytes().to_vec()),
                    raw("FROM x"),
                ],
                true,
            ),
            (
                "(SUBJECT \"Grüße\")",
                &[
                    raw("(SUBJECT"),
                    Word::Str("Grüße".as_bytes().to_vec()),
                    raw("ALL)"),
                ],
                true,
            ),
            (
                "OR (SUBJECT ä) FROM x",
                &[
                    raw("OR (SUBJECT"),
                    Word::Str("ä".as_bytes().to_vec()),
                    raw("ALL) FROM x"),
                ],
                true,
            ),
            ("YOUNGER 3600", &[raw("YOUNGER 3600")], false),
        ];
        for (text, words, utf8) in table {
            let k = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&k.words, words, "{text}");
            assert_eq!(k.utf8, *utf8, "{text}");
        }
        assert_eq!(
            parse("OLDER 5 X-GM-RAW \"in:inbox\"").map(|k| k.needs),
            Ok(vec![Extension::Within, Extension::GmailRaw])
        );
    }

    #[test]
    fn refused_keys_name_the_problem() {
        let table: &[(&str, &str)] = &[
            ("", "no search keys"),
            ("FORM backup", "unknown search key 'FORM'"),
            ("FROM", "FROM needs a string"),
            ("SUBJECT \"open", "not closed"),
            ("(SEEN", "( is not closed"),
            ("SEEN)", ") without its ("),
            ("()", "empty parentheses"),
            ("SINCE yesterday", "SINCE needs a date as d-Mon-yyyy"),
            ("SINCE 31-Feb-2024", "SINCE needs a date"),
            ("SINCE 1-Foo-2024", "SINCE needs a date"),
            ("SINCE 1-Feb-24", "SINCE needs a date"),
            ("LARGER big", "LARGER needs a number"),
            ("LARGER -1", "LARGER needs a number"),
            ("YOUNGER 0", "YOUNGER needs a number of seconds"),
            ("UID x", "UID needs a sequence set"),
            ("UID 0:3", "UID needs a sequence set"),
            ("KEYWORD \"a b\"", "KEYWORD needs a keyword"),
            ("HEADER X-Foo", "HEADER needs a string"),
            ("OR SEEN", "a key is missing"),
            ("NOT", "a key is missing"),
            ("\"text\"", "is a string where a search key belongs"),
            ("SUBJECT a\r\nX", "\\r is not allowed"),
            ("SUBJECT a\nX", "\\n is not allowed"),
            ("SUBJECT a\0", "\\u{0} is not allowed"),
            ("SUBJECT {3}", "literals"),
            ("SUBJECT \"a\\b\"", "may only escape"),
        ];
        for (text, want) in table {
            match parse(text) {
                Ok(k) => panic!("{text:?} accepted as {:?}", k.words),
                Err(e) => assert!(e.contains(want), "{text:?}: {e}"),
            }
        }
        let deep = format!("{}SEEN{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(&deep).is_err());
        assert!(parse(&"SEEN ".repeat(1000)).is_err());
    }
}
