// Integration tests of `imapcheck serve` against the scripted IMAP server of
// tests/common: every status code, the allow-list (a refused target gets no
// connection at all), scrape timeouts, --max-probes, slow and malformed
// clients, SIGHUP, SIGTERM, TLS and Basic auth on the endpoint, and secrets in every
// answer and log line. The exporter is started on 127.0.0.1:0; the port is
// read from its "listening on" log line.

mod common;

#[path = "serve/auth.rs"]
mod auth;
#[path = "serve/endpoints.rs"]
mod endpoints;
#[path = "serve/lifecycle.rs"]
mod lifecycle;
#[path = "serve/limits.rs"]
mod limits;
#[path = "serve/security.rs"]
mod security;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub use common::*;

/// The user of the login modules, and a password easy to search for.
pub const USER: &str = "alice";
pub const PASS: &str = "Zebra7-serve-pw";

/// How long any answer may take in these tests.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `imapcheck serve`, killed on drop.
pub struct Exporter {
    child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<String>>,
    pub dir: PathBuf,
}

/// A fresh modules directory with the files `(name, text)`.
pub fn modules_dir(files: &[(&str, &str)]) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("imapcheck-serve-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("modules dir");
    std::fs::write(dir.join("password"), format!("{PASS}\n")).expect("password file");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("module file");
    }
    dir
}

/// A module that logs in as USER with the password file, in cleartext
/// (the scripted server speaks no TLS here), allowed on loopback.
pub const LOGIN_MODULE: &str =
    "--security none\n-u alice\n--password-file password\n--allow-target 127.0.0.0/8\n-t 10\n";

impl Exporter {
    pub fn start(dir: &Path, extra: &[&str]) -> Exporter {
        Exporter::try_start(dir, extra).unwrap_or_else(|log| panic!("serve did not start:\n{log}"))
    }

    /// Starts serve; `Err` is its log when it exits or says nothing of
    /// listening within 10 s.
    pub fn try_start(dir: &Path, extra: &[&str]) -> Result<Exporter, String> {
        Exporter::try_start_env(dir, extra, &[])
    }

    pub fn start_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Exporter {
        Exporter::try_start_env(dir, extra, env)
            .unwrap_or_else(|log| panic!("serve did not start:\n{log}"))
    }

    pub fn try_start_env(
        dir: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Exporter, String> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_imapcheck"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--modules"])
            .arg(dir)
            .args(extra)
            .env_remove("IMAPCHECK_PASSWORD")
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn serve");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().expect("stderr");
        let log2 = Arc::clone(&log);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log2.lock()
                    .expect("log")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            let text = log.lock().expect("log").clone();
            if let Some(at) = text.find("listening on ") {
                let rest = &text[at + "listening on ".len()..];
                let rest = rest.split_once("://").map_or(rest, |(_, r)| r);
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let addr: SocketAddr = addr.parse().expect("listen address in the log");
                return Ok(Exporter {
                    child,
                    addr,
                    log,
                    dir: dir.to_path_buf(),
                });
            }
            if Instant::now() > end || child.try_wait().ok().flatten().is_some() {
                thread::sleep(Duration::from_millis(100));
                let _ = child.kill();
                let _ = child.wait();
                return Err(log.lock().expect("log").clone());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ))
    }

    /// Sends `head` as is on a new connection; the answer.
    pub fn request(&self, head: &str) -> Answer {
        let mut tcp = TcpStream::connect(self.addr).expect("connect to serve");
        tcp.set_read_timeout(Some(ANSWER_TIMEOUT)).expect("timeout");
        tcp.write_all(head.as_bytes()).expect("send request");
        read_answer(&mut tcp)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits up to `limit` for the process to exit: its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    pub fn metrics(&self) -> metrics::Metrics {
        metrics::read(&self.body)
    }
}

/// Reads one answer (head, then Content-Length bytes, or to the end).
pub fn read_answer(tcp: &mut impl Read) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match tcp.read(&mut chunk) {
            Ok(0) | Err(_) => panic!(
                "no complete answer; got {:?}",
                String::from_utf8_lossy(&buf)
            ),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    let length: Option<usize> = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    });
    let mut body = buf[head_end..].to_vec();
    match length {
        Some(n) => {
            while body.len() < n {
                match tcp.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => body.extend_from_slice(&chunk[..k]),
                }
            }
            body.truncate(n);
        }
        None => {
            let _ = tcp.read_to_end(&mut body);
        }
    }
    Answer {
        status,
        head,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// The KB happy path for USER and PASS on a cleartext connection.
pub fn kb_server() -> ScriptedServer {
    ScriptedServer::start(Mode::Plain, kb_script())
}

/// `/probe?module=..&target=127.0.0.1:port`.
pub fn probe_path(module: &str, port: u16) -> String {
    format!("/probe?module={module}&target=127.0.0.1:{port}")
}
