// Beyond the KB (issue 6): OAuth 2.0 logins, server identity (ID), quota,
// readable envelope data and security posture warnings.

use super::*;

/// An OAuth access token with characters that need no escaping anywhere
/// but must never be shown.
const TOKEN: &str = "ya29.a0Tok-en_~+/Zz9";
const TOKEN_ENV: [(&str, &str); 1] = [("IMAPCHECK_PASSWORD", TOKEN)];

fn xoauth2_b64() -> String {
    base64(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01").as_bytes())
}

/// The token must not reach stdout or stderr, even with -v and trace logs.
fn assert_token_hidden(r: &Run, ctx: &str) {
    for secret in [TOKEN.to_string(), xoauth2_b64()] {
        assert!(!r.stdout.contains(&secret), "token on stdout\n{ctx}");
        assert!(!r.stderr.contains(&secret), "token on stderr\n{ctx}");
    }
}

const OAUTH_GREETING: &str = "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] Microsoft Exchange IMAP4 service ready\r\n";

#[test]
fn xoauth2_with_sasl_ir_logs_in() {
    let s = script(vec![
        vec![
            Step::Send(OAUTH_GREETING.into()),
            Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_b64())),
            Step::Send(kb_login_ok()),
        ],
        kb_after_login(),
    ]);
    let c = Case::tls(s)
        .args(&["--auth", "xoauth2", "-v"])
        .env(&TOKEN_ENV)
        .json();
    c.exit(0);
    c.detail_starts_with("login", "alice via AUTHENTICATE XOAUTH2");
    assert!(c.r.stderr.contains("AUTHENTICATE XOAUTH2 ***"), "{}", c.ctx);
    assert_token_hidden(&c.r, &c.ctx);
}

#[test]
fn oauthbearer_without_sasl_ir_waits_for_the_continuation() {
    let gs2 = format!("n,a={USER},\x01host=localhost\x01port=PORT\x01auth=Bearer {TOKEN}\x01\x01");
    // The port is part of the message and only known once the server is
    // bound; Linux's ephemeral ports all have five digits.
    let len = base64(gs2.replace("PORT", "00000").as_bytes()).len();
    let s = script(vec![
        vec![
            Step::Send("* OK [CAPABILITY IMAP4rev1 AUTH=OAUTHBEARER] ready\r\n".into()),
            Step::Expect("AUTHENTICATE OAUTHBEARER".into()),
            Step::Send("+ \r\n".into()),
            Step::ExpectBytes(len),
            Step::Expect(String::new()),
            Step::Send(kb_login_ok()),
        ],
        kb_after_login(),
    ]);
    let c = Case::tls(s)
        .args(&["--auth", "oauthbearer"])
        .env(&TOKEN_ENV)
        .script_may_break()
        .json();
    assert_eq!(c.port.to_string().len(), 5, "an ephemeral port");
    c.log.assert_ok();
    c.exit(0);
    // What arrived is exactly RFC 7628's form with this host and port.
    let want = base64(gs2.replace("PORT", &c.port.to_string()).as_bytes());
    assert_eq!(c.log.literals.len(), 1, "{}", c.ctx);
    assert_eq!(
        String::from_utf8_lossy(&c.log.literals[0]),
        want,
        "{}",
        c.ctx
    );
    assert_token_hidden(&c.r, &c.ctx);
}

#[test]
fn oauth_error_challenges_are_decoded_and_acknowledged() {
    // XOAUTH2 wants an empty response to its error challenge: an empty
    // line, read as the (empty) rest of the AUTHENTICATE. OAUTHBEARER
    // wants 0x01 (RFC 7628 3.2.3).
    let xoauth2 = r#"{"status":"401","schemes":"bearer","scope":"https://outlook.office.com/IMAP.AccessAsUser.All"}"#;
    let oauthbearer = r#"{"status":"invalid_token","scope":"https://mail.google.com/"}"#;
    let trace = [("IMAPCHECK_PASSWORD", TOKEN), ("RUST_LOG", "trace")];
    let cases = [
        (
            "xoauth2",
            Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_b64())),
            xoauth2,
            b"".to_vec(),
            "{tag} NO AUTHENTICATE failed.\r\n",
            (&["-v"][..], &trace[..]),
            "the OAuth server said: status 401, schemes bearer, scope https://outlook.office.com/IMAP.AccessAsUser.All",
            "the access token is invalid or expired",
        ),
        (
            "oauthbearer",
            Step::Expect("AUTHENTICATE OAUTHBEARER *".into()),
            oauthbearer,
            b"AQ==".to_vec(),
            "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n",
            (&[], &TOKEN_ENV[..]),
            "status invalid_token",
            "https://mail.google.com/",
        ),
    ];
    for (mechanism, command, json, ack, no, (args, env), message, hint) in cases {
        let s = script(vec![
            vec![
                Step::Send(OAUTH_GREETING.into()),
                command,
                Step::Send(format!("+ {}\r\n", base64(json.as_bytes()))),
                Step::ExpectBytes(ack.len()),
                Step::Expect(String::new()),
                Step::Send(no.into()),
            ],
            logout_steps(),
        ]);
        let c = Case::tls(s)
            .named(mechanism)
            .args(&["--auth", mechanism])
            .args(args)
            .env(env)
            .json();
        assert_eq!(
            c.log.literals,
            [ack],
            "the acknowledgement (RFC 7628 3.2.3)\n{}",
            c.ctx
        );
        c.failed_at("login");
        let got = c.error("message");
        assert!(got.contains(message), "{got}\n{}", c.ctx);
        assert!(c.error("hint").contains(hint), "{}", c.ctx);
        assert_token_hidden(&c.r, &c.ctx);
        if mechanism == "xoauth2" {
            let auth_line = format!("AUTHENTICATE XOAUTH2 {}\r\n\r\n", xoauth2_b64());
            assert!(
                contains(&c.log.received, auth_line.as_bytes()),
                "an empty line\n{}",
                c.ctx
            );
            assert!(got.ends_with(message), "{got}");
            assert!(c.error("hint").starts_with(hint), "{}", c.ctx);
        }
    }
}

#[test]
fn unadvertised_oauth_mechanism_is_not_tried() {
    let s = script(vec![vec![Step::Send(GREETING.into())], logout_steps()]);
    let c = Case::tls(s)
        .args(&["--auth", "xoauth2"])
        .env(&TOKEN_ENV)
        .json();
    c.failed_at("login");
    assert_eq!(
        c.error("message"),
        "the server does not offer AUTHENTICATE XOAUTH2 here; the secret was not sent"
    );
    assert_eq!(c.error("got"), "AUTH=PLAIN", "the offered mechanisms");
    assert_not_received(&c.log, TOKEN, &c.ctx);
}

#[test]
fn basic_auth_disabled_points_at_oauth() {
    let s = script(vec![
        vec![
            Step::Send(OAUTH_GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(
                "{tag} NO LOGIN failed: BasicAuthBlocked. Basic authentication is disabled.\r\n"
                    .into(),
            ),
        ],
        logout_steps(),
    ]);
    let c = Case::tls(s).json();
    c.failed_at("login");
    assert!(c.error("hint").contains("--auth xoauth2"), "{}", c.ctx);
}

/// The ID exchange of these tests: ours, and Dovecot-like fields back.
pub fn id_exchange() -> (String, String) {
    (
        format!(
            "ID (\"name\" \"imapcheck\" \"version\" \"{}\")",
            env!("CARGO_PKG_VERSION")
        ),
        "* ID (\"name\" \"Dovecot\" \"version\" \"2.3.19\" \"vendor\" NIL \"os\" \"Linux\")\r\n"
            .into(),
    )
}

/// The greeting with `caps` and AUTH=PLAIN, and LOGIN answered with `caps`.
pub fn logged_in_with(caps: &str) -> Vec<Step> {
    vec![
        Step::Send(format!("* OK [CAPABILITY {caps} AUTH=PLAIN] ready\r\n")),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
    ]
}

#[test]
fn id_rides_with_list_when_the_login_answer_has_capabilities() {
    // Nothing behind LOGIN (ExpectAlone drops and flags it, as Courier's
    // login process loses it); ID then goes in one write with LIST: the
    // server reads both before answering either.
    let (ours, theirs) = id_exchange();
    let mut steps = logged_in_with("IMAP4rev1 ID LITERAL+");
    steps.extend([
        Step::Expect(ours),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(format!("{theirs}{{prevtag}} OK ID completed.\r\n")),
        Step::Send(kb_list_reply()),
    ]);
    steps.extend(kb_after_login().split_off(2));
    let c = Case::tls(steps).args(&["-t", "5"]).json();
    c.exit(0);
    assert_eq!(
        c.v["server_id"],
        serde_json::json!({"name": "Dovecot", "version": "2.3.19", "vendor": null, "os": "Linux"}),
        "{}",
        c.ctx
    );
    c.detail_ends_with("list", "server ID: Dovecot 2.3.19 os Linux");
}

#[test]
fn capability_and_id_ride_with_list_when_the_login_answer_has_none() {
    // Courier answers LOGIN with a bare OK. The CAPABILITY that must follow
    // and ID go in one write with LIST: the server reads all three before
    // answering any, so a client that waited would hang until its deadline.
    let (ours, theirs) = id_exchange();
    let mut steps = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 ID AUTH=PLAIN] Courier-IMAP ready.\r\n".into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("{tag} OK LOGIN Ok.\r\n".into()),
        Step::Expect("CAPABILITY".into()),
        Step::Expect(ours),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(format!(
            "* CAPABILITY IMAP4rev1 ID CHILDREN\r\n{{prevtag2}} OK CAPABILITY completed\r\n{theirs}{{prevtag}} OK ID completed.\r\n{}",
            kb_list_reply()
        )),
    ];
    steps.extend(
        kb_after_login_with_quota("{tag} BAD Unknown command GETQUOTAROOT\r\n").split_off(2),
    );
    let c = Case::tls(steps).args(&["-t", "5"]).json();
    c.exit(0);
    assert_eq!(c.v["server_id"]["name"], "Dovecot", "{}", c.ctx);
    assert_eq!(
        c.v["capabilities"],
        serde_json::json!(["IMAP4rev1", "ID", "CHILDREN"]),
        "{}",
        c.ctx
    );
    c.detail_ends_with("login", "alice via LOGIN; capabilities asked for with LIST");
    c.detail_ends_with(
        "list",
        "; 3 capabilities after login; server ID: Dovecot 2.3.19 os Linux",
    );
}

/// `greeting`, then LOGOUT answered properly: a check without login.
fn greeting_then_logout(greeting: &str) -> Vec<Step> {
    script(vec![vec![Step::Send(greeting.into())], short_logout()])
}

/// LOGOUT answered with a short BYE and OK.
fn short_logout() -> Vec<Step> {
    vec![
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE bye\r\n{tag} OK done\r\n".into()),
        Step::ExpectEof,
    ]
}

#[test]
fn id_without_login_is_on_the_capability_line() {
    let s = script(vec![
        vec![
            Step::Send("* OK [CAPABILITY IMAP4rev1 ID] ready\r\n".into()),
            Step::Expect("ID (*)".into()),
            Step::Send("* ID NIL\r\n{tag} OK ID completed.\r\n".into()),
        ],
        short_logout(),
    ]);
    let c = Case::tls(s).anonymous().json();
    c.exit(0);
    assert_eq!(c.v["server_id"], serde_json::json!({}), "ID NIL\n{}", c.ctx);
    c.detail_ends_with("capability", "server ID: the server answered ID NIL");
}

/// LOGIN .. EXAMINE, then GETQUOTAROOT answered with `quota`, then FETCH and
/// LOGOUT: the quota step sits between examine and fetch.
pub fn quota_script(quota: &str) -> Vec<Step> {
    script(vec![
        logged_in_with("IMAP4rev1 QUOTA LITERAL+"),
        listed(kb_list_reply()),
        opened("EXAMINE INBOX", kb_examine_reply()),
        vec![
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Send(format!(
                "* QUOTAROOT INBOX \"User quota\"\r\n* QUOTA \"User quota\" ({quota})\r\n{{tag}} OK Getquotaroot completed.\r\n"
            )),
        ],
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ])
}

#[test]
fn quota_below_the_thresholds_is_ok() {
    let c = Case::tls(quota_script("STORAGE 512 1024 MESSAGE 3 1000")).json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok");
    assert_eq!(
        c.v["quota"],
        serde_json::json!([
            {"root": "User quota", "resource": "STORAGE", "used": 512, "limit": 1024},
            {"root": "User quota", "resource": "MESSAGE", "used": 3, "limit": 1000},
        ]),
        "{}",
        c.ctx
    );
    assert_eq!(
        c.step("quota")["detail"],
        "\"User quota\": STORAGE 512 of 1024 KiB (50.0%), MESSAGE 3 of 1000 (0.3%)"
    );
    // Perfdata: usage in percent against --quota-warn/--quota-crit.
    let srv = ScriptedServer::start(
        Mode::Tls(Identity::Good),
        quota_script("STORAGE 512 1024 MESSAGE 3 1000"),
    );
    let port = srv.port();
    let args = with(
        user(tls_args(port)),
        &["--quota-warn", "80", "--format", "nagios"],
    );
    let (r, log) = go(srv, &args, &PASS_ENV, None);
    let ctx = dump(&r, &log);
    assert_eq!(r.status, 0, "{ctx}");
    assert!(
        r.stdout
            .contains(" quota_storage=50.0%;80;100;0;100 quota_message=0.3%;80;100;0;100 "),
        "{ctx}"
    );
}

#[test]
fn quota_at_or_above_the_warning_warns() {
    // (case, the QUOTA resources, arguments, quota's detail begins)
    let cases = [
        (
            "95% of the default 90%",
            "STORAGE 973 1024",
            &[][..],
            "quota at 95.0% (warning at 90%)",
        ),
        // A warning exactly at the figure.
        (
            "50% with --quota-warn 50",
            "STORAGE 512 1024",
            &["--quota-warn", "50", "--quota-crit", "60"],
            "quota at 50.0% (warning at 50%)",
        ),
    ];
    for (name, quota, args, detail) in cases {
        let c = Case::tls(quota_script(quota)).named(name).args(args).json();
        c.exit(1);
        c.steps(TLS_STEPS, "ok ok ok ok ok ok ok warning ok ok");
        c.detail_starts_with("quota", detail);
    }
}

#[test]
fn full_quota_is_critical_but_the_message_is_still_fetched() {
    let c = Case::tls(quota_script("STORAGE 1024 1024")).json();
    c.failed_at("quota");
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok failed ok ok");
    assert_eq!(
        c.error("message"),
        "mailbox quota at 100.0%: \"User quota\" STORAGE 1024 of 1024 KiB (100.0%)"
    );
    assert_eq!(c.v["message"]["seq"], 3, "{}", c.ctx);
}

#[test]
fn encoded_subject_and_name_are_decoded_and_broken_ones_never_fail() {
    let fetch = "* 1 FETCH (FLAGS () INTERNALDATE \"02-Jan-2024 10:00:00 +0000\" RFC822.SIZE 398 ENVELOPE (\"Tue, 02 Jan 2024 11:00:00 +0100\" \"=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4g4pyU?= =?UTF-8?Q?broken=ZZ?=\" ((\"=?ISO-8859-1?Q?J=F6rg_M=FCller?=\" NIL \"joerg\" \"example.org\")) NIL NIL NIL NIL NIL NIL \"<m@x>\"))\r\n{tag} OK Fetch completed.\r\n";
    let examine = kb_examine_reply().replace("* 3 EXISTS", "* 1 EXISTS");
    let s = script(vec![
        kb_examined(examine),
        fetched(1, fetch.into()),
        logout_steps(),
    ]);
    let c = Case::tls(s).json();
    let (v, ctx) = (&c.v, &c.ctx);
    c.exit(0);
    assert_eq!(
        v["message"]["subject"], "Grüße aus München ✔ =?UTF-8?Q?broken=ZZ?=",
        "{ctx}"
    );
    assert_eq!(
        v["message"]["subject_raw"],
        "=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4g4pyU?= =?UTF-8?Q?broken=ZZ?=",
        "{ctx}"
    );
    assert_eq!(
        v["message"]["from"], "Jörg Müller <joerg@example.org>",
        "{ctx}"
    );
    assert_eq!(
        v["message"]["from_raw"], "=?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>",
        "{ctx}"
    );
}

#[test]
fn cleartext_port_posture() {
    // (case, the greeting, exit status, capability's detail begins)
    let cases = [
        (
            "LOGINDISABLED: no warning",
            "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n",
            0,
            "",
        ),
        (
            "takes LOGIN: warns, recommends STARTTLS",
            "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n",
            1,
            "the server accepts credentials in cleartext on this port (no LOGINDISABLED); it offers STARTTLS: check with --security starttls",
        ),
    ];
    for (name, greeting, code, detail) in cases {
        let c = Case::cleartext(greeting_then_logout(greeting))
            .named(name)
            .anonymous()
            .json();
        c.exit(code);
        let status = if code == 0 { "ok" } else { "warning" };
        assert_eq!(c.step("capability")["status"], status, "{}", c.ctx);
        c.detail_starts_with("capability", detail);
    }
}

#[test]
fn starttls_mode_reports_cleartext_auth_only_in_the_transcript() {
    let s = script(vec![
        vec![Step::Send(
            "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n".into(),
        )],
        vec![
            Step::Expect("STARTTLS".into()),
            Step::Send("{tag} OK Begin TLS negotiation now.\r\n".into()),
            Step::StartTls(Identity::Good),
            Step::Expect("CAPABILITY".into()),
            Step::Send(format!(
                "* CAPABILITY {PRELOGIN_CAPS}\r\n{{tag}} OK Pre-login capabilities listed.\r\n"
            )),
        ],
        logout_steps(),
    ]);
    let c = Case::starttls(s).anonymous().args(&["-v"]).json();
    c.exit(0);
    assert_eq!(
        c.step("capability")["status"],
        "ok",
        "information, not a warning\n{}",
        c.ctx
    );
    assert!(
        c.r.stderr
            .contains("-- the server offers authentication before TLS on this port"),
        "{}",
        c.ctx
    );
}

#[test]
fn id_rides_with_list_and_quota_with_examine_in_no_extra_round_trip() {
    // The server reads the second command of each pair BEFORE answering the
    // first: a client that waited for the first answer would hang here
    // until its deadline. So passing proves each pair went out together.
    let s = script(vec![
        logged_in_with("IMAP4rev1 ID QUOTA LITERAL+"),
        vec![
            Step::Expect("ID (*)".into()),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(format!(
                "* ID (\"name\" \"Cyrus IMAP\" \"version\" \"3.8\")\r\n{{prevtag}} OK ID completed.\r\n{}",
                kb_list_reply()
            )),
            Step::Expect("EXAMINE INBOX".into()),
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Send(kb_examine_reply().replace("{tag}", "{prevtag}")),
            Step::Send(
                "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 10 100)\r\n{tag} OK done\r\n"
                    .into(),
            ),
        ],
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ]);
    let c = Case::tls(s).args(&["-t", "5"]).json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok");
    assert_eq!(c.v["server_id"]["name"], "Cyrus IMAP", "{}", c.ctx);
    assert_eq!(
        c.step("quota")["detail"],
        "\"\": STORAGE 10 of 100 KiB (10.0%)"
    );
}

#[test]
fn a_server_dying_on_the_quota_request_is_diagnosed_at_examine() {
    // Dovecot can run out of memory recalculating a huge maildir++ quota;
    // the imap process dies before answering EXAMINE, sent in the same
    // write. The examine failure must point at the quota request.
    let s = script(vec![
        logged_in_with("IMAP4rev1 QUOTA LITERAL+"),
        listed(kb_list_reply()),
        vec![
            Step::Expect("EXAMINE INBOX".into()),
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Close,
        ],
    ]);
    let c = Case::tls(s).json();
    c.failed_at("examine");
    assert!(
        c.error("hint")
            .starts_with("GETQUOTAROOT went out together with EXAMINE"),
        "{}",
        c.ctx
    );
}

#[test]
fn a_ca_file_that_is_not_a_certificate_is_unknown() {
    let dir = std::env::temp_dir().join(format!("imapcheck-badca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let bad = dir.join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .expect("write");
    let bad_s = bad.to_string_lossy().to_string();
    let r = run(
        &[
            "localhost",
            "--security",
            "tls",
            "--ca-file",
            &bad_s,
            "--format",
            "json",
        ],
        &[],
        None,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let v = parse_json_stdout(&r);
    assert_eq!(r.status, 3, "{r:?}");
    assert_eq!(v["status"], "unknown");
    assert_eq!(v["error"]["step"], "tls");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("certificate 1 is not a valid X.509 certificate"),
        "{message}"
    );
}
