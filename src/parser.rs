//! The IMAP response parser: plain functions over byte slices.
//!
//! Two layers, both pure and allocation-bounded:
//! - [`frame`] finds where one server response ends in a buffer (a line, plus
//!   any `{n}` literals and the line segments after them). It answers
//!   "complete", "need more line" or "need literal bytes", so the caller can
//!   read more, refuse an oversized literal, or stream a message body.
//! - [`parse_response`] turns one complete, framed response into a
//!   [`Response`] (RFC 3501 / RFC 9051 section 7 and 9).
//!
//! The grammar is applied leniently where real servers differ harmlessly
//! (bare LF line ends, a missing space before text, lower-case keywords) and
//! strictly where a mistake would mislead the check (tags, numbers, literal
//! lengths, nesting).
//!
//! Liberal in content, strict in framing: once [`frame`] has delimited a
//! response, an untagged response or a response code whose content does not
//! follow the grammar is still returned, as [`Untagged::Unparsed`] or
//! [`Code::Unparsed`], with the reason. Real servers send such lines
//! (Courier's `* QUOTA "ROOT"` without resources, `[UNSEEN none]`), and they
//! say nothing about the connection's health. Only a tagged line, a broken
//! frame and the nesting limit are errors.

use std::fmt;

/// Longest line segment we accept. RFC 7162 asks clients to accept at least
/// 8 KiB lines; 64 KiB leaves room for huge CAPABILITY or FLAGS lines while
/// keeping a server that never sends CRLF from growing our buffer.
pub const MAX_LINE: usize = 64 * 1024;

/// Largest literal held in memory. Nothing we request outside a `--body`
/// fetch (folder names, envelope fields, greeting text) is anywhere near
/// this; a larger one is a broken or hostile server. Body literals are
/// streamed by the session instead of being held.
pub const MAX_LITERAL: u64 = 1024 * 1024;

/// Largest whole response (all segments and held literals). Bounds a
/// response made of many literals that are each under `MAX_LITERAL`.
pub const MAX_RESPONSE: usize = 4 * 1024 * 1024;

/// Deepest parenthesis nesting. ENVELOPE needs 3 levels, BODYSTRUCTURE of
/// deeply nested multiparts rarely more than 10; the parser recurses, so a
/// server sending "((((((..." must hit this long before the stack ends.
pub const MAX_NESTING: usize = 64;

/// What [`frame`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// One complete response occupies `buf[..len]`.
    Complete(usize),
    /// A line segment is not finished yet: read more.
    NeedLine,
    /// A literal of `len` bytes starts at `buf[start..]` and is not all there.
    NeedLiteral { start: usize, len: u64 },
}

/// Why a response could not be framed or parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    LineTooLong,
    ResponseTooLarge,
    /// More than [`MAX_NESTING`] levels of parentheses: a limit, not a
    /// quirk, since the parser recurses.
    TooDeep {
        at: usize,
    },
    /// The response does not follow the grammar; `at` is a byte offset.
    Syntax {
        at: usize,
        what: &'static str,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LineTooLong => {
                write!(f, "a line longer than {MAX_LINE} bytes without CRLF")
            }
            ParseError::ResponseTooLarge => {
                write!(f, "a response larger than {MAX_RESPONSE} bytes")
            }
            ParseError::TooDeep { at } => write!(f, "lists nested too deeply at byte {at}"),
            ParseError::Syntax { at, what } => write!(f, "{what} at byte {at}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Finds the end of the response that starts at `buf[0]`.
///
/// Literal payloads are skipped by their announced length, so the cost is
/// proportional to the number of line segments, not to the literal bytes.
pub fn frame(buf: &[u8]) -> Result<Frame, ParseError> {
    let mut pos = 0usize;
    loop {
        let rest = buf.get(pos..).unwrap_or_default();
        let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > MAX_LINE {
                return Err(ParseError::LineTooLong);
            }
            return Ok(Frame::NeedLine);
        };
        if lf > MAX_LINE {
            return Err(ParseError::LineTooLong);
        }
        let line = strip_cr(&rest[..lf]);
        let next = pos + lf + 1;
        if next > MAX_RESPONSE {
            return Err(ParseError::ResponseTooLarge);
        }
        match literal_suffix(line) {
            None => return Ok(Frame::Complete(next)),
            Some(len) => {
                let have = (buf.len() - next) as u64;
                if have < len {
                    return Ok(Frame::NeedLiteral { start: next, len });
                }
                // `len <= have <= buf.len()`, so this fits in usize.
                pos = next + len as usize;
            }
        }
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// If a line ends in `{n}` or `{n+}`, the literal length `n`.
///
/// A length that does not fit in u64 is treated as "no literal": the line
/// then fails to parse with a clear syntax error instead of being trusted.
pub fn literal_suffix(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    parse_u64(digits)
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// Status of a tagged or untagged condition response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Preauth,
    Bye,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Preauth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// A response code, the `[...]` after a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    Capability(Vec<String>),
    PermanentFlags(Vec<String>),
    ReadOnly,
    ReadWrite,
    UidValidity(u32),
    UidNext(u32),
    Unseen(u32),
    /// Any other code: its name upper-cased and its raw argument bytes.
    Other {
        name: String,
        data: Vec<u8>,
    },
    /// A known code whose argument does not follow the grammar
    /// (`[UNSEEN none]`): ignored by the check, kept to be reported.
    Unparsed {
        name: String,
        data: Vec<u8>,
        why: ParseError,
    },
}

/// A generic data item (RFC 3501 "body" of FETCH, ENVELOPE fields, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Nil,
    Number(u64),
    Atom(Vec<u8>),
    /// A quoted string (unescaped) or a literal's bytes.
    String(Vec<u8>),
    List(Vec<Value>),
}

impl Value {
    /// The bytes of a string or atom; `None` for NIL, numbers and lists.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(b) | Value::Atom(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<u64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// An untagged (`* ...`) response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Untagged {
    /// `* OK/NO/BAD/PREAUTH/BYE [code] text`
    Condition {
        status: Status,
        code: Option<Code>,
        text: Vec<u8>,
    },
    Capability(Vec<String>),
    List {
        attributes: Vec<String>,
        delimiter: Option<u8>,
        name: Vec<u8>,
    },
    Flags(Vec<String>),
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    Fetch {
        seq: u32,
        items: Vec<(String, Value)>,
    },
    /// RFC 2971 `* ID ("name" "Dovecot" ...)` or `* ID NIL`: the pairs.
    Id(IdFields),
    /// RFC 9208 `* QUOTAROOT mailbox root...`
    QuotaRoot {
        mailbox: Vec<u8>,
        roots: Vec<Vec<u8>>,
    },
    /// RFC 9208 `* QUOTA root (resource usage limit ...)`
    Quota {
        root: Vec<u8>,
        resources: Vec<QuotaResource>,
    },
    /// Understood as well-formed but not needed by the check (SEARCH,
    /// STATUS, NAMESPACE, ...): the keyword, upper-cased.
    Other {
        keyword: String,
    },
    /// A complete untagged response whose content does not follow the
    /// grammar: the keyword (upper-cased, cut short) and why. A server
    /// quirk to report, not a reason to stop.
    Unparsed {
        keyword: String,
        why: ParseError,
    },
}

/// RFC 2971 ID fields: name and value (NIL values are `None`).
pub type IdFields = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// One resource of a QUOTA response (STORAGE is in KiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaResource {
    pub name: String,
    pub usage: u64,
    pub limit: u64,
}

/// One complete server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Continuation(Vec<u8>),
    Tagged {
        tag: Vec<u8>,
        status: Status,
        code: Option<Code>,
        text: Vec<u8>,
    },
    Untagged(Untagged),
}

impl Response {
    /// Why a part of this response was not understood, if one was (an
    /// [`Untagged::Unparsed`] response or a [`Code::Unparsed`] code).
    pub fn not_understood(&self) -> Option<String> {
        match self {
            Response::Untagged(Untagged::Unparsed { keyword, why }) => {
                Some(format!("{keyword} response not understood: {why}"))
            }
            Response::Untagged(Untagged::Condition {
                code: Some(Code::Unparsed { name, why, .. }),
                ..
            })
            | Response::Tagged {
                code: Some(Code::Unparsed { name, why, .. }),
                ..
            } => Some(format!("[{name}] response code not understood: {why}")),
            _ => None,
        }
    }
}

/// Parses one framed response (as delimited by [`frame`]).
pub fn parse_response(buf: &[u8]) -> Result<Response, ParseError> {
    let mut c = Cursor { buf, pos: 0 };
    let resp = match c.peek() {
        Some(b'+') => {
            c.pos += 1;
            c.skip_space();
            Response::Continuation(c.rest_of_line().to_vec())
        }
        Some(b'*') => {
            c.pos += 1;
            match c.expect_space().and_then(|()| c.untagged()) {
                Ok(u) => Response::Untagged(u),
                Err(why @ ParseError::Syntax { .. }) => Response::Untagged(Untagged::Unparsed {
                    keyword: untagged_keyword(buf),
                    why,
                }),
                Err(e) => return Err(e),
            }
        }
        Some(_) => {
            let tag = c.tag()?;
            c.expect_space()?;
            let (status, code, text) = c.condition()?;
            Response::Tagged {
                tag,
                status,
                code,
                text,
            }
        }
        None => return Err(c.err("an empty response")),
    };
    Ok(resp)
}

/// Longest keyword kept for an unparsed untagged response.
const KEYWORD_CUT: usize = 32;

/// The keyword of an untagged response (`* 3 FETCH ...` → `FETCH`), for
/// reporting one that did not parse.
fn untagged_keyword(buf: &[u8]) -> String {
    let rest = buf.strip_prefix(b"*").unwrap_or(buf);
    let rest = rest.trim_ascii_start();
    let rest = match rest.iter().position(|b| !b.is_ascii_digit()) {
        Some(0) | None => rest,
        Some(i) => rest[i..].trim_ascii_start(),
    };
    let end = rest
        .iter()
        .position(|&b| b <= b' ' || b >= 0x7f || b"()[]\"{".contains(&b))
        .unwrap_or(rest.len())
        .min(KEYWORD_CUT);
    String::from_utf8_lossy(&rest[..end]).to_ascii_uppercase()
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError::Syntax { at: self.pos, what }
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn at_eol(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    fn skip_space(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn expect_space(&mut self) -> Result<(), ParseError> {
        if self.peek() != Some(b' ') {
            return Err(self.err("expected a space"));
        }
        self.skip_space();
        Ok(())
    }

    /// The text up to the end of the current line, without CR/LF.
    fn rest_of_line(&mut self) -> &'a [u8] {
        let start = self.pos;
        while !self.at_eol() {
            self.pos += 1;
        }
        let text = &self.buf[start..self.pos];
        self.skip_eol();
        text
    }

    fn skip_eol(&mut self) {
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        if self.peek() == Some(b'\n') {
            self.pos += 1;
        }
    }

    fn tag(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 0x7f || b"(){%*\"\\+".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a tag, '*' or '+'"));
        }
        Ok(self.buf[start..self.pos].to_vec())
    }

    /// An atom-like word: bytes up to a space, parenthesis, bracket or EOL.
    fn word(&mut self) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7f || b"()[]\"{".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    fn number(&mut self) -> Result<u32, ParseError> {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        parse_u64(&self.buf[start..self.pos])
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(ParseError::Syntax {
                at: start,
                what: "expected a number (0 to 4294967295)",
            })
    }

    fn status_word(word: &[u8]) -> Option<Status> {
        let upper = word.to_ascii_uppercase();
        match upper.as_slice() {
            b"OK" => Some(Status::Ok),
            b"NO" => Some(Status::No),
            b"BAD" => Some(Status::Bad),
            b"PREAUTH" => Some(Status::Preauth),
            b"BYE" => Some(Status::Bye),
            _ => None,
        }
    }

    /// `status [SP "[" code "]"] [SP text]`
    fn condition(&mut self) -> Result<(Status, Option<Code>, Vec<u8>), ParseError> {
        let word = self.word();
        let status =
            Self::status_word(word).ok_or(self.err("expected OK, NO, BAD, PREAUTH or BYE"))?;
        self.resp_text().map(|(code, text)| (status, code, text))
    }

    fn resp_text(&mut self) -> Result<(Option<Code>, Vec<u8>), ParseError> {
        self.skip_space();
        let code = if self.peek() == Some(b'[') {
            self.pos += 1;
            let start = self.pos;
            match self.code() {
                Ok(code) => Some(code),
                Err(why @ ParseError::Syntax { .. }) => {
                    self.pos = start;
                    Some(self.unparsed_code(why))
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        self.skip_space();
        Ok((code, self.rest_of_line().to_vec()))
    }

    /// A code that did not parse, kept raw up to its closing bracket (or
    /// the end of the line when there is none).
    fn unparsed_code(&mut self, why: ParseError) -> Code {
        let name = String::from_utf8_lossy(self.word()).to_ascii_uppercase();
        self.skip_space();
        let start = self.pos;
        let end = self.code_data_end();
        let data = self.buf[start..end].to_vec();
        self.pos = end;
        if self.peek() == Some(b']') {
            self.pos += 1;
        }
        Code::Unparsed { name, data, why }
    }

    /// Where a code's argument ends: at the first `]` outside a quoted
    /// string (quoted strings may contain `]`), or at the end of the line.
    fn code_data_end(&self) -> usize {
        let mut pos = self.pos;
        let mut in_quote = false;
        while let Some(&b) = self.buf.get(pos) {
            match b {
                b'\r' | b'\n' => break,
                b'\\' if in_quote => pos += 1,
                b'"' => in_quote = !in_quote,
                b']' if !in_quote => break,
                _ => {}
            }
            pos += 1;
        }
        pos.min(self.buf.len())
    }

    fn code(&mut self) -> Result<Code, ParseError> {
        let name = String::from_utf8_lossy(self.word()).to_ascii_uppercase();
        if name.is_empty() {
            return Err(self.err("expected a response code name after '['"));
        }
        let code = match name.as_str() {
            "ALERT" => Code::Alert,
            "READ-ONLY" => Code::ReadOnly,
            "READ-WRITE" => Code::ReadWrite,
            "CAPABILITY" => Code::Capability(self.capabilities()?),
            "PERMANENTFLAGS" => {
                self.expect_space()?;
                Code::PermanentFlags(self.flag_list()?)
            }
            "UIDVALIDITY" | "UIDNEXT" | "UNSEEN" => {
                self.expect_space()?;
                let n = self.number()?;
                match name.as_str() {
                    "UIDVALIDITY" => Code::UidValidity(n),
                    "UIDNEXT" => Code::UidNext(n),
                    _ => Code::Unseen(n),
                }
            }
            _ => {
                // Unknown codes: keep the raw argument up to the closing
                // bracket.
                self.skip_space();
                let start = self.pos;
                let end = self.code_data_end();
                self.pos = end;
                Code::Other {
                    name,
                    data: self.buf[start..end].to_vec(),
                }
            }
        };
        self.skip_space();
        if self.peek() != Some(b']') {
            return Err(self.err("expected ']' to close the response code"));
        }
        self.pos += 1;
        Ok(code)
    }

    /// Capability names up to the end of the line or a `]` (in a code).
    fn capabilities(&mut self) -> Result<Vec<String>, ParseError> {
        let mut caps = Vec::new();
        loop {
            self.skip_space();
            if self.peek() == Some(b']') || self.at_eol() {
                return Ok(caps);
            }
            let w = self.word();
            if w.is_empty() {
                return Err(self.err("unexpected byte in a capability list"));
            }
            caps.push(String::from_utf8_lossy(w).into_owned());
        }
    }

    /// `"(" [flag *(SP flag)] ")"`; flags are kept as sent (`\Seen`, `$Junk`, `\*`).
    fn flag_list(&mut self) -> Result<Vec<String>, ParseError> {
        self.open_paren("expected '(' to open a flag list")?;
        self.list_items(true, "unterminated flag list", |c| {
            let w = c.word();
            if w.is_empty() {
                return Err(c.err("unexpected byte in a flag list"));
            }
            Ok(String::from_utf8_lossy(w).into_owned())
        })
    }

    /// The `(` that must open a list here; `missing` is the error without.
    fn open_paren(&mut self, missing: &'static str) -> Result<(), ParseError> {
        if self.peek() != Some(b'(') {
            return Err(self.err(missing));
        }
        self.pos += 1;
        Ok(())
    }

    /// A list's items up to and including its `)` (the `(` already read),
    /// each read by `item`; servers' extra or missing spaces between items
    /// are let pass. A list still open at the end of the input, or with
    /// `line_ends_it` at the end of the line, is `unterminated`.
    fn list_items<T>(
        &mut self,
        line_ends_it: bool,
        unterminated: &'static str,
        mut item: impl FnMut(&mut Self) -> Result<T, ParseError>,
    ) -> Result<Vec<T>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                Some(b')') => {
                    self.pos += 1;
                    return Ok(items);
                }
                None => return Err(self.err(unterminated)),
                Some(b'\r' | b'\n') if line_ends_it => return Err(self.err(unterminated)),
                _ => items.push(item(self)?),
            }
        }
    }

    fn untagged(&mut self) -> Result<Untagged, ParseError> {
        if self.peek().is_some_and(|b| b.is_ascii_digit()) {
            let n = self.number()?;
            self.expect_space()?;
            let keyword = self.word().to_ascii_uppercase();
            return match keyword.as_slice() {
                b"EXISTS" => Ok(Untagged::Exists(n)),
                b"RECENT" => Ok(Untagged::Recent(n)),
                b"EXPUNGE" => Ok(Untagged::Expunge(n)),
                b"FETCH" => {
                    self.expect_space()?;
                    Ok(Untagged::Fetch {
                        seq: n,
                        items: self.fetch_items()?,
                    })
                }
                _ => Ok(Untagged::Other {
                    keyword: String::from_utf8_lossy(&keyword).into_owned(),
                }),
            };
        }
        let word = self.word();
        if let Some(status) = Self::status_word(word) {
            let (code, text) = self.resp_text()?;
            return Ok(Untagged::Condition { status, code, text });
        }
        let keyword = String::from_utf8_lossy(word).to_ascii_uppercase();
        match keyword.as_str() {
            "CAPABILITY" => Ok(Untagged::Capability(self.capabilities()?)),
            "FLAGS" => {
                self.expect_space()?;
                Ok(Untagged::Flags(self.flag_list()?))
            }
            "ID" => {
                self.expect_space()?;
                let mut pairs = Vec::new();
                if let Value::List(items) = self.value(0)? {
                    let mut it = items.into_iter();
                    while let Some(key) = it.next() {
                        let key = key
                            .as_bytes()
                            .map(<[u8]>::to_vec)
                            .ok_or(self.err("an ID field name must be a string"))?;
                        let value = it.next().and_then(|v| v.as_bytes().map(<[u8]>::to_vec));
                        pairs.push((key, value));
                    }
                }
                Ok(Untagged::Id(pairs))
            }
            "QUOTAROOT" => {
                self.expect_space()?;
                let mailbox = self.astring()?;
                let mut roots = Vec::new();
                loop {
                    self.skip_space();
                    if self.at_eol() {
                        break;
                    }
                    roots.push(self.astring()?);
                }
                Ok(Untagged::QuotaRoot { mailbox, roots })
            }
            "QUOTA" => {
                self.expect_space()?;
                let root = self.astring()?;
                self.skip_space();
                // Courier answers `* QUOTA "ROOT"` when no quota is set: no
                // resources, so no limits.
                if self.at_eol() {
                    return Ok(Untagged::Quota {
                        root,
                        resources: Vec::new(),
                    });
                }
                let Value::List(items) = self.value(0)? else {
                    return Err(self.err("expected a list of quota resources"));
                };
                let mut resources = Vec::new();
                for triple in items.chunks(3) {
                    match triple {
                        [name, Value::Number(usage), Value::Number(limit)] => {
                            let name = name
                                .as_bytes()
                                .ok_or(self.err("expected a quota resource name"))?;
                            resources.push(QuotaResource {
                                name: String::from_utf8_lossy(name).to_ascii_uppercase(),
                                usage: *usage,
                                limit: *limit,
                            });
                        }
                        _ => return Err(self.err("expected quota resource, usage and limit")),
                    }
                }
                Ok(Untagged::Quota { root, resources })
            }
            "LIST" | "LSUB" => {
                self.expect_space()?;
                let attributes = self.flag_list()?;
                self.expect_space()?;
                let delimiter = match self.value(0)? {
                    Value::Nil => None,
                    Value::String(s) if s.len() == 1 => s.first().copied(),
                    _ => return Err(self.err("expected a one-character delimiter or NIL")),
                };
                self.expect_space()?;
                let name = self.astring()?;
                // RFC 5258 extended data may follow; we don't need it.
                Ok(Untagged::List {
                    attributes,
                    delimiter,
                    name,
                })
            }
            "" => Err(self.err("expected a response keyword after '* '")),
            _ => Ok(Untagged::Other { keyword }),
        }
    }

    fn fetch_items(&mut self) -> Result<Vec<(String, Value)>, ParseError> {
        self.open_paren("expected '(' after FETCH")?;
        self.list_items(true, "unterminated FETCH data", |c| {
            let name = c.fetch_att_name()?;
            c.expect_space()?;
            let value = c.value(1)?;
            Ok((name, value))
        })
    }

    /// A FETCH attribute name, including a section and partial range:
    /// `BODY[HEADER.FIELDS (SUBJECT)]<0>`. Upper-cased.
    fn fetch_att_name(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.word();
        if self.peek() == Some(b'[') {
            let mut depth = 0usize;
            loop {
                match self.peek() {
                    Some(b'[') | Some(b'(') => depth += 1,
                    Some(b']') | Some(b')') => depth = depth.saturating_sub(1),
                    None | Some(b'\r') | Some(b'\n') => {
                        return Err(self.err("unterminated section in FETCH"));
                    }
                    _ => {}
                }
                self.pos += 1;
                if depth == 0 {
                    break;
                }
            }
            if self.peek() == Some(b'<') {
                while !matches!(self.peek(), Some(b'>') | None | Some(b'\r') | Some(b'\n')) {
                    self.pos += 1;
                }
                if self.peek() == Some(b'>') {
                    self.pos += 1;
                }
            }
        }
        if self.pos == start {
            return Err(self.err("expected a FETCH attribute name"));
        }
        Ok(String::from_utf8_lossy(&self.buf[start..self.pos]).to_ascii_uppercase())
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'(') => {
                if depth >= MAX_NESTING {
                    return Err(ParseError::TooDeep { at: self.pos });
                }
                self.pos += 1;
                // A line end inside is for the next value to refuse.
                self.list_items(false, "unterminated list", |c| c.value(depth + 1))
                    .map(Value::List)
            }
            Some(b'"') => self.quoted().map(Value::String),
            Some(b'{') => self.literal().map(Value::String),
            Some(b) if b.is_ascii_digit() => {
                let start = self.pos;
                let w = self.word();
                match parse_u64(w) {
                    Some(n) => Ok(Value::Number(n)),
                    None => {
                        self.pos = start;
                        Ok(Value::Atom(self.word().to_vec()))
                    }
                }
            }
            Some(b'\r') | Some(b'\n') | None => {
                Err(self.err("expected a value, found the end of the line"))
            }
            Some(_) => {
                let w = self.word();
                if w.is_empty() {
                    return Err(self.err("unexpected byte where a value was expected"));
                }
                if w.eq_ignore_ascii_case(b"NIL") {
                    Ok(Value::Nil)
                } else {
                    Ok(Value::Atom(w.to_vec()))
                }
            }
        }
    }

    /// An astring (RFC 3501 section 9): quoted or literal bytes, or
    /// ASTRING-CHARs, which unlike an atom's include `[` and `]`: a folder
    /// `Foo[2]` is one name, not `Foo` and a stray bracket. `NIL` here is a
    /// name like any other.
    fn astring(&mut self) -> Result<Vec<u8>, ParseError> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            _ => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b <= b' ' || b == 0x7f || b"()\"{".contains(&b) {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return Err(self.err("expected a string"));
                }
                Ok(self.buf[start..self.pos].to_vec())
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, ParseError> {
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b) if b != b'\r' && b != b'\n' => {
                            out.push(b);
                            self.pos += 1;
                        }
                        _ => return Err(self.err("a backslash at the end of a quoted string")),
                    }
                }
                Some(b'\r') | Some(b'\n') | None => {
                    return Err(self.err("unterminated quoted string"));
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, ParseError> {
        self.pos += 1; // '{'
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        let len =
            parse_u64(&self.buf[start..self.pos]).ok_or(self.err("expected a literal length"))?;
        if self.peek() == Some(b'+') {
            self.pos += 1;
        }
        if self.peek() != Some(b'}') {
            return Err(self.err("expected '}' after a literal length"));
        }
        self.pos += 1;
        match (self.peek(), self.buf.get(self.pos + 1)) {
            (Some(b'\r'), Some(b'\n')) => self.pos += 2,
            (Some(b'\n'), _) => self.pos += 1,
            _ => return Err(self.err("expected CRLF after a literal length")),
        }
        let len = usize::try_from(len).map_err(|_| self.err("literal length too large"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(self.err("literal longer than the data"))?;
        let bytes = self.buf[self.pos..end].to_vec();
        self.pos = end;
        Ok(bytes)
    }
}

/// Address as in ENVELOPE: (name adl mailbox host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

impl Address {
    /// `Display Name <mailbox@host>`, or the bare address.
    pub fn display(&self) -> String {
        let name = self.name.as_deref().map(String::from_utf8_lossy);
        self.display_with_name(name.as_deref())
    }

    /// Like [`Address::display`] with the display name given (decoded).
    pub fn display_with_name(&self, name: Option<&str>) -> String {
        let lossy = |b: &Option<Vec<u8>>| {
            b.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        let addr = match (lossy(&self.mailbox), lossy(&self.host)) {
            (Some(m), Some(h)) => format!("{m}@{h}"),
            (Some(m), None) => m,
            (None, Some(h)) => h,
            (None, None) => String::new(),
        };
        match name {
            Some(n) if !n.is_empty() && !addr.is_empty() => format!("{} <{addr}>", phrase(n)),
            Some(n) if !n.is_empty() => n.to_string(),
            _ => addr,
        }
    }
}

/// A display name as RFC 5322 writes it before an address: quoted, with
/// `"` and `\` escaped, when it holds a special character (`"Smith,
/// Carol" <carol@example.org>` is one person, `Smith, Carol <...>` reads as
/// two).
fn phrase(name: &str) -> String {
    const SPECIALS: &[char] = &[
        '(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '.', '"',
    ];
    if !name.contains(SPECIALS) {
        return name.to_string();
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// The parts of an ENVELOPE the check reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
}

/// Reads an ENVELOPE value; `None` when it does not have the RFC 3501 shape.
pub fn envelope(value: &Value) -> Option<Envelope> {
    let fields = value.as_list()?;
    if fields.len() < 10 {
        return None;
    }
    let nstring = |v: &Value| v.as_bytes().map(<[u8]>::to_vec);
    let from = match &fields[2] {
        Value::List(addrs) => addrs
            .iter()
            .filter_map(|a| {
                let parts = a.as_list()?;
                if parts.len() != 4 {
                    return None;
                }
                Some(Address {
                    name: nstring(&parts[0]),
                    mailbox: nstring(&parts[2]),
                    host: nstring(&parts[3]),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    Some(Envelope {
        date: nstring(&fields[0]),
        subject: nstring(&fields[1]),
        from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[u8]) -> Response {
        assert_eq!(
            frame(s),
            Ok(Frame::Complete(s.len())),
            "framing {:?}",
            String::from_utf8_lossy(s)
        );
        parse_response(s).unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(s)))
    }

    #[test]
    fn frames_simple_and_partial_lines() {
        assert_eq!(frame(b""), Ok(Frame::NeedLine));
        assert_eq!(frame(b"* OK hi"), Ok(Frame::NeedLine));
        assert_eq!(frame(b"* OK hi\r"), Ok(Frame::NeedLine));
        assert_eq!(frame(b"* OK hi\r\n"), Ok(Frame::Complete(9)));
        assert_eq!(frame(b"* OK hi\r\n* NO"), Ok(Frame::Complete(9)));
        assert_eq!(frame(b"* OK bare lf\n"), Ok(Frame::Complete(13)));
    }

    #[test]
    fn frames_literals() {
        let full = b"* LIST () \"/\" {5}\r\nab\r\nc\r\n";
        assert_eq!(frame(full), Ok(Frame::Complete(full.len())));
        assert_eq!(
            frame(&full[..19]),
            Ok(Frame::NeedLiteral { start: 19, len: 5 })
        );
        assert_eq!(
            frame(&full[..23]),
            Ok(Frame::NeedLiteral { start: 19, len: 5 })
        );
        assert_eq!(frame(&full[..24]), Ok(Frame::NeedLine));
        // two literals in one response
        let two = b"* 1 FETCH (A {1}\r\nx B {2+}\r\nyz)\r\nrest";
        assert_eq!(frame(two), Ok(Frame::Complete(two.len() - 4)));
        // a literal that contains CRLF and a fake literal marker
        let tricky = b"* 1 FETCH (BODY[] {7}\r\n{99}\r\n\n)\r\n";
        assert_eq!(frame(tricky), Ok(Frame::Complete(tricky.len())));
    }

    #[test]
    fn every_split_point_frames_the_same() {
        let stream: &[u8] = b"* OK [CAPABILITY IMAP4rev1] hi\r\n* LIST () \"/\" {3}\r\na\"b\r\n* 1 FETCH (X {0}\r\n)\r\nT1 OK done\r\n";
        let whole = frame_all(stream);
        assert_eq!(whole.len(), 4);
        for cut in 0..stream.len() {
            // Framing a prefix must never claim a response that the whole
            // stream would frame differently.
            let mut pos = 0;
            while let Ok(Frame::Complete(n)) = frame(&stream[pos..cut]) {
                assert!(whole.contains(&stream[pos..pos + n].to_vec()));
                pos += n;
            }
        }
    }

    fn frame_all(mut s: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Ok(Frame::Complete(n)) = frame(s) {
            out.push(s[..n].to_vec());
            s = &s[n..];
        }
        out
    }

    #[test]
    fn line_limits() {
        let long = vec![b'a'; MAX_LINE + 1];
        assert_eq!(frame(&long), Err(ParseError::LineTooLong));
        let mut long_line = vec![b'a'; MAX_LINE + 1];
        long_line.extend_from_slice(b"\r\n");
        assert_eq!(frame(&long_line), Err(ParseError::LineTooLong));
        let ok = vec![b'a'; MAX_LINE];
        assert_eq!(frame(&ok), Ok(Frame::NeedLine));
    }

    #[test]
    fn response_limit_counts_held_literals() {
        let mut buf = Vec::new();
        for _ in 0..5 {
            buf.extend_from_slice(b"* 1 FETCH (X {1000000}\r\n");
            buf.extend(std::iter::repeat_n(b'x', 1_000_000));
        }
        buf.extend_from_slice(b")\r\n");
        assert_eq!(frame(&buf), Err(ParseError::ResponseTooLarge));
    }

    #[test]
    fn literal_suffix_forms() {
        assert_eq!(literal_suffix(b"a {5}"), Some(5));
        assert_eq!(literal_suffix(b"a {5+}"), Some(5));
        assert_eq!(literal_suffix(b"a {}"), None);
        assert_eq!(literal_suffix(b"a {x}"), None);
        assert_eq!(literal_suffix(b"a {99999999999999999999}"), None);
        assert_eq!(literal_suffix(b"a 5}"), None);
    }

    #[test]
    fn greeting_with_capability_code() {
        let r = parse(
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ AUTH=PLAIN] Dovecot (Debian) ready.\r\n",
        );
        assert_eq!(
            r,
            Response::Untagged(Untagged::Condition {
                status: Status::Ok,
                code: Some(Code::Capability(vec![
                    "IMAP4rev1".into(),
                    "SASL-IR".into(),
                    "LITERAL+".into(),
                    "AUTH=PLAIN".into()
                ])),
                text: b"Dovecot (Debian) ready.".to_vec(),
            })
        );
    }

    #[test]
    fn tagged_and_codes() {
        assert_eq!(
            parse(b"a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
            Response::Tagged {
                tag: b"a2".to_vec(),
                status: Status::No,
                code: Some(Code::Other {
                    name: "AUTHENTICATIONFAILED".into(),
                    data: vec![]
                }),
                text: b"Authentication failed.".to_vec(),
            }
        );
        assert_eq!(
            parse(b"a8 OK [READ-WRITE] Select completed\r\n"),
            Response::Tagged {
                tag: b"a8".to_vec(),
                status: Status::Ok,
                code: Some(Code::ReadWrite),
                text: b"Select completed".to_vec()
            }
        );
        assert_eq!(
            parse(b"* OK [PERMANENTFLAGS (\\Answered \\Seen \\*)] Flags permitted.\r\n"),
            Response::Untagged(Untagged::Condition {
                status: Status::Ok,
                code: Some(Code::PermanentFlags(vec![
                    "\\Answered".into(),
                    "\\Seen".into(),
                    "\\*".into()
                ])),
                text: b"Flags permitted.".to_vec(),
            })
        );
        for (line, code) in [
            (
                &b"* OK [UIDVALIDITY 1700000001] x\r\n"[..],
                Code::UidValidity(1_700_000_001),
            ),
            (b"* OK [UIDNEXT 4] x\r\n", Code::UidNext(4)),
            (b"* OK [UNSEEN 2] x\r\n", Code::Unseen(2)),
            (b"* OK [ALERT] x\r\n", Code::Alert),
            (b"* ok [read-only] x\r\n", Code::ReadOnly),
            (
                b"* OK [REFERRAL imap://h/] x\r\n",
                Code::Other {
                    name: "REFERRAL".into(),
                    data: b"imap://h/".to_vec(),
                },
            ),
            (
                b"* OK [BADCHARSET (\"x]\")] x\r\n",
                Code::Other {
                    name: "BADCHARSET".into(),
                    data: b"(\"x]\")".to_vec(),
                },
            ),
        ] {
            match parse(line) {
                Response::Untagged(Untagged::Condition {
                    code: Some(c),
                    text,
                    ..
                }) => {
                    assert_eq!(c, code);
                    assert_eq!(text, b"x");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn condition_without_text_or_code() {
        assert_eq!(
            parse(b"* BYE\r\n"),
            Response::Untagged(Untagged::Condition {
                status: Status::Bye,
                code: None,
                text: vec![]
            })
        );
        assert_eq!(
            parse(b"* PREAUTH [CAPABILITY IMAP4rev1]\r\n"),
            Response::Untagged(Untagged::Condition {
                status: Status::Preauth,
                code: Some(Code::Capability(vec!["IMAP4rev1".into()])),
                text: vec![]
            })
        );
    }

    #[test]
    fn continuation() {
        assert_eq!(parse(b"+ \r\n"), Response::Continuation(vec![]));
        assert_eq!(parse(b"+\r\n"), Response::Continuation(vec![]));
        assert_eq!(
            parse(b"+ go ahead\r\n"),
            Response::Continuation(b"go ahead".to_vec())
        );
    }

    #[test]
    fn untagged_data() {
        assert_eq!(
            parse(b"* 3 EXISTS\r\n"),
            Response::Untagged(Untagged::Exists(3))
        );
        assert_eq!(
            parse(b"* 0 RECENT\r\n"),
            Response::Untagged(Untagged::Recent(0))
        );
        assert_eq!(
            parse(b"* 2 EXPUNGE\r\n"),
            Response::Untagged(Untagged::Expunge(2))
        );
        assert_eq!(
            parse(b"* FLAGS (\\Answered \\Flagged $Junk)\r\n"),
            Response::Untagged(Untagged::Flags(vec![
                "\\Answered".into(),
                "\\Flagged".into(),
                "$Junk".into()
            ]))
        );
        assert_eq!(
            parse(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"),
            Response::Untagged(Untagged::Capability(vec![
                "IMAP4rev1".into(),
                "STARTTLS".into(),
                "LOGINDISABLED".into()
            ]))
        );
        assert_eq!(
            parse(b"* SEARCH 2 3\r\n"),
            Response::Untagged(Untagged::Other {
                keyword: "SEARCH".into()
            })
        );
        assert_eq!(
            parse(b"* 1 XNEW foo\r\n"),
            Response::Untagged(Untagged::Other {
                keyword: "XNEW".into()
            })
        );
    }

    #[test]
    fn id_and_quota() {
        assert_eq!(
            parse(b"* ID (\"name\" \"Dovecot\" \"version\" NIL)\r\n"),
            Response::Untagged(Untagged::Id(vec![
                (b"name".to_vec(), Some(b"Dovecot".to_vec())),
                (b"version".to_vec(), None),
            ]))
        );
        assert_eq!(
            parse(b"* ID NIL\r\n"),
            Response::Untagged(Untagged::Id(vec![]))
        );
        assert_eq!(
            parse(b"* QUOTAROOT INBOX \"User quota\" \"\"\r\n"),
            Response::Untagged(Untagged::QuotaRoot {
                mailbox: b"INBOX".to_vec(),
                roots: vec![b"User quota".to_vec(), b"".to_vec()],
            })
        );
        assert_eq!(
            parse(b"* QUOTAROOT INBOX\r\n"),
            Response::Untagged(Untagged::QuotaRoot {
                mailbox: b"INBOX".to_vec(),
                roots: vec![]
            })
        );
        assert_eq!(
            parse(b"* QUOTA \"User quota\" (STORAGE 19791 1048576 message 5 1000)\r\n"),
            Response::Untagged(Untagged::Quota {
                root: b"User quota".to_vec(),
                resources: vec![
                    QuotaResource {
                        name: "STORAGE".into(),
                        usage: 19791,
                        limit: 1048576
                    },
                    QuotaResource {
                        name: "MESSAGE".into(),
                        usage: 5,
                        limit: 1000
                    },
                ],
            })
        );
        assert_eq!(
            parse(b"* QUOTA \"\" ()\r\n"),
            Response::Untagged(Untagged::Quota {
                root: vec![],
                resources: vec![]
            })
        );
        for quirk in [
            &b"* QUOTA r (STORAGE 1)\r\n"[..],
            b"* QUOTA r (STORAGE x 1)\r\n",
            b"* ID (NIL \"x\")\r\n",
        ] {
            assert!(
                matches!(parse(quirk), Response::Untagged(Untagged::Unparsed { .. })),
                "{:?}",
                String::from_utf8_lossy(quirk)
            );
        }
    }

    #[test]
    fn list_forms() {
        let cases: [(&[u8], &[u8], Option<u8>); 7] = [
            (
                b"* LIST (\\HasNoChildren \\Drafts) \"/\" Entw&APw-rfe\r\n",
                b"Entw&APw-rfe",
                Some(b'/'),
            ),
            (
                b"* LIST (\\HasNoChildren) \"/\" \"Deleted Items\"\r\n",
                b"Deleted Items",
                Some(b'/'),
            ),
            (
                b"* LIST () \".\" {13}\r\nDeleted Items\r\n",
                b"Deleted Items",
                Some(b'.'),
            ),
            (b"* LIST (\\Noselect) NIL \"\"\r\n", b"", None),
            (
                b"* LIST () \"/\" \"a \\\"q\\\" \\\\b\"\r\n",
                b"a \"q\" \\b",
                Some(b'/'),
            ),
            // ASTRING-CHARs include `[` and `]`: one name, not cut at `[`.
            (
                b"* LIST () \"/\" A&ABs-[2J]x\r\n",
                b"A&ABs-[2J]x",
                Some(b'/'),
            ),
            (
                b"* LIST () \"/\" [Gmail]/Sent\r\n",
                b"[Gmail]/Sent",
                Some(b'/'),
            ),
        ];
        for (line, name, delim) in cases {
            match parse(line) {
                Response::Untagged(Untagged::List {
                    name: n, delimiter, ..
                }) => {
                    assert_eq!(n, name);
                    assert_eq!(delimiter, delim);
                }
                other => panic!("{other:?}"),
            }
        }
        // RFC 5258 extended items after the name are tolerated
        assert!(matches!(
            parse(b"* LIST (\\Subscribed) \"/\" foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
            Response::Untagged(Untagged::List { .. })
        ));
        // a numeric folder name
        assert!(
            matches!(parse(b"* LIST () \"/\" 2024\r\n"), Response::Untagged(Untagged::List { name, .. }) if name == b"2024")
        );
    }

    #[test]
    fn fetch_with_envelope_and_literal_subject() {
        let line: &[u8] = b"* 3 FETCH (FLAGS (\\Seen) INTERNALDATE \"25-Jun-1998 10:57:38 -0500\" RFC822.SIZE 417 ENVELOPE (\"Thu, 25 Jun 1998 10:57:33 -0500\" {4}\r\nTest ((\"Administrator\" NIL \"admin\" \"microsoft.com\")) NIL NIL NIL NIL NIL NIL \"<id@x>\"))\r\n";
        let Response::Untagged(Untagged::Fetch { seq, items }) = parse(line) else {
            panic!()
        };
        assert_eq!(seq, 3);
        let names: Vec<_> = items.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]);
        assert_eq!(items[2].1, Value::Number(417));
        let env = envelope(&items[3].1).expect("envelope");
        assert_eq!(env.subject.as_deref(), Some(&b"Test"[..]));
        assert_eq!(env.from.len(), 1);
        assert_eq!(env.from[0].display(), "Administrator <admin@microsoft.com>");
    }

    #[test]
    fn fetch_section_names() {
        let line =
            b"* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT FROM)]<0> {2}\r\nhi BODY[] {0}\r\n UID 7)\r\n";
        let Response::Untagged(Untagged::Fetch { items, .. }) = parse(line) else {
            panic!()
        };
        assert_eq!(items[0].0, "BODY[HEADER.FIELDS (SUBJECT FROM)]<0>");
        assert_eq!(items[0].1, Value::String(b"hi".to_vec()));
        assert_eq!(items[1], ("BODY[]".to_string(), Value::String(vec![])));
        assert_eq!(items[2], ("UID".to_string(), Value::Number(7)));
    }

    #[test]
    fn display_names_with_specials_are_quoted() {
        let a = |name: &str| Address {
            name: Some(name.as_bytes().to_vec()),
            mailbox: Some(b"carol".to_vec()),
            host: Some(b"example.org".to_vec()),
        };
        for (name, shown) in [
            ("Carol Smith", "Carol Smith <carol@example.org>"),
            ("Smith, Carol", "\"Smith, Carol\" <carol@example.org>"),
            (
                "Spam, \"Inc.\"",
                "\"Spam, \\\"Inc.\\\"\" <carol@example.org>",
            ),
            ("J. R. R.", "\"J. R. R.\" <carol@example.org>"),
            ("a\\b", "\"a\\\\b\" <carol@example.org>"),
            ("Jörg Müller", "Jörg Müller <carol@example.org>"),
        ] {
            assert_eq!(a(name).display(), shown, "{name}");
        }
    }

    #[test]
    fn nil_subject_and_bare_address() {
        let v = Value::List(vec![
            Value::Nil,
            Value::Nil,
            Value::List(vec![Value::List(vec![
                Value::Nil,
                Value::Nil,
                Value::String(b"a".to_vec()),
                Value::String(b"b.org".to_vec()),
            ])]),
            Value::Nil,
            Value::Nil,
            Value::Nil,
            Value::Nil,
            Value::Nil,
            Value::Nil,
            Value::Nil,
        ]);
        let env = envelope(&v).expect("envelope");
        assert_eq!(env.subject, None);
        assert_eq!(env.from[0].display(), "a@b.org");
        assert_eq!(envelope(&Value::List(vec![Value::Nil])), None);
    }

    #[test]
    fn broken_tagged_lines_are_errors() {
        for bad in [&b"\r\n"[..], b"a1\r\n", b"a1 MAYBE done\r\n", b"(x\r\n"] {
            assert!(
                parse_response(bad).is_err(),
                "{:?} parsed",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn unparsable_untagged_content_is_kept_with_its_keyword() {
        for (bad, keyword) in [
            (&b"* \r\n"[..], ""),
            (b"*OK no space\r\n", "OK"),
            (b"* 1 FETCH (FLAGS (\\Seen)\r\n", "FETCH"),
            (b"* 1 FETCH (X \"unterminated)\r\n", "FETCH"),
            (b"* 1 FETCH (X {5}\r\nab)\r\n", "FETCH"),
            (b"* LIST () \"//\" x\r\n", "LIST"),
            (b"* 99999999999 EXISTS\r\n", "EXISTS"),
            (b"* QUOTA \"ROOT\" (STORAGE 1)\r\n", "QUOTA"),
            (b"* FLAGS \\Seen\r\n", "FLAGS"),
        ] {
            match parse_response(bad) {
                Ok(Response::Untagged(Untagged::Unparsed { keyword: k, why })) => {
                    assert_eq!(k, keyword, "{:?}", String::from_utf8_lossy(bad));
                    assert!(matches!(why, ParseError::Syntax { .. }));
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(bad)),
            }
        }
    }

    #[test]
    fn unparsable_codes_are_kept_raw_and_the_text_survives() {
        for (line, name, data, text) in [
            (
                &b"* OK [UNSEEN none] first\r\n"[..],
                "UNSEEN",
                &b"none"[..],
                &b"first"[..],
            ),
            (
                b"* OK [UIDVALIDITY 99999999999] y\r\n",
                "UIDVALIDITY",
                b"99999999999",
                b"y",
            ),
            (
                b"* OK [PERMANENTFLAGS \\Seen] z\r\n",
                "PERMANENTFLAGS",
                b"\\Seen",
                b"z",
            ),
            (b"* OK [ALERT text\r\n", "ALERT", b"text", b""),
        ] {
            let Response::Untagged(Untagged::Condition {
                status: Status::Ok,
                code:
                    Some(Code::Unparsed {
                        name: n, data: d, ..
                    }),
                text: t,
            }) = parse(line)
            else {
                panic!("{:?}", String::from_utf8_lossy(line))
            };
            assert_eq!((n.as_str(), &d[..], &t[..]), (name, data, text));
        }
        // The same in a tagged completion: the status still counts.
        let Response::Tagged { status, code, .. } = parse(b"a1 OK [UIDNEXT x] done\r\n") else {
            panic!()
        };
        assert_eq!(status, Status::Ok);
        assert!(matches!(code, Some(Code::Unparsed { .. })));
    }

    #[test]
    fn quota_without_resources_means_no_limits() {
        assert_eq!(
            parse(b"* QUOTA \"ROOT\"\r\n"),
            Response::Untagged(Untagged::Quota {
                root: b"ROOT".to_vec(),
                resources: vec![]
            })
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut line = b"* 1 FETCH (X ".to_vec();
        line.extend(std::iter::repeat_n(b'(', 100_000));
        line.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_response(&line),
            Err(ParseError::TooDeep { .. })
        ));
        let mut ok = b"* 1 FETCH (X ".to_vec();
        ok.extend(std::iter::repeat_n(b'(', MAX_NESTING - 1));
        ok.extend(std::iter::repeat_n(b')', MAX_NESTING - 1));
        ok.extend_from_slice(b")\r\n");
        assert!(parse_response(&ok).is_ok());
    }

    #[test]
    fn never_panics_on_garbage() {
        // xorshift over short strings built from IMAP-ish bytes
        let alphabet = b"* +(){}[]\"\\\r\n0123456789OKNOBYEFETCHLIST ";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = Vec::new();
            let len = (x % 40) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = frame(&s);
            let _ = parse_response(&s);
        }
    }
}
