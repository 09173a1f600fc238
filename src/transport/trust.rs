//! What TLS trusts and the context built from it: the system CA store
//! (as the trust plan of `plan` says: looked up on demand, or the bundle
//! parsed once here), CAs from `--ca-file`, `--insecure`, and the TLS
//! context built on a helper thread so that its CPU work never delays the
//! first packet.

use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use openssl::x509::X509;

use super::tls::TlsContext;

pub use super::bundle::load_ca_file;

use super::bundle::{self, system_roots};
use super::plan::{self, CA_BUNDLE_FILES, CA_DIRS, PROBE_DIRS, Plan, TrustEnv};

/// TLS settings for one check.
#[derive(Clone)]
pub struct TlsSettings {
    /// Extra trusted CAs (`--ca-file`), DER.
    pub extra_roots: Vec<Vec<u8>>,
    pub insecure: bool,
    /// The system bundle's PEM text when the trust plan is Once: parsed on
    /// the TLS thread, its roots added like `extra_roots`.
    pub system_bundle: Option<&'static [u8]>,
    /// A context built once and shared (`serve`: one per module, for all
    /// its probes); `prepare` hands out this one instead of building.
    pub prebuilt: Option<TlsContext>,
}

impl TlsSettings {
    /// Settings with the system bundle of this process's trust plan.
    pub fn new(extra_roots: Vec<Vec<u8>>, insecure: bool) -> TlsSettings {
        TlsSettings {
            extra_roots,
            insecure,
            system_bundle: PLAN.get().and_then(|p| p.bundle_pem.as_deref()),
            prebuilt: None,
        }
    }

    /// These settings, with `context` (built from them once) handed to
    /// every check instead of a context built per check. Cloning a
    /// context shares its `SSL_CTX` and CA store; it copies neither.
    pub fn shared(mut self, context: TlsContext) -> TlsSettings {
        self.prebuilt = Some(context);
        self
    }

    /// The TLS context these settings make, built on the calling thread.
    pub fn connector(&self) -> Result<TlsContext, String> {
        let mut roots = Vec::new();
        if let Some(pem) = self.system_bundle {
            roots.extend(system_roots(pem));
        }
        for der in &self.extra_roots {
            roots.push(X509::from_der(der).map_err(|e| e.to_string())?);
        }
        TlsContext::build(roots, self.insecure).map_err(|e| e.to_string())
    }

    /// Builds the TLS context on a helper thread. Where the trust plan is
    /// Once, parsing the system bundle still costs milliseconds of CPU
    /// (OpenSSL 3.0 decodes a certificate in about 0.1 ms); done while DNS,
    /// connect and the cleartext steps wait for the network, that cost
    /// shows up as server latency only where the network is faster.
    pub fn prepare(self) -> PreparedTls {
        if let Some(context) = self.prebuilt {
            return PreparedTls::shared(context);
        }
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

type ConnectorJob = std::thread::JoinHandle<(Result<TlsContext, String>, Duration)>;

/// A TLS context being built, or built.
pub struct PreparedTls {
    pending: Option<ConnectorJob>,
    ready: Option<Result<TlsContext, String>>,
}

impl PreparedTls {
    /// A context built already, shared (a clone of a `TlsContext` is one
    /// more reference to the same `SSL_CTX`): concurrent checks need not
    /// each build their own.
    pub fn shared(context: TlsContext) -> PreparedTls {
        PreparedTls {
            pending: None,
            ready: Some(Ok(context)),
        }
    }

    /// Waits for the context; also says how long building it took.
    pub fn get(&mut self) -> (Result<&TlsContext, String>, Option<Duration>) {
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

/// The plan this process runs with, and the bundle read for it.
pub struct TrustPlan {
    pub plan: Plan,
    /// The bundle's text, for the Once plan.
    pub bundle_pem: Option<Vec<u8>>,
}

static PLAN: OnceLock<TrustPlan> = OnceLock::new();

/// Decides this process's trust plan, reads the bundle when the plan is
/// Once, and sets `SSL_CERT_FILE`/`SSL_CERT_DIR` for it. Call it once.
///
/// # Safety
/// Changes the process environment: call it before any thread starts.
pub unsafe fn adopt_trust_plan() -> &'static TrustPlan {
    let decided = plan::decide(&TrustEnv::from_process(), &plan::system_layout());
    let (plan, bundle_pem) = read_bundle(decided);
    for (var, value) in plan.env_changes() {
        // SAFETY: the caller guarantees no other thread is running.
        unsafe { std::env::set_var(var, value) };
    }
    PLAN.get_or_init(|| TrustPlan { plan, bundle_pem })
}

/// For the Once plan: the bundle's text, or the As-is plan when it cannot
/// be read, is too big, or holds anything but plain `CERTIFICATE` blocks
/// (left to OpenSSL, which knows what they mean).
pub fn read_bundle(plan: Plan) -> (Plan, Option<Vec<u8>>) {
    let Plan::Once { bundle, .. } = &plan else {
        return (plan, None);
    };
    let as_is = |why: String| (Plan::AsIs { why }, None);
    let name = bundle.display();
    let pem = match std::fs::File::open(bundle).and_then(|f| {
        use std::io::Read;
        // Sized up front: one read, no copies as the buffer grows.
        let size = f
            .metadata()
            .map_or(0, |m| m.len().min(plan::MAX_BUNDLE_BYTES));
        let mut pem = Vec::with_capacity(usize::try_from(size).unwrap_or(0) + 1);
        f.take(plan::MAX_BUNDLE_BYTES + 1).read_to_end(&mut pem)?;
        Ok(pem)
    }) {
        Ok(pem) if pem.len() as u64 > plan::MAX_BUNDLE_BYTES => {
            return as_is(format!("{name} is larger than a CA bundle"));
        }
        Ok(pem) => pem,
        Err(e) => return as_is(format!("{name} cannot be read: {e}")),
    };
    if let Some(label) = bundle::first_other_block(&pem) {
        return as_is(format!("{name} holds a {label} block"));
    }
    (plan, Some(pem))
}

/// Where this host's trusted CAs come from: `SSL_CERT_FILE`/`SSL_CERT_DIR`
/// when set and present, the first bundle file found, and the CA dirs that
/// exist. Empty on a host with no CA store at all (a scratch container).
pub fn trust_store_sources() -> Vec<String> {
    // After the plan's changes SSL_CERT_FILE=/dev/null is no source; the
    // bundle the Once plan parses is.
    let mut sources = trust_store_sources_from_env();
    if let Some(TrustPlan {
        plan: Plan::Once { bundle, .. },
        ..
    }) = PLAN.get()
    {
        sources.insert(0, format!("{} (parsed once)", bundle.display()));
    }
    sources
}

fn trust_store_sources_from_env() -> Vec<String> {
    let mut found = Vec::new();
    for var in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Some(p) = std::env::var_os(var).filter(|p| Path::new(p).exists() && p != "/dev/null")
        {
            found.push(format!("{} ({var})", Path::new(&p).display()));
        }
    }
    // SSL_CERT_FILE replaces the bundle file rather than adding to it.
    let env_file = std::env::var_os("SSL_CERT_FILE").is_some_and(|p| Path::new(&p).exists());
    if let Some(file) = CA_BUNDLE_FILES.iter().find(|f| Path::new(f).is_file())
        && !env_file
    {
        found.push((*file).to_string());
    }
    // A directory counts only if it holds hashed certificate links.
    for dir in CA_DIRS {
        if plan::has_hashed_links(Path::new(dir))
            && !found.iter().any(|f| f.starts_with(&format!("{dir} ")))
            && (PROBE_DIRS.contains(dir) || is_in_cert_dir(dir))
        {
            found.push(format!("{dir}/ (hashed, looked up on demand)"));
        }
    }
    found
}

fn is_in_cert_dir(dir: &str) -> bool {
    std::env::var_os("SSL_CERT_DIR")
        .is_some_and(|v| std::env::split_paths(&v).any(|d| d == Path::new(dir)))
}
