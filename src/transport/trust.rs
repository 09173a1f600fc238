//! What TLS trusts and the context built from it: the system CA store
//! (found on demand in a hashed directory where there is one), CAs from
//! `--ca-file`, `--insecure`, and the TLS context built on a helper thread
//! so that its CPU work never delays the first packet.

use std::path::Path;
use std::time::{Duration, Instant};

use native_tls::{Certificate, TlsConnector};

/// TLS settings for one check.
#[derive(Clone)]
pub struct TlsSettings {
    /// Extra trusted CAs (`--ca-file`), DER.
    pub extra_roots: Vec<Vec<u8>>,
    pub insecure: bool,
}

impl TlsSettings {
    /// The TLS context these settings make, built on the calling thread.
    pub fn connector(&self) -> Result<TlsConnector, native_tls::Error> {
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
