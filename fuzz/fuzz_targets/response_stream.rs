//! The response parser fed a whole server byte stream, once in one piece and
//! once split into chunks: the sequence of results must be the same.
//!
//! The stream goes through a pure model of `Session::read_response`'s
//! buffering (src/session.rs): `parser::frame` on an accumulating buffer,
//! "read more" on `NeedLine` / `NeedLiteral` with a literal of at most
//! `MAX_LITERAL` bytes, an error for a larger literal (the model is the
//! session without `--body` streaming), `parser::parse_response` on every
//! complete frame, and a stop at the first error of any kind, as the session
//! marks the connection broken then.
//!
//! Input layout (documented in fuzz/README.md):
//!
//! - byte 0: `k = byte % 17`, the number of chunk-size bytes that follow;
//! - `k` bytes: chunk sizes, used in turn and cyclically. A byte `c < 0x80`
//!   is `c + 1` bytes (1..=128), a byte `c >= 0x80` is `((c & 0x7f) + 1) *
//!   256` bytes (256..=32768). With `k = 0` the stream is fed byte by byte.
//!   Sizes below a floor that grows with the stream length are raised to
//!   it (see `chunk_sizes`), so long streams stay fast;
//! - the rest: the server's bytes, where `0xF8 0xF9 n b` expands to the byte
//!   `b` repeated `(n + 1) * 4096` times (so a 4 KiB input can reach the
//!   64 KiB line limit, the 1 MiB literal limit and the 4 MiB response
//!   limit). 0xF8 and 0xF9 never occur in UTF-8, so real transcripts are
//!   unaffected, and a two-byte marker keeps libFuzzer's favourite
//!   mutations (0xFF, 0x00, repeated bytes) from expanding by accident:
//!   multi-megabyte streams stay rare and deliberate. The expanded stream
//!   is capped at `MAX_STREAM` bytes.

#![no_main]

use imapcheck::mutf7;
use imapcheck::parser::{
    self, Frame, MAX_LINE, MAX_LITERAL, MAX_RESPONSE, ParseError, Response, Untagged, Value,
};
use imapcheck::rfc2047;
use libfuzzer_sys::fuzz_target;

/// Expanded streams stop here: just past `MAX_RESPONSE`.
const MAX_STREAM: usize = MAX_RESPONSE + 256 * 1024;
/// The chunked feed uses at most this many reads.
const MAX_CHUNKS: usize = 2048;
/// See `chunk_sizes`.
const SCAN_BUDGET: usize = 1 << 20;
const RUN_UNIT: usize = 4096;

/// What the session would hand its caller, in order.
#[derive(Debug, PartialEq, Eq)]
enum Event {
    Parsed(Response),
    /// `parse_response` refused a complete frame (session: "unparsable
    /// response"); the session stops here.
    ParseFailed(ParseError),
    /// `frame` failed (line or response too long); the session stops here.
    FrameFailed(ParseError),
    /// A literal larger than `MAX_LITERAL`; the session stops here.
    LiteralTooLarge(u64),
    /// The stream ended with this many bytes of an unfinished response
    /// (the session would then be waiting for more, or see EOF).
    End {
        pending: usize,
    },
}

enum Step {
    Complete(usize),
    More,
    Fail(Event),
}

/// Where the first literal larger than `MAX_LITERAL` of the response at
/// `buf[0]` starts, if its header line is in the buffer. Walks the response
/// the way `frame` does (line, literal, line, ...), without the limits.
///
/// The real session can never hold such a literal whole, because it reads at
/// most 16 KiB at a time and refuses the literal as soon as `frame` reports
/// it missing. A model fed the whole stream at once must refuse it at the
/// same point, so it frames only the bytes up to that literal.
fn first_oversized_literal(buf: &[u8]) -> Option<usize> {
    let mut pos = 0usize;
    loop {
        let rest = buf.get(pos..)?;
        // A longer line makes `frame` fail before any later literal.
        let lf = find_lf(&rest[..rest.len().min(MAX_LINE + 2)])?;
        let line = &rest[..lf];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let next = pos + lf + 1;
        let len = parser::literal_suffix(line)?;
        if len > MAX_LITERAL {
            return Some(next);
        }
        let have = (buf.len() - next) as u64;
        if have < len {
            return None;
        }
        pos = next + len as usize;
    }
}

/// The first LF, by libc's memchr: this harness's own byte loops are
/// instrumented for coverage and would be the slowest part of a run.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    // SAFETY: memchr reads at most `bytes.len()` bytes of a valid slice.
    let p = unsafe { libc::memchr(bytes.as_ptr().cast(), i32::from(b'\n'), bytes.len()) };
    (!p.is_null()).then(|| p as usize - bytes.as_ptr() as usize)
}

/// One `read_response` decision on the unparsed bytes `buf`.
fn step(buf: &[u8]) -> Step {
    let oversized = first_oversized_literal(buf);
    let view = match oversized {
        Some(p) => &buf[..p],
        None => buf,
    };
    match parser::frame(view) {
        Ok(Frame::Complete(n)) => {
            // frame's contract: a non-empty prefix ending in LF, and never
            // past a literal it has not got.
            assert!(
                n > 0 && n <= view.len(),
                "Complete({n}) of {} bytes",
                view.len()
            );
            assert_eq!(view[n - 1], b'\n', "Complete({n}) does not end a line");
            assert!(
                oversized.is_none(),
                "frame completed a response whose literal is not in the buffer"
            );
            Step::Complete(n)
        }
        Ok(Frame::NeedLine) => Step::More,
        Ok(Frame::NeedLiteral { start, len }) => {
            assert!(
                start <= view.len(),
                "NeedLiteral start {start} past the buffer"
            );
            assert!(
                ((view.len() - start) as u64) < len,
                "NeedLiteral already complete"
            );
            assert!(
                start >= 1 && view[start - 1] == b'\n',
                "NeedLiteral not after a line"
            );
            if len > MAX_LITERAL {
                Step::Fail(Event::LiteralTooLarge(len))
            } else {
                assert!(oversized.is_none());
                Step::More
            }
        }
        Err(e) => {
            assert!(
                matches!(e, ParseError::LineTooLong | ParseError::ResponseTooLarge),
                "frame returned {e:?}"
            );
            Step::Fail(Event::FrameFailed(e))
        }
    }
}

/// The session's buffer, fed read by read.
#[derive(Default)]
struct Model {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out (the session drains them).
    off: usize,
    events: Vec<Event>,
    stopped: bool,
}

impl Model {
    fn feed(&mut self, chunk: &[u8]) {
        if self.stopped {
            return;
        }
        self.buf.drain(..self.off);
        self.off = 0;
        self.buf.extend_from_slice(chunk);
        loop {
            match step(&self.buf[self.off..]) {
                Step::Complete(n) => {
                    let raw = &self.buf[self.off..self.off + n];
                    self.off += n;
                    match parser::parse_response(raw) {
                        Ok(resp) => {
                            use_like_the_check(&resp);
                            self.events.push(Event::Parsed(resp));
                        }
                        Err(e) => {
                            self.events.push(Event::ParseFailed(e));
                            self.stopped = true;
                            return;
                        }
                    }
                }
                Step::More => return,
                Step::Fail(event) => {
                    self.events.push(event);
                    self.stopped = true;
                    return;
                }
            }
        }
    }

    fn finish(mut self) -> Vec<Event> {
        if !self.stopped {
            self.events.push(Event::End {
                pending: self.buf.len() - self.off,
            });
        }
        self.events
    }
}

/// What the check does with parsed data: decode folder names and envelope
/// fields for display. Must not panic either.
fn use_like_the_check(resp: &Response) {
    match resp {
        Response::Untagged(Untagged::List { name, .. }) => {
            let _ = mutf7::decode_lossy(name);
        }
        Response::Untagged(Untagged::Fetch { items, .. }) => {
            for (name, value) in items {
                if name == "ENVELOPE"
                    && let Some(env) = parser::envelope(value)
                {
                    if let Some(subject) = &env.subject {
                        let _ = rfc2047::decode(subject);
                    }
                    for addr in &env.from {
                        let shown = addr.name.as_deref().map(|n| rfc2047::decode(n).text);
                        let _ = addr.display_with_name(shown.as_deref());
                        let _ = addr.display();
                    }
                }
                let _ = value_size(value);
            }
        }
        _ => {}
    }
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::List(items) => items.iter().map(value_size).sum::<usize>() + 1,
        Value::String(b) | Value::Atom(b) => b.len(),
        _ => 1,
    }
}

fn expand(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() && out.len() < MAX_STREAM {
        match data[i..] {
            [0xf8, 0xf9, n, b, ..] => {
                let count = (usize::from(n) + 1) * RUN_UNIT;
                let count = count.min(MAX_STREAM - out.len());
                out.resize(out.len() + count, b);
                i += 4;
            }
            [b, ..] => {
                out.push(b);
                i += 1;
            }
            [] => break,
        }
    }
    out.truncate(MAX_STREAM);
    out
}

/// The chunk sizes from the spec bytes, raised to a floor so that feeding
/// the stream costs at most about `SCAN_BUDGET` bytes of scanning: each read
/// makes `frame` rescan the unfinished line (as in the session, where reads
/// are 16 KiB and a line at most 64 KiB, so it never matters there), which
/// is quadratic in the line length for tiny chunks. Streams up to about
/// 1 KiB can still be fed byte by byte.
fn chunk_sizes(spec: &[u8], stream_len: usize) -> Vec<usize> {
    let line = stream_len.min(MAX_LINE + 2);
    let floor = (stream_len * line)
        .div_ceil(SCAN_BUDGET)
        .max(stream_len.div_ceil(MAX_CHUNKS))
        .max(1);
    let sizes: Vec<usize> = if spec.is_empty() {
        vec![1]
    } else {
        spec.iter()
            .map(|&c| {
                if c < 0x80 {
                    usize::from(c) + 1
                } else {
                    (usize::from(c & 0x7f) + 1) * 256
                }
            })
            .collect()
    };
    sizes.into_iter().map(|s| s.max(floor)).collect()
}

fn short(e: Option<&Event>) -> String {
    let mut s = format!("{e:?}");
    if s.len() > 600 {
        let mut cut = 600;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// `FUZZ_SHOW_EVENTS=1` prints the events of each input (to see what a
/// seed or a reproducer does: `cargo fuzz run response_stream FILE`).
fn show_events() -> bool {
    static SHOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("FUZZ_SHOW_EVENTS").is_some())
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let k = usize::from(head % 17).min(rest.len());
    let (spec, raw) = rest.split_at(k);
    let stream = expand(raw);

    // parse_response is meant for framed input, but must not panic on any.
    let _ = parser::parse_response(raw);

    let mut whole = Model::default();
    whole.feed(&stream);
    let whole = whole.finish();

    let mut chunked = Model::default();
    let sizes = chunk_sizes(spec, stream.len());
    let mut pos = 0;
    for &size in sizes.iter().cycle() {
        if pos >= stream.len() || chunked.stopped {
            break;
        }
        let end = (pos + size).min(stream.len());
        chunked.feed(&stream[pos..end]);
        pos = end;
    }
    let chunked = chunked.finish();

    if show_events() {
        for e in &whole {
            eprintln!("{}", short(Some(e)));
        }
    }

    if whole != chunked {
        let i = whole
            .iter()
            .zip(&chunked)
            .position(|(a, b)| a != b)
            .unwrap_or(whole.len().min(chunked.len()));
        panic!(
            "split stream parsed differently at event {i} (of {} whole, {} split; chunk sizes {:?}):\n whole: {}\n split: {}",
            whole.len(),
            chunked.len(),
            &sizes[..sizes.len().min(16)],
            short(whole.get(i)),
            short(chunked.get(i)),
        );
    }
});
