//! Transport: name resolution, TCP, TLS and the one deadline.
//!
//! Every byte that crosses the network goes through [`Transport`], and every
//! read and write — including those OpenSSL does during a handshake — first
//! sets the socket timeout to what is left of the check's single deadline.
//! A server that drips one byte a second therefore runs into the deadline,
//! not into a per-read timeout that restarts with every byte.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use native_tls::{Certificate, TlsConnector, TlsStream};

/// The check's one deadline: DNS, connect, TLS, every read and write.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    end: Instant,
}

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        Deadline {
            end: Instant::now() + budget,
        }
    }

    /// Time left, or a `TimedOut` error once the deadline has passed.
    pub fn remaining(&self) -> io::Result<Duration> {
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
        self.tcp
            .set_read_timeout(Some(self.deadline.remaining()?))?;
        let n = self.tcp.read(buf).map_err(timeout_kind)?;
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
        self.tcp
            .set_write_timeout(Some(self.deadline.remaining()?))?;
        self.tcp.write(buf).map_err(timeout_kind)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Address family restriction from `-4` / `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// Why no TCP connection could be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The name did not resolve (or resolved to nothing of the asked family).
    Resolve(String),
    /// Resolution did not finish before the deadline.
    ResolveTimeout,
    /// Every address failed; each with its error.
    Failed(Vec<(SocketAddr, io::Error)>),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve(msg) => write!(f, "cannot resolve the host name: {msg}"),
            ConnectError::ResolveTimeout => {
                write!(f, "name resolution did not finish before the deadline")
            }
            ConnectError::Failed(errors) => {
                let parts: Vec<String> = errors
                    .iter()
                    .map(|(a, e)| format!("{a}: {}", describe_io(e)))
                    .collect();
                write!(f, "{}", parts.join("; "))
            }
        }
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

/// Resolves `host` within the deadline. `getaddrinfo` cannot be given a
/// timeout, so it runs on a helper thread that we stop waiting for when the
/// deadline passes (the process ends soon after; the thread dies with it).
pub fn resolve(
    host: &str,
    port: u16,
    family: Family,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        let (tx, rx) = mpsc::channel();
        let name = host.to_string();
        std::thread::spawn(move || {
            let result = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(result);
        });
        let left = deadline
            .remaining()
            .map_err(|_| ConnectError::ResolveTimeout)?;
        match rx.recv_timeout(left) {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(e)) => return Err(ConnectError::Resolve(e.to_string())),
            Err(_) => return Err(ConnectError::ResolveTimeout),
        }
    };
    let wanted: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match family {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        })
        .collect();
    if wanted.is_empty() {
        let fam = match family {
            Family::V4 => "IPv4 ",
            Family::V6 => "IPv6 ",
            Family::Any => "",
        };
        return Err(ConnectError::Resolve(format!("{host} has no {fam}address")));
    }
    Ok(wanted)
}

/// TLS settings for one check.
pub struct TlsSettings {
    /// Extra trusted CAs (`--ca-file`), DER.
    pub extra_roots: Vec<Vec<u8>>,
    pub insecure: bool,
}

impl TlsSettings {
    fn connector(&self) -> Result<TlsConnector, native_tls::Error> {
        let mut builder = TlsConnector::builder();
        for der in &self.extra_roots {
            builder.add_root_certificate(Certificate::from_der(der)?);
        }
        if self.insecure {
            builder.danger_accept_invalid_certs(true);
            builder.danger_accept_invalid_hostnames(true);
        }
        builder.build()
    }

    /// Builds the TLS context on a helper thread. Loading the system CA
    /// bundle costs tens of milliseconds of CPU (OpenSSL 3 parses it twice
    /// through native-tls); done while DNS, connect and the cleartext steps
    /// wait for the network, that cost never shows up as server latency.
    pub fn prepare(self) -> PreparedTls {
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            let result = self
                .connector()
                .map_err(|e| format!("cannot set up TLS: {e}"));
            (result, started.elapsed())
        });
        PreparedTls {
            pending: Some(handle),
            ready: None,
        }
    }
}

type ConnectorJob = std::thread::JoinHandle<(Result<TlsConnector, String>, Duration)>;

/// A TLS context being built, or built.
pub struct PreparedTls {
    pending: Option<ConnectorJob>,
    ready: Option<Result<TlsConnector, String>>,
}

impl PreparedTls {
    /// Waits for the context; also says how long building it took.
    pub fn get(&mut self) -> (Result<&TlsConnector, String>, Option<Duration>) {
        let mut took = None;
        if let Some(job) = self.pending.take() {
            let (result, elapsed) = job.join().unwrap_or_else(|_| {
                (
                    Err("the TLS setup thread failed".to_string()),
                    Duration::ZERO,
                )
            });
            took = Some(elapsed);
            self.ready = Some(result);
        }
        match &self.ready {
            Some(Ok(c)) => (Ok(c), took),
            Some(Err(e)) => (Err(e.clone()), took),
            None => (Err("no TLS context".to_string()), took),
        }
    }
}

/// CA bundle files OpenSSL is pointed at on Linux, in the order native-tls
/// (through openssl-probe) tries them; the first that exists is loaded.
pub const CA_BUNDLE_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Gentoo
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL/CentOS 7+, Fedora
    "/etc/pki/tls/certs/ca-bundle.crt",   // RHEL 6, Fedora
    "/etc/ssl/ca-bundle.pem",             // openSUSE, SLES
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/ssl/cert.pem",                  // Alpine
    "/opt/etc/ssl/certs/ca-certificates.crt", // Entware
];

/// Hashed CA directories OpenSSL also searches.
pub const CA_DIRS: &[&str] = &["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// Where this host's trusted CAs come from: `SSL_CERT_FILE`/`SSL_CERT_DIR`
/// when set and present, the first bundle file found, and the CA dirs that
/// exist. Empty on a host with no CA store at all (a scratch container).
pub fn trust_store_sources() -> Vec<String> {
    let mut found = Vec::new();
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(p) = std::env::var_os(var).filter(|p| Path::new(p).exists() && p != "/dev/null")
        {
            found.push(format!("{} ({var})", Path::new(&p).display()));
        }
    }
    // SSL_CERT_FILE replaces the bundle file rather than adding to it.
    // (Also when it is our /dev/null: the bundle is then not loaded.)
    let env_file = std::env::var_os("SSL_CERT_FILE").is_some_and(|p| Path::new(&p).exists());
    if let Some(file) = CA_BUNDLE_FILES.iter().find(|f| Path::new(f).is_file())
        && !env_file
    {
        found.push((*file).to_string());
    }
    // A directory counts only if it holds hashed certificate links.
    for dir in CA_DIRS {
        if has_hashed_links(dir) && !found.iter().any(|f| f.starts_with(&format!("{dir} "))) {
            found.push(format!("{dir}/ (hashed, looked up on demand)"));
        }
    }
    found
}

/// Makes OpenSSL find system CAs on demand in a hashed CA directory
/// instead of parsing the whole bundle file (twice, through native-tls):
/// that parse is ~45 ms of CPU per run on OpenSSL 3.0, more than a whole
/// check against a local server. Done only when `SSL_CERT_FILE` is unset
/// and a directory of hashed links (what `update-ca-certificates` or
/// `c_rehash` maintain next to the bundle) exists; the set of trusted CAs
/// is the same, only the lookup is lazy.
///
/// # Safety
/// Changes the process environment: call it before any thread starts.
pub unsafe fn prefer_lazy_ca_lookup() -> bool {
    if std::env::var_os("SSL_CERT_FILE").is_some() {
        return false;
    }
    let hashed_dir = CA_DIRS.iter().any(|dir| has_hashed_links(dir));
    if hashed_dir {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::set_var("SSL_CERT_FILE", "/dev/null") };
    }
    hashed_dir
}

/// A directory with `<8 hex>.<n>` links, as OpenSSL's lookup by hash needs.
fn has_hashed_links(dir: &str) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.len() == 10
                    && name.as_bytes().get(8) == Some(&b'.')
                    && name.bytes().take(8).all(|b| b.is_ascii_hexdigit())
            })
        })
        .unwrap_or(false)
}

/// Reads every certificate in a PEM file (a bundle may hold several) and
/// returns them as DER. Decoded and checked with our own base64 and DER
/// readers, not OpenSSL: this runs before connecting, and initialising
/// OpenSSL here would delay the first packet; the TLS context is built on
/// a helper thread instead (see [`TlsSettings::prepare`]).
pub fn load_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest: &[u8] = &text;
    while let Some(start) = find(rest, BEGIN) {
        let after = &rest[start + BEGIN.len()..];
        let Some(end) = find(after, END) else { break };
        let n = certs.len() + 1;
        let b64: Vec<u8> = after[..end]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        let der = crate::base64::decode(&b64)
            .map_err(|e| format!("{}: certificate {n} is not valid PEM: {e}", path.display()))?;
        crate::der::parse_certificate(&der).map_err(|e| {
            format!(
                "{}: certificate {n} is not a valid X.509 certificate: {e}",
                path.display()
            )
        })?;
        certs.push(der);
        rest = &after[end + END.len()..];
    }
    if certs.is_empty() {
        return Err(format!(
            "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

enum Stream {
    Plain(TimedTcp),
    Tls(Box<TlsStream<TimedTcp>>),
    /// After a failed handshake the stream is gone.
    Closed,
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
    /// Tries each address in order until one connects within the deadline.
    pub fn connect(addrs: &[SocketAddr], deadline: Deadline) -> Result<Transport, ConnectError> {
        let mut errors = Vec::new();
        for addr in addrs {
            let left = match deadline.remaining() {
                Ok(left) => left,
                Err(e) => {
                    errors.push((*addr, e));
                    break;
                }
            };
            match TcpStream::connect_timeout(addr, left) {
                Ok(tcp) => {
                    // Every command goes out in one write; without Nagle it
                    // leaves at once instead of waiting for a delayed ACK.
                    let _ = tcp.set_nodelay(true);
                    quick_ack(&tcp);
                    return Ok(Transport {
                        stream: Stream::Plain(TimedTcp {
                            tcp,
                            deadline,
                            handshake_bytes: None,
                        }),
                        peer: *addr,
                        deadline,
                    });
                }
                Err(e) => errors.push((*addr, timeout_kind(e))),
            }
        }
        Err(ConnectError::Failed(errors))
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

    /// Completes `received` up to its line end when it starts like text
    /// rather than a TLS record, within the deadline and a short wait.
    fn finish_cleartext_line(&self, mut tcp: TcpStream, received: &mut Vec<u8>) {
        let text_like = received
            .first()
            .is_some_and(|b| b.is_ascii_graphic() || *b == b' ');
        let Ok(left) = self.deadline.remaining() else {
            return;
        };
        let until = Instant::now() + left.min(CLEARTEXT_REST_WAIT);
        let mut chunk = [0u8; HANDSHAKE_KEPT];
        while text_like && !received.contains(&b'\n') && received.len() < HANDSHAKE_KEPT {
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
