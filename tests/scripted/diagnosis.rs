// Every failure of the Diagnosis section (and the security rules
// around STARTTLS, PREAUTH and LOGINDISABLED): exit code, failed step,
// message, server text and hint.

use super::*;

#[test]
fn connection_refused() {
    let port = closed_port();
    let args = with(user(none_args(port)), &["--format", "json"]);
    let (r, v) = run_json(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &PASS_ENV,
        None,
    );
    let ctx = format!("{r:?}");
    assert_failed_at(&r, &v, "connect", &ctx);
    assert_steps(
        &v,
        &NONE_STEPS,
        "failed skipped skipped skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert_eq!(error_text(&v, "message"), "connection refused");
    let hint = error_text(&v, "hint");
    assert!(
        hint.contains(&format!("nothing listens on port {port}")) && hint.contains("firewall"),
        "{hint}"
    );
    assert!(v["address"].is_null());
}

#[test]
fn connection_refused_text_names_the_failure() {
    let port = closed_port().to_string();
    let r = run(&["127.0.0.1", "-p", &port], &[], None);
    assert_eq!(r.status, 2, "{r:?}");
    let connect = r
        .stdout
        .lines()
        .find(|l| l.starts_with("connect "))
        .expect("a connect line");
    assert!(connect.contains("FAILED") && connect.contains("connection refused"));
    assert!(r.stdout.contains("hint:") && r.stdout.contains("firewall"));
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap_or("")
            .starts_with(&format!("IMAP CRITICAL - 127.0.0.1:{port}: connect failed")),
        "{}",
        r.stdout
    );
}

#[test]
fn silent_server_fails_greeting_by_the_deadline() {
    let srv = ScriptedServer::start(Mode::Plain, vec![Step::Hold]);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &with(none_args(port), &["-t", "1"]), &[]);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "greeting", &ctx);
    assert_steps(
        &v,
        &NONE_STEPS,
        "ok failed skipped skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert_eq!(error_text(&v, "message"), "no greeting before the deadline");
    assert!(
        r.elapsed >= Duration::from_millis(900) && r.elapsed <= Duration::from_secs(3),
        "{ctx}"
    );
    assert!(log.received.is_empty(), "{ctx}");
}

#[test]
fn implicit_tls_against_a_cleartext_server() {
    let srv = ScriptedServer::start(Mode::Plain, vec![Step::Send(GREETING.into()), Step::Hold]);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "tls", &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok failed skipped skipped skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert_eq!(
        error_text(&v, "message"),
        "the server did not answer with TLS"
    );
    let hint = error_text(&v, "hint");
    assert!(hint.contains("--security starttls"), "{hint}");
    assert!(r.elapsed < Duration::from_secs(5), "{ctx}");
    // Only a ClientHello went out: no IMAP command, no password.
    assert_eq!(log.received.first(), Some(&0x16), "{ctx}");
    assert_not_received(&log, PASS, &ctx);
}

/// A verifying implicit-TLS check against a server presenting `id`.
fn tls_failure(id: Identity, host: &str, ca_file: bool) -> (Run, Value, ServerLog) {
    let srv = ScriptedServer::start(Mode::Tls(id), kb_script());
    let mut args = user(tls_args(srv.port()));
    args[0] = host.into();
    if !ca_file {
        args.truncate(5);
        args.extend(strings(&["-u", USER]));
    }
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    assert_failed_at(&r, &v, "tls", &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok failed skipped skipped skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert_eq!(log.tls_handshakes, 0, "{ctx}");
    assert!(log.lines.is_empty(), "{ctx}");
    (r, v, log)
}

#[test]
fn expired_certificate() {
    let (r, v, _) = tls_failure(Identity::Expired, "localhost", true);
    assert_eq!(
        error_text(&v, "message"),
        "the server certificate has expired",
        "{r:?}"
    );
    assert!(error_text(&v, "got").contains("certificate has expired"));
    assert!(error_text(&v, "hint").contains("renew"));
}

#[test]
fn unknown_issuer_self_signed() {
    let (r, v, _) = tls_failure(Identity::Unknown, "localhost", true);
    assert_eq!(
        error_text(&v, "message"),
        "the server certificate is not issued by a trusted CA",
        "{r:?}"
    );
    assert!(error_text(&v, "got").contains("self-signed"), "{r:?}");
    assert!(error_text(&v, "hint").contains("--ca-file"));
}

#[test]
fn unknown_issuer_without_ca_file() {
    let (r, v, _) = tls_failure(Identity::Good, "localhost", false);
    assert_eq!(
        error_text(&v, "message"),
        "the server certificate is not issued by a trusted CA",
        "{r:?}"
    );
    assert!(error_text(&v, "got").contains("unable to get local issuer"));
}

#[test]
fn certificate_name_mismatch() {
    for host in ["localhost", "127.0.0.1"] {
        let (r, v, _) = tls_failure(Identity::WrongName, host, true);
        assert_eq!(
            error_text(&v, "message"),
            format!("the server certificate is not valid for {host}"),
            "{r:?}"
        );
        assert!(error_text(&v, "got").contains("mismatch"), "{r:?}");
    }
}

#[test]
fn certificate_near_expiry_warns() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Near), kb_script());
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok warning ok ok ok ok ok skipped ok ok",
        &ctx,
    );
    // notAfter is 5 days after the certificate was made, to the second:
    // 4 whole days left (5 only within that same second).
    let days = v["tls"]["days_left"].as_i64().expect("days_left");
    assert!(days == 4 || days == 5, "days_left {days}\n{ctx}");
    assert_eq!(v["tls"]["verified"], true);
    let detail = step(&v, "tls")["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with(&format!("certificate expires in {days} days")),
        "{detail}"
    );
    assert!(v["error"].is_null());
    // Below the threshold of --cert-warn-days it is no warning.
    let srv = ScriptedServer::start(Mode::Tls(Identity::Near), kb_script());
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--cert-warn-days", "3"]);
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
}

/// `-D warn,crit` (check_imap's form) against certificates with 10 and 20
/// days left, at and around the thresholds: fewer days left than the
/// threshold alerts, exactly as many does not.
#[test]
fn certificate_days_thresholds() {
    let cases: [(Identity, &[&str], i32, &str); 9] = [
        (Identity::Days20, &["-D", "30,14"], 1, "20;30:;14:"),
        (Identity::Days20, &["-D", "21,20"], 1, "20;21:;20:"),
        (Identity::Days20, &["-D", "20,10"], 0, "20;20:;10:"),
        (Identity::Days10, &["-D", "30,14"], 2, "10;30:;14:"),
        (Identity::Days10, &["-D", "30,11"], 2, "10;30:;11:"),
        (Identity::Days10, &["-D", "30,10"], 1, "10;30:;10:"),
        (Identity::Days10, &["-D", "10"], 0, "10;10:;"),
        (
            Identity::Days10,
            &["--cert-crit-days", "11"],
            2,
            "10;14:;11:",
        ),
        (Identity::Days20, &[], 0, "20;14:;"),
    ];
    for (id, flags, code, perf) in cases {
        let srv = ScriptedServer::start(Mode::Tls(id), kb_script());
        let port = srv.port();
        let args = with(user(tls_args(port)), flags);
        let (r, v, log) = go_json(srv, &args, &PASS_ENV);
        let ctx = format!("{id:?} {flags:?}\n{}", dump(&r, &log));
        log.assert_ok();
        assert_exit(&r, &v, code, &ctx);
        let tls = ["failed", "warning", "ok"][2 - code as usize];
        assert_eq!(step(&v, "tls")["status"], tls, "{ctx}");
        // A critical certificate is a finding: the rest of the check runs.
        assert_eq!(step(&v, "fetch")["status"], "ok", "{ctx}");
        assert_eq!(step(&v, "logout")["status"], "ok", "{ctx}");
        if code == 2 {
            assert_eq!(v["error"]["step"], "tls", "{ctx}");
            assert!(error_text(&v, "hint").contains("renew"), "{ctx}");
        }
        // The same run's Nagios line carries the thresholds.
        let srv = ScriptedServer::start(Mode::Tls(id), kb_script());
        let port = srv.port();
        let args = with(user(tls_args(port)), flags);
        let args = with(args, &["--format", "nagios"]);
        let (r, log) = go(srv, &args, &PASS_ENV, None);
        let ctx = format!("{id:?} {flags:?}\n{}", dump(&r, &log));
        assert_eq!(r.status, code, "{ctx}");
        assert!(r.stdout.contains(&format!(" cert_days={perf}")), "{ctx}");
    }
}

#[test]
fn insecure_accepts_an_unknown_certificate_with_a_warning() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Unknown), kb_script());
    let port = srv.port();
    let mut args = user(tls_args(port));
    args.drain(5..7); // no --ca-file
    args.push("--insecure".into());
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok warning ok ok ok ok ok skipped ok ok",
        &ctx,
    );
    assert_eq!(v["tls"]["verified"], false, "{ctx}");
    assert_eq!(
        v["tls"]["issuer"], "CN=localhost, O=imapcheck test",
        "{ctx}"
    );
    let detail = step(&v, "tls")["detail"].as_str().unwrap_or("");
    assert!(detail.contains("not verified (--insecure)"), "{detail}");
    assert_eq!(v["message"]["subject"], KB_SUBJECT);
}

#[test]
fn authentication_failed() {
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".into()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "login", &ctx);
    // LOGOUT is still sent on the usable connection.
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok ok ok ok failed skipped skipped skipped skipped ok",
        &ctx,
    );
    let got = error_text(&v, "got");
    assert!(
        got.ends_with(" NO [AUTHENTICATIONFAILED] Authentication failed."),
        "{got}"
    );
    assert_eq!(
        error_text(&v, "hint"),
        "wrong user name or password, or the account is locked or disabled"
    );
    assert_eq!(
        error_text(&v, "message"),
        "the server refused the login (NO)"
    );
}

#[test]
fn bye_greeting() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send("* BYE Too many connections from your IP\r\n".into()),
            Step::ExpectEof,
        ],
    );
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(none_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "greeting", &ctx);
    assert_steps(
        &v,
        &NONE_STEPS,
        "ok failed skipped skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert_eq!(
        error_text(&v, "got"),
        "* BYE Too many connections from your IP"
    );
    assert!(error_text(&v, "message").contains("BYE greeting"));
    assert!(error_text(&v, "hint").contains("too many connections"));
    assert!(log.received.is_empty(), "no LOGOUT after a BYE\n{ctx}");
}

#[test]
fn examine_no_lists_the_closest_folder_names() {
    let s = script(vec![
        vec![Step::Send(GREETING.into())],
        login_steps(),
        vec![
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(kb_list_reply()),
            Step::Expect("EXAMINE \"Deleted Item\"".into()),
            Step::Send("{tag} NO [NONEXISTENT] Mailbox doesn't exist: Deleted Item\r\n".into()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--folder", "Deleted Item"]);
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "examine", &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok ok ok ok ok ok failed skipped skipped ok",
        &ctx,
    );
    assert_eq!(
        error_text(&v, "hint"),
        "closest folder names from LIST: Deleted Items"
    );
    assert_eq!(
        error_text(&v, "message"),
        "the server refused to open folder \"Deleted Item\""
    );
    assert!(error_text(&v, "got").contains("Mailbox doesn't exist: Deleted Item"));
}

#[test]
fn select_no_fails_the_select_step() {
    let s = script(vec![
        vec![Step::Send(GREETING.into())],
        login_steps(),
        vec![
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(kb_list_reply()),
            Step::Expect("SELECT entwurfe".into()),
            Step::Send("{tag} NO Mailbox doesn't exist: entwurfe\r\n".into()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--folder", "entwurfe", "--select"]);
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "select", &ctx);
    assert_eq!(
        error_text(&v, "hint"),
        "closest folder names from LIST: Entwürfe"
    );
}

#[test]
fn pop3_server_is_named() {
    let srv = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send("+OK POP3 server ready <1896.697170952@example.org>\r\n".into()),
            Step::Hold,
        ],
    );
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(none_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "greeting", &ctx);
    assert!(error_text(&v, "hint").contains("POP3"), "{ctx}");
    assert!(error_text(&v, "got").starts_with("+OK POP3 server ready"));
    assert!(log.received.is_empty(), "{ctx}");
}

#[test]
fn logindisabled_never_sends_the_password() {
    let s = script(vec![
        vec![Step::Send(
            "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n".into(),
        )],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(none_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "login", &ctx);
    assert_steps(
        &v,
        &NONE_STEPS,
        "ok ok ok failed skipped skipped skipped skipped ok",
        &ctx,
    );
    assert!(error_text(&v, "message").contains("LOGINDISABLED"));
    assert!(error_text(&v, "hint").contains("--security starttls"));
    assert_not_received(&log, PASS, &ctx);
    assert!(!log.received_text().contains("LOGIN "), "{ctx}");
}

#[test]
fn starttls_not_offered_fails_and_sends_no_password() {
    // Once with capabilities in the greeting, once via CAPABILITY.
    let with_caps = script(vec![vec![Step::Send(GREETING.into())], logout_steps()]);
    let asked = script(vec![
        vec![Step::Send(BARE_GREETING.into())],
        capability_steps(),
        logout_steps(),
    ]);
    for s in [with_caps, asked] {
        let srv = ScriptedServer::start(Mode::Plain, s);
        let port = srv.port();
        let (r, v, log) = go_json(srv, &user(starttls_args(port)), &PASS_ENV);
        let ctx = dump(&r, &log);
        log.assert_ok();
        assert_failed_at(&r, &v, "starttls", &ctx);
        assert_steps(
            &v,
            &STARTTLS_STEPS,
            "ok ok ok failed skipped skipped skipped skipped skipped ok",
            &ctx,
        );
        assert_eq!(
            error_text(&v, "message"),
            "the server does not offer STARTTLS"
        );
        assert!(error_text(&v, "hint").contains("never falls back"));
        assert_not_received(&log, PASS, &ctx);
        assert!(!log.received_text().contains("STARTTLS"), "{ctx}");
        assert!(!log.received_text().contains("LOGIN"), "{ctx}");
    }
}

#[test]
fn starttls_with_an_expired_certificate() {
    let s = script(vec![
        vec![Step::Send(BARE_GREETING.into())],
        starttls_steps(Identity::Expired),
    ]);
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(starttls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    assert_failed_at(&r, &v, "starttls", &ctx);
    assert_steps(
        &v,
        &STARTTLS_STEPS,
        "ok ok ok failed skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert_eq!(
        error_text(&v, "message"),
        "the server certificate has expired"
    );
    assert_not_received(&log, PASS, &ctx);
}

#[test]
fn preauth_under_starttls_is_a_downgrade() {
    let s = script(vec![
        vec![Step::Send(
            "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] Logged in as alice\r\n".into(),
        )],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(starttls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "starttls", &ctx);
    assert_steps(
        &v,
        &STARTTLS_STEPS,
        "ok ok ok failed skipped skipped skipped skipped skipped ok",
        &ctx,
    );
    let said = format!("{} {}", error_text(&v, "message"), error_text(&v, "hint"));
    assert!(said.contains("PREAUTH"), "{said}");
    assert!(said.contains("CVE-2020-28896"), "{said}");
    assert_not_received(&log, PASS, &ctx);
    assert!(!log.received_text().contains("STARTTLS"), "{ctx}");
    // The text output says it too.
    let srv = ScriptedServer::start(
        Mode::Plain,
        script(vec![
            vec![Step::Send(
                "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] Logged in as alice\r\n".into(),
            )],
            logout_steps(),
        ]),
    );
    let port = srv.port();
    let (r, log) = go(srv, &user(starttls_args(port)), &PASS_ENV, None);
    let ctx = dump(&r, &log);
    assert_eq!(r.status, 2, "{ctx}");
    assert!(r.stdout.contains("CVE-2020-28896"), "{ctx}");
}

#[test]
fn preauth_under_implicit_tls_skips_login_and_goes_on() {
    let s = script(vec![
        vec![Step::Send(
            "* PREAUTH [CAPABILITY IMAP4rev1 LITERAL+] IMAP4rev1 server logged in as alice\r\n"
                .into(),
        )],
        kb_after_login(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &tls_args(port), &[]);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok ok ok ok skipped ok ok skipped ok ok",
        &ctx,
    );
    assert!(
        step(&v, "login")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("PREAUTH"),
        "{ctx}"
    );
    assert_eq!(v["message"]["subject"], KB_SUBJECT);
}

#[test]
fn starttls_response_injection() {
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n".into()),
        Step::Expect("STARTTLS".into()),
        // One write: the OK and an injected response right behind it.
        Step::Send(
            "{tag} OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n".into(),
        ),
        Step::Hold,
    ];
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(starttls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "starttls", &ctx);
    assert_steps(
        &v,
        &STARTTLS_STEPS,
        "ok ok ok failed skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    assert!(error_text(&v, "message").contains("injection"), "{ctx}");
    assert_eq!(
        error_text(&v, "got"),
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected"
    );
    // No handshake: after STARTTLS nothing at all was sent.
    assert_eq!(log.tls_handshakes, 0);
    assert_eq!(
        log.received_text(),
        format!("{}\r\n", log.lines[0]),
        "{ctx}"
    );
    assert!(v["tls"].is_null(), "{ctx}");
}

#[test]
fn logout_without_bye_warns() {
    let mut s = kb_script();
    let n = s.len();
    s[n - 2] = Step::Send("{tag} OK Logout completed.\r\n".into());
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok ok ok ok ok ok ok skipped ok warning",
        &ctx,
    );
    assert!(
        step(&v, "logout")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("without the * BYE"),
        "{ctx}"
    );
}

#[test]
fn logout_answered_by_a_close_warns() {
    // No * BYE and no tagged OK: the server just hangs up on LOGOUT. The
    // session is over as asked; every KB step passed, so a warning.
    let mut s = kb_script();
    let n = s.len();
    assert!(matches!(&s[n - 3], Step::Expect(p) if p == "LOGOUT"));
    s.truncate(n - 2);
    s.push(Step::Close);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok ok ok ok ok ok ok skipped ok warning",
        &ctx,
    );
    assert_eq!(
        step(&v, "logout")["detail"],
        "the server closed the connection in answer to LOGOUT, without * BYE or a tagged OK",
        "{ctx}"
    );
    assert!(v["error"].is_null(), "{ctx}");
}

#[test]
fn logout_unanswered_until_the_deadline_fails() {
    // Silence after LOGOUT is not a close: the step fails at the deadline.
    let mut s = kb_script();
    let n = s.len();
    s.truncate(n - 2);
    s.push(Step::Hold);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &with(user(tls_args(port)), &["-t", "2"]), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "logout", &ctx);
    assert_eq!(
        error_text(&v, "message"),
        "no answer before the deadline during logout",
        "{ctx}"
    );
}

#[test]
fn bye_during_the_session() {
    let s = script(vec![
        vec![Step::Send(GREETING.into())],
        login_steps(),
        vec![
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(
                "* LIST () \".\" INBOX\r\n* BYE Server shutting down for maintenance\r\n".into(),
            ),
            Step::Close,
        ],
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "list", &ctx);
    assert_steps(
        &v,
        &TLS_STEPS,
        "ok ok ok ok ok failed skipped skipped skipped skipped",
        &ctx,
    );
    assert!(error_text(&v, "message").contains("closed"), "{ctx}");
    assert!(!log.received_text().contains("LOGOUT"), "{ctx}");
    assert!(r.elapsed < Duration::from_secs(5), "{ctx}");
}

#[test]
fn bye_then_tagged_ok_ends_the_session_without_logout() {
    // A server that says BYE but still completes the command: the check
    // goes on only as far as the connection lasts and never sends LOGOUT
    // after BYE.
    let s = script(vec![
        vec![Step::Send(GREETING.into())],
        login_steps(),
        vec![
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(
                "* LIST () \".\" INBOX\r\n* BYE Autologout; idle for too long\r\n{tag} OK List completed.\r\n"
                    .into(),
            ),
            Step::Close,
        ],
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    assert_eq!(r.status, 2, "{ctx}");
    assert!(!log.received_text().contains("LOGOUT"), "{ctx}");
    assert_eq!(step(&v, "logout")["status"], "skipped", "{ctx}");
}

/// `--sni`: a certificate naming only mail.example.org, reached by
/// address. Without --sni the address is checked and does not match; with
/// it the name is sent, verified and shown beside the address in every
/// format.
#[test]
fn sni_verifies_a_name_reached_by_address() {
    let base = |port: u16| {
        let port = port.to_string();
        strings(&[
            "-H",
            "127.0.0.1",
            "-p",
            &port,
            "-S",
            "--ca-file",
            &ca(),
            "-u",
            USER,
        ])
    };
    let srv = ScriptedServer::start(Mode::Tls(Identity::WrongName), kb_script());
    let port = srv.port();
    let (r, v, log) = go_json(srv, &base(port), &PASS_ENV);
    let ctx = dump(&r, &log);
    assert_failed_at(&r, &v, "tls", &ctx);
    assert!(error_text(&v, "hint").contains("--sni"), "{ctx}");

    let srv = ScriptedServer::start(Mode::Tls(Identity::WrongName), kb_script());
    let port = srv.port();
    let args = with(base(port), &["--sni", "mail.example.org"]);
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(v["tls"]["name"], "mail.example.org", "{ctx}");
    assert_eq!(v["tls"]["verified"], true, "{ctx}");
    assert_eq!(v["address"], format!("127.0.0.1:{port}"), "{ctx}");
    assert_eq!(v["host"], "127.0.0.1", "{ctx}");

    for format in ["nagios", "text"] {
        let srv = ScriptedServer::start(Mode::Tls(Identity::WrongName), kb_script());
        let port = srv.port();
        let args = with(
            base(port),
            &["--sni", "mail.example.org", "--format", format],
        );
        let (r, log) = go(srv, &args, &PASS_ENV, None);
        let ctx = dump(&r, &log);
        assert_eq!(r.status, 0, "{ctx}");
        assert!(
            r.stdout
                .contains(&format!("mail.example.org at 127.0.0.1:{port}")),
            "{ctx}"
        );
        if format == "text" {
            assert!(r.stdout.contains("verified as mail.example.org"), "{ctx}");
        }
    }
    let r = run(
        &["-H", "127.0.0.1", "--security", "none", "--sni", "x"],
        &[],
        None,
    );
    assert_eq!(r.status, 3, "{r:?}");
}

/// `--messages` on the KB folder's EXISTS, every range form at its exact
/// boundaries; the critical case still fetches, and perfdata carry the
/// ranges as given.
#[test]
fn message_count_ranges_at_their_boundaries() {
    let n = KB_EXISTS as i64;
    let cases: Vec<(String, i32)> = vec![
        (format!("{n}"), 0),
        (format!("{}", n - 1), 1),
        (format!("{n}:"), 0),
        (format!("{}:", n + 1), 1),
        (format!("~:{n}"), 0),
        (format!("~:{}", n - 1), 1),
        (format!("{n}:{n}"), 0),
        (format!("{}:{}", n + 1, n + 5), 1),
        (format!("@{n}:{}", n + 1), 1),
        (format!("@{}:{}", n + 1, n + 2), 0),
        (format!("1:,{}", n - 1), 2),
        (format!(",{}:", n + 1), 2),
        (format!("{},{n}", n - 1), 1),
    ];
    for (spec, code) in cases {
        let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
        let port = srv.port();
        let args = with(user(tls_args(port)), &["--messages", &spec]);
        let (r, v, log) = go_json(srv, &args, &PASS_ENV);
        let ctx = format!("--messages {spec}\n{}", dump(&r, &log));
        log.assert_ok();
        assert_exit(&r, &v, code, &ctx);
        let examine = ["ok", "warning", "failed"][code as usize];
        assert_eq!(step(&v, "examine")["status"], examine, "{ctx}");
        assert_eq!(step(&v, "fetch")["status"], "ok", "{ctx}");
        if code == 2 {
            assert_eq!(v["error"]["step"], "examine", "{ctx}");
        }
    }
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
    let port = srv.port();
    let args = with(
        user(tls_args(port)),
        &["--messages", "500,@0:0", "--format", "nagios"],
    );
    let (r, log) = go(srv, &args, &PASS_ENV, None);
    let ctx = dump(&r, &log);
    assert_eq!(r.status, 0, "{ctx}");
    assert!(
        r.stdout.contains(&format!(" messages={n};500;@0:0;0 ")),
        "{ctx}"
    );
    for bad in [
        &["h", "--messages", "5"][..],
        &["h", "-u", "a", "--messages", "x"],
        &["h", "-u", "a", "--messages", "9:1"],
    ] {
        let r = run(bad, &[], None);
        assert_eq!(r.status, 3, "{bad:?}: {r:?}");
    }
}

/// The KB script with the fetched message dated `date` instead.
fn kb_script_dated(date: &str) -> Vec<Step> {
    kb_script()
        .into_iter()
        .map(|s| match s {
            Step::Send(t) => Step::Send(t.replace(KB_INTERNALDATE, date)),
            other => other,
        })
        .collect()
}

/// RFC 3501 date-time of `unix` in UTC.
fn imap_date(unix: u64) -> String {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = common::certs::asn1_time(unix); // YYYYMMDDHHMMSSZ
    let m: usize = t[4..6].parse().expect("month");
    format!(
        "{}-{}-{} {}:{}:{} +0000",
        &t[6..8],
        months[m - 1],
        &t[0..4],
        &t[8..10],
        &t[10..12],
        &t[12..14]
    )
}

/// `--max-age`: a message an hour old against thresholds around it, one
/// far in the future (clock skew), an empty folder, the usage errors.
#[test]
fn max_age_of_the_newest_message() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let hour_old = imap_date(now - 3600);
    // The run takes well under the 10 minutes of slack each side.
    let cases: [(&str, &str, i32); 6] = [
        (&hour_old, "70m", 0),
        (&hour_old, "50m", 1),
        (&hour_old, "50m,70m", 1),
        (&hour_old, "30m,50m", 2),
        (&hour_old, "3000,3000", 2),
        (&hour_old, "1d", 0),
    ];
    for (date, spec, code) in cases {
        let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script_dated(date));
        let port = srv.port();
        let args = with(user(tls_args(port)), &["--max-age", spec]);
        let (r, v, log) = go_json(srv, &args, &PASS_ENV);
        let ctx = format!("--max-age {spec} {date}\n{}", dump(&r, &log));
        log.assert_ok();
        assert_exit(&r, &v, code, &ctx);
        let age = v["message"]["age_s"].as_u64().expect("age_s");
        assert!((3600..3600 + 600).contains(&age), "{ctx}");
        let fetch = ["ok", "warning", "failed"][code as usize];
        assert_eq!(step(&v, "fetch")["status"], fetch, "{ctx}");
        assert_eq!(step(&v, "logout")["status"], "ok", "{ctx}");
    }
    // Two minutes ahead: skew, a warning, no negative age.
    let srv = ScriptedServer::start(
        Mode::Tls(Identity::Good),
        kb_script_dated(&imap_date(now + 7200)),
    );
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--max-age", "1d"]);
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    assert_exit(&r, &v, 1, &ctx);
    assert!(
        step(&v, "fetch")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("in the future"),
        "{ctx}"
    );
    assert_eq!(v["message"]["age_s"], Value::Null, "{ctx}");
    // A date that does not parse: the age cannot be told, a warning.
    let srv = ScriptedServer::start(
        Mode::Tls(Identity::Good),
        kb_script_dated("32-Foo-2024 99:00:00 +0000"),
    );
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--max-age", "1d"]);
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    assert_exit(&r, &v, 1, &ctx);
    assert!(
        step(&v, "fetch")["detail"]
            .as_str()
            .unwrap_or("")
            .contains("cannot be told"),
        "{ctx}"
    );
    // Perfdata: newest_age with the thresholds in seconds.
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script_dated(&hour_old));
    let port = srv.port();
    let args = with(
        user(tls_args(port)),
        &["--max-age", "2h,1d", "--format", "nagios"],
    );
    let (r, log) = go(srv, &args, &PASS_ENV, None);
    let ctx = dump(&r, &log);
    assert_eq!(r.status, 0, "{ctx}");
    assert!(r.stdout.contains("s;7200;86400;0"), "{ctx}");
    assert!(r.stdout.contains(" newest_age=36"), "{ctx}");
    for bad in [
        &["h", "-u", "a", "--max-age", "1w"][..],
        &["h", "-u", "a", "--max-age", "1d", "--no-fetch"],
        &["h", "--max-age", "1d"],
        &["h", "-u", "a", "--max-age", "2h,1h"],
    ] {
        let r = run(bad, &[], None);
        assert_eq!(r.status, 3, "{bad:?}: {r:?}");
    }
}
