// What the tls step says about the handshake (issue 22), against
// `openssl s_server` on loopback: a test PKI of root -> intermediate ->
// leaf made at test time, served as leaf only, full chain, wrong order and
// root included; a P-256-only server (no HelloRetryRequest); TLS 1.2 only
// under --min-tls 1.3; a TLS 1.0-only server. The server greets with BYE,
// so that the check ends right after the tls and greeting steps.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The caIssuers URL the leaf carries (never fetched).
const AIA_URL: &str = "http://127.0.0.1:9/test-intermediate.crt";

struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn ossl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the openssl CLI");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// root.pem (CA), int.pem (CA, issued by root), leaf.pem (localhost,
/// issued by int, with an AIA caIssuers URL), and the bundles served.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        remove_stale_pkis();
        let dir = std::env::temp_dir().join(format!("imapcheck-chain-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let key = |name: &str| {
            ossl(
                &dir,
                &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name],
            )
        };
        // A key, a request for `subject`, and the certificate `ca` issues
        // for it, valid `days`, with the extensions in the file `ext`.
        let issue = |name: &str, subject: &str, ca: &str, ext: &str, days: &str| {
            let file = |suffix: &str| format!("{name}.{suffix}");
            let (key_file, csr, pem) = (file("key"), file("csr"), file("pem"));
            let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
            key(&key_file);
            ossl(&dir, &["req", "-new", "-key", &key_file, "-out", &csr, "-subj", subject]);
            ossl(
                &dir,
                &[
                    "x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key,
                    "-CAcreateserial", "-out", &pem, "-days", days, "-extfile", ext,
                ],
            );
        };
        key("root.key");
        ossl(
            &dir,
            &[
                "req", "-x509", "-new", "-key", "root.key", "-out", "root.pem", "-days", "30",
                "-subj", "/CN=imapcheck chain test root", "-addext",
                "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(
            dir.join("int.ext"),
            "basicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
        )
        .expect("write");
        issue("int", "/CN=imapcheck chain test intermediate", "root", "int.ext", "30");
        std::fs::write(
            dir.join("leaf.ext"),
            format!(
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nauthorityInfoAccess=caIssuers;URI:{AIA_URL}\n"
            ),
        )
        .expect("write");
        issue("leaf", "/CN=localhost", "int", "leaf.ext", "20");
        // Another intermediate of the same root: no part of the leaf's path.
        issue("other", "/CN=imapcheck chain test other", "root", "int.ext", "30");
        // A second leaf for the same name, as after a renewal.
        issue("leaf2", "/CN=localhost", "int", "leaf.ext", "25");
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).expect("read pem");
        let (root, int) = (read("root.pem"), read("int.pem"));
        std::fs::write(dir.join("chain-int.pem"), &int).expect("write");
        std::fs::write(dir.join("chain-int-root.pem"), format!("{int}{root}")).expect("write");
        std::fs::write(dir.join("chain-root-int.pem"), format!("{root}{int}")).expect("write");
        std::fs::write(dir.join("ca-root-int.pem"), format!("{root}{int}")).expect("write");
        let other = read("other.pem");
        std::fs::write(dir.join("chain-int-other.pem"), format!("{int}{other}")).expect("write");
        Pki { dir }
    })
}

/// The PKIs of earlier test runs whose process is gone (each run makes
/// its own, and cannot remove it when its last test ends).
fn remove_stale_pkis() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("imapcheck-chain-")
            && pid.parse::<u32>().is_ok()
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// `openssl s_server` for one connection, greeting with BYE.
struct SServer {
    child: Child,
    port: u16,
}

impl SServer {
    fn start(args: &[&str]) -> SServer {
        SServer::accepting(1, args)
    }

    /// For `connections` connections (the TLS 1.0 probe makes a second).
    fn accepting(connections: u32, args: &[&str]) -> SServer {
        SServer::serve("127.0.0.1", closed_port(), connections, "leaf", args)
    }

    /// On `ip`:`port`, presenting `<leaf>.pem`.
    fn serve(ip: &str, port: u16, connections: u32, leaf: &str, args: &[&str]) -> SServer {
        let p = pki();
        let naccept = connections.to_string();
        let accept = format!("{ip}:{port}");
        let (cert, key) = (
            p.path(&format!("{leaf}.pem")),
            p.path(&format!("{leaf}.key")),
        );
        let mut child = Command::new("openssl")
            .args(["s_server", "-naccept", &naccept, "-accept", &accept])
            .args(["-cert", &cert, "-key", &key])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        // s_server forwards its input once a client is connected.
        child
            .stdin
            .as_mut()
            .expect("stdin")
            .write_all(b"* BYE test server\r\n")
            .expect("write the greeting");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("ACCEPT") => break,
                Some(Ok(_)) if Instant::now() < until => {}
                other => panic!("s_server did not start: {other:?}"),
            }
        }
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        SServer { child, port }
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs imapcheck (JSON) against the server; returns the run, the tls
/// step and the report's tls object.
fn check(server: &SServer, ca_file: &str, extra: &[&str]) -> (Run, Value, Value) {
    let port = server.port.to_string();
    let mut args = vec![
        "-H",
        "localhost",
        "--port",
        &port,
        "--security",
        "tls",
        "--format",
        "json",
        "--timeout",
        "10",
    ];
    if !ca_file.is_empty() {
        args.extend(["--ca-file", ca_file]);
    }
    args.extend(extra);
    let (r, v) = run_json(
        &args,
        &[
            ("SSL_CERT_FILE", "/dev/null"),
            ("SSL_CERT_DIR", "/nonexistent"),
        ],
        None,
    );
    let step = v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "tls"))
        .cloned()
        .unwrap_or(Value::Null);
    (r, step, v["tls"].clone())
}

/// A server that sends its leaf and the intermediate (a complete chain
/// below the root), with `extra` s_server options.
fn full_chain_server(extra: &[&str]) -> SServer {
    let chain = pki().path("chain-int.pem");
    let mut args = vec!["-cert_chain", chain.as_str()];
    args.extend(extra);
    SServer::start(&args)
}

/// A server that sends its leaf and then the certificates of `bundle`,
/// checked against the root: the check succeeds; the tls step's detail
/// and the tls object are for what each test asserts besides.
fn check_sending(bundle: &str) -> (String, Value) {
    let p = pki();
    let s = SServer::start(&["-cert_chain", &p.path(bundle)]);
    let (r, step, tls) = check(&s, &p.path("root.pem"), &[]);
    assert_eq!(step["status"], "ok", "{r:?}");
    (detail(&step), tls)
}

/// A full-chain server offering only key-exchange `group`: the check
/// succeeds and names the group; the step and the tls object are for
/// what each group's test asserts besides.
fn check_group_only(group: &str) -> (Value, Value) {
    let s = full_chain_server(&["-groups", group]);
    let (r, step, tls) = check(&s, &pki().path("root.pem"), &[]);
    assert_eq!(step["status"], "ok", "{r:?}");
    assert_eq!(tls["session"]["group"], group, "{tls}");
    (step, tls)
}

/// `--all-addresses --format json` against `localhost`, which the hosts
/// file maps to the two addresses of `servers`; each `(address, leaf)`
/// is a full-chain server on one shared port presenting `<leaf>.pem`.
fn check_all_addresses(servers: [(&str, &str); 2]) -> Value {
    let p = pki();
    let port = closed_port();
    let chain = p.path("chain-int.pem");
    let args = ["-cert_chain", chain.as_str()];
    let _running = servers.map(|(ip, leaf)| SServer::serve(ip, port, 1, leaf, &args));
    let hosts: String = servers
        .iter()
        .map(|(ip, _)| format!("{ip} localhost\n"))
        .collect();
    let port = port.to_string();
    let r = run_with_hosts(
        &hosts,
        &[
            "localhost",
            "--port",
            &port,
            "--security",
            "tls",
            "--all-addresses",
            "--format",
            "json",
            "--ca-file",
            &p.path("root.pem"),
        ],
        &[],
        None,
    );
    parse_json_stdout(&r)
}

fn detail(step: &Value) -> String {
    step["detail"].as_str().unwrap_or_default().to_string()
}

#[test]
fn full_chain_reaches_the_root_by_itself() {
    let (d, tls) = check_sending("chain-int.pem");
    let session = &tls["session"];
    assert_eq!(session["chain"].as_array().map(Vec::len), Some(2), "{tls}");
    assert_eq!(session["chain_complete"], true, "{tls}");
    assert_eq!(
        session["chain"][1]["subject"],
        "CN=imapcheck chain test intermediate"
    );
    assert_eq!(
        session["chain"][1]["issuer"],
        "CN=imapcheck chain test root"
    );
    assert_eq!(session["version"], "TLS 1.3", "{tls}");
    assert!(
        session["cipher"]
            .as_str()
            .is_some_and(|c| c.starts_with("TLS_")),
        "{tls}"
    );
    assert_eq!(
        session["leaf_sha256"].as_str().map(str::len),
        Some(64),
        "{tls}"
    );
    assert!(
        d.contains("chain as sent: 2 certificates, reaches a trusted root by itself"),
        "{d}"
    );
    assert!(!d.contains("note:"), "{d}");
}

#[test]
fn leaf_only_without_the_intermediate_names_the_missing_issuer() {
    let p = pki();
    let s = SServer::start(&[]);
    let (r, step, _) = check(&s, &p.path("root.pem"), &[]);
    assert_eq!(step["status"], "failed", "{r:?}");
    let v = parse_json_stdout(&r);
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains(
            "sent only its own certificate, and its issuer CN=imapcheck chain test intermediate"
        ),
        "{msg}"
    );
    let hint = v["error"]["hint"].as_str().unwrap_or_default();
    assert!(
        hint.contains(
            "the server must send the intermediate certificate CN=imapcheck chain test intermediate"
        ),
        "{hint}"
    );
    assert!(hint.contains(AIA_URL), "{hint}");
    assert_eq!(r.status, 2);
}

#[test]
fn leaf_only_verified_through_the_local_store_warns() {
    let p = pki();
    let s = SServer::start(&[]);
    let (r, step, tls) = check(&s, &p.path("ca-root-int.pem"), &[]);
    assert_eq!(step["status"], "warning", "{r:?}");
    assert_eq!(tls["session"]["chain_complete"], false, "{tls}");
    let d = detail(&step);
    assert!(
        d.contains("chain as sent: 1 certificate, incomplete"),
        "{d}"
    );
    let v = parse_json_stdout(&r);
    let warnings = v.to_string();
    assert!(
        warnings.contains(
            "does not send the intermediate certificate CN=imapcheck chain test intermediate"
        ),
        "{warnings}"
    );
}

#[test]
fn wrong_order_and_a_sent_root_are_notes() {
    let (d, tls) = check_sending("chain-root-int.pem");
    assert!(d.contains("note: the chain is not sent leaf first"), "{d}");
    assert!(
        d.contains("note: the root CN=imapcheck chain test root is sent"),
        "{d}"
    );
    assert_eq!(tls["session"]["chain"].as_array().map(Vec::len), Some(3));
    assert_eq!(tls["session"]["chain_complete"], true);
}

#[test]
fn root_included_in_order_is_a_note_only() {
    let (d, _) = check_sending("chain-int-root.pem");
    assert!(
        d.contains("note: the root CN=imapcheck chain test root is sent"),
        "{d}"
    );
    assert!(!d.contains("not sent leaf first"), "{d}");
}

#[test]
fn a_p256_only_server_needs_no_hello_retry() {
    let (step, tls) = check_group_only("P-256");
    assert_eq!(tls["session"]["hello_retry"], false, "{tls}");
    assert!(!detail(&step).contains("HelloRetryRequest"));
}

/// Whether the linked OpenSSL sends two key shares (3.5 and later), from
/// `--version`'s TLS line.
fn sends_two_key_shares() -> bool {
    let out = imapcheck().arg("--version").output().expect("--version");
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text
        .lines()
        .find_map(|l| l.strip_prefix("TLS: OpenSSL "))
        .unwrap_or_else(|| panic!("no OpenSSL version in {text}"));
    let mut parts = version
        .split(['.', ' '])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (3, 5)
}

#[test]
fn an_x25519_only_server_is_reported_as_such() {
    // With two key shares (OpenSSL 3.5+, the static builds) X25519 needs
    // no retry; with one (P-256's, OpenSSL 3.0 to 3.4) it does, and says so.
    let (_, tls) = check_group_only("X25519");
    assert_eq!(
        tls["session"]["hello_retry"],
        !sends_two_key_shares(),
        "{tls}"
    );
}

#[test]
fn tls12_under_min_tls_13_warns_and_its_critical_form_fails() {
    let p = pki();
    let s = full_chain_server(&["-tls1_2"]);
    let (r, step, tls) = check(&s, &p.path("root.pem"), &["--min-tls", "1.3"]);
    assert_eq!(step["status"], "warning", "{r:?}");
    assert_eq!(tls["session"]["version"], "TLS 1.2", "{tls}");
    assert!(
        r.stdout
            .contains("the server negotiated TLS 1.2, below --min-tls TLS 1.3"),
        "{r:?}"
    );
    drop(s);
    let s = full_chain_server(&["-tls1_2"]);
    let (r, step, _) = check(&s, &p.path("root.pem"), &["--min-tls", "1.3,1.3"]);
    assert_eq!(step["status"], "failed", "{r:?}");
    assert_eq!(r.status, 2);
    drop(s);
    // Without --min-tls: reported, not judged.
    let s = full_chain_server(&["-tls1_2"]);
    let (r, step, _) = check(&s, &p.path("root.pem"), &[]);
    assert_eq!(step["status"], "ok", "{r:?}");
    assert!(detail(&step).contains("TLS 1.2, "), "{}", detail(&step));
}

#[test]
fn a_tls10_only_server_gets_its_own_diagnosis() {
    let p = pki();
    let s = SServer::accepting(
        2,
        &[
            "-cert_chain",
            &p.path("chain-int.pem"),
            "-tls1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
        ],
    );
    let (r, step, _) = check(&s, &p.path("root.pem"), &[]);
    assert_eq!(step["status"], "failed", "{r:?}");
    let v = parse_json_stdout(&r);
    assert_eq!(
        v["error"]["message"],
        "this server offers only TLS 1.0; current clients and this OpenSSL refuse it",
        "{r:?}"
    );
}

#[test]
fn insecure_still_reports_the_chain_and_why_it_would_not_verify() {
    let s = SServer::start(&[]);
    let (r, step, tls) = check(&s, "", &["--insecure"]);
    assert_eq!(step["status"], "warning", "{r:?}");
    assert_eq!(tls["verified"], false);
    assert_eq!(
        tls["session"]["chain"].as_array().map(Vec::len),
        Some(1),
        "{tls}"
    );
    let d = detail(&step);
    assert!(d.contains("the certificate would not verify:"), "{d}");
    assert!(!d.starts_with("verified"), "{d}");
}

#[test]
fn insecure_never_says_the_chain_is_trusted() {
    let p = pki();
    let s = full_chain_server(&[]);
    let (r, step, tls) = check(&s, &p.path("root.pem"), &["--insecure"]);
    assert_eq!(step["status"], "warning", "{r:?}");
    assert_eq!(tls["verified"], false);
    let d = detail(&step);
    assert!(
        d.contains("would reach a trusted root by itself (not relied on: --insecure)"),
        "{d}"
    );
    assert!(!d.contains(", reaches a trusted root"), "{d}");
    assert!(!d.starts_with("verified"), "{d}");
}

#[test]
fn openmetrics_has_the_tls_info_and_the_chain_length() {
    let p = pki();
    let s = full_chain_server(&[]);
    let port = s.port.to_string();
    let r = run(
        &[
            "-H",
            "localhost",
            "--port",
            &port,
            "--security",
            "tls",
            "--format",
            "openmetrics",
            "--ca-file",
            &p.path("root.pem"),
        ],
        &[],
        None,
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("imapcheck_tls_info{")
                && l.contains("version=\"TLS 1.3\"")
                && l.contains("cipher=\"TLS_")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("imapcheck_tls_chain_certificates{") && l.ends_with(" 2")),
        "{}",
        r.stdout
    );
}

#[test]
fn all_addresses_compares_the_certificates() {
    let v = check_all_addresses([("127.0.2.1", "leaf"), ("127.0.2.2", "leaf2")]);
    let certs = &v["certificates"];
    let leaves = certs["leaves"].as_array().expect("leaves");
    assert_eq!(leaves.len(), 2, "{v}");
    assert_ne!(leaves[0]["leaf_sha256"], leaves[1]["leaf_sha256"], "{v}");
    let differ = certs["differ"].as_str().unwrap_or_default();
    assert!(differ.contains("a different notAfter"), "{differ}");
    assert!(
        differ.contains("127.0.2.1:") && differ.contains("127.0.2.2:"),
        "{differ}"
    );
    // (The round's verdict, WARNING at least, is a unit test in
    // src/report/certificates.rs: these servers greet with BYE.)
}

#[test]
fn all_addresses_with_one_certificate_agree() {
    let v = check_all_addresses([("127.0.2.3", "leaf"), ("127.0.2.4", "leaf")]);
    assert_eq!(v["certificates"]["differ"], Value::Null, "{v}");
    assert_eq!(
        v["certificates"]["leaves"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
}

#[test]
fn a_p384_only_server_shows_its_hello_retry() {
    // No key share for P-384 is offered: the server must ask for one. This
    // is what the P-256-only case above looked like before (X25519 alone).
    let (step, tls) = check_group_only("P-384");
    assert_eq!(tls["session"]["hello_retry"], true, "{tls}");
    assert!(detail(&step).contains("after a HelloRetryRequest (one more round trip)"));
}

#[test]
fn a_certificate_off_the_path_is_a_note() {
    let (d, tls) = check_sending("chain-int-other.pem");
    assert!(
        d.contains("note: sent but no part of the verified path: CN=imapcheck chain test other"),
        "{d}"
    );
    assert!(!d.contains("not sent leaf first"), "{d}");
    assert_eq!(tls["session"]["chain_complete"], true, "{tls}");
}
