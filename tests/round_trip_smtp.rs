// The round trip's SMTP side against scripted SMTP servers (tests/common's
// smtp_server) with a real throw-away Dovecot as the mailbox: greylisting
// and a 4xx after DATA are warnings to retry, a server silent after DATA's
// end ends by the deadline, an oversized reply line is refused at its
// limit, a reply split across reads is one reply, and a STARTTLS refused
// after EHLO announced it sends nothing more in cleartext.

use serde_json::Value;

mod common;
#[path = "round_trip_support/mod.rs"]
mod round_trip_support;

use common::smtp_server::{SmtpMove, SmtpServer};
use round_trip_support::*;

/// The EHLO answer of the scripted servers.
const EHLO: &str = "250-grey.example\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";

/// A scripted SMTP server as the round trip's `--send-via`, in cleartext
/// unless `security` says otherwise; the exit status, the JSON, stderr
/// and what the server received.
fn against(
    pair: &Pair,
    script: Vec<SmtpMove>,
    security: &str,
    extra: &[&str],
) -> (i32, Value, String, String) {
    let server = SmtpServer::start(script);
    let via = format!("127.0.0.1:{}", server.port);
    let mut args = vec!["--send-via", via.as_str(), "--send-security", security];
    args.extend(extra);
    let (code, v, stderr) = pair.check(&args, &[]);
    (code, v, stderr, server.finish())
}

/// Up to the DATA's 354, pipelined.
fn up_to_data() -> Vec<SmtpMove> {
    vec![
        SmtpMove::say("220 grey.example ESMTP\r\n"),
        SmtpMove::Await("EHLO"),
        SmtpMove::say(EHLO),
        SmtpMove::Await("AUTH"),
        SmtpMove::say("235 2.7.0 ok\r\n"),
        SmtpMove::Await("DATA"),
        SmtpMove::say("250 ok\r\n250 ok\r\n354 go ahead\r\n"),
    ]
}

#[test]
fn greylisting_is_a_warning_to_retry_not_a_failure() {
    let pair = Pair::start(&[]);
    let script = vec![
        SmtpMove::say("220 grey.example ESMTP\r\n"),
        SmtpMove::Await("EHLO"),
        SmtpMove::say(EHLO),
        SmtpMove::Await("AUTH"),
        SmtpMove::say("235 2.7.0 ok\r\n"),
        SmtpMove::Await("DATA"),
        SmtpMove::say(
            "250 2.1.0 Ok\r\n451 4.7.1 <alice@localhost>: Recipient address rejected: Greylisted\r\n554 5.5.1 Error: no valid recipients\r\n",
        ),
    ];
    let (code, v, stderr, seen) = against(&pair, script, "none", &[]);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    let send = detail(&v, "send");
    assert!(
        send.contains("451") && send.contains("retry later"),
        "{v:#}"
    );
    assert_eq!(step(&v, "arrive")["detail"], "no message was sent", "{v:#}");
    assert!(
        seen.contains("RCPT TO:<alice@localhost>") && !seen.contains("seeded"),
        "{seen}"
    );
}

#[test]
fn a_4xx_in_the_middle_of_data_is_a_warning_too() {
    let pair = Pair::start(&[]);
    let mut script = up_to_data();
    script.extend([
        SmtpMove::AwaitDot,
        SmtpMove::say("452 4.3.1 Insufficient system storage\r\n"),
    ]);
    let (code, v, stderr, _) = against(&pair, script, "none", &[]);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    assert!(detail(&v, "send").contains("452"), "{v:#}");
}

#[test]
fn a_server_that_never_answers_the_end_of_data_ends_by_the_deadline() {
    let pair = Pair::start(&[]);
    let mut script = up_to_data();
    script.extend([SmtpMove::AwaitDot, SmtpMove::Hang]);
    let started = std::time::Instant::now();
    let (code, v, stderr, _) = against(&pair, script, "none", &["-t", "3"]);
    let took = started.elapsed();
    assert_eq!(code, 2, "{v:#}\n{stderr}");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    assert_eq!(v["error"]["step"], "send", "{v:#}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("the end of DATA before the deadline"),
        "{v:#}"
    );
}

#[test]
fn an_oversized_reply_line_is_refused_not_kept() {
    let pair = Pair::start(&[]);
    let long = format!("220 {}\r\n", "x".repeat(1 << 20));
    let (code, v, stderr, _) = against(&pair, vec![SmtpMove::Say(long.into_bytes())], "none", &[]);
    assert_eq!(code, 2, "{v:#}\n{stderr}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("longer than 2048 bytes"), "{v:#}");
    assert!(
        v["error"]["got"].as_str().is_some_and(|g| g.len() < 1000),
        "{v:#}"
    );
}

#[test]
fn a_multi_line_reply_split_across_reads_is_one_reply() {
    let pair = Pair::start(&[]);
    let pause = || SmtpMove::Pause(std::time::Duration::from_millis(30));
    let script = vec![
        SmtpMove::say("220-grey.example\r\n"),
        pause(),
        SmtpMove::say("220 ESMTP\r\n"),
        SmtpMove::Await("EHLO"),
        SmtpMove::say("250-grey.exa"),
        pause(),
        SmtpMove::say("mple\r\n250-PIPEL"),
        pause(),
        SmtpMove::say("INING\r\n250 AUTH PLAIN\r\n"),
        SmtpMove::Await("AUTH"),
        SmtpMove::say("235 ok\r\n"),
        SmtpMove::Await("DATA"),
        SmtpMove::say("250 ok\r\n250 ok\r\n354 go ahead\r\n"),
        SmtpMove::AwaitDot,
        SmtpMove::say("250 2.0.0 queued as SCRIPTED\r\n"),
    ];
    // The scripted server delivers nothing: the send is what is tested.
    let (_, v, stderr, seen) = against(&pair, script, "none", &["-t", "3"]);
    assert_eq!(step(&v, "send")["status"], "ok", "{v:#}\n{stderr}");
    assert!(detail(&v, "send").contains("pipelined"), "{v:#}");
    assert!(
        seen.contains("MAIL FROM:<alice@localhost>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n"),
        "{seen}"
    );
}

#[test]
fn starttls_refused_after_ehlo_announced_it_sends_nothing_more_in_cleartext() {
    let pair = Pair::start(&[]);
    let script = vec![
        SmtpMove::say("220 grey.example ESMTP\r\n"),
        SmtpMove::Await("EHLO"),
        SmtpMove::say("250-grey.example\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n"),
        SmtpMove::Await("STARTTLS"),
        SmtpMove::say("454 4.7.0 TLS not available due to local problem\r\n"),
    ];
    let (code, v, stderr, seen) = against(&pair, script, "starttls", &[]);
    assert_eq!(code, 2, "{v:#}\n{stderr}");
    assert_eq!(v["error"]["step"], "send", "{v:#}");
    assert!(
        v["error"]["got"]
            .as_str()
            .unwrap_or_default()
            .starts_with("454"),
        "{v:#}"
    );
    // EHLO and STARTTLS, then nothing: no AUTH, no QUIT in cleartext.
    assert_eq!(seen.lines().count(), 2, "{seen}");
    assert!(
        seen.starts_with("EHLO ") && seen.ends_with("STARTTLS\r\n"),
        "{seen}"
    );
}
