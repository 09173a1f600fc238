// The round trip (--send-via) against real servers: Exim on loopback, run
// from its own configuration (tests/servers/throwaway-exim), delivering
// over LMTP into a throw-away Dovecot (throwaway-dovecot --lmtp-port).
// Each test starts its own pair on free ports, so they run side by side.
// An independent imaplib reading (tests/servers/imap-truth) before and
// after each round trip proves that exactly the one message came and went,
// and that messages the cleanup must not touch are still there. Without
// Dovecot's LMTP or Exim the tests fail and say what is missing.

use serde_json::Value;

mod common;
#[path = "round_trip_support/mod.rs"]
mod round_trip_support;

use round_trip_support::*;

/// The whole round trip, and what it leaves: exactly what was there.
fn round_trip(no_idle: bool) -> f64 {
    let pair = Pair::start(if no_idle { &["--no-idle"] } else { &[] });
    let before = pair.truth();
    let (code, v, stderr) = pair.check(&["--arrival", "5,7"], &[]);
    assert_eq!(code, 0, "{v:#}\n{stderr}");
    assert_eq!(step(&v, "send")["status"], "ok", "{v:#}");
    let how = if no_idle { "(polling)" } else { "(IDLE)" };
    assert!(detail(&v, "arrive").contains(how), "{v:#}");
    assert!(
        detail(&v, "send").contains("(TLS 1.3, AUTH PLAIN, pipelined)"),
        "{v:#}"
    );
    let rt = &v["round_trip"];
    assert_eq!(rt["folder"], "INBOX", "{v:#}");
    let removed = rt["removed_uids"].as_array().expect("removed_uids");
    assert_eq!(removed.len(), 1, "{v:#}");
    // The one removed was new: above every UID there before.
    assert!(removed[0].as_u64().unwrap_or(0) > max_uid(&before), "{v:#}");
    assert_eq!(pair.truth(), before, "the mailbox is not as it was");
    let delay = rt["arrival_s"].as_f64().expect("a delay");
    eprintln!("round trip {how}: delivery delay {delay:.3} s");
    delay
}

#[test]
fn a_round_trip_with_idle_sees_the_message_come_and_go() {
    let delay = round_trip(false);
    assert!(delay < 5.0, "{delay}");
}

#[test]
fn a_round_trip_without_idle_polls() {
    let delay = round_trip(true);
    assert!(delay < 5.0, "{delay}");
}

#[test]
fn a_message_filed_as_spam_is_a_warning_naming_the_junk_folder() {
    let pair = Pair::start(&[]);
    // The folder the filing rule (Dovecot's LMTP, by the +Junk detail)
    // delivers to, there before as on a real server.
    pair.add_folder("Junk");
    // Leaving INBOX for the junk search must not expunge this one.
    pair.seed(
        "deleted",
        "T",
        600,
        &message("marked-deleted", "X-Other: 1"),
    );
    let before = pair.truth();
    assert!(before.to_string().contains("marked-deleted"));
    assert!(before["Junk"].is_object(), "{before:#}");
    let (code, v, stderr) = pair.check(&["--send-to", "alice+Junk@localhost", "-t", "4"], &[]);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    assert_eq!(step(&v, "arrive")["status"], "warning", "{v:#}");
    assert!(detail(&v, "arrive").contains("junk folder Junk"), "{v:#}");
    assert_eq!(v["round_trip"]["folder"], "Junk");
    assert_eq!(v["round_trip"]["junk"], true);
    assert_eq!(pair.truth(), before, "the mailbox is not as it was");
}

#[test]
fn a_wrong_smtp_password_is_critical_at_send_and_never_shown() {
    let pair = Pair::start(&[]);
    let secret = "wrong-smtp-secret-4711";
    let (code, v, stderr) = pair.check(
        &["--send-user", "alice"],
        &[("IMAPCHECK_SEND_PASSWORD", secret)],
    );
    assert_eq!(code, 2, "{v:#}\n{stderr}");
    assert_eq!(v["error"]["step"], "send", "{v:#}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("login"),
        "{v:#}"
    );
    assert!(
        v["error"]["got"]
            .as_str()
            .unwrap_or_default()
            .starts_with("535"),
        "{v:#}"
    );
    assert_eq!(step(&v, "arrive")["status"], "skipped");
    assert!(!v.to_string().contains(secret) && !stderr.contains(secret));
    // And with -v, the transcript shows AUTH's secret as ***.
    let (_, _, transcript) = pair.check(
        &["--send-user", "alice", "-v"],
        &[("IMAPCHECK_SEND_PASSWORD", secret)],
    );
    assert!(
        transcript.contains("[smtp] C: AUTH PLAIN ***"),
        "{transcript}"
    );
    assert!(!transcript.contains(secret));
}

#[test]
fn a_refused_recipient_is_critical_and_names_it() {
    let pair = Pair::start(&[]);
    let (code, v, stderr) = pair.check(&["--send-to", "nobody@localhost"], &[]);
    assert_eq!(code, 2, "{v:#}\n{stderr}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("recipient nobody@localhost"), "{v:#}");
    assert!(
        v["error"]["got"]
            .as_str()
            .unwrap_or_default()
            .starts_with("550"),
        "{v:#}"
    );
}

#[test]
fn the_cleanup_touches_only_this_runs_message_and_old_leftovers() {
    let pair = Pair::start(&[]);
    // The user's own \Deleted message: a plain EXPUNGE or CLOSE would
    // remove it.
    pair.seed(
        "deleted",
        "T",
        600,
        &message("marked-deleted", "X-Other: 1"),
    );
    // Another run's message, inside the grace period.
    let young = format!("X-Imapcheck-Token: imapcheck-{HEX}");
    pair.seed("young", "", 60, &message("young-foreign-token", &young));
    // Old, but not our token's form.
    pair.seed(
        "odd",
        "",
        7200,
        &message("old-odd-token", "X-Imapcheck-Token: imapcheck-XYZ"),
    );
    // Old and of our form: a leftover, removed.
    let old = format!("X-Imapcheck-Token: imapcheck-{}", HEX.replace('0', "f"));
    pair.seed("old", "", 7200, &message("old-leftover", &old));
    let before = pair.truth();
    let subjects = |t: &Value| -> Vec<String> {
        let mut s: Vec<String> = t["INBOX"]["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["subject"].as_str().map(String::from))
            .collect();
        s.sort();
        s
    };
    assert!(
        subjects(&before).contains(&"old-leftover".to_string()),
        "{before:#}"
    );
    let (code, v, stderr) = pair.check(&[], &[]);
    assert_eq!(code, 0, "{v:#}\n{stderr}");
    let after = pair.truth();
    let mut expected = subjects(&before);
    expected.retain(|s| s != "old-leftover");
    assert_eq!(subjects(&after), expected, "{v:#}");
    assert!(
        detail(&v, "arrive").contains("1 left behind by earlier runs"),
        "{v:#}"
    );
    assert_eq!(
        v["round_trip"]["removed_uids"].as_array().map(Vec::len),
        Some(2)
    );
    // The \Deleted message is still \Deleted, and still there.
    let deleted = after["INBOX"]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["subject"] == "marked-deleted")
        .expect("the \\Deleted message survived");
    assert!(
        deleted["flags"].to_string().contains("Deleted"),
        "{deleted}"
    );
}

#[test]
fn keep_leaves_the_message_in_place() {
    let pair = Pair::start(&[]);
    let before = pair.truth();
    let (code, v, stderr) = pair.check(&["--keep"], &[]);
    assert_eq!(code, 0, "{v:#}\n{stderr}");
    assert!(detail(&v, "arrive").contains("kept (--keep)"), "{v:#}");
    let after = pair.truth();
    assert_eq!(
        after["INBOX"]["messages"].as_array().map(Vec::len),
        before["INBOX"]["messages"].as_array().map(|m| m.len() + 1)
    );
}

#[test]
fn without_uidplus_the_message_stays_marked_seen_and_nothing_is_expunged() {
    let pair = Pair::start(&["--no-uidplus"]);
    let before = pair.truth();
    let (code, v, transcript) = pair.check(&["-v"], &[]);
    assert_eq!(code, 1, "{v:#}\n{transcript}");
    assert!(
        detail(&v, "arrive").contains("lacks UIDPLUS (RFC 4315)"),
        "{v:#}"
    );
    let commands: Vec<&str> = transcript
        .lines()
        .filter(|l| l.starts_with("[tls] C: "))
        .collect();
    assert!(
        commands.iter().any(|c| c.contains("UID STORE")),
        "{transcript}"
    );
    for c in &commands {
        let verb = c.split(' ').nth(3).unwrap_or_default();
        assert!(
            !c.contains("EXPUNGE") && verb != "CLOSE",
            "sent {c} without UIDPLUS:\n{transcript}"
        );
    }
    let after = pair.truth();
    let inbox = after["INBOX"]["messages"].as_array().expect("INBOX");
    assert_eq!(
        Some(inbox.len()),
        before["INBOX"]["messages"].as_array().map(|m| m.len() + 1)
    );
    let ours = inbox.iter().find(|m| {
        m["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with("imapcheck round trip imapcheck-"))
    });
    assert!(
        ours.is_some_and(|m| m["flags"].to_string().contains("Seen")),
        "{after:#}"
    );
}

#[test]
fn perfdata_and_openmetrics_carry_the_delay() {
    let pair = Pair::start(&[]);
    let (code, out, stderr) = pair.check(&["--format", "nagios", "--arrival", "5,7"], &[]);
    assert_eq!(code, 0, "{out}\n{stderr}");
    let line = out.as_str().unwrap_or_default();
    let perf = line.split_once(" | ").map_or("", |(_, p)| p);
    let arrival = perf
        .split(' ')
        .find(|p| p.starts_with("arrival="))
        .unwrap_or_else(|| panic!("no arrival perfdata: {line}"));
    assert!(arrival.ends_with("s;5;7;0"), "{arrival}");
    assert!(
        perf.contains(" send=") && perf.contains(" arrive="),
        "{perf}"
    );
    let (code, out, stderr) = pair.check(&["--format", "openmetrics"], &[]);
    assert_eq!(code, 0, "{out}\n{stderr}");
    let text = out.as_str().unwrap_or_default();
    // Both strict parsers (promtool and prometheus_client) accept it.
    let metrics = common::metrics::read(text);
    assert!(metrics.get("imapcheck_arrival_seconds", &[("arrived_in", "INBOX")]) > 0.0);
    let sample = text
        .lines()
        .find(|l| l.starts_with("imapcheck_arrival_seconds{"))
        .unwrap_or_else(|| panic!("no imapcheck_arrival_seconds: {text}"));
    assert!(sample.contains("arrived_in=\"INBOX\""), "{sample}");
    let value: f64 = sample
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a number");
    assert!(value > 0.0 && value < 5.0, "{sample}");
    assert!(
        text.contains("imapcheck_round_trip_removed_messages{"),
        "{text}"
    );
}

#[test]
fn a_delay_above_the_thresholds_alerts_and_the_message_still_goes() {
    let pair = Pair::start(&[]);
    let before = pair.truth();
    let (code, v, stderr) = pair.check(&["--arrival", "0.001"], &[]);
    assert_eq!(code, 1, "{v:#}\n{stderr}");
    assert!(detail(&v, "arrive").contains("the delivery took"), "{v:#}");
    let (code, v, stderr) = pair.check(&["--arrival", "0.001,0.002"], &[]);
    assert_eq!(code, 2, "{v:#}\n{stderr}");
    assert_eq!(v["error"]["step"], "arrive", "{v:#}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("removed UID"),
        "{v:#}"
    );
    assert_eq!(step(&v, "logout")["status"], "ok", "{v:#}");
    assert_eq!(pair.truth(), before, "the mailbox is not as it was");
}

#[test]
fn a_round_trip_with_search_sends_logout_last() {
    let pair = Pair::start(&[]);
    let before = pair.truth();
    let (code, v, transcript) = pair.check(&["--search", "FROM carol@example.org", "-v"], &[]);
    assert_eq!(code, 0, "{v:#}\n{transcript}");
    assert_eq!(step(&v, "search")["status"], "ok", "{v:#}");
    assert_eq!(step(&v, "arrive")["status"], "ok", "{v:#}");
    let commands: Vec<&str> = transcript
        .lines()
        .filter_map(|l| l.strip_prefix("[tls] C: "))
        .collect();
    let logout = commands.iter().position(|c| c.ends_with(" LOGOUT"));
    let expunge = commands.iter().position(|c| c.contains(" UID EXPUNGE "));
    assert!(expunge.is_some() && logout > expunge, "{commands:#?}");
    assert_eq!(pair.truth(), before, "the mailbox is not as it was");
}
