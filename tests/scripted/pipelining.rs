// Issue 20: the commands after login in one write, each step reading its
// own answer; what a server that cannot take that gets (--no-pipelining,
// a diagnosis instead of a bare timeout); up-imapproxy's LOGOUT; and the
// small untruths the proxies showed (ID without data, a proxy's last
// words, LOGOUT's wording, --message N's age, a BAD to a quoted password,
// --max-age's limit).

use super::*;

/// A server with ID and QUOTA: the fullest batch after login.
const FULL_CAPS: &str = "IMAP4rev1 SASL-IR ID QUOTA LITERAL+ AUTH=PLAIN";

/// After LOGIN (answered with FULL_CAPS), the whole batch: ID, LIST,
/// EXAMINE, GETQUOTAROOT and FETCH *, each answered in turn, every line
/// after the first in the same write; then LOGOUT, sent once LIST's
/// answer was complete (see `logout_waits_for_lists_answer`).
fn full_batch() -> Vec<Step> {
    vec![
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {FULL_CAPS}] Logged in\r\n")),
        Step::Expect("ID (\"name\" \"imapcheck\" *)".into()),
        Step::Send("* ID (\"name\" \"Dovecot\")\r\n{tag} OK ID completed.\r\n".into()),
        Step::ExpectQueued("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::Send(kb_examine_reply()),
        Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
        Step::Send(
            "* QUOTAROOT INBOX \"User quota\"\r\n* QUOTA \"User quota\" (STORAGE 10 1000)\r\n{tag} OK Getquotaroot completed.\r\n"
                .into(),
        ),
        Step::ExpectQueued(KB_FETCH_NEWEST.into()),
        Step::Send(kb_fetch_reply()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ]
}

/// LOGOUT is not in the batch: Dovecot runs a LOGOUT beside a LIST still
/// writing a large answer and closes with the folders half sent (seen
/// with 10,000 folders). The batch ends at FETCH, nothing behind it while
/// LIST's answer is unfinished; LOGOUT follows LIST's tagged answer.
#[test]
fn logout_waits_for_lists_answer() {
    let greeting = format!("* OK [CAPABILITY {FULL_CAPS}] ready\r\n");
    let folders: String = (0..200)
        .map(|i| format!("* LIST () \".\" Folder{i:03}\r\n"))
        .collect();
    let s = vec![
        Step::Send(greeting),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {FULL_CAPS}] Logged in\r\n")),
        Step::Expect("ID (\"name\" \"imapcheck\" *)".into()),
        Step::ExpectQueued("LIST \"\" \"*\"".into()),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
        // Nothing behind the FETCH: LOGOUT did not ride in the batch.
        Step::ExpectAlone(KB_FETCH_NEWEST.into()),
        Step::Send("* ID (\"name\" \"Dovecot\")\r\n{prevtag4} OK ID completed.\r\n".into()),
        // LIST's answer, half of it, then a pause: still no LOGOUT.
        Step::Send(folders),
        Step::Sleep(Duration::from_millis(200)),
        Step::Send("* LIST () \".\" INBOX\r\n{prevtag3} OK List completed.\r\n".into()),
        Step::Send(kb_examine_reply().replace("{tag}", "{prevtag2}")),
        Step::Send(
            "* QUOTAROOT INBOX \"User quota\"\r\n{prevtag} OK Getquotaroot completed.\r\n".into(),
        ),
        Step::Send(kb_fetch_reply()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ];
    let c = Case::tls(s).json();
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok");
    assert_eq!(c.v["folder_count"], 201, "{}", c.ctx);
}

/// The client's command lines without their tags.
fn commands(log: &ServerLog) -> Vec<String> {
    log.lines
        .iter()
        .map(|l| l.split_once(' ').map_or("", |(_, rest)| rest).to_string())
        .collect()
}

#[test]
fn the_batch_after_login_goes_in_one_write_in_every_mode() {
    let greeting = format!("* OK [CAPABILITY {FULL_CAPS}] ready\r\n");
    let tls = script(vec![vec![Step::Send(greeting.clone())], full_batch()]);
    let none = tls.clone();
    let starttls = script(vec![
        vec![Step::Send(BARE_GREETING.into())],
        starttls_steps(Identity::Good),
        full_batch(),
    ]);
    for (name, case, names) in [
        ("tls", Case::tls(tls), TLS_STEPS),
        ("starttls", Case::starttls(starttls), STARTTLS_STEPS),
        ("none", Case::cleartext(none), NONE_STEPS),
    ] {
        let c = case.named(name).json();
        // ExpectAlone proved nothing rode behind LOGIN, ExpectQueued that
        // the rest came in one write, before any of it was answered.
        let statuses = match name {
            // Cleartext: the capability and login steps warn about it.
            "none" => "ok ok warning warning ok ok ok ok ok",
            _ => "ok ok ok ok ok ok ok ok ok ok",
        };
        c.steps(names, statuses);
        let after_login: Vec<String> = commands(&c.log)
            .into_iter()
            .skip_while(|l| !l.starts_with("LOGIN"))
            .skip(1)
            .collect();
        assert_eq!(
            after_login,
            [
                "ID (\"name\" \"imapcheck\" \"version\" \"0.1.0\")",
                "LIST \"\" \"*\"",
                "EXAMINE INBOX",
                "GETQUOTAROOT INBOX",
                KB_FETCH_NEWEST,
                "LOGOUT"
            ]
            .map(|s| s.replace("0.1.0", env!("CARGO_PKG_VERSION"))),
            "{}",
            c.ctx
        );
        c.detail_ends_with("list", "; server ID: Dovecot");
        c.detail_contains("quota", "STORAGE 10 of 1000 KiB (1.0%)");
        assert_eq!(c.v["message"]["seq"], 3, "{}", c.ctx);
        assert_eq!(c.step("logout")["detail"], "* BYE Logging out", "{}", c.ctx);
    }
}

#[test]
fn completions_out_of_order_go_to_their_own_steps() {
    // A server may complete commands it ran at once in any order: LIST's
    // OK before ID's, the FETCH's before GETQUOTAROOT's.
    let mut s = vec![Step::Send(format!(
        "* OK [CAPABILITY {FULL_CAPS}] ready\r\n"
    ))];
    s.extend([
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!("{{tag}} OK [CAPABILITY {FULL_CAPS}] Logged in\r\n")),
        Step::Expect("ID (\"name\" \"imapcheck\" *)".into()),
        Step::ExpectQueued("LIST \"\" \"*\"".into()),
        Step::Send(format!(
            "* ID (\"name\" \"Dovecot\")\r\n{}{{prevtag}} OK ID completed.\r\n",
            kb_list_reply()
        )),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::Send(kb_examine_reply()),
        Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
        Step::ExpectQueued(KB_FETCH_NEWEST.into()),
        Step::Send(format!(
            "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 10 1000)\r\n{}{{prevtag}} OK Getquotaroot completed.\r\n",
            kb_fetch_reply()
        )),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ]);
    let c = Case::tls(s).json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok ok ok ok");
    c.detail_ends_with("list", "; server ID: Dovecot");
    c.detail_contains("quota", "STORAGE 10 of 1000 KiB (1.0%)");
    assert_eq!(c.v["message"]["subject"], KB_SUBJECT, "{}", c.ctx);
}

#[test]
fn id_data_that_comes_with_capability_s_answer_is_kept() {
    // A bare login OK: CAPABILITY leads the batch, then ID; the server
    // sends ID's data before CAPABILITY's completion.
    let s = vec![
        Step::Send(format!("* OK [CAPABILITY {FULL_CAPS}] ready\r\n")),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("{tag} OK Logged in\r\n".into()),
        Step::Expect("CAPABILITY".into()),
        Step::ExpectQueued("ID (\"name\" \"imapcheck\" *)".into()),
        Step::Send(format!(
            "* CAPABILITY {FULL_CAPS}\r\n* ID (\"name\" \"Dovecot\")\r\n{{prevtag}} OK Capability completed.\r\n{{tag}} OK ID completed.\r\n"
        )),
        Step::ExpectQueued("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::Send(kb_examine_reply()),
        Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
        Step::Send("{tag} OK Getquotaroot completed.\r\n".into()),
        Step::ExpectQueued(KB_FETCH_NEWEST.into()),
        Step::Send(kb_fetch_reply()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ];
    let c = Case::tls(s).json();
    c.exit(0);
    c.detail_ends_with("list", "; server ID: Dovecot");
    assert_eq!(c.v["server_id"]["name"], "Dovecot", "{}", c.ctx);
}

#[test]
fn no_pipelining_sends_one_command_at_a_time() {
    // Each command alone: a command sent before the last one's answer
    // would be dropped (ExpectAlone), and FETCH names message 3.
    let s = script(vec![
        vec![Step::Send(GREETING.into())],
        kb_script_one_at_a_time(),
    ]);
    let c = Case::tls(s).args(&["--no-pipelining"]).json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped ok ok");
    assert_eq!(c.v["message"]["seq"], 3, "{}", c.ctx);
}

#[test]
fn fetch_of_the_newest_in_an_empty_folder_answered_no_or_bad_is_no_message() {
    let empty = "* 0 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 9] UIDs valid\r\n{tag} OK [READ-ONLY] done\r\n";
    for answer in [
        "{tag} NO No messages.\r\n",
        "{tag} BAD Error in IMAP command FETCH: Invalid messageset\r\n",
    ] {
        for (args, exit, fetch) in [
            (&[][..], 0, "skipped"),
            (&["--max-age", "1d"][..], 2, "failed"),
        ] {
            let s = script(vec![
                kb_examined(empty.into()),
                vec![
                    Step::ExpectQueued(KB_FETCH_NEWEST.into()),
                    Step::Send(answer.into()),
                ],
                logout_steps(),
            ]);
            let c = Case::tls(s)
                .named(format!("{answer} {args:?}"))
                .args(args)
                .json();
            c.exit(exit);
            c.steps(
                TLS_STEPS,
                &format!("ok ok ok ok ok ok ok skipped {fetch} ok"),
            );
            if exit == 0 {
                assert_eq!(c.detail("fetch"), "the folder is empty", "{}", c.ctx);
            } else {
                // Under --max-age an empty folder is the finding, not the
                // server's NO or BAD.
                assert_eq!(
                    c.error("message"),
                    "INBOX is empty: nothing has arrived (--max-age)",
                    "{}",
                    c.ctx
                );
            }
        }
    }
}

#[test]
fn a_failed_examine_skips_the_rest_whose_refusals_are_expected() {
    let s = script(vec![
        vec![Step::Send(format!(
            "* OK [CAPABILITY {FULL_CAPS}] ready\r\n"
        ))],
        full_batch()[..6].to_vec(),
        vec![
            Step::ExpectQueued("EXAMINE INBOX".into()),
            Step::Send("{tag} NO [NONEXISTENT] Mailbox doesn't exist: INBOX\r\n".into()),
            Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
            Step::Send("{tag} NO Mailbox doesn't exist: INBOX\r\n".into()),
        ],
        batch_refused(&[KB_FETCH_NEWEST]),
    ]);
    let c = Case::tls(s).json();
    c.failed_at("examine");
    c.steps(TLS_STEPS, "ok ok ok ok ok ok failed skipped skipped ok");
    assert_eq!(c.detail("quota"), "examine failed", "{}", c.ctx);
    assert_eq!(c.detail("fetch"), "examine failed", "{}", c.ctx);
    assert_eq!(c.step("logout")["detail"], "* BYE Logging out", "{}", c.ctx);
}

#[test]
fn a_server_that_drops_the_rest_of_a_batch_is_named_not_a_bare_timeout() {
    // It answers LIST, the first of the batch, and then nothing: the
    // commands behind it were dropped.
    let s = script(vec![logged_in(), listed(kb_list_reply()), vec![Step::Hold]]);
    let c = Case::tls(s).args(&["-t", "2"]).script_may_break().json();
    c.failed_at("examine");
    c.steps(
        TLS_STEPS,
        "ok ok ok ok ok ok failed skipped skipped skipped",
    );
    let message = c.error("message");
    assert!(
        message.starts_with("no answer to EXAMINE, FETCH, LOGOUT before the deadline")
            && message.contains("the server does not handle pipelined commands"),
        "{message}\n{}",
        c.ctx
    );
    assert_eq!(
        c.error("hint"),
        "run with --no-pipelining, which sends one command at a time",
        "{}",
        c.ctx
    );
    assert!(c.r.elapsed < Duration::from_millis(3500), "{}", c.ctx);
}

#[test]
fn the_body_rides_in_the_batch() {
    let body = "Subject: hi\r\n\r\nhello\r\n";
    let fetch = kb_fetch_reply().replace(
        &format!("RFC822.SIZE {KB_SIZE} "),
        &format!("RFC822.SIZE {} ", body.len()),
    );
    let (envelope, fetch_ok) = fetch
        .split_once("{tag}")
        .map(|(data, ok)| (data.to_string(), format!("{{prevtag2}}{ok}")))
        .expect("a tagged line");
    let body_data = format!("* 3 FETCH (BODY[] {})\r\n", literal(body));
    let body_ok = "{prevtag} OK Fetch completed.\r\n";
    // In turn; and as Dovecot does, running both FETCHes at once: the
    // body's data before the first FETCH's tagged OK.
    for (name, answers) in [
        (
            "in turn",
            format!("{envelope}{fetch_ok}{body_data}{body_ok}"),
        ),
        (
            "at once",
            format!("{envelope}{body_data}{fetch_ok}{body_ok}"),
        ),
    ] {
        let s = script(vec![
            kb_examined(kb_examine_reply()),
            vec![
                Step::ExpectQueued(KB_FETCH_NEWEST.into()),
                Step::ExpectQueued("FETCH * BODY.PEEK[]".into()),
                Step::Expect("LOGOUT".into()),
                Step::Send(answers),
                Step::Send(KB_LOGOUT_REPLY.into()),
                Step::ExpectEof,
            ],
        ]);
        let c = Case::tls(s).named(name).args(&["--body"]).json();
        c.exit(0);
        assert_eq!(c.v["message"]["body_bytes"], body.len(), "{}", c.ctx);
    }
}

#[test]
fn after_ximapproxy_logout_goes_alone_after_the_answers() {
    // up-imapproxy closes on a batch that holds LOGOUT, answering none.
    let caps = "IMAP4rev1 LOGIN-REFERRALS ID ENABLE LITERAL+ AUTH=LOGIN XIMAPPROXY";
    let s = vec![
        Step::Send(format!(
            "* OK [CAPABILITY {caps}] Dovecot (Debian) ready.\r\n"
        )),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!(
            "{{tag}} OK [CAPABILITY {POSTLOGIN_CAPS} ID] User logged in\r\n"
        )),
        Step::Expect("ID (*)".into()),
        // imapproxy answers ID itself, with no data.
        Step::Send("{tag} OK Completed\r\n".into()),
        Step::ExpectQueued("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::Send(kb_examine_reply()),
        // Nothing behind the FETCH: LOGOUT waits for the answers.
        Step::ExpectAlone(KB_FETCH_NEWEST.into()),
        Step::Send(kb_fetch_reply()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE LOGOUT received\r\n{tag} OK Completed\r\n".into()),
        Step::ExpectEof,
    ];
    let c = Case::cleartext(s).json();
    c.exit(1);
    c.steps(NONE_STEPS, "ok ok warning warning ok ok skipped ok ok");
    // Fix 2: an ID answered OK with no data is said so.
    c.detail_ends_with(
        "list",
        "; server ID: none (the server answered ID with no data)",
    );
}

#[test]
fn after_ximapproxy_and_a_failed_examine_the_unread_answers_come_before_logout() {
    // The fetch step is skipped, yet its FETCH went out: its answer is
    // read before LOGOUT goes, alone.
    let caps = "IMAP4rev1 LITERAL+ AUTH=LOGIN XIMAPPROXY";
    let s = vec![
        Step::Send(format!("* OK [CAPABILITY {caps}] ready.\r\n")),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!(
            "{{tag}} OK [CAPABILITY {POSTLOGIN_CAPS}] User logged in\r\n"
        )),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::Send("{tag} NO Mailbox doesn't exist: INBOX\r\n".into()),
        Step::ExpectAlone(KB_FETCH_NEWEST.into()),
        Step::Send("{tag} BAD No mailbox selected\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE LOGOUT received\r\n{tag} OK Completed\r\n".into()),
        Step::ExpectEof,
    ];
    let c = Case::cleartext(s).json();
    c.failed_at("examine");
    c.steps(
        NONE_STEPS,
        "ok ok warning warning ok failed skipped skipped ok",
    );
    assert_eq!(c.detail("logout"), "* BYE LOGOUT received", "{}", c.ctx);
}

// ---------- the small untruths ----------

#[test]
fn a_proxy_s_last_words_before_closing_are_kept() {
    // nginx with its backend down.
    let s = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("* BAD internal server error\r\n".into()),
        Step::Close,
    ];
    let c = Case::tls(s.clone()).json();
    c.failed_at("login");
    assert_eq!(c.error("got"), "* BAD internal server error", "{}", c.ctx);
    // The close came before LOGOUT could be sent, and the order shows it.
    assert_eq!(
        c.detail("logout"),
        "the server closed the connection before LOGOUT was sent",
        "{}",
        c.ctx
    );
    assert!(c.error("hint").contains("its backend is down"), "{}", c.ctx);
    let text = Case::tls(s).output();
    assert!(
        text.r
            .stdout
            .lines()
            .any(|l| l.trim_start().starts_with("got:")
                && l.ends_with(" * BAD internal server error")),
        "{}",
        text.ctx
    );
}

#[test]
fn logout_after_a_refused_login_and_a_close_says_what_the_order_cannot_show() {
    // nginx closes at once after refusing a login; LOGOUT meets the close.
    let s = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("{tag} NO Invalid login or password\r\n".into()),
        Step::Close,
    ];
    let c = Case::tls(s).script_may_break().json();
    c.failed_at("login");
    let logout = c.detail("logout");
    assert!(
        logout == "the server closed the connection before LOGOUT was sent"
            || logout.starts_with("the server closed the connection without answering LOGOUT: after a refused login some proxies (nginx) close at once"),
        "{logout}\n{}",
        c.ctx
    );
    assert!(!logout.contains("in answer to LOGOUT"), "{}", c.ctx);
}

#[test]
fn max_age_with_message_n_names_message_n() {
    let fetch = "* 2 FETCH (FLAGS (\\Seen) INTERNALDATE \"02-Jan-2024 09:00:00 +0000\" RFC822.SIZE 77 \
                 ENVELOPE (NIL NIL ((NIL NIL \"carol\" \"example.net\")) NIL NIL NIL NIL NIL NIL NIL))\r\n\
                 {tag} OK Fetch completed.\r\n";
    for (limits, exit) in [("1d", 1), ("1h,1d", 2)] {
        let s = script(vec![
            kb_examined(kb_examine_reply()),
            fetched_message(2, fetch.into()),
            logout_steps(),
        ]);
        let c = Case::tls(s)
            .named(limits)
            .args(&["--message", "2", "--max-age", limits])
            .json();
        c.exit(exit);
        let said = if exit == 1 {
            c.detail("fetch").to_string()
        } else {
            c.error("message")
        };
        assert!(said.starts_with("message 2 is "), "{said}\n{}", c.ctx);
        assert!(!said.contains("newest"), "{said}\n{}", c.ctx);
    }
}

#[test]
fn a_bad_to_login_with_a_quoted_password_hints_auth_plain() {
    let pass = "pa\"ss\\word";
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Twisted ready\r\n".into()),
        Step::ExpectAlone(format!("LOGIN {USER} \"pa\\\"ss\\\\word\"")),
        Step::Send("{tag} BAD Illegal syntax\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ];
    let c = Case::tls(s).env(&[("IMAPCHECK_PASSWORD", pass)]).json();
    c.failed_at("login");
    let hint = c.error("hint");
    assert!(
        hint.contains("cannot parse a quoted password") && hint.contains("--auth plain"),
        "{hint}\n{}",
        c.ctx
    );
    // A password LOGIN sends without escapes keeps the usual hint.
    let s = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n".into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("{tag} BAD Illegal syntax\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ];
    let c = Case::tls(s).json();
    assert!(!c.error("hint").contains("--auth plain"), "{}", c.ctx);
}

#[test]
fn max_age_takes_long_durations_and_says_its_limit_in_the_unit_given() {
    // Ten years and more is a duration like any other: no UNKNOWN.
    let c = Case::tls(kb_script()).args(&["--max-age", "36500d"]).json();
    c.exit(0);
    let max_days = i64::MAX / 86_400;
    let r = run(
        &["h", "-u", "a", "--max-age", &format!("{}d", max_days + 1)],
        &[],
        None,
    );
    assert_eq!(r.status, 3, "{r:?}");
    assert!(
        r.stderr.contains(&format!("at most {max_days}d")),
        "{}",
        r.stderr
    );
}
