// The round trip (--send-via) against real servers: Exim on loopback, run
// from its own configuration (tests/servers/throwaway-exim), delivering
// over LMTP into a throw-away Dovecot (throwaway-dovecot --lmtp-port).
// Each test starts its own pair on free ports, so they run side by side.
// An independent imaplib reading (tests/servers/imap-truth) before and
// after each round trip proves that exactly the one message came and went,
// and that messages the cleanup must not touch are still there. Without
// Dovecot's LMTP or Exim the tests fail and say what is missing.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

mod common;
use common::smtp_server::{SmtpMove, SmtpServer};

const SERVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers");

/// A Dovecot and the Exim that delivers into it; stopped on drop.
struct Pair {
    dovecot: PathBuf,
    exim: PathBuf,
    imap_tls: u16,
    smtp: u16,
    ca: String,
    pass_file: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn fresh_dir(what: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = PathBuf::from(format!("/tmp/icrt-{what}-{}-{nanos}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn script(name: &str, args: &[&str]) -> String {
    let out = Command::new(format!("{SERVERS}/{name}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kv<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

impl Pair {
    /// `variant`: throwaway-dovecot's --no-idle, --no-uidplus.
    fn start(variant: &[&str]) -> Pair {
        let pid = std::process::id().to_string();
        let dovecot = fresh_dir("dv");
        let exim = fresh_dir("ex");
        let (plain, tls, lmtp, smtp) = (free_port(), free_port(), free_port(), free_port());
        let (plain_s, tls_s, lmtp_s, smtp_s) = (
            plain.to_string(),
            tls.to_string(),
            lmtp.to_string(),
            smtp.to_string(),
        );
        let dv = dovecot.to_string_lossy().into_owned();
        let mut args = vec![
            "start",
            &dv,
            "--plain-port",
            &plain_s,
            "--tls-port",
            &tls_s,
            "--lmtp-port",
            &lmtp_s,
            "--watch-pid",
            &pid,
        ];
        args.extend(variant);
        let out = script("throwaway-dovecot", &args);
        let ca = kv(&out, "ca").to_string();
        let pass_file = kv(&out, "alice_pass_file").to_string();
        let ex = exim.to_string_lossy().into_owned();
        script(
            "throwaway-exim",
            &[
                "start",
                &ex,
                "--port",
                &smtp_s,
                "--lmtp-port",
                &lmtp_s,
                "--user",
                "alice",
                "--pass-file",
                &pass_file,
                "--watch-pid",
                &pid,
                "--certs-from",
                &dv,
            ],
        );
        Pair {
            dovecot,
            exim,
            imap_tls: tls,
            smtp,
            ca,
            pass_file,
        }
    }

    /// imapcheck over implicit TLS as alice, sending through Exim with
    /// STARTTLS, and `extra`; the exit status, the JSON (with another
    /// `--format` in `extra`, the output as a string) and stderr.
    fn check(&self, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
        let via = format!("127.0.0.1:{}", self.smtp);
        let port = self.imap_tls.to_string();
        let mut args = vec![
            "localhost",
            "-p",
            &port,
            "--security",
            "tls",
            "--ca-file",
            &self.ca,
            "-u",
            "alice",
            "--password-file",
            &self.pass_file,
            "--send-from",
            "alice@localhost",
        ];
        for (flag, default) in [
            ("--format", "json"),
            ("--send-to", "alice@localhost"),
            ("--send-via", via.as_str()),
            ("--send-security", "starttls"),
            ("-t", "8"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_imapcheck"))
            .args(&args)
            .envs(env.iter().copied())
            .env_remove("IMAPCHECK_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .expect("run imapcheck");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = if extra.contains(&"--format") {
            Value::String(stdout.into_owned())
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
        };
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), v, stderr)
    }

    /// Every folder's messages (UID, flags, subject) as imaplib reads them.
    fn truth(&self) -> Value {
        let out = Command::new(format!("{SERVERS}/imap-truth"))
            .args([
                "127.0.0.1",
                &self.imap_tls.to_string(),
                &self.ca,
                "alice",
                &self.pass_file,
            ])
            .output()
            .expect("imap-truth");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("imap-truth JSON");
        // The mailbox's contents, not how often it was read.
        let mut boxes = v["mailboxes"].clone();
        if let Some(map) = boxes.as_object_mut() {
            for mb in map.values_mut() {
                if let Some(list) = mb["messages"].as_array_mut() {
                    for m in list {
                        m.as_object_mut().map(|o| o.remove("seq"));
                    }
                }
            }
        }
        boxes
    }

    fn inbox(&self) -> PathBuf {
        self.dovecot.join("home/alice/Maildir")
    }

    /// Creates the folder `name` (Maildir++ `.name`), as its owner.
    fn add_folder(&self, name: &str) {
        let md = self.inbox();
        let owner = fs::metadata(&md).expect("maildir");
        let top = md.join(format!(".{name}"));
        for sub in ["", "cur", "new", "tmp"] {
            let dir = top.join(sub);
            fs::create_dir_all(&dir).expect("mkdir");
            std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).expect("chown");
        }
    }

    /// Puts a message straight into alice's INBOX Maildir, with maildir
    /// `flags` and an INTERNALDATE `age_secs` ago.
    fn seed(&self, name: &str, flags: &str, age_secs: u64, text: &str) {
        let md = self.inbox();
        let owner = fs::metadata(&md).expect("maildir");
        let path = md.join(format!("cur/{name}.seed:2,{flags}"));
        fs::write(&path, text).expect("seed");
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).expect("chown");
        let when = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            - age_secs;
        let ok = Command::new("touch")
            .arg("-d")
            .arg(format!("@{when}"))
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "touch {}", path.display());
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for (name, dir) in [
            ("throwaway-exim", &self.exim),
            ("throwaway-dovecot", &self.dovecot),
        ] {
            let _ = Command::new(format!("{SERVERS}/{name}"))
                .arg("stop")
                .arg(dir)
                .stdin(Stdio::null())
                .output();
            if std::env::var_os("IMAPCHECK_KEEP_DOVECOT").is_none() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

fn step<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {v}"))
}

fn detail<'a>(v: &'a Value, name: &str) -> &'a str {
    step(v, name)["detail"].as_str().unwrap_or_default()
}

fn max_uid(truth: &Value) -> u64 {
    truth["INBOX"]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["uid"].as_u64())
        .max()
        .unwrap_or(0)
}

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

const HEX: &str = "0123456789abcdef0123456789abcdef";

fn message(subject: &str, token_line: &str) -> String {
    format!(
        "From: <carol@example.org>\nTo: <alice@example.org>\nSubject: {subject}\nMessage-ID: <{subject}@example.org>\n{token_line}\n\nseeded by the round-trip tests\n"
    )
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
