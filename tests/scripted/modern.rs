// Beyond the KB (issue 6): OAuth 2.0 logins, server identity (ID), quota,
// readable envelope data and security posture warnings.

use super::*;

/// An OAuth access token with characters that need no escaping anywhere
/// but must never be shown.
const TOKEN: &str = "ya29.a0Tok-en_~+/Zz9";
const TOKEN_ENV: [(&str, &str); 1] = [("IMAPCHECK_PASSWORD", TOKEN)];

fn b64(bytes: &[u8]) -> String {
    imapcheck_b64(bytes)
}

/// Standard base64, written here so the test does not trust the code under
/// test to encode what it is checked against.
fn imapcheck_b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn xoauth2_b64() -> String {
    b64(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01").as_bytes())
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
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--auth", "xoauth2", "-v"]);
    let (r, v, log) = go_json(srv, &args, &TOKEN_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    let detail = step(&v, "login")["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with("alice via AUTHENTICATE XOAUTH2"),
        "{detail}"
    );
    assert!(r.stderr.contains("AUTHENTICATE XOAUTH2 ***"), "{ctx}");
    assert_token_hidden(&r, &ctx);
}

#[test]
fn oauthbearer_without_sasl_ir_waits_for_the_continuation() {
    let gs2 = format!("n,a={USER},\x01host=localhost\x01port=PORT\x01auth=Bearer {TOKEN}\x01\x01");
    // The port is part of the message and only known once the server is
    // bound; Linux's ephemeral ports all have five digits.
    let len = b64(gs2.replace("PORT", "00000").as_bytes()).len();
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
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    assert_eq!(port.to_string().len(), 5, "an ephemeral port");
    let args = with(user(tls_args(port)), &["--auth", "oauthbearer"]);
    let (r, v, log) = go_json(srv, &args, &TOKEN_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    // What arrived is exactly RFC 7628's form with this host and port.
    let want = b64(gs2.replace("PORT", &port.to_string()).as_bytes());
    assert_eq!(log.literals.len(), 1, "{ctx}");
    assert_eq!(String::from_utf8_lossy(&log.literals[0]), want, "{ctx}");
    assert_token_hidden(&r, &ctx);
}

#[test]
fn xoauth2_error_challenge_is_decoded_and_acknowledged() {
    let json = r#"{"status":"401","schemes":"bearer","scope":"https://outlook.office.com/IMAP.AccessAsUser.All"}"#;
    let s = script(vec![
        vec![
            Step::Send(OAUTH_GREETING.into()),
            Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_b64())),
            Step::Send(format!("+ {}\r\n", b64(json.as_bytes()))),
            // XOAUTH2 wants an empty response to its error challenge: an
            // empty line, read as the (empty) rest of the AUTHENTICATE.
            Step::ExpectBytes(0),
            Step::Expect(String::new()),
            Step::Send("{tag} NO AUTHENTICATE failed.\r\n".into()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--auth", "xoauth2", "-v"]);
    let (r, v, log) = go_json(
        srv,
        &args,
        &[("IMAPCHECK_PASSWORD", TOKEN), ("RUST_LOG", "trace")],
    );
    let ctx = dump(&r, &log);
    log.assert_ok();
    let auth_line = format!("AUTHENTICATE XOAUTH2 {}\r\n\r\n", xoauth2_b64());
    assert!(
        contains(&log.received, auth_line.as_bytes()),
        "an empty line\n{ctx}"
    );
    assert_failed_at(&r, &v, "login", &ctx);
    let message = error_text(&v, "message");
    assert!(
        message.ends_with(
            "the OAuth server said: status 401, schemes bearer, scope https://outlook.office.com/IMAP.AccessAsUser.All"
        ),
        "{message}"
    );
    let hint = error_text(&v, "hint");
    assert!(
        hint.starts_with("the access token is invalid or expired"),
        "{hint}"
    );
    assert_token_hidden(&r, &ctx);
}

#[test]
fn oauthbearer_error_challenge_gets_the_0x01_answer() {
    let json = r#"{"status":"invalid_token","scope":"https://mail.google.com/"}"#;
    let s = script(vec![
        vec![
            Step::Send(OAUTH_GREETING.into()),
            Step::Expect("AUTHENTICATE OAUTHBEARER *".into()),
            Step::Send(format!("+ {}\r\n", b64(json.as_bytes()))),
            Step::ExpectBytes(4),
            Step::Expect(String::new()),
            Step::Send("{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n".into()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--auth", "oauthbearer"]);
    let (r, v, log) = go_json(srv, &args, &TOKEN_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_eq!(log.literals, [b"AQ==".to_vec()], "RFC 7628 3.2.3\n{ctx}");
    assert_failed_at(&r, &v, "login", &ctx);
    assert!(
        error_text(&v, "message").contains("status invalid_token"),
        "{ctx}"
    );
    assert!(
        error_text(&v, "hint").contains("https://mail.google.com/"),
        "{ctx}"
    );
    assert_token_hidden(&r, &ctx);
}

#[test]
fn unadvertised_oauth_mechanism_is_not_tried() {
    let s = script(vec![vec![Step::Send(GREETING.into())], logout_steps()]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let args = with(user(tls_args(port)), &["--auth", "xoauth2"]);
    let (r, v, log) = go_json(srv, &args, &TOKEN_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "login", &ctx);
    assert_eq!(
        error_text(&v, "message"),
        "the server does not offer AUTHENTICATE XOAUTH2 here; the secret was not sent"
    );
    assert_eq!(
        error_text(&v, "got"),
        "AUTH=PLAIN",
        "the offered mechanisms"
    );
    assert_not_received(&log, TOKEN, &ctx);
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
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "login", &ctx);
    assert!(error_text(&v, "hint").contains("--auth xoauth2"), "{ctx}");
}

/// The ID exchange of these tests: ours, and Dovecot-like fields back.
fn id_exchange() -> (String, String) {
    (
        format!(
            "ID (\"name\" \"imapcheck\" \"version\" \"{}\")",
            env!("CARGO_PKG_VERSION")
        ),
        "* ID (\"name\" \"Dovecot\" \"version\" \"2.3.19\" \"vendor\" NIL \"os\" \"Linux\")\r\n"
            .into(),
    )
}

#[test]
fn id_rides_with_list_when_the_login_answer_has_capabilities() {
    // Nothing behind LOGIN (ExpectAlone drops and flags it, as Courier's
    // login process loses it); ID then goes in one write with LIST: the
    // server reads both before answering either.
    let caps = "IMAP4rev1 ID LITERAL+";
    let (ours, theirs) = id_exchange();
    let mut steps = vec![
        Step::Send(format!("* OK [CAPABILITY {caps} AUTH=PLAIN] ready\r\n")),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
        Step::Expect(ours),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(format!("{theirs}{{prevtag}} OK ID completed.\r\n")),
        Step::Send(kb_list_reply()),
    ];
    steps.extend(kb_after_login().split_off(2));
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), steps);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &with(user(tls_args(port)), &["-t", "5"]), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(
        v["server_id"],
        serde_json::json!({"name": "Dovecot", "version": "2.3.19", "vendor": null, "os": "Linux"}),
        "{ctx}"
    );
    let detail = step(&v, "list")["detail"].as_str().unwrap_or("");
    assert!(
        detail.ends_with("server ID: Dovecot 2.3.19 os Linux"),
        "{detail}"
    );
}

#[test]
fn id_rides_with_capability_when_the_login_answer_has_none() {
    // Courier answers LOGIN with a bare OK: the CAPABILITY that must follow
    // carries ID in the same write.
    let (ours, theirs) = id_exchange();
    let mut steps = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 ID AUTH=PLAIN] Courier-IMAP ready.\r\n".into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("{tag} OK LOGIN Ok.\r\n".into()),
        Step::Expect("CAPABILITY".into()),
        Step::Expect(ours),
        Step::Send(format!(
            "* CAPABILITY IMAP4rev1 ID CHILDREN\r\n{{prevtag}} OK CAPABILITY completed\r\n{theirs}{{tag}} OK ID completed.\r\n"
        )),
    ];
    steps.extend(kb_after_login());
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), steps);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &with(user(tls_args(port)), &["-t", "5"]), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(v["server_id"]["name"], "Dovecot", "{ctx}");
    assert_eq!(
        v["capabilities"],
        serde_json::json!(["IMAP4rev1", "ID", "CHILDREN"]),
        "{ctx}"
    );
    let detail = step(&v, "login")["detail"].as_str().unwrap_or("");
    assert!(
        detail.ends_with("server ID: Dovecot 2.3.19 os Linux"),
        "{detail}"
    );
}

#[test]
fn id_without_login_is_on_the_capability_line() {
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 ID] ready\r\n".into()),
        Step::Expect("ID (*)".into()),
        Step::Send("* ID NIL\r\n{tag} OK ID completed.\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE bye\r\n{tag} OK done\r\n".into()),
        Step::ExpectEof,
    ];
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &tls_args(port), &[]);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(v["server_id"], serde_json::json!({}), "ID NIL\n{ctx}");
    let detail = step(&v, "capability")["detail"].as_str().unwrap_or("");
    assert!(
        detail.ends_with("server ID: the server answered ID NIL"),
        "{detail}"
    );
}

/// LOGIN .. EXAMINE, then GETQUOTAROOT answered with `quota`, then FETCH and
/// LOGOUT: the quota step sits between examine and fetch.
fn quota_script(quota: &str) -> Vec<Step> {
    let caps = "IMAP4rev1 QUOTA LITERAL+";
    script(vec![
        vec![
            Step::Send(format!("* OK [CAPABILITY {caps} AUTH=PLAIN] ready\r\n")),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(kb_list_reply()),
            Step::Expect("EXAMINE INBOX".into()),
            Step::Send(kb_examine_reply()),
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Send(format!(
                "* QUOTAROOT INBOX \"User quota\"\r\n* QUOTA \"User quota\" ({quota})\r\n{{tag}} OK Getquotaroot completed.\r\n"
            )),
            Step::Expect("FETCH 3 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send(kb_fetch_reply()),
        ],
        logout_steps(),
    ])
}

#[test]
fn quota_below_the_thresholds_is_ok() {
    let srv = ScriptedServer::start(
        Mode::Tls(Identity::Good),
        quota_script("STORAGE 512 1024 MESSAGE 3 1000"),
    );
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_steps(&v, &TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok", &ctx);
    assert_eq!(
        v["quota"],
        serde_json::json!([
            {"root": "User quota", "resource": "STORAGE", "used": 512, "limit": 1024},
            {"root": "User quota", "resource": "MESSAGE", "used": 3, "limit": 1000},
        ]),
        "{ctx}"
    );
    assert_eq!(
        step(&v, "quota")["detail"],
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
fn quota_at_95_percent_warns() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), quota_script("STORAGE 973 1024"));
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    assert_steps(&v, &TLS_STEPS, "ok ok ok ok ok ok ok warning ok ok", &ctx);
    let detail = step(&v, "quota")["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with("quota at 95.0% (warning at 90%)"),
        "{detail}"
    );
}

#[test]
fn quota_thresholds_are_flags_and_apply_at_the_figure() {
    // 50% with --quota-warn 50: a warning exactly at the figure.
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), quota_script("STORAGE 512 1024"));
    let port = srv.port();
    let args = with(
        user(tls_args(port)),
        &["--quota-warn", "50", "--quota-crit", "60"],
    );
    let (r, v, log) = go_json(srv, &args, &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    assert_eq!(step(&v, "quota")["status"], "warning", "{ctx}");
}

#[test]
fn full_quota_is_critical_but_the_message_is_still_fetched() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), quota_script("STORAGE 1024 1024"));
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "quota", &ctx);
    assert_steps(&v, &TLS_STEPS, "ok ok ok ok ok ok ok failed ok ok", &ctx);
    assert_eq!(
        error_text(&v, "message"),
        "mailbox quota at 100.0%: \"User quota\" STORAGE 1024 of 1024 KiB (100.0%)"
    );
    assert_eq!(v["message"]["seq"], 3, "{ctx}");
}

#[test]
fn encoded_subject_and_name_are_decoded_and_broken_ones_never_fail() {
    let fetch = "* 1 FETCH (FLAGS () INTERNALDATE \"02-Jan-2024 10:00:00 +0000\" RFC822.SIZE 398 ENVELOPE (\"Tue, 02 Jan 2024 11:00:00 +0100\" \"=?UTF-8?B?R3LDvMOfZSBhdXMgTcO8bmNoZW4g4pyU?= =?UTF-8?Q?broken=ZZ?=\" ((\"=?ISO-8859-1?Q?J=F6rg_M=FCller?=\" NIL \"joerg\" \"example.org\")) NIL NIL NIL NIL NIL NIL \"<m@x>\"))\r\n{tag} OK Fetch completed.\r\n";
    let examine = kb_examine_reply().replace("* 3 EXISTS", "* 1 EXISTS");
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(kb_login_ok()),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(kb_list_reply()),
            Step::Expect("EXAMINE INBOX".into()),
            Step::Send(examine),
            Step::Expect("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send(fetch.into()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
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
fn cleartext_port_that_refuses_login_gets_no_posture_warning() {
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE bye\r\n{tag} OK done\r\n".into()),
        Step::ExpectEof,
    ];
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &none_args(port), &[]);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(step(&v, "capability")["status"], "ok", "{ctx}");
}

#[test]
fn cleartext_port_that_takes_login_warns_and_recommends_starttls() {
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE bye\r\n{tag} OK done\r\n".into()),
        Step::ExpectEof,
    ];
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &none_args(port), &[]);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 1, &ctx);
    let detail = step(&v, "capability")["detail"].as_str().unwrap_or("");
    assert!(
        detail.starts_with(
            "the server accepts credentials in cleartext on this port (no LOGINDISABLED); it offers STARTTLS: check with --security starttls"
        ),
        "{detail}"
    );
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
    let srv = ScriptedServer::start(Mode::Plain, s);
    let port = srv.port();
    let args = with(starttls_args(port), &["-v"]);
    let (r, v, log) = go_json(srv, &args, &[]);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(
        step(&v, "capability")["status"],
        "ok",
        "information, not a warning\n{ctx}"
    );
    assert!(
        r.stderr
            .contains("-- the server offers authentication before TLS on this port"),
        "{ctx}"
    );
}

#[test]
fn id_rides_with_list_and_quota_with_examine_in_no_extra_round_trip() {
    // The server reads the second command of each pair BEFORE answering the
    // first: a client that waited for the first answer would hang here
    // until its deadline. So passing proves each pair went out together.
    let caps = "IMAP4rev1 ID QUOTA LITERAL+";
    let s = script(vec![
        vec![
            Step::Send(format!("* OK [CAPABILITY {caps} AUTH=PLAIN] ready\r\n")),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
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
            Step::Expect("FETCH 3 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send(kb_fetch_reply()),
        ],
        logout_steps(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &with(user(tls_args(port)), &["-t", "5"]), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_steps(&v, &TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok", &ctx);
    assert_eq!(v["server_id"]["name"], "Cyrus IMAP", "{ctx}");
    assert_eq!(
        step(&v, "quota")["detail"],
        "\"\": STORAGE 10 of 100 KiB (10.0%)"
    );
}

#[test]
fn a_server_dying_on_the_quota_request_is_diagnosed_at_examine() {
    // Dovecot can run out of memory recalculating a huge maildir++ quota;
    // the imap process dies before answering EXAMINE, sent in the same
    // write. The examine failure must point at the quota request.
    let caps = "IMAP4rev1 QUOTA LITERAL+";
    let s = vec![
        Step::Send(format!("* OK [CAPABILITY {caps} AUTH=PLAIN] ready\r\n")),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::Expect("EXAMINE INBOX".into()),
        Step::Expect("GETQUOTAROOT INBOX".into()),
        Step::Close,
    ];
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_failed_at(&r, &v, "examine", &ctx);
    assert!(
        error_text(&v, "hint").starts_with("GETQUOTAROOT went out together with EXAMINE"),
        "{ctx}"
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
