//! Transport: TCP, TLS and the one deadline.
//!
//! Every byte that crosses the network goes through [`Transport`], and every
//! read and write — including those OpenSSL does during a handshake — first
//! sets the socket timeout to what is left of the check's single deadline.
//! A server that drips one byte a second therefore runs into the deadline,
//! not into a per-read timeout that restarts with every byte. Name
//! resolution is in `resolve`; the race of a name's addresses to connect
//! in `connect`; where the system's CAs come from (the trust plan) in
//! `plan`; what TLS trusts, and the TLS context built from it, in `trust`.

mod bundle;
mod connect;
pub mod plan;
mod resolve;
mod trust;

pub use connect::{ATTEMPT_DELAY, Attempt, MAX_ADDRESSES, Outcome, interleave};
pub use plan::{CA_BUNDLE_FILES, CA_DIRS, PROBE_DIRS};
pub use resolve::{ConnectError, Family, resolve};
pub use trust::{
    PreparedTls, TlsSettings, TrustPlan, adopt_trust_plan, load_ca_file, read_bundle,
    trust_store_sources,
};

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use native_tls::{TlsConnector, TlsStream};

/// The check's one deadline: DNS, connect, TLS, every read and write.
/// It is also the run's one clock: what a run reports it took counts from
/// when its deadline started.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    end: Instant,
}

/// Set by Ctrl-C during `--repeat`: every deadline counts as passed, so
/// the run in progress ends within [`WAKE`] instead of at its deadline.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// How long a wait on the network goes before it looks at
/// [`INTERRUPTED`] again. Waking costs one more system call; a tenth of a
/// second is what a person pressing Ctrl-C does not notice.
pub const WAKE: Duration = Duration::from_millis(100);

/// Ends the run in progress (async-signal-safe: an atomic store).
pub fn interrupt() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether Ctrl-C ended the runs.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        let start = Instant::now();
        Deadline {
            start,
            end: start + budget,
        }
    }

    /// When the deadline started: when the run it bounds began.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Time left, or a `TimedOut` error once the deadline has passed (or
    /// Ctrl-C said to stop: `TimedOut`, not `Interrupted`, which std's
    /// `write_all` would retry forever).
    pub fn remaining(&self) -> io::Result<Duration> {
        if interrupted() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "stopped by Ctrl-C"));
        }
        let left = self.end.saturating_duration_since(Instant::now());
        // set_read_timeout rejects zero; below a millisecond is "passed".
        if left < Duration::from_millis(1) {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the check's deadline passed",
            ))
        } else {
            Ok(left)
        }
    }
}

/// Bytes of a TLS handshake's incoming data kept for the diagnosis: enough
/// for a server's cleartext line (Courier's `NO STARTTLS failed: ...`) sent
/// where a TLS record should be.
const HANDSHAKE_KEPT: usize = 512;

/// After a failed handshake whose bytes look like cleartext, how long to
/// wait for the rest of that line (OpenSSL stops reading after a record
/// header's 5 bytes; the server wrote the whole line at once).
const CLEARTEXT_REST_WAIT: Duration = Duration::from_millis(250);

/// A TCP stream whose every read and write is bounded by the deadline.
#[derive(Debug)]
pub struct TimedTcp {
    tcp: TcpStream,
    deadline: Deadline,
    /// During a TLS handshake: the first bytes the server sent.
    handshake_bytes: Option<Arc<Mutex<Vec<u8>>>>,
}

/// Asks Linux to acknowledge incoming data at once rather than delaying the
/// ACK by up to 40 ms. Servers that leave Nagle on (Cyrus, Courier) write
/// each response, the greeting and each TLS session ticket separately, and
/// hold the second write until the first is acknowledged: with a delayed
/// ACK every such pair costs 40 ms that the report would show as server
/// latency. Linux clears the flag by itself, so it is set again after
/// every read. Failure is harmless (only slower), hence ignored.
#[cfg(target_os = "linux")]
fn quick_ack(tcp: &TcpStream) {
    use std::os::fd::AsRawFd;
    unsafe extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            value: *const std::ffi::c_void,
            len: u32,
        ) -> i32;
    }
    // <netinet/in.h> and <netinet/tcp.h> on Linux.
    const IPPROTO_TCP: i32 = 6;
    const TCP_QUICKACK: i32 = 12;
    let on: i32 = 1;
    // SAFETY: the descriptor is open for as long as `tcp` lives, and the
    // value points at an i32 whose size is passed with it.
    unsafe {
        setsockopt(
            tcp.as_raw_fd(),
            IPPROTO_TCP,
            TCP_QUICKACK,
            (&raw const on).cast(),
            std::mem::size_of::<i32>() as u32,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn quick_ack(_tcp: &TcpStream) {}

/// An expired socket timeout (Linux says WouldBlock).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn timeout_kind(e: io::Error) -> io::Error {
    // Linux reports an expired SO_RCVTIMEO as WouldBlock; call it what it is.
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "the check's deadline passed")
    } else {
        e
    }
}

impl Read for TimedTcp {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A signal (Ctrl-C during --repeat) interrupts a socket call that
        // has a timeout even under SA_RESTART; such a read is simply
        // retried, against what is left of the deadline.
        // The wait wakes every WAKE to notice Ctrl-C during --repeat.
        let n = loop {
            let left = self.deadline.remaining()?;
            self.tcp.set_read_timeout(Some(left.min(WAKE)))?;
            match self.tcp.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) && left > WAKE => continue,
                other => break other.map_err(timeout_kind)?,
            }
        };
        quick_ack(&self.tcp);
        if let Some(kept) = &self.handshake_bytes
            && let Ok(mut kept) = kept.lock()
        {
            let room = HANDSHAKE_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        Ok(n)
    }
}

impl Write for TimedTcp {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let left = self.deadline.remaining()?;
            self.tcp.set_write_timeout(Some(left.min(WAKE)))?;
            match self.tcp.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) && left > WAKE => continue,
                other => return other.map_err(timeout_kind),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A short, admin-readable name for an I/O error.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        io::ErrorKind::ConnectionReset => "connection reset by the server".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}

enum Stream {
    Plain(TimedTcp),
    Tls(Box<TlsStream<TimedTcp>>),
    /// After a failed handshake the stream is gone.
    Closed,
}

/// What a server sent during a failed TLS handshake, seen as TLS records.
#[derive(Debug, PartialEq, Eq)]
pub enum Cleartext<'a> {
    /// Nothing at all.
    Nothing,
    /// Only complete TLS alert records (a close_notify, say).
    OnlyAlerts,
    /// After any complete alerts, bytes that are no TLS record: the start
    /// of a cleartext line (Courier's couriertls: a close_notify, then
    /// `NO STARTTLS failed: ...`).
    Text(&'a [u8]),
    /// TLS handshake data: a real TLS peer.
    Tls,
}

/// Reads `received` as TLS records: every record starts with a content
/// type (0x14 to 0x17), version 3.x and a two-byte length.
pub fn cleartext_in(received: &[u8]) -> Cleartext<'_> {
    let mut rest = received;
    let mut alerts = false;
    while let [kind @ 0x14..=0x17, 3, _, hi, lo, ..] = rest {
        let len = 5 + (usize::from(*hi) << 8 | usize::from(*lo));
        if *kind != 0x15 || rest.len() < len {
            return Cleartext::Tls;
        }
        rest = &rest[len..];
        alerts = true;
    }
    match rest.first() {
        None if alerts => Cleartext::OnlyAlerts,
        None => Cleartext::Nothing,
        Some(b) if b.is_ascii_graphic() || *b == b' ' => Cleartext::Text(rest),
        Some(_) => Cleartext::Tls,
    }
}

/// Why a TLS handshake failed.
#[derive(Debug)]
pub struct TlsError {
    pub message: String,
    pub timed_out: bool,
    /// The first bytes the server sent during the handshake (at most
    /// HANDSHAKE_KEPT): cleartext here means it never started TLS.
    pub received: Vec<u8>,
}

/// One connection to the server.
pub struct Transport {
    stream: Stream,
    pub peer: SocketAddr,
    pub deadline: Deadline,
}

impl Transport {
    /// Connects to the first of `addrs` that answers within the deadline
    /// (RFC 8305, see `connect`); also what became of the other addresses.
    pub fn connect(
        addrs: &[SocketAddr],
        deadline: Deadline,
    ) -> Result<(Transport, Vec<Attempt>), ConnectError> {
        let won = connect::race(addrs, deadline).map_err(ConnectError::Failed)?;
        let tcp = won.tcp;
        // Every command goes out in one write; without Nagle it leaves at
        // once instead of waiting for a delayed ACK.
        let _ = tcp.set_nodelay(true);
        quick_ack(&tcp);
        let transport = Transport {
            stream: Stream::Plain(TimedTcp {
                tcp,
                deadline,
                handshake_bytes: None,
            }),
            peer: won.peer,
            deadline,
        };
        Ok((transport, won.others))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Performs the client side of a TLS handshake (implicit TLS or after
    /// STARTTLS). `server_name` is used for SNI and verification.
    pub fn start_tls(
        &mut self,
        connector: &TlsConnector,
        server_name: &str,
    ) -> Result<(), TlsError> {
        let Stream::Plain(mut tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(TlsError {
                message: "TLS is already active or the connection is closed".into(),
                timed_out: false,
                received: Vec::new(),
            });
        };
        let kept = Arc::new(Mutex::new(Vec::new()));
        tcp.handshake_bytes = Some(Arc::clone(&kept));
        // A second handle, to read the rest of a cleartext line after a
        // failure (the stream itself is gone with the handshake's error).
        let spare = tcp.tcp.try_clone().ok();
        let result = connector.connect(server_name, tcp);
        let mut received = kept.lock().map(|k| k.clone()).unwrap_or_default();
        if result.is_err()
            && let Some(spare) = spare
        {
            self.finish_cleartext_line(spare, &mut received);
        }
        match result {
            Ok(mut tls) => {
                tls.get_mut().handshake_bytes = None;
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
            Err(native_tls::HandshakeError::Failure(e)) => {
                let message = e.to_string();
                let timed_out = self.deadline.remaining().is_err()
                    || message.contains("timed out")
                    || message.contains("Resource temporarily unavailable");
                Err(TlsError {
                    message,
                    timed_out,
                    received,
                })
            }
            Err(native_tls::HandshakeError::WouldBlock(_)) => Err(TlsError {
                message: "the TLS handshake did not finish before the deadline".into(),
                timed_out: true,
                received,
            }),
        }
    }

    /// Completes `received` up to the end of a cleartext line, when it
    /// holds (after any TLS alerts) the start of one or nothing yet,
    /// within the deadline and a short wait.
    fn finish_cleartext_line(&self, mut tcp: TcpStream, received: &mut Vec<u8>) {
        let unfinished = |r: &[u8]| match cleartext_in(r) {
            Cleartext::OnlyAlerts => true,
            Cleartext::Text(t) => !t.contains(&b'\n'),
            Cleartext::Nothing | Cleartext::Tls => false,
        };
        let Ok(left) = self.deadline.remaining() else {
            return;
        };
        let until = Instant::now() + left.min(CLEARTEXT_REST_WAIT);
        let mut chunk = [0u8; HANDSHAKE_KEPT];
        while unfinished(received) && received.len() < HANDSHAKE_KEPT {
            let wait = until.saturating_duration_since(Instant::now());
            if wait < Duration::from_millis(1) || tcp.set_read_timeout(Some(wait)).is_err() {
                return;
            }
            let room = HANDSHAKE_KEPT - received.len();
            match tcp.read(&mut chunk[..room]) {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// The server's leaf certificate in DER, when TLS is active.
    pub fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        match &self.stream {
            Stream::Tls(tls) => tls
                .peer_certificate()
                .ok()
                .flatten()
                .and_then(|c| c.to_der().ok()),
            _ => None,
        }
    }

    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.stream {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Closed => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection is closed",
            )),
        }
    }

    /// Writes all of `data`; a command is handed over in one call so it
    /// leaves in one segment (one TLS record).
    pub fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(data).and_then(|_| s.flush()),
            Stream::Tls(s) => s.write_all(data).and_then(|_| s.flush()),
            Stream::Closed => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection is closed",
            )),
        }
    }

    /// Closes the connection (TLS close_notify when possible).
    pub fn close(&mut self) {
        match std::mem::replace(&mut self.stream, Stream::Closed) {
            Stream::Plain(s) => {
                let _ = s.tcp.shutdown(Shutdown::Both);
            }
            Stream::Tls(mut s) => {
                let _ = s.shutdown();
                let _ = s.get_ref().tcp.shutdown(Shutdown::Both);
            }
            Stream::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_after_alerts_is_found_and_tls_is_not() {
        let close_notify = [0x15, 3, 3, 0, 2, 1, 0];
        let mut courier = close_notify.to_vec();
        courier.extend_from_slice(b"b NO STARTTLS failed: couriertls: x.pem: Permission denied\n");
        for (bytes, want) in [
            (&b""[..], Cleartext::Nothing),
            (&close_notify[..], Cleartext::OnlyAlerts),
            (&courier[..], Cleartext::Text(&courier[7..])),
            (
                b"* NO STARTTLS failed\r\n",
                Cleartext::Text(b"* NO STARTTLS failed\r\n"),
            ),
            // A ServerHello, and a record cut short: a TLS peer.
            (&[0x16, 3, 3, 0, 0x7a, 2, 0][..], Cleartext::Tls),
            (&[0x15, 3, 3, 0, 2, 1][..], Cleartext::Tls),
            (&[0x15, 3, 3, 0, 2, 1, 0, 0x80][..], Cleartext::Tls),
        ] {
            assert_eq!(cleartext_in(bytes), want, "{bytes:?}");
        }
    }
}
