// Happy paths: every mode and option, and the three output formats.

use super::*;

/// The KB happy path's JSON report, checked field by field.
fn assert_kb_report(v: &Value, ctx: &str) {
    for key in JSON_FIELDS {
        assert!(v.get(key).is_some(), "json lacks {key}\n{ctx}");
    }
    assert_eq!(v["greeting"], GREETING.trim_end(), "{ctx}");
    let caps: Vec<&str> = POSTLOGIN_CAPS.split(' ').collect();
    assert_eq!(v["capabilities"], serde_json::json!(caps), "{ctx}");
    assert_eq!(v["folders"], serde_json::json!(KB_MAILBOXES), "{ctx}");
    assert_fields(
        &v["mailbox"],
        serde_json::json!({
            "name": "INBOX", "exists": KB_EXISTS, "recent": KB_RECENT, "unseen": KB_UNSEEN,
            "uidvalidity": KB_UIDVALIDITY, "uidnext": KB_UIDNEXT,
            "flags": ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"],
            "permanent_flags": [], "read_only": true,
        }),
        ctx,
    );
    let m = &v["message"];
    assert_eq!(m["seq"], 3, "{ctx}");
    assert_eq!(m["size"], KB_SIZE, "{ctx}");
    assert_eq!(m["flags"], serde_json::json!(["\\Flagged"]), "{ctx}");
    assert_eq!(m["internal_date"], KB_INTERNALDATE, "{ctx}");
    // The subject came as a literal with quotes in it.
    assert_eq!(m["subject"], KB_SUBJECT, "{ctx}");
    assert_eq!(m["from"], KB_FROM, "{ctx}");
    assert_eq!(v["alerts"], serde_json::json!([]), "{ctx}");
    assert!(v["error"].is_null(), "{ctx}");
    let elapsed = v["elapsed_ms"].as_f64().expect("elapsed_ms is a number");
    assert!(elapsed > 0.0 && elapsed < 10_000.0, "elapsed_ms {elapsed}");
    for s in v["steps"].as_array().expect("steps") {
        assert!(s["elapsed_ms"].is_number(), "{s}");
        assert!(s["detail"].is_string(), "{s}");
    }
}

/// The client's command lines without their tags.
fn commands(log: &ServerLog) -> Vec<String> {
    log.lines
        .iter()
        .map(|l| l.split_once(' ').map_or("", |(_, rest)| rest).to_string())
        .collect()
}

const KB_COMMANDS: [&str; 5] = [
    "LOGIN alice Zebra7-pw",
    "LIST \"\" \"*\"",
    "EXAMINE INBOX",
    KB_FETCH_NEWEST,
    "LOGOUT",
];

/// Every step of a TLS run ok, quota skipped (no QUOTA capability).
const TLS_ALL_OK: &str = "ok ok ok ok ok ok ok skipped ok ok";

#[test]
fn implicit_tls_localhost_full_check() {
    let c = Case::tls(kb_script()).json();
    let (v, log, ctx, port) = (&c.v, &c.log, &c.ctx, c.port);
    c.exit(0);
    c.steps(TLS_STEPS, TLS_ALL_OK);
    assert_kb_report(v, ctx);
    assert_eq!(v["host"], "localhost");
    assert_eq!(v["port"], port);
    assert_eq!(v["security"], "tls");
    assert_eq!(v["address"], format!("127.0.0.1:{port}"));
    let tls = &v["tls"];
    assert_eq!(tls["verified"], true, "{ctx}");
    assert_eq!(tls["subject"], "CN=localhost, O=imapcheck test", "{ctx}");
    assert_eq!(
        tls["issuer"], "CN=imapcheck test CA, O=imapcheck test",
        "{ctx}"
    );
    let days = tls["days_left"].as_i64().expect("days_left");
    assert!((364..=365).contains(&days), "days_left {days}\n{ctx}");
    let not_after = tls["not_after"].as_str().expect("not_after");
    assert!(
        not_after.len() == 20 && not_after.ends_with('Z') && &not_after[10..11] == "T",
        "{not_after}"
    );
    // The greeting carried capabilities: no CAPABILITY command.
    assert_eq!(commands(log), KB_COMMANDS, "{ctx}");
    assert_eq!(log.tls_handshakes, 1);
    // Tags: 4 upper-case letters and a counter, one prefix per run.
    let tags: Vec<&str> = log
        .lines
        .iter()
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    let prefix = &tags[0][..4];
    assert!(prefix.bytes().all(|b| b.is_ascii_uppercase()), "{tags:?}");
    for (i, t) in tags.iter().enumerate() {
        assert_eq!(*t, format!("{prefix}{}", i + 1), "{tags:?}");
    }
}

#[test]
fn implicit_tls_ip_address_and_ipv6_loopback() {
    // (host given, where the server listens, host reported, address)
    for (host, listen, reported, address) in [
        ("127.0.0.1", "127.0.0.1:0", "127.0.0.1", "127.0.0.1"),
        ("::1", "[::1]:0", "::1", "[::1]"),
        ("[::1]", "[::1]:0", "::1", "[::1]"),
    ] {
        let c = Case::tls(kb_script())
            .named(host)
            .listen(listen)
            .host(host)
            .json();
        let (v, ctx) = (&c.v, &c.ctx);
        c.exit(0);
        c.steps(TLS_STEPS, TLS_ALL_OK);
        assert_eq!(v["host"], reported, "{ctx}");
        assert_eq!(v["address"], format!("{address}:{}", c.port), "{ctx}");
        assert_eq!(v["tls"]["verified"], true, "{ctx}");
        if host == "127.0.0.1" {
            assert_kb_report(v, ctx);
        }
    }
}

#[test]
fn starttls_full_check() {
    let c = Case::starttls(starttls_kb(Identity::Good)).json();
    let (v, ctx) = (&c.v, &c.ctx);
    c.exit(0);
    c.steps(STARTTLS_STEPS, TLS_ALL_OK);
    assert_eq!(v["security"], "starttls");
    assert_eq!(v["greeting"], BARE_GREETING.trim_end());
    assert_eq!(v["tls"]["verified"], true, "{ctx}");
    assert_eq!(v["folders"], serde_json::json!(KB_MAILBOXES), "{ctx}");
    assert_eq!(v["message"]["subject"], KB_SUBJECT, "{ctx}");
    // CAPABILITY before STARTTLS (the greeting had none), again after TLS.
    let mut want = vec!["CAPABILITY", "STARTTLS", "CAPABILITY"];
    want.extend(KB_COMMANDS);
    assert_eq!(commands(&c.log), want, "{ctx}");
    assert_eq!(c.log.tls_handshakes, 1);
    c.detail_contains("starttls", "capabilities after TLS");
    // What the handshake negotiated, and the chain as sent (issue 22).
    let session = &v["tls"]["session"];
    // (The scripted server's native-tls acceptor speaks TLS 1.2.)
    assert_eq!(session["version"], "TLS 1.2", "{ctx}");
    assert_eq!(session["group"], "X25519", "{ctx}");
    assert_eq!(session["chain"].as_array().map(Vec::len), Some(1), "{ctx}");
    assert_eq!(session["chain_complete"], true, "{ctx}");
    c.detail_contains("starttls", "TLS 1.2, TLS_ECDHE_");
    c.detail_contains(
        "starttls",
        "chain as sent: 1 certificate, reaches a trusted root by itself",
    );
}

#[test]
fn starttls_with_capabilities_in_the_greeting() {
    let mut s = starttls_steps(Identity::Good).split_off(2);
    s.insert(0, Step::Send(GREETING_STARTTLS.into()));
    s.extend(kb_script_after_greeting());
    let c = Case::starttls(s).json();
    c.exit(0);
    c.steps(STARTTLS_STEPS, TLS_ALL_OK);
    // No CAPABILITY before STARTTLS, but one after the handshake.
    assert_eq!(
        commands(&c.log)[..3],
        ["STARTTLS", "CAPABILITY", KB_COMMANDS[0]]
    );
    // LOGINDISABLED from before TLS is forgotten after it.
    assert!(
        !c.v["capabilities"]
            .as_array()
            .expect("caps")
            .iter()
            .any(|c| c == "LOGINDISABLED" || c == "STARTTLS"),
        "{}",
        c.ctx
    );
}

#[test]
fn security_none_warns_about_cleartext_credentials() {
    let c = Case::cleartext(kb_script()).json();
    c.exit(1);
    c.steps(NONE_STEPS, "ok ok warning warning ok ok skipped ok ok");
    c.detail_contains("login", "cleartext");
    // The server takes credentials in cleartext: said at capability (issue 6).
    c.detail_starts_with(
        "capability",
        "the server accepts credentials in cleartext on this port",
    );
    assert!(c.v["tls"].is_null(), "{}", c.ctx);
    assert!(c.v["error"].is_null(), "{}", c.ctx);
    assert_kb_report(&c.v, &c.ctx);
}

#[test]
fn without_user_only_connects_and_logs_out() {
    let s = script(vec![vec![Step::Send(GREETING.into())], logout_steps()]);
    let c = Case::tls(s).anonymous().json();
    c.exit(0);
    c.steps(
        TLS_STEPS,
        "ok ok ok ok skipped skipped skipped skipped skipped ok",
    );
    assert_eq!(c.step("login")["detail"], "no --user given");
    assert!(
        c.v["mailbox"].is_null() && c.v["message"].is_null(),
        "{}",
        c.ctx
    );
    assert_eq!(commands(&c.log), ["LOGOUT"]);
}

#[test]
fn select_opens_read_write() {
    let select = kb_examine_reply()
        .replace("[READ-ONLY] Examine", "[READ-WRITE] Select")
        .replace("[PERMANENTFLAGS ()]", "[PERMANENTFLAGS (\\Seen \\*)]");
    let s = script(vec![
        logged_in(),
        listed(kb_list_reply()),
        opened("SELECT INBOX", select),
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ]);
    let c = Case::tls(s).args(&["--select"]).json();
    c.exit(0);
    c.steps(&TLS_STEPS.replace("examine", "select"), TLS_ALL_OK);
    assert_eq!(c.v["mailbox"]["read_only"], false, "{}", c.ctx);
    assert_eq!(
        c.v["mailbox"]["permanent_flags"],
        serde_json::json!(["\\Seen", "\\*"])
    );
    c.detail_ends_with("select", "read-write");
}

#[test]
fn the_fetch_is_skipped_without_a_message_to_fetch() {
    // (case, the EXAMINE answer, arguments, fetch's detail, exists)
    let empty = "* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 9] UIDs valid\r\n{tag} OK [READ-ONLY] done\r\n";
    for (name, examine, args, detail, exists) in [
        (
            "--no-fetch",
            kb_examine_reply(),
            &["--no-fetch"][..],
            "--no-fetch",
            KB_EXISTS,
        ),
        (
            "empty folder",
            empty.to_string(),
            &[],
            "the folder is empty",
            0,
        ),
    ] {
        // `FETCH *` went out before EXISTS was known; in an empty folder
        // this server answers it OK with no data.
        let fetch = if exists == 0 {
            vec![
                Step::ExpectQueued(KB_FETCH_NEWEST.into()),
                Step::Send("{tag} OK Fetch completed.\r\n".into()),
            ]
        } else {
            vec![]
        };
        let s = script(vec![kb_examined(examine), fetch, logout_steps()]);
        let c = Case::tls(s).named(name).args(args).json();
        c.exit(0);
        c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped skipped ok");
        assert_eq!(c.step("fetch")["detail"], detail, "{}", c.ctx);
        assert!(c.v["message"].is_null(), "{}", c.ctx);
        assert_eq!(c.v["mailbox"]["exists"], exists, "{}", c.ctx);
        if exists == 0 {
            let mailbox = &c.v["mailbox"];
            assert!(mailbox["unseen"].is_null() && mailbox["uidnext"].is_null());
        }
    }
}

#[test]
fn message_option_fetches_that_message() {
    let fetch = "* 2 FETCH (FLAGS (\\Seen) INTERNALDATE \"02-Jan-2024 09:00:00 +0000\" RFC822.SIZE 77 \
                 ENVELOPE (NIL NIL ((NIL NIL \"carol\" \"example.net\")) NIL NIL NIL NIL NIL NIL NIL))\r\n\
                 {tag} OK Fetch completed.\r\n";
    let s = script(vec![
        kb_examined(kb_examine_reply()),
        fetched_message(2, fetch.into()),
        logout_steps(),
    ]);
    let c = Case::tls(s).args(&["--message", "2"]).json();
    c.exit(0);
    // Message 2 rides in the batch by its number, not as `*`.
    assert_eq!(
        commands(&c.log)[1..],
        [
            "LIST \"\" \"*\"",
            "EXAMINE INBOX",
            "FETCH 2 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)",
            "LOGOUT"
        ],
        "{}",
        c.ctx
    );
    assert!(c.log.errors.is_empty(), "{}", c.ctx);
    assert_fields(
        &c.v["message"],
        serde_json::json!({
            "seq": 2, "size": 77, "flags": ["\\Seen"],
            "internal_date": "02-Jan-2024 09:00:00 +0000",
            "subject": null, "from": "carol@example.net", "body_bytes": null,
        }),
        &c.ctx,
    );
}

#[test]
fn message_beyond_the_folder_fails_fetch() {
    let s = script(vec![
        kb_examined(kb_examine_reply()),
        vec![
            Step::ExpectQueued("FETCH 9 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send("{tag} BAD Error in IMAP command FETCH: Invalid messageset\r\n".into()),
        ],
        logout_steps(),
    ]);
    let c = Case::tls(s).args(&["--message", "9"]).json();
    c.failed_at("fetch");
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped failed ok");
    assert!(c.error("message").contains("message 9 does not exist"));
}

/// KB script whose FETCH announces `size` and whose `BODY.PEEK[]` answer
/// carries a literal of `body_len` bytes of 'x'.
fn body_script(size: usize, body_len: usize) -> Vec<Step> {
    let fetch = kb_fetch_reply().replace(
        &format!("RFC822.SIZE {KB_SIZE} "),
        &format!("RFC822.SIZE {size} "),
    );
    assert!(fetch.contains(&format!("RFC822.SIZE {size} ")));
    script(vec![
        kb_examined(kb_examine_reply()),
        fetched(3, fetch),
        vec![
            Step::Expect("FETCH * BODY.PEEK[]".into()),
            Step::Send(format!("* 3 FETCH (BODY[] {{{body_len}}}\r\n")),
            Step::Flood(b'x', body_len),
            Step::Send(")\r\n{tag} OK Fetch completed.\r\n".into()),
        ],
        logout_steps(),
    ])
}

#[test]
fn body_whose_length_equals_the_size() {
    let c = Case::tls(body_script(512, 512)).args(&["--body"]).json();
    c.exit(0);
    c.steps(TLS_STEPS, TLS_ALL_OK);
    assert_eq!(c.v["message"]["size"], 512);
    assert_eq!(c.v["message"]["body_bytes"], 512, "{}", c.ctx);
}

#[test]
fn large_body_is_streamed_in_bounded_memory() {
    const SIZE: usize = 24 * 1024 * 1024;
    let (c, rss) = Case::tls(body_script(SIZE, SIZE))
        .args(&["--body"])
        .json_measured();
    c.exit(0);
    c.steps(TLS_STEPS, TLS_ALL_OK);
    assert_eq!(c.v["message"]["body_bytes"], SIZE, "{}", c.ctx);
    eprintln!(
        "max RSS, {} MiB body via --body over TLS: {rss} KiB",
        SIZE >> 20
    );
    assert!(
        rss < RSS_LIMIT_KIB,
        "max RSS {rss} KiB for a streamed {SIZE}-byte body\n{}",
        c.ctx
    );
}

#[test]
fn body_length_mismatch_fails_fetch() {
    let c = Case::tls(body_script(512, 500)).args(&["--body"]).json();
    c.failed_at("fetch");
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped failed ok");
    assert_eq!(
        c.error("message"),
        "message 3: the body has 500 bytes but RFC822.SIZE announced 512"
    );
    assert_eq!(c.v["message"]["body_bytes"], 500, "{}", c.ctx);
}

#[test]
fn base64_helper() {
    assert_eq!(base64(b"\0u\0p"), "AHUAcA==");
    assert_eq!(base64(b"abc"), "YWJj");
    assert_eq!(base64(b"ab"), "YWI=");
}

#[test]
fn auth_plain_with_and_without_sasl_ir() {
    let b64 = plain_b64();
    let with_ir = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("AUTHENTICATE PLAIN {b64}")),
    ];
    let without_ir = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n".into()),
        Step::Expect("AUTHENTICATE PLAIN".into()),
        Step::Send("+ \r\n".into()),
        // The client's base64 line: read raw so the tag stays.
        Step::ExpectBytes(b64.len()),
        Step::Expect(String::new()),
    ];
    for (name, start, literals) in [
        ("SASL-IR", with_ir, vec![]),
        ("no SASL-IR", without_ir, vec![b64.as_bytes().to_vec()]),
    ] {
        let s = script(vec![
            start,
            vec![Step::Send(kb_login_ok())],
            kb_after_login(),
        ]);
        let c = Case::tls(s).named(name).args(&["--auth", "plain"]).json();
        c.exit(0);
        c.steps(TLS_STEPS, TLS_ALL_OK);
        c.detail_contains("login", "AUTHENTICATE PLAIN");
        assert_eq!(c.log.literals, literals, "{}", c.ctx);
    }
}

#[test]
fn capability_is_asked_after_a_login_ok_without_capabilities() {
    // The greeting announced pre-login capabilities; the LOGIN OK carries
    // none, so the client must ask for the post-login ones.
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send("{tag} OK Logged in\r\n".into()),
            Step::Expect("CAPABILITY".into()),
            Step::Send(format!(
                "* CAPABILITY {POSTLOGIN_CAPS}\r\n{{tag}} OK Capability completed.\r\n"
            )),
        ],
        kb_after_login_with_quota(
            "{tag} BAD Error in IMAP command GETQUOTAROOT: Unknown command\r\n",
        ),
    ]);
    let c = Case::tls(s).json();
    c.exit(0);
    // Without QUOTA among the fresh capabilities, the BAD is no finding.
    c.detail_contains("quota", "does not announce QUOTA");
    let caps: Vec<&str> = POSTLOGIN_CAPS.split(' ').collect();
    assert_eq!(c.v["capabilities"], serde_json::json!(caps), "{}", c.ctx);
}

#[test]
fn no_capability_command_when_the_login_ok_carries_them() {
    let s = script(vec![
        vec![Step::Send(BARE_GREETING.into())],
        capability_steps(),
        login_steps(),
        kb_after_login(),
    ]);
    let c = Case::tls(s).json();
    c.exit(0);
    assert_eq!(commands(&c.log)[0], "CAPABILITY");
    assert_eq!(commands(&c.log)[1..], KB_COMMANDS, "{}", c.ctx);
    assert_eq!(c.detail("capability"), PRELOGIN_CAPS);
}

#[test]
fn auth_plain_not_offered_sends_no_password() {
    let s = script(vec![
        vec![Step::Send(
            "* OK [CAPABILITY IMAP4rev1 AUTH=GSSAPI] ready\r\n".into(),
        )],
        logout_steps(),
    ]);
    let c = Case::tls(s).args(&["--auth", "plain"]).json();
    c.failed_at("login");
    assert_eq!(c.error("got"), "AUTH=GSSAPI");
    assert_not_received(&c.log, &plain_b64(), &c.ctx);
}

#[test]
fn text_format_prints_a_line_per_step_and_a_summary() {
    let run = Case::tls(kb_script()).output();
    let (r, ctx, port) = (&run.r, &run.ctx, run.port);
    run.status(0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 12, "{ctx}");
    assert!(
        lines[0].starts_with(&format!(
            "imapcheck {}: localhost port {port} (implicit TLS)",
            env!("CARGO_PKG_VERSION")
        )),
        "{ctx}"
    );
    for (line, name) in lines[1..11].iter().zip(TLS_STEPS.split(' ')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if name == "quota" {
            // No QUOTA capability: skipped, with a dash for its time.
            assert_eq!(words[..3], [name, "skipped", "-"], "{line}");
            continue;
        }
        assert_eq!(words[..2], [name, "ok"], "{line}");
        assert_eq!(words[3], "ms", "{line}");
    }
    assert!(lines[3].ends_with(GREETING.trim_end()), "{}", lines[3]);
    assert!(lines[6].contains("4 folders: INBOX, Entwürfe, Sent, Deleted Items"));
    assert!(
        lines[7].contains("INBOX: 3 messages, 0 recent, first unseen #2, UIDVALIDITY 1700000001"),
        "{}",
        lines[7]
    );
    assert!(
        lines[8].contains("the server does not announce QUOTA"),
        "{}",
        lines[8]
    );
    assert!(lines[9].contains(KB_FROM) && lines[9].contains("512 bytes"));
    assert!(
        lines[11].starts_with(&format!(
            "IMAP OK - localhost:{port} connect/tls/greeting/capability/login/list/examine/fetch/logout in "
        )),
        "{}",
        lines[11]
    );
    assert!(lines[11].ends_with("INBOX has 3 messages"), "{}", lines[11]);
    assert_eq!(r.stderr, "", "nothing on stderr without -v");
}

#[test]
fn nagios_format_is_one_line_with_perfdata() {
    let run = Case::tls(kb_script())
        .args(&["--format", "nagios", "-w", "5", "-c", "9"])
        .output();
    let (r, ctx) = (&run.r, &run.ctx);
    run.status(0);
    assert_eq!(r.stdout.lines().count(), 1, "{ctx}");
    let line = r.stdout.trim_end();
    assert!(line.starts_with("IMAP OK - "), "{line}");
    let (text, perf) = line.split_once(" | ").expect("perfdata after ' | '");
    assert!(text.contains(&format!("localhost:{}", run.port)), "{text}");
    assert!(perf.starts_with("time="), "{perf}");
    let time = perf.split(' ').next().unwrap_or("");
    assert!(time.ends_with("s;5;9;0;10"), "{time}");
    // Skipped steps (quota: no QUOTA capability) have no perfdata.
    for name in TLS_STEPS.split(' ').filter(|n| *n != "quota") {
        assert!(perf.contains(&format!(" {name}=")), "{name} in {perf}");
    }
    assert!(!perf.contains(" quota="), "{perf}");
    assert!(perf.contains(" messages=3"), "{perf}");
    assert!(perf.contains(" cert_days="), "{perf}");
}

#[test]
fn time_thresholds_warn_and_crit() {
    for (flag, code, word) in [("-w", 1, "WARNING"), ("-c", 2, "CRITICAL")] {
        let run = Case::tls(kb_script())
            .named(flag)
            .args(&["--format", "nagios", flag, "0"])
            .output();
        run.status(code);
        let stdout = &run.r.stdout;
        assert!(
            stdout.starts_with(&format!("IMAP {word} - ")),
            "{}",
            run.ctx
        );
        assert!(stdout.contains("threshold is 0s"), "{}", run.ctx);
    }
}

#[test]
fn json_lists_every_step_even_when_skipped() {
    // A refused connection under each mode: every step of the mode appears.
    let port = closed_port();
    let modes = [
        ("tls", TLS_STEPS),
        ("starttls", STARTTLS_STEPS),
        ("none", NONE_STEPS),
    ];
    for (security, names) in modes {
        let (r, v) = against_closed_port(security, port);
        let ctx = format!("{security}: {r:?}");
        assert_eq!(v["security"], security);
        let mut statuses = vec!["failed"];
        statuses.resize(names.split(' ').count(), "skipped");
        assert_steps(&v, names, &statuses.join(" "), &ctx);
        for key in JSON_FIELDS {
            assert!(v.get(key).is_some(), "{key} missing\n{ctx}");
        }
        assert!(v["address"].is_null() && v["greeting"].is_null(), "{ctx}");
    }
}

#[test]
fn system_cas_are_found_in_a_hashed_directory_without_the_bundle() {
    // What an admin's host has: no SSL_CERT_FILE, CAs in a hashed directory
    // (here SSL_CERT_DIR with our test CA, rehashed). imapcheck then looks
    // CAs up on demand instead of parsing a bundle, and still verifies.
    let dir = std::env::temp_dir().join(format!("imapcheck-hashed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::copy(&certs().ca_pem, dir.join("test-ca.pem")).expect("copy CA");
    let rehash = std::process::Command::new("openssl")
        .arg("rehash")
        .arg(&dir)
        .status()
        .expect("openssl rehash");
    assert!(rehash.success(), "openssl rehash failed");
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
    let port = srv.port().to_string();
    let mut cmd = imapcheck();
    cmd.args([
        "localhost",
        "--security",
        "tls",
        "-p",
        &port,
        "-u",
        USER,
        "--format",
        "json",
    ])
    .env_remove("SSL_CERT_FILE")
    .env("SSL_CERT_DIR", &dir)
    .env("IMAPCHECK_PASSWORD", PASS);
    let r = run_command(cmd, None, RUN_TIMEOUT);
    let log = srv.finish();
    let _ = std::fs::remove_dir_all(&dir);
    let v = parse_json_stdout(&r);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_eq!(v["tls"]["verified"], true, "{ctx}");
}

/// check_imap's command line: `-H host -p port -S -D warn,crit`, with
/// perfdata in the guidelines' form; -V and -h; and the usage errors.
#[test]
fn monitoring_plugin_conventions() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
    let port = srv.port().to_string();
    let args = strings(&[
        "-H",
        "localhost",
        "-p",
        &port,
        "-S",
        "-D",
        "30,14",
        "--ca-file",
        &ca(),
        "-u",
        USER,
        "-w",
        "5",
        "-c",
        "9",
        "--format",
        "nagios",
    ]);
    let (r, log) = go(srv, &args, &PASS_ENV, None);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_eq!(r.status, 0, "{ctx}");
    let (_, perf) = r.stdout.split_once(" | ").expect("perfdata");
    let perf = perf.lines().next().unwrap_or_default();
    let labels: Vec<&str> = perf
        .split(' ')
        .map(|p| p.split('=').next().unwrap_or(""))
        .collect();
    assert_eq!(
        labels,
        [
            "time",
            "connect",
            "tls",
            "greeting",
            "capability",
            "login",
            "list",
            "examine",
            "fetch",
            "logout",
            "messages",
            "newest_age",
            "cert_days"
        ],
        "{ctx}"
    );
    assert!(perf.starts_with("time="), "{ctx}");
    assert!(perf.contains("s;5;9;0;10 connect="), "{ctx}");
    assert!(
        perf.contains(&format!(" messages={KB_EXISTS};;;0 ")),
        "{ctx}"
    );
    assert!(perf.ends_with(";30:;14:"), "{ctx}");
    for item in perf.split(' ') {
        let (_, value) = item.split_once('=').expect("label=value");
        let fields: Vec<&str> = value.split(';').collect();
        assert!(fields.len() <= 5, "{item}");
        let num = fields[0].trim_end_matches('s');
        assert!(num.parse::<f64>().is_ok(), "{item}");
    }

    let ver = run(&["-V"], &[], None);
    assert_eq!(ver.status, 0);
    assert!(ver.stdout.starts_with("imapcheck "), "{ver:?}");
    let help = run(&["-h"], &[], None);
    assert_eq!(help.status, 0);
    assert!(help.stdout.contains("--hostname"), "{help:?}");

    // Usage errors are UNKNOWN and connect nowhere.
    for bad in [
        &["a.example", "-H", "b.example"][..],
        &["-H", "h", "-S", "--security", "none"],
        &["-H", "h", "-D", "14,30"],
        &["-H", "h", "-D", "soon"],
        &["-H", "h", "-D", "30", "--cert-warn-days", "7"],
    ] {
        let r = run(bad, &[], None);
        assert_eq!(r.status, 3, "{bad:?}: {r:?}");
        assert!(r.stdout.is_empty(), "{bad:?}: {r:?}");
    }
}

/// Perfdata stay present for the steps that ran when a step fails.
#[test]
fn perfdata_on_a_failed_check() {
    let closed = closed_port().to_string();
    let r = run(
        &[
            "-H",
            "127.0.0.1",
            "-p",
            &closed,
            "--security",
            "none",
            "--format",
            "nagios",
        ],
        &[],
        None,
    );
    assert_eq!(r.status, 2, "{r:?}");
    assert!(r.stdout.starts_with("IMAP CRITICAL - "), "{r:?}");
    let (_, perf) = r.stdout.split_once(" | ").expect("perfdata");
    assert!(perf.starts_with("time="), "{r:?}");
    assert!(perf.contains(" connect="), "{r:?}");
    assert!(!perf.contains(" greeting="), "{r:?}");
}
