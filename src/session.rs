//! The IMAP session: tags, command encoding, literals, reading responses.
//!
//! A [`Session`] owns the transport and the bytes received but not yet
//! parsed. It sends one command at a time (each in one write), hands every
//! untagged response to the caller as it arrives, and returns when the
//! tagged completion with *our* tag comes. It knows nothing of the check's
//! steps; it only keeps the protocol honest: unique unguessable tags, strings
//! encoded as their bytes need, secrets kept out of the transcript, and the
//! size limits of [`crate::parser`] enforced while reading.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};

use crate::parser::{self, Code, Frame, ParseError, Response, Status, Untagged};
use crate::report::escape_cut;
use crate::transport::{Transport, describe_io};

/// Bytes asked of the transport per read. One TLS record is at most 16 KiB.
const READ_CHUNK: usize = 16 * 1024;

/// How much of one response the `-v` transcript shows before cutting it.
const TRANSCRIPT_CUT: usize = 2000;

/// LITERAL- (RFC 7888) allows non-synchronizing literals up to this size.
const LITERAL_MINUS_MAX: usize = 4096;

/// Writes the `-v` transcript (stderr) and the same lines to the trace log.
/// Lines sent after TLS is up are marked `[tls]`.
#[derive(Debug, Clone, Copy)]
pub struct Transcript {
    pub enabled: bool,
}

impl Transcript {
    pub fn line(&self, tls: bool, who: &str, text: &str) {
        let mark = if tls { "[tls] " } else { "" };
        log::trace!("{mark}{who} {text}");
        if self.enabled {
            // A closed stderr must not panic the check (see main's out!).
            let _ = writeln!(std::io::stderr(), "{mark}{who} {text}");
        }
    }

    /// A note from imapcheck itself (not protocol data).
    pub fn note(&self, text: &str) {
        log::debug!("{text}");
        if self.enabled {
            let _ = writeln!(std::io::stderr(), "-- {text}");
        }
    }
}

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

/// What went wrong while talking to the server.
#[derive(Debug)]
pub enum SessionError {
    /// Reading or writing failed (timeout, reset, closed).
    Io(io::Error),
    /// The server broke the protocol or a limit; `got` is what it sent.
    Protocol { what: String, got: Vec<u8> },
}

impl SessionError {
    pub fn timed_out(&self) -> bool {
        matches!(self, SessionError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
    }

    fn protocol(what: impl Into<String>, got: &[u8]) -> SessionError {
        SessionError::Protocol {
            what: what.into(),
            got: got.iter().take(TRANSCRIPT_CUT).copied().collect(),
        }
    }
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::Io(e) => write!(f, "{}", describe_io(e)),
            SessionError::Protocol { what, .. } => write!(f, "{what}"),
        }
    }
}

impl From<io::Error> for SessionError {
    fn from(e: io::Error) -> Self {
        SessionError::Io(e)
    }
}

/// The tagged completion of a command.
#[derive(Debug, Clone)]
pub struct Completion {
    pub status: Status,
    pub code: Option<Code>,
    pub text: Vec<u8>,
    /// The completion line as received, for error messages.
    pub raw: Vec<u8>,
}

/// Receives each untagged response with its raw bytes.
pub type OnUntagged<'a> = dyn FnMut(&Untagged, &[u8]) + 'a;

pub struct Session {
    transport: Transport,
    buf: Vec<u8>,
    tag_prefix: String,
    tag_counter: u32,
    transcript: Transcript,
    /// The server offers LITERAL+ / LITERAL- (set from its capabilities).
    pub literal_plus: bool,
    pub literal_minus: bool,
    /// While set, literals above [`parser::MAX_LITERAL`] and up to this
    /// size are streamed (counted, not kept) — used for `--body`.
    pub stream_literals_up_to: Option<u64>,
    /// Lengths of the literals streamed since the last take.
    streamed: Vec<u64>,
    /// A read or write failed or the server broke the protocol: nothing
    /// more can be sent on this connection.
    broken: bool,
}

impl Session {
    pub fn new(transport: Transport, transcript: Transcript) -> Session {
        Session {
            transport,
            buf: Vec::new(),
            tag_prefix: random_tag_prefix(),
            tag_counter: 0,
            transcript,
            literal_plus: false,
            literal_minus: false,
            stream_literals_up_to: None,
            streamed: Vec::new(),
            broken: false,
        }
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    pub fn transport_mut(&mut self) -> &mut Transport {
        &mut self.transport
    }

    /// False once the connection can no longer carry a command.
    pub fn usable(&self) -> bool {
        !self.broken && self.transport.deadline.remaining().is_ok()
    }

    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Bytes received but not yet parsed. After a STARTTLS OK this must be
    /// zero: anything there was injected before the handshake.
    pub fn unparsed(&self) -> &[u8] {
        &self.buf
    }

    pub fn take_streamed(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.streamed)
    }

    fn next_tag(&mut self) -> String {
        self.tag_counter += 1;
        format!("{}{}", self.tag_prefix, self.tag_counter)
    }

    fn fail<T>(&mut self, e: SessionError) -> Result<T, SessionError> {
        self.broken = true;
        Err(e)
    }

    /// Reads one complete response.
    pub fn read_response(&mut self) -> Result<(Response, Vec<u8>), SessionError> {
        match self.read_response_inner() {
            Ok(r) => Ok(r),
            Err(e) => self.fail(e),
        }
    }

    fn read_response_inner(&mut self) -> Result<(Response, Vec<u8>), SessionError> {
        // Framing rescans the buffer from its start, so it runs again only
        // when the new bytes can change its answer: a line end arrived, the
        // awaited literal is complete, or the unfinished line grew past the
        // limit. A server dribbling a long line a byte per segment then
        // costs linear, not quadratic, time.
        //
        // `line_start` is where the unfinished line begins at the latest
        // (after the buffer's last LF, which may sit in a literal before
        // it: earlier is safe, it only reframes sooner); `checked` is how
        // far the buffer has been searched for a new LF.
        let mut waiting_line: Option<(usize, usize)> = None;
        let mut wait_for_len: Option<usize> = None;
        loop {
            let ready = match (waiting_line, wait_for_len) {
                (Some((line_start, checked)), _) => {
                    let new_lf = self
                        .buf
                        .get(checked..)
                        .is_some_and(|new| new.contains(&b'\n'));
                    waiting_line = Some((line_start, self.buf.len()));
                    new_lf || self.buf.len() - line_start > parser::MAX_LINE
                }
                (None, Some(end)) => self.buf.len() >= end,
                (None, None) => true,
            };
            if !ready {
                self.read_more()?;
                continue;
            }
            waiting_line = None;
            wait_for_len = None;
            match parser::frame(&self.buf) {
                Ok(Frame::Complete(n)) => {
                    let raw: Vec<u8> = self.buf.drain(..n).collect();
                    let tls = self.transport.is_tls();
                    self.transcript
                        .line(tls, "S:", &escape_cut(trim_crlf(&raw), TRANSCRIPT_CUT));
                    return match parser::parse_response(&raw) {
                        Ok(resp) => {
                            if let Some(why) = resp.not_understood() {
                                self.transcript.note(&format!("ignored: {why}"));
                            }
                            Ok((resp, raw))
                        }
                        Err(e) => Err(SessionError::protocol(
                            format!("unparsable response ({e})"),
                            &raw,
                        )),
                    };
                }
                Ok(Frame::NeedLine) => {
                    let line_start = self
                        .buf
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map_or(0, |i| i + 1);
                    waiting_line = Some((line_start, self.buf.len()));
                    self.read_more()?;
                }
                Ok(Frame::NeedLiteral { start, len }) => {
                    if len <= parser::MAX_LITERAL {
                        // len <= MAX_LITERAL, so this fits in usize.
                        wait_for_len = Some(start + len as usize);
                        self.read_more()?;
                    } else if self.stream_literals_up_to.is_some_and(|max| len <= max) {
                        self.stream_literal(start, len)?;
                    } else {
                        let what = match self.stream_literals_up_to {
                            Some(max) => format!(
                                "a literal of {len} bytes, larger than the announced message size allows ({max})"
                            ),
                            None => format!(
                                "a literal of {len} bytes where at most {} are expected",
                                parser::MAX_LITERAL
                            ),
                        };
                        let head = self.buf[..start.min(self.buf.len())].to_vec();
                        return Err(SessionError::protocol(what, &head));
                    }
                }
                Err(e) => {
                    let what = match e {
                        ParseError::LineTooLong => format!("{e} (an endless line)"),
                        _ => e.to_string(),
                    };
                    let head: Vec<u8> = self.buf.iter().take(200).copied().collect();
                    return Err(SessionError::protocol(what, &head));
                }
            }
        }
    }

    fn read_more(&mut self) -> Result<(), SessionError> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.transport.read(&mut chunk)?;
        if n == 0 {
            return Err(SessionError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Consumes a large literal without keeping it: the response keeps a
    /// `{0}` in its place and the real length is recorded in `streamed`.
    fn stream_literal(&mut self, start: usize, len: u64) -> Result<(), SessionError> {
        let header = self.buf[..start].to_vec();
        let brace = header.iter().rposition(|&b| b == b'{').unwrap_or(0);
        let tls = self.transport.is_tls();
        self.transcript.line(
            tls,
            "S:",
            &format!(
                "{} <{len} bytes of literal data, streamed>",
                escape_cut(trim_crlf(&header), TRANSCRIPT_CUT)
            ),
        );
        let mut remaining = len;
        let have = (self.buf.len() - start) as u64;
        let take_now = have.min(remaining) as usize;
        let leftover = self.buf.split_off(start + take_now);
        remaining -= take_now as u64;
        let mut chunk = vec![0u8; READ_CHUNK * 4];
        let mut extra = Vec::new();
        while remaining > 0 {
            let n = self.transport.read(&mut chunk)?;
            if n == 0 {
                return Err(SessionError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection in the middle of a literal",
                )));
            }
            let used = (n as u64).min(remaining) as usize;
            remaining -= used as u64;
            extra.extend_from_slice(&chunk[used..n]);
        }
        let mut rebuilt = header[..brace].to_vec();
        rebuilt.extend_from_slice(b"{0}\r\n");
        rebuilt.extend_from_slice(&leftover);
        rebuilt.extend_from_slice(&extra);
        self.buf = rebuilt;
        self.streamed.push(len);
        Ok(())
    }

    /// Sends `line` (without CRLF) as one write; `shown` is what the
    /// transcript shows instead (secrets replaced).
    fn send(&mut self, wire: &[u8], shown: &str) -> Result<(), SessionError> {
        let tls = self.transport.is_tls();
        for line in shown.split("\r\n").filter(|l| !l.is_empty()) {
            self.transcript.line(tls, "C:", line);
        }
        match self.transport.write_all(wire) {
            Ok(()) => Ok(()),
            Err(e) => self.fail(SessionError::Io(e)),
        }
    }

    /// Runs one command to its tagged completion. Untagged responses that
    /// arrive meanwhile (solicited or not) go to `on_untagged`.
    pub fn command(
        &mut self,
        args: &[Arg],
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        if self.broken {
            return Err(SessionError::Protocol {
                what: "the connection is no longer usable".into(),
                got: vec![],
            });
        }
        let tag = self.next_tag();
        let mut wire = tag.clone().into_bytes();
        let mut shown = tag.clone();
        for arg in args {
            wire.push(b' ');
            shown.push(' ');
            let Some((payload, secret)) = self.push_arg(arg, true, &mut wire, &mut shown) else {
                continue;
            };
            // A synchronizing literal: send what we have, wait for "+".
            self.send(&wire, &shown)?;
            wire.clear();
            shown.clear();
            if let Some(done) = self.await_continuation(&tag, on_untagged)? {
                return Ok(done);
            }
            wire.extend_from_slice(payload);
            shown.push_str(&show_arg(payload, secret));
        }
        wire.extend_from_slice(b"\r\n");
        self.send(&wire, &shown)?;
        self.await_completion(&tag, on_untagged)
    }

    /// Appends one argument to a command being built. Atoms, quoted strings
    /// and non-synchronizing literals go in whole (`None`); for a
    /// synchronizing literal (`sync_ok` and neither LITERAL+ nor a small
    /// enough LITERAL- literal) only its `{n}` header goes in, and the
    /// payload comes back to be sent after the server's `+`.
    fn push_arg<'b>(
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
    fn needs_no_continuation(&self, args: &[Arg]) -> bool {
        args.iter().all(|arg| match *arg {
            Arg::Raw(_) => true,
            Arg::Str(b) | Arg::Secret(b) => {
                encode_astring(b) != Encoding::Literal
                    || self.literal_plus
                    || (self.literal_minus && b.len() <= LITERAL_MINUS_MAX)
            }
        })
    }

    /// Sends `first` and `then` in one write and waits for both completions
    /// (RFC 3501 5.5: `then` must not depend on `first`'s outcome). Used to
    /// carry ID with LOGIN and GETQUOTAROOT with EXAMINE, so the extras cost
    /// no round trip of their own. When either needs a synchronizing literal
    /// the two go one after the other instead.
    pub fn command_pair(
        &mut self,
        first: &[Arg],
        then: &[Arg],
        on_untagged: &mut OnUntagged,
    ) -> Result<(Completion, Result<Completion, SessionError>), SessionError> {
        if !self.needs_no_continuation(first) || !self.needs_no_continuation(then) {
            let done = self.command(first, on_untagged)?;
            let second = self.command(then, on_untagged);
            return Ok((done, second));
        }
        if self.broken {
            return Err(SessionError::Protocol {
                what: "the connection is no longer usable".into(),
                got: vec![],
            });
        }
        let tag1 = self.next_tag();
        let tag2 = self.next_tag();
        let (mut wire, mut shown) = self.encode_inline(&tag1, first);
        let (wire2, shown2) = self.encode_inline(&tag2, then);
        wire.extend_from_slice(&wire2);
        shown.push_str(&shown2);
        self.send(&wire, &shown)?;
        let mut done1 = None;
        let mut done2 = None;
        while done1.is_none() || done2.is_none() {
            let (resp, raw) = match self.read_response() {
                Ok(r) => r,
                // The first answer is in: a failure now belongs to the second.
                Err(e) => match done1 {
                    Some(d) => return Ok((d, Err(e))),
                    None => return Err(e),
                },
            };
            match resp {
                Response::Untagged(u) => on_untagged(&u, &raw),
                Response::Tagged {
                    tag,
                    status,
                    code,
                    text,
                } => {
                    let c = Completion {
                        status,
                        code,
                        text,
                        raw: raw.clone(),
                    };
                    if tag == tag1.as_bytes() && done1.is_none() {
                        done1 = Some(c);
                    } else if tag == tag2.as_bytes() && done2.is_none() {
                        done2 = Some(c);
                    } else {
                        return self.fail(SessionError::protocol(
                            format!("a tagged response for a command we never sent (expected tag {tag1} or {tag2})"),
                            &raw,
                        ));
                    }
                }
                Response::Continuation(_) => {
                    return self.fail(SessionError::protocol(
                        "a continuation request where none was expected",
                        &raw,
                    ));
                }
            }
        }
        match (done1, done2) {
            (Some(a), Some(b)) => Ok((a, Ok(b))),
            _ => Err(SessionError::Protocol {
                what: "missing completion".into(),
                got: vec![],
            }),
        }
    }

    /// One command line with no synchronizing literal, CRLF included
    /// (callers check `needs_no_continuation` first).
    fn encode_inline(&self, tag: &str, args: &[Arg]) -> (Vec<u8>, String) {
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

    /// Waits for a `+` continuation; a tagged completion instead ends the
    /// command early (the server refused the literal).
    fn await_continuation(
        &mut self,
        tag: &str,
        on_untagged: &mut OnUntagged,
    ) -> Result<Option<Completion>, SessionError> {
        loop {
            let (resp, raw) = self.read_response()?;
            match resp {
                Response::Continuation(_) => return Ok(None),
                Response::Untagged(u) => on_untagged(&u, &raw),
                Response::Tagged {
                    tag: t,
                    status,
                    code,
                    text,
                } => {
                    return self.check_tag(tag, &t, &raw).map(|()| {
                        Some(Completion {
                            status,
                            code,
                            text,
                            raw,
                        })
                    });
                }
            }
        }
    }

    fn check_tag(&mut self, ours: &str, theirs: &[u8], raw: &[u8]) -> Result<(), SessionError> {
        if theirs == ours.as_bytes() {
            Ok(())
        } else {
            self.fail(SessionError::protocol(
                format!("a tagged response for a command we never sent (expected tag {ours})"),
                raw,
            ))
        }
    }

    fn await_completion(
        &mut self,
        tag: &str,
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        loop {
            let (resp, raw) = self.read_response()?;
            match resp {
                Response::Untagged(u) => on_untagged(&u, &raw),
                Response::Tagged {
                    tag: t,
                    status,
                    code,
                    text,
                } => {
                    self.check_tag(tag, &t, &raw)?;
                    return Ok(Completion {
                        status,
                        code,
                        text,
                        raw,
                    });
                }
                Response::Continuation(_) => {
                    return self.fail(SessionError::protocol(
                        "a continuation request where none was expected",
                        &raw,
                    ));
                }
            }
        }
    }

    /// AUTHENTICATE with a SASL mechanism. `initial` is the client's first
    /// message (raw, not yet base64); with `sasl_ir` it rides on the command
    /// line (RFC 4959). `on_challenge` answers each further server challenge
    /// (decoded bytes in, raw bytes out). All client data is secret.
    pub fn authenticate(
        &mut self,
        mechanism: &str,
        initial: &[u8],
        sasl_ir: bool,
        on_challenge: &mut dyn FnMut(&[u8]) -> Vec<u8>,
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        if self.broken {
            return Err(SessionError::Protocol {
                what: "the connection is no longer usable".into(),
                got: vec![],
            });
        }
        let tag = self.next_tag();
        let encoded = sasl_encode(initial);
        let mut wire = format!("{tag} AUTHENTICATE {mechanism}").into_bytes();
        let mut shown = format!("{tag} AUTHENTICATE {mechanism}");
        if sasl_ir {
            wire.push(b' ');
            wire.extend_from_slice(encoded.as_bytes());
            shown.push_str(" ***");
        }
        wire.extend_from_slice(b"\r\n");
        self.send(&wire, &shown)?;
        let mut initial_pending = !sasl_ir;
        loop {
            let (resp, raw) = self.read_response()?;
            match resp {
                Response::Untagged(u) => on_untagged(&u, &raw),
                Response::Tagged {
                    tag: t,
                    status,
                    code,
                    text,
                } => {
                    self.check_tag(&tag, &t, &raw)?;
                    return Ok(Completion {
                        status,
                        code,
                        text,
                        raw,
                    });
                }
                Response::Continuation(data) => {
                    // In a continuation an empty response is an empty line;
                    // "=" stands for empty only on the command line (RFC 4959).
                    let reply = if initial_pending {
                        initial_pending = false;
                        crate::base64::encode(initial)
                    } else {
                        let challenge = crate::base64::decode(trim_crlf(&data))
                            .unwrap_or_else(|_| data.clone());
                        crate::base64::encode(&on_challenge(&challenge))
                    };
                    let mut line = reply.into_bytes();
                    line.extend_from_slice(b"\r\n");
                    self.send(&line, "***")?;
                }
            }
        }
    }

    /// LOGOUT's tagged OK may be followed by the server closing; close ours.
    pub fn close(&mut self) {
        self.transport.close();
        self.broken = true;
    }
}

/// An argument as the transcript shows it: secrets as `***`.
fn show_arg(bytes: &[u8], secret: bool) -> String {
    if secret {
        "***".to_string()
    } else {
        escape_cut(bytes, TRANSCRIPT_CUT)
    }
}

/// SASL data is base64; an empty message is "=" (RFC 4959) on the line.
fn sasl_encode(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_string()
    } else {
        crate::base64::encode(data)
    }
}

fn trim_crlf(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Four letters no attacker can predict, so no response can be prepared
/// for a command before we send it. std's RandomState is seeded from the
/// OS's random source; mixing in the time keeps runs distinct regardless.
fn random_tag_prefix() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    let mut x = h.finish();
    let mut s = String::with_capacity(4);
    for _ in 0..4 {
        s.push(char::from(b'A' + (x % 26) as u8));
        x /= 26;
    }
    s
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

    #[test]
    fn tag_prefix_is_letters_and_varies() {
        let a = random_tag_prefix();
        assert_eq!(a.len(), 4);
        assert!(a.bytes().all(|b| b.is_ascii_uppercase()));
        let distinct: std::collections::HashSet<String> =
            (0..50).map(|_| random_tag_prefix()).collect();
        assert!(distinct.len() > 40, "tag prefixes repeat: {distinct:?}");
    }

    #[test]
    fn sasl_empty_is_equals_sign() {
        assert_eq!(sasl_encode(b""), "=");
        assert_eq!(sasl_encode(b"\0u\0p"), "AHUAcA==");
    }
}
