// Support for the real-server tests (tests/real_servers.rs, tests/dovecot.rs):
// throw-away Dovecot, Cyrus and Courier instances and IMAP proxies in front
// of a Dovecot (nginx, up-imapproxy, Dovecot as a proxy) started through
// tests/servers/throwaway-*, shared by all tests of a binary, an independent
// reading of what each account holds (tests/servers/imap-truth, Python's
// imaplib), plus small helpers to run imapcheck and assert on its JSON.
//
// Instances live in fresh short directories (/tmp/icdv-XXXXXX, mode 0711, so
// Unix socket paths stay short and the servers' unprivileged processes can
// traverse them), listen on loopback ports that were free a moment earlier,
// and are watched by the scripts' watchdog (--watch-pid) so none outlives
// the test process. An atexit handler stops them and removes their
// directories when the test binary ends (set IMAPCHECK_KEEP_DOVECOT=1 to
// keep them for a post-mortem).
//
// When a server cannot be started (not installed, not root, no IPv6
// loopback), every test that needs the instance fails with the reason — the
// script's own message says what to install. Nothing is skipped.
//
// Each test binary uses a subset, hence the blanket dead_code allowance.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, TcpListener};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub use crate::common::base64;
use crate::common::{Run, run_command, run_json};

/// The throw-away servers' scripts.
const SERVERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers");

/// The independent reader of an account (Python's imaplib).
const TRUTH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/servers/imap-truth");

/// How long one `throwaway-* start` may take (they give up after 20 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Cyrus IMAP in Debian's namespace (INBOX. prefix, '.' separator).
    Cyrus,
    /// Cyrus IMAP with altnamespace and unixhierarchysep ('/').
    CyrusAltNamespace,
    /// Courier-IMAP as installed: no quota, no ID.
    Courier,
    /// Courier-IMAP with a maildir quota.
    CourierQuota,
    /// Courier-IMAP with ID announced.
    CourierId,
    /// Courier-IMAP with IMAP_TLS_REQUIRED (LOGINDISABLED before TLS).
    CourierTlsRequired,
    /// Courier-IMAP whose TLS helper cannot read its certificate.
    CourierBrokenTls,
    /// 127.0.0.1, random ports, LOGIN allowed in cleartext.
    Normal,
    /// 127.0.0.2, random ports, `--strict`: LOGINDISABLED before TLS for a
    /// client connecting from 127.0.0.1.
    Strict,
    /// 127.0.0.3 (or the next free 127.0.0.x), the standard ports 143 and
    /// 993: needs root.
    StdPorts,
    /// ::1, random ports.
    Ipv6,
    /// nginx's mail proxy in front of a Dovecot: STARTTLS and implicit TLS
    /// terminated by nginx, logins answered by an auth_http endpoint.
    Nginx,
    /// nginx with `starttls only` on the cleartext port: LOGINDISABLED
    /// before STARTTLS.
    NginxStarttlsOnly,
    /// up-imapproxy in front of a Dovecot: cleartext only, connection cache
    /// set to 0 s (it still reuses a session logged out a moment ago).
    Imapproxy,
    /// up-imapproxy with its shipped cache_expiration_time (300 s), for the
    /// case that changes the backend's password: an instance of its own.
    ImapproxyCache,
    /// Dovecot as a proxy (passdb proxy=y) in front of a Dovecot.
    DovecotProxy,
}

/// One running throw-away Dovecot, as the script described it.
#[derive(Debug)]
pub struct Instance {
    pub kind: Kind,
    /// `dovecot`, `cyrus` or `courier`, and the script's variant name.
    pub server: String,
    pub variant: String,
    pub version: String,
    pub dir: PathBuf,
    /// The listen address, as imapcheck's host argument (`::1` for IPv6).
    /// For a proxy, the proxy's; its backend listens on the same address.
    pub addr: String,
    pub plain_port: u16,
    /// 0 where the server offers no implicit TLS (imapproxy).
    pub tls_port: u16,
    /// Where the truth is read over TLS: the TLS port, or a proxy's
    /// backend's.
    pub truth_port: u16,
    /// A proxy's backend: its cleartext port and its passwd-file (0 and
    /// empty for a server that is no proxy).
    pub backend_plain_port: u16,
    pub backend_users: String,
    pub ca: String,
    pub pid: u32,
    /// The script's own measure of its start (config, certs, mail, launch,
    /// first real greeting).
    pub start_ms: u64,
    /// Wall time of the whole `start` command as seen from here.
    pub wall_ms: u128,
    pub alice_pass_file: String,
    /// Dovecot's other users and its big message (empty or 0 elsewhere).
    pub bob_pass_file: String,
    pub carol_pass_file: String,
    pub carol_folders: usize,
    pub inbox_exists: u64,
    pub big_seq: u32,
    pub big_size: u64,
    /// alice's INBOX right after start: (maildir base name, flags) per file
    /// (Dovecot only).
    pub initial_inbox: Vec<(String, String)>,
    /// The personal namespace's prefix (`INBOX.` or empty).
    pub prefix: String,
    /// alice's five seeded folders by role, as a user names them (UTF-8,
    /// with the prefix): INBOX, Sent, Deleted Items, Entwürfe, Empty.
    pub folders: SeedFolders,
    /// LOGIN is allowed in cleartext (no LOGINDISABLED).
    pub plain_login: bool,
    /// GETQUOTAROOT gives limits (`limits`) or none (`none`).
    pub quota: String,
    /// The server announces ID.
    pub id: bool,
    /// What alice's account held right after start, read with imaplib.
    pub truth_at_start: Value,
}

/// alice's seeded folders, by role.
#[derive(Debug, Clone)]
pub struct SeedFolders {
    pub inbox: String,
    pub sent: String,
    pub deleted: String,
    pub drafts: String,
    pub empty: String,
}

impl SeedFolders {
    pub fn all(&self) -> [&str; 5] {
        [
            &self.inbox,
            &self.sent,
            &self.deleted,
            &self.drafts,
            &self.empty,
        ]
    }
}

impl Instance {
    pub fn port(&self, security: &str) -> u16 {
        if security == "tls" {
            self.tls_port
        } else {
            self.plain_port
        }
    }

    /// `addr:port` as imapcheck reports it in `address`.
    pub fn sockaddr(&self, port: u16) -> String {
        if self.addr.contains(':') {
            format!("[{}]:{port}", self.addr)
        } else {
            format!("{}:{port}", self.addr)
        }
    }

    pub fn pass_file(&self, user: &str) -> &str {
        match user {
            "alice" => &self.alice_pass_file,
            "bob" => &self.bob_pass_file,
            "carol" => &self.carol_pass_file,
            _ => panic!("no such test user: {user}"),
        }
    }

    /// The exact password bytes of a test user (UTF-8 for all of them).
    pub fn password(&self, user: &str) -> String {
        let f = self.pass_file(user);
        fs::read_to_string(f).unwrap_or_else(|e| panic!("reading {f}: {e}"))
    }

    /// What alice's account holds now, read with Python's imaplib over
    /// implicit TLS (read-only: EXAMINE and BODY.PEEK).
    pub fn truth(&self) -> Value {
        read_truth(&self.addr, self.truth_port, &self.ca, &self.alice_pass_file)
    }

    /// The security mode with TLS this server offers: implicit TLS, or none
    /// at all where it has no TLS for clients (imapproxy).
    pub fn secure(&self) -> &'static str {
        if self.tls_port == 0 { "none" } else { "tls" }
    }

    /// Changes `user`'s password in a proxy's backend (the throw-away
    /// Dovecot's passwd-file, which Dovecot re-reads when it changes); the
    /// user's password file, and so the checks, keep the old one.
    pub fn change_backend_password(&self, user: &str, new: &str) {
        assert!(
            !self.backend_users.is_empty(),
            "{:?} has no backend",
            self.kind
        );
        let text = fs::read_to_string(&self.backend_users)
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.backend_users));
        let prefix = format!("{user}:");
        let mut changed = 0;
        let lines: Vec<String> = text
            .lines()
            .map(|l| match l.strip_prefix(&prefix) {
                Some(rest) => {
                    changed += 1;
                    let rest = rest.split_once(':').map_or("", |(_, r)| r);
                    format!("{user}:{{PLAIN.b64}}{}:{rest}", base64(new.as_bytes()))
                }
                None => l.to_string(),
            })
            .collect();
        assert_eq!(changed, 1, "{user} in {}", self.backend_users);
        fs::write(&self.backend_users, lines.join("\n") + "\n")
            .unwrap_or_else(|e| panic!("writing {}: {e}", self.backend_users));
    }

    pub fn inbox_maildir(&self) -> PathBuf {
        self.dir.join("home/alice/Maildir")
    }

    /// The maildir file of alice's INBOX message with this UID (the seed
    /// names files `<epoch>.M<uid>P1.throwaway:2,<flags>`).
    pub fn inbox_file(&self, uid: u32) -> PathBuf {
        let cur = self.inbox_maildir().join("cur");
        let tag = format!(".M{uid}P1.");
        let found: Vec<PathBuf> = fs::read_dir(&cur)
            .unwrap_or_else(|e| panic!("reading {}: {e}", cur.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(&tag))
            })
            .collect();
        assert_eq!(
            found.len(),
            1,
            "message file for UID {uid} in {}",
            cur.display()
        );
        found.into_iter().next().unwrap()
    }

    /// RFC822.SIZE of an INBOX message: the file holds LF line endings, the
    /// size counts CRLF.
    pub fn inbox_size(&self, uid: u32) -> u64 {
        let bytes = fs::read(self.inbox_file(uid)).unwrap();
        (bytes.len() + bytes.iter().filter(|&&b| b == b'\n').count()) as u64
    }

    /// INTERNALDATE of an INBOX message as Unix time: the seed's file name
    /// starts with it (and the file's mtime is set to it).
    pub fn inbox_epoch(&self, uid: u32) -> i64 {
        let f = self.inbox_file(uid);
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        name.split('.').next().unwrap().parse().unwrap()
    }

    /// Arguments for a check of this instance in `security` mode, as `user`
    /// (password from the file) when given, trusting the test CA, JSON out.
    pub fn args(&self, security: &str, user: Option<&str>) -> Vec<String> {
        let mut a: Vec<String> = vec![
            self.addr.clone(),
            "-p".into(),
            self.port(security).to_string(),
            "--security".into(),
            security.into(),
            "--ca-file".into(),
            self.ca.clone(),
            "--format".into(),
            "json".into(),
        ];
        if let Some(u) = user {
            a.extend([
                "-u".into(),
                u.into(),
                "--password-file".into(),
                self.pass_file(u).into(),
            ]);
        }
        a
    }
}

/// The flags part of every message file of a maildir's cur/ and new/, by
/// base name, sorted.
pub fn maildir_flags(maildir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        let d = maildir.join(sub);
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display())) {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let (base, flags) = match name.split_once(":2,") {
                Some((b, f)) => (b.to_string(), f.to_string()),
                None => (name.clone(), format!("(in {sub}, no flags)")),
            };
            out.push((base, flags));
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Shared instances
// ---------------------------------------------------------------------------

/// Every kind of instance, each started at most once per test binary.
const KINDS: [Kind; 16] = [
    Kind::Normal,
    Kind::Strict,
    Kind::StdPorts,
    Kind::Ipv6,
    Kind::Cyrus,
    Kind::CyrusAltNamespace,
    Kind::Courier,
    Kind::CourierQuota,
    Kind::CourierId,
    Kind::CourierTlsRequired,
    Kind::CourierBrokenTls,
    Kind::Nginx,
    Kind::NginxStarttlsOnly,
    Kind::Imapproxy,
    Kind::ImapproxyCache,
    Kind::DovecotProxy,
];

type Cell = OnceLock<Result<Instance, String>>;
static INSTANCES: [Cell; KINDS.len()] = [const { OnceLock::new() }; KINDS.len()];

/// The instance of `kind`, started on first use.
pub fn instance(kind: Kind) -> &'static Instance {
    let i = KINDS.iter().position(|k| *k == kind).unwrap_or(0);
    match INSTANCES[i].get_or_init(|| start(kind)) {
        Ok(inst) => inst,
        Err(e) => panic!("the throw-away server ({kind:?}) is not available:\n{e}"),
    }
}

impl Kind {
    /// The script that runs this kind, and its arguments for the variant.
    fn script(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Kind::Normal | Kind::Ipv6 | Kind::StdPorts => ("throwaway-dovecot", &[]),
            Kind::Strict => ("throwaway-dovecot", &["--strict"]),
            Kind::Cyrus => ("throwaway-cyrus", &["--namespace", "debian"]),
            Kind::CyrusAltNamespace => ("throwaway-cyrus", &["--namespace", "alt"]),
            Kind::Courier => ("throwaway-courier", &[]),
            Kind::CourierQuota => ("throwaway-courier", &["--quota"]),
            Kind::CourierId => ("throwaway-courier", &["--id"]),
            Kind::CourierTlsRequired => ("throwaway-courier", &["--tls-required"]),
            Kind::CourierBrokenTls => ("throwaway-courier", &["--broken-tls"]),
            Kind::Nginx => ("throwaway-proxy", &["--proxy", "nginx"]),
            Kind::NginxStarttlsOnly => {
                ("throwaway-proxy", &["--proxy", "nginx", "--starttls-only"])
            }
            Kind::Imapproxy => ("throwaway-proxy", &["--proxy", "imapproxy"]),
            Kind::ImapproxyCache => (
                "throwaway-proxy",
                &["--proxy", "imapproxy", "--cache-seconds", "300"],
            ),
            Kind::DovecotProxy => ("throwaway-proxy", &["--proxy", "dovecot"]),
        }
    }

    fn is_dovecot(self) -> bool {
        matches!(
            self,
            Kind::Normal | Kind::Strict | Kind::StdPorts | Kind::Ipv6
        )
    }
}

fn get(kind: Kind) -> &'static Instance {
    instance(kind)
}

/// The steps of a check in the contract's order, for a security mode and
/// the verb that opens the folder ("examine" or "select").
pub fn step_order(security: &str, open: &'static str) -> Vec<&'static str> {
    let mut v = vec!["connect"];
    if security == "tls" {
        v.push("tls");
    }
    v.extend(["greeting", "capability"]);
    if security == "starttls" {
        v.push("starttls");
    }
    v.extend(["login", "list", open, "quota", "fetch", "logout"]);
    v
}

/// Runs tests/servers/imap-truth and parses its JSON.
pub fn read_truth(addr: &str, port: u16, ca: &str, pass_file: &str) -> Value {
    let mut cmd = Command::new(TRUTH);
    cmd.args([addr, &port.to_string(), ca, "alice", pass_file])
        .stdin(Stdio::null());
    let run = run_command(cmd, None, Duration::from_secs(60));
    assert_eq!(
        run.status, 0,
        "{TRUTH} {addr} {port} failed:\n{}{}",
        run.stderr, run.stdout
    );
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{TRUTH}: not JSON ({e}):\n{}", run.stdout))
}

/// The plain instance on 127.0.0.1.
pub fn normal() -> &'static Instance {
    get(Kind::Normal)
}

/// The `--strict` instance on 127.0.0.2.
pub fn strict() -> &'static Instance {
    get(Kind::Strict)
}

/// The instance on the standard ports 143/993 (127.0.0.3 or next free).
pub fn std_ports() -> &'static Instance {
    get(Kind::StdPorts)
}

/// The instance on ::1.
pub fn ipv6() -> &'static Instance {
    get(Kind::Ipv6)
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Directories of the instances started by this process, for the cleanup.
static STARTED: Mutex<Vec<(PathBuf, &'static str)>> = Mutex::new(Vec::new());
static CLEANUP: Once = Once::new();

extern "C" fn cleanup_at_exit() {
    let dirs = std::mem::take(&mut *STARTED.lock().unwrap_or_else(|e| e.into_inner()));
    if dirs.is_empty() {
        return;
    }
    if std::env::var_os("IMAPCHECK_KEEP_DOVECOT").is_some() {
        for (d, _) in &dirs {
            eprintln!(
                "IMAPCHECK_KEEP_DOVECOT: keeping {} (its watchdog stops it now that the tests ended)",
                d.display()
            );
        }
        return;
    }
    // Stop them all at once: each master takes about a second to go.
    let stops: Vec<_> = dirs
        .iter()
        .filter_map(|(d, script)| {
            Command::new(format!("{SERVERS}/{script}"))
                .arg("stop")
                .arg(d)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .ok()
        })
        .collect();
    for mut s in stops {
        let _ = s.wait();
    }
    // Each holds a 20 MB message and 2,000 folders: remove them side by side.
    let removals: Vec<_> = dirs
        .into_iter()
        .map(|(d, _)| thread::spawn(move || fs::remove_dir_all(d)))
        .collect();
    for r in removals {
        let _ = r.join();
    }
}

fn register_cleanup() {
    CLEANUP.call_once(|| {
        // SAFETY: registering a plain extern "C" fn without captures.
        let rc = unsafe { libc::atexit(cleanup_at_exit) };
        assert_eq!(rc, 0, "atexit failed");
    });
}

/// A fresh, empty, short directory /tmp/icdv-XXXXXX with mode 0711.
fn fresh_dir() -> Result<PathBuf, String> {
    let mut template = b"/tmp/icdv-XXXXXX\0".to_vec();
    // SAFETY: the template is a writable NUL-terminated buffer.
    let p = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if p.is_null() {
        return Err(format!(
            "mkdtemp /tmp/icdv-XXXXXX: {}",
            std::io::Error::last_os_error()
        ));
    }
    template.pop();
    let dir = PathBuf::from(OsString::from_vec(template));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o711))
        .map_err(|e| format!("chmod 0711 {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Two distinct ports free on `ip` a moment ago.
fn free_ports(ip: IpAddr) -> Result<(u16, u16), String> {
    let bind =
        |ip| TcpListener::bind((ip, 0)).map_err(|e| format!("binding a free port on {ip}: {e}"));
    let a = bind(ip)?;
    let b = bind(ip)?;
    let port = |l: &TcpListener| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string());
    Ok((port(&a)?, port(&b)?))
}

fn ports_free(ip: IpAddr, ports: &[u16]) -> bool {
    let listeners: Vec<_> = ports.iter().map(|&p| TcpListener::bind((ip, p))).collect();
    listeners.iter().all(Result::is_ok)
}

fn start(kind: Kind) -> Result<Instance, String> {
    let mut last_err = String::new();
    let candidates: Vec<(IpAddr, Option<(u16, u16)>)> = match kind {
        Kind::Normal
        | Kind::Cyrus
        | Kind::CyrusAltNamespace
        | Kind::Courier
        | Kind::CourierQuota
        | Kind::CourierId
        | Kind::CourierTlsRequired
        | Kind::CourierBrokenTls
        | Kind::Nginx
        | Kind::NginxStarttlsOnly
        | Kind::Imapproxy
        | Kind::ImapproxyCache
        | Kind::DovecotProxy => vec![(Ipv4Addr::new(127, 0, 0, 1).into(), None); 3],
        Kind::Strict => vec![(Ipv4Addr::new(127, 0, 0, 2).into(), None); 3],
        Kind::Ipv6 => vec![(Ipv6Addr::LOCALHOST.into(), None); 3],
        Kind::StdPorts => {
            if !is_root() {
                return Err(
                    "this test needs root: it runs Dovecot on the standard IMAP ports 143 and 993 \
                     (127.0.0.3) to check the default security mode of each port. Run the tests \
                     as root (CI does)."
                        .into(),
                );
            }
            // Another test run on this machine may hold 127.0.0.3:143: take
            // the next loopback address where both ports are free.
            let c: Vec<_> = (3..=12)
                .map(|i| IpAddr::from(Ipv4Addr::new(127, 0, 0, i)))
                .filter(|&ip| ports_free(ip, &[143, 993]))
                .map(|ip| (ip, Some((143, 993))))
                .take(2)
                .collect();
            if c.is_empty() {
                return Err(
                    "ports 143 and 993 are taken on 127.0.0.3 through 127.0.0.12 (a system IMAP \
                     server listening on all addresses?)"
                        .into(),
                );
            }
            c
        }
    };
    for (ip, fixed) in candidates {
        let (plain, tls) = match fixed {
            Some(p) => p,
            None => free_ports(ip)?,
        };
        match start_once(kind, ip, plain, tls) {
            Ok(i) => return Ok(i),
            // Someone took a port between our check and Dovecot's bind: try
            // again with fresh ones; anything else is final.
            Err(e) if e.contains("Address already in use") => last_err = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

fn start_once(kind: Kind, ip: IpAddr, plain: u16, tls: u16) -> Result<Instance, String> {
    let dir = fresh_dir()?;
    register_cleanup();
    let (script, variant_args) = kind.script();
    STARTED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((dir.clone(), script));
    let mut cmd = Command::new(format!("{SERVERS}/{script}"));
    cmd.arg("start")
        .arg(&dir)
        .args(["--plain-port", &plain.to_string()])
        .args(["--tls-port", &tls.to_string()])
        .args(["--listen", &ip.to_string()])
        .args(["--watch-pid", &std::process::id().to_string()])
        .args(variant_args)
        .stdin(Stdio::null());
    let what = format!("{cmd:?}");
    let t0 = Instant::now();
    let run = run_command(cmd, None, START_TIMEOUT);
    let wall_ms = t0.elapsed().as_millis();
    if run.status != 0 {
        return Err(format!(
            "{what} exited with {}:\n{}{}",
            run.status, run.stderr, run.stdout
        ));
    }
    let kv: HashMap<&str, &str> = run
        .stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    let field = |k: &str| -> Result<String, String> {
        kv.get(k)
            .map(|v| v.to_string())
            .ok_or_else(|| format!("{what}: no {k}= in its output:\n{}", run.stdout))
    };
    let num = |k: &str| -> Result<u64, String> {
        field(k)?
            .parse()
            .map_err(|e| format!("{what}: {k}= is not a number: {e}"))
    };
    // Dovecot's extra users and big message: absent on the other servers.
    let optional = |k: &str| kv.get(k).map(|v| v.to_string()).unwrap_or_default();
    let optional_num = |k: &str| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(0u64);
    let folders = SeedFolders {
        inbox: field("folder_inbox")?,
        sent: field("folder_sent")?,
        deleted: field("folder_deleted")?,
        drafts: field("folder_drafts")?,
        empty: field("folder_empty")?,
    };
    let inst = Instance {
        kind,
        server: field("server")?,
        variant: field("variant")?,
        version: field("version")?,
        dir: PathBuf::from(field("dir")?),
        addr: field("addr")?,
        plain_port: num("plain_port")? as u16,
        tls_port: num("tls_port")? as u16,
        truth_port: match kv.get("truth_port") {
            Some(_) => num("truth_port")? as u16,
            None => num("tls_port")? as u16,
        },
        backend_plain_port: optional_num("backend_plain_port") as u16,
        backend_users: optional("backend_users"),
        ca: field("ca")?,
        pid: num("pid")? as u32,
        start_ms: num("start_ms")?,
        wall_ms,
        alice_pass_file: field("pass_file")?,
        bob_pass_file: optional("bob_pass_file"),
        carol_pass_file: optional("carol_pass_file"),
        carol_folders: optional_num("carol_folders") as usize,
        inbox_exists: num("inbox_exists")?,
        big_seq: optional_num("big_seq") as u32,
        big_size: optional_num("big_size"),
        initial_inbox: Vec::new(),
        prefix: optional("prefix"),
        folders,
        plain_login: field("plain_login")? == "1",
        quota: field("quota")?,
        id: field("id")? == "1",
        truth_at_start: Value::Null,
    };
    // Read before any check ran: the baseline that every check must leave
    // as it was. A broken-TLS instance cannot be read over TLS, and the
    // test certificate does not name the standard-ports instance's address.
    let truth_at_start = if matches!(kind, Kind::CourierBrokenTls | Kind::StdPorts) {
        Value::Null
    } else {
        read_truth(&inst.addr, inst.truth_port, &inst.ca, &inst.alice_pass_file)
    };
    let initial_inbox = if kind.is_dovecot() {
        maildir_flags(&inst.inbox_maildir())
    } else {
        Vec::new()
    };
    let inst = Instance {
        initial_inbox,
        truth_at_start,
        ..inst
    };
    if inst.dir != dir {
        return Err(format!("{what}: reports dir={}", inst.dir.display()));
    }
    eprintln!(
        "throw-away {} {} {:?} (pid {}): {}:{}/{} in {}, ready after {} ms (script), {} ms (wall)",
        inst.server,
        inst.version,
        inst.kind,
        inst.pid,
        inst.addr,
        inst.plain_port,
        inst.tls_port,
        inst.dir.display(),
        inst.start_ms,
        inst.wall_ms
    );
    Ok(inst)
}

// ---------------------------------------------------------------------------
// Running imapcheck and reading its report
// ---------------------------------------------------------------------------

/// One run of imapcheck with its parsed JSON report.
pub struct Out {
    pub args: Vec<String>,
    pub run: Run,
    pub v: Value,
}

/// Runs imapcheck with `args` (which should include `--format json`).
pub fn ic(args: &[String]) -> Out {
    ic_with(args, &[], None)
}

pub fn ic_with(args: &[String], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Out {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (run, v) = run_json(&a, env, stdin);
    Out {
        args: args.to_vec(),
        run,
        v,
    }
}

/// `base` followed by `extra`.
pub fn with(base: &[String], extra: &[&str]) -> Vec<String> {
    let mut a = base.to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

impl Out {
    /// Everything needed to understand a failed assertion.
    pub fn ctx(&self) -> String {
        let pretty = serde_json::to_string_pretty(&self.v).unwrap_or_default();
        let mut stderr = self.run.stderr.clone();
        if stderr.len() > 8000 {
            let mut cut = 8000;
            while !stderr.is_char_boundary(cut) {
                cut -= 1;
            }
            stderr.truncate(cut);
            stderr.push_str("\n[... cut]");
        }
        format!(
            "\nimapcheck {}\nexit status: {}\nreport:\n{pretty}\nstderr:\n{stderr}",
            self.args.join(" "),
            self.run.status
        )
    }

    /// The value at a dotted path ("mailbox.exists", "steps.0.step").
    pub fn at(&self, path: &str) -> &Value {
        let mut v = &self.v;
        for part in path.split('.') {
            v = match part.parse::<usize>() {
                Ok(i) if v.is_array() => &v[i],
                _ => &v[part],
            };
        }
        v
    }

    #[track_caller]
    pub fn eq(&self, path: &str, want: impl Into<Value>) {
        let want = want.into();
        assert_eq!(self.at(path), &want, "at {path}{}", self.ctx());
    }

    /// The string at `path`; fails if it is anything else.
    #[track_caller]
    pub fn str(&self, path: &str) -> &str {
        self.at(path)
            .as_str()
            .unwrap_or_else(|| panic!("{path} is not a string{}", self.ctx()))
    }

    #[track_caller]
    pub fn u64(&self, path: &str) -> u64 {
        self.at(path)
            .as_u64()
            .unwrap_or_else(|| panic!("{path} is not an unsigned number{}", self.ctx()))
    }

    #[track_caller]
    pub fn contains(&self, path: &str, needle: &str) {
        let s = self.str(path);
        assert!(
            s.contains(needle),
            "{path} = {s:?} lacks {needle:?}{}",
            self.ctx()
        );
    }

    #[track_caller]
    pub fn strings(&self, path: &str) -> Vec<String> {
        self.at(path)
            .as_array()
            .unwrap_or_else(|| panic!("{path} is not an array{}", self.ctx()))
            .iter()
            .map(|x| {
                x.as_str()
                    .unwrap_or_else(|| panic!("{path} holds a non-string {x}{}", self.ctx()))
                    .to_string()
            })
            .collect()
    }

    /// The exit status, `status` and `exit_code` all agree with the verdict.
    #[track_caller]
    pub fn verdict(&self, status: &str, code: i32) {
        assert_eq!(self.run.status, code, "exit status{}", self.ctx());
        self.eq("status", status);
        self.eq("exit_code", code);
    }

    /// (step, status) of every step in order.
    pub fn steps(&self) -> Vec<(String, String)> {
        self.at("steps")
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        (
                            s["step"].as_str().unwrap_or("?").to_string(),
                            s["status"].as_str().unwrap_or("?").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The step object named `name`.
    #[track_caller]
    pub fn step(&self, name: &str) -> &Value {
        self.at("steps")
            .as_array()
            .and_then(|a| a.iter().find(|s| s["step"] == name))
            .unwrap_or_else(|| panic!("no step {name}{}", self.ctx()))
    }

    #[track_caller]
    pub fn step_detail(&self, name: &str) -> &str {
        self.step(name)["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("step {name} has no detail{}", self.ctx()))
    }

    /// The commands imapcheck sent, from the `-v` transcript on stderr
    /// (the word after the tag of every `C:` line).
    pub fn commands_sent(&self) -> Vec<String> {
        self.run
            .stderr
            .lines()
            .filter_map(|l| {
                let l = l.strip_prefix("[tls] ").unwrap_or(l);
                let rest = l.strip_prefix("C: ")?;
                let mut words = rest.split_whitespace();
                let _tag = words.next()?;
                words.next().map(str::to_ascii_uppercase)
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Peak memory of one run
// ---------------------------------------------------------------------------

/// This process as the "child subreaper" (PR_SET_CHILD_SUBREAPER) while it
/// lives: orphaned descendants become our children instead of init's.
struct Subreaper;

impl Subreaper {
    fn on() -> Subreaper {
        set_subreaper(1);
        Subreaper
    }
}

impl Drop for Subreaper {
    fn drop(&mut self) {
        set_subreaper(0);
    }
}

fn set_subreaper(on: libc::c_ulong) {
    let zero: libc::c_ulong = 0;
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, on, zero, zero, zero) };
    assert_eq!(
        rc,
        0,
        "prctl(PR_SET_CHILD_SUBREAPER): {}",
        std::io::Error::last_os_error()
    );
}

/// Serializes measured runs: the subreaper attribute is process-wide.
static MEASURE: Mutex<()> = Mutex::new(());

/// Runs imapcheck and returns its report and its peak resident set size in
/// KiB, from `wait4`'s `ru_maxrss` on imapcheck's own pid.
///
/// ru_maxrss also counts the memory of the process that forked the child
/// (copied at fork, recorded at exec): spawned straight from this test
/// process it would report the test harness's size whenever that is larger.
/// So imapcheck is forked by a small /bin/sh that exits at once, with this
/// process as the child subreaper: imapcheck becomes our child, waits (on a
/// pipe) until the shell is gone, then execs, and `wait4` on its pid gives
/// imapcheck's own peak.
pub fn run_measuring_peak(args: &[String]) -> (Out, u64) {
    let _one_at_a_time = MEASURE.lock().unwrap_or_else(|e| e.into_inner());
    let subreaper = Subreaper::on();
    let mut sh = Command::new("/bin/sh")
        .arg("-c")
        .arg(r#"exec 3<&0; ( read go <&3 && exec "$@" 3<&- </dev/null ) & echo "$!""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_imapcheck"))
        .args(args)
        .env_remove("IMAPCHECK_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning /bin/sh");
    // Taken now: Child::wait would close it.
    let mut go = sh.stdin.take().unwrap();
    let mut stdout = BufReader::new(sh.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).expect("reading the pid");
    let sh_status = sh.wait().expect("waiting for /bin/sh");
    // imapcheck is ours now; orphans of other tests need not be.
    drop(subreaper);
    assert!(sh_status.success(), "/bin/sh failed: {sh_status}");
    let pid: libc::pid_t = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid line {line:?}: {e}"));
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let ppid: u32 = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.split_whitespace().nth(1))
        .and_then(|p| p.parse().ok())
        .expect("ppid in /proc/PID/stat");
    assert_eq!(
        ppid,
        std::process::id(),
        "imapcheck was not re-parented to the test"
    );

    go.write_all(b"go\n").expect("starting imapcheck");
    drop(go);
    let t0 = Instant::now();
    let out_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let mut stderr = sh.stderr.take().unwrap();
    let err_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });

    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals; pid is our own child.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if t0.elapsed() > Duration::from_secs(60) {
            // SAFETY: pid is our unreaped child, so it cannot be recycled.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut ru);
            }
            panic!("imapcheck {} did not finish within 60 s", args.join(" "));
        }
        thread::sleep(Duration::from_millis(5));
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let run = Run {
        status: code,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
        elapsed: t0.elapsed(),
    };
    let v = crate::common::parse_json_stdout(&run);
    let peak = u64::try_from(ru.ru_maxrss).unwrap_or(0);
    (
        Out {
            args: args.to_vec(),
            run,
            v,
        },
        peak,
    )
}

// ---------------------------------------------------------------------------
// Small encoders and date helpers
// ---------------------------------------------------------------------------

/// Every form in which a password could leak into output: as is, quoted
/// for IMAP, escaped for JSON (UTF-8 or \u escapes), byte-escaped, base64
/// (alone and as the SASL PLAIN payload), and a fragment of its start.
pub fn secret_forms(user: &str, pass: &str) -> Vec<String> {
    let imap_quoted = pass.replace('\\', "\\\\").replace('"', "\\\"");
    let json = serde_json::to_string(pass).unwrap();
    let json = json[1..json.len() - 1].to_string();
    let mut json_ascii = String::new();
    for c in json.chars() {
        if c.is_ascii() {
            json_ascii.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                let _ = write!(json_ascii, "\\u{u:04x}");
            }
        }
    }
    let mut bytes_escaped = String::new();
    for &b in pass.as_bytes() {
        if b.is_ascii_graphic() || b == b' ' {
            bytes_escaped.push(b as char);
        } else {
            let _ = write!(bytes_escaped, "\\x{b:02x}");
        }
    }
    let fragment: String = pass.chars().take(5).collect();
    let mut plain = vec![0u8];
    plain.extend_from_slice(user.as_bytes());
    plain.push(0);
    plain.extend_from_slice(pass.as_bytes());
    let mut forms = vec![
        pass.to_string(),
        imap_quoted,
        json,
        json_ascii,
        bytes_escaped,
        base64(pass.as_bytes()),
        base64(&plain),
        fragment,
    ];
    forms.sort();
    forms.dedup();
    forms
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

fn month_number(name: &str) -> Option<i64> {
    MONTHS.iter().position(|m| *m == name).map(|i| i as i64 + 1)
}

fn hms(s: &str) -> Option<i64> {
    let mut it = s.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (it.next()??, it.next()??, it.next()??);
    Some(h * 3600 + m * 60 + sec)
}

/// An IMAP INTERNALDATE ("05-May-2024 17:45:00 +0000") as Unix time.
pub fn parse_internal_date(s: &str) -> Option<i64> {
    let mut parts = s.trim().split(' ').filter(|p| !p.is_empty());
    let date = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    let mut dp = date.split('-');
    let d: i64 = dp.next()?.trim().parse().ok()?;
    let m = month_number(dp.next()?)?;
    let y: i64 = dp.next()?.parse().ok()?;
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    Some(days_from_civil(y, m, d) * 86400 + hms(time)? - sign * (zh * 3600 + zm * 60))
}

/// openssl's date ("Nov 25 19:17:51 2027 GMT") as Unix time.
pub fn parse_openssl_date(s: &str) -> Option<i64> {
    let p: Vec<&str> = s.split_whitespace().collect();
    if p.len() != 5 || p[4] != "GMT" {
        return None;
    }
    let m = month_number(p[0])?;
    let d: i64 = p[1].parse().ok()?;
    let y: i64 = p[3].parse().ok()?;
    Some(days_from_civil(y, m, d) * 86400 + hms(p[2])?)
}

/// Unix time as RFC 3339 UTC ("2027-11-25T19:17:51Z").
pub fn rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(86400));
    let s = t.rem_euclid(86400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One line of `openssl x509 -noout <flag>` for a certificate file, with
/// its "name=" prefix removed.
pub fn openssl_x509(cert: &str, flag: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-in", cert, "-noout"])
        .args(flag)
        .output()
        .unwrap_or_else(|e| panic!("running openssl: {e}"));
    assert!(
        out.status.success(),
        "openssl x509 {flag:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match s.split_once('=') {
        Some((_, v)) => v.to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_encode_and_parse() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64("Grüße aus Köln ✓".as_bytes()),
            "R3LDvMOfZSBhdXMgS8O2bG4g4pyT"
        );
        assert_eq!(
            parse_internal_date("05-May-2024 17:45:00 +0000"),
            Some(1_714_931_100)
        );
        assert_eq!(
            parse_internal_date(" 5-May-2024 19:45:00 +0200"),
            Some(1_714_931_100)
        );
        assert_eq!(
            parse_openssl_date("Nov  5 19:17:51 2027 GMT").map(rfc3339),
            Some("2027-11-05T19:17:51Z".into())
        );
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_714_931_100), "2024-05-05T17:45:00Z");
    }
}
