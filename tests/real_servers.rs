// One suite for every real server: the same cases against Dovecot, Cyrus
// (Debian's namespace and altnamespace), Courier (as installed, with a
// quota, with ID, with TLS required) and three proxies in front of a
// Dovecot (nginx's mail proxy, up-imapproxy, Dovecot as a proxy), each a
// throw-away instance on loopback (tests/real_support). The tables at the
// end make one test per server × case, named `server::case`; a case that
// cannot apply to a server is left out of its row with the reason beside
// it, and replaced by one that checks what the server does instead.
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
/// step ok but what `not_ok` names, nothing not understood. In cleartext
/// (`none`) the capability and login steps warn that the password crossed
/// the network unencrypted.
#[track_caller]
fn assert_healthy(o: &Out, security: &str, open: &'static str, not_ok: &[(&str, &str)]) {
    let cleartext: &[(&str, &str)] = if security == "none" {
        &[("capability", "warning"), ("login", "warning")]
    } else {
        &[]
    };
    let want: Vec<(String, String)> = steps(security, open)
        .into_iter()
        .map(|s| {
            let st = not_ok
                .iter()
                .chain(cleartext)
                .find(|(n, _)| *n == s)
                .map_or("ok", |(_, st)| st);
            (s, st.to_string())
        })
        .collect();
    assert_eq!(o.steps(), want, "steps{}", o.ctx());
    o.eq("quirks", json!([]));
    o.eq("error", Value::Null);
}

/// The verdict of a healthy check in `security` mode: OK, or WARNING for
/// the password sent in cleartext.
#[track_caller]
fn assert_healthy_verdict(o: &Out, security: &str) {
    if security == "none" {
        o.verdict("warning", 1);
    } else {
        o.verdict("ok", 0);
    }
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
        let o = check(inst, inst.secure(), &["--folder", folder]);
        assert_healthy_verdict(&o, inst.secure());
        let t = truth_of(truth, folder);
        let exists = t["exists"].as_u64().unwrap_or(u64::MAX);
        let fetch = if exists == 0 { "skipped" } else { "ok" };
        assert_healthy(&o, inst.secure(), "examine", &[("fetch", fetch)]);
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
    let o = check(inst, inst.secure(), &["--no-fetch"]);
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
    let o = check(inst, inst.secure(), &["--message", "1"]);
    assert_healthy_verdict(&o, inst.secure());
    assert_message_is(&o, &truth_of(&inst.truth_at_start, "INBOX")["messages"][0]);
}

fn select_opens_read_write(inst: &Instance) {
    let drafts = inst.folders.drafts.as_str();
    let o = check(inst, inst.secure(), &["--select", "--folder", drafts]);
    assert_healthy_verdict(&o, inst.secure());
    assert_healthy(&o, inst.secure(), "select", &[]);
    o.eq("mailbox.read_only", false);
    o.eq("mailbox.name", drafts);
}

fn body_matches_the_size(inst: &Instance) {
    let o = check(inst, inst.secure(), &["--body"]);
    assert_healthy_verdict(&o, inst.secure());
    o.eq("message.body_bytes", o.u64("message.size"));
}

fn wrong_password_is_critical(inst: &Instance) {
    let args = [
        inst.addr.as_str(),
        "-p",
        &inst.port(inst.secure()).to_string(),
        "--security",
        inst.secure(),
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
    let o = check(inst, inst.secure(), &["--folder", "Sentt"]);
    o.verdict("critical", 2);
    o.eq("error.step", "examine");
    o.contains(
        "error.hint",
        &format!("closest folder names from LIST: {}", inst.folders.sent),
    );
}

fn auth_plain_works(inst: &Instance) {
    let o = check(inst, inst.secure(), &["--auth", "plain"]);
    assert_healthy_verdict(&o, inst.secure());
    assert_healthy(&o, inst.secure(), "examine", &[]);
    o.contains("steps.4.detail", "via AUTHENTICATE PLAIN");
}

fn without_user_only_connection_steps_run(inst: &Instance) {
    let security = inst.secure();
    let o = ic(&inst.args(security, None));
    assert_healthy_verdict(&o, security);
    let mut want: Vec<(String, String)> = steps(security, "examine")
        .into_iter()
        .map(|s| (s, "skipped".to_string()))
        .collect();
    for (name, st) in &mut want {
        if ["connect", "tls", "greeting", "capability", "logout"].contains(&name.as_str()) {
            *st = "ok".into();
        }
        // In cleartext: the port takes passwords unencrypted.
        if security == "none" && name == "capability" {
            *st = "warning".into();
        }
    }
    assert_eq!(o.steps(), want, "steps{}", o.ctx());
}

fn nagios_line(inst: &Instance) {
    let security = inst.secure();
    let mut args = inst.args(security, Some("alice"));
    let f = args.iter().position(|a| a == "json").unwrap_or(0);
    args[f] = "nagios".into();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = common::run(&a, &[], None);
    let (text, perf) = r.stdout.trim_end().split_once(" | ").unwrap_or_default();
    if security == "none" {
        // The summary names the warnings instead of the message count.
        assert_eq!(r.status, 1, "{r:?}");
        assert!(text.starts_with("IMAP WARNING - "), "{r:?}");
        assert!(text.contains("credentials sent in cleartext"), "{r:?}");
    } else {
        assert_eq!(r.status, 0, "{r:?}");
        assert!(text.starts_with("IMAP OK - "), "{r:?}");
        let count = format!(" has {} messages", inst.inbox_exists);
        assert!(text.ends_with(&count), "{count} in {r:?}");
        assert!(perf.contains("tls="), "tls= in {perf:?}");
    }
    for step in [
        "time=", "connect=", "login=", "examine=", "fetch=", "logout=",
    ] {
        assert!(perf.contains(step), "{step} in {perf:?}");
    }
    assert!(!perf.contains("starttls="), "{perf:?}");
}

fn checks_leave_every_flag_as_it_was(inst: &Instance) {
    // Everything that opens folders or reads messages, then a fresh reading.
    for folder in inst.folders.all() {
        check(inst, inst.secure(), &["--folder", folder, "--body"]);
        check(
            inst,
            inst.secure(),
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

/// The round trips of a run's commands: in the `-v` transcript, each time
/// the server answers after the client wrote (a C: line, then an S: line).
/// The TCP and TLS handshakes are not in it.
fn round_trips(o: &Out) -> usize {
    let mut trips = 0;
    let mut client_spoke = false;
    for line in o.run.stderr.lines() {
        let line = line.strip_prefix("[tls] ").unwrap_or(line);
        if line.starts_with("C: ") {
            client_spoke = true;
        } else if line.starts_with("S: ") && client_spoke {
            trips += 1;
            client_spoke = false;
        }
    }
    trips
}

/// `15-Jan-2024 09:30:00 +0000` as (year, month, day).
fn ymd(internal_date: &str) -> (u32, u32, u32) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut parts = internal_date.trim().split([' ', '-']);
    let day = parts.next().and_then(|d| d.parse().ok()).unwrap_or(0);
    let month = parts
        .next()
        .and_then(|m| MONTHS.iter().position(|n| *n == m))
        .map_or(0, |i| i as u32 + 1);
    let year = parts.next().and_then(|y| y.parse().ok()).unwrap_or(0);
    (year, month, day)
}

/// Arrival checks: each search's match count and newest match against
/// imaplib's reading of the INBOX (senders, subjects, one of them
/// non-ASCII, dates and flags differ across the seed), and no flag changed
/// afterwards.
fn search_matches_the_truth(inst: &Instance) {
    let inbox = truth_of(&inst.truth_at_start, "INBOX");
    let msgs: Vec<Value> = inbox["messages"].as_array().cloned().unwrap_or_default();
    let has = |m: &Value, field: &str, needle: &str| {
        m[field]
            .as_str()
            .unwrap_or("")
            .to_lowercase()
            .contains(&needle.to_lowercase())
    };
    let seen = |m: &Value| {
        m["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "\\Seen"))
    };
    let since_march = |m: &Value| ymd(m["internal_date"].as_str().unwrap_or("")) >= (2024, 3, 1);
    type Matches<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    let cases: Vec<(&str, Matches)> = vec![
        (
            "FROM bob@example.org",
            Box::new(|m| has(m, "from", "bob@example.org")),
        ),
        (
            "SUBJECT \"Grüße\"",
            Box::new(|m| has(m, "subject", "Grüße")),
        ),
        ("SINCE 1-Mar-2024", Box::new(since_march)),
        (
            "OR FROM admin@example.org SUBJECT report",
            Box::new(|m| has(m, "from", "admin@example.org") || has(m, "subject", "report")),
        ),
        ("NOT SEEN", Box::new(|m| !seen(m))),
        ("SUBJECT \"no such subject\"", Box::new(|_| false)),
    ];
    let security = inst.secure();
    let plain = check(inst, security, &["-v"]);
    let base_trips = round_trips(&plain);
    for (keys, matches) in &cases {
        let want: Vec<&Value> = msgs.iter().filter(|m| matches(m)).collect();
        let o = check(inst, security, &["--search", keys, "-v"]);
        assert_healthy_verdict(&o, security);
        o.eq("error", Value::Null);
        o.eq("search.matches", want.len());
        match want.last() {
            Some(newest) => {
                o.eq("search.newest", newest["seq"].clone());
                assert_message_is(&o, newest);
            }
            None => {
                o.eq("search.newest", Value::Null);
                o.eq("message", Value::Null);
                assert_eq!(o.step_detail("fetch"), "no message matches", "{}", o.ctx());
            }
        }
        eprintln!(
            "{} ({}): --search {keys}: {} matches by {}, {} command round trips (without --search {base_trips})",
            inst.server,
            inst.variant,
            want.len(),
            o.str("search.method"),
            round_trips(&o),
        );
    }
    // --search-within: the seed is from 2024, so nothing is within a day,
    // everything within 2000 days. With --max-age, no match is critical.
    let o = check(
        inst,
        security,
        &["--search", "ALL", "--search-within", "1d", "-v"],
    );
    assert_healthy_verdict(&o, security);
    o.eq("search.matches", 0);
    let all = check(inst, security, &["--search-within", "2000d", "-v"]);
    assert_healthy_verdict(&all, security);
    all.eq("search.matches", msgs.len());
    if let Some(newest) = msgs.last() {
        assert_message_is(&all, newest);
    }
    eprintln!(
        "{} ({}): --search-within: {} command round trips ({})",
        inst.server,
        inst.variant,
        round_trips(&all),
        all.step_detail("search")
    );
    let o = check(
        inst,
        security,
        &["--search-within", "1d", "--max-age", "1h"],
    );
    o.verdict("critical", 2);
    o.eq("error.step", "fetch");
    // Nothing the searches did changed a flag.
    let flags = |t: &Value| truth_of(t, "INBOX")["messages"].clone();
    assert_eq!(
        flags(&inst.truth()),
        flags(&inst.truth_at_start),
        "INBOX changed on {}",
        inst.server
    );
}

// ---------------------------------------------------------------------------
// What a proxy does instead, where a case above cannot apply
// ---------------------------------------------------------------------------

/// imapproxy offers clients no TLS (its README.ssl: TLS only between proxy
/// and backend) and strips STARTTLS: a STARTTLS check fails at that step,
/// before any password is sent.
fn starttls_is_not_offered(inst: &Instance) {
    let o = check(inst, "starttls", &[]);
    o.verdict("critical", 2);
    o.eq("error.step", "starttls");
    o.contains("error.message", "does not offer STARTTLS");
    assert!(
        !o.commands_sent().iter().any(|c| c == "LOGIN"),
        "LOGIN sent{}",
        o.ctx()
    );
}

/// imapproxy strips AUTH=PLAIN (and SASL-IR) and refuses AUTHENTICATE
/// PLAIN: `--auth plain` fails at login without sending the secret.
fn auth_plain_is_not_offered(inst: &Instance) {
    let o = check(inst, inst.secure(), &["--auth", "plain", "-v"]);
    o.verdict("critical", 2);
    o.eq("error.step", "login");
    o.contains("error.message", "does not offer AUTHENTICATE PLAIN");
    o.contains("error.message", "the secret was not sent");
    assert!(
        !o.commands_sent().iter().any(|c| c == "AUTHENTICATE"),
        "AUTHENTICATE sent{}",
        o.ctx()
    );
}

/// The connection cache: after the backend's password changed, a check
/// through imapproxy must not say OK. imapproxy answers the old password
/// from a cached session (`[XPROXYREUSE]`), so the login step warns that
/// the backend login was not tested; were the backend really asked, the
/// login would fail.
fn a_changed_backend_password_is_not_hidden_by_the_cache(inst: &Instance) {
    let security = inst.secure();
    // Logs in through the proxy and logs out: the session stays cached.
    let first = check(inst, security, &[]);
    assert_healthy_verdict(&first, security);
    assert_healthy(&first, security, "examine", &[]);
    inst.change_backend_password("alice", "changed in the backend");
    // The change is real: the backend itself refuses the old password.
    // Dovecot looks at its passwd-file at most once a second, so the first
    // lookups may still see the old one.
    let mut direct = inst.args(security, Some("alice"));
    let p = direct.iter().position(|a| a == "-p").map_or(0, |i| i + 1);
    direct[p] = inst.backend_plain_port.to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let direct = loop {
        let o = ic(&direct);
        if o.run.status == 2 || std::time::Instant::now() > deadline {
            break o;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    direct.verdict("critical", 2);
    direct.eq("error.step", "login");
    // Through the proxy, the same old password.
    let o = check(inst, security, &["-v"]);
    assert_ne!(o.str("status"), "ok", "{}", o.ctx());
    let login = o.step("login");
    if login["status"] == "warning" {
        o.verdict("warning", 1);
        let detail = o.step_detail("login");
        assert!(
            detail.starts_with("the backend login was not tested"),
            "{detail}{}",
            o.ctx()
        );
        assert!(detail.contains("cache_expiration_time"), "{}", o.ctx());
        assert!(o.run.stderr.contains("[XPROXYREUSE]"), "{}", o.ctx());
    } else {
        // The proxy asked the backend after all: then the login fails.
        o.verdict("critical", 2);
        o.eq("error.step", "login");
    }
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

// Every case on the servers and the proxies that offer all it needs (nginx
// with `starttls on` and with `starttls only`, which announces LOGINDISABLED
// on its cleartext port).
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
        nginx => Kind::Nginx,
        nginx_starttls_only => Kind::NginxStarttlsOnly,
        dovecot_proxy => Kind::DovecotProxy,
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
        search_matches_the_truth,
    ]
}

// up-imapproxy: cleartext only, so every case runs with --security none
// (`Instance::secure`), where the healthy verdict is the cleartext WARNING.
// Left out, with what replaces them:
// - starttls_full_check: imapproxy strips STARTTLS and refuses it ("BAD
//   Please login first"); starttls_is_not_offered checks the diagnosis;
// - tls_full_check: imapproxy has no implicit TLS port for clients (TLS
//   only towards the backend), so there is nothing to connect to;
// - auth_plain_works: imapproxy strips AUTH=PLAIN and answers AUTHENTICATE
//   PLAIN with NO; auth_plain_is_not_offered checks the diagnosis.
// Its connection cache reuses sessions even at cache_expiration_time 0, so
// the login step may also carry the reuse warning: still the cleartext
// verdict, WARNING.
servers_x_cases! {
    servers: [
        imapproxy => Kind::Imapproxy,
    ],
    cases: [
        starttls_is_not_offered,
        cleartext_check,
        every_folder_matches_the_server,
        first_message_matches,
        select_opens_read_write,
        body_matches_the_size,
        wrong_password_is_critical,
        missing_folder_names_the_real_one,
        auth_plain_is_not_offered,
        without_user_only_connection_steps_run,
        nagios_line,
        checks_leave_every_flag_as_it_was,
        search_matches_the_truth,
    ]
}

// imapproxy with its shipped 300 s cache, alone: the case changes the
// backend's password, which no other case may see.
servers_x_cases! {
    servers: [
        imapproxy_cache => Kind::ImapproxyCache,
    ],
    cases: [
        a_changed_backend_password_is_not_hidden_by_the_cache,
    ]
}
