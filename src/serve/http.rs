//! The exporter's HTTP/1.1 request head, parsed over a byte slice: the
//! request line, the few headers the exporter reads, and the query string,
//! percent-decoded strictly. Strict in framing: CRLF line ends only, no
//! obsolete line folding, no request body, NUL/CR/LF anywhere (raw or
//! decoded) is a 400. Nothing here does I/O, so the fuzz target drives it
//! exactly as the server does.

/// Longest request head (request line and headers): what Prometheus and
/// curl send is a few hundred bytes; 8 KiB is what common servers allow,
/// and bounds what a connection can make us hold.
pub const MAX_HEAD: usize = 8 * 1024;

/// Most query parameters: the exporter reads three; more is not a scrape.
const MAX_PARAMS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// The path, percent-decoded.
    pub path: String,
    /// The query's pairs, percent-decoded, in order.
    pub query: Vec<(String, String)>,
    /// The client wants the connection kept open after the answer.
    pub keep_alive: bool,
    /// The Accept header asks for OpenMetrics.
    pub openmetrics: bool,
    /// X-Prometheus-Scrape-Timeout-Seconds, when given and a number > 0.
    pub scrape_timeout: Option<f64>,
    /// The Authorization header's raw value (for basic auth).
    pub authorization: Option<Vec<u8>>,
}

impl Request {
    /// The value of query parameter `name` (the parser refuses repeats).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request head was refused: the status and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: String,
}

fn refuse(status: u16, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// What the bytes so far make.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// No complete head yet (and under `MAX_HEAD`): read more.
    Incomplete,
    /// A request, and the length of its head in the buffer.
    Complete(Request, usize),
    /// A head that cannot be answered: say why, then close.
    Refused(Refusal),
}

/// Parses the request head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() >= MAX_HEAD {
            return Parsed::Refused(refuse(431, "the request head is larger than 8 KiB"));
        }
        // A NUL or a bare CR/LF is refused at once, not after 8 KiB.
        if let Err(r) = check_bytes(buf) {
            return Parsed::Refused(r);
        }
        return Parsed::Incomplete;
    };
    let head_len = end + 4;
    if head_len > MAX_HEAD {
        return Parsed::Refused(refuse(431, "the request head is larger than 8 KiB"));
    }
    // The whole head with its CRLF CRLF: a CR just before it is a bare CR
    // too (as it is when the bytes come one at a time).
    if let Err(r) = check_bytes(&buf[..head_len]) {
        return Parsed::Refused(r);
    }
    match parse_head(&buf[..end]) {
        Ok(req) => Parsed::Complete(req, head_len),
        Err(r) => Parsed::Refused(r),
    }
}

/// NUL anywhere, or a CR not followed by LF, or an LF not after a CR.
fn check_bytes(buf: &[u8]) -> Result<(), Refusal> {
    for (i, &b) in buf.iter().enumerate() {
        let bad = match b {
            0 => true,
            b'\r' => buf.get(i + 1).is_some_and(|&n| n != b'\n'),
            b'\n' => i == 0 || buf[i - 1] != b'\r',
            _ => false,
        };
        if bad {
            return Err(refuse(400, "NUL, or CR or LF outside a CRLF line end"));
        }
    }
    Ok(())
}

fn parse_head(head: &[u8]) -> Result<Request, Refusal> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refuse(
            400,
            "the request line is not 'METHOD target HTTP/1.x'",
        ));
    };
    let http11 = match version {
        b"HTTP/1.1" => true,
        b"HTTP/1.0" => false,
        _ => return Err(refuse(505, "only HTTP/1.0 and HTTP/1.1 are spoken here")),
    };
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => return Err(refuse(405, "only GET and HEAD are allowed")),
    };
    if target.first() != Some(&b'/') {
        return Err(refuse(
            400,
            "the request target must be a path starting with /",
        ));
    }
    if let Some(&b) = target.iter().find(|&&b| b <= b' ' || b >= 0x7f) {
        return Err(refuse(
            400,
            format!("the request target holds the byte 0x{b:02x}"),
        ));
    }
    let (raw_path, raw_query) = match target.iter().position(|&b| b == b'?') {
        Some(q) => (&target[..q], &target[q + 1..]),
        None => (target, &b""[..]),
    };
    let path = decode(raw_path, false).map_err(|why| refuse(400, format!("path: {why}")))?;
    let query = parse_query(raw_query)?;

    let mut req = Request {
        method,
        path,
        query,
        keep_alive: http11,
        openmetrics: false,
        scrape_timeout: None,
        authorization: None,
    };
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(refuse(400, "a header line without a colon"));
        };
        let name = &line[..colon];
        if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
            return Err(refuse(
                400,
                "a header name that is not a token (or a folded line)",
            ));
        }
        let value = trim(&line[colon + 1..]);
        if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
            return Err(refuse(400, "a control character in a header value"));
        }
        header(&mut req, name, value)?;
    }
    Ok(req)
}

/// Takes in one header the exporter cares about.
fn header(req: &mut Request, name: &[u8], value: &[u8]) -> Result<(), Refusal> {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("connection") {
        for token in value.split(|&b| b == b',').map(trim) {
            if token.eq_ignore_ascii_case(b"close") {
                req.keep_alive = false;
            } else if token.eq_ignore_ascii_case(b"keep-alive") {
                req.keep_alive = true;
            }
        }
    } else if is("accept") {
        req.openmetrics |=
            find(&value.to_ascii_lowercase(), b"application/openmetrics-text").is_some();
    } else if is("x-prometheus-scrape-timeout-seconds") {
        let seconds = std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or_else(|| {
                refuse(
                    400,
                    "X-Prometheus-Scrape-Timeout-Seconds is not a number of seconds",
                )
            })?;
        req.scrape_timeout = Some(seconds);
    } else if is("authorization") {
        req.authorization = Some(value.to_vec());
    } else if is("content-length") {
        if value != b"0" {
            return Err(refuse(400, "a request body is not expected here"));
        }
    } else if is("transfer-encoding") {
        return Err(refuse(400, "a request body is not expected here"));
    }
    Ok(())
}

/// The query's `key=value` pairs, `&`-separated; a key without `=` has an
/// empty value. A repeated key is refused: which one counts would be a
/// guess.
fn parse_query(raw: &[u8]) -> Result<Vec<(String, String)>, Refusal> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(eq) => (&part[..eq], &part[eq + 1..]),
            None => (part, &b""[..]),
        };
        let key = decode(k, true).map_err(|why| refuse(400, format!("query: {why}")))?;
        let value = decode(v, true)
            .map_err(|why| refuse(400, format!("query parameter '{key}': {why}")))?;
        if pairs.iter().any(|(seen, _)| *seen == key) {
            return Err(refuse(
                400,
                format!("query parameter '{key}' is given twice"),
            ));
        }
        if pairs.len() == MAX_PARAMS {
            return Err(refuse(400, "too many query parameters"));
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Strict percent-decoding: `%` takes exactly two hex digits, the result
/// must be UTF-8 and hold no control character (NUL, CR, LF among them);
/// in a query `+` is a space.
pub fn decode(raw: &[u8], plus_is_space: bool) -> Result<String, String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hex = |j: usize| raw.get(j).and_then(|&b| (b as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                    return Err("'%' not followed by two hex digits".into());
                };
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8(out).map_err(|_| "not UTF-8 once decoded".to_string())?;
    if text.chars().any(char::is_control) {
        return Err("a control character (NUL, CR, LF, ...) once decoded".into());
    }
    Ok(text)
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Request {
        match parse(text.as_bytes()) {
            Parsed::Complete(r, n) => {
                assert_eq!(n, text.len());
                r
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn status(text: &[u8]) -> u16 {
        match parse(text) {
            Parsed::Refused(r) => r.status,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_prometheus_scrape() {
        let r = ok(
            "GET /probe?module=imap&target=%5B%3A%3A1%5D%3A143 HTTP/1.1\r\nHost: x\r\n\
                    Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\
                    X-Prometheus-Scrape-Timeout-Seconds: 4.5\r\n\r\n",
        );
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path, "/probe");
        assert_eq!(r.param("target"), Some("[::1]:143"));
        assert_eq!(r.param("module"), Some("imap"));
        assert!(r.keep_alive && r.openmetrics);
        assert_eq!(r.scrape_timeout, Some(4.5));
    }

    #[test]
    fn connection_and_version() {
        assert!(!ok("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!ok("HEAD / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert_eq!(
            ok("GET /?a+b=c%20d HTTP/1.1\r\n\r\n").query,
            vec![("a b".into(), "c d".into())]
        );
    }

    #[test]
    fn incomplete_then_too_long() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Parsed::Incomplete);
        let mut long = b"GET /".to_vec();
        long.resize(MAX_HEAD, b'a');
        assert_eq!(status(&long), 431);
    }

    #[test]
    fn refusals() {
        assert_eq!(status(b"POST / HTTP/1.1\r\n\r\n"), 405);
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"GET  / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET x HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\0 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\n\r\n"), 400);
        assert_eq!(status(b"GET /?a=%0d%0aX HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /?a=%00 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /?a=%zz HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /?a=%4 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /?a=%ff HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET /?a=1&a=2 HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n folded\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"), 400);
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"GET / HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: -1\r\n\r\n"),
            400
        );
        // A bare CR right before the blank line (found by fuzzing: it
        // was accepted whole and refused when it came byte by byte).
        assert_eq!(status(b"GET / HTTP/1.1\r\nA: b\r\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\r\n\r\n"), 400);
        // Refused before the head is complete.
        assert_eq!(status(b"GET /\0"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\rX"), 400);
    }
}
