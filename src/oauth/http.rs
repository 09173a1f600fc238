//! The token request's HTTPS client, small on purpose: one HTTP/1.1 POST of
//! a form over a fresh TLS connection (`Connection: close`), and its answer
//! read with Content-Length, chunked, or until the server closes. It goes
//! through the same `Transport` as IMAP, so the check's one deadline bounds
//! every read and write, DNS, connect and handshake included. Sizes have
//! named limits; redirects are returned to the caller, never followed.
//! Nothing read from the network is trusted: no unwrap, no unchecked index.
//! How the body is delimited is `body`'s.

use crate::transport::TlsContext;

use crate::password::Secret;
use crate::report::escape_cut;
use crate::transcript::Transcript;
use crate::transport::{Deadline, Family, Transport, resolve};

use super::TokenUrl;
use super::body;
use super::wire::{Conn, READ_SIZE, Source, io_error};
pub use super::wire::{Framing, HttpError, MAX_BODY_BYTES, MAX_HEADER_BYTES};

/// Interim answers (`100 Continue`, `103 Early Hints`) skipped before the
/// real one: a server that sends more is not answering.
const MAX_INTERIM: usize = 4;

/// The endpoint's answer. The body may hold tokens: it is a [`Secret`].
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Secret,
    pub framing: Framing,
}

impl Response {
    /// The first header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Replaces the request's secrets in bytes about to be shown.
pub type Mask<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;

/// POSTs `form` (application/x-www-form-urlencoded, a secret) to `url`;
/// `shown` is the same form with every secret as `***`, for `-v`, and
/// `mask` hides them in the answer's lines shown there (an endpoint may
/// echo the request).
pub fn post_form(
    url: &TokenUrl,
    form: &Secret,
    shown: &str,
    connector: &TlsContext,
    deadline: Deadline,
    transcript: Transcript,
    mask: Mask,
) -> Result<Response, HttpError> {
    let addrs = resolve(&url.host, url.port, Family::Any, deadline).map_err(HttpError::Connect)?;
    let (mut transport, _) = Transport::connect(&addrs, deadline).map_err(HttpError::Connect)?;
    transcript.https("--", &format!("connected to {}", transport.peer));
    transport
        .start_tls(connector, &url.host)
        .map_err(HttpError::Tls)?;
    transcript.https("--", "TLS established, certificate verified");
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: imapcheck/{}\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.target,
        url.host_header(),
        env!("CARGO_PKG_VERSION"),
        form.expose().len()
    );
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        transcript.https("C:", line);
    }
    transcript.https("C:", shown);
    let mut wire = Secret::new(Vec::with_capacity(head.len() + form.expose().len()));
    wire.extend(head.as_bytes());
    wire.extend(form.expose());
    let written = transport.write_all(wire.expose());
    drop(wire);
    written.map_err(|e| io_error(e, "sending the request"))?;
    let mut conn = Conn::new(transport);
    let result = read_response(&mut conn, transcript, mask);
    conn.source.close();
    result
}

fn read_response<S: Source>(
    conn: &mut Conn<S>,
    transcript: Transcript,
    mask: Mask,
) -> Result<Response, HttpError> {
    let mut header_bytes = 0;
    for _ in 0..=MAX_INTERIM {
        let (status, reason, headers) = read_head(conn, &mut header_bytes, transcript, mask)?;
        if (100..200).contains(&status) {
            continue;
        }
        // Room for the largest body and one more read: a body that never
        // reallocates leaves no unwiped copy of a token behind.
        let mut body = Secret::new(Vec::with_capacity(MAX_BODY_BYTES + READ_SIZE));
        let framing = body::read_body(conn, status, &headers, &mut body)?;
        return Ok(Response {
            status,
            reason,
            headers,
            body,
            framing,
        });
    }
    Err(HttpError::Malformed {
        what: format!("more than {MAX_INTERIM} interim (1xx) answers"),
        got: Vec::new(),
    })
}

type Head = (u16, String, Vec<(String, String)>);

/// The status line and headers, all within MAX_HEADER_BYTES.
fn read_head<S: Source>(
    conn: &mut Conn<S>,
    used: &mut usize,
    transcript: Transcript,
    mask: Mask,
) -> Result<Head, HttpError> {
    let during = "before the end of the answer's headers";
    let mut next = |conn: &mut Conn<S>| -> Result<Vec<u8>, HttpError> {
        let left = MAX_HEADER_BYTES.saturating_sub(*used);
        // The limit is on all the lines together: say that one.
        let line = conn
            .line(left, "the status line and headers", during)
            .map_err(|e| match e {
                HttpError::TooLarge { what, .. } => HttpError::TooLarge {
                    what,
                    limit: MAX_HEADER_BYTES,
                },
                other => other,
            })?;
        *used += line.len() + 2;
        if *used > MAX_HEADER_BYTES {
            return Err(HttpError::TooLarge {
                what: "the status line and headers",
                limit: MAX_HEADER_BYTES,
            });
        }
        Ok(line)
    };
    let status_line = next(conn)?;
    let text = String::from_utf8_lossy(&status_line).into_owned();
    // Escaped like all server text (invalid UTF-8 as \xNN); the lines
    // are bounded by MAX_HEADER_BYTES, so nothing is cut.
    transcript.https("S:", &escape_cut(&mask(&status_line), MAX_HEADER_BYTES));
    let mut parts = text.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let status = code
        .parse::<u16>()
        .ok()
        .filter(|s| (100..600).contains(s) && code.len() == 3);
    let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
        return Err(HttpError::Malformed {
            what: "the answer does not start with an HTTP/1.x status line".into(),
            got: status_line,
        });
    };
    let reason = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let line = next(conn)?;
        if line.is_empty() {
            return Ok((status, reason, headers));
        }
        let text = String::from_utf8_lossy(&line).into_owned();
        transcript.https("S:", &escape_cut(&mask(&line), MAX_HEADER_BYTES));
        let Some((name, value)) = text.split_once(':') else {
            return Err(HttpError::Malformed {
                what: "a header line without ':'".into(),
                got: line,
            });
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::super::wire::MAX_CHUNK_LINE;
    use super::*;
    use std::io;

    /// An answer handed out `size` bytes per read, then the end.
    struct Pieces {
        bytes: Vec<u8>,
        at: usize,
        size: usize,
    }

    impl Source for Pieces {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.size.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn read(answer: &[u8], size: usize) -> Result<Response, HttpError> {
        let mut conn = Conn::new(Pieces {
            bytes: answer.to_vec(),
            at: 0,
            size,
        });
        read_response(
            &mut conn,
            Transcript {
                enabled: false,
                capture: None,
            },
            &|b| b.to_vec(),
        )
    }

    /// The framing and body, the same whether read 1, 3 or 8192 bytes at a
    /// time.
    fn body(answer: &[u8]) -> (Framing, String) {
        let got: Vec<(Framing, String)> = [1, 3, 8192]
            .into_iter()
            .map(|size| {
                let r = read(answer, size).unwrap_or_else(|e| panic!("{e:?}"));
                let text = String::from_utf8_lossy(r.body.expose()).into_owned();
                (r.framing, text)
            })
            .collect();
        assert!(got.windows(2).all(|w| w[0] == w[1]), "{got:?}");
        got[0].clone()
    }

    #[test]
    fn framings_read_in_any_pieces() {
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}{}extra"),
            (Framing::Length, "{}{}".into())
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n3;x=y\r\n{\"a\r\nA\r\n\":\"bcdefgh\r\n1\r\n}\r\n0\r\nT: 1\r\n\r\n"),
            (Framing::Chunked, "{\"a\":\"bcdefgh}".into())
        );
        assert_eq!(
            body(b"HTTP/1.0 200 OK\nContent-Type: x\n\nuntil the end"),
            (Framing::UntilClose, "until the end".into())
        );
        assert_eq!(
            body(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"),
            (Framing::None, String::new())
        );
    }

    #[test]
    fn status_and_headers_are_read() {
        let r = read(
            b"HTTP/1.1 302 Found\r\nLocation:  https://x/y \r\nContent-Length: 0\r\n\r\n",
            5,
        )
        .expect("answer");
        assert_eq!((r.status, r.reason.as_str()), (302, "Found"));
        assert_eq!(r.header("location"), Some("https://x/y"));
    }

    #[test]
    fn what_is_not_http_is_malformed() {
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"SSH-2.0-OpenSSH\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
            b"",
        ] {
            let r = read(bad, 7);
            assert!(
                matches!(r, Err(HttpError::Malformed { .. })),
                "{:?}: {r:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        assert!(matches!(
            read(&interim, 64),
            Err(HttpError::Malformed { .. })
        ));
    }

    #[test]
    fn limits_hold() {
        let big_len = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            read(big_len.as_bytes(), 64),
            Err(HttpError::TooLarge {
                limit: MAX_BODY_BYTES,
                ..
            })
        ));
        let mut until_close = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        until_close.resize(until_close.len() + MAX_BODY_BYTES + 1, b'x');
        assert!(matches!(
            read(&until_close, 8192),
            Err(HttpError::TooLarge { .. })
        ));
        let mut exact = b"HTTP/1.1 200 OK\r\n\r\n".to_vec();
        exact.resize(exact.len() + MAX_BODY_BYTES, b'x');
        assert_eq!(
            read(&exact, 8192)
                .expect("at the limit")
                .body
                .expose()
                .len(),
            MAX_BODY_BYTES
        );
        let chunk = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            MAX_BODY_BYTES + 1
        );
        assert!(matches!(
            read(chunk.as_bytes(), 64),
            Err(HttpError::TooLarge { .. })
        ));
        let headers = format!(
            "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
            "h".repeat(MAX_HEADER_BYTES)
        );
        assert!(matches!(
            read(headers.as_bytes(), 512),
            Err(HttpError::TooLarge {
                limit: MAX_HEADER_BYTES,
                ..
            })
        ));
        let line = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n",
            "e".repeat(MAX_CHUNK_LINE + 1)
        );
        assert!(matches!(
            read(line.as_bytes(), 512),
            Err(HttpError::TooLarge { .. })
        ));
    }
}
