// Self-tests of the integration-test harness in tests/common: the glob
// matcher, the scripted IMAP server (plain, implicit TLS, STARTTLS, every
// Step), the test PKI as a native-tls client sees it, and the process
// runner. Uses a raw TcpStream / native-tls client, never the imapcheck binary.

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Command;
use std::time::{Duration, Instant};

// ---------- a minimal raw IMAP client ----------

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn connector() -> native_tls::TlsConnector {
    let ca = std::fs::read(&certs().ca_pem).unwrap();
    native_tls::TlsConnector::builder()
        .add_root_certificate(native_tls::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap()
}

fn tls_connect(host: &str, tcp: TcpStream) -> Result<native_tls::TlsStream<TcpStream>, String> {
    connector().connect(host, tcp).map_err(|e| match e {
        native_tls::HandshakeError::Failure(e) => e.to_string(),
        native_tls::HandshakeError::WouldBlock(_) => "handshake would block".into(),
    })
}

struct Client<S: Read + Write> {
    s: S,
}

impl<S: Read + Write> Client<S> {
    /// One line including its CRLF; panics on EOF.
    fn line(&mut self) -> String {
        let mut out = Vec::new();
        let mut b = [0u8; 1];
        while !out.ends_with(b"\r\n") {
            let n = self.s.read(&mut b).expect("client read");
            assert!(n == 1, "EOF after {:?}", String::from_utf8_lossy(&out));
            out.push(b[0]);
        }
        String::from_utf8(out).unwrap()
    }

    fn send(&mut self, text: &str) {
        self.s.write_all(text.as_bytes()).unwrap();
        self.s.flush().unwrap();
    }

    /// Sends "tag cmd" and returns every line up to the tagged one.
    fn command(&mut self, tag: &str, cmd: &str) -> String {
        self.send(&format!("{tag} {cmd}\r\n"));
        self.answer(tag)
    }

    /// Every line up to the one tagged `tag`.
    fn answer(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let l = self.line();
            all.push_str(&l);
            if l.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    fn read_to_end(&mut self) -> Vec<u8> {
        let mut v = Vec::new();
        self.s.read_to_end(&mut v).expect("read_to_end");
        v
    }
}

/// Drives the kb happy path and checks every reply; returns what was sent.
fn drive_kb<S: Read + Write>(c: &mut Client<S>) -> String {
    assert_eq!(c.line(), GREETING);
    let mut sent = String::new();
    let mut cmd = |c: &mut Client<S>, tag: &str, text: &str| {
        sent.push_str(&format!("{tag} {text}\r\n"));
        c.command(tag, text)
    };
    let r = cmd(c, "A001", "LOGIN alice \"s3cret pass\"");
    assert!(r.starts_with("A001 OK [CAPABILITY IMAP4rev1 "), "{r}");
    assert!(r.ends_with("] Logged in\r\n"), "{r}");
    // After LOGIN the KB script wants the rest in one write, as imapcheck
    // pipelines it.
    let batch = format!(
        "A002 LIST \"\" \"*\"\r\nA003 EXAMINE INBOX\r\nA004 {KB_FETCH_NEWEST}\r\nA005 LOGOUT\r\n"
    );
    sent.push_str(&batch);
    c.send(&batch);
    let r = c.answer("A002");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \".\" INBOX\r\n"),
        "{r}"
    );
    assert!(r.contains(" Entw&APw-rfe\r\n"), "{r}");
    assert!(r.contains(" \".\" {13}\r\nDeleted Items\r\n"), "{r}");
    assert!(r.ends_with("A002 OK List completed (0.009 + 0.000 + 0.008 secs).\r\n"));
    let r = c.answer("A003");
    for want in [
        "* 3 EXISTS\r\n",
        "* 0 RECENT\r\n",
        "* OK [UNSEEN 2]",
        "* OK [UIDVALIDITY 1700000001]",
        "* OK [UIDNEXT 4]",
        "* OK [PERMANENTFLAGS ()]",
        "A003 OK [READ-ONLY] Examine completed",
    ] {
        assert!(r.contains(want), "{want} not in {r}");
    }
    let r = c.answer("A004");
    assert!(r.starts_with("* 3 FETCH (FLAGS (\\Flagged) "), "{r}");
    assert!(
        r.contains(&format!(" {{{}}}\r\n{KB_SUBJECT} ", KB_SUBJECT.len())),
        "{r}"
    );
    assert!(r.contains("A004 OK Fetch completed"), "{r}");
    let r = c.answer("A005");
    assert_eq!(
        r,
        "* BYE Logging out\r\nA005 OK Logout completed (0.001 + 0.000 secs).\r\n"
    );
    sent
}

fn assert_fast(start: Instant, limit: Duration) {
    assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
}

// ---------- pure helpers ----------

#[test]
fn glob_matcher() {
    let cases: &[(&str, &[u8], bool)] = &[
        ("", b"", true),
        ("", b"a", false),
        ("*", b"", true),
        ("*", b"anything at all", true),
        ("NOOP", b"NOOP", true),
        ("NOOP", b"NOOP ", false),
        ("NOOP", b"NOO", false),
        ("noop", b"NOOP", false),
        ("LOGIN *", b"LOGIN alice \"s3cret pass\"", true),
        ("LOGIN *", b"LOGIN ", true),
        ("LOGIN *", b"LOGIN", false),
        ("LOGIN *", b"XLOGIN a", false),
        ("LIST \"\" \"*\"", b"LIST \"\" \"*\"", true),
        ("a*b*c", b"aXbYc", true),
        ("a*b*c", b"abc", true),
        ("a*b*c", b"aXbYcZ", false),
        ("*abc", b"ababc", true),
        ("*abc", b"abab", false),
        ("a*a*a", b"aa", false),
        ("a*a*a", b"aaa", true),
        ("*x*", b"yyy", false),
        ("**", b"z", true),
        ("FETCH * (*)", b"FETCH 1:3 (FLAGS UID)", true),
        ("*\u{fc}*", "Entwürfe".as_bytes(), true),
        ("*", b"\xff\x00\r", true),
    ];
    for (pat, text, want) in cases {
        assert_eq!(
            glob_match(pat, text),
            *want,
            "glob_match({pat:?}, {:?})",
            escape(text)
        );
    }
}

#[test]
fn escape_formats_bytes() {
    assert_eq!(escape(b"a1 OK [x] \"q\"\r\n"), "a1 OK [x] \"q\"\\r\\n");
    assert_eq!(escape(b"\x00\t\x7f\xff~ "), "\\x00\\x09\\x7f\\xff~ ");
    assert_eq!(escape("ü".as_bytes()), "\\xc3\\xbc");
    assert_eq!(escape(b""), "");
}

#[test]
fn kb_script_shape() {
    assert_eq!(literal("Deleted Items"), "{13}\r\nDeleted Items");
    assert!(GREETING.starts_with("* OK [CAPABILITY IMAP4rev1 ") && GREETING.ends_with("\r\n"));
    let script = kb_script_after_greeting();
    assert!(matches!(&script[0], Step::ExpectAlone(p) if p == "LOGIN *"));
    assert!(matches!(script.last(), Some(Step::ExpectEof)));
    for step in &script {
        if let Step::Send(s) = step {
            assert!(s.ends_with("\r\n") && s.contains("{tag} OK"), "{s:?}");
            // every LF is part of a CRLF
            assert_eq!(s.matches('\n').count(), s.matches("\r\n").count(), "{s:?}");
        }
    }
    assert!(matches!(&kb_script()[0], Step::Send(g) if g == GREETING));
}

// ---------- the scripted server ----------

#[test]
fn tag_substitution_and_lines() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send(GREETING.into()),
            Step::Expect("NOOP".into()),
            Step::Send("{tag} OK NOOP completed.\r\n".into()),
            Step::Expect("CHECK *".into()),
            Step::Send("* 1 {tag}\r\n{tag} OK {tag}\r\n".into()),
            Step::ExpectEof,
        ],
    );
    let mut c = Client {
        s: connect(srv.addr()),
    };
    assert_eq!(c.line(), GREETING);
    assert_eq!(c.command("x7", "NOOP"), "x7 OK NOOP completed.\r\n");
    assert_eq!(
        c.command("Zz.9", "CHECK foo bar"),
        "* 1 Zz.9\r\nZz.9 OK Zz.9\r\n"
    );
    drop(c);
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(log.lines, ["x7 NOOP", "Zz.9 CHECK foo bar"]);
    assert_eq!(log.received, b"x7 NOOP\r\nZz.9 CHECK foo bar\r\n");
    assert_eq!(log.tls_handshakes, 0);
}

#[test]
fn tag_before_any_line_is_an_error() {
    let srv = ScriptedServer::start(Mode::Plain, vec![Step::Send("{tag} OK\r\n".into())]);
    let mut c = Client {
        s: connect(srv.addr()),
    };
    assert_eq!(c.read_to_end(), b"");
    let log = srv.finish();
    assert!(!log.completed);
    assert!(log.errors[0].contains("{tag}"), "{:?}", log.errors);
}

#[test]
fn split_send_reassembles() {
    let text: String = (0..40).map(|i| format!("* {i} EXISTS\r\n")).collect();
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![Step::SendSplit(text.clone(), 7), Step::Close],
    );
    let mut s = connect(srv.addr());
    let (mut got, mut reads) = (Vec::new(), 0);
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        reads += 1;
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8(got).unwrap(), text);
    // ~70 chunks 5 ms apart: they cannot all arrive in one read.
    assert!(reads >= 2, "only {reads} read(s)");
    drop(s);
    srv.finish().assert_ok();
}

#[test]
fn plain_kb_script_round_trip() {
    let srv = ScriptedServer::start(Mode::Plain, kb_script());
    let mut c = Client {
        s: connect(srv.addr()),
    };
    let sent = drive_kb(&mut c);
    drop(c);
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(log.received_text(), sent);
    assert_eq!(log.lines.len(), 5);
    assert_eq!(log.lines[0], "A001 LOGIN alice \"s3cret pass\"");
}

#[test]
fn split_kb_script_round_trip() {
    let script = split_sends(kb_script(), 50);
    assert!(script.iter().all(|s| !matches!(s, Step::Send(_))));
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), script);
    let mut c = Client {
        s: tls_connect("localhost", connect(srv.addr())).expect("handshake"),
    };
    drive_kb(&mut c);
    drop(c);
    srv.finish().assert_ok();
}

#[test]
fn implicit_tls_kb_script_round_trip() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
    let tls = tls_connect("localhost", connect(srv.addr())).expect("handshake");
    let mut c = Client { s: tls };
    let sent = drive_kb(&mut c);
    // A clean TLS close (close_notify) first, then TCP close.
    c.s.shutdown().unwrap();
    drop(c);
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(log.tls_handshakes, 1);
    // decrypted bytes, not ciphertext
    assert_eq!(log.received_text(), sent);
}

#[test]
fn tls_close_without_close_notify_counts_as_eof() {
    let srv = ScriptedServer::start(
        Mode::Tls(Identity::Good),
        vec![Step::Send(GREETING.into()), Step::ExpectEof],
    );
    let mut c = Client {
        s: tls_connect("127.0.0.1", connect(srv.addr())).expect("handshake"),
    };
    assert_eq!(c.line(), GREETING);
    drop(c); // TCP FIN without close_notify
    let log = srv.finish();
    log.assert_ok();
}

#[test]
fn ipv6_loopback() {
    if TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipping: no IPv6 loopback here");
        return;
    }
    let srv = ScriptedServer::start_on("[::1]:0", Mode::Tls(Identity::Good), kb_script());
    assert!(srv.addr().is_ipv6());
    let mut c = Client {
        s: tls_connect("::1", connect(srv.addr())).expect("verifies for IP ::1"),
    };
    drive_kb(&mut c);
    drop(c);
    srv.finish().assert_ok();
}

#[test]
#[should_panic(expected = "loopback only")]
fn non_loopback_address_is_refused() {
    let _ = ScriptedServer::start_on("0.0.0.0:0", Mode::Plain, vec![]);
}

#[test]
fn starttls_upgrade() {
    let mut script = vec![Step::Send(GREETING_STARTTLS.into())];
    script.extend(starttls_steps(Identity::Good));
    script.extend([
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE Logging out\r\n{tag} OK Logout completed.\r\n".into()),
        Step::ExpectEof,
    ]);
    let srv = ScriptedServer::start(Mode::Plain, script);
    let mut c = Client {
        s: connect(srv.addr()),
    };
    assert_eq!(c.line(), GREETING_STARTTLS);
    assert!(
        c.command("a1", "CAPABILITY")
            .contains(" STARTTLS LOGINDISABLED\r\n")
    );
    assert_eq!(
        c.command("a2", "STARTTLS"),
        "a2 OK Begin TLS negotiation now.\r\n"
    );
    let mut c = Client {
        s: tls_connect("localhost", c.s).expect("STARTTLS handshake"),
    };
    let caps = c.command("a3", "CAPABILITY");
    assert!(
        !caps.contains("STARTTLS") && caps.contains("AUTH=PLAIN"),
        "{caps}"
    );
    c.command("a4", "LOGOUT");
    drop(c);
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(log.tls_handshakes, 1);
    assert_eq!(
        log.received_text(),
        "a1 CAPABILITY\r\na2 STARTTLS\r\na3 CAPABILITY\r\na4 LOGOUT\r\n"
    );
}

#[test]
fn data_pipelined_before_starttls_handshake_is_an_error() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send(GREETING_STARTTLS.into()),
            Step::Expect("STARTTLS".into()),
            Step::Send("{tag} OK Begin TLS negotiation now.\r\n".into()),
            Step::StartTls(Identity::Good),
        ],
    );
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 STARTTLS\r\na2 LOGIN x y\r\n"); // one write
    c.read_to_end();
    let log = srv.finish();
    assert!(!log.completed);
    assert!(
        log.errors[0].contains("precede the TLS handshake") && log.errors[0].contains("a2 LOGIN"),
        "{:?}",
        log.errors
    );
}

// ---------- the identities as a native-tls client sees them ----------

/// Connects a verifying native-tls client (trusting the test CA) to a server
/// presenting `id`, verifying `host`. Ok(greeting) or Err(error text).
fn probe(id: Identity, host: &str) -> (Result<String, String>, ServerLog) {
    let srv = ScriptedServer::start(
        Mode::Tls(id),
        vec![Step::Send(GREETING.into()), Step::ExpectEof],
    );
    let result = tls_connect(host, connect(srv.addr())).map(|s| {
        let mut c = Client { s };
        c.line()
    });
    let log = srv.finish();
    (result, log)
}

fn openssl_x509(id: Identity, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .arg("x509")
        .arg("-noout")
        .arg("-in")
        .arg(&certs().pair(id).cert_pem)
        .args(args)
        .output()
        .expect("openssl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn good_identity_verifies_for_localhost_and_ip() {
    for host in ["localhost", "127.0.0.1"] {
        let (r, log) = probe(Identity::Good, host);
        assert_eq!(r.as_deref(), Ok(GREETING), "host {host}");
        log.assert_ok();
    }
    let (_, subject) = openssl_x509(Identity::Good, &["-subject", "-issuer"]);
    assert!(
        subject.contains("CN = localhost, O = imapcheck test"),
        "{subject}"
    );
    assert!(
        subject.contains("issuer=CN = imapcheck test CA"),
        "{subject}"
    );
    // not expiring within 300 days
    assert!(openssl_x509(Identity::Good, &["-checkend", &(300 * 86400).to_string()]).0);
}

#[test]
fn wrongname_identity_fails_hostname_check() {
    let (r, log) = probe(Identity::WrongName, "localhost");
    let err = r.expect_err("must not verify for localhost");
    assert!(err.to_lowercase().contains("hostname mismatch"), "{err}");
    assert!(log.errors[0].contains("TLS handshake"), "{:?}", log.errors);
    // It is otherwise valid: the CA signed it for mail.example.org.
    let (r, log) = probe(Identity::WrongName, "mail.example.org");
    assert_eq!(r.as_deref(), Ok(GREETING));
    log.assert_ok();
    let (_, san) = openssl_x509(Identity::WrongName, &["-ext", "subjectAltName"]);
    assert!(
        san.contains("DNS:mail.example.org") && !san.contains("localhost"),
        "{san}"
    );
}

#[test]
fn unknown_identity_fails_issuer_check() {
    let (r, log) = probe(Identity::Unknown, "localhost");
    let err = r.expect_err("self-signed must not verify").to_lowercase();
    // OpenSSL 3 says "self-signed certificate", 1.1 "self signed certificate".
    assert!(
        err.contains("self-signed certificate") || err.contains("self signed certificate"),
        "{err}"
    );
    assert!(!log.errors.is_empty());
    let (_, names) = openssl_x509(Identity::Unknown, &["-subject", "-issuer"]);
    assert!(names.contains("issuer=CN = localhost"), "{names}");
}

#[test]
fn expired_identity_fails_as_expired() {
    let (r, log) = probe(Identity::Expired, "localhost");
    let err = r.expect_err("expired must not verify");
    assert!(err.contains("certificate has expired"), "{err}");
    assert!(!log.errors.is_empty());
    assert!(!openssl_x509(Identity::Expired, &["-checkend", "0"]).0);
}

#[test]
fn near_identity_verifies_and_expires_within_5_days() {
    let (r, log) = probe(Identity::Near, "localhost");
    assert_eq!(r.as_deref(), Ok(GREETING));
    log.assert_ok();
    let (_, end) = openssl_x509(Identity::Near, &["-enddate"]);
    assert!(end.starts_with("notAfter="), "{end}");
    // -checkend N succeeds iff the cert is still valid N seconds from now.
    assert!(
        !openssl_x509(Identity::Near, &["-checkend", &(5 * 86400).to_string()]).0,
        "near must expire within 5 days: {end}"
    );
    assert!(
        openssl_x509(Identity::Near, &["-checkend", &(4 * 86400).to_string()]).0,
        "near must not expire within 4 days: {end}"
    );
}

#[test]
fn certs_are_made_once_in_a_temp_dir() {
    let c = certs();
    assert!(std::ptr::eq(c, certs()));
    assert!(c.dir.starts_with(std::env::temp_dir()), "{:?}", c.dir);
    assert!(c.ca_pem.is_file());
    for id in Identity::ALL {
        let p = c.pair(id);
        assert!(p.cert_pem.starts_with(&c.dir) && p.key_pem.is_file());
        let key = std::fs::read_to_string(&p.key_pem).unwrap();
        assert!(
            key.starts_with("-----BEGIN PRIVATE KEY-----"),
            "PKCS#8 expected"
        );
        let _ = p.identity();
    }
    let out = Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&c.ca_pem)
        .arg(&c.good.cert_pem)
        .arg(&c.near.cert_pem)
        .arg(&c.wrong_name.cert_pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// ---------- the remaining steps ----------

#[test]
fn expect_bytes_reads_literal_payloads() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send(GREETING.into()),
            Step::Expect("LOGIN alice {5}".into()),
            Step::Send("+ OK\r\n".into()),
            Step::ExpectBytes(5),
            Step::Expect("".into()), // the CRLF ending the command: no tag
            Step::Send("{tag} OK Logged in\r\n".into()),
            Step::Expect("LOGIN {3+}".into()),
            Step::ExpectBytes(3),
            Step::Expect(" {4+}".into()),
            Step::ExpectBytes(4),
            Step::Expect("".into()),
            Step::Send("{tag} NO done\r\n".into()),
            Step::ExpectEof,
        ],
    );
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 LOGIN alice {5}\r\n");
    assert_eq!(c.line(), "+ OK\r\n");
    c.send("p\r\nw!\r\n");
    assert_eq!(c.line(), "a1 OK Logged in\r\n");
    c.send("a2 LOGIN {3+}\r\nbob {4+}\r\npass\r\n");
    assert_eq!(c.line(), "a2 NO done\r\n");
    drop(c);
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(log.literals, [&b"p\r\nw!"[..], b"bob", b"pass"]);
    assert_eq!(
        log.lines,
        ["a1 LOGIN alice {5}", "", "a2 LOGIN {3+}", " {4+}", ""]
    );
}

#[test]
fn expect_eof_rejects_more_data() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![Step::Send(GREETING.into()), Step::ExpectEof],
    );
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 NOOP\r\n");
    let start = Instant::now();
    c.read_to_end(); // the server hangs up after the error
    assert_fast(start, Duration::from_secs(5));
    let log = srv.finish();
    assert!(!log.completed);
    assert!(
        log.errors[0].contains("instead of closing") && log.errors[0].contains("a1 NOOP\\r\\n"),
        "{:?}",
        log.errors
    );
}

#[test]
fn mismatch_is_reported_not_hung() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send(GREETING.into()),
            Step::Expect("LOGIN *".into()),
            Step::Send("{tag} OK\r\n".into()),
            Step::Expect("LOGOUT".into()),
        ],
    );
    let start = Instant::now();
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 NOOP\r\n");
    assert_eq!(c.read_to_end(), b"", "nothing after a mismatch");
    let log = srv.finish();
    assert_fast(start, Duration::from_secs(5));
    assert!(!log.completed);
    assert_eq!(log.errors.len(), 1);
    let e = &log.errors[0];
    assert!(e.starts_with("step 1 ") && e.contains("\"LOGIN *\""), "{e}");
    assert!(e.contains("a1 NOOP\\r\\n"), "{e}");
    assert_eq!(log.lines, ["a1 NOOP"]);
    let panic = catch_unwind(AssertUnwindSafe(|| log.assert_ok())).expect_err("must panic");
    let msg = panic.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("a1 NOOP\\r\\n") && msg.contains("LOGIN *"),
        "{msg}"
    );
}

#[test]
fn bare_lf_and_early_close_are_errors() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![Step::Send(GREETING.into()), Step::Expect("NOOP".into())],
    );
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 NOOP\n");
    c.read_to_end();
    let log = srv.finish();
    assert!(log.errors[0].contains("bare LF"), "{:?}", log.errors);

    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![Step::Send(GREETING.into()), Step::Expect("LOGIN *".into())],
    );
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 LOG");
    drop(c);
    let log = srv.finish();
    assert!(
        log.errors[0].contains("client closed") && log.errors[0].contains("a1 LOG"),
        "{:?}",
        log.errors
    );
}

#[test]
fn flood_stops_when_client_closes() {
    for mode in [Mode::Plain, Mode::Tls(Identity::Good)] {
        let srv = ScriptedServer::start(
            mode,
            vec![Step::Send(GREETING.into()), Step::Flood(b'x', 1 << 30)],
        );
        let start = Instant::now();
        let tcp = connect(srv.addr());
        let mut got = vec![0u8; 256 * 1024];
        if mode == Mode::Plain {
            let mut c = Client { s: tcp };
            c.line();
            c.s.read_exact(&mut got).unwrap();
        } else {
            let mut c = Client {
                s: tls_connect("localhost", tcp).unwrap(),
            };
            c.line();
            c.s.read_exact(&mut got).unwrap();
        }
        assert!(got.iter().all(|&b| b == b'x'));
        let log = srv.finish();
        assert_fast(start, Duration::from_secs(10));
        log.assert_ok();
        assert!(
            log.notes
                .iter()
                .any(|n| n.starts_with("Flood: client went away")),
            "{mode:?}: {:?}",
            log.notes
        );
    }
}

#[test]
fn flood_of_n_bytes_then_more_steps() {
    let srv = ScriptedServer::start(
        Mode::Tls(Identity::Good),
        vec![
            Step::Flood(b'y', 40_000),
            Step::Send("\r\n".into()),
            Step::ExpectEof,
        ],
    );
    let mut c = Client {
        s: tls_connect("localhost", connect(srv.addr())).unwrap(),
    };
    let line = c.line();
    assert_eq!(line.len(), 40_002);
    assert!(line.starts_with("yyyy"));
    drop(c);
    srv.finish().assert_ok();
}

#[test]
fn drip_is_slow_and_stops_quietly() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Drip(b"* OK hi\r\n".to_vec(), Duration::from_millis(20)),
            Step::Drip(vec![b'z'; 1000], Duration::from_millis(10)),
        ],
    );
    let start = Instant::now();
    let mut c = Client {
        s: connect(srv.addr()),
    };
    assert_eq!(c.line(), "* OK hi\r\n");
    assert!(start.elapsed() >= Duration::from_millis(150));
    let mut b = [0u8; 3];
    c.s.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"zzz");
    drop(c);
    let log = srv.finish();
    assert_fast(start, Duration::from_secs(5));
    log.assert_ok();
    assert!(
        log.notes
            .iter()
            .any(|n| n.starts_with("Drip: client went away")),
        "{:?}",
        log.notes
    );
}

#[test]
fn sleep_delays() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Sleep(Duration::from_millis(300)),
            Step::SendBytes(b"* OK \xff\r\n".to_vec()),
        ],
    );
    let start = Instant::now();
    let mut c = Client {
        s: connect(srv.addr()),
    };
    let mut got = Vec::new();
    c.s.read_to_end(&mut got).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(290));
    assert_eq!(got, b"* OK \xff\r\n");
    srv.finish().assert_ok();
}

#[test]
fn hold_records_until_close_or_finish() {
    let srv = ScriptedServer::start(Mode::Plain, vec![Step::Send(GREETING.into()), Step::Hold]);
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 NOOP\r\n");
    c.send("a2 NOOP\r\n");
    drop(c);
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(log.received, b"a1 NOOP\r\na2 NOOP\r\n");

    // A client that stays: finish() ends the Hold promptly.
    let srv = ScriptedServer::start(Mode::Plain, vec![Step::Send(GREETING.into()), Step::Hold]);
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    let start = Instant::now();
    let log = srv.finish();
    assert_fast(start, Duration::from_secs(2));
    log.assert_ok();
    assert!(
        log.notes.iter().any(|n| n.contains("finish()")),
        "{:?}",
        log.notes
    );
    drop(c);
}

#[test]
fn close_gives_the_client_eof() {
    for mode in [Mode::Plain, Mode::Tls(Identity::Good)] {
        let srv = ScriptedServer::start(
            mode,
            vec![
                Step::Send(GREETING.into()),
                Step::Close,
                Step::Send("never\r\n".into()),
            ],
        );
        let tcp = connect(srv.addr());
        let mut rest = Vec::new();
        match mode {
            Mode::Plain => {
                let mut c = Client { s: tcp };
                assert_eq!(c.line(), GREETING);
                // EOF while our side is still open; TLS: close_notify -> Ok(0)
                c.s.read_to_end(&mut rest).unwrap();
            }
            Mode::Tls(_) => {
                let mut c = Client {
                    s: tls_connect("localhost", tcp).unwrap(),
                };
                assert_eq!(c.line(), GREETING);
                c.s.read_to_end(&mut rest).unwrap();
            }
        }
        assert!(rest.is_empty());
        let log = srv.finish();
        assert!(!log.completed);
        assert!(
            log.errors[0].starts_with("step 2 ") && log.errors[0].contains("closed"),
            "{:?}",
            log.errors
        );
    }
}

#[test]
fn finish_without_a_client_returns_promptly() {
    let srv = ScriptedServer::start(Mode::Plain, kb_script());
    let start = Instant::now();
    let log = srv.finish();
    assert_fast(start, Duration::from_secs(2));
    assert!(!log.completed);
    assert!(
        log.errors[0].contains("no client connected"),
        "{:?}",
        log.errors
    );
}

#[test]
fn only_one_connection_is_accepted() {
    let srv = ScriptedServer::start(Mode::Plain, vec![Step::Send(GREETING.into()), Step::Hold]);
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line(); // accepted, listener gone
    let err = TcpStream::connect_timeout(&srv.addr(), Duration::from_secs(2))
        .expect_err("second connection must be refused");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    drop(c);
    srv.finish().assert_ok();
}

#[test]
fn closed_port_refuses() {
    let port = closed_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

// ---------- running programs ----------

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script);
    c
}

#[test]
fn run_command_captures_status_output_and_stdin() {
    let r = run_command(
        sh("cat; echo oops >&2; exit 3"),
        Some(b"hello\n"),
        Duration::from_secs(20),
    );
    assert_eq!(
        (r.status, r.stdout.as_str(), r.stderr.as_str()),
        (3, "hello\n", "oops\n")
    );

    let r = run_command(sh("yes | head -c 1000000"), None, Duration::from_secs(20));
    assert_eq!((r.status, r.stdout.len()), (0, 1_000_000));

    let r = run_command(sh("kill -9 $$"), None, Duration::from_secs(20));
    assert_eq!(r.status, 128 + 9);
}

#[test]
#[should_panic(expected = "did not finish within")]
fn run_command_kills_on_timeout() {
    run_command(sh("exec sleep 20"), None, Duration::from_millis(300));
}

#[test]
fn imapcheck_command_env_is_scrubbed() {
    let cmd = imapcheck();
    assert!(cmd.get_program().to_string_lossy().ends_with("imapcheck"));
    let removed: Vec<_> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    assert!(
        removed.contains(&"IMAPCHECK_PASSWORD".to_string()),
        "{removed:?}"
    );
    assert!(removed.contains(&"RUST_LOG".to_string()), "{removed:?}");
}

fn fake_run(stdout: &str) -> Run {
    Run {
        status: 0,
        stdout: stdout.into(),
        stderr: "log".into(),
        elapsed: Duration::ZERO,
    }
}

#[test]
fn json_stdout_must_be_one_object() {
    let v = parse_json_stdout(&fake_run("{\"ok\": true, \"n\": [1]}\n"));
    assert_eq!(v["ok"], true);
    for bad in ["", "{} {}", "[1]", "not json", "{\"a\":1}\n{\"b\":2}\n"] {
        let r = catch_unwind(|| parse_json_stdout(&fake_run(bad)));
        assert!(r.is_err(), "{bad:?} accepted");
    }
}

#[test]
fn io_after_close_fails_fast() {
    for step in [Step::Hold, Step::Expect("X".into()), Step::ExpectEof] {
        let srv = ScriptedServer::start(Mode::Plain, vec![Step::Close, step]);
        let start = Instant::now();
        let mut c = Client {
            s: connect(srv.addr()),
        };
        assert_eq!(c.read_to_end(), b"");
        drop(c);
        let log = srv.finish();
        assert_fast(start, Duration::from_secs(5));
        assert!(log.errors[0].contains("already closed"), "{:?}", log.errors);
    }
}

#[test]
fn expect_alone_drops_and_flags_what_was_pipelined_behind_it() {
    // A client that pipelines ID behind LOGIN: the script's server drops
    // the ID, as Courier's login process does, and the log says so.
    let script = || {
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone("LOGIN alice pw".into()),
            Step::Send("{tag} OK Logged in\r\n".into()),
            Step::Hold,
        ]
    };
    let srv = ScriptedServer::start(Mode::Plain, script());
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 LOGIN alice pw\r\na2 ID NIL\r\n");
    // The script stops at its error: no answer, the connection closes.
    assert_eq!(c.read_to_end(), b"");
    let log = srv.finish();
    assert_eq!(log.errors.len(), 1, "{}", log.report());
    assert!(
        log.errors[0].contains("pipelined 11 byte(s)") && log.errors[0].contains("a2 ID NIL"),
        "{}",
        log.report()
    );
    // The same login sent alone passes.
    let srv = ScriptedServer::start(Mode::Plain, script());
    let mut c = Client {
        s: connect(srv.addr()),
    };
    c.line();
    c.send("a1 LOGIN alice pw\r\n");
    assert_eq!(c.line(), "a1 OK Logged in\r\n");
    drop(c);
    srv.finish().assert_ok();
}
