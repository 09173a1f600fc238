//! The trust plan: how this process gets the system's CA certificates,
//! decided once in `main` before any thread starts, because OpenSSL takes
//! its default CA locations from `SSL_CERT_FILE` and `SSL_CERT_DIR` and the
//! environment may only change while the process has one thread.
//!
//! - **Lazy**: the system bundle has a hashed directory of the same store;
//!   OpenSSL looks the CAs it needs up there on demand and the bundle is
//!   never read.
//! - **Once**: the bundle is read here, parsed once on the TLS thread with
//!   our own PEM and DER readers (`trust`), and its roots added to the
//!   context's store. OpenSSL's own two loads of the file
//!   (`SSL_CTX_set_default_verify_paths`, and the probed bundle `tls`
//!   loads as native-tls did through openssl-probe) are switched off by
//!   `SSL_CERT_FILE=/dev/null`.
//! - **As is**: anything else, including a bundle with any block but a
//!   plain `CERTIFICATE` (a `TRUSTED CERTIFICATE` carries reject and purpose
//!   settings that dropping would widen): OpenSSL loads what it always has.
//!
//! In every plan the hashed directories OpenSSL and openssl-probe search
//! stay as they are, so the set of trusted CAs does not change.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// CA bundle files OpenSSL is pointed at on Linux, in the order openssl-probe
/// tries them; the first that exists is loaded.
pub const CA_BUNDLE_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Gentoo
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // RHEL/CentOS 7+, Fedora
    "/etc/pki/tls/certs/ca-bundle.crt",   // RHEL 6, Fedora
    "/etc/ssl/ca-bundle.pem",             // openSUSE, SLES
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/ssl/cert.pem",                  // Alpine
    "/opt/etc/ssl/certs/ca-certificates.crt", // Entware
    "/etc/ssl/certs/cacert.pem",          // OpenHarmony
];

/// The directories openssl-probe lists on Linux (loaded by `tls`), searched on
/// demand whatever the plan.
pub const PROBE_DIRS: &[&str] = &[
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
    "/etc/security/certificates",
];

/// Hashed CA directories that may hold the system store (the last one
/// only through `SSL_CERT_DIR`, which the Lazy plan sets for it).
pub const CA_DIRS: &[&str] = &[
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
    "/etc/pki/ca-trust/extracted/pem/directory-hash",
];

/// The largest bundle read for the Once plan. A system bundle is about
/// 200 KiB; a file this big is no bundle of root CAs, and is left to
/// OpenSSL rather than held in memory.
pub const MAX_BUNDLE_BYTES: u64 = 16 * 1024 * 1024;

/// One system CA store: its bundle file and, where the distribution keeps
/// one, the directory of hashed links to the same certificates.
#[derive(Debug, Clone)]
pub struct Store {
    pub bundle: PathBuf,
    pub hashed_dir: Option<PathBuf>,
}

/// Where this host's CA stores may be; a table so that tests can point it
/// into a temporary directory.
#[derive(Debug, Clone)]
pub struct Layout {
    /// In openssl-probe's order: the first bundle that exists is loaded.
    pub stores: Vec<Store>,
    /// The file `SSL_CTX_set_default_verify_paths` loads when
    /// `SSL_CERT_FILE` is unset (`OPENSSLDIR/cert.pem`).
    pub openssl_default_file: Option<PathBuf>,
    /// Directories OpenSSL or openssl-probe search without being told.
    pub searched_dirs: Vec<PathBuf>,
}

/// The environment the plan depends on.
#[derive(Debug, Clone, Default)]
pub struct TrustEnv {
    pub cert_file: Option<OsString>,
    pub cert_dir: Option<OsString>,
}

impl TrustEnv {
    pub fn from_process() -> TrustEnv {
        TrustEnv {
            cert_file: std::env::var_os("SSL_CERT_FILE"),
            cert_dir: std::env::var_os("SSL_CERT_DIR"),
        }
    }
}

/// What to do, before anything is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Look CAs up on demand in `dir`; `cert_dir` is the new value of
    /// `SSL_CERT_DIR` when OpenSSL would not search `dir` by itself.
    Lazy {
        dir: PathBuf,
        cert_dir: Option<OsString>,
        why: String,
    },
    /// Read `bundle` once ourselves.
    Once { bundle: PathBuf, why: String },
    /// Leave OpenSSL's defaults alone.
    AsIs { why: String },
}

impl Plan {
    /// The environment variables to set for the plan.
    pub fn env_changes(&self) -> Vec<(&'static str, OsString)> {
        let no_file = ("SSL_CERT_FILE", OsString::from("/dev/null"));
        match self {
            Plan::Lazy { cert_dir, .. } => {
                let mut changes = vec![no_file];
                if let Some(dir) = cert_dir {
                    changes.push(("SSL_CERT_DIR", dir.clone()));
                }
                changes
            }
            Plan::Once { .. } => vec![no_file],
            Plan::AsIs { .. } => Vec::new(),
        }
    }

    /// One line for `--version`: which plan, and why.
    pub fn describe(&self) -> String {
        match self {
            Plan::Lazy { dir, why, .. } => {
                format!(
                    "plan lazy, looked up on demand in {}/: {why}",
                    dir.display()
                )
            }
            Plan::Once { bundle, why } => {
                format!(
                    "plan once, {} parsed once by imapcheck: {why}",
                    bundle.display()
                )
            }
            Plan::AsIs { why } => format!("plan as-is, loaded by OpenSSL: {why}"),
        }
    }
}

/// This host's layout: the bundles and hashed directories of the Linux
/// distributions, and the compiled-in defaults of the OpenSSL linked in.
pub fn system_layout() -> Layout {
    let store = |bundle: &str, dir: Option<&str>| Store {
        bundle: PathBuf::from(bundle),
        hashed_dir: dir.map(PathBuf::from),
    };
    let mut searched_dirs: Vec<PathBuf> = PROBE_DIRS.iter().map(PathBuf::from).collect();
    searched_dirs.extend(openssl_default("dir"));
    Layout {
        stores: vec![
            // Debian, Ubuntu, Alpine, Gentoo: update-ca-certificates keeps both.
            store("/etc/ssl/certs/ca-certificates.crt", Some("/etc/ssl/certs")),
            // RHEL 7+, Fedora: update-ca-trust keeps both.
            store(
                "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
                Some("/etc/pki/ca-trust/extracted/pem/directory-hash"),
            ),
            // RHEL 6 (on later releases a link to the above).
            store("/etc/pki/tls/certs/ca-bundle.crt", None),
            // SUSE: update-ca-certificates keeps /etc/ssl/certs hashed.
            store("/etc/ssl/ca-bundle.pem", Some("/etc/ssl/certs")),
            store("/etc/pki/tls/cacert.pem", None),
            store("/etc/ssl/cert.pem", None),
            store("/opt/etc/ssl/certs/ca-certificates.crt", None),
            store("/etc/ssl/certs/cacert.pem", None),
        ],
        openssl_default_file: openssl_default("file"),
        searched_dirs,
    }
}

/// OpenSSL's compiled-in default CA file or directory (a constant string;
/// asking for it does not initialise OpenSSL).
fn openssl_default(which: &str) -> Option<PathBuf> {
    unsafe extern "C" {
        fn X509_get_default_cert_file() -> *const std::ffi::c_char;
        fn X509_get_default_cert_dir() -> *const std::ffi::c_char;
    }
    // SAFETY: both return a pointer to a static NUL-terminated string.
    let p = unsafe {
        if which == "file" {
            X509_get_default_cert_file()
        } else {
            X509_get_default_cert_dir()
        }
    };
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null, static and NUL-terminated (above).
    let s = unsafe { std::ffi::CStr::from_ptr(p) };
    use std::os::unix::ffi::OsStrExt;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(s.to_bytes())))
}

/// Decides the plan from the environment and what exists on disk. Reads
/// no file's contents: only names, links and directory listings.
pub fn decide(env: &TrustEnv, layout: &Layout) -> Plan {
    let named = env.cert_file.as_deref().map(Path::new);
    if let Some(file) = named
        && file.exists()
    {
        if !file.is_file() {
            return Plan::AsIs {
                why: format!("SSL_CERT_FILE={} is no bundle file", file.display()),
            };
        }
        let store = layout.stores.iter().find(|s| same_file(file, &s.bundle));
        return match store {
            Some(store) => match lazy_dir(store, env, layout) {
                Some((dir, cert_dir)) => Plan::Lazy {
                    why: format!(
                        "SSL_CERT_FILE names the system bundle {}, whose hashed directory exists",
                        store.bundle.display()
                    ),
                    dir,
                    cert_dir,
                },
                None => Plan::Once {
                    bundle: file.to_path_buf(),
                    why: "SSL_CERT_FILE names the system bundle, which has no hashed directory"
                        .into(),
                },
            },
            None => Plan::Once {
                bundle: file.to_path_buf(),
                why: "named by SSL_CERT_FILE".into(),
            },
        };
    }
    // SSL_CERT_FILE unset (or naming nothing): openssl-probe's first bundle.
    let Some(store) = layout.stores.iter().find(|s| s.bundle.is_file()) else {
        return Plan::AsIs {
            why: "no system CA bundle file found".into(),
        };
    };
    if named.is_none()
        && let Some(default) = &layout.openssl_default_file
        && default.exists()
        && !same_file(default, &store.bundle)
    {
        // OpenSSL would load a second, different file: not ours to drop.
        return Plan::AsIs {
            why: format!(
                "OpenSSL's default file {} is not the system bundle {}",
                default.display(),
                store.bundle.display()
            ),
        };
    }
    // (A missing SSL_CERT_FILE loads nothing in OpenSSL, and openssl-probe
    // then falls back to the system bundle: the same as unset.)
    let unset = match named {
        Some(_) => "SSL_CERT_FILE names no file",
        None => "SSL_CERT_FILE is not set",
    };
    match lazy_dir(store, env, layout) {
        Some((dir, cert_dir)) => Plan::Lazy {
            why: format!(
                "{unset} and the system bundle {} has a hashed directory",
                store.bundle.display()
            ),
            dir,
            cert_dir,
        },
        None => Plan::Once {
            bundle: store.bundle.clone(),
            why: "the system bundle has no hashed directory".into(),
        },
    }
}

/// The store's hashed directory when it holds links, and the new
/// `SSL_CERT_DIR` value when OpenSSL would not search it by itself.
fn lazy_dir(store: &Store, env: &TrustEnv, layout: &Layout) -> Option<(PathBuf, Option<OsString>)> {
    let dir = store.hashed_dir.as_ref().filter(|d| has_hashed_links(d))?;
    let env_dirs = env
        .cert_dir
        .as_deref()
        .map(std::env::split_paths)
        .into_iter()
        .flatten();
    let searched = layout
        .searched_dirs
        .iter()
        .cloned()
        .chain(env_dirs)
        .any(|d| same_file(&d, dir));
    let cert_dir = (!searched).then(|| match &env.cert_dir {
        Some(old) if !old.is_empty() => {
            let mut joined = old.clone();
            joined.push(":");
            joined.push(dir.as_os_str());
            joined
        }
        _ => dir.clone().into_os_string(),
    });
    Some((dir.clone(), cert_dir))
}

/// The same file: the same canonical path, or the same device and inode
/// (a hard link); never merely the same name.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(ca), Ok(cb)) = (a.canonicalize(), b.canonicalize())
        && ca == cb
    {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(ma), Ok(mb)) => ma.dev() == mb.dev() && ma.ino() == mb.ino(),
        _ => false,
    }
}

/// A directory with `<8 hex>.<n>` links, as OpenSSL's lookup by hash needs.
pub fn has_hashed_links(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.as_encoded_bytes();
                name.len() == 10
                    && name.get(8) == Some(&b'.')
                    && name.iter().take(8).all(u8::is_ascii_hexdigit)
                    && name.get(9).is_some_and(u8::is_ascii_digit)
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
