// Scripted IMAP server for the integration tests: accepts ONE connection on a
// loopback address and plays a list of `Step`s against it in a thread,
// recording every byte the client sent. Every socket operation has a timeout
// and the thread never outlives SERVER_DEADLINE, so a test cannot hang on it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::certs::{Identity, tls_acceptor};
use super::escape;

/// Longest any single read, write or TLS handshake may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The server thread gives up (recording an error) this long after `start`.
pub const SERVER_DEADLINE: Duration = Duration::from_secs(30);
/// After the script ends (or `Close`), how long to wait for the client's EOF.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Read timeout while `Hold`ing or draining (both watch for `finish()`).
const POLL: Duration = Duration::from_millis(50);
/// After finish(): a read that waits this long has collected what arrived.
const SETTLE: Duration = Duration::from_millis(20);
/// How long `ExpectAlone` watches for bytes pipelined behind its line: a
/// client writes a pipelined pair in one write, so they arrive together.
const ALONE_WAIT: Duration = Duration::from_millis(150);
/// An `Expect` line longer than this is an error rather than a memory hog.
const MAX_LINE: usize = 1 << 20;

/// How the connection starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Plain,
    /// Implicit TLS: the handshake runs right after accept, before step 0.
    Tls(Identity),
}

/// One thing the server does. See the module docs in `mod.rs` for details.
#[derive(Clone, Debug)]
pub enum Step {
    /// Text sent as-is after replacing every "{tag}" with the last tag read
    /// from the client (an error if none was read yet), "{prevtag}" with the
    /// one before it, "{prevtag2}" with the one before that, and so on up
    /// to "{prevtag5}" (for answering pipelined commands); one write.
    Send(String),
    /// Raw bytes, no substitution; one write.
    SendBytes(Vec<u8>),
    /// Like `Send`, but written N bytes at a time, flush + 5 ms sleep between.
    SendSplit(String, usize),
    /// Read one CRLF-terminated line. Its first space-separated token is the
    /// tag (remembered for "{tag}"); the rest must match the glob pattern
    /// ('*' = any run of bytes, anchored both ends, case-sensitive).
    /// Exception: a line read right after `ExpectBytes` continues the same
    /// command, so it has no tag and the pattern matches the whole line
    /// (e.g. `Expect("")` for the bare CRLF that ends `LOGIN a {5}\r\nhello\r\n`).
    /// A line ending in a bare LF is an error.
    Expect(String),
    /// Like `Expect`, for a line that came in the same write as the line
    /// before it (a pipelined batch): it must be complete among the bytes
    /// already read, without waiting for more.
    ExpectQueued(String),
    /// Like `Expect`, for a line nothing may be pipelined behind (LOGIN,
    /// AUTHENTICATE). Like Courier's login process, which hands the
    /// connection to a new process after a successful login, the server
    /// then drops whatever else the client sent: bytes already there or
    /// arriving within `ALONE_WAIT`. Dropping anything is an error.
    ExpectAlone(String),
    /// Read exactly n raw bytes (a literal's payload); kept in `ServerLog::literals`.
    ExpectBytes(usize),
    /// Server side of a TLS handshake on this connection, now. Bytes the
    /// client sent before the handshake that no step consumed are an error.
    StartTls(Identity),
    Sleep(Duration),
    /// Turns Nagle's algorithm on for the rest of the connection (the
    /// server starts with it off), as Cyrus and Courier run: a small write
    /// then waits until the client has acknowledged the previous one.
    Nagle,
    /// One byte at a time with this interval; ends the step quietly when the
    /// client goes away (an error if the harness deadline hits first).
    Drip(Vec<u8>, Duration),
    /// Up to n copies of the byte in 16 KiB writes; ends the step quietly
    /// when the client closes. A client that stops reading but keeps the
    /// connection open makes a write time out: that is an error.
    Flood(u8, usize),
    /// The client must close now (EOF or reset within IO_TIMEOUT).
    ExpectEof,
    /// Close the connection: TLS close_notify (if TLS), FIN, then wait up to
    /// 3 s for the client's EOF. Any later I/O step is an error.
    Close,
    /// Keep the connection open, reading and discarding (still recorded in
    /// `received`) until the client closes, `finish()` is called, or the
    /// harness deadline hits (none of which is an error).
    Hold,
}

/// What happened on the connection.
#[derive(Clone, Debug, Default)]
pub struct ServerLog {
    /// Every byte the client sent (after TLS: decrypted), in order.
    pub received: Vec<u8>,
    /// Each line read by `Expect`, lossy UTF-8 without CRLF, tags included
    /// (including a line that failed to match).
    pub lines: Vec<String>,
    /// Each payload read by `ExpectBytes`.
    pub literals: Vec<Vec<u8>>,
    /// Script mismatches and I/O errors; empty when the script ran as written.
    pub errors: Vec<String>,
    /// Informational remarks that are not errors (client went away during
    /// Flood/Drip, TLS closed without close_notify, Hold hit the deadline...).
    pub notes: Vec<String>,
    /// Number of TLS handshakes completed (implicit TLS and StartTls).
    pub tls_handshakes: usize,
    /// Every step ran.
    pub completed: bool,
}

impl ServerLog {
    /// Panics with the errors, lines and received bytes (escaped) unless
    /// the whole script ran without error.
    pub fn assert_ok(&self) {
        if self.completed && self.errors.is_empty() {
            return;
        }
        panic!(
            "scripted server did not run its script cleanly\n{}",
            self.report()
        );
    }

    /// `received` as lossy UTF-8.
    pub fn received_text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// A multi-line human-readable dump, used by `assert_ok`.
    pub fn report(&self) -> String {
        const MAX: usize = 64 * 1024;
        let shown = &self.received[..self.received.len().min(MAX)];
        let more = if self.received.len() > MAX {
            format!(" ... ({} more bytes)", self.received.len() - MAX)
        } else {
            String::new()
        };
        format!(
            "completed: {}\nerrors:\n  {}\nnotes:\n  {}\nlines:\n  {}\nreceived ({} bytes): {}{more}",
            self.completed,
            self.errors.join("\n  "),
            self.notes.join("\n  "),
            self.lines.join("\n  "),
            self.received.len(),
            escape(shown),
        )
    }
}

/// A server running a script on one connection in a background thread.
pub struct ScriptedServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<ServerLog>>,
}

impl ScriptedServer {
    /// Listens on 127.0.0.1 on a free port.
    pub fn start(mode: Mode, script: Vec<Step>) -> ScriptedServer {
        ScriptedServer::start_on("127.0.0.1:0", mode, script)
    }

    /// Listens on `addr`, an IP literal on loopback such as "[::1]:0".
    pub fn start_on(addr: &str, mode: Mode, script: Vec<Step>) -> ScriptedServer {
        ScriptedServer::start_sequence(addr, mode, vec![script])
    }

    /// Listens on `addr` for one connection per script, one after another
    /// (`--repeat`), each playing its script.
    pub fn start_sequence(addr: &str, mode: Mode, scripts: Vec<Vec<Step>>) -> ScriptedServer {
        let sa: SocketAddr = addr
            .parse()
            .unwrap_or_else(|e| panic!("ScriptedServer address {addr:?}: {e}"));
        assert!(sa.ip().is_loopback(), "tests listen on loopback only: {sa}");

        // Build every acceptor the script needs here, on the test thread, so
        // certificate generation neither counts against the server's
        // deadline nor turns a PKI problem into a vague thread panic.
        let mut acceptors: Vec<(Identity, native_tls::TlsAcceptor)> = Vec::new();
        let mut need = |id: Identity| {
            if !acceptors.iter().any(|(i, _)| *i == id) {
                acceptors.push((id, tls_acceptor(id)));
            }
        };
        if let Mode::Tls(id) = mode {
            need(id);
        }
        for step in scripts.iter().flatten() {
            if let Step::StartTls(id) = step {
                need(*id);
            }
        }

        let listener = TcpListener::bind(sa)
            .unwrap_or_else(|e| panic!("binding scripted server on {sa}: {e}"));
        let addr = listener.local_addr().expect("local_addr");
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + SERVER_DEADLINE;
        let stop2 = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name(format!("scripted-imap-{}", addr.port()))
            .spawn(move || {
                let mut s = Session {
                    conn: None,
                    pending: Vec::new(),
                    tag: None,
                    prev_tag: None,
                    prev_tag2: None,
                    tags: Vec::new(),
                    after_literal: false,
                    deadline,
                    stop: stop2,
                    acceptors,
                    log: ServerLog::default(),
                };
                s.serve(listener, mode, scripts);
                s.log
            })
            .expect("spawning the scripted server thread");
        ScriptedServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops waiting for a connection / ends `Hold` and draining, then joins
    /// the thread (bounded by SERVER_DEADLINE) and returns what happened.
    pub fn finish(mut self) -> ServerLog {
        self.stop.store(true, Ordering::SeqCst);
        let handle = self.thread.take().expect("finish called once");
        match handle.join() {
            Ok(log) => log,
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                ServerLog {
                    errors: vec![format!("scripted server thread panicked: {msg}")],
                    ..ServerLog::default()
                }
            }
        }
    }
}

impl Drop for ScriptedServer {
    // Not joined here: a failing test must not wait for the thread; the
    // thread notices the flag (or its deadline) and ends on its own.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Glob match used by `Step::Expect`: '*' matches any run of bytes
/// (including none), every other byte matches itself; anchored at both ends.
pub fn glob_match(pattern: &str, text: &[u8]) -> bool {
    let p = pattern.as_bytes();
    let (mut pi, mut ti) = (0, 0);
    // Position of the last '*' seen and the text index it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < text.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == text[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<native_tls::TlsStream<TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The peer closed or reset the connection (plain or TLS).
fn is_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    ) || is_tls_unexpected_eof(e)
}

/// OpenSSL 3 reports a TCP close without close_notify as an error.
fn is_tls_unexpected_eof(e: &io::Error) -> bool {
    e.to_string()
        .to_ascii_lowercase()
        .contains("unexpected eof")
}

fn short(step: &Step) -> String {
    let s = format!("{step:?}");
    if s.len() > 160 {
        let mut end = 160;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

struct Session {
    conn: Option<Conn>,
    /// Bytes read from the client that no step consumed yet.
    pending: Vec<u8>,
    tag: Option<String>,
    prev_tag: Option<String>,
    /// The tag before `prev_tag`, for "{prevtag2}".
    prev_tag2: Option<String>,
    /// Every tag read, in order, for "{prevtag3}" to "{prevtag5}" (the
    /// answers to a pipelined batch).
    tags: Vec<String>,
    after_literal: bool,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    acceptors: Vec<(Identity, native_tls::TlsAcceptor)>,
    log: ServerLog,
}

impl Session {
    /// Plays `scripts` on as many connections, one after another; a
    /// connection beyond the last script is refused.
    fn serve(&mut self, listener: TcpListener, mode: Mode, scripts: Vec<Vec<Step>>) {
        let count = scripts.len();
        let mut listener = Some(listener);
        for (n, script) in scripts.iter().enumerate() {
            let which = if count > 1 {
                format!("connection {}: ", n + 1)
            } else {
                String::new()
            };
            let accepted = match &listener {
                Some(l) => self.accept(l),
                None => Err("the listener is closed".into()),
            };
            let stream = match accepted {
                Ok(s) => s,
                Err(e) => {
                    self.log.errors.push(format!("{which}{e}"));
                    return;
                }
            };
            if n + 1 == count {
                listener = None;
            }
            self.pending.clear();
            (self.tag, self.prev_tag, self.prev_tag2) = (None, None, None);
            self.after_literal = false;
            if let Err(e) = self.serve_one(stream, mode, script) {
                self.log.errors.push(format!("{which}{e}"));
                self.abort();
                return;
            }
            self.close_gracefully();
        }
        self.log.completed = true;
    }

    /// One connection's script; Err says where it went wrong.
    fn serve_one(&mut self, stream: TcpStream, mode: Mode, script: &[Step]) -> Result<(), String> {
        let _ = stream.set_nodelay(true);
        stream
            .set_nonblocking(false)
            .map_err(|e| format!("set_nonblocking: {e}"))?;
        self.conn = Some(Conn::Plain(stream));
        if let Mode::Tls(id) = mode {
            self.start_tls(id)
                .map_err(|e| format!("implicit TLS: {e}"))?;
        }
        for (i, step) in script.iter().enumerate() {
            if Instant::now() >= self.deadline {
                return Err(format!(
                    "harness deadline ({SERVER_DEADLINE:?}) reached before step {i} {}",
                    short(step)
                ));
            }
            self.step(step)
                .map_err(|e| format!("step {i} {}: {e}", short(step)))?;
        }
        Ok(())
    }

    fn accept(&self, listener: &TcpListener) -> Result<TcpStream, String> {
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("listener set_nonblocking: {e}"))?;
        loop {
            // Read the flag before trying: a client that connected before
            // finish() is then always picked up by this last attempt.
            let stopping = self.stop.load(Ordering::SeqCst);
            match listener.accept() {
                Ok((s, _)) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("accept: {e}")),
            }
            if stopping {
                return Err("no client connected before finish()".into());
            }
            if Instant::now() >= self.deadline {
                return Err(format!("no client connected within {SERVER_DEADLINE:?}"));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// `max` capped by the time left before the deadline.
    fn op_timeout(&self, max: Duration) -> Result<Duration, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) {
            return Err(format!("harness deadline ({SERVER_DEADLINE:?}) reached"));
        }
        Ok(left.min(max))
    }

    fn conn(&mut self) -> Result<&mut Conn, String> {
        self.conn
            .as_mut()
            .ok_or_else(|| "connection already closed by the script".to_string())
    }

    /// One read of up to 16 KiB into `pending` (and `received`), waiting at
    /// most `max` (capped by the deadline).
    fn fill(&mut self, max: Duration) -> Result<usize, FillError> {
        let t = self.op_timeout(max).map_err(FillError::Harness)?;
        let conn = self.conn().map_err(FillError::Harness)?;
        conn.tcp()
            .set_read_timeout(Some(t))
            .map_err(|e| FillError::Harness(format!("set_read_timeout: {e}")))?;
        let mut buf = [0u8; 16 * 1024];
        let n = conn.read(&mut buf).map_err(FillError::Io)?;
        self.pending.extend_from_slice(&buf[..n]);
        self.log.received.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let t = self
            .op_timeout(IO_TIMEOUT)
            .map_err(|e| io::Error::new(io::ErrorKind::TimedOut, e))?;
        let conn = self
            .conn()
            .map_err(|e| io::Error::new(io::ErrorKind::NotConnected, e))?;
        conn.tcp().set_write_timeout(Some(t))?;
        conn.write_all(data)?;
        conn.flush()
    }

    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut text = text.to_string();
        let back = |n: usize| {
            self.tags
                .len()
                .checked_sub(n + 1)
                .and_then(|i| self.tags.get(i))
        };
        for (mark, value) in [
            ("{prevtag5}", back(5)),
            ("{prevtag4}", back(4)),
            ("{prevtag3}", back(3)),
            ("{prevtag2}", self.prev_tag2.as_ref()),
            ("{prevtag}", self.prev_tag.as_ref()),
            ("{tag}", self.tag.as_ref()),
        ] {
            if !text.contains(mark) {
                continue;
            }
            match value {
                Some(tag) => text = text.replace(mark, tag),
                None => {
                    return Err(format!(
                        "\"{mark}\" used before enough tagged lines were read"
                    ));
                }
            }
        }
        Ok(text)
    }

    fn step(&mut self, step: &Step) -> Result<(), String> {
        match step {
            Step::Send(text) => {
                let text = self.substitute(text)?;
                self.write_all(text.as_bytes())
                    .map_err(|e| format!("write failed: {e}"))
            }
            Step::SendBytes(bytes) => self
                .write_all(bytes)
                .map_err(|e| format!("write failed: {e}")),
            Step::SendSplit(text, n) => {
                if *n == 0 {
                    return Err("chunk size 0".into());
                }
                let text = self.substitute(text)?;
                for (i, chunk) in text.as_bytes().chunks(*n).enumerate() {
                    if i > 0 {
                        thread::sleep(Duration::from_millis(5));
                    }
                    self.write_all(chunk)
                        .map_err(|e| format!("write failed at chunk {i}: {e}"))?;
                }
                Ok(())
            }
            Step::Expect(pattern) => self.expect(pattern),
            Step::ExpectQueued(pattern) => {
                if !self.pending.contains(&b'\n') {
                    return Err(format!(
                        "{pattern:?} did not come in the same write as the line before it: no complete line was pending (\"{}\")",
                        escape(&self.pending)
                    ));
                }
                self.expect(pattern)
            }
            Step::ExpectAlone(pattern) => {
                self.expect(pattern)?;
                self.drop_pipelined()
            }
            Step::ExpectBytes(n) => self.expect_bytes(*n),
            Step::StartTls(id) => {
                if !self.pending.is_empty() {
                    return Err(format!(
                        "client sent {} byte(s) that precede the TLS handshake: {}",
                        self.pending.len(),
                        escape(&self.pending)
                    ));
                }
                self.start_tls(*id)
            }
            Step::Nagle => self
                .conn()?
                .tcp()
                .set_nodelay(false)
                .map_err(|e| format!("set_nodelay(false): {e}")),
            Step::Sleep(d) => {
                let left = self.deadline.saturating_duration_since(Instant::now());
                thread::sleep((*d).min(left));
                Ok(())
            }
            Step::Drip(bytes, interval) => {
                for (i, b) in bytes.iter().enumerate() {
                    if i > 0 {
                        let left = self.deadline.saturating_duration_since(Instant::now());
                        thread::sleep((*interval).min(left));
                    }
                    if Instant::now() >= self.deadline {
                        return Err(format!(
                            "harness deadline reached after {i} of {} bytes; the client is still connected",
                            bytes.len()
                        ));
                    }
                    match self.write_all(&[*b]) {
                        Ok(()) => {}
                        Err(e) if is_gone(&e) => {
                            self.log.notes.push(format!(
                                "Drip: client went away after {i} of {} bytes ({e})",
                                bytes.len()
                            ));
                            return Ok(());
                        }
                        Err(e) => return Err(format!("write failed after {i} bytes: {e}")),
                    }
                }
                Ok(())
            }
            Step::Flood(byte, n) => {
                let chunk = vec![*byte; 16 * 1024];
                let mut sent = 0usize;
                while sent < *n {
                    let k = chunk.len().min(*n - sent);
                    match self.write_all(&chunk[..k]) {
                        Ok(()) => sent += k,
                        Err(e) if is_gone(&e) => {
                            self.log.notes.push(format!(
                                "Flood: client went away after about {sent} of {n} bytes ({e})"
                            ));
                            return Ok(());
                        }
                        Err(e) if is_timeout(&e) => {
                            return Err(format!(
                                "client stopped reading but kept the connection open (after about {sent} bytes): {e}"
                            ));
                        }
                        Err(e) => return Err(format!("write failed after {sent} bytes: {e}")),
                    }
                }
                Ok(())
            }
            Step::ExpectEof => self.expect_eof(),
            Step::Close => {
                self.conn()?;
                self.close_gracefully();
                Ok(())
            }
            Step::Hold => self.hold(),
        }
    }

    fn read_line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                return Ok(self.pending.drain(..=pos).collect());
            }
            if self.pending.len() > MAX_LINE {
                return Err(format!(
                    "no LF in the first {} bytes of a line: {}...",
                    self.pending.len(),
                    escape(&self.pending[..200])
                ));
            }
            match self.fill(IO_TIMEOUT) {
                Ok(0) => {
                    return Err(format!(
                        "client closed the connection (unterminated data: \"{}\")",
                        escape(&self.pending)
                    ));
                }
                Ok(_) => {}
                Err(FillError::Io(e)) if is_timeout(&e) => {
                    return Err(format!(
                        "timed out waiting for a line (unterminated data: \"{}\")",
                        escape(&self.pending)
                    ));
                }
                Err(FillError::Io(e)) if is_gone(&e) => {
                    return Err(format!(
                        "client closed the connection: {e} (unterminated data: \"{}\")",
                        escape(&self.pending)
                    ));
                }
                Err(FillError::Io(e)) => return Err(format!("read error: {e}")),
                Err(FillError::Harness(e)) => return Err(e),
            }
        }
    }

    fn expect(&mut self, pattern: &str) -> Result<(), String> {
        let raw = self.read_line()?;
        let body = raw
            .strip_suffix(b"\r\n")
            .or_else(|| raw.strip_suffix(b"\n"))
            .unwrap_or(&raw);
        self.log
            .lines
            .push(String::from_utf8_lossy(body).into_owned());
        if !raw.ends_with(b"\r\n") {
            return Err(format!(
                "line ends in a bare LF, not CRLF: \"{}\"",
                escape(&raw)
            ));
        }
        let rest = if std::mem::take(&mut self.after_literal) {
            body
        } else {
            let (tag, rest) = match body.iter().position(|&b| b == b' ') {
                Some(sp) => (&body[..sp], &body[sp + 1..]),
                None => (body, &b""[..]),
            };
            self.prev_tag2 = self.prev_tag.take();
            self.prev_tag = self.tag.take();
            self.tag = Some(String::from_utf8_lossy(tag).into_owned());
            self.tags.push(String::from_utf8_lossy(tag).into_owned());
            rest
        };
        if glob_match(pattern, rest) {
            Ok(())
        } else {
            Err(format!(
                "line does not match {pattern:?}: \"{}\"",
                escape(&raw)
            ))
        }
    }

    /// Drops what the client sent behind the line just read (see
    /// `Step::ExpectAlone`); an error when there was anything.
    fn drop_pipelined(&mut self) -> Result<(), String> {
        let until = Instant::now() + ALONE_WAIT;
        while self.pending.is_empty() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            match self.fill(left) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(FillError::Io(e)) if is_timeout(&e) => return Ok(()),
                Err(FillError::Io(e)) => return Err(format!("read error: {e}")),
                Err(FillError::Harness(e)) => return Err(e),
            }
        }
        let dropped: Vec<u8> = std::mem::take(&mut self.pending);
        Err(format!(
            "the client pipelined {} byte(s) behind a line that must go alone; a server that hands the connection on after login loses them: \"{}\"",
            dropped.len(),
            escape(&dropped)
        ))
    }

    fn expect_bytes(&mut self, n: usize) -> Result<(), String> {
        while self.pending.len() < n {
            let have = self.pending.len();
            match self.fill(IO_TIMEOUT) {
                Ok(0) => {
                    return Err(format!(
                        "client closed the connection after {have} of {n} literal bytes"
                    ));
                }
                Ok(_) => {}
                Err(FillError::Io(e)) if is_timeout(&e) => {
                    return Err(format!("timed out after {have} of {n} literal bytes"));
                }
                Err(FillError::Io(e)) => {
                    return Err(format!("read error after {have} of {n} literal bytes: {e}"));
                }
                Err(FillError::Harness(e)) => return Err(e),
            }
        }
        let lit: Vec<u8> = self.pending.drain(..n).collect();
        self.log.literals.push(lit);
        self.after_literal = true;
        Ok(())
    }

    fn expect_eof(&mut self) -> Result<(), String> {
        if !self.pending.is_empty() {
            return Err(format!(
                "client sent more data instead of closing: \"{}\"",
                escape(&self.pending)
            ));
        }
        match self.fill(IO_TIMEOUT) {
            Ok(0) => Ok(()),
            Ok(_) => Err(format!(
                "client sent more data instead of closing: \"{}\"",
                escape(&self.pending)
            )),
            Err(FillError::Io(e)) if is_timeout(&e) => Err(format!(
                "client did not close the connection within {IO_TIMEOUT:?}"
            )),
            Err(FillError::Io(e)) if is_gone(&e) => {
                self.log
                    .notes
                    .push(format!("client closed without a clean shutdown: {e}"));
                Ok(())
            }
            Err(FillError::Io(e)) => Err(format!("read error while waiting for EOF: {e}")),
            Err(FillError::Harness(e)) => Err(e),
        }
    }

    fn hold(&mut self) -> Result<(), String> {
        self.conn()?;
        loop {
            // After finish() only collect what has already arrived.
            let stopping = self.stop.load(Ordering::SeqCst);
            match self.fill(if stopping { SETTLE } else { POLL }) {
                Ok(0) => return Ok(()),
                Ok(_) => self.pending.clear(),
                Err(FillError::Io(e)) if is_timeout(&e) => {
                    if stopping {
                        self.log.notes.push("Hold ended by finish()".into());
                        return Ok(());
                    }
                }
                Err(FillError::Io(e)) if is_gone(&e) => return Ok(()),
                Err(FillError::Io(e)) => return Err(format!("read error: {e}")),
                Err(FillError::Harness(_)) if Instant::now() >= self.deadline => {
                    self.log
                        .notes
                        .push("Hold ended by the harness deadline".into());
                    return Ok(());
                }
                Err(FillError::Harness(e)) => return Err(e),
            }
        }
    }

    fn start_tls(&mut self, id: Identity) -> Result<(), String> {
        let tcp = match self.conn.take() {
            Some(Conn::Plain(tcp)) => tcp,
            Some(tls @ Conn::Tls(_)) => {
                self.conn = Some(tls);
                return Err("StartTls on a connection that is already TLS".into());
            }
            None => return Err("connection already closed by the script".into()),
        };
        let acceptor = self
            .acceptors
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| format!("no acceptor prepared for {id:?}"))?;
        let hs_deadline = Instant::now() + IO_TIMEOUT;
        let t = self.op_timeout(IO_TIMEOUT)?;
        tcp.set_read_timeout(Some(t))
            .and_then(|()| tcp.set_write_timeout(Some(t)))
            .map_err(|e| format!("setting timeouts: {e}"))?;
        let mut result = acceptor.accept(tcp);
        loop {
            match result {
                Ok(tls) => {
                    self.conn = Some(Conn::Tls(Box::new(tls)));
                    self.log.tls_handshakes += 1;
                    return Ok(());
                }
                Err(native_tls::HandshakeError::WouldBlock(mid)) => {
                    let now = Instant::now();
                    if now >= hs_deadline || now >= self.deadline {
                        return Err(format!("TLS handshake ({id:?}) timed out"));
                    }
                    result = mid.handshake();
                }
                Err(native_tls::HandshakeError::Failure(e)) => {
                    return Err(format!("TLS handshake ({id:?}) failed: {e}"));
                }
            }
        }
    }

    /// End of script or `Close`: close_notify, FIN, then read (and record)
    /// until the client's EOF, DRAIN_TIMEOUT, or finish().
    fn close_gracefully(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let _ = conn
            .tcp()
            .set_write_timeout(Some(Duration::from_millis(500)));
        if let Conn::Tls(tls) = &mut conn {
            let _ = tls.shutdown();
        }
        let _ = conn.tcp().shutdown(Shutdown::Write);
        let until = (Instant::now() + DRAIN_TIMEOUT).min(self.deadline);
        let mut buf = [0u8; 16 * 1024];
        loop {
            // After finish() only collect what has already arrived.
            let stopping = self.stop.load(Ordering::SeqCst);
            let _ = conn
                .tcp()
                .set_read_timeout(Some(if stopping { SETTLE } else { POLL }));
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.log.received.extend_from_slice(&buf[..n]);
                    if Instant::now() >= until {
                        break;
                    }
                }
                Err(e) if is_timeout(&e) => {
                    if stopping || Instant::now() >= until {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }

    /// After an error: drop the connection at once, no close_notify.
    fn abort(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.tcp().shutdown(Shutdown::Both);
        }
    }
}

enum FillError {
    Io(io::Error),
    Harness(String),
}
