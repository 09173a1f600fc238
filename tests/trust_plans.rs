// The trust plans (issue 11) against the scripted TLS server: in every
// plan — looked up on demand, the bundle parsed once, left to OpenSSL,
// no store at all — an unknown CA, a wrong host name and an expired
// certificate still fail, --ca-file alone still works, and the system
// store trusts exactly what OpenSSL's own load of it would.
//
// Layouts other than this host's are stood up in a private mount namespace
// (`unshare -m`: a bind mount over /etc/ssl/certs, and for a RHEL store an
// overlay over /etc that adds /etc/pki), which needs root; the host itself
// is never touched. Without root those plans fail and say so.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "alice";
const PASS: &str = "Zebra7-pw";
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where /etc/ssl/certs comes from for a run.
#[derive(Clone)]
enum Layout {
    /// This host's, as it is.
    Host,
    /// This directory, bind-mounted over /etc/ssl/certs.
    Mounted(PathBuf),
    /// A RHEL store: `upper` (holding pki/...) laid over /etc with
    /// overlayfs (`work` is its scratch directory), and an empty
    /// /etc/ssl/certs, so that the RHEL store is the system's.
    Rhel {
        upper: PathBuf,
        work: PathBuf,
        empty: PathBuf,
    },
}

impl Layout {
    /// The shell script that stands the layout up, and its arguments
    /// ($0, $1, ...); the command follows them.
    fn script(&self) -> Option<(&'static str, Vec<&Path>)> {
        match self {
            Layout::Host => None,
            Layout::Mounted(dir) => Some((
                r#"mount --bind "$0" /etc/ssl/certs && exec "$@""#,
                vec![dir.as_path()],
            )),
            Layout::Rhel { upper, work, empty } => Some((
                r#"mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0,workdir=$1" /etc &&
                   mount --bind "$2" /etc/ssl/certs && shift 2 && exec "$@""#,
                vec![upper.as_path(), work.as_path(), empty.as_path()],
            )),
        }
    }
}

struct PlanCase {
    name: &'static str,
    layout: Layout,
    /// SSL_CERT_FILE and SSL_CERT_DIR are removed, then these set.
    env: Vec<(&'static str, String)>,
    /// In `--version`'s trusted CAs line.
    plan: &'static str,
    /// Whether the system store trusts the test CA (the Good server then
    /// verifies without --ca-file).
    store_trusts_test_ca: bool,
}

/// A scratch directory of one test (each removes its own).
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("imapcheck-trust-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir scratch");
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// This host's bundle, if it has one (the tests add the test CA to it).
fn system_bundle() -> String {
    std::fs::read_to_string(SYSTEM_BUNDLE).unwrap_or_default()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// A PEM file made by the openssl CLI in `dir`.
fn openssl_out(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("running openssl");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("PEM is ASCII")
}

/// A CRL of the test CA, as `openssl ca -gencrl` writes it.
fn test_crl(dir: &Path) -> String {
    write(dir, "index.txt", "");
    let cfg = "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ndefault_md = sha256\ndefault_crl_days = 30\n";
    write(dir, "crl.cnf", cfg);
    let c = certs();
    let (key, cert) = (c.ca_key.to_str().unwrap(), c.ca_pem.to_str().unwrap());
    openssl_out(
        dir,
        &[
            "ca", "-gencrl", "-config", "crl.cnf", "-keyfile", key, "-cert", cert,
        ],
    )
}

/// A RHEL 8 store as update-ca-trust leaves it: the bundle (with the test
/// CA), its directory-hash (the test CA, hashed) and the old name of the
/// bundle, a link.
fn rhel_store(dir: &Path, bundle: &str) -> Layout {
    let upper = dir.join("rhel-etc");
    let pem = upper.join("pki/ca-trust/extracted/pem");
    let hashed = pem.join("directory-hash");
    let old = upper.join("pki/tls/certs");
    for d in [&hashed, &old] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    write(&pem, "tls-ca-bundle.pem", bundle);
    std::fs::copy(&certs().ca_pem, hashed.join("test-ca.pem")).expect("copy CA");
    let ca = certs().ca_pem.to_str().unwrap();
    let hash = openssl_out(dir, &["x509", "-hash", "-noout", "-in", ca]);
    let link = hashed.join(format!("{}.0", hash.trim()));
    std::os::unix::fs::symlink("test-ca.pem", link).expect("symlink");
    std::os::unix::fs::symlink(
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        old.join("ca-bundle.crt"),
    )
    .expect("symlink");
    let work = dir.join("rhel-work");
    let empty = dir.join("rhel-empty");
    for d in [&work, &empty] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    Layout::Rhel { upper, work, empty }
}

/// Every plan, with the layouts and bundles that lead to it.
fn plan_cases() -> Vec<PlanCase> {
    let dir = scratch("plans");
    let c = certs();
    let test_ca = read(&c.ca_pem);
    let system = system_bundle();
    let with_ca = format!("{system}{test_ca}");
    let bundle = write(&dir, "bundle.pem", &with_ca);
    // The unknown server's self-signed certificate, trusted but rejected
    // for TLS servers: dropping that setting would make it a trusted root.
    let rejected = openssl_out(
        &dir,
        &[
            "x509",
            "-in",
            c.unknown.cert_pem.to_str().unwrap(),
            "-addreject",
            "serverAuth",
            "-trustout",
        ],
    );
    let trusted = write(&dir, "trusted.pem", &format!("{with_ca}{rejected}"));
    let crl = write(&dir, "crl.pem", &format!("{with_ca}{}", test_crl(&dir)));
    let broken_block = "-----BEGIN CERTIFICATE-----\nMIIBroken!!\n-----END CERTIFICATE-----\n";
    let broken = write(&dir, "broken.pem", &format!("{with_ca}{broken_block}"));
    // RHEL-like: a bundle file and no hashed directory.
    let rhel = dir.join("rhel");
    std::fs::create_dir_all(&rhel).expect("mkdir");
    write(&rhel, "ca-certificates.crt", &with_ca);
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");

    let rhel_store = rhel_store(&dir, &with_ca);

    let file = |p: &Path| vec![("SSL_CERT_FILE", p.display().to_string())];
    let mut cases = vec![
        PlanCase {
            name: "Store-less host",
            layout: Layout::Mounted(empty),
            env: Vec::new(),
            plan: "plan as-is",
            store_trusts_test_ca: false,
        },
        PlanCase {
            name: "RHEL-like: the bundle file only",
            layout: Layout::Mounted(rhel),
            env: Vec::new(),
            plan: "plan once",
            store_trusts_test_ca: true,
        },
        PlanCase {
            // SSL_CERT_DIR gets the directory-hash, which openssl-probe
            // does not search: the test CA is found there.
            name: "RHEL: the bundle and its directory-hash",
            layout: rhel_store.clone(),
            env: Vec::new(),
            plan: "plan lazy, looked up on demand in /etc/pki/ca-trust/extracted/pem/directory-hash/",
            store_trusts_test_ca: true,
        },
        PlanCase {
            name: "RHEL: SSL_CERT_FILE names the bundle through its old name",
            layout: rhel_store,
            env: file(Path::new("/etc/pki/tls/certs/ca-bundle.crt")),
            plan: "plan lazy, looked up on demand in /etc/pki/ca-trust/extracted/pem/directory-hash/",
            store_trusts_test_ca: true,
        },
        PlanCase {
            name: "SSL_CERT_FILE names another bundle",
            layout: Layout::Host,
            env: file(&bundle),
            plan: "plan once",
            store_trusts_test_ca: true,
        },
        PlanCase {
            name: "a TRUSTED CERTIFICATE block",
            layout: Layout::Host,
            env: file(&trusted),
            plan: "plan as-is",
            store_trusts_test_ca: true,
        },
        PlanCase {
            name: "an X509 CRL block",
            layout: Layout::Host,
            env: file(&crl),
            plan: "plan as-is",
            store_trusts_test_ca: true,
        },
        PlanCase {
            // Both readers refuse the block: OpenSSL's load of the file
            // trusts none of it, and neither does the Once plan.
            name: "a broken block",
            layout: Layout::Host,
            env: file(&broken),
            plan: "plan once",
            store_trusts_test_ca: false,
        },
    ];
    if Path::new(SYSTEM_BUNDLE).is_file() && Path::new("/etc/ssl/certs").is_dir() {
        cases.push(PlanCase {
            name: "hashed directory, SSL_CERT_FILE unset",
            layout: Layout::Host,
            env: Vec::new(),
            plan: "plan lazy",
            store_trusts_test_ca: false,
        });
        cases.push(PlanCase {
            name: "SSL_CERT_FILE names the system bundle",
            layout: Layout::Host,
            env: file(Path::new(SYSTEM_BUNDLE)),
            plan: "plan lazy",
            store_trusts_test_ca: false,
        });
    }
    cases
}

/// imapcheck with `args` in the case's layout and environment.
fn command(case: &PlanCase, args: &[String]) -> Command {
    traced_command(case, &[], args)
}

/// `command`, imapcheck started by `wrapper` (strace and its options).
fn traced_command(case: &PlanCase, wrapper: &[&str], args: &[String]) -> Command {
    let bin = env!("CARGO_BIN_EXE_imapcheck");
    let mut cmd = match &case.layout {
        Layout::Host => match wrapper.split_first() {
            None => Command::new(bin),
            Some((first, rest)) => {
                let mut cmd = Command::new(first);
                cmd.args(rest).arg(bin);
                cmd
            }
        },
        layout => {
            let (script, script_args) = layout.script().expect("a mounted layout");
            let mut cmd = Command::new("unshare");
            cmd.args(["-m", "sh", "-c", script])
                .args(script_args)
                .args(wrapper)
                .arg(bin);
            cmd
        }
    };
    cmd.args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("RUST_LOG")
        .env("IMAPCHECK_PASSWORD", PASS);
    for (k, v) in &case.env {
        cmd.env(k, v);
    }
    cmd
}

/// One check of a scripted server presenting `id`: its exit status and
/// JSON report.
fn check(case: &PlanCase, id: Identity, ca_file: bool) -> (Run, serde_json::Value) {
    let srv = ScriptedServer::start(Mode::Tls(id), kb_script());
    let port = srv.port().to_string();
    let mut args: Vec<String> = ["localhost", "--security", "tls", "-p", &port, "-u", USER]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--format".into(), "json".into()]);
    if ca_file {
        args.extend(["--ca-file".into(), certs().ca_pem.display().to_string()]);
    }
    let r = run_command(command(case, &args), None, RUN_TIMEOUT);
    let _ = srv.finish();
    let v = parse_json_stdout(&r);
    (r, v)
}

fn message(v: &serde_json::Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn every_plan_still_verifies_the_chain_the_name_and_the_dates() {
    let unshare_works = Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success());
    for case in plan_cases() {
        let name = case.name;
        if case.layout.script().is_some() {
            assert!(
                unshare_works,
                "{name}: needs root and unshare(1) for a private mount namespace"
            );
        }
        let ver = run_command(command(&case, &["--version".into()]), None, RUN_TIMEOUT);
        assert_eq!(ver.status, 0, "{name}: {ver:?}");
        assert!(
            ver.stdout.contains(case.plan),
            "{name}: want {}\n{}",
            case.plan,
            ver.stdout
        );

        // (The rejected root of the TRUSTED CERTIFICATE case is found and
        // refused: "did not verify", with OpenSSL's "certificate rejected".)
        let unknown: &[&str] = &["is not issued by a trusted CA", "did not verify"];
        for (id, want) in [
            (Identity::Unknown, unknown),
            (Identity::WrongName, &["is not valid for localhost"]),
            (Identity::Expired, &["has expired"]),
        ] {
            let (r, v) = check(&case, id, true);
            assert_eq!(r.status, 2, "{name}, {id:?}: {r:?}");
            let got = message(&v);
            assert!(
                want.iter().any(|w| got.contains(w)),
                "{name}, {id:?}: {got}"
            );
        }
        let (r, v) = check(&case, Identity::Good, true);
        assert_eq!(r.status, 0, "{name}, --ca-file: {r:?}");
        assert_eq!(v["tls"]["verified"], true, "{name}");

        let (r, v) = check(&case, Identity::Good, false);
        if case.store_trusts_test_ca {
            assert_eq!(r.status, 0, "{name}, the store alone: {r:?}");
            assert_eq!(v["tls"]["verified"], true, "{name}");
        } else {
            assert_eq!(r.status, 2, "{name}, the store alone: {r:?}");
            assert!(message(&v).contains("CA"), "{name}: {}", message(&v));
        }
    }
    let _ = std::fs::remove_dir_all(scratch("plans"));
}

/// The opens of files whose path ends in one of `names`, in an strace log.
fn opens(log: &str, names: &[&str]) -> usize {
    log.lines()
        .filter(|l| l.contains("open") && !l.contains("ENOENT"))
        .filter(|l| names.iter().any(|n| l.contains(&format!("{n}\""))))
        .count()
}

#[test]
fn the_once_plan_opens_the_bundle_once_and_openssl_never() {
    // Before, OpenSSL opened it twice: SSL_CTX_set_default_verify_paths,
    // then native-tls's openssl-probe file. strace counts the opens of a
    // whole check (the bundle holds the test CA: no --ca-file).
    let dir = scratch("strace");
    let with_ca = format!("{}{}", system_bundle(), read(&certs().ca_pem));
    let bundle = write(&dir, "named.pem", &with_ca);
    let rhel = dir.join("rhel");
    std::fs::create_dir_all(&rhel).expect("mkdir");
    write(&rhel, "ca-certificates.crt", &with_ca);
    let cases = [
        (
            Layout::Host,
            vec![("SSL_CERT_FILE", bundle.display().to_string())],
            "named.pem",
        ),
        (Layout::Mounted(rhel), Vec::new(), "ca-certificates.crt"),
    ];
    for (layout, env, name) in cases {
        let log = dir.join("strace.log");
        let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
        let port = srv.port().to_string();
        let case = PlanCase {
            name: "strace",
            layout,
            env,
            plan: "plan once",
            store_trusts_test_ca: true,
        };
        let args: Vec<String> = ["localhost", "--security", "tls", "-p", &port, "-u", USER]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let log_arg = log.display().to_string();
        let strace = ["strace", "-f", "-e", "trace=open,openat", "-o", &log_arg];
        let traced = traced_command(&case, &strace, &args);
        let r = run_command(traced, None, RUN_TIMEOUT);
        let _ = srv.finish();
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| {
            panic!("no strace log ({e}): is strace installed (tests/deps trust)?\n{r:?}")
        });
        assert_eq!(r.status, 0, "{name}: {r:?}");
        assert_eq!(opens(&text, &[name, "cert.pem"]), 1, "{name}:\n{text}");
        assert!(
            opens(&text, &["/dev/null"]) >= 1,
            "{name}: OpenSSL's loads\n{text}"
        );
    }
    let _ = std::fs::remove_dir_all(scratch("strace"));
}
