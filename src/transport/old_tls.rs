//! Which old protocol version a server speaks that refused TLS 1.2 and 1.3.
//!
//! Such a server answers our ClientHello with a protocol_version alert in
//! a TLS 1.2 record, which names no version. A second connection sends a
//! hand-made ClientHello offering TLS 1.0 and 1.1 (OpenSSL here would
//! refuse to build one at its security level, rightly) and reads the
//! version of the ServerHello; then it closes. Nothing of that connection
//! is trusted or used: it only names the version in the diagnosis.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use super::{Deadline, tls};

/// At most this long for the probe: it only improves a diagnosis.
const PROBE_BUDGET: Duration = Duration::from_secs(2);

/// Bytes read for the greeting and the STARTTLS answer, and for the
/// ServerHello: the start of either is all the probe needs.
const READ_KEPT: usize = 4096;

/// Cipher suites of TLS 1.0 servers (RFC 5246 A.5, RFC 4492): ECDHE and
/// RSA key exchange with AES and 3DES.
const OLD_SUITES: [u16; 8] = [
    0xc014, 0xc013, 0xc00a, 0xc009, 0x0035, 0x002f, 0x000a, 0x0005,
];

/// A TLS 1.1 ClientHello (so TLS 1.0 and 1.1) with SNI for `name`.
pub fn old_client_hello(name: &str) -> Vec<u8> {
    let mut ext = Vec::new();
    let host = name.as_bytes();
    if !host.is_empty() && host.len() < 256 && name.parse::<std::net::IpAddr>().is_err() {
        let n = host.len() as u16;
        ext.extend_from_slice(&[0, 0]);
        ext.extend_from_slice(&(n + 5).to_be_bytes());
        ext.extend_from_slice(&(n + 3).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&n.to_be_bytes());
        ext.extend_from_slice(host);
    }
    // supported_groups P-256, P-384; ec_point_formats uncompressed.
    ext.extend_from_slice(&[0, 10, 0, 6, 0, 4, 0, 23, 0, 24]);
    ext.extend_from_slice(&[0, 11, 0, 2, 1, 0]);
    let mut body = vec![3, 2];
    // The random need not be random: nothing is negotiated to the end.
    body.extend_from_slice(&[0x5a; 32]);
    body.push(0);
    body.extend_from_slice(&((OLD_SUITES.len() * 2) as u16).to_be_bytes());
    for s in OLD_SUITES {
        body.extend_from_slice(&s.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let len = body.len() as u32;
    let mut hs = vec![1];
    hs.extend_from_slice(&len.to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 3, 1];
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

/// Reads until `done` says so, the buffer is full, or `until` (each read
/// waits only for what is left: a server that drips bytes cannot stretch
/// the probe).
fn read_until(
    tcp: &mut TcpStream,
    buf: &mut Vec<u8>,
    until: Instant,
    done: impl Fn(&[u8]) -> bool,
) -> bool {
    let mut chunk = [0u8; 1024];
    while !done(buf) && buf.len() < READ_KEPT {
        let left = until.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(1) || tcp.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => return done(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n.min(READ_KEPT - buf.len())]),
        }
    }
    done(buf)
}

/// The version an old server answers a TLS 1.0/1.1 ClientHello with, on
/// a new connection to `peer` (after IMAP's STARTTLS when `starttls`).
pub fn probe_old_version(
    peer: SocketAddr,
    name: &str,
    starttls: bool,
    deadline: Deadline,
) -> Option<u16> {
    let left = deadline.remaining().ok()?.min(PROBE_BUDGET);
    let until = Instant::now() + left;
    let mut tcp = TcpStream::connect_timeout(&peer, left).ok()?;
    tcp.set_write_timeout(Some(left)).ok()?;
    if starttls {
        let mut buf = Vec::new();
        if !read_until(&mut tcp, &mut buf, until, |b| b.contains(&b'\n')) {
            return None;
        }
        tcp.write_all(b"o STARTTLS\r\n").ok()?;
        buf.clear();
        let tagged = |b: &[u8]| b.starts_with(b"o ") || b.windows(3).any(|w| w == b"\no ");
        let line_done = |b: &[u8]| tagged(b) && b.ends_with(b"\n");
        if !read_until(&mut tcp, &mut buf, until, line_done) {
            return None;
        }
        let ok = buf.windows(5).any(|w| w.eq_ignore_ascii_case(b"o OK "));
        if !ok {
            return None;
        }
    }
    tcp.write_all(&old_client_hello(name)).ok()?;
    let mut buf = Vec::new();
    read_until(&mut tcp, &mut buf, until, |b| {
        tls::server_hello(b).is_some() || b.first() == Some(&0x15) && b.len() >= 7
    });
    let _ = tcp.shutdown(std::net::Shutdown::Both);
    tls::server_hello(&buf)
        .map(|(v, _)| v)
        .filter(|&v| v < 0x0303)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_hello_is_one_well_framed_record() {
        let hello = old_client_hello("mail.example.org");
        let record_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(hello.len(), 5 + record_len);
        let hs_len =
            usize::from(hello[6]) << 16 | usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(record_len, 4 + hs_len);
        assert_eq!(&hello[..3], &[0x16, 3, 1]);
        assert_eq!(&hello[9..11], &[3, 2]);
        assert!(hello.windows(16).any(|w| w == b"mail.example.org"));
        // No SNI for an address.
        assert!(
            !old_client_hello("127.0.0.1")
                .windows(9)
                .any(|w| w == b"127.0.0.1")
        );
    }

    #[test]
    fn a_dripping_server_cannot_stretch_the_probe() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                // A record header that never completes, a byte at a time.
                for b in [0x16u8, 3, 1, 0, 90].iter().cycle().take(100) {
                    if s.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        let started = Instant::now();
        let found = probe_old_version(
            peer,
            "localhost",
            false,
            Deadline::after(Duration::from_secs(30)),
        );
        assert_eq!(found, None);
        let took = started.elapsed();
        assert!(took < PROBE_BUDGET + Duration::from_millis(500), "{took:?}");
    }
}
