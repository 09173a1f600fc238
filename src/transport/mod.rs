//! Transport: TCP, TLS and the one deadline.
//!
//! Every byte that crosses the network goes through [`Transport`], and every
//! read and write — including those OpenSSL does during a handshake — first
//! sets the socket timeout to what is left of the check's single deadline.
//! A server that drips one byte a second therefore runs into the deadline,
//! not into a per-read timeout that restarts with every byte. Name
//! resolution is in `resolve`; the race of a name's addresses to connect
//! in `connect`; where the system's CAs come from (the trust plan) in
//! `plan`; what TLS trusts, and the TLS context built from it, in `trust`;
//! the context builder and what a handshake negotiated in `tls`; the chain
//! as sent in `chain`.

mod bundle;
pub mod chain;
mod connect;
mod handshake;
mod old_tls;
pub mod plan;
mod resolve;
pub mod tls;
mod trust;

pub use chain::Chain;
pub use connect::{ATTEMPT_DELAY, Attempt, MAX_ADDRESSES, Outcome, interleave};
pub use handshake::{Cleartext, Handshake, TlsError, cleartext_in};
pub use old_tls::probe_old_version;
pub use plan::{CA_BUNDLE_FILES, CA_DIRS, PROBE_DIRS};
pub use resolve::{ConnectError, Family, resolve};
pub use tls::{Negotiated, TlsContext};
pub use trust::{
    PreparedTls, TlsSettings, TrustPlan, adopt_trust_plan, load_ca_file, read_bundle,
    trust_store_sources,
};

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::ssl::SslStream;

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

/// What a read says when a wait limit (not the deadline) ended it.
pub const WAIT_LIMIT_PASSED: &str = "the wait's limit passed";

/// A TCP stream whose every read and write is bounded by the deadline.
#[derive(Debug)]
pub struct TimedTcp {
    tcp: TcpStream,
    deadline: Deadline,
    /// During a TLS handshake: the first bytes the server sent.
    handshake_bytes: Option<Arc<Mutex<Vec<u8>>>>,
    /// A wait shorter than the deadline (see `Transport::set_wait_limit`).
    wait_limit: Option<Instant>,
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
            let mut left = self.deadline.remaining()?;
            if let Some(limit) = self.wait_limit {
                let until_limit = limit.saturating_duration_since(Instant::now());
                if until_limit < Duration::from_millis(1) {
                    // WouldBlock: TLS takes it as "try again later" and
                    // keeps the connection usable.
                    return Err(io::Error::new(io::ErrorKind::WouldBlock, WAIT_LIMIT_PASSED));
                }
                left = left.min(until_limit);
            }
            self.tcp.set_read_timeout(Some(left.min(WAKE)))?;
            match self.tcp.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Under a wait limit, the next round says which one passed.
                Err(e) if is_timeout(&e) && (left > WAKE || self.wait_limit.is_some()) => continue,
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
    Tls(Box<SslStream<TimedTcp>>),
    /// After a failed handshake the stream is gone.
    Closed,
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
                wait_limit: None,
            }),
            peer: won.peer,
            deadline,
        };
        Ok((transport, won.others))
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Ends reads at `limit` (before the deadline) with a `WouldBlock`
    /// error saying [`WAIT_LIMIT_PASSED`], leaving the connection usable:
    /// for a wait that must leave time for what follows it (the round
    /// trip's IDLE). None lifts the limit.
    pub fn set_wait_limit(&mut self, limit: Option<Instant>) {
        match &mut self.stream {
            Stream::Plain(s) => s.wait_limit = limit,
            Stream::Tls(s) => s.get_mut().wait_limit = limit,
            Stream::Closed => {}
        }
    }

    /// The server's leaf certificate in DER, when TLS is active.
    pub fn peer_certificate_der(&self) -> Option<Vec<u8>> {
        match &self.stream {
            Stream::Tls(tls) => tls.ssl().peer_certificate().and_then(|c| c.to_der().ok()),
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
