//! The accept loop and each connection: a thread per connection (at most
//! `MAX_CONNECTIONS`), optional TLS, request heads read within their time
//! limits, keep-alive, one write per answer. The loop wakes every `POLL`
//! to look at the signal flags: stop (exit 0 once probes have ended, or
//! after `STOP_GRACE`) and reload.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use openssl::ssl::SslAcceptor;

use super::State;
use super::http::{self, Method, Parsed};
use super::metrics::Refused;
use super::respond::Answer;
use super::signals;

/// Most connections open at once: well above what Prometheus opens (one
/// per target and scrape in flight), so dozens of idle or slow clients do
/// not starve it; each costs a thread with a small stack.
pub const MAX_CONNECTIONS: usize = 256;

/// The whole request head must arrive within this, from its first byte
/// (and the whole TLS handshake within this from the connection), so a client
/// that trickles bytes (slowloris) cannot hold a connection for long.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle keep-alive connection waits for its next request.
/// Prometheus keeps its connection between scrapes; when the interval is
/// longer, it opens a new one, which costs less than idle threads.
pub const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(30);

/// The longest one answer's write may take: a client that does not read
/// cannot hold its thread.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the accept loop looks at the signal flags.
const POLL: Duration = Duration::from_millis(200);

/// After a stop signal, how long the process waits for probes in flight
/// (whose deadlines are already passed) before it exits anyway.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A connection thread's stack: it parses a head and renders an answer
/// (a probe runs on a thread of its own).
const CONNECTION_STACK: usize = 256 * 1024;

/// Serves until a stop signal; the exit status.
pub fn run(state: Arc<State>, listener: TcpListener, tls: Option<Arc<SslAcceptor>>) -> i32 {
    if let Err(e) = listener.set_nonblocking(true) {
        log::error!("cannot make the listener non-blocking: {e}");
        return 1;
    }
    loop {
        if signals::stop_requested() {
            return stop(&state);
        }
        if signals::take_reload() {
            state.reload();
        }
        if !wait_readable(&listener, POLL) {
            continue;
        }
        match listener.accept() {
            Ok((tcp, peer)) => {
                if state.stats.connections.load(Ordering::Acquire) >= MAX_CONNECTIONS {
                    state.stats.refused(Refused::TooManyConnections);
                    log::warn!(
                        "connection from {peer} closed: {MAX_CONNECTIONS} connections are open"
                    );
                    drop(tcp);
                    continue;
                }
                state.stats.connections.fetch_add(1, Ordering::AcqRel);
                let state2 = Arc::clone(&state);
                let tls = tls.clone();
                let spawned = std::thread::Builder::new()
                    .name("http".into())
                    .stack_size(CONNECTION_STACK)
                    .spawn(move || {
                        connection(&state2, tcp, tls.as_deref());
                        state2.stats.connections.fetch_sub(1, Ordering::AcqRel);
                    });
                if let Err(e) = spawned {
                    state.stats.connections.fetch_sub(1, Ordering::AcqRel);
                    log::warn!("cannot start a connection thread: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                // Out of file descriptors, most likely: wait, then go on.
                log::warn!("accept: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn stop(state: &State) -> i32 {
    log::info!("stopping");
    let end = Instant::now() + STOP_GRACE;
    while state.stats.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    0
}

/// Waits up to `timeout` for a connection to accept.
fn wait_readable(listener: &TcpListener, timeout: Duration) -> bool {
    #[repr(C)]
    struct PollFd {
        fd: i32,
        events: i16,
        revents: i16,
    }
    unsafe extern "C" {
        fn poll(fds: *mut PollFd, nfds: u64, timeout: i32) -> i32;
    }
    const POLLIN: i16 = 1;
    let mut fd = PollFd {
        fd: listener.as_raw_fd(),
        events: POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; a signal makes poll return -1 (EINTR),
    // which is "not readable" and the loop looks at the flags.
    let n = unsafe { poll(&mut fd, 1, timeout.as_millis() as i32) };
    n > 0
}

/// One connection, until it closes, times out or asks to close.
fn connection(state: &Arc<State>, tcp: TcpStream, tls: Option<&SslAcceptor>) {
    let _ = tcp.set_nonblocking(false);
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_write_timeout(Some(WRITE_TIMEOUT));
    let Ok(control) = tcp.try_clone() else {
        return;
    };
    match tls {
        None => requests(state, tcp, &control),
        Some(acceptor) => {
            let bounded = Bounded {
                tcp,
                until: Some(Instant::now() + HEAD_TIMEOUT),
            };
            match acceptor.accept(bounded) {
                Ok(mut stream) => {
                    // From here on the request loop sets the timeouts.
                    stream.get_mut().until = None;
                    requests(state, stream, &control);
                }
                Err(e) => log::debug!("TLS handshake failed: {e}"),
            }
        }
    }
}

/// The TCP stream under TLS: while `until` is set (the handshake), every
/// read and write ends by then, so a client that trickles its handshake
/// cannot hold the connection longer than a slow request head.
#[derive(Debug)]
struct Bounded {
    tcp: TcpStream,
    until: Option<Instant>,
}

impl Bounded {
    fn left(&self) -> io::Result<Option<Duration>> {
        match self.until {
            None => Ok(None),
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left < Duration::from_millis(1) {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the TLS handshake took too long",
                    ))
                } else {
                    Ok(Some(left))
                }
            }
        }
    }
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.tcp.set_read_timeout(Some(left))?;
        }
        self.tcp.read(buf)
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(left) = self.left()? {
            self.tcp.set_write_timeout(Some(left.min(WRITE_TIMEOUT)))?;
        }
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Reads request after request from `stream`; `control` is the same
/// socket, for its timeouts.
fn requests<S: Read + Write>(state: &Arc<State>, mut stream: S, control: &TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let idle_end = Instant::now() + KEEP_ALIVE_IDLE;
        // Pipelined bytes already here start the head's clock.
        let mut head_end = (!buf.is_empty()).then(|| Instant::now() + HEAD_TIMEOUT);
        let (request, used) = loop {
            match http::parse(&buf) {
                Parsed::Complete(req, used) => break (req, used),
                Parsed::Refused(r) => {
                    state.stats.refused(Refused::BadRequest);
                    let mut answer = Answer::error(r.status, &r.reason);
                    answer.close = true;
                    if r.status == 405 {
                        answer.headers.push("Allow: GET, HEAD".into());
                    }
                    let _ = stream.write_all(&answer.to_bytes(Method::Get, false));
                    let _ = stream.flush();
                    return;
                }
                Parsed::Incomplete => {}
            }
            let end = head_end.unwrap_or(idle_end);
            let left = end.saturating_duration_since(Instant::now());
            if left < Duration::from_millis(1) || signals::stop_requested() {
                if head_end.is_some() {
                    state.stats.refused(Refused::HeadTimeout);
                    let answer = Answer::error(408, "the request head did not arrive within 10 s");
                    let _ = stream.write_all(&answer.to_bytes(Method::Get, false));
                }
                return;
            }
            // Short slices, so a stop signal closes idle connections too.
            let _ = control.set_read_timeout(Some(left.min(Duration::from_secs(1))));
            match stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    if buf.is_empty() {
                        head_end = Some(Instant::now() + HEAD_TIMEOUT);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return,
            }
        };
        buf.drain(..used);
        let answer = super::handle(state, &request);
        let keep_alive = request.keep_alive && !answer.close && !signals::stop_requested();
        if stream
            .write_all(&answer.to_bytes(request.method, keep_alive))
            .is_err()
            || stream.flush().is_err()
            || !keep_alive
        {
            return;
        }
    }
}
