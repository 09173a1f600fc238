// Arrival checks (--search, --search-within): ESEARCH with SEARCHRES,
// ESEARCH alone and plain SEARCH; an answer of two million numbers in
// bounded memory; garbage, BADCHARSET, NO and BAD; WITHIN announced or
// not; every threshold boundary; usage errors before connecting.

use super::*;

/// Post-login capabilities without any search extension.
const BASE_CAPS: &str = "IMAP4rev1 LITERAL+ IDLE NAMESPACE";

/// A check of `keys` as the extra arguments start.
fn search_args(keys: &str) -> Vec<String> {
    vec!["--search".into(), keys.into()]
}

/// Greeting, LOGIN answered with `caps`, LIST, EXAMINE with `exists`.
fn opened_with(caps: &str, exists: u32) -> Vec<Step> {
    script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!("{{tag}} OK [CAPABILITY {caps}] Logged in\r\n")),
        ],
        listed(kb_list_reply()),
        // The rest of the batch after login: in the same write as LIST.
        vec![Step::ExpectQueued("EXAMINE INBOX".into())],
        opened_reply(format!(
            "* {exists} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] UIDs valid\r\n\
                 {{tag}} OK [READ-ONLY] Examine completed.\r\n"
        )),
    ])
}

/// EXAMINE's answer (the command itself expected queued).
fn opened_reply(reply: String) -> Vec<Step> {
    vec![Step::Send(reply)]
}

/// LOGOUT in the same write as the command before it.
fn logout_queued() -> Vec<Step> {
    vec![
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE Logging out\r\n{tag} OK Logout completed.\r\n".into()),
        Step::ExpectEof,
    ]
}

fn logout() -> Vec<Step> {
    vec![
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE Logging out\r\n{tag} OK Logout completed.\r\n".into()),
        Step::ExpectEof,
    ]
}

/// `* seq FETCH` of the fetch step's items, dated `date`, untagged only.
fn fetch_data(seq: u32, date: &str) -> String {
    let backup = "((\"Backup\" NIL \"backup\" \"example.org\"))";
    format!(
        "* {seq} FETCH (FLAGS (\\Seen) INTERNALDATE \"{date}\" RFC822.SIZE 900 \
         ENVELOPE (NIL \"nightly report\" {backup} {backup} {backup} NIL NIL NIL NIL NIL))\r\n"
    )
}

/// INTERNALDATE of `secs_ago` seconds before now (UTC).
fn date_ago(secs_ago: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let out = std::process::Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{}", now - secs_ago),
            "+%d-%b-%Y %H:%M:%S +0000",
        ])
        .output()
        .expect("date(1)");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const OLD_DATE: &str = "03-Jan-2024 10:00:00 +0000";

#[test]
fn esearch_with_searchres_fetches_the_newest_match_in_the_same_write() {
    let s = script(vec![
        opened_with(&format!("{BASE_CAPS} ESEARCH SEARCHRES"), 1204),
        vec![
            Step::ExpectQueued("SEARCH RETURN (SAVE MAX COUNT) FROM backup@example.org".into()),
            Step::ExpectQueued("FETCH $ (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send(format!(
                "* ESEARCH (TAG \"{{prevtag}}\") COUNT 3 MAX 1203\r\n{{prevtag}} OK Search done\r\n{}{{tag}} OK Fetch done\r\n",
                fetch_data(1203, OLD_DATE)
            )),
        ],
        logout_queued(),
    ]);
    let c = Case::tls(s)
        .args(&["--search", "FROM backup@example.org", "-v"])
        .json();
    c.exit(0);
    c.steps(
        "connect tls greeting capability login list examine quota search fetch logout",
        "ok ok ok ok ok ok ok skipped ok ok ok",
    );
    c.detail_starts_with(
        "search",
        "3 of 1204 messages match `FROM backup@example.org`; newest #1203 (ESEARCH with SEARCHRES)",
    );
    c.detail_starts_with("fetch", "newest match #1203: 900 bytes");
    assert_eq!(
        c.v["search"],
        serde_json::json!({"keys": "FROM backup@example.org", "within_s": null, "matches": 3,
            "matches_at_least": false, "newest": 1203, "method": "ESEARCH with SEARCHRES"}),
        "{}",
        c.ctx
    );
    assert_eq!(c.v["message"]["seq"], 1203, "{}", c.ctx);
    assert_eq!(c.v["message"]["subject"], "nightly report", "{}", c.ctx);
    // SEARCH and FETCH $ went out in one write: one C: line each, with no
    // S: line between them.
    let t = &c.r.stderr;
    let search = t.find("SEARCH RETURN").expect("search in transcript");
    let fetch = t.find("FETCH $").expect("fetch in transcript");
    assert!(!t[search..fetch].contains("S:"), "{t}");
}

#[test]
fn esearch_alone_fetches_the_max_it_names() {
    let s = script(vec![
        opened_with(&format!("{BASE_CAPS} ESEARCH"), 50),
        vec![
            Step::ExpectQueued("SEARCH RETURN (MAX COUNT) SUBJECT \"nightly report\"".into()),
            Step::Send("* ESEARCH (TAG \"{tag}\") COUNT 2 MAX 41\r\n{tag} OK done\r\n".into()),
        ],
        fetched(
            41,
            format!("{}{{tag}} OK done\r\n", fetch_data(41, OLD_DATE)),
        ),
        logout_queued(),
    ]);
    let c = Case::tls(s)
        .args(&["--search", "subject \"nightly report\""])
        .json();
    c.exit(0);
    c.detail_starts_with("search", "2 of 50 messages match");
    assert_eq!(c.v["search"]["method"], "ESEARCH", "{}", c.ctx);
    assert_eq!(c.v["message"]["seq"], 41, "{}", c.ctx);
}

#[test]
fn plain_search_is_counted_and_its_highest_fetched() {
    let s = script(vec![
        opened_with(BASE_CAPS, 30),
        vec![
            Step::ExpectQueued("SEARCH FROM backup@example.org".into()),
            Step::Send("* SEARCH 5 27 17\r\n{tag} OK done\r\n".into()),
        ],
        fetched(
            27,
            format!("{}{{tag}} OK done\r\n", fetch_data(27, OLD_DATE)),
        ),
        logout_queued(),
    ]);
    let (m, c) = Case::tls(s)
        .args(&["--search", "FROM backup@example.org", "--messages", "1:,1:"])
        .openmetrics_and_json();
    c.exit(0);
    c.detail_starts_with(
        "search",
        "3 of 30 messages match `FROM backup@example.org`; newest #27 (SEARCH)",
    );
    assert_eq!(
        m.get("imapcheck_search_matches", &[("folder", "INBOX")]),
        3.0
    );
    assert!(m.has("imapcheck_search_newest_age_seconds"), "{}", c.ctx);
    // The Nagios line: the thresholds go with the matches.
    let s = script(vec![
        opened_with(BASE_CAPS, 30),
        vec![
            Step::ExpectQueued("SEARCH FROM backup@example.org".into()),
            Step::Send("* SEARCH 5 27 17\r\n{tag} OK done\r\n".into()),
        ],
        fetched(
            27,
            format!("{}{{tag}} OK done\r\n", fetch_data(27, OLD_DATE)),
        ),
        logout_queued(),
    ]);
    let ran = Case::tls(s)
        .args(&[
            "--search",
            "FROM backup@example.org",
            "--messages",
            "1:,1:",
            "--format",
            "nagios",
        ])
        .output();
    ran.status(0);
    assert!(ran.r.stdout.contains(" messages=30;;;0"), "{}", ran.ctx);
    assert!(ran.r.stdout.contains(" matches=3;1:;1:;0"), "{}", ran.ctx);
}

/// A plain SEARCH answering 1..=n in one line, measured: the run's JSON,
/// imapcheck's peak memory in KiB and the answer's size.
fn search_all_measured(n: u32) -> (Checked, i64, usize) {
    let mut answer = String::with_capacity(16 << 20);
    answer.push_str("* SEARCH");
    for i in 1..=n {
        answer.push(' ');
        answer.push_str(&i.to_string());
    }
    answer.push_str("\r\n{tag} OK Search completed\r\n");
    let bytes = answer.len();
    let s = script(vec![
        opened_with(BASE_CAPS, n),
        vec![Step::ExpectQueued("SEARCH ALL".into()), Step::Send(answer)],
        fetched(n, format!("{}{{tag}} OK done\r\n", fetch_data(n, OLD_DATE))),
        logout_queued(),
    ]);
    let (c, rss) = Case::tls(s)
        .args(&["--search", "ALL", "-t", "20"])
        .json_measured();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], n, "{}", c.ctx);
    assert_eq!(c.v["message"]["seq"], n, "{}", c.ctx);
    (c, rss, bytes)
}

#[test]
fn two_million_matches_in_bounded_memory() {
    const N: u32 = 2_000_000;
    let (_, small, _) = search_all_measured(3);
    let (c, rss, bytes) = search_all_measured(N);
    eprintln!(
        "max RSS, a {bytes}-byte SEARCH answer of {N} numbers: {rss} KiB (3 numbers: {small} KiB), run {:?}",
        c.r.elapsed
    );
    assert!(rss < RSS_LIMIT_KIB, "max RSS {rss} KiB\n{}", c.ctx);
    // Constant: the line (15 MB) is never held.
    assert!(
        rss < small + 4 * 1024,
        "max RSS {rss} KiB against {small} KiB\n{}",
        c.ctx
    );
    assert!(c.r.elapsed < Duration::from_secs(20), "{}", c.ctx);
}

#[test]
fn esearch_garbage_is_a_quirk_not_a_crash() {
    let answers = [
        "* ESEARCH (TAG \"{tag}\") COUNT 3 MAX 7 FOO (((\r\n",
        "* ESEARCH (TAG \"{tag}\") COUNT banana MAX 7\r\n",
        "* ESEARCH \u{1}\u{7f} MAX 7 COUNT 3\r\n",
    ];
    for answer in answers {
        let s = script(vec![
            opened_with(&format!("{BASE_CAPS} ESEARCH"), 10),
            vec![
                Step::ExpectQueued("SEARCH RETURN (MAX COUNT) SEEN".into()),
                Step::Send(format!("{answer}{{tag}} OK done\r\n")),
            ],
            fetched(7, format!("{}{{tag}} OK done\r\n", fetch_data(7, OLD_DATE))),
            logout_queued(),
        ]);
        let c = Case::tls(s)
            .named(answer)
            .args(&["--search", "SEEN"])
            .json();
        c.exit(0);
        assert_eq!(c.v["message"]["seq"], 7, "{}", c.ctx);
        let quirks = c.v["quirks"].as_array().map(Vec::len).unwrap_or(0);
        assert!(quirks >= 1, "no quirk noted\n{}", c.ctx);
        c.detail_contains("search", "ignored 1 response");
    }
}

#[test]
fn refusals_fail_at_the_search_with_a_hint() {
    let table: &[(&str, &str, &str, &str, &str)] = &[
        (
            "NO [BADCHARSET (US-ASCII)] Unsupported charset",
            "SUBJECT \"Grüße\"",
            "SEARCH CHARSET UTF-8 SUBJECT {7+}",
            "BADCHARSET",
            "refused the search (NO)",
        ),
        (
            "NO Search failed: internal error",
            "SEEN",
            "SEARCH SEEN",
            "could not run the search",
            "(NO)",
        ),
        (
            "BAD Error in IMAP command SEARCH: Unknown argument",
            "SEEN",
            "SEARCH SEEN",
            "did not understand the search",
            "(BAD)",
        ),
    ];
    for (reply, keys, sent, hint, message) in table {
        let mut search = vec![Step::ExpectQueued((*sent).into())];
        if keys.contains("Grüße") {
            search.push(Step::ExpectBytes("Grüße".len()));
            search.push(Step::Expect(String::new()));
        }
        search.push(Step::Send(format!("{{tag}} {reply}\r\n")));
        let s = script(vec![opened_with(BASE_CAPS, 10), search, logout()]);
        let c = Case::tls(s).named(*reply).args(&["--search", keys]).json();
        c.failed_at("search");
        assert!(c.error("hint").contains(hint), "{}", c.ctx);
        assert!(c.error("message").contains(message), "{}", c.ctx);
        assert!(
            c.error("got")
                .contains(reply.split(' ').nth(1).unwrap_or("")),
            "{}",
            c.ctx
        );
        assert_eq!(c.step("fetch")["status"], "skipped", "{}", c.ctx);
    }
}

#[test]
fn within_announced_uses_younger() {
    let s = script(vec![
        opened_with(&format!("{BASE_CAPS} ESEARCH SEARCHRES WITHIN"), 100),
        vec![
            Step::Expect(
                "SEARCH RETURN (SAVE MAX COUNT) FROM backup@example.org YOUNGER 7200".into(),
            ),
            Step::ExpectQueued("FETCH $ (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send(format!(
                "* ESEARCH (TAG \"{{prevtag}}\") COUNT 1 MAX 99\r\n{{prevtag}} OK done\r\n{}{{tag}} OK done\r\n",
                fetch_data(99, &date_ago(600))
            )),
        ],
        logout_queued(),
    ]);
    let c = Case::tls(s)
        .args(&[
            "--search",
            "FROM backup@example.org",
            "--search-within",
            "2h",
            "--max-age",
            "1h",
        ])
        .json();
    c.exit(0);
    c.detail_contains(
        "search",
        "1 of 100 messages matches `FROM backup@example.org` within 2h 0m",
    );
    assert_eq!(c.v["search"]["within_s"], 7200, "{}", c.ctx);
}

#[test]
fn within_not_announced_filters_the_dates_itself() {
    let s = script(vec![
        opened_with(BASE_CAPS, 100),
        vec![
            Step::ExpectQueued("SEARCH FROM backup@example.org SINCE *-*-*".into()),
            Step::Send("* SEARCH 40 41 42\r\n{tag} OK done\r\n".into()),
            Step::Expect("FETCH 40:42 (INTERNALDATE)".into()),
            Step::Send(format!(
                "* 40 FETCH (INTERNALDATE \"{}\")\r\n* 41 FETCH (INTERNALDATE \"{}\")\r\n* 42 FETCH (INTERNALDATE \"{}\")\r\n{{tag}} OK done\r\n",
                date_ago(3 * 3600),
                date_ago(3600),
                date_ago(3 * 86_400)
            )),
        ],
        fetched(
            41,
            format!("{}{{tag}} OK done\r\n", fetch_data(41, &date_ago(3600))),
        ),
        logout_queued(),
    ]);
    let c = Case::tls(s)
        .args(&[
            "--search",
            "FROM backup@example.org",
            "--search-within",
            "2h",
        ])
        .json();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], 1, "{}", c.ctx);
    assert_eq!(c.v["search"]["newest"], 41, "{}", c.ctx);
    assert_eq!(c.v["message"]["seq"], 41, "{}", c.ctx);
}

/// A plain SEARCH answering `matches`, newest fetched with `date`.
fn counted(matches: u32, date: &str) -> Vec<Step> {
    let numbers: String = (1..=matches).map(|n| format!(" {n}")).collect();
    let mut s = script(vec![
        opened_with(BASE_CAPS, 20),
        vec![
            Step::ExpectQueued("SEARCH SEEN".into()),
            Step::Send(format!("* SEARCH{numbers}\r\n{{tag}} OK done\r\n")),
        ],
    ]);
    if matches > 0 {
        s.extend(fetched(
            matches,
            format!("{}{{tag}} OK done\r\n", fetch_data(matches, date)),
        ));
        // The newest match's FETCH and LOGOUT in one write.
        s.extend(logout_queued());
    } else {
        s.extend(logout());
    }
    s
}

#[test]
fn thresholds_at_every_boundary() {
    let fresh = date_ago(100);
    let table: &[(u32, &[&str], i32, &str)] = &[
        (0, &[], 0, "no message matches"),
        (
            0,
            &["--messages", "1:"],
            1,
            "0 matches, outside the warning range 1:",
        ),
        (1, &["--messages", "1:"], 0, ""),
        (0, &["--messages", "1:,1:"], 2, ""),
        (1, &["--messages", "1:,1:"], 0, ""),
        (5, &["--messages", "5"], 0, ""),
        (
            6,
            &["--messages", "5"],
            1,
            "6 matches, outside the warning range 5",
        ),
        (6, &["--messages", "5,5"], 2, ""),
        (0, &["--max-age", "1h"], 2, ""),
        (2, &["--max-age", "1h"], 0, ""),
        (2, &["--max-age", "60s"], 1, "newest match is"),
        (2, &["--max-age", "30s,60s"], 2, "newest match is"),
    ];
    for (matches, extra, exit, text) in table {
        let mut args = search_args("SEEN");
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = Case::tls(counted(*matches, &fresh))
            .named(format!("{matches} matches, {extra:?}"))
            .args(&refs)
            .json();
        c.exit(*exit);
        if !text.is_empty() {
            let all = c.v["steps"].to_string();
            assert!(all.contains(text), "{text}\n{}", c.ctx);
        }
        if *matches == 0 && extra.is_empty() {
            assert_eq!(c.step("fetch")["status"], "skipped", "{}", c.ctx);
            c.detail_contains("fetch", "no message matches");
        }
        if *matches == 0 && extra.first() == Some(&"--max-age") {
            c.failed_at("fetch");
            assert!(
                c.error("message").contains("matches the search"),
                "{}",
                c.ctx
            );
        }
    }
}

#[test]
fn extension_keys_the_server_does_not_announce() {
    for (keys, cap) in [
        ("YOUNGER 3600", "WITHIN"),
        ("X-GM-RAW \"has:attachment\"", "X-GM-EXT-1"),
    ] {
        let s = script(vec![opened_with(BASE_CAPS, 10), logout()]);
        let c = Case::tls(s).named(keys).args(&["--search", keys]).json();
        c.failed_at("search");
        assert!(
            c.error("message")
                .contains(&format!("does not announce {cap}")),
            "{}",
            c.ctx
        );
    }
}

#[test]
fn bad_keys_are_usage_errors_before_connecting() {
    let port = closed_port().to_string();
    let table: &[(&[&str], &str)] = &[
        (&["--search", "FORM backup"], "unknown search key 'FORM'"),
        (&["--search", "SUBJECT \"open"], "not closed"),
        (&["--search", "(SEEN"], "( is not closed"),
        (&["--search", "SINCE yesterday"], "SINCE needs a date"),
        (&["--search", "SUBJECT a\rb"], "not allowed"),
        (
            &["--search", "SEEN", "--message", "2"],
            "excludes --message",
        ),
        (
            &["--search", "SEEN", "--search-within", "1w"],
            "not a duration",
        ),
    ];
    for (extra, want) in table {
        let mut args = vec!["127.0.0.1", "--security", "none", "-p", &port, "-u", USER];
        args.extend_from_slice(extra);
        let r = run(&args, &[("IMAPCHECK_PASSWORD", PASS)], None);
        assert_eq!(r.status, 3, "{extra:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{extra:?}: {}", r.stderr);
    }
}

#[test]
fn plain_search_words_not_numbers_are_a_quirk() {
    let s = script(vec![
        opened_with(BASE_CAPS, 10),
        vec![
            Step::ExpectQueued("SEARCH SEEN".into()),
            Step::Send("* SEARCH 2 5 (MODSEQ 917162500) x7\r\n{tag} OK done\r\n".into()),
        ],
        fetched(5, format!("{}{{tag}} OK done\r\n", fetch_data(5, OLD_DATE))),
        logout_queued(),
    ]);
    let c = Case::tls(s).args(&["--search", "SEEN"]).json();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], 2, "{}", c.ctx);
    assert_eq!(c.v["message"]["seq"], 5, "{}", c.ctx);
    c.detail_contains(
        "search",
        "3 words of the SEARCH answer not a message number",
    );
}

#[test]
fn more_matches_than_dates_checked_is_a_lower_bound() {
    let numbers: String = (1..=1500).map(|n| format!(" {n}")).collect();
    let recent = date_ago(60);
    let dates: String = (501..=1500)
        .map(|n| format!("* {n} FETCH (INTERNALDATE \"{recent}\")\r\n"))
        .collect();
    let s = script(vec![
        opened_with(BASE_CAPS, 1500),
        vec![
            Step::ExpectQueued("SEARCH ALL SINCE *".into()),
            Step::Send(format!("* SEARCH{numbers}\r\n{{tag}} OK done\r\n")),
            // The newest thousand, as one range.
            Step::Expect("FETCH 501:1500 (INTERNALDATE)".into()),
            Step::Send(format!("{dates}{{tag}} OK done\r\n")),
        ],
        fetched(
            1500,
            format!("{}{{tag}} OK done\r\n", fetch_data(1500, &recent)),
        ),
        logout_queued(),
    ]);
    let c = Case::tls(s).args(&["--search-within", "1h"]).json();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], 1000, "{}", c.ctx);
    assert_eq!(c.v["search"]["matches_at_least"], true, "{}", c.ctx);
    c.detail_starts_with(
        "search",
        "at least 1000 of 1500 messages match `ALL` within 1h 0m",
    );
}

#[test]
fn gmail_raw_goes_where_announced() {
    let s = script(vec![
        opened_with(&format!("{BASE_CAPS} X-GM-EXT-1"), 9),
        vec![
            Step::ExpectQueued("SEARCH X-GM-RAW \"has:attachment in:inbox\"".into()),
            Step::Send("* SEARCH 4 9\r\n{tag} OK done\r\n".into()),
        ],
        fetched(9, format!("{}{{tag}} OK done\r\n", fetch_data(9, OLD_DATE))),
        logout_queued(),
    ]);
    let c = Case::tls(s)
        .args(&["--search", "X-GM-RAW \"has:attachment in:inbox\""])
        .json();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], 2, "{}", c.ctx);
}

#[test]
fn no_pipelining_searches_one_command_at_a_time() {
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!(
                "{{tag}} OK [CAPABILITY {BASE_CAPS} ESEARCH SEARCHRES] Logged in\r\n"
            )),
            Step::ExpectAlone("LIST \"\" \"*\"".into()),
            Step::Send(kb_list_reply()),
            Step::ExpectAlone("EXAMINE INBOX".into()),
            Step::Send(
                "* 12 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-ONLY] Examine completed.\r\n".into(),
            ),
            // One command at a time: no FETCH $ behind the SEARCH.
            Step::ExpectAlone("SEARCH RETURN (MAX COUNT) SEEN".into()),
            Step::Send("* ESEARCH (TAG \"{tag}\") COUNT 2 MAX 11\r\n{tag} OK done\r\n".into()),
            Step::ExpectAlone("FETCH 11 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
            Step::Send(format!("{}{{tag}} OK done\r\n", fetch_data(11, OLD_DATE))),
        ],
        logout(),
    ]);
    let c = Case::tls(s)
        .args(&["--search", "SEEN", "--no-pipelining"])
        .json();
    c.exit(0);
    assert_eq!(c.v["message"]["seq"], 11, "{}", c.ctx);
    assert_eq!(c.v["search"]["method"], "ESEARCH", "{}", c.ctx);
}

#[test]
fn capabilities_unknown_at_login_search_plainly_in_the_batch() {
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send("{tag} OK Logged in\r\n".into()),
            Step::Expect("CAPABILITY".into()),
            Step::Send(format!(
                "* CAPABILITY {BASE_CAPS} ESEARCH SEARCHRES\r\n{{tag}} OK done\r\n"
            )),
        ],
        listed(kb_list_reply()),
        vec![Step::ExpectQueued("EXAMINE INBOX".into())],
        opened_reply(
            "* 12 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-ONLY] Examine completed.\r\n".into(),
        ),
        vec![
            Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
            Step::Send("{tag} BAD unknown command\r\n".into()),
            // Sent before CAPABILITY was answered: plain SEARCH.
            Step::ExpectQueued("SEARCH SEEN".into()),
            Step::Send("* SEARCH 3 11\r\n{tag} OK done\r\n".into()),
        ],
        fetched(
            11,
            format!("{}{{tag}} OK done\r\n", fetch_data(11, OLD_DATE)),
        ),
        logout_queued(),
    ]);
    let c = Case::tls(s).args(&["--search", "SEEN"]).json();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], 2, "{}", c.ctx);
    assert_eq!(c.v["search"]["method"], "SEARCH", "{}", c.ctx);
}

#[test]
fn a_synchronizing_literal_keeps_the_search_out_of_the_batch() {
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send("{tag} OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n".into()),
        ],
        listed(kb_list_reply()),
        vec![Step::ExpectQueued("EXAMINE INBOX".into())],
        opened_reply(
            "* 12 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-ONLY] Examine completed.\r\n".into(),
        ),
        vec![
            Step::Expect("SEARCH CHARSET UTF-8 SUBJECT {7}".into()),
            Step::Send("+ go ahead\r\n".into()),
            Step::ExpectBytes("Grüße".len()),
            Step::Expect(String::new()),
            Step::Send("* SEARCH 11\r\n{tag} OK done\r\n".into()),
        ],
        fetched(
            11,
            format!("{}{{tag}} OK done\r\n", fetch_data(11, OLD_DATE)),
        ),
        logout_queued(),
    ]);
    let c = Case::tls(s).args(&["--search", "SUBJECT Grüße"]).json();
    c.exit(0);
    assert_eq!(c.v["search"]["matches"], 1, "{}", c.ctx);
}
