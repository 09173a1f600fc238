//! The body of the token endpoint's answer, delimited as its headers say
//! (RFC 9112 section 6): chunked, Content-Length, or until the server
//! closes; none for 204 and 304. Every way is held to MAX_BODY_BYTES, and
//! chunk-size and trailer lines to their own limits.

use crate::password::Secret;

use super::wire::{
    Conn, Framing, HttpError, MAX_BODY_BYTES, MAX_CHUNK_LINE, MAX_HEADER_BYTES, Source,
};

/// The body as the headers frame it, within MAX_BODY_BYTES.
pub(super) fn read_body<S: Source>(
    conn: &mut Conn<S>,
    status: u16,
    headers: &[(String, String)],
    body: &mut Secret,
) -> Result<Framing, HttpError> {
    let get = |name: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .next_back()
    };
    let too_large = HttpError::TooLarge {
        what: "the body",
        limit: MAX_BODY_BYTES,
    };
    if status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    let chunked = get("Transfer-Encoding")
        .and_then(|te| te.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(conn, body).map(|()| Framing::Chunked);
    }
    if let Some(len) = get("Content-Length") {
        let Ok(len) = len.parse::<usize>() else {
            return Err(HttpError::Malformed {
                what: "a Content-Length that is not a number".into(),
                got: len.as_bytes().to_vec(),
            });
        };
        if len > MAX_BODY_BYTES {
            return Err(too_large);
        }
        let during = "before the end of the body (Content-Length)";
        while body.expose().len() < len {
            if conn.take(len - body.expose().len(), body, during)? == 0 {
                return Err(HttpError::Malformed {
                    what: format!(
                        "the connection closed after {} of {len} bytes of the body",
                        body.expose().len()
                    ),
                    got: Vec::new(),
                });
            }
        }
        return Ok(Framing::Length);
    }
    // Neither: the body ends when the server closes (HTTP/1.1 allows it
    // for answers; our `Connection: close` makes it likely).
    while conn.take(MAX_BODY_BYTES + 1, body, "before the server closed")? > 0 {
        if body.expose().len() > MAX_BODY_BYTES {
            return Err(too_large);
        }
    }
    Ok(Framing::UntilClose)
}

/// RFC 9112 section 7.1: hex sizes, chunks, a zero chunk, trailers.
fn read_chunked<S: Source>(conn: &mut Conn<S>, body: &mut Secret) -> Result<(), HttpError> {
    let during = "inside the chunked body";
    loop {
        let line = conn.line(MAX_CHUNK_LINE, "a chunk-size line", during)?;
        let size_text = String::from_utf8_lossy(&line);
        let hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16)
            .ok()
            .filter(|_| !hex.is_empty() && hex.len() <= 8)
            .ok_or_else(|| HttpError::Malformed {
                what: "a chunk size that is not a hex number".into(),
                got: line.clone(),
            })?;
        if size == 0 {
            break;
        }
        if body.expose().len() + size > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge {
                what: "the body",
                limit: MAX_BODY_BYTES,
            });
        }
        let mut left = size;
        while left > 0 {
            let n = conn.take(left, body, during)?;
            if n == 0 {
                return Err(HttpError::Malformed {
                    what: "the connection closed inside a chunk".into(),
                    got: Vec::new(),
                });
            }
            left -= n;
        }
        let end = conn.line(MAX_CHUNK_LINE, "a chunk's line end", during)?;
        if !end.is_empty() {
            return Err(HttpError::Malformed {
                what: "a chunk longer than its size".into(),
                got: end,
            });
        }
    }
    // Trailers, up to the empty line; their contents are not used.
    let mut trailer_bytes = 0;
    loop {
        let line = conn.line(MAX_CHUNK_LINE, "a trailer line", during)?;
        trailer_bytes += line.len();
        if line.is_empty() {
            return Ok(());
        }
        if trailer_bytes > MAX_HEADER_BYTES {
            return Err(HttpError::TooLarge {
                what: "the trailers",
                limit: MAX_HEADER_BYTES,
            });
        }
    }
}
