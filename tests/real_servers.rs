// One suite for every real server: the same cases against Dovecot, Cyrus
// (Debian's namespace and altnamespace) and Courier (as installed, with a
// quota, with ID, with TLS required), each a throw-away instance on
// loopback (tests/real_support). The table at the end makes one test per
// server × case, named `server::case`.
//
// Every result is compared with what the server really holds, read
// independently with Python's imaplib (tests/servers/imap-truth), and the
// last case shows that checks leave every flag as it was.

mod common;
#[path = "real_support/mod.rs"]
mod real_support;

use real_support::*;
use serde_json::{Value, json};

/// The steps of a full check, as owned strings.
fn steps(security: &str, open: &'static str) -> Vec<String> {
    step_order(security, open)
        .into_iter()
        .map(String::from)
        .collect()
}

/// A check of alice in `security` mode with extra arguments.
fn check(inst: &Instance, security: &str, extra: &[&str]) -> Out {
    ic(&with(&inst.args(security, Some("alice")), extra))
}

/// Asserts a complete, healthy check: OK (or the cleartext warning), every
/// step ok but what `not_ok` names, nothing not understood.
#[track_caller]
fn assert_healthy(o: &Out, security: &str, open: &'static str, not_ok: &[(&str, &str)]) {
    let want: Vec<(String, String)> = steps(security, open)
        .into_iter()
        .map(|s| {
            let st = not_ok
                .iter()
                .find(|(n, _)| *n == s)
                .map_or("ok", |(_, st)| st);
            (s, st.to_string())
        })
        .collect();
    assert_eq!(o.steps(), want, "steps{}", o.ctx());
    o.eq("quirks", json!([]));
    o.eq("error", Value::Null);
}

/// The truth's entry for a folder.
fn truth_of<'a>(truth: &'a Value, folder: &str) -> &'a Value {
    let m = &truth["mailboxes"][folder];
    assert!(
        m.is_object(),
        "imap-truth has no folder {folder:?}: {truth}"
    );
    m
}

/// The report's message against the truth's message of the same number.
#[track_caller]
fn assert_message_is(o: &Out, truth_msg: &Value) {
    o.eq("message.seq", truth_msg["seq"].clone());
    o.eq("message.size", truth_msg["size"].clone());
    o.eq("message.internal_date", truth_msg["internal_date"].clone());
    o.eq("message.subject", truth_msg["subject"].clone());
    o.eq("message.from", truth_msg["from"].clone());
    let mut flags = o.strings("message.flags");
    flags.retain(|f| !f.eq_ignore_ascii_case("\\Recent"));
    flags.sort();
    assert_eq!(json!(flags), truth_msg["flags"], "flags{}", o.ctx());
}

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

/// What the handshake negotiated: a current version and cipher, the
/// chain as sent complete, and no HelloRetryRequest (X25519 and P-256 key
/// shares are offered, and Cyrus's default is P-256).
#[track_caller]
fn assert_modern_session(o: &Out) {
    let version = o.str("tls.session.version");
    assert!(
        ["TLS 1.3", "TLS 1.2"].contains(&version),
        "version{}",
        o.ctx()
    );
    assert!(
        o.str("tls.session.cipher").starts_with("TLS_"),
        "cipher{}",
        o.ctx()
    );
    o.eq("tls.session.chain_complete", true);
    o.eq("tls.session.hello_retry", false);
    assert!(
        !o.at("tls.session.chain")
            .as_array()
            .is_none_or(Vec::is_empty),
        "chain{}",
        o.ctx()
    );
}

fn starttls_full_check(inst: &Instance) {
    let o = check(inst, "starttls", &[]);
    o.verdict("ok", 0);
    assert_healthy(&o, "starttls", "examine", &[]);
    assert_modern_session(&o);
    if inst.id {
        assert!(o.at("server_id").is_object(), "server_id{}", o.ctx());
    }
}

fn tls_full_check(inst: &Instance) {
    let o = check(inst, "tls", &[]);
    o.verdict("ok", 0);
    assert_healthy(&o, "tls", "examine", &[]);
    o.eq("tls.verified", true);
    o.eq("tls.subject", "CN=localhost");
    assert_modern_session(&o);
}

fn cleartext_check(inst: &Instance) {
    let o = check(inst, "none", &[]);
    if inst.plain_login {
        // Healthy, but the password crossed the network in cleartext.
        o.verdict("warning", 1);
        assert_healthy(
            &o,
            "none",
            "examine",
            &[("capability", "warning"), ("login", "warning")],
        );
    } else {
        o.verdict("critical", 2);
        o.eq("error.step", "login");
        o.contains("error.message", "LOGINDISABLED");
        o.contains("error.hint", "--security starttls");
    }
}

fn every_folder_matches_the_server(inst: &Instance) {
    let truth = &inst.truth_at_start;
    for folder in inst.folders.all() {
        let o = check(inst, "tls", &["--folder", folder]);
        o.verdict("ok", 0);
        let t = truth_of(truth, folder);
        let exists = t["exists"].as_u64().unwrap_or(u64::MAX);
        let fetch = if exists == 0 { "skipped" } else { "ok" };
        assert_healthy(&o, "tls", "examine", &[("fetch", fetch)]);
        o.eq("mailbox.name", folder);
        o.eq("mailbox.exists", exists);
        o.eq("mailbox.uidvalidity", t["uidvalidity"].clone());
        o.eq("mailbox.read_only", true);
        if exists > 0 {
            // The default message is the newest.
            assert_message_is(&o, &t["messages"][exists as usize - 1]);
        }
    }
    // LIST finds the same folders imaplib does.
    let o = check(inst, "tls", &["--no-fetch"]);
    let mut got = o.strings("folders");
    got.sort();
    let mut want: Vec<String> = truth["folders"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    want.sort();
    assert_eq!(got, want, "folders{}", o.ctx());
}

fn first_message_matches(inst: &Instance) {
    let o = check(inst, "tls", &["--message", "1"]);
    o.verdict("ok", 0);
    assert_message_is(&o, &truth_of(&inst.truth_at_start, "INBOX")["messages"][0]);
}

fn select_opens_read_write(inst: &Instance) {
    let drafts = inst.folders.drafts.as_str();
    let o = check(inst, "tls", &["--select", "--folder", drafts]);
    o.verdict("ok", 0);
    assert_healthy(&o, "tls", "select", &[]);
    o.eq("mailbox.read_only", false);
    o.eq("mailbox.name", drafts);
}

fn body_matches_the_size(inst: &Instance) {
    let o = check(inst, "tls", &["--body"]);
    o.verdict("ok", 0);
    o.eq("message.body_bytes", o.u64("message.size"));
}

fn wrong_password_is_critical(inst: &Instance) {
    let args = [
        inst.addr.as_str(),
        "-p",
        &inst.tls_port.to_string(),
        "--security",
        "tls",
        "--ca-file",
        &inst.ca,
        "-u",
        "alice",
        "--format",
        "json",
    ]
    .map(String::from);
    // Courier answers a wrong password after 5 s: within the default 10 s.
    let o = ic_with(&args, &[("IMAPCHECK_PASSWORD", "not-the-password")], None);
    o.verdict("critical", 2);
    o.eq("error.step", "login");
    o.contains("error.message", "the server refused the login");
    o.contains("error.hint", "password");
    assert!(!o.run.stdout.contains("not-the-password"), "{}", o.ctx());
    assert!(!o.run.stderr.contains("not-the-password"), "{}", o.ctx());
}

fn missing_folder_names_the_real_one(inst: &Instance) {
    // One letter off; the hint names the real folder, namespace prefix
    // included (INBOX.Sent on Courier and Debian's Cyrus).
    let o = check(inst, "tls", &["--folder", "Sentt"]);
    o.verdict("critical", 2);
    o.eq("error.step", "examine");
    o.contains(
        "error.hint",
        &format!("closest folder names from LIST: {}", inst.folders.sent),
    );
}

fn auth_plain_works(inst: &Instance) {
    let o = check(inst, "tls", &["--auth", "plain"]);
    o.verdict("ok", 0);
    assert_healthy(&o, "tls", "examine", &[]);
    o.contains("steps.4.detail", "via AUTHENTICATE PLAIN");
}

fn without_user_only_connection_steps_run(inst: &Instance) {
    let o = ic(&inst.args("tls", None));
    o.verdict("ok", 0);
    let mut want: Vec<(String, String)> = steps("tls", "examine")
        .into_iter()
        .map(|s| (s, "skipped".to_string()))
        .collect();
    for (name, st) in &mut want {
        if ["connect", "tls", "greeting", "capability", "logout"].contains(&name.as_str()) {
            *st = "ok".into();
        }
    }
    assert_eq!(o.steps(), want, "steps{}", o.ctx());
}

fn nagios_line(inst: &Instance) {
    let mut args = inst.args("tls", Some("alice"));
    let f = args.iter().position(|a| a == "json").unwrap_or(0);
    args[f] = "nagios".into();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::run(&a, &[], None);
    assert_eq!(r.status, 0, "{r:?}");
    let (text, perf) = r.stdout.trim_end().split_once(" | ").unwrap_or_default();
    assert!(text.starts_with("IMAP OK - "), "{r:?}");
    assert!(
        text.ends_with(" has 3 messages") || inst.server == "dovecot",
        "{r:?}"
    );
    for step in [
        "time=", "connect=", "tls=", "login=", "examine=", "fetch=", "logout=",
    ] {
        assert!(perf.contains(step), "{step} in {perf:?}");
    }
    assert!(!perf.contains("starttls="), "{perf:?}");
}

fn checks_leave_every_flag_as_it_was(inst: &Instance) {
    // Everything that opens folders or reads messages, then a fresh reading.
    for folder in inst.folders.all() {
        check(inst, "tls", &["--folder", folder, "--body"]);
        check(
            inst,
            "tls",
            &["--folder", folder, "--select", "--message", "1"],
        );
    }
    let now = inst.truth();
    let flags = |t: &Value| -> Vec<(String, u64, Value)> {
        let mut out = Vec::new();
        if let Some(m) = t["mailboxes"].as_object() {
            for (name, mb) in m {
                for msg in mb["messages"].as_array().into_iter().flatten() {
                    out.push((
                        name.clone(),
                        msg["uid"].as_u64().unwrap_or(0),
                        msg["flags"].clone(),
                    ));
                }
            }
        }
        out.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        out
    };
    assert_eq!(
        flags(&now),
        flags(&inst.truth_at_start),
        "flags changed on {}",
        inst.server
    );
}

// ---------------------------------------------------------------------------
// Courier's broken TLS helper (not a table row: nothing else works there)
// ---------------------------------------------------------------------------

#[test]
fn courier_whose_tls_helper_fails_is_diagnosed_with_its_own_words() {
    let inst = instance(Kind::CourierBrokenTls);
    let o = check(inst, "starttls", &[]);
    o.verdict("critical", 2);
    o.eq("error.step", "starttls");
    o.eq(
        "error.message",
        "the server said OK to STARTTLS, then sent cleartext instead of TLS: its own TLS setup failed",
    );
    o.contains("error.got", "STARTTLS failed");
    o.contains("error.hint", "certificate or key file");
}

// ---------------------------------------------------------------------------
// The table: servers × cases
// ---------------------------------------------------------------------------

macro_rules! servers_x_cases {
    (servers: [$($server:ident => $kind:expr),* $(,)?], cases: $cases:tt) => {
        $( servers_x_cases!(@server $server $kind, $cases); )*
    };
    (@server $server:ident $kind:expr, [$($case:ident),* $(,)?]) => {
        mod $server {
            use super::*;
            $(
                #[test]
                fn $case() {
                    super::$case(instance($kind));
                }
            )*
        }
    };
}

servers_x_cases! {
    servers: [
        dovecot => Kind::Normal,
        dovecot_logindisabled => Kind::Strict,
        cyrus => Kind::Cyrus,
        cyrus_altnamespace => Kind::CyrusAltNamespace,
        courier => Kind::Courier,
        courier_quota => Kind::CourierQuota,
        courier_id => Kind::CourierId,
        courier_tls_required => Kind::CourierTlsRequired,
    ],
    cases: [
        starttls_full_check,
        tls_full_check,
        cleartext_check,
        every_folder_matches_the_server,
        first_message_matches,
        select_opens_read_write,
        body_matches_the_size,
        wrong_password_is_critical,
        missing_folder_names_the_real_one,
        auth_plain_works,
        without_user_only_connection_steps_run,
        nagios_line,
        checks_leave_every_flag_as_it_was,
    ]
}
