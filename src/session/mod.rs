//! The IMAP session: tags, command encoding, literals, reading responses.
//!
//! A [`Session`] owns the transport and the bytes received but not yet
//! parsed. It sends one command at a time (each in one write), or a batch
//! of independent commands in one write whose answers are then collected
//! one by one; it hands every untagged response to the caller as it
//! arrives, and returns when the tagged completion with *our* tag comes. It knows nothing of the check's
//! steps; it only keeps the protocol honest: unique unguessable tags, strings
//! encoded as their bytes need, secrets kept out of the transcript, and the
//! size limits of [`crate::parser`] enforced while reading.
//!
//! This file is the session and its commands; how arguments are encoded,
//! how responses are read and AUTHENTICATE have files of their own; the
//! transcript it writes to is `crate::transcript`.

mod authenticate;
mod encode;
mod idle;
mod mask;
mod read;
mod search;

use crate::transcript::Transcript;
pub use encode::{Arg, Encoding, encode_astring};
pub use idle::Idling;

use encode::show_arg;
use mask::Mask;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;

use crate::parser::{Code, Response, Status, Untagged};
use crate::transport::{Transport, describe_io};

/// How much of one response the `-v` transcript shows before cutting it.
const TRANSCRIPT_CUT: usize = 2000;

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

/// Answers a `+` continuation (its text, the whole line); false stops the
/// wait for the completion (see `Session::await_tag`).
type OnContinuation<'a> = dyn FnMut(&mut Session, &[u8], &[u8]) -> Result<bool, SessionError> + 'a;

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
    /// While set, SEARCH and ESEARCH answers are counted into it (see
    /// `search.rs`) — used for `--search`.
    pub search_tally: Option<crate::search::Tally>,
    /// A read or write failed or the server broke the protocol: nothing
    /// more can be sent on this connection.
    broken: bool,
    /// The secrets sent so far, masked in all the server sends back.
    mask: Mask,
    /// A read found the connection closed by the server.
    peer_closed: bool,
    /// Tags of batched commands not answered yet, in the order sent.
    pending: Vec<String>,
    /// Completions of batched commands that came while waiting for an
    /// earlier one's (a server may answer out of order); at most one per
    /// command of a batch.
    early: Vec<(String, Completion)>,
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
            search_tally: None,
            broken: false,
            mask: Mask::default(),
            peer_closed: false,
            pending: Vec::new(),
            early: Vec::new(),
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

    /// The server closed the connection (seen on reading).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Bytes received but not yet parsed. After a STARTTLS OK this must be
    /// zero: anything there was injected before the handshake.
    pub fn unparsed(&self) -> &[u8] {
        &self.buf
    }

    /// Masks `secret` in everything the server sends from now on, as it
    /// is (a password the caller puts inside a SASL message).
    pub fn mask_secret(&mut self, secret: &[u8]) {
        self.mask.raw(secret);
    }

    /// Remembers the secret arguments of `args` before they are sent.
    fn mask_args(&mut self, args: &[Arg]) {
        for arg in args {
            if let Arg::Secret(b) = *arg {
                self.mask.astring(b);
            }
        }
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

    /// Nothing more is sent on a connection that failed or broke the
    /// protocol.
    fn ensure_usable(&self) -> Result<(), SessionError> {
        if self.broken {
            return Err(SessionError::Protocol {
                what: "the connection is no longer usable".into(),
                got: vec![],
            });
        }
        Ok(())
    }

    /// A `+` where the server may not ask for anything.
    fn unexpected_continuation(&mut self, raw: &[u8]) -> Result<bool, SessionError> {
        self.fail(SessionError::protocol(
            "a continuation request where none was expected",
            raw,
        ))
    }

    /// Reads until the tagged completion of `tag`. Untagged responses go
    /// to `on_untagged`; each `+` continuation (its text, then the whole
    /// line) to `on_plus`, which answers it and returns true to go on
    /// waiting, or returns false to stop without a completion (the server
    /// is ready for a literal). Any other tag is a protocol error.
    fn await_tag(
        &mut self,
        tag: &str,
        on_plus: &mut OnContinuation,
        on_untagged: &mut OnUntagged,
    ) -> Result<Option<Completion>, SessionError> {
        loop {
            let (resp, raw) = self.read_response()?;
            match resp {
                Response::Untagged(u) => on_untagged(&u, &raw),
                Response::Continuation(data) => {
                    if !on_plus(self, &data, &raw)? {
                        return Ok(None);
                    }
                }
                Response::Tagged {
                    tag: theirs,
                    status,
                    code,
                    text,
                } if theirs == tag.as_bytes() => {
                    return Ok(Some(Completion {
                        status,
                        code,
                        text,
                        raw,
                    }));
                }
                Response::Tagged { .. } => {
                    return self.fail(SessionError::protocol(
                        format!(
                            "a tagged response for a command we never sent (expected tag {tag})"
                        ),
                        &raw,
                    ));
                }
            }
        }
    }

    /// The completion of `tag`; no continuation may come meanwhile.
    fn await_completion(
        &mut self,
        tag: &str,
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        let done = self.await_tag(
            tag,
            &mut |s, _, raw| s.unexpected_continuation(raw),
            on_untagged,
        )?;
        // A continuation always fails the wait above: there is a completion.
        done.ok_or_else(missing_completion)
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
        self.ensure_usable()?;
        self.mask_args(args);
        // Answers still owed to a batch come first: read them, so this
        // command's own answer is the next.
        while let Some(owed) = self.pending.first().cloned() {
            self.await_answer(&owed, on_untagged)?;
        }
        self.early.clear();
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
            // A tagged completion instead ends the command early (the
            // server refused the literal).
            if let Some(done) = self.await_tag(&tag, &mut |_, _, _| Ok(false), on_untagged)? {
                return Ok(done);
            }
            wire.extend_from_slice(payload);
            shown.push_str(&show_arg(payload, secret));
        }
        wire.extend_from_slice(b"\r\n");
        self.send(&wire, &shown)?;
        self.await_completion(&tag, on_untagged)
    }

    /// Sends `commands` in one write (RFC 9051 5.5: none may depend on
    /// another's outcome, the server answers them in order) and returns
    /// their tags. Nothing is read: each answer is collected with
    /// [`Session::await_answer`], so whoever parses a command's answer
    /// reads up to its own tag. None if any command would need a
    /// synchronizing literal: those cannot share a write.
    pub fn send_batch(&mut self, commands: &[&[Arg]]) -> Result<Option<Vec<String>>, SessionError> {
        self.ensure_usable()?;
        if commands.iter().any(|c| !self.needs_no_continuation(c)) {
            return Ok(None);
        }
        for c in commands {
            self.mask_args(c);
        }
        let tags: Vec<String> = commands.iter().map(|_| self.next_tag()).collect();
        let mut wire = Vec::new();
        let mut shown = String::new();
        for (tag, c) in tags.iter().zip(commands) {
            let (w, s) = self.encode_inline(tag, c);
            wire.extend_from_slice(&w);
            shown.push_str(&s);
        }
        self.send(&wire, &shown)?;
        self.pending.extend(tags.iter().cloned());
        Ok(Some(tags))
    }

    /// Tags of batched commands whose answer has not come yet.
    pub fn unanswered(&self) -> &[String] {
        &self.pending
    }

    /// Reads until the completion of `tag`, a command sent with
    /// `send_batch`. Untagged responses go to `on_untagged`, whichever
    /// command they belong to: the server answers in order, so they are
    /// those of the commands before `tag` still unread, and `tag`'s own.
    /// Completions of other batched commands are kept for their own wait.
    pub fn await_answer(
        &mut self,
        tag: &str,
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        if let Some(i) = self.early.iter().position(|(t, _)| t == tag) {
            return Ok(self.early.swap_remove(i).1);
        }
        loop {
            let (resp, raw) = self.read_response()?;
            match resp {
                Response::Untagged(u) => on_untagged(&u, &raw),
                Response::Continuation(_) => {
                    self.unexpected_continuation(&raw)?;
                }
                Response::Tagged {
                    tag: theirs,
                    status,
                    code,
                    text,
                } => {
                    let Some(i) = self.pending.iter().position(|t| t.as_bytes() == theirs) else {
                        return self.fail(SessionError::protocol(
                            format!(
                                "a tagged response for a command we never sent (expected tag {tag})"
                            ),
                            &raw,
                        ));
                    };
                    let theirs = self.pending.remove(i);
                    let done = Completion {
                        status,
                        code,
                        text,
                        raw,
                    };
                    if theirs == tag {
                        return Ok(done);
                    }
                    self.early.push((theirs, done));
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

/// A wait for a completion that ended without one.
fn missing_completion() -> SessionError {
    SessionError::Protocol {
        what: "missing completion".into(),
        got: vec![],
    }
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
    fn tag_prefix_is_letters_and_varies() {
        let a = random_tag_prefix();
        assert_eq!(a.len(), 4);
        assert!(a.bytes().all(|b| b.is_ascii_uppercase()));
        let distinct: std::collections::HashSet<String> =
            (0..50).map(|_| random_tag_prefix()).collect();
        assert!(distinct.len() > 40, "tag prefixes repeat: {distinct:?}");
    }
}
