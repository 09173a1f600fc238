// Every failure of the Diagnosis section (and the security rules
// around STARTTLS, PREAUTH and LOGINDISABLED): exit code, failed step,
// message, server text and hint.

use super::*;

#[test]
fn connection_refused() {
    let port = closed_port();
    let (r, v) = against_closed_port("none", port);
    let ctx = format!("{r:?}");
    assert_failed_at(&r, &v, "connect", &ctx);
    assert_steps(
        &v,
        NONE_STEPS,
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
    let c = Case::cleartext(vec![Step::Hold])
        .anonymous()
        .args(&["-t", "1"])
        .json();
    c.failed_at("greeting");
    c.steps(
        NONE_STEPS,
        "ok failed skipped skipped skipped skipped skipped skipped skipped",
    );
    assert_eq!(c.error("message"), "no greeting before the deadline");
    assert!(
        c.r.elapsed >= Duration::from_millis(900) && c.r.elapsed <= Duration::from_secs(3),
        "{}",
        c.ctx
    );
    assert!(c.log.received.is_empty(), "{}", c.ctx);
}

#[test]
fn implicit_tls_against_a_cleartext_server() {
    let c = Case::tls(vec![Step::Send(GREETING.into()), Step::Hold])
        .server(Mode::Plain)
        .json();
    c.failed_at("tls");
    c.steps(TLS_STEPS, TLS_FAILED);
    assert_eq!(c.error("message"), "the server did not answer with TLS");
    let hint = c.error("hint");
    assert!(hint.contains("--security starttls"), "{hint}");
    assert!(c.r.elapsed < Duration::from_secs(5), "{}", c.ctx);
    // Only a ClientHello went out: no IMAP command, no password.
    assert_eq!(c.log.received.first(), Some(&0x16), "{}", c.ctx);
    assert_not_received(&c.log, PASS, &c.ctx);
}

/// Steps of a TLS run whose handshake failed.
const TLS_FAILED: &str =
    "ok failed skipped skipped skipped skipped skipped skipped skipped skipped";

#[test]
fn certificates_that_do_not_verify() {
    // (server's identity, host, --ca-file, error.message, in error.got,
    // in error.hint)
    let cases = [
        (
            Identity::Expired,
            "localhost",
            true,
            "the server certificate has expired",
            "certificate has expired",
            "renew",
        ),
        (
            Identity::Unknown,
            "localhost",
            true,
            "the server certificate is not issued by a trusted CA",
            "self-signed",
            "--ca-file",
        ),
        (
            Identity::Good,
            "localhost",
            false,
            // The issuer named: the chain as sent stops below it.
            "the server certificate is not issued by a trusted CA: the server sent only its own certificate, and its issuer CN=imapcheck test CA, O=imapcheck test is not trusted here",
            "unable to get local issuer",
            "the server must send the intermediate certificate CN=imapcheck test CA, O=imapcheck test after its own",
        ),
        (
            Identity::WrongName,
            "localhost",
            true,
            "the server certificate is not valid for localhost",
            "mismatch",
            "",
        ),
        (
            Identity::WrongName,
            "127.0.0.1",
            true,
            "the server certificate is not valid for 127.0.0.1",
            "mismatch",
            "",
        ),
    ];
    for (id, host, ca_file, message, got, hint) in cases {
        let mut case = Case::tls(kb_script())
            .named(format!(
                "{id:?} certificate for {host}, --ca-file {ca_file}"
            ))
            .server(Mode::Tls(id))
            .host(host)
            .script_may_break();
        if !ca_file {
            case = case.no_ca_file();
        }
        let c = case.json();
        c.failed_at("tls");
        c.steps(TLS_STEPS, TLS_FAILED);
        assert_eq!(c.log.tls_handshakes, 0, "{}", c.ctx);
        assert!(c.log.lines.is_empty(), "{}", c.ctx);
        assert_eq!(c.error("message"), message, "{}", c.ctx);
        assert!(c.error("got").contains(got), "{}", c.ctx);
        assert!(c.error("hint").contains(hint), "{}", c.ctx);
    }
}

#[test]
fn certificate_near_expiry_warns() {
    let c = Case::tls(kb_script())
        .server(Mode::Tls(Identity::Near))
        .json();
    c.exit(1);
    c.steps(TLS_STEPS, "ok warning ok ok ok ok ok skipped ok ok");
    // notAfter is 5 days after the certificate was made, to the second:
    // 4 whole days left (5 only within that same second).
    let days = c.v["tls"]["days_left"].as_i64().expect("days_left");
    assert!(days == 4 || days == 5, "days_left {days}\n{}", c.ctx);
    assert_eq!(c.v["tls"]["verified"], true);
    c.detail_starts_with("tls", &format!("certificate expires in {days} days"));
    assert!(c.v["error"].is_null());
    // Below the threshold of --cert-warn-days it is no warning.
    Case::tls(kb_script())
        .server(Mode::Tls(Identity::Near))
        .args(&["--cert-warn-days", "3"])
        .json()
        .exit(0);
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
    let c = Case::tls(kb_script())
        .server(Mode::Tls(Identity::Unknown))
        .no_ca_file()
        .args(&["--insecure"])
        .json();
    c.exit(1);
    c.steps(TLS_STEPS, "ok warning ok ok ok ok ok skipped ok ok");
    assert_eq!(c.v["tls"]["verified"], false, "{}", c.ctx);
    assert_eq!(
        c.v["tls"]["issuer"], "CN=localhost, O=imapcheck test",
        "{}",
        c.ctx
    );
    c.detail_contains("tls", "not verified (--insecure)");
    assert_eq!(c.v["message"]["subject"], KB_SUBJECT);
}

#[test]
fn authentication_failed() {
    let s = login_refused();
    let c = Case::tls(s).json();
    c.failed_at("login");
    // LOGOUT is still sent on the usable connection.
    c.steps(
        TLS_STEPS,
        "ok ok ok ok failed skipped skipped skipped skipped ok",
    );
    let got = c.error("got");
    assert!(
        got.ends_with(" NO [AUTHENTICATIONFAILED] Authentication failed."),
        "{got}"
    );
    assert_eq!(
        c.error("hint"),
        "wrong user name or password, or the account is locked or disabled"
    );
    assert_eq!(c.error("message"), "the server refused the login (NO)");
}

#[test]
fn greetings_that_refuse_or_are_not_imap() {
    // (case, the server's first line, in error.message, error.got, in
    // error.hint)
    let cases = [
        (
            "BYE greeting",
            "* BYE Too many connections from your IP\r\n",
            "BYE greeting",
            "* BYE Too many connections from your IP",
            "too many connections",
        ),
        (
            "POP3",
            "+OK POP3 server ready <1896.697170952@example.org>\r\n",
            "",
            "+OK POP3 server ready <1896.697170952@example.org>",
            "POP3",
        ),
    ];
    for (name, greeting, message, got, hint) in cases {
        // A BYE is followed by our close; anything else by the deadline.
        let end = if greeting.starts_with("* BYE") {
            Step::ExpectEof
        } else {
            Step::Hold
        };
        let c = Case::cleartext(vec![Step::Send(greeting.into()), end])
            .named(name)
            .json();
        c.failed_at("greeting");
        c.steps(
            NONE_STEPS,
            "ok failed skipped skipped skipped skipped skipped skipped skipped",
        );
        assert!(c.error("message").contains(message), "{}", c.ctx);
        assert_eq!(c.error("got"), got, "{}", c.ctx);
        assert!(c.error("hint").contains(hint), "{}", c.ctx);
        assert!(c.log.received.is_empty(), "no LOGOUT\n{}", c.ctx);
    }
}

#[test]
fn a_folder_that_cannot_be_opened_names_the_closest() {
    // (case, folder, command sent, the server's NO, arguments, failed
    // step, error.hint)
    let cases = [
        (
            "EXAMINE",
            "Deleted Item",
            "EXAMINE \"Deleted Item\"",
            "{tag} NO [NONEXISTENT] Mailbox doesn't exist: Deleted Item\r\n",
            &[][..],
            "examine",
            "closest folder names from LIST: Deleted Items",
        ),
        (
            "SELECT",
            "entwurfe",
            "SELECT entwurfe",
            "{tag} NO Mailbox doesn't exist: entwurfe\r\n",
            &["--select"],
            "select",
            "closest folder names from LIST: Entwürfe",
        ),
    ];
    for (name, folder, command, no, args, failed, hint) in cases {
        let s = script(vec![
            logged_in(),
            listed(kb_list_reply()),
            opened(command, no.into()),
            batch_refused(&[KB_FETCH_NEWEST]),
        ]);
        let c = Case::tls(s)
            .named(name)
            .args(&["--folder", folder])
            .args(args)
            .json();
        c.failed_at(failed);
        assert_eq!(c.error("hint"), hint, "{}", c.ctx);
        if failed == "examine" {
            c.steps(TLS_STEPS, "ok ok ok ok ok ok failed skipped skipped ok");
            assert_eq!(
                c.error("message"),
                "the server refused to open folder \"Deleted Item\""
            );
            assert!(
                c.error("got")
                    .contains("Mailbox doesn't exist: Deleted Item")
            );
        }
    }
}

#[test]
fn logindisabled_never_sends_the_password() {
    let s = script(vec![
        vec![Step::Send(
            "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n".into(),
        )],
        logout_steps(),
    ]);
    let c = Case::cleartext(s).json();
    c.failed_at("login");
    c.steps(
        NONE_STEPS,
        "ok ok ok failed skipped skipped skipped skipped ok",
    );
    assert!(c.error("message").contains("LOGINDISABLED"));
    assert!(c.error("hint").contains("--security starttls"));
    assert_not_received(&c.log, PASS, &c.ctx);
    assert!(!c.log.received_text().contains("LOGIN "), "{}", c.ctx);
}

/// Steps of a STARTTLS run that failed at starttls (logout: `logout`).
fn starttls_failed(logout: &str) -> String {
    format!("ok ok ok failed skipped skipped skipped skipped skipped {logout}")
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
    for (name, s) in [("in the greeting", with_caps), ("asked", asked)] {
        let c = Case::starttls(s).named(name).json();
        c.failed_at("starttls");
        c.steps(STARTTLS_STEPS, &starttls_failed("ok"));
        assert_eq!(
            c.error("message"),
            "the server does not offer STARTTLS",
            "{}",
            c.ctx
        );
        assert!(c.error("hint").contains("never falls back"), "{}", c.ctx);
        assert_not_received(&c.log, PASS, &c.ctx);
        assert!(!c.log.received_text().contains("STARTTLS"), "{}", c.ctx);
        assert!(!c.log.received_text().contains("LOGIN"), "{}", c.ctx);
    }
}

#[test]
fn starttls_with_an_expired_certificate() {
    let s = script(vec![
        vec![Step::Send(BARE_GREETING.into())],
        starttls_steps(Identity::Expired),
    ]);
    let c = Case::starttls(s).script_may_break().json();
    c.failed_at("starttls");
    c.steps(STARTTLS_STEPS, &starttls_failed("skipped"));
    assert_eq!(c.error("message"), "the server certificate has expired");
    assert_not_received(&c.log, PASS, &c.ctx);
}

#[test]
fn preauth_under_starttls_is_a_downgrade() {
    let s = script(vec![
        vec![Step::Send(
            "* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] Logged in as alice\r\n".into(),
        )],
        logout_steps(),
    ]);
    let c = Case::starttls(s.clone()).json();
    c.failed_at("starttls");
    c.steps(STARTTLS_STEPS, &starttls_failed("ok"));
    let said = format!("{} {}", c.error("message"), c.error("hint"));
    assert!(said.contains("PREAUTH"), "{said}");
    assert!(said.contains("CVE-2020-28896"), "{said}");
    assert_not_received(&c.log, PASS, &c.ctx);
    assert!(!c.log.received_text().contains("STARTTLS"), "{}", c.ctx);
    // The text output says it too.
    let run = Case::starttls(s).script_may_break().output();
    run.status(2);
    assert!(run.r.stdout.contains("CVE-2020-28896"), "{}", run.ctx);
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
    let c = Case::tls(s).anonymous().json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok skipped ok ok skipped ok ok");
    c.detail_contains("login", "PREAUTH");
    assert_eq!(c.v["message"]["subject"], KB_SUBJECT);
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
    let c = Case::starttls(s).json();
    c.failed_at("starttls");
    c.steps(STARTTLS_STEPS, &starttls_failed("skipped"));
    assert!(c.error("message").contains("injection"), "{}", c.ctx);
    assert_eq!(
        c.error("got"),
        "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected"
    );
    // No handshake: after STARTTLS nothing at all was sent.
    assert_eq!(c.log.tls_handshakes, 0);
    assert_eq!(
        c.log.received_text(),
        format!("{}\r\n", c.log.lines[0]),
        "{}",
        c.ctx
    );
    assert!(c.v["tls"].is_null(), "{}", c.ctx);
}

#[test]
fn logout_answers_short_of_bye_and_ok_warn() {
    // (case, what the server does after LOGOUT, logout's detail)
    let cases = [
        (
            "tagged OK without BYE",
            vec![
                Step::Send("{tag} OK Logout completed.\r\n".into()),
                Step::ExpectEof,
            ],
            "tagged OK without the * BYE that RFC 3501 requires first",
        ),
        // No * BYE and no tagged OK: the server just hangs up on LOGOUT.
        // The session is over as asked; every KB step passed.
        (
            "close",
            vec![Step::Close],
            "the server closed the connection in answer to LOGOUT, without * BYE or a tagged OK",
        ),
    ];
    for (name, answer, detail) in cases {
        let mut s = kb_script();
        let n = s.len();
        assert!(matches!(&s[n - 3], Step::Expect(p) if p == "LOGOUT"));
        s.truncate(n - 2);
        s.extend(answer);
        let c = Case::tls(s).named(name).json();
        c.exit(1);
        c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped ok warning");
        assert_eq!(c.detail("logout"), detail, "{}", c.ctx);
        assert!(c.v["error"].is_null(), "{}", c.ctx);
    }
}

#[test]
fn logout_unanswered_until_the_deadline_fails() {
    // Silence after LOGOUT is not a close: the step fails at the deadline.
    let mut s = kb_script();
    let n = s.len();
    s.truncate(n - 2);
    s.push(Step::Hold);
    let c = Case::tls(s).args(&["-t", "2"]).json();
    c.failed_at("logout");
    assert_eq!(
        c.error("message"),
        "no answer before the deadline during logout",
        "{}",
        c.ctx
    );
}

#[test]
fn bye_during_the_session() {
    let list = "* LIST () \".\" INBOX\r\n* BYE Server shutting down for maintenance\r\n";
    let s = kb_listing(vec![Step::Send(list.into()), Step::Close]);
    let c = Case::tls(s).json();
    c.failed_at("list");
    c.steps(
        TLS_STEPS,
        "ok ok ok ok ok failed skipped skipped skipped skipped",
    );
    assert!(c.error("message").contains("closed"), "{}", c.ctx);
    assert_no_logout_after_bye(&c);
    assert!(c.r.elapsed < Duration::from_secs(5), "{}", c.ctx);
}

#[test]
fn bye_then_tagged_ok_ends_the_session_without_logout() {
    // A server that says BYE but still completes the command: the check
    // goes on only as far as the connection lasts and never sends LOGOUT
    // after BYE.
    let list = "* LIST () \".\" INBOX\r\n* BYE Autologout; idle for too long\r\n{tag} OK List completed.\r\n";
    let s = kb_listing(vec![Step::Send(list.into()), Step::Close]);
    let c = Case::tls(s).script_may_break().json();
    assert_eq!(c.r.status, 2, "{}", c.ctx);
    assert_no_logout_after_bye(&c);
    assert_eq!(c.step("logout")["status"], "skipped", "{}", c.ctx);
}

/// The batch went out once, and LOGOUT not at all: LOGOUT follows LIST's
/// answer, and a LIST answered with BYE ended the session, after which
/// nothing may be sent.
fn assert_no_logout_after_bye(c: &Checked) {
    let received = c.log.received_text();
    let commands: Vec<&str> = received
        .lines()
        .map(|l| l.split_once(' ').map_or("", |(_, rest)| rest))
        .collect();
    assert_eq!(
        commands,
        [
            format!("LOGIN {USER} {PASS}").as_str(),
            "LIST \"\" \"*\"",
            "EXAMINE INBOX",
            KB_FETCH_NEWEST,
        ],
        "{}",
        c.ctx
    );
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
    // Two hours ahead: skew, a warning, no negative age. A date that does
    // not parse: the age cannot be told, a warning too.
    for (date, says) in [
        (imap_date(now + 7200), "in the future"),
        ("32-Foo-2024 99:00:00 +0000".to_string(), "cannot be told"),
    ] {
        let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script_dated(&date));
        let port = srv.port();
        let args = with(user(tls_args(port)), &["--max-age", "1d"]);
        let (r, v, log) = go_json(srv, &args, &PASS_ENV);
        let ctx = format!("INTERNALDATE {date:?}\n{}", dump(&r, &log));
        assert_exit(&r, &v, 1, &ctx);
        let detail = step(&v, "fetch")["detail"].as_str().unwrap_or("");
        assert!(detail.contains(says), "{says}\n{ctx}");
        assert_eq!(v["message"]["age_s"], Value::Null, "{ctx}");
    }
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
