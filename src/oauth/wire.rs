//! The token request's connection as the HTTP client reads it: bytes
//! buffered from a [`Source`] (the `Transport`, or pieces of an answer in
//! the unit tests), lines and byte runs each held to a limit, and the size
//! limits and errors that the head (`http`) and the body (`body`) share.

use std::io;

use crate::password::Secret;
use crate::transport::{ConnectError, TlsError, Transport};

/// The status line and headers together. Token endpoints send about 1 to
/// 2 KiB (Azure's with its cookies); 16 KiB is far beyond that, and what
/// common web servers allow themselves, while a server sending headers
/// forever is stopped long before memory matters.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The body. A token answer is one JSON object: Azure's access tokens are
/// JWTs of 1 to 3 KiB, with an id_token maybe twice that; Google's are a
/// few hundred bytes. 64 KiB is ten times the largest, and bounds what a
/// wrong URL (a web page, a download) can make us hold.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One chunk-size line of a chunked body, extensions included, or one
/// trailer line: a hex number and rarely a short extension.
pub(super) const MAX_CHUNK_LINE: usize = 1024;

/// Bytes asked for by one read.
pub(super) const READ_SIZE: usize = 8192;

/// How an answer's body was delimited (reported in the transcript).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length,
    Chunked,
    UntilClose,
    None,
}

/// Why no complete answer came. `during` names the phase for the message.
#[derive(Debug)]
pub enum HttpError {
    Connect(ConnectError),
    Tls(TlsError),
    /// The deadline passed.
    Timeout {
        during: &'static str,
    },
    Io {
        during: &'static str,
        error: io::Error,
    },
    /// Not HTTP/1.x as it must be; `got` is what came (may be cut short).
    Malformed {
        what: String,
        got: Vec<u8>,
    },
    /// More than `limit` bytes of `what`.
    TooLarge {
        what: &'static str,
        limit: usize,
    },
}

pub(super) fn io_error(error: io::Error, during: &'static str) -> HttpError {
    if error.kind() == io::ErrorKind::TimedOut {
        HttpError::Timeout { during }
    } else {
        HttpError::Io { during, error }
    }
}

/// Where the answer's bytes come from: the connection (or, in the unit
/// tests, pieces of an answer).
pub(super) trait Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Source for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Transport::read(self, buf)
    }
}

/// The connection and what was read from it but not yet used.
pub(super) struct Conn<S> {
    pub(super) source: S,
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl<S: Source> Conn<S> {
    pub(super) fn new(source: S) -> Conn<S> {
        Conn {
            source,
            buf: Vec::new(),
            pos: 0,
            eof: false,
        }
    }

    /// Reads more; false at the end of the stream. A TLS connection closed
    /// without close_notify (OpenSSL's "unexpected eof") also ends it: the
    /// answers that rely on the close are checked as JSON afterwards.
    pub(super) fn fill(&mut self, during: &'static str) -> Result<bool, HttpError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; READ_SIZE];
        match self.source.read(&mut chunk) {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e)
                if e.to_string()
                    .to_ascii_lowercase()
                    .contains("unexpected eof") =>
            {
                self.eof = true;
                Ok(false)
            }
            Err(e) => Err(io_error(e, during)),
        }
    }

    pub(super) fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// One line (LF or CRLF, without it), at most `limit` bytes.
    pub(super) fn line(
        &mut self,
        limit: usize,
        what: &'static str,
        during: &'static str,
    ) -> Result<Vec<u8>, HttpError> {
        loop {
            if let Some(i) = self.pending().iter().position(|&b| b == b'\n') {
                if i > limit {
                    return Err(HttpError::TooLarge { what, limit });
                }
                let mut line = self.pending()[..i].to_vec();
                self.pos += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.pending().len() > limit {
                return Err(HttpError::TooLarge { what, limit });
            }
            if !self.fill(during)? {
                return Err(HttpError::Malformed {
                    what: format!("the connection closed {during}"),
                    got: self.pending().to_vec(),
                });
            }
        }
    }

    /// Moves up to `n` pending bytes onto `out`, reading when none are.
    pub(super) fn take(
        &mut self,
        n: usize,
        out: &mut Secret,
        during: &'static str,
    ) -> Result<usize, HttpError> {
        if self.pending().is_empty() && !self.fill(during)? {
            return Ok(0);
        }
        let k = n.min(self.pending().len());
        out.extend(&self.buf[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}
