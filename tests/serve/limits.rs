// What the exporter refuses and bounds: the allow-list (refused before
// any connection, which a counting listener proves), the scrape timeout,
// --max-probes, slow clients holding connections, and malformed or
// oversized requests.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::endpoints::sample;
use super::*;

/// A loopback listener that counts the connections it gets (and closes
/// each at once).
struct Counter {
    port: u16,
    count: Arc<AtomicUsize>,
}

impl Counter {
    fn start() -> Counter {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let count = Arc::new(AtomicUsize::new(0));
        let count2 = Arc::clone(&count);
        thread::spawn(move || {
            for conn in listener.incoming() {
                count2.fetch_add(1, Ordering::SeqCst);
                drop(conn);
            }
        });
        Counter { port, count }
    }

    fn connections(&self) -> usize {
        // A connection in flight would be counted within this.
        thread::sleep(Duration::from_millis(200));
        self.count.load(Ordering::SeqCst)
    }
}

#[test]
fn refused_targets_get_no_connection_at_all() {
    let login = "--security none\n-u alice\n--password-file password\n-t 3\n";
    let dir = modules_dir(&[
        (
            "other_addr.conf",
            &format!("{login}--allow-target 127.0.0.2/32\n"),
        ),
        (
            "other_name.conf",
            &format!("{login}--allow-target mail.example.org\n"),
        ),
        (
            "suffix.conf",
            &format!("{login}--allow-target *.localhost\n"),
        ),
        ("no_list.conf", login),
        (
            "by_name.conf",
            &format!("{login}--allow-target localhost\n"),
        ),
        (
            "v4_only.conf",
            &format!("{login}-4\n--allow-target 127.0.0.0/8\n"),
        ),
    ]);
    let serve = Exporter::start(&dir, &[]);
    assert!(
        serve
            .log()
            .contains("no_list.conf: the module logs in (-u) and has no --allow-target"),
        "{}",
        serve.log()
    );
    let counter = Counter::start();
    let p = counter.port;
    for (module, target) in [
        ("other_addr", format!("127.0.0.1:{p}")),
        ("other_addr", format!("localhost:{p}")),
        ("other_name", format!("127.0.0.1:{p}")),
        ("other_name", format!("localhost:{p}")),
        ("suffix", format!("localhost:{p}")),
        ("no_list", format!("127.0.0.1:{p}")),
        ("no_list", format!("localhost:{p}")),
        ("by_name", format!("127.0.0.1:{p}")),
    ] {
        let a = serve.get(&format!("/probe?module={module}&target={target}"));
        assert_eq!(a.status, 403, "{module} {target}: {a:?}");
        assert_eq!(a.body.lines().count(), 1, "{a:?}");
        assert_eq!(counter.connections(), 0, "{module} {target} connected");
    }
    // An IPv6 target for a -4 module is a bad target, as on the command line.
    let a = serve.get(&format!("/probe?module=v4_only&target=[::1]:{p}"));
    assert_eq!(a.status, 400, "{a:?}");
    assert_eq!(counter.connections(), 0);
    // The counter does count: an allowed target connects.
    for (module, target) in [
        ("by_name", format!("localhost:{p}")),
        ("v4_only", format!("localhost:{p}")),
    ] {
        let before = counter.connections();
        let a = serve.get(&format!("/probe?module={module}&target={target}"));
        assert_eq!(
            (a.status, sample(&a.body, "probe_success")),
            (200, Some(0.0)),
            "{module}: {a:?}"
        );
        assert!(
            counter.connections() > before,
            "{module} {target} did not connect"
        );
    }
    let m = serve.get("/metrics");
    assert!(
        m.body
            .contains("imapcheck_exporter_refused_requests_total{reason=\"target_not_allowed\"} 8"),
        "{}",
        m.body
    );
}

#[test]
fn a_name_that_does_not_resolve_is_a_failed_probe_not_a_403() {
    let login = "--security none\n-u alice\n--password-file password\n-t 3\n";
    let dir = modules_dir(&[(
        "nets.conf",
        &format!("{login}--allow-target *.invalid\n--allow-target 127.0.0.0/8\n"),
    )]);
    let serve = Exporter::start(&dir, &[]);
    let a = serve.get("/probe?module=nets&target=no-such-host.invalid:143");
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0)),
        "{a:?}"
    );
}

#[test]
fn scrape_timeout_shorter_than_the_module_timeout_wins() {
    let dir = modules_dir(&[("slow.conf", "--security none\n-t 10\n")]);
    let serve = Exporter::start(&dir, &[]);
    // A server that accepts and never greets.
    let server = ScriptedServer::start(Mode::Plain, vec![Step::Hold]);
    let started = Instant::now();
    let a = serve.request(&format!(
        "GET {} HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: 1.5\r\nConnection: close\r\n\r\n",
        probe_path("slow", server.port())
    ));
    let took = started.elapsed();
    drop(server);
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0)),
        "{a:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1500),
        "answered after {took:?}"
    );
    // A timeout too large for any clock is the module's -t, not a panic.
    let a = serve.request(&format!(
        "GET {} HTTP/1.1\r\nX-Prometheus-Scrape-Timeout-Seconds: 1e300\r\nConnection: close\r\n\r\n",
        probe_path("slow", closed_port())
    ));
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0)),
        "{a:?}"
    );
}

#[test]
fn max_probes_exceeded_is_503_at_once() {
    let dir = modules_dir(&[("slow.conf", "--security none\n-t 3\n")]);
    let serve = Exporter::start(&dir, &["--max-probes", "1"]);
    let server = ScriptedServer::start(Mode::Plain, vec![Step::Hold]);
    let path = probe_path("slow", server.port());
    let addr = serve.addr;
    let first = thread::spawn(move || {
        let mut tcp = TcpStream::connect(addr).expect("connect");
        tcp.write_all(format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes())
            .expect("write");
        read_answer(&mut tcp)
    });
    let end = Instant::now() + Duration::from_secs(5);
    while !serve
        .get("/metrics")
        .body
        .contains("imapcheck_exporter_probes_in_flight 1")
    {
        assert!(Instant::now() < end, "the first probe never ran");
        thread::sleep(Duration::from_millis(20));
    }
    let started = Instant::now();
    let a = serve.get(&probe_path("slow", closed_port()));
    assert_eq!(a.status, 503, "{a:?}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "503 took {:?}",
        started.elapsed()
    );
    let first = first.join().expect("first probe");
    assert_eq!(
        (first.status, sample(&first.body, "probe_success")),
        (200, Some(0.0))
    );
    drop(server);
    // Free again.
    assert_eq!(serve.get(&probe_path("slow", closed_port())).status, 200);
    assert!(
        serve
            .get("/metrics")
            .body
            .contains("reason=\"too_many_probes\"} 1")
    );
}

#[test]
fn slow_and_idle_clients_do_not_stop_probes() {
    let dir = modules_dir(&[("login.conf", LOGIN_MODULE)]);
    let serve = Exporter::start(&dir, &[]);
    // 150 connections holding half a request head each (slowloris).
    let held: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut t = TcpStream::connect(serve.addr).expect("connect");
            t.write_all(b"GET /probe?module=login&tar").expect("write");
            t
        })
        .collect();
    let server = kb_server();
    let started = Instant::now();
    let a = serve.get(&probe_path("login", server.port()));
    server.finish().assert_ok();
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(1.0)),
        "{a:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(held);
}

#[test]
fn a_head_that_trickles_in_is_cut_after_ten_seconds() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let serve = Exporter::start(&dir, &[]);
    let mut tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let started = Instant::now();
    let mut got = Vec::new();
    let head = b"GET /-/healthy HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for &b in head.iter().cycle().take(40) {
        if tcp.write_all(&[b]).is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match tcp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if !got.is_empty() {
            break;
        }
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?} after {took:?}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(13),
        "{took:?}"
    );
}

#[test]
fn malformed_and_oversized_requests_are_refused_and_closed() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let serve = Exporter::start(&dir, &[]);
    let big = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(9000));
    let many_headers = format!("GET / HTTP/1.1\r\n{}\r\n", "X-A: b\r\n".repeat(1200));
    for (head, status) in [
        (big.as_str(), 431),
        (many_headers.as_str(), 431),
        ("GET /\0 HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: x\n\n", 400),
        ("GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n", 400),
        ("GET /?target=%00 HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n folded\r\n\r\n", 400),
        ("GET http://x/ HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/3\r\n\r\n", 505),
        ("BREW / HTTP/1.1\r\n\r\n", 405),
        ("\r\n\r\n", 400),
    ] {
        let mut tcp = TcpStream::connect(serve.addr).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = tcp.write_all(head.as_bytes());
        let a = read_answer(&mut tcp);
        assert_eq!(a.status, status, "{:?}: {a:?}", &head[..head.len().min(40)]);
        assert_eq!(a.header("connection").as_deref(), Some("close"));
        // And closed.
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest);
    }
    // Still serving.
    assert_eq!(serve.get("/-/healthy").status, 200);
}

#[test]
fn connections_beyond_the_limit_are_closed_at_once() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let serve = Exporter::start(&dir, &[]);
    // The limit (256) in idle connections, each seen by the server.
    let mut held = Vec::new();
    for _ in 0..256 {
        held.push(TcpStream::connect(serve.addr).expect("connect"));
    }
    let end = Instant::now() + Duration::from_secs(10);
    let mut extra = loop {
        let mut t = TcpStream::connect(serve.addr).expect("connect");
        t.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let _ = t.write_all(b"GET /-/healthy HTTP/1.1\r\n\r\n");
        let mut buf = [0u8; 64];
        match t.read(&mut buf) {
            Ok(0) | Err(_) => break t,
            // Answered: some held connection was not counted yet.
            Ok(_) => assert!(Instant::now() < end, "never refused"),
        }
    };
    let mut rest = Vec::new();
    assert!(extra.read_to_end(&mut rest).map_or(true, |n| n == 0));
    drop(held);
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut t) = TcpStream::connect(serve.addr) {
            t.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let _ = t.write_all(b"GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
            let mut got = String::new();
            let _ = t.read_to_string(&mut got);
            if got.starts_with("HTTP/1.1 200") {
                assert!(!got.contains("reason=\"too_many_connections\"} 0"), "{got}");
                break;
            }
        }
        assert!(Instant::now() < end, "the held connections never went away");
        thread::sleep(Duration::from_millis(100));
    }
}
