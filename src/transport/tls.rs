//! The one TLS context builder (IMAP and the token endpoint's HTTPS) and
//! what a handshake shows: version, cipher, key-exchange group, whether the
//! server asked for another key share (HelloRetryRequest), and the chain as
//! the server sent it.
//!
//! OpenSSL is used directly through the `openssl` crate. native-tls, used
//! before, built on the same crate on Linux but hid all of the above and
//! the group list; it is gone rather than kept behind an interface,
//! because imapcheck is Linux-only (the trust plan reads Linux CA stores,
//! the socket options are Linux's) and a second backend that cannot
//! report the chain or the version would be dead code that no test runs.

use std::path::Path;

use openssl::error::ErrorStack;
use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::ssl::{SslConnector, SslMethod, SslRef, SslVerifyMode, SslVersion};
use openssl::x509::X509;

/// The key-exchange groups offered, each with a key share in the
/// ClientHello where OpenSSL can send several (the `*` prefix, OpenSSL
/// 3.5 and later, which the static builds vendor). A P-256 share matters:
/// Cyrus's default `tls_eccurve` is P-256 alone, and a ClientHello with an
/// X25519 share only costs it a HelloRetryRequest, one more round trip.
const GROUPS_TWO_SHARES: &str = "*X25519:*P-256:P-384:P-521:X448";

/// Where OpenSSL sends one key share only (3.0 to 3.4: for the first
/// group), P-256 goes first: every TLS 1.3 server must support it (RFC
/// 8446 9.1), so no server needs to ask again; X25519 is still offered.
const GROUPS_ONE_SHARE: &str = "P-256:X25519:P-384:P-521:X448";

/// The TLS context of a check: cheap to clone (OpenSSL counts references
/// to one `SSL_CTX`) and safe to share across threads, so that concurrent
/// probes can use one context built once.
#[derive(Clone)]
pub struct TlsContext {
    connector: SslConnector,
    insecure: bool,
}

impl TlsContext {
    /// Builds the context: OpenSSL's default CA locations (as the trust
    /// plan set them up), the system bundle and directories openssl-probe
    /// finds, as native-tls loaded them (`SSL_CERT_FILE`, else the first of
    /// `CA_BUNDLE_FILES`; the trust plan's `SSL_CERT_FILE=/dev/null`
    /// switches this load off too), then `roots` (the Once plan's bundle
    /// and `--ca-file`). TLS 1.2 at least, as before.
    pub fn build(roots: Vec<X509>, insecure: bool) -> Result<TlsContext, ErrorStack> {
        let mut builder = SslConnector::builder(SslMethod::tls_client())?;
        let env = |var| std::env::var_os(var).filter(|p| Path::new(p).exists());
        let file = env("SSL_CERT_FILE").or_else(|| {
            super::CA_BUNDLE_FILES
                .iter()
                .find(|f| Path::new(f).exists())
                .map(Into::into)
        });
        if let Some(file) = file {
            // As native-tls: a file that does not load is no error.
            let _ = builder.load_verify_locations(Some(Path::new(&file)), None);
        }
        // openssl-probe: SSL_CERT_DIR when it exists, and every one of its
        // directories that exists (lookups by hash, on demand: cheap).
        let probed = super::PROBE_DIRS.iter().map(Into::into);
        for dir in env("SSL_CERT_DIR").into_iter().chain(probed) {
            if Path::new(&dir).exists() {
                let _ = builder.load_verify_locations(None, Some(Path::new(&dir)));
            }
        }
        for root in roots {
            // A duplicate of a root already there is no error either.
            let _ = builder.cert_store_mut().add_cert(root);
        }
        builder.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        if builder.set_groups_list(GROUPS_TWO_SHARES).is_err() {
            builder.set_groups_list(GROUPS_ONE_SHARE)?;
        }
        Ok(TlsContext {
            connector: builder.build(),
            insecure,
        })
    }

    /// Whether certificates are not verified (`--insecure`).
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// A connection's settings: SNI and verification of `name`. With
    /// `--insecure` OpenSSL still verifies, so that the report can say
    /// what would have failed, but the handshake goes on regardless.
    pub(super) fn ssl(&self) -> Result<openssl::ssl::ConnectConfiguration, ErrorStack> {
        let mut config = self.connector.configure()?;
        if self.insecure {
            config.set_verify(SslVerifyMode::NONE);
        }
        Ok(config)
    }
}

/// The random of a ServerHello that is a HelloRetryRequest (RFC 8446
/// 4.1.3: SHA-256 of "HelloRetryRequest").
const HRR_RANDOM: [u8; 32] = [
    0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
    0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
];

/// The server's first handshake message as it came: a TLS handshake
/// record (type 22) holding a ServerHello (type 2); its legacy version and
/// whether it is a HelloRetryRequest. None for anything else.
pub fn server_hello(received: &[u8]) -> Option<(u16, bool)> {
    match received {
        [0x16, 3, _, _, _, 2, _, _, _, v1, v2, rest @ ..] if rest.len() >= 32 => {
            Some((u16::from_be_bytes([*v1, *v2]), rest[..32] == HRR_RANDOM))
        }
        _ => None,
    }
}

/// TLS alert 70, protocol_version (RFC 8446 6.2).
const PROTOCOL_VERSION_ALERT: u8 = 70;

/// The version a server that refused ours speaks: its ServerHello's
/// version below TLS 1.2, or the record version of a protocol_version
/// alert (a TLS 1.0-only OpenSSL answers our ClientHello with one, in a
/// TLS 1.0 record). None when the bytes say no such thing.
pub fn refused_version(received: &[u8]) -> Option<u16> {
    if let Some((v, _)) = server_hello(received) {
        return (v < 0x0303).then_some(v);
    }
    match received {
        [0x15, 3, minor, 0, 2, _, PROTOCOL_VERSION_ALERT, ..] => {
            Some(u16::from_be_bytes([3, *minor]))
        }
        _ => None,
    }
}

/// A protocol version as admins write it.
pub fn version_name(wire: u16) -> String {
    match wire {
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        v => format!("version 0x{v:04x}"),
    }
}

/// What a finished handshake negotiated.
#[derive(Debug, Clone, Default)]
pub struct Negotiated {
    /// `TLS 1.3`.
    pub version: String,
    /// The version as on the wire (0x0304), for `--min-tls`.
    pub wire: u16,
    /// The cipher suite's IANA name (`TLS_AES_256_GCM_SHA384`).
    pub cipher: String,
    /// `X25519`, `P-256`; None when OpenSSL does not say.
    pub group: Option<String>,
    /// Whether the server answered the first ClientHello with a
    /// HelloRetryRequest (one more round trip).
    pub retry: bool,
}

/// The version, cipher and group of `ssl`; `retry` from the bytes.
pub(super) fn negotiated(ssl: &SslRef, retry: bool) -> Negotiated {
    let wire = match ssl.version2() {
        Some(SslVersion::TLS1_3) => 0x0304,
        Some(SslVersion::TLS1_2) => 0x0303,
        Some(SslVersion::TLS1_1) => 0x0302,
        Some(SslVersion::TLS1) => 0x0301,
        _ => 0,
    };
    let version = match wire {
        0 => ssl.version_str().to_string(),
        v => version_name(v),
    };
    let cipher = ssl
        .current_cipher()
        .map(|c| c.standard_name().unwrap_or(c.name()).to_string())
        .unwrap_or_default();
    Negotiated {
        version,
        wire,
        cipher,
        group: group_of(ssl),
        retry,
    }
}

/// The key-exchange group, from the server's ephemeral key.
fn group_of(ssl: &SslRef) -> Option<String> {
    let key = ssl.peer_tmp_key().ok()?;
    let name = match key.id() {
        Id::X25519 => "X25519".to_string(),
        Id::X448 => "X448".to_string(),
        Id::EC => match key.ec_key().ok()?.group().curve_name()? {
            Nid::X9_62_PRIME256V1 => "P-256".to_string(),
            Nid::SECP384R1 => "P-384".to_string(),
            Nid::SECP521R1 => "P-521".to_string(),
            nid => nid.short_name().ok()?.to_string(),
        },
        Id::DH => format!("DH {} bits", key.bits()),
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_hello_says_its_version_and_whether_it_is_a_retry() {
        let mut hello = vec![0x16, 3, 3, 0, 90, 2, 0, 0, 86, 3, 3];
        hello.extend_from_slice(&[7u8; 32]);
        assert_eq!(server_hello(&hello), Some((0x0303, false)));
        let mut retry = hello[..11].to_vec();
        retry.extend_from_slice(&HRR_RANDOM);
        assert_eq!(server_hello(&retry), Some((0x0303, true)));
        let mut tls10 = vec![0x16, 3, 1, 0, 90, 2, 0, 0, 86, 3, 1];
        tls10.extend_from_slice(&[7u8; 32]);
        assert_eq!(server_hello(&tls10), Some((0x0301, false)));
        // An alert, a record cut short, a certificate: no ServerHello.
        assert_eq!(server_hello(&[0x15, 3, 3, 0, 2, 2, 70]), None);
        assert_eq!(server_hello(&hello[..40]), None);
        assert_eq!(server_hello(&[0x16, 3, 3, 0, 90, 11, 0, 0, 86, 3, 3]), None);
        assert_eq!(refused_version(&tls10), Some(0x0301));
        assert_eq!(refused_version(&hello), None);
        assert_eq!(refused_version(&[0x15, 3, 1, 0, 2, 2, 70]), Some(0x0301));
        assert_eq!(refused_version(&[0x15, 3, 3, 0, 2, 2, 40]), None);
        assert_eq!(version_name(0x0301), "TLS 1.0");
        assert_eq!(version_name(0x0304), "TLS 1.3");
    }

    #[test]
    fn the_context_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<TlsContext>();
    }

    #[test]
    fn the_context_offers_p256_and_x25519() {
        // Builds on whatever OpenSSL is linked: the group list is accepted
        // in one of its two forms.
        let ctx = TlsContext::build(Vec::new(), false).expect("context");
        assert!(!ctx.insecure());
    }
}
