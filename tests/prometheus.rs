// imapcheck serve scraped by a real Prometheus (Debian's `prometheus`,
// installed by `tests/deps metrics`), with the scrape configuration of the
// man page's SERVE section taken verbatim from man/imapcheck.1, only its
// host names, ports and intervals changed for loopback (1 s scrapes). The
// target is the throw-away Dovecot of tests/real_support: the login module
// (right password) must give probe_success 1 for both of its targets, the
// STARTTLS module (wrong password) 0, and the imapcheck_* series must carry
// the target's labels (instance, module, job). `promtool check config`
// must accept the shipped contrib/prometheus.yml, which holds the same
// scrape configuration as the man page.

mod common;
#[path = "real_support/mod.rs"]
mod real_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How long Prometheus gets to show every probe's result.
const SETTLE: Duration = Duration::from_secs(90);

/// The scrape configuration between the man page's markers, roff undone.
fn man_scrape_config() -> String {
    let man = std::fs::read_to_string(Path::new(ROOT).join("man/imapcheck.1")).expect("man page");
    let start = man.find(".\\\" scrape-config-begin").expect("begin marker");
    let end = man.find(".\\\" scrape-config-end").expect("end marker");
    let block = &man[start..end];
    let mut out = String::new();
    for line in block.lines().skip(1) {
        if line.starts_with(".EX") || line.starts_with(".EE") {
            continue;
        }
        assert!(
            !line.starts_with('.'),
            "a roff request inside the config: {line}"
        );
        out.push_str(&line.replace("\\-", "-").replace("\\e", "\\"));
        out.push('\n');
    }
    out
}

/// contrib/prometheus.yml without its comment lines.
fn contrib_scrape_config() -> String {
    let text =
        std::fs::read_to_string(Path::new(ROOT).join("contrib/prometheus.yml")).expect("contrib");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn promtool_check_config(path: &Path) {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(path)
        .output()
        .expect("promtool (tests/deps metrics)");
    assert!(
        out.status.success(),
        "promtool check config {}: {}{}",
        path.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_shipped_scrape_config_is_the_man_pages_and_promtool_accepts_it() {
    assert_eq!(contrib_scrape_config(), man_scrape_config());
    promtool_check_config(&Path::new(ROOT).join("contrib/prometheus.yml"));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A child process killed on drop, its stderr kept.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e} (tests/deps metrics)"));
        let mut stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
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
        Running { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over HTTP/1.0 (no chunking): the body.
fn http_get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut tcp = TcpStream::connect(addr).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .ok()?;
    let mut got = Vec::new();
    tcp.read_to_end(&mut got).ok()?;
    let text = String::from_utf8_lossy(&got).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

/// Prometheus's answer to an instant query: the result vector.
fn query(prom: SocketAddr, expr: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={expr}");
    let Some(body) = http_get(prom, &path) else {
        return Vec::new();
    };
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn label<'a>(sample: &'a Value, name: &str) -> &'a str {
    sample["metric"][name].as_str().unwrap_or("")
}

fn value(sample: &Value) -> &str {
    sample["value"][1].as_str().unwrap_or("")
}

#[test]
fn prometheus_scrapes_probes_of_a_real_dovecot() {
    let inst = real_support::normal();
    let dir: PathBuf = std::env::temp_dir().join(format!("imapcheck-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("modules")).expect("dirs");
    std::fs::write(dir.join("modules/wrong.pass"), "not-the-password\n").expect("wrong pass");
    // -4: localhost is one of the targets, and Dovecot listens on 127.0.0.1.
    let login = format!(
        "--security tls\n-4\n-u alice\n--password-file {}\n--ca-file {}\n--allow-target 127.0.0.0/8\n",
        inst.alice_pass_file, inst.ca
    );
    let starttls = format!(
        "--security starttls\n-4\n-u alice\n--password-file wrong.pass\n--ca-file {}\n--allow-target 127.0.0.0/8\n",
        inst.ca
    );
    std::fs::write(dir.join("modules/imap_login.conf"), login).expect("module");
    std::fs::write(dir.join("modules/imap_starttls.conf"), starttls).expect("module");

    let exporter_port = free_port();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_imapcheck"));
    serve
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{exporter_port}"),
            "--modules",
        ])
        .arg(dir.join("modules"))
        .env_remove("IMAPCHECK_PASSWORD");
    let serve = Running::start(serve);

    // The man page's configuration; only names, ports and intervals change.
    let config = man_scrape_config()
        .replace("scrape_interval: 60s", "scrape_interval: 1s")
        .replace("scrape_timeout: 15s", "scrape_timeout: 1s")
        .replace(
            "mail.example.org:993",
            &format!("127.0.0.1:{}", inst.tls_port),
        )
        .replace(
            "mx2.example.org:993",
            &format!("localhost:{}", inst.tls_port),
        )
        .replace(
            "legacy.example.org:143",
            &format!("127.0.0.1:{}", inst.plain_port),
        )
        .replace("127.0.0.1:9143", &format!("127.0.0.1:{exporter_port}"));
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, &config).expect("config");
    promtool_check_config(&config_path);

    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let mut prom = Command::new("prometheus");
    prom.arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .arg("--log.level=warn");
    let prom = Running::start(prom);

    let tls_instance = |host: &str| format!("{host}:{}", inst.tls_port);
    let want = [
        (tls_instance("127.0.0.1"), "imap_login", "1"),
        (tls_instance("localhost"), "imap_login", "1"),
        (
            format!("127.0.0.1:{}", inst.plain_port),
            "imap_starttls",
            "0",
        ),
    ];
    let end = Instant::now() + SETTLE;
    let last = loop {
        let last = query(prom_addr, "probe_success");
        let seen = want.iter().all(|(instance, module, v)| {
            last.iter().any(|s| {
                label(s, "instance") == instance
                    && label(s, "module") == *module
                    && label(s, "job") == "imapcheck_probe"
                    && value(s) == *v
            })
        });
        if seen {
            break last;
        }
        assert!(
            Instant::now() < end,
            "Prometheus never showed {want:?}; last answer: {last:?}\nprometheus: {}\nserve: {}",
            prom.log(),
            serve.log()
        );
        thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "probe_success as Prometheus's API answered it: {}",
        serde_json::to_string(&last).unwrap_or_default()
    );

    // The imapcheck_* series carry the target's labels and the check's.
    let success = query(prom_addr, "imapcheck_success");
    for (instance, module, v) in &want {
        let s = success
            .iter()
            .find(|s| label(s, "instance") == instance)
            .unwrap_or_else(|| panic!("no imapcheck_success for {instance}: {success:?}"));
        assert_eq!(label(s, "module"), *module, "{s}");
        assert_eq!(label(s, "job"), "imapcheck_probe", "{s}");
        assert_eq!(value(s), *v, "{s}");
        let (host, port) = instance.rsplit_once(':').expect("host:port");
        assert_eq!((label(s, "host"), label(s, "port")), (host, port), "{s}");
    }
    let steps = query(
        prom_addr,
        "imapcheck_step_status%7Bstep%3D%22login%22%2Cstatus%3D%22failed%22%7D",
    );
    assert!(
        steps
            .iter()
            .any(|s| label(s, "module") == "imap_starttls" && value(s) == "1"),
        "the wrong password fails at login: {steps:?}"
    );
    // The exporter's own job, scraped at Prometheus's default interval
    // (the man page's configuration sets none for it): within a minute.
    let end = Instant::now() + SETTLE;
    loop {
        let up = query(prom_addr, "up%7Bjob%3D%22imapcheck_exporter%22%7D");
        if up.iter().any(|s| value(s) == "1") {
            break;
        }
        assert!(
            Instant::now() < end,
            "the exporter job was never up: {up:?}"
        );
        thread::sleep(Duration::from_millis(500));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
