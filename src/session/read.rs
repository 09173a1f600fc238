//! Reading responses: framing the bytes as they arrive (lines and
//! literals, within the parser's size limits), streaming a `--body`
//! literal without keeping it, and parsing each complete response.

use std::io;

use crate::parser::{self, Frame, ParseError, Response};
use crate::report::{escape_cut, trim_eol};

use super::{Session, SessionError, TRANSCRIPT_CUT};

/// Bytes asked of the transport per read. One TLS record is at most 16 KiB.
const READ_CHUNK: usize = 16 * 1024;

impl Session {
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
            if self.at_plain_search() {
                return self.stream_search();
            }
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
                    // Parsed as received; shown, and its texts handed on,
                    // with our secrets masked (see mask.rs).
                    let shown = self.mask.apply(&raw).into_owned();
                    let tls = self.transport.is_tls();
                    self.transcript
                        .line(tls, "S:", &escape_cut(trim_eol(&shown), TRANSCRIPT_CUT));
                    return match parser::parse_response(&raw) {
                        Ok(resp) => {
                            self.note_esearch(&resp, &raw);
                            if let Some(why) = resp.not_understood() {
                                let why = self.mask.apply(why.as_bytes()).into_owned();
                                self.transcript
                                    .note(&format!("ignored: {}", String::from_utf8_lossy(&why)));
                            }
                            Ok((self.mask.response(resp), shown))
                        }
                        Err(e) => Err(SessionError::protocol(
                            format!("unparsable response ({e})"),
                            &shown,
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
                        let head = self.mask.apply(&self.buf[..start.min(self.buf.len())]);
                        return Err(SessionError::protocol(what, &head));
                    }
                }
                Err(e) => {
                    let what = match e {
                        ParseError::LineTooLong => format!("{e} (an endless line)"),
                        _ => e.to_string(),
                    };
                    // Masked before it is cut: a secret across the cut
                    // must not leave its first part behind.
                    let masked = self.mask.apply(&self.buf);
                    let head = &masked[..masked.len().min(200)];
                    return Err(SessionError::protocol(what, head));
                }
            }
        }
    }

    pub(super) fn read_more(&mut self) -> Result<(), SessionError> {
        let mut chunk = [0u8; READ_CHUNK];
        let n = self.transport.read(&mut chunk)?;
        if n == 0 {
            self.peer_closed = true;
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
                escape_cut(trim_eol(&self.mask.apply(&header)), TRANSCRIPT_CUT)
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
                self.peer_closed = true;
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
}
