// `--format openmetrics` and `--output` (issue 12): every text is read by
// promtool and by prometheus_client's OpenMetrics parser, and says what the
// JSON of the same check says; labels with quotes and backslashes survive
// both parsers; a failed or unstartable check still gives whole metrics;
// `--output` replaces its file atomically, or fails with UNKNOWN.

use super::modern::{id_exchange, logged_in_with};
use super::*;

/// LOGIN with ID and QUOTA; ID answered with `id_reply` beside LIST; the
/// quota root of INBOX answered with `quota`; the rest of the KB check.
fn id_and_quota(id_reply: &str, quota: &str) -> Vec<Step> {
    let (ours, _) = id_exchange();
    script(vec![
        logged_in_with("IMAP4rev1 ID QUOTA LITERAL+"),
        vec![
            Step::Expect(ours),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(format!(
                "{id_reply}{{prevtag}} OK ID completed.\r\n{}",
                kb_list_reply()
            )),
        ],
        opened("EXAMINE INBOX", kb_examine_reply()),
        vec![
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Send(format!("{quota}{{tag}} OK Getquotaroot completed.\r\n")),
        ],
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ])
}

const DOVECOT_ID: &str =
    "* ID (\"name\" \"Dovecot\" \"version\" \"2.3.19\" \"vendor\" NIL \"os-version\" \"12\")\r\n";
const USER_QUOTA: &str = "* QUOTAROOT INBOX \"User quota\"\r\n* QUOTA \"User quota\" (STORAGE 512 1024 MESSAGE 3 1000)\r\n";

#[test]
fn a_full_check_in_openmetrics_says_what_its_json_says() {
    for (name, case) in [
        ("tls", Case::tls(id_and_quota(DOVECOT_ID, USER_QUOTA))),
        ("starttls", Case::starttls(starttls_kb(Identity::Good))),
        ("none", Case::cleartext(kb_script())),
    ] {
        let (m, c) = case.named(name).openmetrics_and_json();
        // Cleartext is a posture WARNING, and still a success.
        c.exit(if name == "none" { 1 } else { 0 });
        assert_eq!(m.get("imapcheck_success", &[]), 1.0, "{name}");
        let exists = c.v["mailbox"]["exists"].as_f64().expect("exists");
        assert!(exists > 0.0, "{name}: the scripts' INBOX is not empty");
        let dur = m.get("imapcheck_duration_seconds", &[]);
        for s in m.all("imapcheck_step_duration_seconds", &[]) {
            assert!(
                s.value >= 0.0 && s.value <= dur,
                "{name}: {s:?} within {dur}"
            );
        }
    }
}

#[test]
fn quota_and_server_identity_are_metrics() {
    let (m, c) = Case::tls(id_and_quota(DOVECOT_ID, USER_QUOTA)).openmetrics_and_json();
    c.exit(0);
    let root = [("root", "User quota")];
    assert_eq!(
        m.get("imapcheck_quota_storage_used_bytes", &root),
        512.0 * 1024.0
    );
    assert_eq!(
        m.get("imapcheck_quota_storage_limit_bytes", &root),
        1024.0 * 1024.0
    );
    let msgs = [("root", "User quota"), ("resource", "MESSAGE")];
    assert_eq!(m.get("imapcheck_quota_used", &msgs), 3.0);
    assert_eq!(m.get("imapcheck_quota_limit", &msgs), 1000.0);
    let info = &m.all("imapcheck_server_info", &[])[0].labels;
    assert_eq!(info.get("name").map(String::as_str), Some("Dovecot"));
    assert_eq!(
        info.get("os_version").map(String::as_str),
        Some("12"),
        "os-version made a label name"
    );
    assert!(!info.contains_key("vendor"), "NIL is left out: {info:?}");
    assert_eq!(
        m.get(
            "imapcheck_tls_certificate_verified",
            &[("sni", "localhost")]
        ),
        1.0
    );
}

#[test]
fn quotes_backslashes_and_tabs_in_labels_survive_both_parsers() {
    // What a server chooses lands in labels: ID values, quota root names.
    let id = "* ID (\"name\" \"Dove\\\"cot\" \"version\" \"C:\\\\mail\" \"x-tab\" \"a\tb\" \"2fa\" \"y\")\r\n";
    let quota =
        "* QUOTAROOT INBOX \"odd \\\"root\\\"\"\r\n* QUOTA \"odd \\\"root\\\"\" (STORAGE 1 10)\r\n";
    let case = Case::tls(id_and_quota(id, quota));
    let (_, m) = case.clone().openmetrics();
    let c = case.json();
    c.exit(0);
    let info = &m.all("imapcheck_server_info", &[])[0].labels;
    assert_eq!(
        info.get("name").map(String::as_str),
        Some("Dove\"cot"),
        "{}",
        m.text
    );
    assert_eq!(info.get("version").map(String::as_str), Some("C:\\mail"));
    assert_eq!(
        info.get("_2fa").map(String::as_str),
        Some("y"),
        "a name may not start with a digit"
    );
    // Server text arrives escaped for display (a tab as `\t`), in every
    // format alike.
    assert_eq!(info.get("x_tab").map(String::as_str), Some("a\\tb"));
    assert_eq!(c.v["server_id"]["x-tab"], "a\\tb");
    let root = c.v["quota"][0]["root"].as_str().expect("root");
    assert_eq!(root, "odd \"root\"");
    assert_eq!(
        m.get("imapcheck_quota_storage_limit_bytes", &[("root", root)]),
        10240.0
    );
}

#[test]
fn a_failed_login_still_gives_every_step_its_status() {
    let s = login_refused();
    let (m, c) = Case::tls(s).openmetrics_and_json();
    c.failed_at("login");
    assert_eq!(m.get("imapcheck_success", &[]), 0.0);
    assert_eq!(m.get("imapcheck_status", &[("status", "critical")]), 1.0);
    assert_eq!(m.get("imapcheck_exit_code", &[]), 2.0);
    assert_eq!(
        m.get(
            "imapcheck_step_status",
            &[("step", "list"), ("status", "skipped")]
        ),
        1.0
    );
    assert!(!m.has("imapcheck_mailbox_messages"), "{}", m.text);
    // The steps that ran keep their times.
    assert!(m.get("imapcheck_step_duration_seconds", &[("step", "tls")]) > 0.0);
}

#[test]
fn without_a_password_the_metrics_say_unknown_and_stderr_says_why() {
    let c = Case::tls(vec![]).env(&[]).script_may_break();
    let (ran, m) = c.openmetrics();
    ran.status(3);
    assert_eq!(m.get("imapcheck_status", &[("status", "unknown")]), 1.0);
    assert_eq!(m.get("imapcheck_success", &[]), 0.0);
    assert!(ran.r.stderr.contains("hint:"), "{}", ran.ctx);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("imapcheck-out-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn output_replaces_the_file_and_prints_nothing() {
    let dir = temp_dir("replace");
    let file = dir.join("imap.prom");
    std::fs::write(&file, "old\n").expect("old file");
    for format in ["openmetrics", "nagios", "json", "text"] {
        let path = file.to_str().expect("UTF-8 path");
        let ran = Case::tls(kb_script())
            .named(format)
            .args(&["--format", format, "--output", path])
            .output();
        ran.status(0);
        assert_eq!(ran.r.stdout, "", "nothing on stdout\n{}", ran.ctx);
        let written = std::fs::read_to_string(&file).expect("output file");
        match format {
            "openmetrics" => {
                metrics::read(&written).assert_contract("localhost", ran.port, "tls");
            }
            "nagios" => assert!(written.starts_with("IMAP OK - "), "{written}"),
            "json" => {
                let v: Value = serde_json::from_str(&written).expect("JSON file");
                assert_eq!(v["status"], "ok");
            }
            _ => assert!(
                written.lines().any(|l| l.starts_with("fetch ")),
                "{written}"
            ),
        }
        assert!(written.ends_with('\n'), "{format}: a whole last line");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("imap.prom")],
            "no temporary file left"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn output_that_cannot_be_written_is_unknown() {
    let dir = temp_dir("unwritable");
    // Usage errors, before any connection: exit 3, nothing sent.
    let missing = dir.join("no/such/dir/imap.prom");
    for (path, says) in [
        (missing.to_str().expect("path"), "does not exist"),
        (dir.to_str().expect("path"), "is a directory"),
    ] {
        let r = run(&["localhost", "--output", path], &[], None);
        assert_eq!(r.status, 3, "{path}: {r:?}");
        assert!(r.stderr.contains(says), "{path}: {}", r.stderr);
    }
    // /proc takes no new files, even from root: the check runs, then its
    // result cannot be delivered, which is UNKNOWN, not the check's OK.
    let ran = Case::tls(kb_script())
        .args(&[
            "--format",
            "openmetrics",
            "--output",
            "/proc/imapcheck-test.prom",
        ])
        .output();
    ran.status(3);
    assert!(
        ran.r
            .stderr
            .contains("cannot write --output /proc/imapcheck-test.prom"),
        "{}",
        ran.ctx
    );
    let _ = std::fs::remove_dir_all(&dir);
}
