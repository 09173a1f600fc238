// Basic auth for the endpoint (--web-auth-file), with users files made at
// test time by `openssl passwd -6`: the right password is let in, a wrong
// one, an unknown user and no credentials get 401 with WWW-Authenticate,
// on every endpoint but /-/healthy, over plain HTTP and over TLS; a broken
// users file stops the start naming file:line; SIGHUP reads it anew (a
// broken one keeps the users before); the password submitted never shows
// in an answer or in the log at RUST_LOG=trace.

use super::endpoints::sample;
use super::*;

const WEB_USER: &str = "prometheus";
/// Easy to search for in answers and logs.
const WEB_PASS: &str = "Kestrel9-web-pw";
const WRONG_PASS: &str = "Osprey4-wrong-pw";

/// `user:$6$…` for `password`, as `openssl passwd -6` makes it (the
/// password on stdin, not in argv).
fn hash_line(user: &str, password: &str) -> String {
    let mut child = Command::new("openssl")
        .args(["passwd", "-6", "-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl passwd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write password");
    let out = child.wait_with_output().expect("openssl passwd");
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).expect("utf8");
    assert!(hash.starts_with("$6$"), "{hash}");
    format!("{user}:{}\n", hash.trim())
}

/// Writes `<dir>/users` with a comment and the `(user, password)` pairs;
/// its path.
fn users_file(dir: &Path, users: &[(&str, &str)]) -> String {
    let mut text = String::from("# users of the exporter\n\n");
    for (u, p) in users {
        text.push_str(&hash_line(u, p));
    }
    let path = dir.join("users");
    std::fs::write(&path, text).expect("users file");
    path.to_string_lossy().into_owned()
}

/// `Authorization: Basic …` for user and password.
fn basic(user: &str, password: &str) -> String {
    format!(
        "Authorization: Basic {}\r\n",
        base64(format!("{user}:{password}").as_bytes())
    )
}

fn get_with(serve: &Exporter, path: &str, auth: &str) -> Answer {
    serve.request(&format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"
    ))
}

fn assert_401(a: &Answer, what: &str) {
    assert_eq!(a.status, 401, "{what}: {a:?}");
    assert_eq!(
        a.header("WWW-Authenticate").as_deref(),
        Some("Basic realm=\"imapcheck\""),
        "{what}: {a:?}"
    );
    assert!(
        a.body.ends_with('\n') && a.body.lines().count() == 1,
        "{what}: {a:?}"
    );
}

fn assert_no_password(texts: &[&str]) {
    let encoded = base64(format!("{WEB_USER}:{WEB_PASS}").as_bytes());
    let encoded_wrong = base64(format!("{WEB_USER}:{WRONG_PASS}").as_bytes());
    for t in texts {
        for secret in [WEB_PASS, WRONG_PASS, &encoded, &encoded_wrong] {
            assert!(!t.contains(secret), "{secret} in:\n{t}");
        }
    }
}

#[test]
fn basic_auth_guards_every_endpoint_but_healthy() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let users = users_file(&dir, &[("ops", "other-pw"), (WEB_USER, WEB_PASS)]);
    let serve = Exporter::start_env(&dir, &["--web-auth-file", &users], &[("RUST_LOG", "trace")]);
    let probe = probe_path("plain", closed_port());
    let right = basic(WEB_USER, WEB_PASS);
    let mut answers = Vec::new();
    for path in ["/", probe.as_str(), "/metrics", "/logs?id=1", "/-/ready"] {
        for (auth, what) in [
            (String::new(), "no credentials"),
            (basic(WEB_USER, WRONG_PASS), "wrong password"),
            (basic("mallory", WEB_PASS), "unknown user"),
            (basic("ops", WEB_PASS), "another user's password"),
            (format!("Authorization: Bearer {WEB_PASS}\r\n"), "not Basic"),
        ] {
            let a = get_with(&serve, path, &auth);
            assert_401(&a, &format!("{path} with {what}"));
            let reason = if auth.is_empty() {
                "authentication required\n"
            } else {
                "authentication failed: unknown user or wrong password\n"
            };
            assert_eq!(a.body, reason, "{path} with {what}");
            answers.push(a);
        }
        // Let in, /probe runs (a failed check: 200, probe_success 0) and
        // /logs?id=1 then shows that probe.
        let a = get_with(&serve, path, &right);
        assert_eq!(a.status, 200, "{path}: {a:?}");
        if path == probe {
            assert_eq!(sample(&a.body, "probe_success"), Some(0.0), "{a:?}");
        }
        if path.starts_with("/logs") {
            assert!(a.body.contains("connection refused"), "{a:?}");
        }
        answers.push(a);
    }
    // /-/healthy stays open.
    let a = serve.get("/-/healthy");
    assert_eq!((a.status, a.body.as_str()), (200, "Healthy\n"), "{a:?}");
    // 25 refusals, counted by reason.
    let m = get_with(&serve, "/metrics", &right);
    assert!(
        m.body
            .contains("imapcheck_exporter_refused_requests_total{reason=\"unauthorized\"} 25\n"),
        "{}",
        m.body
    );
    answers.push(m);
    let log = serve.log();
    assert!(log.contains("401 for /metrics"), "{log}");
    let texts: Vec<String> = answers
        .iter()
        .map(|a| format!("{}{}", a.head, a.body))
        .collect();
    let mut all: Vec<&str> = texts.iter().map(String::as_str).collect();
    all.push(&log);
    assert_no_password(&all);
}

#[test]
fn basic_auth_over_tls() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let users = users_file(&dir, &[(WEB_USER, WEB_PASS)]);
    let pair = certs().pair(Identity::Good);
    let cert = pair.cert_pem.to_string_lossy().into_owned();
    let key = pair.key_pem.to_string_lossy().into_owned();
    let serve = Exporter::start_env(
        &dir,
        &[
            "--web-tls-cert",
            &cert,
            "--web-tls-key",
            &key,
            "--web-auth-file",
            &users,
        ],
        &[("RUST_LOG", "trace")],
    );
    let ca = native_tls::Certificate::from_pem(&std::fs::read(&certs().ca_pem).expect("ca"))
        .expect("ca pem");
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .build()
        .expect("connector");
    let tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = connector.connect("localhost", tcp).expect("handshake");
    // Keep-alive: wrong, none, then right on one connection.
    let mut answers = Vec::new();
    for (auth, want) in [
        (basic(WEB_USER, WRONG_PASS), 401),
        (String::new(), 401),
        (basic(WEB_USER, WEB_PASS), 200),
    ] {
        tls.write_all(format!("GET /metrics HTTP/1.1\r\n{auth}\r\n").as_bytes())
            .expect("write");
        let a = read_answer(&mut tls);
        assert_eq!(a.status, want, "{a:?}");
        if want == 401 {
            assert_401(&a, "over TLS");
        } else {
            assert!(a.body.contains("imapcheck_exporter_"), "{a:?}");
        }
        answers.push(a);
    }
    // Plain HTTP with the right credentials to the TLS port: no HTTP answer.
    let mut tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(12)))
        .expect("timeout");
    tcp.write_all(format!("GET /metrics HTTP/1.1\r\n{}\r\n", basic(WEB_USER, WEB_PASS)).as_bytes())
        .expect("write");
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got).into_owned();
    assert!(!got.contains("HTTP/1.1"), "{got:?}");
    let texts: Vec<String> = answers
        .iter()
        .map(|a| format!("{}{}", a.head, a.body))
        .collect();
    let log = serve.log();
    let mut all: Vec<&str> = texts.iter().map(String::as_str).collect();
    all.push(&got);
    all.push(&log);
    assert_no_password(&all);
}

#[test]
fn a_broken_users_file_stops_the_start_with_file_and_line() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let good = hash_line(WEB_USER, WEB_PASS);
    for (text, at, what) in [
        (format!("# ok\n{good}ops\n"), ":3:", "user:hash"),
        (
            format!("{good}bob:$2b$10$abcdefghijklmnopqrstuv\n"),
            ":2:",
            "bcrypt",
        ),
        (format!("{good}{good}"), ":2:", "twice"),
        ("# nobody\n".to_string(), "users", "no users"),
    ] {
        let path = dir.join("users");
        std::fs::write(&path, &text).expect("users file");
        let log = Exporter::try_start(&dir, &["--web-auth-file", &path.to_string_lossy()])
            .err()
            .unwrap_or_else(|| panic!("{text:?} started"));
        let want = format!("{}{at}", path.display());
        let want = if at.starts_with(':') {
            want
        } else {
            path.display().to_string()
        };
        assert!(log.contains(&want) && log.contains(what), "{text:?}: {log}");
        assert_no_password(&[&log]);
    }
    let missing = dir.join("no-such-users");
    let log = Exporter::try_start(&dir, &["--web-auth-file", &missing.to_string_lossy()])
        .err()
        .expect("a missing users file started");
    assert!(log.contains("no-such-users: cannot open"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sighup_reads_the_users_file_anew_and_a_broken_one_keeps_the_users() {
    const NEW_PASS: &str = "Heron2-new-pw";
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let users = users_file(&dir, &[(WEB_USER, WEB_PASS)]);
    let serve = Exporter::start(&dir, &["--web-auth-file", &users]);
    assert_eq!(
        get_with(&serve, "/-/ready", &basic(WEB_USER, WEB_PASS)).status,
        200
    );
    assert_eq!(
        get_with(&serve, "/-/ready", &basic(WEB_USER, NEW_PASS)).status,
        401
    );

    // A new password: the old one is refused once reloaded.
    users_file(&dir, &[(WEB_USER, NEW_PASS)]);
    serve.signal("HUP");
    let end = Instant::now() + Duration::from_secs(5);
    while get_with(&serve, "/-/ready", &basic(WEB_USER, NEW_PASS)).status != 200 {
        assert!(Instant::now() < end, "never reloaded:\n{}", serve.log());
        thread::sleep(Duration::from_millis(50));
    }
    assert_401(
        &get_with(&serve, "/-/ready", &basic(WEB_USER, WEB_PASS)),
        "the old password",
    );

    // A broken file: a reload error, the users before stay.
    std::fs::write(&users, "prometheus $6$nocolon\n").expect("users file");
    serve.signal("HUP");
    let right = basic(WEB_USER, NEW_PASS);
    let end = Instant::now() + Duration::from_secs(5);
    while !get_with(&serve, "/metrics", &right)
        .body
        .contains("imapcheck_exporter_module_load_errors_total 1\n")
    {
        assert!(
            Instant::now() < end,
            "no reload error counted:\n{}",
            serve.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let log = serve.log();
    assert!(log.contains(&format!("{users}:1:")), "{log}");
    assert!(log.contains("the users before stay in use"), "{log}");
    assert_eq!(get_with(&serve, "/-/ready", &right).status, 200);
    assert_401(
        &get_with(&serve, "/-/ready", &basic(WEB_USER, WEB_PASS)),
        "the old password after a broken reload",
    );
}
