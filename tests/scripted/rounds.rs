// More than one check in a run (issue 13): `--all-addresses` against a
// name whose private /etc/hosts gives it three loopback addresses (one
// refusing, one failing the login, one healthy) in every format, and
// `--repeat` against a scripted server that takes one connection per run,
// with a slow LIST in one run of five, the password read once, and
// Ctrl-C stopping the runs with the statistics still printed.
//
// The backends live on 127.0.2.x, away from the addresses the connect
// tests (eyeballs.rs) bind and probe on 127.0.0.x, since tests run side by
// side and a port one test just probed must not be taken by another.

use super::*;
use std::process::Command;

/// The name the private /etc/hosts gives three addresses.
const NAME: &str = "backends.test";
const OK_IP: &str = "127.0.2.2";
const BAD_LOGIN_IP: &str = "127.0.2.3";
/// Nothing listens here: connections are refused.
const REFUSING_IP: &str = "127.0.2.4";

/// A healthy and a login-refusing server on one port of two addresses,
/// that port refused on the third.
fn two_backends() -> (ScriptedServer, ScriptedServer) {
    let mut servers = servers_on_one_port(
        vec![(OK_IP, kb_script()), (BAD_LOGIN_IP, login_refused())],
        &[REFUSING_IP],
    );
    let bad = servers.pop().expect("two servers");
    let ok = servers.pop().expect("two servers");
    (ok, bad)
}

const HOSTS: &str = "127.0.2.2 backends.test\n127.0.2.3 backends.test\n127.0.2.4 backends.test\n";

/// `--all-addresses` against NAME in `format`, TLS verified as localhost.
fn check_backends(format: &str) -> (Run, u16) {
    let (ok, bad) = two_backends();
    let port = ok.port();
    let mut args = tls_check_of(NAME, port);
    args.extend(strings(&["--all-addresses", "--format", format]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run_with_hosts(HOSTS, &args, &PASS_ENV, None);
    let ctx = format!("{format}: {r:?}");
    for srv in [ok, bad] {
        let log = srv.finish();
        assert!(
            log.completed && log.errors.is_empty(),
            "{ctx}\n{}",
            log.report()
        );
    }
    (r, port)
}

#[test]
fn all_addresses_checks_each_backend_in_every_format() {
    for format in ["text", "nagios", "json", "openmetrics"] {
        let (r, port) = check_backends(format);
        let ctx = format!("{format}: {r:?}");
        assert_eq!(r.status, 2, "the worst address decides\n{ctx}");
        let ok = format!("{OK_IP}:{port}");
        let bad = format!("{BAD_LOGIN_IP}:{port}");
        let refusing = format!("{REFUSING_IP}:{port}");
        let summary = format!("{NAME}: 1 of 3 addresses OK; ");
        match format {
            "text" => {
                let last = r.stdout.lines().last().unwrap_or("");
                assert!(
                    last.starts_with(&format!("IMAP CRITICAL - {summary}")),
                    "{ctx}"
                );
                assert!(last.contains(&format!("{bad} login failed: ")), "{ctx}");
                assert!(
                    last.contains(&format!("{refusing} connect failed: ")),
                    "{ctx}"
                );
                // A block per address, then a line per address.
                for (addr, verdict) in [(&ok, "OK"), (&bad, "CRITICAL"), (&refusing, "CRITICAL")] {
                    assert!(
                        r.stdout.lines().any(|l| l == addr.as_str()),
                        "{addr} block\n{ctx}"
                    );
                    let line = r
                        .stdout
                        .lines()
                        .find(|l| l.starts_with(&format!("{addr} ")));
                    let line = line.unwrap_or_else(|| panic!("{addr} line\n{ctx}"));
                    assert!(line.contains(verdict), "{line}\n{ctx}");
                }
                assert!(r.stdout.lines().any(|l| l.starts_with("fetch ")), "{ctx}");
            }
            "nagios" => {
                assert!(
                    r.stdout.starts_with(&format!("IMAP CRITICAL - {summary}")),
                    "{ctx}"
                );
                let perf = r.stdout.split_once(" | ").map(|p| p.1).unwrap_or("");
                for addr in [&ok, &bad, &refusing] {
                    assert!(perf.contains(&format!(" 'time {addr}'=")), "{addr}\n{ctx}");
                }
            }
            "json" => {
                let v: Value = serde_json::from_str(&r.stdout).expect("one JSON object");
                assert_eq!(v["status"], "critical", "{ctx}");
                assert_eq!(v["host"], NAME);
                let list = v["addresses"].as_array().expect("addresses");
                assert_eq!(list.len(), 3, "{ctx}");
                for one in list {
                    for field in JSON_FIELDS {
                        assert!(one.get(field).is_some(), "{field} in each address's object");
                    }
                    let (status, failed_at) = match one["address"].as_str() {
                        Some(a) if a == ok => ("ok", None),
                        Some(a) if a == bad => ("critical", Some("login")),
                        Some(a) if a == refusing => ("critical", Some("connect")),
                        other => panic!("unexpected address {other:?}\n{ctx}"),
                    };
                    assert_eq!(one["status"], status, "{ctx}");
                    assert_eq!(one["error"]["step"].as_str(), failed_at, "{ctx}");
                }
                let verified = list.iter().find(|o| o["address"] == ok.as_str());
                let tls = &verified.expect("the OK address")["tls"];
                assert_eq!(tls["name"], "localhost", "--sni for every address");
                assert_eq!(tls["verified"], true);
            }
            _ => {
                let m = metrics::read(&r.stdout);
                m.assert_contract(NAME, port, "tls");
                for (addr, success) in [(&ok, 1.0), (&bad, 0.0), (&refusing, 0.0)] {
                    let with = [("address", addr.as_str())];
                    assert_eq!(m.get("imapcheck_success", &with), success, "{addr}\n{ctx}");
                }
                let failed = [
                    ("address", bad.as_str()),
                    ("step", "login"),
                    ("status", "failed"),
                ];
                assert_eq!(m.get("imapcheck_step_status", &failed), 1.0);
            }
        }
    }
}

#[test]
fn a_name_with_one_address_has_the_plain_checks_verdict() {
    for (script, code) in [(kb_script(), 0), (login_refused(), 2)] {
        let srv =
            ScriptedServer::start_on("127.0.2.5:0", Mode::Tls(Identity::Good), script.clone());
        let mut args = tls_check_of("one.test", srv.port());
        args.extend(strings(&["--all-addresses", "--format", "json"]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run_with_hosts("127.0.2.5 one.test\n", &args, &PASS_ENV, None);
        srv.finish().assert_ok();
        let v = parse_json_stdout(&r);
        assert_eq!(r.status, code, "{r:?}");
        assert_eq!(v["addresses"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["exit_code"], v["addresses"][0]["exit_code"]);
    }
}

/// The KB check with LIST answered after `delay`.
fn kb_with_slow_list(delay: Duration) -> Vec<Step> {
    let mut s = kb_script();
    let at = s
        .iter()
        .position(|st| matches!(st, Step::Expect(p) if p.starts_with("LIST")))
        .expect("LIST in the KB script");
    s.insert(at + 1, Step::Sleep(delay));
    s
}

/// A scripted server taking one connection per script (one per run of
/// `--repeat`), and the check of it as USER, before any more arguments.
fn sequence_and_check(scripts: Vec<Vec<Step>>) -> (ScriptedServer, Vec<String>) {
    let srv = ScriptedServer::start_sequence("127.0.0.1:0", Mode::Tls(Identity::Good), scripts);
    let port = srv.port().to_string();
    let args = strings(&[
        "localhost",
        "--security",
        "tls",
        "-p",
        &port,
        "--ca-file",
        &ca(),
        "-u",
        USER,
    ]);
    (srv, args)
}

/// `--repeat` against one scripted server per run on one port.
fn repeated(scripts: Vec<Vec<Step>>, args: &[&str], stdin: Option<&[u8]>) -> (Run, ServerLog) {
    let (srv, mut all) = sequence_and_check(scripts);
    all.extend(strings(args));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let env: &[(&str, &str)] = if stdin.is_some() { &[] } else { &PASS_ENV };
    let r = run(&all, env, stdin);
    (r, srv.finish())
}

#[test]
fn repeat_shows_the_one_slow_list_in_its_statistics() {
    let slow = Duration::from_millis(300);
    let scripts: Vec<Vec<Step>> = (0..5)
        .map(|i| {
            if i == 2 {
                kb_with_slow_list(slow)
            } else {
                kb_script()
            }
        })
        .collect();
    let args = ["--repeat", "5", "--interval", "0.05", "--format", "json"];
    let (r, log) = repeated(scripts.clone(), &args, None);
    log.assert_ok();
    let v = parse_json_stdout(&r);
    assert_eq!((r.status, &v["status"]), (0, &Value::from("ok")), "{r:?}");
    assert_eq!(v["runs"].as_array().map(Vec::len), Some(5));
    let list = &v["stats"]["list"];
    let ms = |k: &str| list[k].as_f64().unwrap_or(f64::NAN);
    assert_eq!(
        (list["runs"].as_u64(), list["failed"].as_u64()),
        (Some(5), Some(0)),
        "{v}"
    );
    assert!(ms("max_ms") >= 300.0, "the slow run is the maximum: {list}");
    assert!(
        ms("median_ms") < 150.0,
        "one slow run leaves the median: {list}"
    );
    assert_eq!(v["runs"][2]["steps"][5]["step"], "list");
    assert!(
        v["runs"][2]["steps"][5]["elapsed_ms"]
            .as_f64()
            .unwrap_or(0.0)
            >= 300.0
    );

    // Text: a line per run as it ends, then the table and the verdict.
    let (r, log) = repeated(scripts, &["--repeat", "5", "--interval", "0"], None);
    log.assert_ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(
        lines[0].starts_with("imapcheck "),
        "what is checked, first\n{}",
        r.stdout
    );
    for (n, line) in lines.iter().enumerate().skip(1).take(5) {
        assert!(line.starts_with(&format!("{n:>3}  OK ")), "{}", r.stdout);
    }
    let row = lines
        .iter()
        .find(|l| l.starts_with("list "))
        .expect("a list row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cols[..3], ["list", "5", "0"], "{row}");
    assert!(
        lines.iter().any(|l| l.starts_with("total ")),
        "{}",
        r.stdout
    );
    assert_eq!(
        lines.last().copied(),
        Some(format!("IMAP OK - localhost:{}: 5 of 5 runs OK", log_port(&r)).as_str())
    );
}

/// The port of a text run, from its run lines.
fn log_port(r: &Run) -> String {
    let line = r.stdout.lines().find(|l| l.contains("localhost:"));
    let after = line
        .and_then(|l| l.split("localhost:").nth(1))
        .unwrap_or("");
    after.chars().take_while(char::is_ascii_digit).collect()
}

#[test]
fn repeat_reads_the_password_once_and_reports_the_worst_run() {
    // The password comes from stdin, which has one line: read per run, the
    // second run would have none. Run 2 fails its login.
    let scripts = vec![kb_script(), login_refused(), kb_script()];
    let args = [
        "--password-stdin",
        "--repeat",
        "3",
        "--interval",
        "0",
        "--format",
        "nagios",
    ];
    let (r, log) = repeated(scripts, &args, Some(format!("{PASS}\n").as_bytes()));
    log.assert_ok();
    assert_eq!(r.status, 2, "{r:?}");
    assert!(
        r.stdout.starts_with("IMAP CRITICAL - localhost:")
            && r.stdout.contains(": 2 of 3 runs OK; run 2: "),
        "{r:?}"
    );
    let perf = r.stdout.split_once(" | ").map(|p| p.1).unwrap_or("");
    assert!(
        perf.starts_with("time=") && perf.contains(" login="),
        "medians: {perf}"
    );
    assert!(!r.stdout.contains(PASS) && !r.stderr.contains(PASS));
}

/// Runs `--repeat` against `scripts` (one per run), sends SIGINT after
/// `after`, and returns stdout, the exit status and how long the process
/// took to end after the signal.
fn interrupted(
    scripts: Vec<Vec<Step>>,
    interval: &str,
    after: Duration,
) -> (String, i32, Duration) {
    let n = scripts.len().to_string();
    let (srv, args) = sequence_and_check(scripts);
    let mut cmd = imapcheck();
    cmd.args(args)
        .args(["--repeat", &n, "--interval", interval])
        .env("IMAPCHECK_PASSWORD", PASS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn imapcheck");
    thread::sleep(after);
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let signalled = Instant::now();
    let out = loop {
        if child.try_wait().expect("try_wait").is_some() {
            break child.wait_with_output().expect("output");
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(15),
            "Ctrl-C did not stop it"
        );
        thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    drop(srv);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (stdout, out.status.code().unwrap_or(-1), took)
}

#[test]
fn ctrl_c_stops_the_runs_and_still_prints_the_statistics() {
    // During the pause between runs.
    let (stdout, status, took) = interrupted(
        (0..40).map(|_| kb_script()).collect(),
        "0.25",
        Duration::from_millis(900),
    );
    assert_eq!(status, 0, "{stdout}");
    assert!(took < Duration::from_secs(1), "stopped at once: {took:?}");
    let header = stdout
        .lines()
        .find(|l| l.starts_with("--- "))
        .expect("statistics");
    assert!(header.contains("stopped by Ctrl-C"), "{header}");
    let done = stdout.lines().filter(|l| l.contains("  OK ")).count();
    assert!((2..=6).contains(&done), "{done} runs in 0.9 s\n{stdout}");
    let last = stdout.lines().last().unwrap_or("");
    let said = format!("{done} of {done} runs OK (stopped after {done} of 40)");
    assert!(last.contains(&said), "{last}");

    // During a run whose server went silent: the run ends within about
    // a tenth of a second, not at its 10 s deadline, and is left out.
    let hung = vec![Step::Hold];
    let (stdout, status, took) = interrupted(
        vec![kb_script(), kb_script(), hung],
        "0",
        Duration::from_millis(1500),
    );
    assert_eq!(status, 0, "the cut-short run is not counted\n{stdout}");
    assert!(
        took < Duration::from_secs(1),
        "the silent run ended at once: {took:?}"
    );
    let last = stdout.lines().last().unwrap_or("");
    assert!(
        last.contains("2 of 2 runs OK (stopped after 2 of 3)"),
        "{stdout}"
    );
    assert!(!stdout.contains("CRITICAL"), "{stdout}");
}

#[test]
fn repeat_and_interval_usage_errors() {
    for (args, says) in [
        (&["h", "--interval", "1"][..], "--interval needs --repeat"),
        (&["h", "--repeat", "0"], "--repeat must be between 1"),
        (
            &["h", "--repeat", "3601"],
            "--repeat must be between 1 and 3600",
        ),
        (
            &["h", "--repeat", "2", "--interval", "-1"],
            "--interval must be",
        ),
        (
            &["h", "--repeat", "2", "--format", "openmetrics"],
            "OpenMetrics holds one",
        ),
    ] {
        let r = run(args, &[], None);
        assert_eq!(r.status, 3, "{args:?}: {r:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert_eq!(r.stdout, "");
    }
}

#[test]
fn a_name_that_resolves_too_slowly_costs_one_deadline_not_two() {
    // A DNS server on loopback that never answers: the resolver waits
    // past the deadline, and the check of the name that does not resolve
    // must end by that one deadline, not start a second one.
    let silent = std::net::UdpSocket::bind("127.0.2.53:53").expect("a silent DNS server (root)");
    let dir = std::env::temp_dir().join(format!("imapcheck-slowdns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let resolv = dir.join("resolv.conf");
    std::fs::write(
        &resolv,
        "nameserver 127.0.2.53\noptions timeout:5 attempts:2\n",
    )
    .expect("resolv.conf");
    let hosts = dir.join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").expect("hosts");
    for extra in [&[][..], &["--all-addresses"]] {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"",
        ])
        .arg(&hosts)
        .arg(&resolv)
        .arg(env!("CARGO_BIN_EXE_imapcheck"))
        .args(["slow.test", "-t", "1.5", "--format", "json"])
        .args(extra);
        let r = run_command(cmd, None, RUN_TIMEOUT);
        assert_eq!(r.status, 2, "{extra:?}: {r:?}");
        assert!(
            r.elapsed < Duration::from_millis(2500),
            "{extra:?}: took {:?}, the deadline is 1.5 s\n{r:?}",
            r.elapsed
        );
        assert!(
            r.stdout.contains("did not finish within the deadline"),
            "{r:?}"
        );
    }
    drop(silent);
    let _ = std::fs::remove_dir_all(&dir);
}
