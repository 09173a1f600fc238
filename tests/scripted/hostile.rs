// Hostile and broken servers (bounded time and memory) and command-line
// errors.

use super::*;

#[test]
fn never_greeting_server_finishes_by_the_deadline() {
    let c = Case::cleartext(vec![Step::Hold]).args(&["-t", "2"]).json();
    c.failed_at("greeting");
    assert!(
        c.r.elapsed >= Duration::from_millis(1900) && c.r.elapsed < Duration::from_secs(4),
        "{}",
        c.ctx
    );
    let elapsed_ms = c.v["elapsed_ms"].as_f64().expect("elapsed_ms");
    assert!((1900.0..2500.0).contains(&elapsed_ms), "{}", c.ctx);
}

#[test]
fn never_greeting_tls_server_finishes_by_the_deadline() {
    // Implicit TLS: the handshake itself never completes.
    let c = Case::tls(vec![Step::Hold])
        .server(Mode::Plain)
        .args(&["-t", "1.5"])
        .json();
    c.failed_at("tls");
    assert!(
        c.error("message")
            .contains("did not finish before the deadline"),
        "{}",
        c.ctx
    );
    assert!(c.r.elapsed < Duration::from_secs(4), "{}", c.ctx);
}

#[test]
fn dripping_greeting_hits_the_one_deadline() {
    // 60 bytes at one per 200 ms would take 12 s; every single read
    // succeeds well within any per-read timeout.
    let greeting = format!("* OK {}\r\n", "x".repeat(53));
    let drip = Step::Drip(greeting.into_bytes(), Duration::from_millis(200));
    let c = Case::cleartext(vec![drip]).args(&["-t", "2"]).json();
    c.failed_at("greeting");
    assert_eq!(c.error("message"), "no greeting before the deadline");
    assert!(c.r.elapsed < Duration::from_secs(4), "{}", c.ctx);
    assert!(
        c.log
            .notes
            .iter()
            .any(|n| n.starts_with("Drip: client went away")),
        "{}",
        c.ctx
    );
}

#[test]
fn dripping_list_hits_the_one_deadline() {
    let drip = Step::Drip(
        kb_list_reply().replace("{tag}", "x").into_bytes(),
        Duration::from_millis(100),
    );
    let c = Case::tls(kb_listing(vec![drip]))
        .args(&["-t", "2"])
        .script_may_break()
        .json();
    c.failed_at("list");
    assert!(c.error("message").contains("deadline"), "{}", c.ctx);
    // No time is left for LOGOUT.
    assert_eq!(c.step("logout")["status"], "skipped", "{}", c.ctx);
    assert!(c.r.elapsed < Duration::from_secs(4), "{}", c.ctx);
}

#[test]
fn endless_greeting_line_is_a_clean_error() {
    let (c, rss) = Case::cleartext(vec![Step::Flood(b'a', 10_000_000)]).json_measured();
    c.failed_at("greeting");
    let msg = c.error("message");
    assert!(
        msg.contains("a line longer than 65536 bytes without CRLF"),
        "{msg}"
    );
    assert!(c.r.elapsed < Duration::from_secs(3), "{}", c.ctx);
    eprintln!("max RSS, endless greeting line: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
}

#[test]
fn endless_line_after_login_is_a_clean_error() {
    let s = kb_listing(vec![
        Step::Send("* LIST () \"/\" ".into()),
        Step::Flood(b'a', 10_000_000),
    ]);
    let c = Case::tls(s).json();
    c.failed_at("list");
    assert!(
        c.error("message")
            .contains("a line longer than 65536 bytes"),
        "{}",
        c.ctx
    );
    assert!(c.r.elapsed < Duration::from_secs(3), "{}", c.ctx);
}

#[test]
fn huge_literal_is_refused_in_bounded_memory() {
    let s = kb_listing(vec![
        Step::Send("* LIST () \"/\" {2000000000}\r\n".into()),
        Step::Flood(b'x', 64 << 20),
    ]);
    let (c, rss) = Case::cleartext(s).json_measured();
    c.failed_at("list");
    assert_eq!(
        c.error("message"),
        "protocol error during list: a literal of 2000000000 bytes where at most 1048576 are expected"
    );
    assert!(c.r.elapsed < Duration::from_secs(5), "{}", c.ctx);
    eprintln!("max RSS, 2 GB literal announced: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
}

#[test]
fn many_literals_in_one_response_are_bounded() {
    // Each literal is under the 1 MiB limit; together they pass 4 MiB.
    let mut reply = vec![Step::Send("* 1 FETCH (X {1000000}\r\n".into())];
    for _ in 0..6 {
        reply.push(Step::Flood(b'y', 1_000_000));
        reply.push(Step::Send(" X {1000000}\r\n".into()));
    }
    reply.push(Step::Hold);
    let (c, rss) = Case::cleartext(kb_listing(reply))
        .script_may_break()
        .json_measured();
    c.failed_at("list");
    assert!(
        c.error("message")
            .contains("a response larger than 4194304 bytes"),
        "{}",
        c.ctx
    );
    eprintln!("max RSS, 6 x 1 MB literals in one response: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
}

#[test]
fn deep_parentheses_are_a_clean_error() {
    // In one line: 30,000 levels fit under the 64 KiB limit, so the client
    // reads the whole line (the server's write always completes) and the
    // nesting limit, not the line limit, must stop the parser.
    let in_one_line = format!(
        "* 3 FETCH (ENVELOPE {}{})\r\n{{tag}} OK done\r\n",
        "(".repeat(30_000),
        ")".repeat(30_000)
    );
    // Across literals: line segments under 64 KiB, joined by empty
    // literals, so the 100,000 levels of nesting reach the parser instead
    // of the line limit.
    let mut across_literals = String::from("* 3 FETCH (ENVELOPE ");
    for _ in 0..4 {
        across_literals.push_str(&"(".repeat(25_000));
        across_literals.push_str("{0}\r\n");
    }
    for _ in 0..4 {
        across_literals.push_str(&")".repeat(25_000));
        across_literals.push_str(" {0}\r\n");
    }
    across_literals.push_str(")\r\n{tag} OK done\r\n");
    for (name, deep) in [
        ("in one line", in_one_line),
        ("across literals", across_literals),
    ] {
        let s = kb_listing(vec![Step::Send(deep), Step::Hold]);
        let c = Case::tls(s).named(name).json();
        c.failed_at("list");
        assert!(
            c.error("message").contains("nested too deeply"),
            "{}",
            c.ctx
        );
    }
}

#[test]
fn body_literal_beyond_the_size_and_slack_is_refused() {
    let s = script(vec![
        kb_examined(kb_examine_reply()),
        fetched(3, kb_fetch_reply()),
        vec![
            Step::Expect("FETCH * BODY.PEEK[]".into()),
            Step::Send("* 3 FETCH (BODY[] {50000000}\r\n".into()),
            Step::Flood(b'x', 50_000_000),
        ],
    ]);
    let (c, rss) = Case::cleartext(s).args(&["--body"]).json_measured();
    c.failed_at("fetch");
    let msg = c.error("message");
    assert!(
        msg.starts_with("protocol error during fetch: a literal of 50000000 bytes"),
        "{msg}"
    );
    assert!(c.r.elapsed < Duration::from_secs(5), "{}", c.ctx);
    eprintln!("max RSS, 50 MB body literal for a 512-byte message: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
}

#[test]
fn full_check_peak_memory() {
    // Cleartext: the baseline the hostile-server limits compare against.
    let (c, rss) = Case::cleartext(kb_script()).json_measured();
    c.exit(1);
    eprintln!("max RSS, full KB check in cleartext: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
    // Implicit TLS: OpenSSL loads the system CA store as well.
    let (c, rss) = Case::tls(kb_script()).json_measured();
    c.exit(0);
    eprintln!("max RSS, full KB check over TLS: {rss} KiB");
    assert!(rss < 4 * RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
}

#[test]
fn garbage_instead_of_a_greeting() {
    for (bytes, hint) in [
        (&b"SSH-2.0-OpenSSH_9.6\r\n"[..], "SSH"),
        (b"220 mail.example.org ESMTP\r\n", "SMTP"),
        (b"HTTP/1.1 400 Bad Request\r\n", "HTTP"),
        (b"\x16\x03\x01\x00\x05hello\r\n", "--security tls"),
    ] {
        let c = Case::cleartext(vec![Step::SendBytes(bytes.to_vec()), Step::Hold])
            .named(hint)
            .script_may_break()
            .json();
        c.failed_at("greeting");
        assert!(c.error("hint").contains(hint), "{hint}\n{}", c.ctx);
        assert!(c.log.received.is_empty(), "{}", c.ctx);
    }
}

#[test]
fn invalid_utf8_stays_valid_json() {
    let bye = Step::SendBytes(b"* BYE caf\xe9 \x1b[31m \"closed\"\r\n".to_vec());
    let c = Case::cleartext(vec![bye, Step::ExpectEof])
        .script_may_break()
        .json();
    c.failed_at("greeting");
    assert_eq!(
        c.error("got"),
        "* BYE caf\\xe9 \\x1b[31m \"closed\"",
        "{}",
        c.ctx
    );
}

// ---------- the command line ----------

#[test]
fn bad_flags_are_unknown() {
    for args in [
        &["127.0.0.1", "--bogus"][..],
        &["127.0.0.1", "--security", "ssl"],
        &["127.0.0.1", "-p", "0"],
        &["127.0.0.1", "-p", "70000"],
        &["127.0.0.1", "-t", "0"],
        &["127.0.0.1", "--format", "xml"],
        &["127.0.0.1", "--auth", "cram-md5"],
        &["127.0.0.1", "--password", "x"],
        &["127.0.0.1", "-4", "-6"],
        &["127.0.0.1", "--no-fetch", "--body"],
        &[],
    ] {
        let mut args = args.to_vec();
        args.extend(["--format", "json"]);
        let r = run(&args, &[], None);
        assert_eq!(r.status, 3, "{args:?}\n{r:?}");
        assert!(!r.stderr.is_empty(), "{args:?}: no message\n{r:?}");
        assert!(!r.stdout.contains("\"status\":\"ok\""), "{args:?}\n{r:?}");
    }
}

#[test]
fn help_and_version() {
    let r = run(&["--help"], &[], None);
    assert_eq!(r.status, 0, "{r:?}");
    assert!(r.stdout.starts_with("Usage: imapcheck"), "{r:?}");
    for flag in [
        "--security",
        "--ca-file",
        "--insecure",
        "--password-file",
        "--format",
    ] {
        assert!(r.stdout.contains(flag), "{flag}\n{r:?}");
    }
    let r = run(&["--version"], &[], None);
    assert_eq!(r.status, 0, "{r:?}");
    assert!(
        r.stdout
            .starts_with(&format!("imapcheck {}\n", env!("CARGO_PKG_VERSION"))),
        "{r:?}"
    );
    assert!(r.stdout.contains("TLS: OpenSSL"), "{r:?}");
}

#[test]
fn a_closed_stdout_does_not_stop_the_check_or_panic() {
    // `imapcheck ... | head -1`: the reader goes away after one line; the
    // check must still log out, and exit with its verdict, not a panic.
    let case = Case::tls(kb_script());
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
    let args = case.command_line(srv.port(), false);
    let mut child = imapcheck()
        .args(&args)
        .env("IMAPCHECK_PASSWORD", PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn imapcheck");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 16];
    let _ = stdout.read(&mut first);
    drop(stdout);
    let status = child.wait().expect("wait");
    let log = srv.finish();
    log.assert_ok();
    assert_eq!(
        status.code(),
        Some(0),
        "no panic (101), no signal: {status:?}"
    );
}

#[test]
fn huge_folder_names_are_counted_but_not_all_kept() {
    // 64 folder names of 1 MiB each (legal literals): all are counted,
    // only 4 MiB of names are kept, so memory stays bounded.
    let name = "x".repeat(1024 * 1024);
    let mut list = String::new();
    for _ in 0..64 {
        list.push_str(&format!("* LIST () \".\" {}\r\n", literal(&name)));
    }
    list.push_str("{tag} OK List completed.\r\n");
    let s = script(vec![
        logged_in(),
        listed(list),
        opened("EXAMINE INBOX", "{tag} NO no such folder\r\n".into()),
        batch_refused(&[KB_FETCH_NEWEST]),
    ]);
    let (c, rss) = Case::cleartext(s).json_measured();
    let ctx = format!("rss {rss} KiB\n{}", c.ctx);
    assert_eq!(c.v["folder_count"], 64, "{ctx}");
    assert_eq!(c.v["folders"].as_array().map(Vec::len), Some(4), "{ctx}");
    c.detail_ends_with("list", "(names beyond 4 not kept)");
    eprintln!("max RSS, 64 folder names of 1 MiB: {rss} KiB");
    // 4 MiB of names, their copies in the JSON tree and text (~4x), the
    // read buffer and the process itself: about 35 MiB. Keeping all 64 MiB
    // of names would need over 200 MiB.
    assert!(rss < 48 * 1024, "max RSS {rss} KiB\n{ctx}");
}

#[test]
fn a_long_line_is_refused_at_the_limit_however_it_is_split() {
    // 70,000 bytes without LF in two writes: the client must refuse the
    // line as soon as it passes 64 KiB, not wait for more bytes (or the
    // deadline) because too few arrived since it last framed.
    let s = vec![
        Step::Send(format!("* OK {}", "a".repeat(20_000))),
        // Let the client read and frame these first...
        Step::Sleep(Duration::from_millis(300)),
        // ...so that what follows is under 64 KiB of new bytes but makes
        // the unfinished line longer than 64 KiB.
        Step::Send("a".repeat(50_000)),
        Step::Hold,
    ];
    let c = Case::cleartext(s)
        .anonymous()
        .args(&["-t", "8"])
        .script_may_break()
        .json();
    c.failed_at("greeting");
    let msg = c.error("message");
    assert!(
        msg.contains("a line longer than 65536 bytes without CRLF"),
        "{msg}"
    );
    assert!(
        c.r.elapsed < Duration::from_secs(4),
        "refused at once, not at the deadline\n{}",
        c.ctx
    );
}

#[test]
fn a_quota_answer_with_thousands_of_resources_is_cut_to_a_few() {
    // One QUOTA line of about 50 KiB: 5,000 resources. A real server
    // names one to four (RFC 9208); kept whole, each would become a JSON
    // row, a part of the detail and a metric per format.
    let resources: Vec<String> = (0..5_000).map(|i| format!("R{i} 1 100")).collect();
    let quota = format!("STORAGE 1 100 {}", resources.join(" "));
    for format in ["json", "openmetrics"] {
        let case = Case::tls(super::modern::quota_script(&quota)).named(format);
        if format == "json" {
            let c = case.json();
            c.exit(0);
            let rows = c.v["quota"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(rows, 16, "{}", c.ctx);
            assert_eq!(c.v["quota"][0]["resource"], "STORAGE");
            assert!(c.detail("quota").len() < 2_000, "{}", c.ctx);
            c.detail_contains("quota", "5001 resources, the first 16 shown");
        } else {
            let (ran, m) = case.openmetrics();
            ran.status(0);
            assert_eq!(m.all("imapcheck_quota_used", &[]).len(), 15, "{}", m.text);
        }
    }
}
