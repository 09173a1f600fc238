//! SMTP replies read over bytes (RFC 5321 4.2): `250-first`, `250-more`,
//! `250 last`, each line a three-digit code and a separator. A reply may
//! arrive split across any number of reads, and several replies may come
//! in one read (PIPELINING): what follows a reply stays buffered for the
//! next. Framing is strict (a line must start with the code and a `-`,
//! space or end of line; every line of a reply must carry the same code);
//! the text is taken as it comes. Sizes are bounded by named limits.

use std::io;

use crate::transport::Transport;

/// The longest reply line we read. RFC 5321 4.5.3.1.5 allows 512 octets
/// with the CRLF; real servers stay well under it, but some put long
/// explanations or URLs into a 5xx. Four times the RFC's figure leaves
/// room for those and still keeps a server that never ends its line to a
/// small, fixed amount of memory.
pub const MAX_REPLY_LINE: usize = 2048;

/// The most lines of one reply. An EHLO answer lists one extension a line
/// (about 10-20 on real servers); a reply of more is not an answer.
pub const MAX_REPLY_LINES: usize = 100;

/// Bytes asked of the transport in one read.
const READ_SIZE: usize = 4096;

/// Where the reader's bytes come from: the transport, or a test's script.
pub trait ByteSource {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl ByteSource for Transport {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
}

/// One complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of each line after the code and separator, lossily decoded
    /// (what a server says is shown escaped by whoever shows it).
    pub lines: Vec<String>,
}

impl Reply {
    /// Positive completion (2xx).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Transient negative (4xx): try again later.
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// The whole reply on one line, as a person reads it.
    pub fn one_line(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" / "))
    }

    /// The reply cut to `max` characters, for error messages.
    pub fn shown(&self, max: usize) -> String {
        let full = self.one_line();
        match full.char_indices().nth(max) {
            Some((at, _)) => format!("{}…", &full[..at]),
            None => full,
        }
    }
}

/// Why no reply could be read.
#[derive(Debug)]
pub enum ReplyError {
    /// Reading failed: timed out (the deadline), reset, refused.
    Io(io::Error),
    /// The server closed the connection; `partial` is what it had sent of
    /// a reply.
    Closed { partial: Vec<u8> },
    /// A line longer than [`MAX_REPLY_LINE`]; `start` is its beginning.
    LineTooLong { start: Vec<u8> },
    /// More lines than [`MAX_REPLY_LINES`].
    TooManyLines,
    /// A line that is no reply line (no code, a bad separator, or another
    /// code than the reply's first line).
    Malformed { line: Vec<u8> },
}

impl ReplyError {
    pub fn timed_out(&self) -> bool {
        matches!(self, ReplyError::Io(e) if e.kind() == io::ErrorKind::TimedOut)
    }
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyError::Io(e) => write!(f, "{}", crate::transport::describe_io(e)),
            ReplyError::Closed { partial } if partial.is_empty() => {
                write!(f, "the server closed the connection")
            }
            ReplyError::Closed { .. } => {
                write!(
                    f,
                    "the server closed the connection in the middle of a reply"
                )
            }
            ReplyError::LineTooLong { .. } => write!(
                f,
                "a reply line longer than {MAX_REPLY_LINE} bytes, which no SMTP server sends"
            ),
            ReplyError::TooManyLines => {
                write!(f, "a reply of more than {MAX_REPLY_LINES} lines")
            }
            ReplyError::Malformed { .. } => write!(f, "a line that is no SMTP reply"),
        }
    }
}

/// Reads replies, keeping what came after the last one.
#[derive(Debug, Default)]
pub struct ReplyReader {
    buf: Vec<u8>,
}

impl ReplyReader {
    pub fn new() -> ReplyReader {
        ReplyReader::default()
    }

    /// Bytes received but not yet part of a reply: after STARTTLS's 220
    /// there must be none (anything there was injected in cleartext).
    pub fn unread(&self) -> &[u8] {
        &self.buf
    }

    /// Whether a whole line is already buffered (a pipelined reply).
    pub fn has_line(&self) -> bool {
        self.buf.contains(&b'\n')
    }

    /// Reads one whole reply; `on_line` sees each raw line (for `-v`).
    pub fn read_reply<S: ByteSource>(
        &mut self,
        source: &mut S,
        on_line: &mut dyn FnMut(&[u8]),
    ) -> Result<Reply, ReplyError> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = self.read_line(source)?;
            on_line(&line);
            let (this, last, text) = split_line(&line)?;
            if *code.get_or_insert(this) != this {
                return Err(ReplyError::Malformed { line });
            }
            if lines.len() >= MAX_REPLY_LINES {
                return Err(ReplyError::TooManyLines);
            }
            lines.push(String::from_utf8_lossy(text).into_owned());
            if last {
                return Ok(Reply { code: this, lines });
            }
        }
    }

    /// One line without its CRLF (a bare LF is taken too: liberal in
    /// content, and a server that sends LF has still ended its line).
    fn read_line<S: ByteSource>(&mut self, source: &mut S) -> Result<Vec<u8>, ReplyError> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > MAX_REPLY_LINE {
                    line.truncate(MAX_REPLY_LINE);
                    return Err(ReplyError::LineTooLong { start: line });
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_REPLY_LINE + 1 {
                let start = self.buf[..MAX_REPLY_LINE].to_vec();
                return Err(ReplyError::LineTooLong { start });
            }
            let mut chunk = [0u8; READ_SIZE];
            let n = source.read_some(&mut chunk).map_err(ReplyError::Io)?;
            if n == 0 {
                return Err(ReplyError::Closed {
                    partial: std::mem::take(&mut self.buf),
                });
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }
}

/// `250-text` → (250, false, "text"); `250 text` and `250` → last.
fn split_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let malformed = || ReplyError::Malformed {
        line: line.to_vec(),
    };
    let (digits, rest) = line.split_at_checked(3).ok_or_else(malformed)?;
    let valid = matches!(digits, [b'2'..=b'5', b'0'..=b'9', b'0'..=b'9']);
    if !valid {
        return Err(malformed());
    }
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    match rest.split_first() {
        None => Ok((code, true, rest)),
        Some((b' ', text)) => Ok((code, true, text)),
        Some((b'-', text)) => Ok((code, false, text)),
        Some(_) => Err(malformed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its chunks one read at a time, then end of stream.
    pub struct Script(pub Vec<Vec<u8>>);

    impl ByteSource for Script {
        fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let mut chunk = self.0.remove(0);
            let n = chunk.len().min(buf.len());
            buf[..n].copy_from_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.insert(0, chunk.split_off(n));
            }
            Ok(n)
        }
    }

    fn read(chunks: &[&[u8]]) -> (Result<Reply, ReplyError>, ReplyReader) {
        let mut script = Script(chunks.iter().map(|c| c.to_vec()).collect());
        let mut reader = ReplyReader::new();
        let reply = reader.read_reply(&mut script, &mut |_| {});
        (reply, reader)
    }

    #[test]
    fn a_multi_line_reply_split_across_reads_is_one_reply() {
        let (reply, reader) = read(&[
            b"250-mail.exa",
            b"mple.org\r\n250-PIPE",
            b"LINING\r",
            b"\n250 STARTTLS\r\n",
        ]);
        let reply = reply.unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mail.example.org", "PIPELINING", "STARTTLS"]);
        assert!(reader.unread().is_empty());
    }

    #[test]
    fn pipelined_replies_stay_buffered_for_the_next_read() {
        let mut script = Script(vec![b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n".to_vec()]);
        let mut reader = ReplyReader::new();
        let mut codes = Vec::new();
        for _ in 0..3 {
            codes.push(reader.read_reply(&mut script, &mut |_| {}).unwrap().code);
        }
        assert_eq!(codes, [250, 250, 354]);
    }

    #[test]
    fn bare_code_and_lf_endings_are_replies() {
        let (reply, _) = read(&[b"250\n"]);
        assert_eq!(
            reply.unwrap(),
            Reply {
                code: 250,
                lines: vec![String::new()]
            }
        );
    }

    #[test]
    fn framing_errors_are_named() {
        for bad in [
            &b"25\r\n"[..],
            b"hello\r\n",
            b"250_x\r\n",
            b"650 x\r\n",
            b"250-a\r\n251 b\r\n",
        ] {
            let (reply, _) = read(&[bad]);
            assert!(
                matches!(reply, Err(ReplyError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn an_oversized_line_stops_at_the_limit() {
        let long = vec![b'x'; MAX_REPLY_LINE * 4];
        let mut first = b"250 ".to_vec();
        first.extend_from_slice(&long);
        let (reply, reader) = read(&[&first, b"\r\n"]);
        assert!(
            matches!(reply, Err(ReplyError::LineTooLong { ref start }) if start.len() == MAX_REPLY_LINE)
        );
        assert!(reader.unread().len() <= MAX_REPLY_LINE + READ_SIZE);
        // Exactly at the limit is still a line.
        let mut ok = b"250 ".to_vec();
        ok.resize(MAX_REPLY_LINE, b'y');
        ok.extend_from_slice(b"\r\n");
        assert!(read(&[&ok]).0.is_ok());
    }

    #[test]
    fn too_many_lines_and_a_close_mid_reply() {
        let many = b"250-x\r\n".repeat(MAX_REPLY_LINES + 1);
        assert!(matches!(read(&[&many]).0, Err(ReplyError::TooManyLines)));
        let (reply, _) = read(&[b"250-a\r\n250-b"]);
        assert!(matches!(reply, Err(ReplyError::Closed { ref partial }) if partial == b"250-b"));
    }
}
