// imapcheck against a real Dovecot: every security mode, LOGINDISABLED,
// login failures, EXAMINE/SELECT, folders that need encoding or quoting,
// the 20 MB --body fetch in bounded memory, passwords that never leak,
// certificates, IPv6, the default mode of the standard ports, and a check
// that nothing imapcheck does changes a message's flags.
//
// The instances come from tests/servers/throwaway-dovecot (see
// tests/real_support): one on 127.0.0.1, a --strict one on 127.0.0.2
// (LOGINDISABLED before TLS), one on ::1 and, as root, one on 127.0.0.3 with
// the standard ports 143/993. Each is started once per test binary, on
// first use. Without Dovecot (or without root for the standard ports) the
// tests that need it fail and say what is missing; none is skipped.
//
// Seed data (from the script): alice's INBOX holds 5 messages, UIDVALIDITY
// 1700000001: 1 \Seen; 2 RFC 2047 Subject/From, unseen; 3 multipart,
// \Flagged; 4 about 20 MB; 5 the newest, \Seen, "Newest message" from
// "Carol Example <carol@example.org>". Folders: Empty, Sent, "Deleted Items",
// Entwürfe, `Projects "2026" (Q1)`. bob has a non-ASCII password and an
// empty INBOX; carol has 2,000 folders.

mod common;
#[path = "real_support/mod.rs"]
mod real_support;

use real_support::*;
use serde_json::{Value, json};
use std::thread;

/// The folders of alice, as imapcheck reports them (LIST order is the
/// directory order, so compare sorted).
const ALICE_FOLDERS: [&str; 6] = [
    "Deleted Items",
    "Empty",
    "Entwürfe",
    "INBOX",
    "Projects \"2026\" (Q1)",
    "Sent",
];

const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Asserts what every complete, successful check of alice's INBOX reports
/// about the mailbox and the default message (the newest, #5).
#[track_caller]
fn assert_inbox_and_newest(o: &Out, inst: &Instance, read_only: bool) {
    assert_eq!(
        sorted(o.strings("folders")),
        ALICE_FOLDERS,
        "folders{}",
        o.ctx()
    );
    o.eq("folder_count", 6);
    o.eq("mailbox.name", "INBOX");
    o.eq("mailbox.exists", inst.inbox_exists);
    o.eq("mailbox.recent", 0);
    o.eq("mailbox.unseen", 2);
    o.eq("mailbox.uidvalidity", 1_700_000_001u64);
    o.eq("mailbox.uidnext", 6);
    o.eq("mailbox.flags", json!(SYSTEM_FLAGS));
    o.eq("mailbox.read_only", read_only);
    if read_only {
        o.eq("mailbox.permanent_flags", json!([]));
    } else {
        let mut pf: Vec<&str> = SYSTEM_FLAGS.to_vec();
        pf.push("\\*");
        o.eq("mailbox.permanent_flags", json!(pf));
    }
    // The default message is the newest: n = EXISTS.
    o.eq("message.seq", 5);
    o.eq("message.size", inst.inbox_size(5));
    o.eq("message.flags", json!(["\\Seen"]));
    o.eq("message.subject", "Newest message");
    o.eq("message.subject_raw", "Newest message");
    o.eq("message.from", "Carol Example <carol@example.org>");
    o.eq("message.from_raw", "Carol Example <carol@example.org>");
    o.eq("message.body_bytes", Value::Null);
    let date = o.str("message.internal_date");
    assert_eq!(
        parse_internal_date(date),
        Some(inst.inbox_epoch(5)),
        "internal_date {date:?}{}",
        o.ctx()
    );
}

/// The certificate as the throw-away CA made it.
#[track_caller]
fn assert_test_certificate(o: &Out, inst: &Instance, verified: bool) {
    let server_pem = inst.dir.join("server.pem");
    let server_pem = server_pem.to_str().unwrap();
    o.eq("tls.verified", verified);
    o.eq("tls.subject", "CN=localhost");
    let ca_subject = openssl_x509(&inst.ca, &["-subject", "-nameopt", "RFC2253"]);
    assert_eq!(ca_subject, "CN=imapcheck throwaway test CA");
    o.eq("tls.issuer", ca_subject.as_str());
    let not_after = parse_openssl_date(&openssl_x509(server_pem, &["-enddate"]))
        .expect("openssl -enddate format");
    o.eq("tls.not_after", rfc3339(not_after).as_str());
    let days = o
        .at("tls.days_left")
        .as_i64()
        .expect("days_left is a number");
    assert!(days == 364 || days == 365, "days_left {days}{}", o.ctx());
    // imapcheck's "now" was a moment before ours.
    let now = now_unix();
    let possible = [
        (not_after - now).div_euclid(86400),
        (not_after - now + 60).div_euclid(86400),
    ];
    assert!(
        possible.contains(&days),
        "days_left {days} vs not_after{}",
        o.ctx()
    );
}

/// The greeting names this very instance (the script's instance_name is
/// derived from its directory), so no other server answered.
fn greeting_ok(o: &Out, inst: &Instance) {
    let g = o.str("greeting");
    let base = inst.dir.file_name().unwrap().to_string_lossy();
    assert!(
        g.starts_with("* OK [CAPABILITY IMAP4rev1 ")
            && g.contains(&format!("] Dovecot ready (dovecot-tw-{base}-"))
            && g.ends_with(")."),
        "greeting {g:?}{}",
        o.ctx()
    );
}

/// Asserts every step's status: `ok` unless `set` says otherwise. A name
/// ending in ".." sets that step and every later one but logout. After a
/// `failed` step the later ones default to `skipped`, logout to `ok`.
#[track_caller]
fn expect_steps(o: &Out, security: &str, open: &'static str, set: &[(&str, &str)]) {
    let mut want: Vec<(String, String)> = Vec::new();
    let mut failed = false;
    let mut from: Option<&str> = None;
    for name in step_order(security, open) {
        if let Some((_, st)) = set.iter().find(|(n, _)| n.strip_suffix("..") == Some(name)) {
            from = Some(st);
        }
        let status = if let Some((_, st)) = set.iter().find(|(n, _)| *n == name) {
            *st
        } else if name == "logout" {
            "ok"
        } else if let Some(st) = from {
            st
        } else if failed {
            "skipped"
        } else {
            "ok"
        };
        failed |= status == "failed";
        want.push((name.to_string(), status.to_string()));
    }
    for (n, _) in set {
        let bare = n.strip_suffix("..").unwrap_or(n);
        assert!(
            want.iter().any(|(w, _)| w == bare),
            "expect_steps: no step {bare} in {security} mode"
        );
    }
    assert_eq!(o.steps(), want, "steps{}", o.ctx());
}

// ---------------------------------------------------------------------------
// Every security mode, complete checks
// ---------------------------------------------------------------------------

#[test]
fn full_check_over_starttls_is_ok() {
    let inst = normal();
    let o = ic(&inst.args("starttls", Some("alice")));
    o.verdict("ok", 0);
    o.eq("host", inst.addr.as_str());
    o.eq("port", inst.plain_port);
    o.eq("security", "starttls");
    o.eq("address", inst.sockaddr(inst.plain_port).as_str());
    expect_steps(&o, "starttls", "examine", &[]);
    greeting_ok(&o, inst);
    // Before TLS the server offers STARTTLS; after TLS and login it does not.
    o.contains("greeting", " STARTTLS ");
    let caps = o.strings("capabilities");
    assert!(caps.iter().any(|c| c == "IMAP4rev1"), "{caps:?}");
    assert!(
        caps.iter().any(|c| c == "QUOTA"),
        "post-login capabilities expected: {caps:?}"
    );
    assert!(!caps.iter().any(|c| c == "STARTTLS"), "{caps:?}");
    assert!(
        o.step_detail("starttls")
            .contains("capabilities after TLS: IMAP4rev1 "),
        "{}",
        o.ctx()
    );
    let login = format!("alice via LOGIN; {} capabilities after login", caps.len());
    assert!(o.step_detail("login").starts_with(&login), "{}", o.ctx());
    assert_eq!(o.step_detail("logout"), "* BYE Logging out", "{}", o.ctx());
    assert_test_certificate(&o, inst, true);
    assert_inbox_and_newest(&o, inst, true);
    o.eq("alerts", json!([]));
    o.eq("error", Value::Null);
    let elapsed = o.at("elapsed_ms").as_f64().expect("elapsed_ms");
    assert!(elapsed > 0.0 && elapsed < 10_000.0, "{}", o.ctx());
}

#[test]
fn full_check_over_implicit_tls_is_ok() {
    let inst = normal();
    let o = ic(&inst.args("tls", Some("alice")));
    o.verdict("ok", 0);
    o.eq("port", inst.tls_port);
    o.eq("security", "tls");
    o.eq("address", inst.sockaddr(inst.tls_port).as_str());
    expect_steps(&o, "tls", "examine", &[]);
    greeting_ok(&o, inst);
    assert!(
        !o.str("greeting").contains("STARTTLS"),
        "no STARTTLS inside TLS{}",
        o.ctx()
    );
    assert_test_certificate(&o, inst, true);
    assert_inbox_and_newest(&o, inst, true);
    o.eq("error", Value::Null);
}

#[test]
fn full_check_in_cleartext_warns_about_credentials() {
    let inst = normal();
    let o = ic(&inst.args("none", Some("alice")));
    // Everything works; the findings are about cleartext credentials only.
    o.verdict("warning", 1);
    o.eq("security", "none");
    o.eq("port", inst.plain_port);
    // The password went in cleartext (login), on a port that allows it
    // (capability).
    expect_steps(
        &o,
        "none",
        "examine",
        &[("capability", "warning"), ("login", "warning")],
    );
    assert!(
        o.step_detail("capability").starts_with(
            "the server accepts credentials in cleartext on this port (no LOGINDISABLED)"
        ),
        "{}",
        o.ctx()
    );
    let login = format!(
        "credentials sent in cleartext (--security none); alice via LOGIN; {} capabilities after login",
        o.strings("capabilities").len()
    );
    assert!(o.step_detail("login").starts_with(&login), "{}", o.ctx());
    o.eq("tls", Value::Null);
    assert_inbox_and_newest(&o, inst, true);
    o.eq("error", Value::Null);
}

#[test]
fn without_user_only_connection_steps_run() {
    let inst = normal();
    for (mode, secure_step) in [("starttls", "starttls"), ("tls", "tls")] {
        let o = ic(&inst.args(mode, None));
        o.verdict("ok", 0);
        expect_steps(&o, mode, "examine", &[("login..", "skipped")]);
        assert_eq!(o.step_detail("login"), "no --user given", "{}", o.ctx());
        assert!(
            o.step_detail(secure_step)
                .starts_with("verified; subject CN=localhost"),
            "{}",
            o.ctx()
        );
        assert_test_certificate(&o, inst, true);
        o.eq("folders", json!([]));
        o.eq("folder_count", 0);
        o.eq("mailbox", Value::Null);
        o.eq("message", Value::Null);
        o.eq("error", Value::Null);
    }
}

// ---------------------------------------------------------------------------
// Login
// ---------------------------------------------------------------------------

#[test]
fn wrong_password_is_critical_at_login() {
    let inst = normal();
    let wrong = inst.dir.join("wrong.pass");
    std::fs::write(&wrong, "not alice's password").unwrap();
    let mut args = inst.args("starttls", None);
    args = with(
        &args,
        &["-u", "alice", "--password-file", wrong.to_str().unwrap()],
    );
    let o = ic(&args);
    o.verdict("critical", 2);
    expect_steps(&o, "starttls", "examine", &[("login", "failed")]);
    o.eq("error.step", "login");
    o.eq("error.message", "the server refused the login (NO)");
    o.eq("error.expected", "a tagged OK to LOGIN");
    o.contains(
        "error.got",
        " NO [AUTHENTICATIONFAILED] Authentication failed.",
    );
    o.eq(
        "error.hint",
        "wrong user name or password, or the account is locked or disabled",
    );
    o.eq("mailbox", Value::Null);
    o.eq("message", Value::Null);
}

/// alice's password has a space, double quotes and a backslash; bob's is
/// non-ASCII. Each comes from the file, IMAPCHECK_PASSWORD and stdin, with
/// LOGIN and AUTHENTICATE PLAIN, in every mode, with `-v` and
/// RUST_LOG=trace — and never shows up in the output.
#[test]
fn tricky_and_non_ascii_passwords_work_from_every_source_and_never_leak() {
    let inst = normal();
    let mut cases = Vec::new();
    for user in ["alice", "bob"] {
        for (source, mode) in [("file", "tls"), ("env", "starttls"), ("stdin", "none")] {
            for auth in ["login", "plain"] {
                cases.push((user, source, mode, auth));
            }
        }
    }
    let results: Vec<_> = thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|&(user, source, mode, auth)| {
                s.spawn(move || {
                    let pass = inst.password(user);
                    let mut args = inst.args(mode, None);
                    args = with(&args, &["-u", user, "--auth", auth, "-v", "--no-fetch"]);
                    let mut env = vec![("RUST_LOG", "trace")];
                    let mut stdin = None;
                    let line = format!("{pass}\n");
                    match source {
                        "file" => args = with(&args, &["--password-file", inst.pass_file(user)]),
                        "env" => env.push(("IMAPCHECK_PASSWORD", pass.as_str())),
                        _ => {
                            args = with(&args, &["--password-stdin"]);
                            stdin = Some(line.as_bytes());
                        }
                    }
                    let o = ic_with(&args, &env, stdin);
                    (user, source, mode, auth, pass.clone(), o)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (user, source, mode, auth, pass, o) in results {
        let what = format!("{user}, password from {source}, --security {mode}, --auth {auth}");
        let (status, code, login) = if mode == "none" {
            ("warning", 1, "warning")
        } else {
            ("ok", 0, "ok")
        };
        assert_eq!(o.run.status, code, "{what}{}", o.ctx());
        o.eq("status", status);
        assert_eq!(o.step("login")["status"], login, "{what}{}", o.ctx());
        let method = if auth == "plain" {
            "AUTHENTICATE PLAIN"
        } else {
            "LOGIN"
        };
        assert!(
            o.step_detail("login")
                .contains(&format!("{user} via {method}; ")),
            "{what}{}",
            o.ctx()
        );
        assert_eq!(o.step("fetch")["detail"], "--no-fetch", "{what}{}", o.ctx());
        // The transcript is there (so the absence below means something),
        // with the secret masked.
        let masked = if auth == "plain" {
            "AUTHENTICATE PLAIN ***".to_string()
        } else if user == "alice" {
            "LOGIN alice ***".to_string()
        } else {
            // Non-ASCII goes as a literal after the user name.
            "LOGIN bob {***".to_string()
        };
        assert!(
            o.run.stderr.contains(&masked),
            "{what}: transcript lacks {masked:?}{}",
            o.ctx()
        );
        assert!(o.run.stderr.contains("***"), "{what}{}", o.ctx());
        assert!(
            o.run.stderr.contains(" TRACE "),
            "{what}: RUST_LOG=trace had no effect{}",
            o.ctx()
        );
        for form in secret_forms(user, &pass) {
            assert!(
                !o.run.stdout.contains(&form),
                "{what}: password form {form:?} on stdout{}",
                o.ctx()
            );
            assert!(
                !o.run.stderr.contains(&form),
                "{what}: password form {form:?} on stderr{}",
                o.ctx()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Folders
// ---------------------------------------------------------------------------

#[test]
fn examine_is_the_default_and_read_only() {
    let inst = normal();
    let o = ic(&with(&inst.args("tls", Some("alice")), &["-v"]));
    o.verdict("ok", 0);
    assert!(o.steps().iter().any(|(s, _)| s == "examine"), "{}", o.ctx());
    assert!(!o.steps().iter().any(|(s, _)| s == "select"), "{}", o.ctx());
    assert!(
        o.step_detail("examine").ends_with(", read-only"),
        "{}",
        o.ctx()
    );
    assert_inbox_and_newest(&o, inst, true);
    let cmds = o.commands_sent();
    assert!(
        cmds.contains(&"EXAMINE".to_string()) && !cmds.contains(&"SELECT".to_string()),
        "{cmds:?}"
    );
}

#[test]
fn select_opens_read_write() {
    let inst = normal();
    let o = ic(&with(&inst.args("tls", Some("alice")), &["--select", "-v"]));
    o.verdict("ok", 0);
    expect_steps(&o, "tls", "select", &[]);
    assert_eq!(
        o.step_detail("select"),
        "INBOX: 5 messages, 0 recent, first unseen #2, UIDVALIDITY 1700000001, UIDNEXT 6, read-write",
        "{}",
        o.ctx()
    );
    assert_inbox_and_newest(&o, inst, false);
    let cmds = o.commands_sent();
    assert!(
        cmds.contains(&"SELECT".to_string()) && !cmds.contains(&"EXAMINE".to_string()),
        "{cmds:?}"
    );
    // Never anything that writes.
    for w in [
        "STORE", "EXPUNGE", "CREATE", "DELETE", "APPEND", "COPY", "MOVE", "CLOSE", "UID",
    ] {
        assert!(!cmds.iter().any(|c| c == w), "{w} sent: {cmds:?}");
    }
}

#[test]
fn missing_folder_is_critical_with_the_nearest_names() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("starttls", Some("alice")),
        &["--folder", "Deleted Itemz"],
    ));
    o.verdict("critical", 2);
    expect_steps(&o, "starttls", "examine", &[("examine", "failed")]);
    o.eq("error.step", "examine");
    o.eq(
        "error.message",
        "the server refused to open folder \"Deleted Itemz\"",
    );
    o.eq("error.expected", "a tagged OK to EXAMINE");
    o.contains("error.got", " NO Mailbox doesn't exist: Deleted Itemz");
    o.eq(
        "error.hint",
        "closest folder names from LIST: Deleted Items",
    );
    o.eq("mailbox", Value::Null);
    o.eq("message", Value::Null);
}

#[test]
fn non_ascii_folder_is_listed_and_opened() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("tls", Some("alice")),
        &["--folder", "Entwürfe", "-v"],
    ));
    o.verdict("ok", 0);
    assert!(
        o.strings("folders").iter().any(|f| f == "Entwürfe"),
        "{}",
        o.ctx()
    );
    o.eq("mailbox.name", "Entwürfe");
    o.eq("mailbox.exists", 1);
    o.eq("mailbox.uidvalidity", 1_700_000_005u64);
    o.eq("mailbox.uidnext", 2);
    o.eq("mailbox.unseen", 1);
    o.eq("message.seq", 1);
    o.eq("message.subject", "Draft");
    o.eq("message.from", "Alice <alice@example.org>");
    o.eq("message.flags", json!([]));
    // On the wire: modified UTF-7, both in LIST and in EXAMINE.
    assert!(
        o.run
            .stderr
            .contains("S: * LIST (\\HasNoChildren) \".\" Entw&APw-rfe"),
        "{}",
        o.ctx()
    );
    assert!(
        o.run.stderr.contains(" EXAMINE Entw&APw-rfe\n"),
        "{}",
        o.ctx()
    );
    assert!(!o.run.stderr.contains("EXAMINE Entwürfe"), "{}", o.ctx());
}

#[test]
fn folder_names_needing_quotes_open() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("tls", Some("alice")),
        &["--folder", "Projects \"2026\" (Q1)", "-v"],
    ));
    o.verdict("ok", 0);
    o.eq("mailbox.name", "Projects \"2026\" (Q1)");
    o.eq("mailbox.exists", 0);
    o.eq("mailbox.uidvalidity", 1_700_000_006u64);
    assert!(
        o.run
            .stderr
            .contains(" EXAMINE \"Projects \\\"2026\\\" (Q1)\"\n"),
        "{}",
        o.ctx()
    );
    assert_eq!(o.step("fetch")["status"], "skipped", "{}", o.ctx());

    let o = ic(&with(
        &inst.args("starttls", Some("alice")),
        &["--folder", "Deleted Items"],
    ));
    o.verdict("ok", 0);
    o.eq("mailbox.name", "Deleted Items");
    o.eq("mailbox.exists", 1);
    o.eq("mailbox.uidvalidity", 1_700_000_004u64);
    o.eq("message.subject", "Deleted one");
    o.eq("message.flags", json!(["\\Seen"]));
}

#[test]
fn empty_folder_skips_the_fetch() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("starttls", Some("alice")),
        &["--folder", "Empty"],
    ));
    o.verdict("ok", 0);
    expect_steps(&o, "starttls", "examine", &[("fetch", "skipped")]);
    assert_eq!(o.step_detail("fetch"), "the folder is empty", "{}", o.ctx());
    o.eq("mailbox.name", "Empty");
    o.eq("mailbox.exists", 0);
    o.eq("mailbox.recent", 0);
    o.eq("mailbox.unseen", Value::Null);
    o.eq("mailbox.uidvalidity", 1_700_000_002u64);
    o.eq("mailbox.uidnext", 1);
    o.eq("message", Value::Null);
    o.eq("error", Value::Null);
}

#[test]
fn two_thousand_folders_are_listed() {
    let inst = normal();
    let o = ic(&inst.args("tls", Some("carol")));
    o.verdict("ok", 0);
    o.eq("folder_count", inst.carol_folders as u64 + 1);
    o.eq("folder_count", 2001);
    let folders = sorted(o.strings("folders"));
    assert_eq!(folders.len(), 2001, "{}", o.ctx());
    let mut want: Vec<String> = (1..=2000).map(|i| format!("Folder{i:04}")).collect();
    want.push("INBOX".into());
    assert_eq!(folders, want);
    assert!(
        o.step_detail("list").starts_with("2001 folders: "),
        "{}",
        o.ctx()
    );
    o.eq("mailbox.exists", 0);
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

#[test]
fn big_message_body_streams_in_bounded_memory() {
    let inst = normal();
    let big = inst.big_seq.to_string();
    let (o, peak_kib) = run_measuring_peak(&with(
        &inst.args("tls", Some("alice")),
        &["--body", "--message", &big],
    ));
    o.verdict("ok", 0);
    assert_eq!(inst.big_size, inst.inbox_size(4), "the script's big_size");
    o.eq("message.seq", inst.big_seq);
    o.eq("message.size", inst.big_size);
    o.eq("message.body_bytes", inst.big_size);
    o.eq("message.subject", "Big attachment");
    o.eq("message.flags", json!([]));
    assert!(inst.big_size > 20_000_000, "big_size {}", inst.big_size);
    assert!(
        o.step_detail("fetch")
            .ends_with(&format!("; body {} bytes", inst.big_size)),
        "{}",
        o.ctx()
    );
    eprintln!(
        "imapcheck --body on the {} byte message: peak RSS {peak_kib} KiB",
        inst.big_size
    );
    assert!(peak_kib > 500, "implausible ru_maxrss {peak_kib} KiB");
    assert!(
        peak_kib < 16 * 1024,
        "imapcheck's peak RSS {peak_kib} KiB for a {} byte body is not under 16 MiB{}",
        inst.big_size,
        o.ctx()
    );
}

/// Message 2 has an RFC 2047 encoded Subject (UTF-8, B) and From name
/// (ISO-8859-1, Q): decoded in `subject`/`from`, as sent in the `_raw` ones.
#[test]
fn rfc2047_headers_are_decoded_and_kept_raw() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("starttls", Some("alice")),
        &["--message", "2"],
    ));
    o.verdict("ok", 0);
    o.eq("message.seq", 2);
    o.eq("message.size", inst.inbox_size(2));
    o.eq("message.flags", json!([]));
    let raw_subject = format!("=?UTF-8?B?{}?=", base64("Grüße aus Köln ✓".as_bytes()));
    o.eq("message.subject_raw", raw_subject.as_str());
    o.eq(
        "message.subject_raw",
        "=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4pyT?=",
    );
    o.eq("message.subject", "Grüße aus Köln ✓");
    o.eq(
        "message.from_raw",
        "=?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>",
    );
    o.eq("message.from", "Jörg Müller <joerg@example.org>");
    o.eq("message.undecoded_charsets", json!([]));
    let date = o.str("message.internal_date");
    assert_eq!(
        parse_internal_date(date),
        Some(inst.inbox_epoch(2)),
        "{date}"
    );

    // The multipart one, \Flagged.
    let o = ic(&with(
        &inst.args("starttls", Some("alice")),
        &["--message", "3"],
    ));
    o.verdict("ok", 0);
    o.eq("message.seq", 3);
    o.eq("message.size", inst.inbox_size(3));
    o.eq("message.flags", json!(["\\Flagged"]));
    o.eq("message.subject", "Report with attachment");
    o.eq("message.subject_raw", "Report with attachment");
    o.eq("message.from", "Bob <bob@example.org>");
}

#[test]
fn no_fetch_skips_the_fetch() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("tls", Some("alice")),
        &["--no-fetch", "-v"],
    ));
    o.verdict("ok", 0);
    expect_steps(&o, "tls", "examine", &[("fetch", "skipped")]);
    assert_eq!(o.step_detail("fetch"), "--no-fetch", "{}", o.ctx());
    o.eq("mailbox.exists", 5);
    o.eq("message", Value::Null);
    assert!(
        !o.commands_sent().contains(&"FETCH".to_string()),
        "{}",
        o.ctx()
    );
}

#[test]
fn message_beyond_exists_is_critical_at_fetch() {
    let inst = normal();
    let o = ic(&with(&inst.args("tls", Some("alice")), &["--message", "6"]));
    o.verdict("critical", 2);
    o.eq("error.step", "fetch");
    o.eq(
        "error.message",
        "message 6 does not exist: the folder has 5",
    );
    assert_eq!(o.step("logout")["status"], "ok", "{}", o.ctx());
}

/// Everything that reads messages — every mode, EXAMINE and SELECT, the
/// default fetch, --body, every message — and afterwards every message
/// still has exactly the flags it was seeded with, both in the maildir file
/// names and as the server reports them.
#[test]
fn checks_never_change_flags() {
    let inst = normal();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for mode in ["tls", "starttls", "none"] {
        let base = inst.args(mode, Some("alice"));
        runs.push(base.clone());
        runs.push(with(&base, &["--select"]));
        for n in ["1", "2", "3", "5"] {
            runs.push(with(&base, &["--select", "--body", "--message", n]));
        }
    }
    runs.push(with(
        &inst.args("tls", Some("alice")),
        &["--select", "--body", "--message", "4"],
    ));
    runs.push(with(
        &inst.args("tls", Some("alice")),
        &["--select", "--body", "--folder", "Entwürfe"],
    ));
    let outs: Vec<Out> = thread::scope(|s| {
        let hs: Vec<_> = runs.iter().map(|a| s.spawn(move || ic(a))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        let security = o.str("security");
        let (status, code) = if security == "none" {
            ("warning", 1)
        } else {
            ("ok", 0)
        };
        o.verdict(status, code);
        if o.args.iter().any(|a| a == "--body") {
            o.eq("message.body_bytes", o.u64("message.size"));
        }
    }
    // The maildir: file names carry the flags (S = \Seen, F = \Flagged).
    assert_eq!(maildir_flags(&inst.inbox_maildir()), inst.initial_inbox);
    let seeded: Vec<&str> = inst.initial_inbox.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(seeded, ["S", "", "F", "", "S"]);
    let drafts = inst.inbox_maildir().join(".Entw&APw-rfe");
    let draft_flags: Vec<String> = maildir_flags(&drafts).into_iter().map(|(_, f)| f).collect();
    assert_eq!(draft_flags, [""]);
    // And as the server reports them, over a fresh connection.
    let want = [
        json!(["\\Seen"]),
        json!([]),
        json!(["\\Flagged"]),
        json!([]),
        json!(["\\Seen"]),
    ];
    let outs: Vec<Out> = thread::scope(|s| {
        let hs: Vec<_> = (1..=5)
            .map(|n| {
                s.spawn(move || {
                    let n = n.to_string();
                    ic(&with(&inst.args("tls", Some("alice")), &["--message", &n]))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (i, o) in outs.iter().enumerate() {
        o.verdict("ok", 0);
        o.eq("message.seq", i as u64 + 1);
        o.eq("message.flags", want[i].clone());
        o.eq("mailbox.unseen", 2);
    }
}

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

#[test]
fn certificate_fields_are_reported() {
    let inst = normal();
    let o = ic(&inst.args("tls", None));
    o.verdict("ok", 0);
    assert_test_certificate(&o, inst, true);
    let days = o.at("tls.days_left").as_i64().unwrap();
    let want = format!(
        "verified; subject CN=localhost; issuer CN=imapcheck throwaway test CA; expires {} ({days} days)",
        o.str("tls.not_after")
    );
    let detail = o.step_detail("tls");
    assert!(detail.starts_with(&want), "{}", o.ctx());
    // Then what the handshake negotiated and the chain as sent (issue 22).
    assert!(detail.contains("; TLS 1.3, TLS_"), "{}", o.ctx());
    assert!(
        detail.contains("; chain as sent: 1 certificate, reaches a trusted root by itself"),
        "{}",
        o.ctx()
    );
}

#[test]
fn unknown_ca_is_critical_and_no_password_is_sent() {
    let inst = normal();
    for mode in ["tls", "starttls"] {
        let args = vec![
            inst.addr.clone(),
            "-p".into(),
            inst.port(mode).to_string(),
            "--security".into(),
            mode.into(),
            "-u".into(),
            "alice".into(),
            "--password-file".into(),
            inst.alice_pass_file.clone(),
            "-v".into(),
            "--format".into(),
            "json".into(),
        ];
        let o = ic(&args);
        o.verdict("critical", 2);
        // No connection left to log out on.
        expect_steps(
            &o,
            mode,
            "examine",
            &[(mode, "failed"), ("logout", "skipped")],
        );
        o.eq("error.step", mode);
        // The issuer the server did not send, and this host does not trust,
        // is named (issue 22).
        o.eq(
            "error.message",
            "the server certificate is not issued by a trusted CA: the server sent only its own certificate, and its issuer CN=imapcheck throwaway test CA is not trusted here",
        );
        o.eq(
            "error.expected",
            "a certificate chain that reaches a trusted root",
        );
        o.contains("error.got", "certificate verify failed");
        o.contains("error.got", "(unable to get local issuer certificate)");
        o.contains("error.hint", "--ca-file");
        o.eq("tls", Value::Null);
        let cmds = o.commands_sent();
        let want_cmds: Vec<String> = if mode == "tls" {
            vec![]
        } else {
            vec!["STARTTLS".into()]
        };
        assert_eq!(cmds, want_cmds, "{}", o.ctx());
    }
}

#[test]
fn insecure_skips_verification_with_a_warning() {
    let inst = normal();
    let args = vec![
        inst.addr.clone(),
        "-p".into(),
        inst.tls_port.to_string(),
        "--security".into(),
        "tls".into(),
        "--insecure".into(),
        "-u".into(),
        "alice".into(),
        "--password-file".into(),
        inst.alice_pass_file.clone(),
        "--format".into(),
        "json".into(),
    ];
    let o = ic(&args);
    o.verdict("warning", 1);
    expect_steps(&o, "tls", "examine", &[("tls", "warning")]);
    assert!(
        o.step_detail("tls")
            .starts_with("certificate not verified (--insecure); subject CN=localhost; "),
        "{}",
        o.ctx()
    );
    assert_test_certificate(&o, inst, false);
    assert_inbox_and_newest(&o, inst, true);
    o.eq("error", Value::Null);
}

// ---------------------------------------------------------------------------
// IPv6
// ---------------------------------------------------------------------------

#[test]
fn ipv6_loopback_in_both_tls_modes() {
    let inst = ipv6();
    assert_eq!(inst.addr, "::1");
    for (host, mode) in [("::1", "tls"), ("[::1]", "starttls")] {
        let mut args = inst.args(mode, Some("alice"));
        args[0] = host.into();
        args.push("-6".into());
        let o = ic(&args);
        o.verdict("ok", 0);
        o.eq("security", mode);
        o.eq("address", format!("[::1]:{}", inst.port(mode)).as_str());
        assert_test_certificate(&o, inst, true);
        assert_inbox_and_newest(&o, inst, true);
    }
}

// ---------------------------------------------------------------------------
// The strict instance: LOGINDISABLED before TLS
// ---------------------------------------------------------------------------

#[test]
fn logindisabled_stops_login_in_cleartext() {
    let inst = strict();
    for auth in ["login", "plain"] {
        let o = ic(&with(
            &inst.args("none", Some("alice")),
            &["--auth", auth, "-v"],
        ));
        o.verdict("critical", 2);
        // LOGINDISABLED: the port does not take passwords in cleartext,
        // so the capability step has nothing to warn about.
        expect_steps(&o, "none", "examine", &[("login", "failed")]);
        o.contains("greeting", " LOGINDISABLED]");
        let caps = o.strings("capabilities");
        assert!(caps.iter().any(|c| c == "LOGINDISABLED"), "{caps:?}");
        assert!(!caps.iter().any(|c| c.starts_with("AUTH=")), "{caps:?}");
        o.eq("error.step", "login");
        if auth == "login" {
            o.eq(
                "error.message",
                "the server forbids LOGIN on this connection (LOGINDISABLED); the password was not sent",
            );
            o.contains("error.got", "LOGINDISABLED");
            o.contains("error.hint", "--security starttls");
        } else {
            let m = o.str("error.message");
            assert!(
                m.starts_with("the server does not offer AUTHENTICATE PLAIN here; the ")
                    && m.ends_with(" was not sent"),
                "{}",
                o.ctx()
            );
            o.contains("error.hint", "--security starttls");
        }
        // The transcript shows what was sent: no LOGIN, no AUTHENTICATE.
        let cmds = o.commands_sent();
        assert!(
            cmds.contains(&"LOGOUT".to_string())
                && !cmds.iter().any(|c| c == "LOGIN" || c == "AUTHENTICATE"),
            "{cmds:?}{}",
            o.ctx()
        );
        for form in secret_forms("alice", &inst.password("alice")) {
            assert!(
                !o.run.stderr.contains(&form) && !o.run.stdout.contains(&form),
                "{form:?}"
            );
        }
    }
}

#[test]
fn strict_server_accepts_login_after_starttls_and_on_the_tls_port() {
    let inst = strict();
    // The same server, the same plain port: STARTTLS first, then LOGIN.
    let o = ic(&with(&inst.args("starttls", Some("alice")), &["-v"]));
    o.verdict("ok", 0);
    o.contains("greeting", " LOGINDISABLED]");
    assert!(
        !o.step_detail("starttls").contains("LOGINDISABLED"),
        "{}",
        o.ctx()
    );
    assert!(
        !o.strings("capabilities")
            .iter()
            .any(|c| c == "LOGINDISABLED"),
        "{}",
        o.ctx()
    );
    // STARTTLS first; LOGIN once, only after TLS is up.
    let cmds = o.commands_sent();
    assert_eq!(
        cmds.first().map(String::as_str),
        Some("STARTTLS"),
        "{}",
        o.ctx()
    );
    assert_eq!(
        cmds.iter().filter(|c| *c == "LOGIN").count(),
        1,
        "{}",
        o.ctx()
    );
    assert!(
        o.run
            .stderr
            .lines()
            .any(|l| l.starts_with("[tls] C: ") && l.ends_with(" LOGIN alice ***")),
        "{}",
        o.ctx()
    );
    assert!(
        o.run.stderr.contains("[tls] C: ") && o.run.stderr.contains(" LOGIN alice ***"),
        "{}",
        o.ctx()
    );
    assert_inbox_and_newest(&o, inst, true);

    let o = ic(&inst.args("tls", Some("alice")));
    o.verdict("ok", 0);
    assert!(!o.str("greeting").contains("LOGINDISABLED"), "{}", o.ctx());
    assert_inbox_and_newest(&o, inst, true);
}

// ---------------------------------------------------------------------------
// The standard ports: the default mode of each
// ---------------------------------------------------------------------------

fn require_root() {
    assert!(
        is_root(),
        "this test needs root: it runs Dovecot on the standard IMAP ports 143 and 993 to check \
         the default security mode of each port (CI runs as root)"
    );
}

/// `imapcheck HOST` means STARTTLS on 143; `imapcheck HOST -p 993` means
/// implicit TLS. (The throw-away certificate names localhost, 127.0.0.1,
/// 127.0.0.2 and ::1 only, so these runs use --insecure; the verified
/// handshake with the right name is covered above, the wrong name below.)
#[test]
fn default_security_follows_the_port() {
    require_root();
    let inst = std_ports();
    assert_eq!((inst.plain_port, inst.tls_port), (143, 993));
    let base = [
        inst.addr.as_str(),
        "--insecure",
        "-u",
        "alice",
        "--password-file",
        inst.alice_pass_file.as_str(),
        "--format",
        "json",
    ];
    let base: Vec<String> = base.iter().map(|s| s.to_string()).collect();

    let o = ic(&base);
    o.verdict("warning", 1);
    o.eq("port", 143);
    o.eq("security", "starttls");
    o.eq("address", inst.sockaddr(143).as_str());
    expect_steps(&o, "starttls", "examine", &[("starttls", "warning")]);
    assert!(
        o.step_detail("starttls")
            .starts_with("certificate not verified (--insecure); "),
        "{}",
        o.ctx()
    );
    assert_test_certificate(&o, inst, false);
    assert_inbox_and_newest(&o, inst, true);

    let o = ic(&with(&base, &["-p", "993"]));
    o.verdict("warning", 1);
    o.eq("port", 993);
    o.eq("security", "tls");
    o.eq("address", inst.sockaddr(993).as_str());
    expect_steps(&o, "tls", "examine", &[("tls", "warning")]);
    assert_test_certificate(&o, inst, false);
    assert_inbox_and_newest(&o, inst, true);

    // --security tls alone picks 993.
    let o = ic(&with(&base, &["--security", "tls", "--no-fetch"]));
    o.verdict("warning", 1);
    o.eq("port", 993);
    o.eq("security", "tls");
}

/// The throw-away certificate does not name 127.0.0.3: with verification
/// on, the check stops at the handshake and says why.
#[test]
fn certificate_name_mismatch_is_critical() {
    require_root();
    let inst = std_ports();
    for mode in ["starttls", "tls"] {
        let o = ic(&inst.args(mode, Some("alice")));
        o.verdict("critical", 2);
        o.eq("error.step", mode);
        o.eq(
            "error.message",
            format!("the server certificate is not valid for {}", inst.addr).as_str(),
        );
        o.contains("error.got", "(IP address mismatch)");
        o.contains("error.hint", "subjectAltName");
        assert_eq!(o.step("login")["status"], "skipped", "{}", o.ctx());
    }
}

// ---------------------------------------------------------------------------
// Beyond the KB: server identity and quota (Dovecot's ID and quota plugin)
// ---------------------------------------------------------------------------

#[test]
fn dovecot_reports_its_identity_and_quota() {
    let inst = normal();
    let o = ic(&inst.args("tls", Some("alice")));
    o.verdict("ok", 0);
    expect_steps(&o, "tls", "examine", &[]);
    // Dovecot answers ID with its name only (no version by default).
    o.eq("server_id", json!({"name": "Dovecot"}));
    assert!(
        o.step_detail("list").ends_with("server ID: Dovecot"),
        "{}",
        o.ctx()
    );
    // The quota plugin in the test instance: "User quota", 1 GiB storage.
    let quota = o.v["quota"].as_array().cloned().unwrap_or_default();
    assert_eq!(quota.len(), 1, "{}", o.ctx());
    assert_eq!(quota[0]["root"], "User quota", "{}", o.ctx());
    assert_eq!(quota[0]["resource"], "STORAGE", "{}", o.ctx());
    assert_eq!(quota[0]["limit"], 1_048_576, "{}", o.ctx());
    let used = quota[0]["used"].as_u64().unwrap_or(0);
    // alice's seed mail (the 20 MB message most of it), in KiB.
    assert!((19_000..21_000).contains(&used), "used {used}{}", o.ctx());
    assert!(
        o.step_detail("quota").starts_with(&format!(
            "\"User quota\": STORAGE {used} of 1048576 KiB (1.9%)"
        )),
        "{}",
        o.ctx()
    );
}

#[test]
fn dovecot_quota_thresholds_warn_and_fail_without_stopping_the_fetch() {
    let inst = normal();
    // 1.9% used: at or above 1% is a warning...
    let mut args = inst.args("tls", Some("alice"));
    args.extend(["--quota-warn".into(), "1".into()]);
    let o = ic(&args);
    o.verdict("warning", 1);
    expect_steps(&o, "tls", "examine", &[("quota", "warning")]);
    // ...and critical with --quota-crit 1; the message is still fetched.
    let mut args = inst.args("tls", Some("alice"));
    args.extend(["--quota-crit".into(), "1".into()]);
    let o = ic(&args);
    o.verdict("critical", 2);
    expect_steps(
        &o,
        "tls",
        "examine",
        &[("quota", "failed"), ("fetch", "ok")],
    );
    o.eq("message.seq", 5);
}

/// check_imap's command line against Dovecot: `-H addr -p port -S -D w,c`,
/// with the certificate's days left just inside and at the thresholds.
#[test]
fn check_imap_style_flags_and_certificate_days() {
    let inst = normal();
    let port = inst.tls_port.to_string();
    let base = |d: &str| -> Vec<String> {
        [
            "-H",
            inst.addr.as_str(),
            "-p",
            port.as_str(),
            "-S",
            "--ca-file",
            inst.ca.as_str(),
            "-u",
            "alice",
            "--password-file",
            inst.pass_file("alice"),
            "--format",
            "json",
            "-D",
            d,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let o = ic(&base("1"));
    o.verdict("ok", 0);
    o.eq("security", "tls");
    let days = o.at("tls.days_left").as_i64().expect("days_left");
    assert!(days > 2, "{}", o.ctx());
    let o = ic(&base(&format!("{days},{}", days - 1)));
    o.verdict("ok", 0);
    let o = ic(&base(&format!("{}", days + 1)));
    o.verdict("warning", 1);
    assert_eq!(o.step("tls")["status"], "warning", "{}", o.ctx());
    let o = ic(&base(&format!("{},{}", days + 1, days + 1)));
    o.verdict("critical", 2);
    o.eq("error.step", "tls");
    assert_eq!(o.step("fetch")["status"], "ok", "{}", o.ctx());
    assert_eq!(o.step("logout")["status"], "ok", "{}", o.ctx());
}

/// `--sni` against Dovecot, reached by address: the certificate's DNS name
/// verifies, a name it does not hold is a mismatch for that name.
#[test]
fn sni_names_the_certificate_reached_by_address() {
    let inst = normal();
    let o = ic(&with(
        &inst.args("tls", Some("alice")),
        &["--sni", "localhost"],
    ));
    o.verdict("ok", 0);
    o.eq("tls.name", "localhost");
    o.eq("host", inst.addr.as_str());
    o.eq("address", inst.sockaddr(inst.tls_port).as_str());
    let o = ic(&with(
        &inst.args("starttls", Some("alice")),
        &["--sni", "mail.example.org"],
    ));
    o.verdict("critical", 2);
    o.eq("error.step", "starttls");
    o.contains("error.message", "not valid for mail.example.org");
}

/// `--messages` against Dovecot: alice's INBOX holds 5 (a queue bound at
/// exactly 5 is fine, at 4 it warns), and her empty folder as a heartbeat
/// folder (`1:,1:`) is critical.
#[test]
fn message_count_thresholds() {
    let inst = normal();
    let base = inst.args("tls", Some("alice"));
    let o = ic(&with(&base, &["--messages", "5,10"]));
    o.verdict("ok", 0);
    let o = ic(&with(&base, &["--messages", "4,10"]));
    o.verdict("warning", 1);
    assert_eq!(o.step("examine")["status"], "warning", "{}", o.ctx());
    let o = ic(&with(&base, &["--messages", "@0:4,@5:5"]));
    o.verdict("critical", 2);
    o.eq("error.step", "examine");
    assert_eq!(o.step("fetch")["status"], "ok", "{}", o.ctx());
    let o = ic(&with(&base, &["--folder", "Empty", "--messages", "1:,1:"]));
    o.verdict("critical", 2);
    o.contains("error.message", "0 messages");
}

/// `--max-age` against Dovecot: the newest message's age by the seed's
/// INTERNALDATE, thresholds on either side of it, and the empty folder.
#[test]
fn max_age_of_the_newest_message() {
    let inst = normal();
    let base = inst.args("tls", Some("alice"));
    let o = ic(&with(&base, &["--max-age", "3650d"]));
    o.verdict("ok", 0);
    let age = o.u64("message.age_s");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let want = now - inst.inbox_epoch(5);
    assert!(
        (want - age as i64).abs() <= 5,
        "age {age}, want {want}{}",
        o.ctx()
    );
    let o = ic(&with(
        &base,
        &["--max-age", &format!("{}", age.saturating_sub(60))],
    ));
    o.verdict("warning", 1);
    let o = ic(&with(
        &base,
        &["--max-age", &format!("1,{}", age.saturating_sub(60))],
    ));
    o.verdict("critical", 2);
    o.eq("error.step", "fetch");
    let o = ic(&with(&base, &["--folder", "Empty", "--max-age", "1d"]));
    o.verdict("critical", 2);
    o.contains("error.message", "nothing has arrived");
}

/// `args` with `--format json` turned into `--format openmetrics`.
fn in_openmetrics(args: &[String]) -> Vec<String> {
    let mut a = args.to_vec();
    let at = a.iter().position(|x| x == "json").expect("--format json");
    a[at] = "openmetrics".into();
    a
}

#[test]
fn openmetrics_say_what_the_json_says() {
    // Two runs of the same check, one per format: both parsers must read the
    // metrics, and every value a server decides must be the JSON's.
    let inst = normal();
    for security in ["tls", "starttls"] {
        let args = inst.args(security, Some("alice"));
        let om_args = in_openmetrics(&args);
        let om_refs: Vec<&str> = om_args.iter().map(String::as_str).collect();
        let r = common::run(&om_refs, &[], None);
        assert_eq!(r.status, 0, "{security}: {r:?}");
        let m = common::metrics::read(&r.stdout);
        m.assert_contract(&inst.addr, inst.port(security), security);
        let o = ic(&args);
        o.verdict("ok", 0);
        m.assert_agrees_with_json(&o.v, 5.0);
        // Dovecot's quota root and identity, in bytes and as an info metric.
        let root = [("root", "User quota")];
        assert_eq!(
            m.get("imapcheck_quota_storage_limit_bytes", &root),
            1_048_576.0 * 1024.0
        );
        assert_eq!(
            m.all("imapcheck_server_info", &[("name", "Dovecot")]).len(),
            1
        );
        assert_eq!(
            m.get("imapcheck_mailbox_messages", &[("folder", "INBOX")]),
            inst.inbox_exists as f64
        );
    }
}

#[test]
fn output_file_for_the_textfile_collector() {
    // The cron recipe of the man page: --format openmetrics --output into
    // a collector directory; a second run replaces the file whole.
    let inst = normal();
    let dir = std::env::temp_dir().join(format!("imapcheck-textfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("collector dir");
    let file = dir.join("imapcheck.prom");
    let path = file.to_str().expect("UTF-8 path");
    let args = with(
        &in_openmetrics(&inst.args("tls", Some("alice"))),
        &["--output", path],
    );
    for (run, user) in [(1, "alice"), (2, "nobody")] {
        let mut a = args.clone();
        let at = a.iter().position(|x| x == "alice").expect("-u alice");
        a[at] = user.into();
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = common::run(&refs, &[], None);
        assert_eq!(r.stdout, "", "run {run}: nothing on stdout");
        let m = common::metrics::read(&std::fs::read_to_string(&file).expect("written"));
        m.assert_contract(&inst.addr, inst.port("tls"), "tls");
        // The second run logs in as a user that does not exist (with alice's
        // password file): CRITICAL, and the file says so.
        let (status, code) = if run == 1 { ("ok", 0) } else { ("critical", 2) };
        assert_eq!(r.status, code, "run {run}: {r:?}");
        assert_eq!(
            m.get("imapcheck_status", &[("status", status)]),
            1.0,
            "run {run}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(&dir).expect("list").flatten().collect();
    assert_eq!(left.len(), 1, "only the .prom file: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn repeat_five_times_against_dovecot() {
    // Five runs, each its own connection and login: every step of every
    // run OK, and the statistics count them.
    let inst = normal();
    let args = with(
        &inst.args("tls", Some("alice")),
        &["--repeat", "5", "--interval", "0.05"],
    );
    let o = ic(&args);
    o.verdict("ok", 0);
    let runs = o.v["runs"].as_array().cloned().unwrap_or_default();
    assert_eq!(runs.len(), 5, "{}", o.ctx());
    for run in &runs {
        assert_eq!(run["status"], "ok", "{}", o.ctx());
        assert_eq!(run["mailbox"]["exists"], inst.inbox_exists, "{}", o.ctx());
    }
    for step in [
        "connect", "tls", "login", "examine", "fetch", "logout", "total",
    ] {
        let s = &o.v["stats"][step];
        assert_eq!(
            (s["runs"].as_u64(), s["failed"].as_u64()),
            (Some(5), Some(0)),
            "{step}{}",
            o.ctx()
        );
        let (min, med, max) = (
            s["min_ms"].as_f64(),
            s["median_ms"].as_f64(),
            s["max_ms"].as_f64(),
        );
        assert!(min <= med && med <= max, "{step}: {s}");
    }
    assert_eq!(o.v["interrupted"], false);

    // With --all-addresses, the statistics are per address.
    let args = with(
        &inst.args("tls", Some("alice")),
        &["--repeat", "2", "--interval", "0", "--all-addresses"],
    );
    let o = ic(&args);
    o.verdict("ok", 0);
    let address = format!("{}:{}", inst.addr, inst.port("tls"));
    assert_eq!(o.v["stats"][&address]["login"]["runs"], 2, "{}", o.ctx());
    assert_eq!(o.v["runs"][1]["addresses"][0]["address"], address.as_str());
}
