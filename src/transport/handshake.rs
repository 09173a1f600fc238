//! The TLS handshake on a connection: started over the plain stream,
//! what it negotiated and the chain as sent when it finishes, and when it
//! fails what the server sent instead (cleartext, an alert) for the
//! diagnosis.

use std::io::Read;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openssl::ssl::{HandshakeError, SslRef};
use openssl::x509::{X509, X509VerifyResult};

use super::{
    CLEARTEXT_REST_WAIT, Chain, HANDSHAKE_KEPT, Negotiated, Stream, TlsContext, Transport, chain,
    tls,
};

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
    /// The chain the server sent before the handshake failed (a
    /// certificate that did not verify), when it got that far.
    pub chain: Option<Box<Chain>>,
    /// The old version a second connection found the server speaking,
    /// when it refused ours with an alert that names none.
    pub old_version: Option<u16>,
}

impl TlsError {
    /// The older protocol version the server answered with, when it
    /// refused TLS 1.2 and 1.3 (see `tls::refused_version`).
    pub fn refused_version(&self) -> Option<u16> {
        self.old_version
            .or_else(|| tls::refused_version(&self.received))
    }
}

/// What a finished handshake showed.
#[derive(Debug, Clone)]
pub struct Handshake {
    pub negotiated: Negotiated,
    pub chain: Chain,
    /// Why the certificate would not verify, when `--insecure` let the
    /// handshake go on anyway; None when it verified.
    pub unverified: Option<String>,
    /// The server's leaf certificate, DER.
    pub leaf: Option<Vec<u8>>,
}

/// The chain `ssl` holds (as sent, and the verified path when there is
/// one), read by `chain::read`.
fn chain_of(ssl: &SslRef) -> Chain {
    let sent: Vec<X509> = ssl
        .peer_cert_chain()
        .map(|s| s.iter().map(|c| c.to_owned()).collect())
        .unwrap_or_default();
    let result = ssl.verify_result();
    let verified: Option<Vec<X509>> = (result == X509VerifyResult::OK)
        .then(|| ssl.verified_chain())
        .flatten()
        .map(|s| s.iter().map(|c| c.to_owned()).collect());
    let error = (result != X509VerifyResult::OK).then(|| result.as_raw());
    chain::read(&sent, verified.as_deref(), error)
}

impl Transport {
    /// Performs the client side of a TLS handshake (implicit TLS or after
    /// STARTTLS). `server_name` is used for SNI and verification.
    pub fn start_tls(
        &mut self,
        context: &TlsContext,
        server_name: &str,
    ) -> Result<Handshake, TlsError> {
        let failed = |message: String, timed_out: bool, received: Vec<u8>| TlsError {
            message,
            timed_out,
            received,
            chain: None,
            old_version: None,
        };
        let Stream::Plain(mut tcp) = std::mem::replace(&mut self.stream, Stream::Closed) else {
            return Err(failed(
                "TLS is already active or the connection is closed".into(),
                false,
                Vec::new(),
            ));
        };
        let kept = Arc::new(Mutex::new(Vec::new()));
        tcp.handshake_bytes = Some(Arc::clone(&kept));
        // A second handle, to read the rest of a cleartext line after a
        // failure (the stream itself is gone with the handshake's error).
        let spare = tcp.tcp.try_clone().ok();
        let result = match context.ssl() {
            Ok(config) => config.connect(server_name, tcp),
            Err(e) => return Err(failed(format!("cannot set up TLS: {e}"), false, Vec::new())),
        };
        let mut received = kept.lock().map(|k| k.clone()).unwrap_or_default();
        if result.is_err()
            && let Some(spare) = spare
        {
            self.finish_cleartext_line(spare, &mut received);
        }
        match result {
            Ok(mut tls) => {
                tls.get_mut().handshake_bytes = None;
                let retry = tls::server_hello(&received).is_some_and(|(_, retry)| retry);
                let ssl = tls.ssl();
                let result = ssl.verify_result();
                let handshake = Handshake {
                    negotiated: tls::negotiated(ssl, retry),
                    chain: chain_of(ssl),
                    unverified: (result != X509VerifyResult::OK)
                        .then(|| result.error_string().to_string()),
                    leaf: ssl.peer_certificate().and_then(|c| c.to_der().ok()),
                };
                self.stream = Stream::Tls(Box::new(tls));
                Ok(handshake)
            }
            Err(HandshakeError::Failure(mid)) => {
                let result = mid.ssl().verify_result();
                let chain = (result != X509VerifyResult::OK).then(|| Box::new(chain_of(mid.ssl())));
                // As native-tls said it: OpenSSL's error, and why the
                // certificate did not verify.
                let mut message = mid.error().to_string();
                if result != X509VerifyResult::OK {
                    message.push_str(&format!(" ({})", result.error_string()));
                }
                let timed_out = self.deadline.remaining().is_err()
                    || message.contains("timed out")
                    || message.contains("Resource temporarily unavailable");
                Err(TlsError {
                    chain,
                    ..failed(message, timed_out, received)
                })
            }
            Err(HandshakeError::SetupFailure(e)) => {
                Err(failed(format!("cannot set up TLS: {e}"), false, received))
            }
            Err(HandshakeError::WouldBlock(_)) => Err(failed(
                "the TLS handshake did not finish before the deadline".into(),
                true,
                received,
            )),
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
