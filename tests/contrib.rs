//! The files shipped in contrib/ work as shipped:
//!
//! - `promtool check rules` accepts the alert rules, and `promtool test
//!   rules` runs their unit tests (each alert fires when it should, and
//!   not before: the staleness rule of the textfile path, the failure
//!   rules of both paths, the certificate rules);
//! - the rules the man page shows are the shipped ones, word for word;
//! - the man page's textfile recipes work as copied: its systemd units
//!   pass `systemd-analyze verify` without a remark, its cron script is
//!   valid sh, and its design (the job as an unprivileged user writing
//!   into its own directory, a link in a root-owned textfile directory)
//!   works under a real node_exporter, which also shows the clash of two
//!   unlabelled checks and how --label ends it.
//!
//! promtool, systemd-analyze and node_exporter are required (tests/deps
//! metrics man nodeexporter installs them), and root for the last test:
//! without them these tests fail, they never pass by skipping.

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

/// Where tests/deps nodeexporter unpacks Debian's node_exporter.
const NODE_EXPORTER: &str =
    "/var/cache/imapcheck-test-servers/node-exporter/usr/bin/prometheus-node-exporter";

/// A child process killed when the test ends, also on a panic.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `id -u nobody` or `id -g nobody`: the unprivileged user the job runs
/// as here (the recipe's own user would need useradd on the machine).
fn nobody(flag: &str) -> String {
    let out = Command::new("id")
        .args([flag, "nobody"])
        .output()
        .expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// GET /metrics from node_exporter on `port`: the status line and body.
fn scrape(port: u16) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

#[test]
fn the_textfile_recipe_under_a_real_node_exporter() {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: run tests/deps nodeexporter"
    );
    let base = std::env::temp_dir().join(format!("imapcheck-textfile-{}", std::process::id()));
    // As on Debian: the textfile directory is root's, mode 755; the job
    // has a directory of its own, and a link per file points there.
    let textfile_dir = base.join("node-exporter");
    let own_dir = base.join("imapcheck");
    for dir in [&base, &textfile_dir, &own_dir] {
        std::fs::create_dir_all(dir).expect("dir");
        std::process::Command::new("chmod")
            .args(["755", &dir.to_string_lossy()])
            .status()
            .expect("chmod");
    }
    let (uid, gid) = (nobody("-u"), nobody("-g"));
    let chown = Command::new("chown")
        .args([&format!("{uid}:{gid}"), &*own_dir.to_string_lossy()])
        .status()
        .expect("chown");
    assert!(chown.success(), "chown needs root");
    // A port nothing listens on: every check fails at connect (exit 2),
    // and still writes its whole metrics.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let as_nobody = |output: &Path, label: Option<&str>| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", &uid, "--regid", &gid, "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_imapcheck"))
            .args(["127.0.0.1", "-p", &closed.to_string(), "--security", "none"])
            .args(["--format", "openmetrics", "--output"])
            .arg(output);
        if let Some(l) = label {
            cmd.args(["--label", l]);
        }
        cmd.output().expect("setpriv imapcheck")
    };
    // The old recipe: the job writing into the textfile directory itself
    // cannot (exit 3, Permission denied).
    let old = as_nobody(&textfile_dir.join("imapcheck.prom"), None);
    assert_eq!(old.status.code(), Some(3), "{old:?}");
    assert!(
        String::from_utf8_lossy(&old.stderr).contains("ermission denied"),
        "{old:?}"
    );
    // Two users of one server with a --label each, and two without.
    for (name, label) in [
        ("alice", Some("check=alice")),
        ("bob", Some("check=bob")),
        ("carol", None),
        ("dave", None),
    ] {
        let file = format!("imapcheck-{name}.prom");
        let ran = as_nobody(&own_dir.join(&file), label);
        assert_eq!(ran.status.code(), Some(2), "{name}: {ran:?}");
        // Dated back, so that the file's time and the link's differ.
        let touched = Command::new("touch")
            .args(["-d", "@1600000000"])
            .arg(own_dir.join(&file))
            .status()
            .expect("touch");
        assert!(touched.success());
        std::os::unix::fs::symlink(own_dir.join(&file), textfile_dir.join(&file)).expect("symlink");
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let _node_exporter = Killed(
        Command::new(NODE_EXPORTER)
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!(
                "--collector.textfile.directory={}",
                textfile_dir.display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node_exporter"),
    );
    let start = std::time::Instant::now();
    let (status, body) = loop {
        if let Some(answer) = scrape(port) {
            break answer;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "node_exporter did not answer on port {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::fs::remove_dir_all(&base).expect("cleanup");
    assert!(status.contains(" 200 "), "{status}");
    let success: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("imapcheck_success{"))
        .collect();
    // The labelled checks are both there ...
    for who in ["alice", "bob"] {
        let with = format!("check=\"{who}\"");
        assert_eq!(
            success.iter().filter(|l| l.contains(&with)).count(),
            1,
            "{who}: {success:?}"
        );
    }
    // ... the two without a label are one series: node_exporter dropped
    // one, and says nothing about it in its metrics. This is the clash
    // the man page warns about.
    assert_eq!(
        success.iter().filter(|l| !l.contains("check=")).count(),
        1,
        "{success:?}"
    );
    assert!(
        body.lines().any(|l| l == "node_textfile_scrape_error 0"),
        "{body}"
    );
    // node_exporter read the files through their links, and reports each
    // file's own modification time, not the link's: what the staleness
    // alert watches is when imapcheck last wrote.
    let mtimes: Vec<f64> = body
        .lines()
        .filter(|l| l.starts_with("node_textfile_mtime_seconds{") && l.contains("imapcheck-"))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .expect("a value")
        })
        .collect();
    assert_eq!(mtimes, vec![1.6e9; 4], "{body}");
}
