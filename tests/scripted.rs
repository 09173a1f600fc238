// Integration tests of the imapcheck binary against the scripted IMAP server
// of tests/common: every step and mode, every failure the Diagnosis
// section names, protocol robustness, secrets, and hostile servers.
//
// One test binary (tests run in parallel within it); the sections live in
// tests/scripted/*.rs, and a test is mostly one `Case` (scripted/case.rs).
// Helpers shared by the sections are here.

mod common;

#[path = "scripted/argforms.rs"]
mod argforms;
#[path = "scripted/case.rs"]
mod case;
#[path = "scripted/cloud.rs"]
mod cloud;
#[path = "scripted/diagnosis.rs"]
mod diagnosis;
#[path = "scripted/eyeballs.rs"]
mod eyeballs;
#[path = "scripted/files.rs"]
mod files;
#[path = "scripted/happy.rs"]
mod happy;
#[path = "scripted/hostile.rs"]
mod hostile;
#[path = "scripted/labels.rs"]
mod labels;
#[path = "scripted/metrics.rs"]
mod metrics_output;
#[path = "scripted/modern.rs"]
mod modern;
#[path = "scripted/oauth.rs"]
mod oauth;
#[path = "scripted/pipelining.rs"]
mod pipelining;
#[path = "scripted/prompt.rs"]
mod prompt;
#[path = "scripted/protocol.rs"]
mod protocol;
#[path = "scripted/proxies.rs"]
mod proxies;
#[path = "scripted/quirks.rs"]
mod quirks;
#[path = "scripted/round_trip.rs"]
mod round_trip;
#[path = "scripted/rounds.rs"]
mod rounds;
#[path = "scripted/search.rs"]
mod search;
#[path = "scripted/secrets.rs"]
mod secrets;
#[path = "scripted/terminal.rs"]
mod terminal;
#[path = "scripted/time_limits.rs"]
mod time_limits;
#[path = "scripted/token_errors.rs"]
mod token_errors;

use case::*;
use common::metrics::{self, Metrics};
use common::*;
use serde_json::Value;
use std::io::Read;
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The user every script logs in as.
const USER: &str = "alice";
/// A distinctive password: easy to search for in output.
const PASS: &str = "Zebra7-pw";

/// Step names of each mode, in the contract's order.
const TLS_STEPS: &str = "connect tls greeting capability login list examine quota fetch logout";
const STARTTLS_STEPS: &str =
    "connect greeting capability starttls login list examine quota fetch logout";
const NONE_STEPS: &str = "connect greeting capability login list examine quota fetch logout";

/// Every field of the JSON contract (issue 2).
const JSON_FIELDS: [&str; 16] = [
    "status",
    "exit_code",
    "host",
    "port",
    "security",
    "address",
    "elapsed_ms",
    "steps",
    "greeting",
    "capabilities",
    "tls",
    "folders",
    "mailbox",
    "message",
    "alerts",
    "error",
];

fn ca() -> String {
    certs()
        .ca_pem
        .to_str()
        .expect("UTF-8 temp path")
        .to_string()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

const PASS_ENV: [(&str, &str); 1] = [("IMAPCHECK_PASSWORD", PASS)];

// For tests that start their own servers in a loop (the monitoring
// thresholds): the usual command lines, from `Case::command_line`.

/// `localhost --security tls -p PORT --ca-file CA`
fn tls_args(port: u16) -> Vec<String> {
    Case::tls(Vec::new()).anonymous().command_line(port, false)
}

/// `args` plus more.
fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// `args` plus `-u alice`.
fn user(args: Vec<String>) -> Vec<String> {
    with(args, &["-u", USER])
}

/// Runs imapcheck against `srv`, then collects the server's log.
fn go(
    srv: ScriptedServer,
    args: &[String],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> (Run, ServerLog) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = run(&refs, env, stdin);
    let log = srv.finish();
    (r, log)
}

/// `go` with `--format json`; stdout must be exactly one JSON object.
fn go_json(srv: ScriptedServer, args: &[String], env: &[(&str, &str)]) -> (Run, Value, ServerLog) {
    let args = with(args.to_vec(), &["--format", "json"]);
    let (r, log) = go(srv, &args, env, None);
    let v = parse_json_stdout(&r);
    (r, v, log)
}

/// imapcheck `--security security -u USER --format json` against `port`
/// on 127.0.0.1, where nothing listens.
fn against_closed_port(security: &str, port: u16) -> (Run, Value) {
    let p = port.to_string();
    let args = [
        "127.0.0.1",
        "--security",
        security,
        "-p",
        &p,
        "-u",
        USER,
        "--format",
        "json",
    ];
    run_json(&args, &PASS_ENV, None)
}

/// Everything needed to understand a failed assertion.
fn dump(r: &Run, log: &ServerLog) -> String {
    format!(
        "exit {} after {:?}\n--- stdout\n{}\n--- stderr\n{}\n--- server\n{}",
        r.status,
        r.elapsed,
        r.stdout,
        r.stderr,
        log.report()
    )
}

/// `[(step, status)]` of a JSON report.
fn steps_of(v: &Value) -> Vec<(String, String)> {
    v["steps"]
        .as_array()
        .expect("steps is an array")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().expect("step name").to_string(),
                s["status"].as_str().expect("step status").to_string(),
            )
        })
        .collect()
}

/// The steps are exactly `names`, with `statuses` (both space-separated).
fn assert_steps(v: &Value, names: &str, statuses: &str, ctx: &str) {
    let want: Vec<(String, String)> = names
        .split_whitespace()
        .zip(statuses.split_whitespace())
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    assert_eq!(
        names.split_whitespace().count(),
        statuses.split_whitespace().count(),
        "test bug: names and statuses differ in length"
    );
    assert_eq!(steps_of(v), want, "steps\n{ctx}");
}

/// The JSON object of one step.
fn step<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {v}"))
}

/// Exit status, JSON status/exit_code agree and are `code`.
fn assert_exit(r: &Run, v: &Value, code: i32, ctx: &str) {
    let status = ["ok", "warning", "critical", "unknown"][code as usize];
    assert_eq!(r.status, code, "exit status\n{ctx}");
    assert_eq!(v["exit_code"], code, "json exit_code\n{ctx}");
    assert_eq!(v["status"], status, "json status\n{ctx}");
}

/// A critical run whose first failure is `step`: exit 2, error.step, and
/// that step's status `failed`.
fn assert_failed_at(r: &Run, v: &Value, failed: &str, ctx: &str) {
    assert_exit(r, v, 2, ctx);
    assert_eq!(v["error"]["step"], failed, "error.step\n{ctx}");
    assert_eq!(
        step(v, failed)["status"],
        "failed",
        "{failed} status\n{ctx}"
    );
}

/// Every field of `want` (an object) is in `got` with that value; `got`
/// may have more fields (the contract allows additions).
fn assert_fields(got: &Value, want: Value, ctx: &str) {
    let want = want.as_object().expect("want is an object");
    assert!(got.is_object(), "not an object: {got}\n{ctx}");
    for (key, value) in want {
        assert_eq!(&got[key], value, "field {key} of {got}\n{ctx}");
    }
}

fn error_text(v: &Value, field: &str) -> String {
    v["error"][field]
        .as_str()
        .unwrap_or_else(|| panic!("error.{field} is not a string: {v}"))
        .to_string()
}

/// Greeting without a capability list: the client must ask CAPABILITY.
const BARE_GREETING: &str = "* OK Dovecot ready.\r\n";

/// The greeting, then LOGIN refused with AUTHENTICATIONFAILED, then LOGOUT.
fn login_refused() -> Vec<Step> {
    script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".into()),
        ],
        logout_steps(),
    ])
}

/// LOGOUT answered properly, then the client must close.
fn logout_steps() -> Vec<Step> {
    vec![
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE Logging out\r\n{tag} OK Logout completed.\r\n".into()),
        Step::ExpectEof,
    ]
}

/// LOGIN with exactly USER and PASS, answered with capabilities.
fn login_steps() -> Vec<Step> {
    vec![
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(kb_login_ok()),
    ]
}

/// `kb_script_after_greeting` without its LOGIN exchange.
fn kb_after_login() -> Vec<Step> {
    kb_script_after_greeting().split_off(2)
}

/// `kb_after_login` with GETQUOTAROOT INBOX, pipelined after EXAMINE,
/// answered with `quota` (sent when the login's answer carried no
/// capabilities, or they include QUOTA).
fn kb_after_login_with_quota(quota: &str) -> Vec<Step> {
    let mut steps = kb_after_login();
    steps.splice(
        4..4,
        [
            Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
            Step::Send(quota.into()),
        ],
    );
    steps
}

/// The AUTHENTICATE PLAIN message for USER and PASS, base64.
fn plain_b64() -> String {
    base64(format!("\0{USER}\0{PASS}").as_bytes())
}

/// Concatenates scripts.
fn script(parts: Vec<Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

/// A bare greeting, CAPABILITY, STARTTLS with `id`, CAPABILITY again, then
/// the KB happy path.
fn starttls_kb(id: Identity) -> Vec<Step> {
    script(vec![
        vec![Step::Send(BARE_GREETING.into())],
        starttls_steps(id),
        kb_script_after_greeting(),
    ])
}

/// The server received no byte of `secret` as a substring.
fn assert_not_received(log: &ServerLog, secret: &str, ctx: &str) {
    assert!(
        !contains(&log.received, secret.as_bytes()),
        "the server received {secret:?}\n{ctx}"
    );
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The VmHWM (peak resident set size of the current program image, KiB)
/// of a live process.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs imapcheck (stdin /dev/null) and returns its peak RSS in KiB.
///
/// wait4's ru_maxrss cannot be used as is: std spawns with vfork semantics
/// (posix_spawn), and at exec Linux folds the *parent's* high-water mark
/// into the child's ru_maxrss, so it reports this test process's peak
/// (measured: ~64 MiB for every run). The exact number is VmHWM of the
/// child's own image, read while the child is held at its exit with ptrace
/// (PTRACE_O_TRACEEXIT: the stop comes before its memory is released).
/// The child is reaped with wait4 (hence no Child::wait). Panics after
/// RUN_TIMEOUT.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[String], env: &[(&str, &str)]) -> (Run, i64) {
    let mut cmd = imapcheck();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawning imapcheck");
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    // SAFETY: PTRACE_SEIZE takes no pointers (addr 0, data = options); the
    // child is ours and alive (not yet reaped).
    let seized = unsafe {
        libc::ptrace(
            libc::PTRACE_SEIZE,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            libc::PTRACE_O_TRACEEXIT as usize as *mut libc::c_void,
        )
    } == 0;
    assert!(
        seized,
        "PTRACE_SEIZE of our own child failed: {}",
        std::io::Error::last_os_error()
    );
    let collect = |mut pipe: Box<dyn Read + Send>| {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
        rx
    };
    let out = collect(Box::new(child.stdout.take().expect("stdout")));
    let err = collect(Box::new(child.stderr.take().expect("stderr")));
    let mut peak: Option<i64> = None;
    let status = loop {
        let mut status: libc::c_int = 0;
        // SAFETY: rusage is plain old data; all-zero is a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child, not yet reaped (std never waits for
        // it: we never call wait on `child`); both pointers are valid.
        let got =
            unsafe { libc::wait4(pid, &mut status, libc::WNOHANG | libc::__WALL, &mut usage) };
        assert!(got >= 0, "wait4: {}", std::io::Error::last_os_error());
        if got == pid {
            if libc::WIFSTOPPED(status) {
                let sig = if status >> 16 == libc::PTRACE_EVENT_EXIT {
                    // Held at exit, memory still mapped: the final peak.
                    peak = vm_hwm_kib(pid);
                    0
                } else if status >> 16 != 0 {
                    0 // a ptrace event stop (group stop): just go on
                } else {
                    libc::WSTOPSIG(status) // a signal: deliver it
                };
                // SAFETY: the tracee is in a ptrace stop; no pointers.
                unsafe {
                    libc::ptrace(
                        libc::PTRACE_CONT,
                        pid,
                        std::ptr::null_mut::<libc::c_void>(),
                        sig as usize as *mut libc::c_void,
                    );
                }
                continue;
            }
            break if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("imapcheck {args:?} did not finish within {RUN_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let text = |rx: mpsc::Receiver<Vec<u8>>| {
        String::from_utf8_lossy(&rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default())
            .into_owned()
    };
    let run = Run {
        status,
        stdout: text(out),
        stderr: text(err),
        elapsed,
    };
    let peak = peak.unwrap_or_else(|| panic!("no exit stop seen for imapcheck\n{run:?}"));
    (run, peak)
}

/// Peak RSS limit for hostile-server runs, in KiB.
const RSS_LIMIT_KIB: i64 = 32 * 1024;

/// Scripted TLS servers on one port of several loopback addresses (all
/// addresses of a name share the check's port), each playing its script,
/// with that port also free on every address of `free` (to be refused
/// there). Each test file keeps to addresses of its own (127.0.N.x), since
/// tests run side by side and a port one test just probed may be taken.
fn servers_on_one_port(live: Vec<(&str, Vec<Step>)>, free: &[&str]) -> Vec<ScriptedServer> {
    let Some(first) = live.first().map(|(ip, _)| *ip) else {
        return Vec::new();
    };
    for _ in 0..20 {
        let probe = std::net::TcpListener::bind(format!("{first}:0")).expect("probe");
        let port = probe.local_addr().expect("addr").port();
        let is_free = |ip: &&str| std::net::TcpListener::bind(format!("{ip}:{port}")).is_ok();
        let others = live.iter().skip(1).map(|(ip, _)| ip);
        if others.chain(free).all(is_free) {
            drop(probe);
            return live
                .into_iter()
                .map(|(ip, script)| {
                    ScriptedServer::start_on(
                        &format!("{ip}:{port}"),
                        Mode::Tls(Identity::Good),
                        script,
                    )
                })
                .collect();
        }
    }
    panic!("no port free on all of {:?} after 20 tries", free);
}

/// A check of `name` (a private /etc/hosts gives it loopback addresses)
/// on `port` over implicit TLS, the certificate verified as localhost
/// (its name) with the test CA, logging in as USER.
fn tls_check_of(name: &str, port: u16) -> Vec<String> {
    let port = port.to_string();
    let ca = ca();
    strings(&[
        name,
        "-p",
        &port,
        "--security",
        "tls",
        "--sni",
        "localhost",
        "--ca-file",
        &ca,
        "-u",
        USER,
    ])
}
