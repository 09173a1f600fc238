// The round trip against a scripted IMAP server and a scripted SMTP
// server: what the cleanup may send is exactly what the script expects,
// so any other command (an EXPUNGE, a CLOSE) fails the script.

use super::*;
use common::smtp_server::{SmtpMove, SmtpServer};

/// Capabilities after login: IDLE, but no UIDPLUS (and no ID or QUOTA,
/// so the batch after login is LIST, SELECT and FETCH).
const CAPS_WITHOUT_UIDPLUS: &str = "IMAP4rev1 LITERAL+ IDLE UNSELECT SPECIAL-USE";

/// An SMTP server that takes the message.
fn accepting_smtp() -> SmtpServer {
    SmtpServer::start(vec![
        SmtpMove::say("220 mx.example ESMTP\r\n"),
        SmtpMove::Await("EHLO"),
        SmtpMove::say("250-mx.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"),
        SmtpMove::Await("AUTH PLAIN"),
        SmtpMove::say("235 2.7.0 ok\r\n"),
        SmtpMove::Await("DATA"),
        SmtpMove::say("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
        SmtpMove::AwaitDot,
        SmtpMove::say("250 2.0.0 Ok: queued as SCRIPTED\r\n"),
        SmtpMove::Await("QUIT"),
        SmtpMove::say("221 bye\r\n"),
    ])
}

fn select_reply() -> String {
    format!(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
         * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
         * {KB_EXISTS} EXISTS\r\n\
         * 0 RECENT\r\n\
         * OK [UIDVALIDITY {KB_UIDVALIDITY}] UIDs valid\r\n\
         * OK [UIDNEXT {KB_UIDNEXT}] Predicted next UID\r\n\
         {{tag}} OK [READ-WRITE] Select completed.\r\n"
    )
}

#[test]
fn without_uidplus_no_expunge_or_close_is_ever_sent_and_a_silent_idle_is_looked_behind() {
    let smtp = accepting_smtp();
    let mut script = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone("LOGIN *".into()),
        Step::Send(format!(
            "{{tag}} OK [CAPABILITY {CAPS_WITHOUT_UIDPLUS}] Logged in\r\n"
        )),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectQueued("SELECT INBOX".into()),
        Step::Send(select_reply()),
        Step::ExpectQueued(KB_FETCH_NEWEST.into()),
        Step::Send(kb_fetch_reply()),
        // LOGOUT is not in the batch: the round trip comes first.
        Step::Expect("IDLE".into()),
        Step::Send("+ idling\r\n".into()),
        // The message is delivered, but this server's IDLE never says so:
        // the check looks for itself.
        // DONE has no tag: the harness takes the word for one, so what
        // follows it is empty, and IDLE's tag is {prevtag}.
        Step::Expect(String::new()),
        Step::Send("{prevtag} OK Idle completed.\r\n".into()),
        Step::Expect("UID SEARCH HEADER X-Imapcheck-Token imapcheck-*".into()),
        Step::Send("* SEARCH 4\r\n{tag} OK Search completed.\r\n".into()),
    ];
    script.extend([
        Step::Expect("UID STORE 4 +FLAGS.SILENT (\\Seen)".into()),
        Step::Send("* 4 FETCH (FLAGS (\\Seen))\r\n{tag} OK Store completed.\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ]);
    let srv = ScriptedServer::start(Mode::Plain, script);
    let port = srv.port().to_string();
    let via = format!("127.0.0.1:{}", smtp.port);
    let started = std::time::Instant::now();
    let (run, v) = run_json(
        &[
            "127.0.0.1",
            "-p",
            &port,
            "--security",
            "none",
            "-u",
            "monitor@example.org",
            "--send-via",
            &via,
            "--send-security",
            "none",
            "--format",
            "json",
            "-t",
            "9",
        ],
        &[("IMAPCHECK_PASSWORD", "pw")],
        None,
    );
    let log = srv.finish();
    assert!(log.lines.iter().any(|l| l == "DONE"), "{:?}", log.lines);
    let sent = smtp.finish();
    assert!(log.errors.is_empty(), "{:?}\n{}", log.errors, run.stderr);
    for line in &log.lines {
        let verb: Vec<&str> = line.split(' ').skip(1).take(2).collect();
        assert!(
            !line.contains("EXPUNGE") && verb.first() != Some(&"CLOSE"),
            "{line}"
        );
    }
    assert_eq!(run.status, 1, "{v:#}\n{}", run.stderr);
    let arrive = v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == "arrive"))
        .expect("an arrive step");
    let detail = arrive["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("lacks UIDPLUS (RFC 4315)"), "{detail}");
    assert!(detail.contains("marked \\Seen"), "{detail}");
    // Found by the look five seconds into the IDLE, well before the
    // deadline's margin.
    let delay = v["round_trip"]["arrival_s"].as_f64().expect("a delay");
    assert!((4.5..7.0).contains(&delay), "{delay}");
    assert!(started.elapsed() < std::time::Duration::from_secs(9));
    assert_eq!(v["round_trip"]["removed_uids"], serde_json::json!([]));
    assert!(sent.contains("X-Imapcheck-Token: imapcheck-"), "{sent}");
}
