// The round-trip tests' harness: a throw-away Dovecot with an LMTP
// listener (tests/servers/throwaway-dovecot --lmtp-port) and the Exim that
// delivers into it (tests/servers/throwaway-exim), each pair on free
// loopback ports and stopped on drop; imapcheck run against them; and the
// independent imaplib reading (tests/servers/imap-truth) of every folder.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

const SERVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers");

/// A Dovecot and the Exim that delivers into it; stopped on drop.
pub struct Pair {
    dovecot: PathBuf,
    exim: PathBuf,
    imap_tls: u16,
    smtp: u16,
    ca: String,
    pass_file: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn fresh_dir(what: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = PathBuf::from(format!("/tmp/icrt-{what}-{}-{nanos}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn script(name: &str, args: &[&str]) -> String {
    let out = Command::new(format!("{SERVERS}/{name}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kv<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out}"))
}

impl Pair {
    /// `variant`: throwaway-dovecot's --no-idle, --no-uidplus.
    pub fn start(variant: &[&str]) -> Pair {
        let pid = std::process::id().to_string();
        let dovecot = fresh_dir("dv");
        let exim = fresh_dir("ex");
        let (plain, tls, lmtp, smtp) = (free_port(), free_port(), free_port(), free_port());
        let (plain_s, tls_s, lmtp_s, smtp_s) = (
            plain.to_string(),
            tls.to_string(),
            lmtp.to_string(),
            smtp.to_string(),
        );
        let dv = dovecot.to_string_lossy().into_owned();
        let mut args = vec![
            "start",
            &dv,
            "--plain-port",
            &plain_s,
            "--tls-port",
            &tls_s,
            "--lmtp-port",
            &lmtp_s,
            "--watch-pid",
            &pid,
        ];
        args.extend(variant);
        let out = script("throwaway-dovecot", &args);
        let ca = kv(&out, "ca").to_string();
        let pass_file = kv(&out, "alice_pass_file").to_string();
        let ex = exim.to_string_lossy().into_owned();
        script(
            "throwaway-exim",
            &[
                "start",
                &ex,
                "--port",
                &smtp_s,
                "--lmtp-port",
                &lmtp_s,
                "--user",
                "alice",
                "--pass-file",
                &pass_file,
                "--watch-pid",
                &pid,
                "--certs-from",
                &dv,
            ],
        );
        Pair {
            dovecot,
            exim,
            imap_tls: tls,
            smtp,
            ca,
            pass_file,
        }
    }

    /// imapcheck over implicit TLS as alice, sending through Exim with
    /// STARTTLS, and `extra`; the exit status, the JSON (with another
    /// `--format` in `extra`, the output as a string) and stderr.
    pub fn check(&self, extra: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
        let via = format!("127.0.0.1:{}", self.smtp);
        let port = self.imap_tls.to_string();
        let mut args = vec![
            "localhost",
            "-p",
            &port,
            "--security",
            "tls",
            "--ca-file",
            &self.ca,
            "-u",
            "alice",
            "--password-file",
            &self.pass_file,
            "--send-from",
            "alice@localhost",
        ];
        for (flag, default) in [
            ("--format", "json"),
            ("--send-to", "alice@localhost"),
            ("--send-via", via.as_str()),
            ("--send-security", "starttls"),
            ("-t", "8"),
        ] {
            if !extra.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_imapcheck"))
            .args(&args)
            .envs(env.iter().copied())
            .env_remove("IMAPCHECK_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .expect("run imapcheck");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = if extra.contains(&"--format") {
            Value::String(stdout.into_owned())
        } else {
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
        };
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code().unwrap_or(-1), v, stderr)
    }

    /// Every folder's messages (UID, flags, subject) as imaplib reads them.
    pub fn truth(&self) -> Value {
        let out = Command::new(format!("{SERVERS}/imap-truth"))
            .args([
                "127.0.0.1",
                &self.imap_tls.to_string(),
                &self.ca,
                "alice",
                &self.pass_file,
            ])
            .output()
            .expect("imap-truth");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("imap-truth JSON");
        // The mailbox's contents, not how often it was read.
        let mut boxes = v["mailboxes"].clone();
        if let Some(map) = boxes.as_object_mut() {
            for mb in map.values_mut() {
                if let Some(list) = mb["messages"].as_array_mut() {
                    for m in list {
                        m.as_object_mut().map(|o| o.remove("seq"));
                    }
                }
            }
        }
        boxes
    }

    pub fn inbox(&self) -> PathBuf {
        self.dovecot.join("home/alice/Maildir")
    }

    /// Creates the folder `name` (Maildir++ `.name`), as its owner.
    pub fn add_folder(&self, name: &str) {
        let md = self.inbox();
        let owner = fs::metadata(&md).expect("maildir");
        let top = md.join(format!(".{name}"));
        for sub in ["", "cur", "new", "tmp"] {
            let dir = top.join(sub);
            fs::create_dir_all(&dir).expect("mkdir");
            std::os::unix::fs::chown(&dir, Some(owner.uid()), Some(owner.gid())).expect("chown");
        }
    }

    /// Puts a message straight into alice's INBOX Maildir, with maildir
    /// `flags` and an INTERNALDATE `age_secs` ago.
    pub fn seed(&self, name: &str, flags: &str, age_secs: u64, text: &str) {
        let md = self.inbox();
        let owner = fs::metadata(&md).expect("maildir");
        let path = md.join(format!("cur/{name}.seed:2,{flags}"));
        fs::write(&path, text).expect("seed");
        std::os::unix::fs::chown(&path, Some(owner.uid()), Some(owner.gid())).expect("chown");
        let when = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            - age_secs;
        let ok = Command::new("touch")
            .arg("-d")
            .arg(format!("@{when}"))
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "touch {}", path.display());
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for (name, dir) in [
            ("throwaway-exim", &self.exim),
            ("throwaway-dovecot", &self.dovecot),
        ] {
            let _ = Command::new(format!("{SERVERS}/{name}"))
                .arg("stop")
                .arg(dir)
                .stdin(Stdio::null())
                .output();
            if std::env::var_os("IMAPCHECK_KEEP_DOVECOT").is_none() {
                let _ = fs::remove_dir_all(dir);
            }
        }
    }
}

pub fn step<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == name))
        .unwrap_or_else(|| panic!("no step {name} in {v}"))
}

pub fn detail<'a>(v: &'a Value, name: &str) -> &'a str {
    step(v, name)["detail"].as_str().unwrap_or_default()
}

pub fn max_uid(truth: &Value) -> u64 {
    truth["INBOX"]["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["uid"].as_u64())
        .max()
        .unwrap_or(0)
}

pub const HEX: &str = "0123456789abcdef0123456789abcdef";

pub fn message(subject: &str, token_line: &str) -> String {
    format!(
        "From: <carol@example.org>\nTo: <alice@example.org>\nSubject: {subject}\nMessage-ID: <{subject}@example.org>\n{token_line}\n\nseeded by the round-trip tests\n"
    )
}
