// Dates, clocks and bounds against what a server or a dead resolver does
// (issue 18): an INTERNALDATE in an impossible year is a quirk, not an
// age, in the debug build whose arithmetic panics on overflow; the times
// a run reports are the times it took, name resolution included; the
// resolver's threads stay few however long DNS is dead; and the addresses
// `--all-addresses` leaves out are counted in every format.

use super::*;

/// The KB script with the FETCH answer dated `date`.
fn dated(date: &str) -> Vec<Step> {
    kb_script()
        .into_iter()
        .map(|s| match s {
            Step::Send(t) => Step::Send(t.replace(KB_INTERNALDATE, date)),
            other => other,
        })
        .collect()
}

#[test]
fn an_internaldate_in_an_impossible_year_is_no_age_and_not_ok() {
    for year in ["0", "10000", "3020249310414753600"] {
        let date = format!("17-Jul-{year} 02:44:25 -0700");
        let srv = ScriptedServer::start(Mode::Tls(Identity::Good), dated(&date));
        let port = srv.port();
        let args = with(user(tls_args(port)), &["--max-age", "1h,1d"]);
        let (r, v, log) = go_json(srv, &args, &PASS_ENV);
        let ctx = format!("INTERNALDATE {date:?}\n{}", dump(&r, &log));
        log.assert_ok();
        assert!(!r.stderr.contains("panicked"), "{ctx}");
        // Not OK: the age cannot be told, as for a date that cannot be read.
        assert_exit(&r, &v, 1, &ctx);
        let fetch = step(&v, "fetch");
        assert_eq!(fetch["status"], "warning", "{ctx}");
        let detail = fetch["detail"].as_str().unwrap_or("");
        assert!(
            detail.starts_with(&format!(
                "INTERNALDATE year {year} is outside 1970-9999: the message's age cannot be told"
            )),
            "{ctx}"
        );
        assert_eq!(v["message"]["age_s"], Value::Null, "{ctx}");
        assert_eq!(v["message"]["internal_date"], date, "{ctx}");
        let quirks = v["quirks"].as_array().expect("quirks");
        assert!(
            quirks.iter().any(|q| q["step"] == "fetch"
                && q["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("outside 1970-9999"))),
            "{ctx}"
        );
        assert_eq!(step(&v, "logout")["status"], "ok", "{ctx}");
    }
}

// The tests below keep to 127.0.4.x (see servers_on_one_port).

/// A DNS server on loopback that never answers (a UDP socket nobody
/// reads), for as long as it lives, and the command line that runs
/// imapcheck in a private mount namespace whose /etc/resolv.conf points
/// at it and whose /etc/hosts does not know the name: resolving waits for
/// the resolver's timeout (5 s, twice), beyond any deadline here.
struct DeadDns {
    _silent: std::net::UdpSocket,
    dir: std::path::PathBuf,
}

impl DeadDns {
    fn on(ip: &str) -> DeadDns {
        let silent = std::net::UdpSocket::bind(format!("{ip}:53"))
            .expect("a silent DNS server on port 53 (needs root)");
        let dir = std::env::temp_dir().join(format!(
            "imapcheck-deaddns-{}-{}",
            std::process::id(),
            ip.replace('.', "-")
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(
            dir.join("resolv.conf"),
            format!("nameserver {ip}\noptions timeout:5 attempts:2\n"),
        )
        .expect("resolv.conf");
        std::fs::write(dir.join("hosts"), "127.0.0.1 localhost\n").expect("hosts");
        DeadDns {
            _silent: silent,
            dir,
        }
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new("unshare");
        cmd.args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$0\" /etc/hosts && mount --bind \"$1\" /etc/resolv.conf && shift && exec \"$@\"",
        ])
        .arg(self.dir.join("hosts"))
        .arg(self.dir.join("resolv.conf"))
        .arg(env!("CARGO_BIN_EXE_imapcheck"))
        .args(args)
        .env_remove("IMAPCHECK_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
        cmd
    }
}

impl Drop for DeadDns {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn dead_dns_under_repeat_keeps_the_resolver_threads_few() {
    let dns = DeadDns::on("127.0.4.53");
    let mut child = dns
        .command(&[
            "dead.test",
            "--security",
            "none",
            "--repeat",
            "60",
            "--interval",
            "0",
            "-t",
            "0.05",
            "--format",
            "nagios",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare");
    // unshare and sh exec imapcheck: the child's pid is imapcheck's.
    let task = format!("/proc/{}/task", child.id());
    let started = Instant::now();
    let mut most = 0;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < RUN_TIMEOUT,
            "still running after {RUN_TIMEOUT:?}"
        );
        if let Ok(tasks) = std::fs::read_dir(&task) {
            most = most.max(tasks.count());
        }
        thread::sleep(Duration::from_millis(10));
    };
    let took = started.elapsed();
    let mut stdout = String::new();
    let mut stderr = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout);
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    let ctx = format!("{status:?} after {took:?}, at most {most} threads\n{stdout}\n{stderr}");
    assert_eq!(status.code(), Some(2), "{ctx}");
    assert!(stdout.contains("0 of 60 runs OK"), "{ctx}");
    // Sixty runs of 50 ms, each asking for the one name while its first
    // lookup is still stuck: the main thread and that one lookup (today's
    // main had a thread per run, 241 after 12 s).
    assert!(took > Duration::from_millis(2500), "{ctx}");
    assert!((1..=3).contains(&most), "{ctx}");
}

#[test]
fn all_addresses_with_hanging_dns_reports_the_time_it_took() {
    let dns = DeadDns::on("127.0.4.54");
    for format in ["json", "nagios"] {
        let args = [
            "dead.test",
            "--security",
            "none",
            "--all-addresses",
            "-t",
            "1",
            "--format",
            format,
        ];
        let r = run_command(dns.command(&args), None, RUN_TIMEOUT);
        let ctx = format!("{format}: {r:?}");
        assert_eq!(r.status, 2, "{ctx}");
        let wall = r.elapsed.as_secs_f64() * 1000.0;
        assert!(wall >= 1000.0, "{ctx}");
        // What the report says it took is what it took: the deadline, all
        // of it spent resolving, shown as the connect step's time.
        let near_wall = |ms: f64| (950.0..=wall).contains(&ms);
        if format == "json" {
            let v = parse_json_stdout(&r);
            let total = v["elapsed_ms"].as_f64().expect("elapsed_ms");
            assert!(near_wall(total), "round {total} ms\n{ctx}");
            let only = &v["addresses"][0];
            let check = only["elapsed_ms"].as_f64().expect("elapsed_ms");
            assert!(near_wall(check), "check {check} ms\n{ctx}");
            let connect = step(only, "connect");
            assert_eq!(connect["status"], "failed", "{ctx}");
            let ms = connect["elapsed_ms"].as_f64().expect("elapsed_ms");
            assert!(near_wall(ms), "connect {ms} ms\n{ctx}");
        } else {
            let perf = r.stdout.split_once(" | ").expect("perfdata").1;
            let secs = |label: &str| -> f64 {
                perf.find(label)
                    .and_then(|at| perf.get(at + label.len()..))
                    .and_then(|v| v.split('s').next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no {label} in {perf}"))
            };
            let total = secs("time=") * 1000.0;
            assert!(near_wall(total), "time={total} ms\n{ctx}");
            let check = secs("'time dead.test:143'=") * 1000.0;
            assert!(near_wall(check), "per address {check} ms\n{ctx}");
        }
    }
}

#[test]
fn all_addresses_says_how_many_the_cap_left_out_in_every_format() {
    // Forty addresses, nothing listening on the port: each checked one is
    // refused at once; the 8 beyond the cap of 32 are not tried at all.
    let hosts: String = (1..=40)
        .map(|i| format!("127.0.4.{i} many.test\n"))
        .collect();
    let port = closed_port().to_string();
    for format in ["text", "nagios", "json", "openmetrics"] {
        let args = [
            "many.test",
            "-p",
            &port,
            "--security",
            "none",
            "--all-addresses",
            "--format",
            format,
        ];
        let r = run_with_hosts(&hosts, &args, &[], None);
        let ctx = format!("{format}: {r:?}");
        assert_eq!(r.status, 2, "{ctx}");
        let note = "8 more addresses left out: only the first 32 are checked";
        match format {
            "text" => {
                assert!(
                    r.stdout.contains("checking 32 addresses side by side: ")
                        && r.stdout
                            .contains(" (8 more left out: at most 32 are checked)"),
                    "{ctx}"
                );
                let last = r.stdout.lines().last().unwrap_or("");
                assert!(
                    last.starts_with(&format!(
                        "IMAP CRITICAL - many.test: 0 of 32 addresses OK; {note}; "
                    )),
                    "{ctx}"
                );
            }
            "nagios" => {
                let (human, perf) = r.stdout.split_once(" | ").expect("perfdata");
                assert!(
                    human.starts_with(&format!(
                        "IMAP CRITICAL - many.test: 0 of 32 addresses OK; {note}; "
                    )),
                    "{ctx}"
                );
                assert!(perf.contains(" addresses_left_out=8;;;0"), "{ctx}");
            }
            "json" => {
                let v = parse_json_stdout(&r);
                assert_eq!(v["addresses"].as_array().map(Vec::len), Some(32), "{ctx}");
                assert_eq!(v["addresses_left_out"], 8, "{ctx}");
            }
            _ => {
                let m = metrics::read(&r.stdout);
                m.assert_contract("many.test", port.parse().expect("port"), "none");
                let with = [("host", "many.test"), ("port", port.as_str())];
                assert_eq!(m.get("imapcheck_addresses_left_out", &with), 8.0, "{ctx}");
                let checked = m.all("imapcheck_success", &[]).len();
                assert_eq!(checked, 32, "{ctx}");
            }
        }
    }
}
