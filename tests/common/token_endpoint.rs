// A scripted HTTPS OAuth token endpoint for the tests: listens on
// 127.0.0.1 with the test PKI's good certificate (names localhost), takes
// one connection per scripted `Answer`, reads each HTTP request whole
// (headers and a Content-Length body) and plays the answer. Every request
// is kept for the test to look at; no socket operation blocks longer than
// IO_TIMEOUT and the thread ends within SERVER_DEADLINE.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::certs::{Identity, tls_acceptor};
use super::server::{IO_TIMEOUT, SERVER_DEADLINE};

/// What the endpoint does once it has read a request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// These bytes in one write, then a clean TLS close.
    Bytes(Vec<u8>),
    /// Wait, then these bytes.
    Late(Duration, Vec<u8>),
    /// The bytes one at a time with this interval, until the client goes.
    Drip(Vec<u8>, Duration),
}

/// One request as received.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Request line and headers, CRLFs included.
    pub head: String,
    /// The body, as sent (form-encoded).
    pub body: String,
}

impl Request {
    /// The form's fields, decoded.
    pub fn form(&self) -> Vec<(String, String)> {
        self.body
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (form_decode(k), form_decode(v))
            })
            .collect()
    }

    /// The decoded value of form field `key`.
    pub fn field(&self, key: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// Undoes application/x-www-form-urlencoded (written here, not taken from
/// the code under test).
fn form_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).expect("ASCII hex");
                out.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("UTF-8 form value")
}

/// What the endpoint saw.
#[derive(Clone, Debug, Default)]
pub struct EndpointLog {
    pub requests: Vec<Request>,
    pub errors: Vec<String>,
}

/// The endpoint, running in a thread.
pub struct TokenEndpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<EndpointLog>>,
}

impl TokenEndpoint {
    /// Listens on 127.0.0.1; one connection per answer, in order.
    pub fn start(answers: Vec<Answer>) -> TokenEndpoint {
        let acceptor = tls_acceptor(Identity::Good);
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the token endpoint");
        let addr = listener.local_addr().expect("local_addr");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let started = Instant::now();
            let mut log = EndpointLog::default();
            for answer in answers {
                let tcp = loop {
                    match listener.accept() {
                        Ok((tcp, _)) => break Some(tcp),
                        Err(_) if stopping.load(Ordering::SeqCst) => break None,
                        Err(_) if started.elapsed() > SERVER_DEADLINE => break None,
                        Err(_) => thread::sleep(Duration::from_millis(5)),
                    }
                };
                let Some(tcp) = tcp else {
                    log.errors.push("no client connected".into());
                    break;
                };
                if let Err(e) = serve(&acceptor, tcp, &answer, &mut log) {
                    log.errors.push(e);
                }
            }
            log
        });
        TokenEndpoint {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `https://localhost:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port())
    }

    /// Stops waiting for connections and returns what was seen.
    pub fn finish(mut self) -> EndpointLog {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("token endpoint thread")
    }
}

fn serve(
    acceptor: &native_tls::TlsAcceptor,
    tcp: TcpStream,
    answer: &Answer,
    log: &mut EndpointLog,
) -> Result<(), String> {
    tcp.set_nonblocking(false).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(IO_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut tls = acceptor
        .accept(tcp)
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tls
            .read(&mut buf)
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 {
            return Err(format!(
                "the client closed mid-request: {:?}",
                String::from_utf8_lossy(&got)
            ));
        }
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).into_owned();
    let mut request = Request {
        head,
        body: String::new(),
    };
    let length: usize = request
        .header("Content-Length")
        .and_then(|l| l.parse().ok())
        .ok_or("the request has no Content-Length")?;
    while got.len() < head_end + length {
        let n = tls
            .read(&mut buf)
            .map_err(|e| format!("reading the body: {e}"))?;
        if n == 0 {
            return Err("the client closed inside the body".into());
        }
        got.extend_from_slice(&buf[..n]);
    }
    request.body = String::from_utf8_lossy(&got[head_end..]).into_owned();
    log.requests.push(request);
    // A client that stops reading early (an answer over its limits, whose
    // Content-Length or headers already said so) and closes is within its
    // rights: the rest of the answer then has nowhere to go.
    let written = |r: std::io::Result<()>| match r {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Ok(())
        }
        other => other.map_err(|e| format!("writing the answer: {e}")),
    };
    match answer {
        Answer::Bytes(bytes) => written(tls.write_all(bytes))?,
        Answer::Late(wait, bytes) => {
            thread::sleep(*wait);
            written(tls.write_all(bytes))?;
        }
        Answer::Drip(bytes, every) => {
            for b in bytes {
                if tls.write_all(&[*b]).and_then(|()| tls.flush()).is_err() {
                    return Ok(());
                }
                thread::sleep(*every);
            }
        }
    }
    let _ = tls.flush();
    let _ = tls.shutdown();
    Ok(())
}

/// An HTTP/1.1 answer with Content-Length.
pub fn http_answer(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nCache-Control: no-store\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A JSON answer with Content-Length.
pub fn json_answer(status: &str, body: &str) -> Vec<u8> {
    http_answer(status, "application/json; charset=utf-8", body)
}

/// A JSON answer in chunks of `size` bytes, with a trailer.
pub fn chunked_answer(status: &str, body: &str, size: usize) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(size) {
        out.extend_from_slice(format!("{:x};ext=1\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
    out
}

/// A JSON answer delimited by the close alone.
pub fn until_close_answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}"
    )
    .into_bytes()
}
