// What real servers do that the grammar does not foresee, and what a check
// must survive without a false alarm: lines that do not parse (Courier's
// QUOTA without resources, `[UNSEEN none]`), a login process that loses
// what was pipelined behind LOGIN, Nagle with delayed ACKs, a TLS helper
// that fails after STARTTLS's OK, a deliberately slow failed login,
// Cyrus's padded INTERNALDATE.

use super::*;

/// The KB path with `examine` as the EXAMINE answer and `quota` (lines
/// before the tagged OK) as the GETQUOTAROOT answer, Courier's capabilities.
fn courier_like(examine: String, quota: &str) -> Vec<Step> {
    let caps = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE QUOTA IDLE AUTH=PLAIN";
    script(vec![
        vec![
            Step::Send(format!("* OK [CAPABILITY {caps}] Courier-IMAP ready.\r\n")),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send("{tag} OK LOGIN Ok.\r\n".into()),
            Step::Expect("CAPABILITY".into()),
            Step::Send(format!(
                "* CAPABILITY {caps} ACL\r\n{{tag}} OK CAPABILITY completed\r\n"
            )),
        ],
        listed(kb_list_reply()),
        vec![
            Step::Expect("EXAMINE INBOX".into()),
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Send(examine.replace("{tag}", "{prevtag}")),
            Step::Send(format!("{quota}{{tag}} OK GETQUOTAROOT Ok.\r\n")),
        ],
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ])
}

#[test]
fn quota_without_resources_is_no_limits_not_a_failure() {
    let quota = "* QUOTAROOT \"INBOX\" \"ROOT\"\r\n* QUOTA \"ROOT\"\r\n";
    let c = Case::tls(courier_like(kb_examine_reply(), quota)).json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok");
    assert_eq!(c.step("quota")["detail"], "no limits reported for INBOX");
    assert_eq!(c.v["quota"], serde_json::json!([]), "{}", c.ctx);
    assert_eq!(c.v["quirks"], serde_json::json!([]), "{}", c.ctx);
}

#[test]
fn lines_that_do_not_parse_are_reported_and_ignored() {
    // Each quirk arrives in a different step; all are complete lines with
    // intact framing, so the check goes on and stays OK.
    let examine = kb_examine_reply().replace(
        "* OK [UNSEEN 2] First unseen.",
        "* OK [UNSEEN none] First unseen.",
    );
    let quota = "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE ten 100)\r\n";
    let c = Case::tls(courier_like(examine, quota)).args(&["-v"]).json();
    let (v, ctx) = (&c.v, &c.ctx);
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok");
    assert_eq!(
        v["quirks"],
        serde_json::json!([
            {
                "step": "examine",
                "response": "[UNSEEN none]",
                "reason": "response code not understood: expected a number (0 to 4294967295) at byte 13"
            },
            {
                // The quota step reads GETQUOTAROOT's answer.
                "step": "quota",
                "response": "* QUOTA \"\" (STORAGE ten 100)",
                "reason": "expected quota resource, usage and limit at byte 28"
            },
        ]),
        "{ctx}"
    );
    c.detail_ends_with("examine", "; ignored 1 response not understood: [UNSEEN none] (response code not understood: expected a number (0 to 4294967295) at byte 13)");
    // The unparsed code is not taken for a value.
    assert!(v["mailbox"]["unseen"].is_null(), "{ctx}");
    assert_eq!(
        c.step("quota")["detail"],
        "no limits reported for INBOX; ignored 1 response not understood: * QUOTA \"\" (STORAGE ten 100) (expected quota resource, usage and limit at byte 28)",
        "{ctx}"
    );
    for line in [
        "-- ignored: [UNSEEN] response code not understood",
        "-- ignored: QUOTA response not understood",
    ] {
        assert!(c.r.stderr.contains(line), "{line}\n{ctx}");
    }
}

#[test]
fn a_flood_of_unparsable_lines_is_counted_not_kept() {
    let junk = "* 1 FETCH (FLAGS (\\Seen)\r\n".repeat(500);
    let s = script(vec![
        logged_in(),
        listed(format!("{junk}{}", kb_list_reply())),
        kb_after_login().split_off(2),
    ]);
    let c = Case::tls(s).json();
    c.exit(0);
    assert_eq!(
        c.v["quirks"].as_array().map(Vec::len),
        Some(20),
        "{}",
        c.ctx
    );
    c.detail_contains("list", "; ignored 500 responses not understood: * 1 FETCH (FLAGS (\\Seen) (unterminated FETCH data");
}

#[test]
fn a_tagged_answer_that_does_not_parse_still_fails_the_step() {
    // The step cannot do without its completion: that is no quirk.
    let s = kb_listing(vec![
        Step::Send("{tag} MAYBE listed\r\n".into()),
        Step::Hold,
    ]);
    let c = Case::tls(s).json();
    c.failed_at("list");
    let tag = &c.log.lines[1][..c.log.lines[1].find(' ').unwrap_or(0)];
    assert_eq!(
        c.error("got"),
        "{tag} MAYBE listed".replace("{tag}", tag),
        "{}",
        c.ctx
    );
}

#[test]
fn a_quota_answer_that_breaks_the_connection_skips_the_rest() {
    // Perfdata and the report list only steps that ran: nothing is sent on
    // a dead connection, so fetch is skipped, not a 0 ms failure.
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 QUOTA AUTH=PLAIN] ready\r\n".into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("{tag} OK [CAPABILITY IMAP4rev1 QUOTA] Logged in\r\n".into()),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::Expect("EXAMINE INBOX".into()),
        Step::Expect("GETQUOTAROOT INBOX".into()),
        Step::Send(kb_examine_reply().replace("{tag}", "{prevtag}")),
        Step::Close,
    ];
    let run = Case::tls(s)
        .args(&["--format", "nagios"])
        .script_may_break()
        .output();
    let (stdout, ctx) = (&run.r.stdout, &run.ctx);
    run.status(2);
    let perf = stdout.split('|').nth(1).unwrap_or("");
    assert!(perf.contains(" examine="), "{ctx}");
    assert!(perf.contains(" quota="), "{ctx}");
    assert!(!perf.contains(" fetch="), "{ctx}");
    assert!(stdout.contains("quota failed"), "{ctx}");
}

#[test]
fn nothing_is_pipelined_behind_authenticate() {
    // ExpectAlone drops and flags whatever follows the AUTHENTICATE line.
    let caps = "IMAP4rev1 SASL-IR ID AUTH=PLAIN";
    let mut steps = vec![
        Step::Send(format!("* OK [CAPABILITY {caps}] ready\r\n")),
        Step::ExpectAlone("AUTHENTICATE PLAIN *".into()),
        Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
        Step::Expect("ID *".into()),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(format!(
            "* ID NIL\r\n{{prevtag}} OK ID done\r\n{}",
            kb_list_reply()
        )),
    ];
    steps.extend(kb_after_login().split_off(2));
    Case::tls(steps)
        .args(&["--auth", "plain", "-t", "5"])
        .json()
        .exit(0);
}

#[test]
fn nagle_on_the_server_does_not_stall_pipelined_pairs_or_the_greeting() {
    // The server writes every response on its own with Nagle on: each
    // second write waits for the client's ACK of the first. A client whose
    // kernel delays that ACK loses 40 ms at the greeting after TLS and at
    // each pair (EXAMINE + GETQUOTAROOT); no step here may take that long.
    let caps = "IMAP4rev1 QUOTA LITERAL+ AUTH=PLAIN";
    let mut steps = vec![
        Step::Nagle,
        Step::Send("* OK [CAPABILITY IMAP4rev1 QUOTA LITERAL+ AUTH=PLAIN] ready\r\n".into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
        Step::Expect("LIST \"\" \"*\"".into()),
    ];
    // LIST answered line by line, EXAMINE's answer line by line, then the
    // quota answer line by line: many small writes behind one another.
    for line in kb_list_reply().split_inclusive("\r\n") {
        steps.push(Step::Send(line.to_string()));
    }
    steps.push(Step::Expect("EXAMINE INBOX".into()));
    steps.push(Step::Expect("GETQUOTAROOT INBOX".into()));
    for line in kb_examine_reply().split_inclusive("\r\n") {
        steps.push(Step::Send(line.replace("{tag}", "{prevtag}")));
    }
    for line in [
        "* QUOTAROOT INBOX \"\"\r\n",
        "* QUOTA \"\" (STORAGE 1 100)\r\n",
        "{tag} OK done\r\n",
    ] {
        steps.push(Step::Send(line.into()));
    }
    steps.extend(fetched(3, kb_fetch_reply()));
    steps.extend(logout_steps());
    let c = Case::tls(steps).json();
    c.exit(0);
    // 40 ms is the shortest delayed ACK Linux has; loopback steps take well
    // under 1 ms. 30 ms leaves a loaded CI machine plenty of room.
    for name in ["greeting", "list", "examine"] {
        let ms = c.step(name)["elapsed_ms"].as_f64().unwrap_or(f64::MAX);
        assert!(
            ms < 30.0,
            "{name} took {ms} ms: a delayed-ACK stall\n{}",
            c.ctx
        );
    }
}

#[test]
fn starttls_ok_without_tls_shows_what_the_server_did() {
    // (case, what the server does after its OK, error.message, error.got,
    // in error.hint)
    let courier = "* NO STARTTLS failed: couriertls: /etc/courier/imapd.pem: Permission denied";
    let cases = [
        // Courier: "OK Begin SSL/TLS negotiation now.", then its TLS
        // helper fails and the server says so in cleartext.
        (
            "cleartext instead of TLS",
            vec![
                Step::Sleep(Duration::from_millis(50)),
                Step::Send(format!("{courier}\r\n")),
                Step::Hold,
            ],
            "the server said OK to STARTTLS, then sent cleartext instead of TLS: its own TLS setup failed",
            Some(courier),
            "certificate or key file",
        ),
        (
            "close",
            vec![Step::Close],
            "the server closed the connection right after its OK to STARTTLS, without starting TLS",
            None,
            "certificate and key",
        ),
    ];
    for (name, after_ok, message, got, hint) in cases {
        let s = script(vec![
            vec![
                Step::Send("* OK [CAPABILITY IMAP4rev1 STARTTLS] Courier-IMAP ready.\r\n".into()),
                Step::Expect("STARTTLS".into()),
                Step::Send("{tag} OK Begin SSL/TLS negotiation now.\r\n".into()),
            ],
            after_ok,
        ]);
        let c = Case::starttls(s).named(name).script_may_break().json();
        c.failed_at("starttls");
        assert_eq!(c.error("message"), message, "{}", c.ctx);
        if let Some(got) = got {
            assert_eq!(c.error("got"), got, "{}", c.ctx);
        }
        assert!(c.error("hint").contains(hint), "{}", c.ctx);
        assert_not_received(&c.log, PASS, &c.ctx);
    }
}

#[test]
fn a_slow_failed_login_hint_names_the_servers_delay() {
    // Courier waits 5 s before its NO to a wrong password.
    let s = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Sleep(Duration::from_secs(4)),
        Step::Hold,
    ];
    let c = Case::tls(s).args(&["-t", "1.5"]).script_may_break().json();
    c.failed_at("login");
    assert_eq!(
        c.error("message"),
        "no answer before the deadline during login",
        "{}",
        c.ctx
    );
    let hint = c.error("hint");
    assert!(hint.contains("wrong password on purpose"), "{hint}");
    assert!(hint.contains("-t"), "{hint}");
}

#[test]
fn padded_internal_date_and_one_message_read_naturally() {
    // Cyrus: INTERNALDATE as date-day-fixed (" 3-Jan-2024 ..."); a folder
    // with one message; a display name with a comma.
    let fetch = "* 1 FETCH (FLAGS (\\Seen) INTERNALDATE \" 3-Jan-2024 10:00:00 +0000\" RFC822.SIZE 512 ENVELOPE (\"Wed, 03 Jan 2024 12:00:00 +0000\" \"Report\" ((\"Smith, Carol\" NIL \"carol\" \"example.org\")) NIL NIL NIL NIL NIL NIL \"<m3@example.org>\"))\r\n{tag} OK Completed (0.000 sec)\r\n";
    let examine = "* 1 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-ONLY] Completed\r\n";
    let s = script(vec![
        kb_examined(examine.into()),
        fetched(1, fetch.into()),
        logout_steps(),
    ]);
    let c = Case::tls(s.clone()).json();
    c.exit(0);
    assert_eq!(
        c.v["message"]["internal_date"], "3-Jan-2024 10:00:00 +0000",
        "{}",
        c.ctx
    );
    assert_eq!(
        c.v["message"]["from"], "\"Smith, Carol\" <carol@example.org>",
        "{}",
        c.ctx
    );
    let run = Case::tls(s).script_may_break().output();
    run.status(0);
    assert!(
        run.r.stdout.contains("#1: 512 bytes, 3-Jan-2024 10:00:00 +0000, from \"Smith, Carol\" <carol@example.org>, \"Report\""),
        "{}",
        run.ctx
    );
    assert!(
        run.r.stdout.trim_end().ends_with("INBOX has 1 message"),
        "{}",
        run.ctx
    );
}
