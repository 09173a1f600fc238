// Protocol robustness: responses split anywhere, unsolicited responses,
// foreign tags, literals both ways, modified UTF-7 and string encoding.

use super::*;

/// The JSON report with everything that differs between two equal runs
/// (times, the port) blanked out.
fn normalized(mut v: Value) -> Value {
    v["elapsed_ms"] = Value::Null;
    v["port"] = Value::Null;
    v["address"] = Value::Null;
    // The age is by the clock: a second may pass between the two runs.
    v["message"]["age_s"] = Value::Null;
    for s in v["steps"].as_array_mut().expect("steps") {
        s["elapsed_ms"] = Value::Null;
        if s["step"] == "connect" {
            s["detail"] = Value::Null;
        }
    }
    v
}

/// The KB script with every response written `n` bytes at a time gives
/// the same report as written whole.
fn split_equals_unsplit(n: usize) {
    // Split sends are slow (5 ms per chunk): a generous deadline.
    let whole = Case::tls(kb_script()).args(&["-t", "30"]).json();
    assert_eq!(whole.r.status, 0, "{}", whole.ctx);
    let split = Case::tls(split_sends(kb_script(), n))
        .args(&["-t", "30"])
        .json();
    split.exit(0);
    assert_eq!(normalized(split.v), normalized(whole.v), "{}", split.ctx);
}

#[test]
fn responses_split_into_single_bytes() {
    split_equals_unsplit(1);
}

#[test]
fn responses_split_into_three_byte_chunks() {
    split_equals_unsplit(3);
}

#[test]
fn unsolicited_responses_are_understood_or_ignored() {
    let list = kb_list_reply().replacen(
        "* LIST (\\HasNoChildren \\Sent)",
        "* 4 EXISTS\r\n* OK [ALERT] Maintenance tonight\r\n* LIST (\\HasNoChildren \\Sent)",
        1,
    );
    let fetch = format!(
        "* 1 FETCH (FLAGS (\\Seen))\r\n* 2 EXPUNGE\r\n* 2 EXISTS\r\n* 3 FETCH (UID 3)\r\n{}",
        kb_fetch_reply()
    );
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!(
                "* CAPABILITY {POSTLOGIN_CAPS}\r\n* 7 EXISTS\r\n{}",
                kb_login_ok()
            )),
        ],
        listed(list),
        opened(
            "EXAMINE INBOX",
            format!(
                "* SEARCH 1 2\r\n* 1 FETCH (FLAGS ())\r\n{}",
                kb_examine_reply()
            ),
        ),
        fetched(3, fetch),
        logout_steps(),
    ]);
    let c = Case::tls(s).json();
    let (v, ctx) = (&c.v, &c.ctx);
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped ok ok");
    assert_eq!(
        v["alerts"],
        serde_json::json!(["Maintenance tonight"]),
        "{ctx}"
    );
    assert_eq!(v["folders"], serde_json::json!(KB_MAILBOXES), "{ctx}");
    // The other message's FETCH is not the answer.
    assert_eq!(v["message"]["seq"], 3, "{ctx}");
    assert_eq!(
        v["message"]["flags"],
        serde_json::json!(["\\Flagged"]),
        "{ctx}"
    );
    assert_eq!(v["message"]["subject"], KB_SUBJECT, "{ctx}");
}

#[test]
fn exists_follows_updates_during_the_check() {
    // Contract: "`exists` follows EXISTS updates that arrive during the
    // check" -- here one arrives with the FETCH answer.
    let fetch = format!("* 4 EXISTS\r\n* 1 RECENT\r\n{}", kb_fetch_reply());
    let s = script(vec![
        kb_examined(kb_examine_reply()),
        fetched(3, fetch),
        logout_steps(),
    ]);
    let c = Case::tls(s).json();
    c.exit(0);
    assert_eq!(c.v["message"]["seq"], 3, "{}", c.ctx);
    assert_eq!(c.v["mailbox"]["exists"], 4, "mailbox.exists\n{}", c.ctx);
}

#[test]
fn alert_is_shown_in_every_format() {
    let mut s = kb_script();
    // In the EXAMINE answer.
    s[6] = Step::Send(format!(
        "* OK [ALERT] Maintenance tonight\r\n{}",
        kb_examine_reply()
    ));
    assert!(matches!(&s[5], Step::ExpectQueued(p) if p == "EXAMINE INBOX"));
    for format in ["text", "nagios"] {
        let run = Case::tls(s.clone())
            .named(format)
            .args(&["--format", format])
            .output();
        run.status(0);
        let alert_line = run
            .r
            .stdout
            .lines()
            .find(|l| l.contains("Maintenance tonight"))
            .unwrap_or_else(|| panic!("no alert in {format} output\n{}", run.ctx));
        match format {
            "text" => assert!(alert_line.starts_with("ALERT "), "{alert_line}"),
            _ => assert_eq!(alert_line, "[ALERT] Maintenance tonight"),
        }
    }
}

#[test]
fn alerts_before_starttls_are_not_reported() {
    let s = script(vec![
        vec![
            Step::Send("* OK [ALERT] Pre-TLS greeting alert\r\n".into()),
            Step::Expect("CAPABILITY".into()),
            Step::Send(
                "* OK [ALERT] Pre-TLS capability alert\r\n* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK done\r\n"
                    .into(),
            ),
            Step::Expect("STARTTLS".into()),
            Step::Send("* OK [ALERT] Pre-TLS starttls alert\r\n{tag} OK Begin TLS now\r\n".into()),
            Step::StartTls(Identity::Good),
            Step::Expect("CAPABILITY".into()),
            Step::Send(format!(
                "* CAPABILITY {PRELOGIN_CAPS}\r\n{{tag}} OK done\r\n"
            )),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!(
                "* OK [ALERT] Post-TLS alert\r\n{}",
                kb_login_ok()
            )),
        ],
        kb_after_login(),
    ]);
    for format in ["json", "text"] {
        let run = Case::starttls(s.clone())
            .named(format)
            .args(&["-v", "--format", format])
            .output();
        let (r, ctx) = (&run.r, &run.ctx);
        run.status(0);
        // The greeting itself is reported as the greeting, nothing else
        // from before the handshake is.
        assert!(!r.stdout.contains("Pre-TLS capability"), "{ctx}");
        assert!(!r.stdout.contains("Pre-TLS starttls"), "{ctx}");
        assert!(r.stdout.contains("Post-TLS alert"), "{ctx}");
        if format == "text" {
            let alerts: Vec<&str> = r
                .stdout
                .lines()
                .filter(|l| l.starts_with("ALERT "))
                .collect();
            assert_eq!(alerts.len(), 1, "{ctx}");
            assert!(alerts[0].ends_with("  Post-TLS alert"), "{ctx}");
        }
        // The transcript shows everything the server sent.
        for what in ["greeting", "capability", "starttls"] {
            assert!(
                r.stderr
                    .contains(&format!("S: * OK [ALERT] Pre-TLS {what} alert")),
                "{what}\n{ctx}"
            );
        }
        if format == "json" {
            let v = parse_json_stdout(r);
            assert_eq!(v["alerts"], serde_json::json!(["Post-TLS alert"]), "{ctx}");
        }
    }
}

#[test]
fn a_foreign_tag_is_a_protocol_error() {
    let s = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send("a1 OK [CAPABILITY IMAP4rev1] Logged in\r\n".into()),
        Step::Hold,
    ];
    let c = Case::tls(s).json();
    c.failed_at("login");
    let msg = c.error("message");
    assert!(
        msg.starts_with(
            "protocol error during login: a tagged response for a command we never sent"
        ),
        "{msg}"
    );
    assert_eq!(c.error("got"), "a1 OK [CAPABILITY IMAP4rev1] Logged in");
    // Nothing more is sent on a connection that broke the protocol.
    assert_eq!(c.log.received_text().lines().count(), 1, "{}", c.ctx);
    assert!(c.r.elapsed < Duration::from_secs(5), "{}", c.ctx);
}

#[test]
fn literals_in_list_and_envelope() {
    let list = format!(
        "* LIST () \"/\" {}\r\n* LIST (\\Noselect) \"/\" {}\r\n* LIST () NIL \"Quo\\\"ted\"\r\n{{tag}} OK done\r\n",
        literal("Deleted Items"),
        literal("Archiv/Grüße")
    );
    let envelope = format!(
        "* 1 FETCH (RFC822.SIZE 99 ENVELOPE ({} {} (({} NIL \"b\" \"ex.org\")) NIL NIL NIL NIL NIL NIL NIL) FLAGS ())\r\n{{tag}} OK done\r\n",
        literal("Mon, 1 Jan 2024 00:00:00 +0000"),
        literal("Grüße aus Köln (part 1)"),
        literal("Björn \"B\" Ex")
    );
    let s = script(vec![
        logged_in(),
        listed(list),
        opened(
            "EXAMINE INBOX",
            "* 1 EXISTS\r\n{tag} OK [READ-ONLY] done\r\n".into(),
        ),
        fetched(1, envelope),
        logout_steps(),
    ]);
    let c = Case::tls(s).json();
    let (v, ctx) = (&c.v, &c.ctx);
    c.exit(0);
    assert_eq!(
        v["folders"],
        serde_json::json!(["Deleted Items", "Archiv/Grüße", "Quo\"ted"]),
        "{ctx}"
    );
    assert_eq!(v["message"]["subject"], "Grüße aus Köln (part 1)", "{ctx}");
    // A display name with quotes is shown quoted, as RFC 5322 writes it.
    assert_eq!(
        v["message"]["from"], "\"Björn \\\"B\\\" Ex\" <b@ex.org>",
        "{ctx}"
    );
    assert!(v["message"]["internal_date"].is_null(), "{ctx}");
}

#[test]
fn modified_utf7_folder_both_ways() {
    let examine = kb_examine_reply()
        .replace("* 3 EXISTS", "* 0 EXISTS")
        .replace("* OK [UNSEEN 2] First unseen.\r\n", "");
    let s = script(vec![
        logged_in(),
        listed(kb_list_reply()),
        opened("EXAMINE Entw&APw-rfe", examine),
        // `FETCH *` in the empty folder: BAD, which is no failure.
        batch_refused(&[KB_FETCH_NEWEST]),
    ]);
    let c = Case::tls(s).args(&["--folder", "Entwürfe"]).json();
    let (v, ctx) = (&c.v, &c.ctx);
    c.exit(0);
    assert!(
        c.log.lines[2].ends_with(" EXAMINE Entw&APw-rfe"),
        "{}",
        c.log.lines[2]
    );
    assert_eq!(v["folders"][1], "Entwürfe", "{ctx}");
    assert_eq!(v["mailbox"]["name"], "Entwürfe", "{ctx}");
    assert!(v["mailbox"]["unseen"].is_null(), "{ctx}");
}

#[test]
fn folder_with_a_space_is_quoted() {
    let s = script(vec![
        logged_in(),
        listed(kb_list_reply()),
        opened("EXAMINE \"Deleted Items\"", kb_examine_reply()),
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ]);
    let c = Case::tls(s).args(&["--folder", "Deleted Items"]).json();
    c.exit(0);
    assert_eq!(c.v["mailbox"]["name"], "Deleted Items");
}

/// Greeting without LITERAL+ (and without LITERAL-).
const GREETING_SYNC: &str = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n";

#[test]
fn literals_in_the_login_go_as_the_capabilities_allow() {
    // (case, what the server sends and expects up to the LOGIN OK, user,
    // password, the literal the server receives)
    let sync_user = "jörg";
    let plus_user = "al\r\nice";
    let pw = "pässwörd";
    let cases = [
        (
            "8-bit user name, no LITERAL+: waits for the continuation",
            vec![
                Step::Send(GREETING_SYNC.into()),
                Step::Expect(format!("LOGIN {{{}}}", sync_user.len())),
                Step::Send("+ go ahead\r\n".into()),
                Step::ExpectBytes(sync_user.len()),
                Step::Expect(format!(" {PASS}")),
            ],
            sync_user,
            PASS,
        ),
        // GREETING announces LITERAL+ in its capability code; the LOGIN
        // right after it must use a non-synchronizing literal.
        (
            "LITERAL+ from the greeting is used",
            vec![
                Step::Send(GREETING.into()),
                Step::Expect(format!("LOGIN {{{}+}}", plus_user.len())),
                Step::ExpectBytes(plus_user.len()),
                Step::Expect(format!(" {PASS}")),
            ],
            plus_user,
            PASS,
        ),
        (
            "LITERAL+ learned from CAPABILITY",
            script(vec![
                vec![Step::Send(BARE_GREETING.into())],
                capability_steps(),
                vec![
                    Step::Expect(format!("LOGIN {{{}+}}", plus_user.len())),
                    Step::ExpectBytes(plus_user.len()),
                    Step::Expect(format!(" {PASS}")),
                ],
            ]),
            plus_user,
            PASS,
        ),
        (
            "8-bit password: waits for the continuation",
            vec![
                Step::Send(GREETING_SYNC.into()),
                Step::Expect(format!("LOGIN {USER} {{{}}}", pw.len())),
                Step::Send("+ Ready for literal data\r\n".into()),
                Step::ExpectBytes(pw.len()),
                Step::Expect(String::new()),
            ],
            USER,
            pw,
        ),
    ];
    for (name, login, user, password) in cases {
        let literal = if user == USER { password } else { user };
        let s = script(vec![
            login,
            vec![Step::Send(kb_login_ok())],
            kb_after_login(),
        ]);
        let c = Case::tls(s)
            .named(name)
            .user(user)
            .env(&[("IMAPCHECK_PASSWORD", password)])
            .json();
        c.exit(0);
        assert_eq!(c.log.literals, [literal.as_bytes()], "{}", c.ctx);
    }
}

#[test]
fn refused_literal_sends_nothing_more() {
    // The server answers the literal announcement with NO instead of "+":
    // a client that sent the payload without waiting would have sent it
    // before LOGOUT, and the password with it.
    let s = script(vec![
        vec![
            Step::Send(GREETING_SYNC.into()),
            Step::Expect("LOGIN {4}".into()),
            Step::Send("{tag} NO [CANNOT] No 8-bit user names here\r\n".into()),
        ],
        logout_steps(),
    ]);
    let c = Case::tls(s).user("\u{e9}ve").json();
    c.failed_at("login");
    assert_not_received(&c.log, PASS, &c.ctx);
    assert!(c.log.literals.is_empty(), "{}", c.ctx);
}
