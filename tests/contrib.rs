//! The files shipped in contrib/ work as shipped:
//!
//! - `promtool check rules` accepts the alert rules, and `promtool test
//!   rules` runs their unit tests (each alert fires when it should, and
//!   not before: the staleness rule of the textfile path, the failure
//!   rules of both paths, the certificate rules);
//! - the rules the man page shows are the shipped ones, word for word;
//! - the man page's textfile recipes work as copied: its systemd units
//!   pass `systemd-analyze verify` without a remark, and its cron script
//!   is valid sh.
//!
//! promtool and systemd-analyze are required (tests/deps metrics man
//! installs them): without them these tests fail, they never pass by
//! skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

fn contrib(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/prometheus")
        .join(file)
}

/// Runs promtool with `args` in contrib/prometheus and returns what it
/// said, panicking with its words when it fails.
fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(contrib(""))
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool: {e}: run tests/deps metrics"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{said}");
    said
}

#[test]
fn promtool_accepts_the_shipped_rules() {
    let said = promtool(&["check", "rules", "imapcheck-rules.yml"]);
    assert!(said.contains("SUCCESS: 7 rules found"), "{said}");
}

#[test]
fn the_rules_unit_tests_pass() {
    let said = promtool(&["test", "rules", "imapcheck-rules.test.yml"]);
    assert!(said.contains("SUCCESS"), "{said}");
}

#[test]
fn the_rules_unit_tests_can_fail() {
    // The same tests against rules whose staleness limit is an hour: the
    // alert the tests expect at minute 16 does not fire, and promtool says so.
    let dir = std::env::temp_dir().join(format!("imapcheck-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let rules = std::fs::read_to_string(contrib("imapcheck-rules.yml")).expect("rules");
    let limit = "node_textfile_mtime_seconds{file=~\".*imapcheck.*\"} > 600";
    assert!(rules.contains(limit), "the staleness rule moved");
    let lax = rules.replace(
        limit,
        "node_textfile_mtime_seconds{file=~\".*imapcheck.*\"} > 3600",
    );
    std::fs::write(dir.join("imapcheck-rules.yml"), lax).expect("write rules");
    std::fs::copy(
        contrib("imapcheck-rules.test.yml"),
        dir.join("imapcheck-rules.test.yml"),
    )
    .expect("copy tests");
    let out = Command::new("promtool")
        .args(["test", "rules", "imapcheck-rules.test.yml"])
        .current_dir(&dir)
        .output()
        .expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("alertname: IMAPCheckResultStale"), "{said}");
}

/// The man page's text with roff's escapes of `-` and `\` undone.
fn man_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/imapcheck.1");
    std::fs::read_to_string(path)
        .expect("man page")
        .replace("\\-", "-")
        .replace("\\e", "\\")
        .replace("\\(dq", "\"")
}

#[test]
fn the_man_page_shows_the_shipped_rules() {
    let rules = std::fs::read_to_string(contrib("imapcheck-rules.yml")).expect("rules");
    let man = man_text();
    let shown: Vec<&str> = man
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("expr:") || l.starts_with("- alert:"))
        .collect();
    assert!(
        shown.len() >= 4,
        "the man page shows alert rules: {shown:?}"
    );
    for line in shown {
        assert!(
            rules.lines().any(|r| r.trim() == line),
            "the man page's '{line}' is not in contrib/prometheus/imapcheck-rules.yml"
        );
    }
    assert!(man.contains("contrib/prometheus/imapcheck-rules.yml"));
}

/// The lines of the man page's example (`.EX` … `.EE`) that holds
/// `marker`, with roff's escapes undone.
fn man_example(marker: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/imapcheck.1");
    let source = std::fs::read_to_string(path).expect("man page");
    source
        .split(".EX\n")
        .skip(1)
        .map(|b| {
            let block = b.split(".EE\n").next().unwrap_or("");
            block.replace("\\-", "-").replace("\\e", "\\")
        })
        .find(|b| b.contains(marker))
        .unwrap_or_else(|| panic!("no example with {marker} in the man page"))
}

#[test]
fn the_man_pages_systemd_units_verify_cleanly() {
    let units = man_example("# /etc/systemd/system/imapcheck.service");
    let (service, timer) = units
        .split_once("# /etc/systemd/system/imapcheck.timer")
        .expect("the service, then the timer");
    assert!(service.contains("User=imapcheck") && service.contains("ProtectSystem=strict"));
    // The binary the unit names must exist for systemd-analyze: this one.
    let service = service.replace("/usr/local/bin/imapcheck", env!("CARGO_BIN_EXE_imapcheck"));
    let dir = std::env::temp_dir().join(format!("imapcheck-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("imapcheck.service"), service).expect("write service");
    std::fs::write(dir.join("imapcheck.timer"), timer).expect("write timer");
    let out = Command::new("systemd-analyze")
        .args(["verify", "imapcheck.service", "imapcheck.timer"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run systemd-analyze: {e}: run tests/deps man"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    // Unknown keys and bad values are only warnings to systemd, which
    // then ignores the line: a hardening line with a typo would be lost.
    assert_eq!(said.trim(), "", "systemd-analyze has remarks");
}

#[test]
fn the_man_pages_cron_script_is_valid_sh_writing_where_the_link_points() {
    let script = man_example("/usr/local/bin/imapcheck-textfile");
    assert!(script.starts_with("#!/bin/sh\n"), "{script}");
    let out = Command::new("sh")
        .args(["-n", "-c", &script])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The job runs as its own user, never as root or nobody, and writes
    // into its own directory, where the textfile directory's link points.
    assert!(script.contains("* * * * * imapcheck /usr/local/bin/imapcheck-textfile"));
    let setup = man_example("useradd --system");
    for needed in [
        "install -d -m 755 -o imapcheck -g imapcheck /var/lib/imapcheck",
        "ln -s /var/lib/imapcheck/imapcheck.prom \\\n    /var/lib/prometheus/node-exporter/imapcheck.prom",
    ] {
        assert!(setup.contains(needed), "{needed}\n{setup}");
    }
    for text in [
        &script,
        &man_example("# /etc/systemd/system/imapcheck.service"),
    ] {
        assert!(
            text.contains("--output /var/lib/imapcheck/imapcheck.prom"),
            "{text}"
        );
    }
}
