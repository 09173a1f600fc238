//! The trust plan over a table of environment × layout, each layout built
//! in a temporary directory; and what reading the bundle makes of it.
//! Test code only: plan.rs includes this file under #[cfg(test)].

use super::*;
use std::os::unix::fs::symlink;

/// A temporary directory, removed when dropped.
struct Tmp(PathBuf);

impl Tmp {
    fn new(name: &str) -> Tmp {
        let dir =
            std::env::temp_dir().join(format!("imapcheck-plan-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Tmp(dir)
    }

    fn file(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn dir(&self, rel: &str) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// A directory with one `<hash>.0` link, as `openssl rehash` leaves.
    fn hashed(&self, rel: &str) -> PathBuf {
        let d = self.dir(rel);
        std::fs::write(d.join("ca.pem"), "x").unwrap();
        symlink("ca.pem", d.join("0123abcd.0")).unwrap();
        d
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const PEM: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

/// Debian's layout (bundle + hashed directory of the same store) and
/// RHEL's (bundle + directory-hash that OpenSSL does not search itself).
fn layout(t: &Tmp) -> Layout {
    Layout {
        stores: vec![
            Store {
                bundle: t.0.join("etc/ssl/certs/ca-certificates.crt"),
                hashed_dir: Some(t.0.join("etc/ssl/certs")),
            },
            Store {
                bundle: t.0.join("pki/tls-ca-bundle.pem"),
                hashed_dir: Some(t.0.join("pki/directory-hash")),
            },
        ],
        openssl_default_file: Some(t.0.join("usr/lib/ssl/cert.pem")),
        searched_dirs: vec![t.0.join("etc/ssl/certs")],
    }
}

fn env(file: Option<&Path>, dir: Option<&Path>) -> TrustEnv {
    TrustEnv {
        cert_file: file.map(|p| p.as_os_str().to_owned()),
        cert_dir: dir.map(|p| p.as_os_str().to_owned()),
    }
}

fn kind(plan: &Plan) -> &'static str {
    match plan {
        Plan::Lazy { .. } => "lazy",
        Plan::Once { .. } => "once",
        Plan::AsIs { .. } => "as-is",
    }
}

#[test]
fn debian_layout_is_lazy_unless_ssl_cert_file_names_another_file() {
    let t = Tmp::new("debian");
    let bundle = t.file("etc/ssl/certs/ca-certificates.crt", PEM);
    let certs = t.hashed("etc/ssl/certs");
    t.dir("usr/lib/ssl");
    symlink(&bundle, t.0.join("usr/lib/ssl/cert.pem")).unwrap();
    let via_link = t.0.join("usr/lib/ssl/cert.pem");
    let hard = t.0.join("hard.crt");
    std::fs::hard_link(&bundle, &hard).unwrap();
    let copy = t.file("copy.crt", PEM);
    let missing = t.0.join("missing.crt");
    let l = layout(&t);
    for (file, want, what) in [
        (None, "lazy", "unset"),
        (Some(&bundle), "lazy", "the bundle"),
        (Some(&via_link), "lazy", "a symlink to the bundle"),
        (Some(&hard), "lazy", "a hard link to the bundle"),
        (
            Some(&copy),
            "once",
            "a copy: same content, not the same file",
        ),
        (
            Some(&missing),
            "lazy",
            "a missing file: OpenSSL loads nothing",
        ),
        (Some(&PathBuf::from("/dev/null")), "as-is", "/dev/null"),
    ] {
        let plan = decide(&env(file.map(|p| p.as_path()), None), &l);
        assert_eq!(kind(&plan), want, "SSL_CERT_FILE {what}: {plan:?}");
        match plan {
            Plan::Lazy { dir, cert_dir, .. } => {
                assert_eq!(dir, certs);
                assert_eq!(cert_dir, None, "OpenSSL searches it already");
            }
            Plan::Once { bundle, .. } => assert_eq!(bundle, copy),
            Plan::AsIs { .. } => {}
        }
    }
}

#[test]
fn a_bundle_without_its_hashed_directory_is_parsed_once() {
    let t = Tmp::new("rhel-like");
    let bundle = t.file("etc/ssl/certs/ca-certificates.crt", PEM);
    let l = layout(&t);
    for file in [None, Some(bundle.as_path())] {
        let plan = decide(&env(file, None), &l);
        assert_eq!(
            plan,
            Plan::Once {
                bundle: bundle.clone(),
                why: match file {
                    None => "the system bundle has no hashed directory".into(),
                    Some(_) =>
                        "SSL_CERT_FILE names the system bundle, which has no hashed directory"
                            .into(),
                }
            }
        );
    }
    // A hashed directory of another store does not count.
    let t = Tmp::new("other-store");
    let bundle = t.file("pki/tls-ca-bundle.pem", PEM);
    t.hashed("etc/ssl/certs");
    let plan = decide(&env(None, None), &layout(&t));
    assert!(
        matches!(&plan, Plan::Once { bundle: b, .. } if *b == bundle),
        "{plan:?}"
    );
}

#[test]
fn rhel_directory_hash_is_added_to_ssl_cert_dir() {
    let t = Tmp::new("rhel");
    t.file("pki/tls-ca-bundle.pem", PEM);
    let hashed = t.hashed("pki/directory-hash");
    let other = t.dir("other");
    let l = layout(&t);
    let joined = |old: &Path| {
        let mut s = old.as_os_str().to_owned();
        s.push(":");
        s.push(hashed.as_os_str());
        s
    };
    for (dir, want) in [
        (None, Some(hashed.clone().into_os_string())),
        (Some(other.as_path()), Some(joined(&other))),
        (Some(hashed.as_path()), None),
    ] {
        let plan = decide(&env(None, dir), &l);
        let Plan::Lazy {
            dir: d, cert_dir, ..
        } = &plan
        else {
            panic!("{plan:?}");
        };
        assert_eq!(d, &hashed);
        assert_eq!(cert_dir, &want);
        let changes = plan.env_changes();
        assert_eq!(changes[0], ("SSL_CERT_FILE", "/dev/null".into()));
        assert_eq!(changes.get(1).map(|c| c.1.clone()), want);
    }
}

#[test]
fn no_store_or_a_foreign_default_file_is_left_as_is() {
    let t = Tmp::new("none");
    let plan = decide(&env(None, None), &layout(&t));
    assert_eq!(kind(&plan), "as-is", "{plan:?}");
    assert!(plan.env_changes().is_empty());

    // OpenSSL's own default file is a different file: OpenSSL would load
    // both, so neither is dropped.
    let t = Tmp::new("foreign-default");
    t.file("etc/ssl/certs/ca-certificates.crt", PEM);
    t.hashed("etc/ssl/certs");
    t.file("usr/lib/ssl/cert.pem", PEM);
    let plan = decide(&env(None, None), &layout(&t));
    assert_eq!(kind(&plan), "as-is", "{plan:?}");
    // ... unless SSL_CERT_FILE replaces it.
    let named = t.0.join("etc/ssl/certs/ca-certificates.crt");
    let plan = decide(&env(Some(&named), None), &layout(&t));
    assert_eq!(kind(&plan), "lazy", "{plan:?}");
}

#[test]
fn a_bundle_with_other_blocks_is_left_to_openssl() {
    let t = Tmp::new("blocks");
    let once = |path: &Path| Plan::Once {
        bundle: path.to_path_buf(),
        why: "test".into(),
    };
    for (name, extra, left) in [
        ("plain", "", None),
        ("comments", "# ACCVRAIZ1\n", None),
        (
            "trusted",
            "-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n",
            Some("TRUSTED CERTIFICATE"),
        ),
        (
            "crl",
            "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
            Some("X509 CRL"),
        ),
        (
            "old",
            "-----BEGIN X509 CERTIFICATE-----\nAAAA\n-----END X509 CERTIFICATE-----\n",
            Some("X509 CERTIFICATE"),
        ),
    ] {
        let path = t.file(&format!("{name}.pem"), &format!("{PEM}{extra}{PEM}"));
        let (plan, pem) = crate::transport::read_bundle(once(&path));
        match left {
            None => {
                assert_eq!(kind(&plan), "once", "{name}: {plan:?}");
                assert_eq!(
                    pem.as_deref(),
                    Some(format!("{PEM}{extra}{PEM}").as_bytes())
                );
            }
            Some(label) => {
                assert_eq!(kind(&plan), "as-is", "{name}: {plan:?}");
                assert!(plan.describe().contains(label), "{name}: {plan:?}");
                assert_eq!(pem, None);
            }
        }
    }
    // Unreadable: OpenSSL will say what it says.
    let (plan, pem) = crate::transport::read_bundle(once(&t.0.join("gone.pem")));
    assert_eq!((kind(&plan), pem), ("as-is", None));
    // Lazy and As-is plans read nothing.
    let lazy = Plan::AsIs { why: "x".into() };
    assert_eq!(crate::transport::read_bundle(lazy.clone()), (lazy, None));
}

#[test]
fn hashed_links_need_eight_hex_digits_a_dot_and_a_digit() {
    let t = Tmp::new("links");
    for (name, hashed) in [
        ("0123abcd.0", true),
        ("0123ABCD.9", true),
        ("0123abcd.r0", false),
        ("0123abcg.0", false),
        ("ca-certificates.crt", false),
    ] {
        let d = t.dir(name);
        std::fs::write(d.join(name), "x").unwrap();
        assert_eq!(has_hashed_links(&d), hashed, "{name}");
    }
    assert!(!has_hashed_links(&t.0.join("missing")));
}
