// Shared test harness for imapcheck's integration tests: runs the binary with
// a hard timeout, a test PKI (certs.rs), a scripted loopback IMAP server
// (server.rs) and Dovecot-like scripts (scripts.rs). Each tests/*.rs file
// uses a subset, hence the blanket dead_code allowance.
//
// Server scripts in short: `ScriptedServer::start(Mode, Vec<Step>)` accepts
// one connection on 127.0.0.1 (or `start_on("[::1]:0", ..)`), runs the steps
// in a thread and `finish()` returns a `ServerLog`. "{tag}" in `Send` text
// is the tag of the last line the client sent; `Expect` patterns are globs
// on the line after its tag. No socket operation blocks longer than
// IO_TIMEOUT (10 s) and the thread ends within SERVER_DEADLINE (30 s).
// `TokenEndpoint` (token_endpoint.rs) is a scripted HTTPS OAuth token
// endpoint with the same bounds, for the token step.
#![allow(dead_code)]

pub mod certs;
pub mod metrics;
pub mod scripts;
pub mod server;
pub mod smtp_server;
pub mod token_endpoint;

// Re-exports: each test binary uses only some of them.
#[allow(unused_imports)]
pub use certs::{CertPair, Identity, TestCerts, certs, tls_acceptor};
#[allow(unused_imports)]
pub use scripts::*;
#[allow(unused_imports)]
pub use server::{IO_TIMEOUT, Mode, SERVER_DEADLINE, ScriptedServer, ServerLog, Step, glob_match};
#[allow(unused_imports)]
pub use token_endpoint::{
    Answer, EndpointLog, TokenEndpoint, chunked_answer, http_answer, json_answer,
    until_close_answer,
};

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Hard limit for one run of the binary.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test, with IMAPCHECK_PASSWORD and RUST_LOG removed from
/// its environment and stdin connected to /dev/null.
pub fn imapcheck() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapcheck"));
    cmd.env_remove("IMAPCHECK_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

/// A loopback port with nothing listening on it (bound, noted, released).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Outcome of one run of a program.
#[derive(Debug, Clone)]
pub struct Run {
    /// Exit code; 128 + N when killed by signal N.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs imapcheck with `args`, extra `env` and optional `stdin` bytes
/// (otherwise /dev/null); kills it and panics after RUN_TIMEOUT.
pub fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut cmd = imapcheck();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd, stdin, RUN_TIMEOUT)
}

/// Runs imapcheck as `run` does, in a private mount namespace whose
/// /etc/hosts holds `hosts`, so a name resolves to chosen loopback
/// addresses without touching the machine:
/// `unshare -m sh -c 'mount --bind HOSTS /etc/hosts && exec imapcheck ...'`.
/// Needs root and unshare(1); without them it fails and says so.
pub fn run_with_hosts(
    hosts: &str,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Run {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = certs()
        .ca_pem
        .parent()
        .expect("the test PKI's directory")
        .to_path_buf();
    let file = dir.join(format!("hosts-{n}"));
    std::fs::write(&file, hosts).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
    let mut cmd = Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /etc/hosts && exec \"$@\"",
    ])
    .arg(&file)
    .arg(env!("CARGO_BIN_EXE_imapcheck"))
    .args(args)
    .env_remove("IMAPCHECK_PASSWORD")
    .env_remove("RUST_LOG")
    .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let r = run_command(cmd, stdin, RUN_TIMEOUT);
    let setup_failed = r.stderr.contains("unshare:") || r.stderr.contains("mount:");
    assert!(
        !setup_failed,
        "running imapcheck with a private /etc/hosts needs root and unshare(1) (util-linux): {r:?}"
    );
    r
}

/// `run`, then stdout parsed as exactly one JSON object (panics otherwise).
pub fn run_json(
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> (Run, serde_json::Value) {
    let r = run(args, env, stdin);
    let v = parse_json_stdout(&r);
    (r, v)
}

/// Parses `run.stdout` as exactly one JSON object; panics with stdout and
/// stderr if it is anything else.
pub fn parse_json_stdout(run: &Run) -> serde_json::Value {
    match serde_json::from_str::<serde_json::Value>(&run.stdout) {
        Ok(v) if v.is_object() => v,
        Ok(v) => panic!(
            "stdout is JSON but not an object ({v})\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            run.status, run.stdout, run.stderr
        ),
        Err(e) => panic!(
            "stdout is not exactly one JSON value: {e}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            run.status, run.stdout, run.stderr
        ),
    }
}

/// Runs any command with piped stdout/stderr (read concurrently, so large
/// output cannot deadlock), optional stdin bytes, and a hard timeout after
/// which the child is killed and this panics.
pub fn run_command(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Run {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let what = format!("{cmd:?}");
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let data = data.to_vec();
        // The child may exit without reading: ignore EPIPE.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let out_rx = collect(child.stdout.take().expect("stdout pipe"));
    let err_rx = collect(child.stderr.take().expect("stderr pipe"));

    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let elapsed = start.elapsed();
    // A grandchild could keep a pipe open: don't wait for that forever.
    let take = |rx: mpsc::Receiver<Vec<u8>>| match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => "<output not available: pipe still open>".to_string(),
    };
    let stdout = take(out_rx);
    let stderr = take(err_rx);
    match status {
        Some(st) => Run {
            status: st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
            stdout,
            stderr,
            elapsed,
        },
        None => panic!(
            "{what} did not finish within {timeout:?}; killed it\nstdout:\n{stdout}\nstderr:\n{stderr}"
        ),
    }
}

fn collect(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Printable ASCII as is; CR and LF as \r and \n; every other byte as \xNN.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Standard base64 (RFC 4648, padded), written here so the tests do not
/// trust the code under test to encode what it is checked against.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(A[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
