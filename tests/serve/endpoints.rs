// Every endpoint and status code: /probe (200 with probe_success 1 and 0,
// 400, 403, 404), OpenMetrics on request, debug=true, /metrics, /, /logs,
// /-/healthy, /-/ready, HEAD, 405.

use super::*;

/// The value of the sample line `name` (labels included) in `body`.
pub fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// promtool reads the Prometheus text format as the textfile collector
/// and Prometheus's own scrape do.
pub fn promtool_accepts(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (tests/deps metrics)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );
}

#[test]
fn probe_of_a_healthy_server_is_success_in_both_formats() {
    let dir = modules_dir(&[("login.conf", LOGIN_MODULE)]);
    let serve = Exporter::start(&dir, &[]);
    let server = kb_server();
    let a = serve.get(&probe_path("login", server.port()));
    server.finish().assert_ok();
    assert_eq!(a.status, 200, "{a:?}\n{}", serve.log());
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(sample(&a.body, "probe_success"), Some(1.0), "{}", a.body);
    let host = "{host=\"127.0.0.1\",port=\"".to_string() + &server_port_label(&a.body);
    assert!(
        a.body.contains(&format!("imapcheck_success{host}")),
        "{}",
        a.body
    );
    assert!(
        !a.body.contains("# EOF") && !a.body.contains("# UNIT"),
        "{}",
        a.body
    );
    promtool_accepts(&a.body);

    // OpenMetrics when asked for, read by both strict parsers.
    let server = kb_server();
    let a = serve.request(&format!(
        "GET {} HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\nConnection: close\r\n\r\n",
        probe_path("login", server.port())
    ));
    server.finish().assert_ok();
    assert!(
        a.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text"))
    );
    let m = a.metrics();
    assert_eq!(m.get("probe_success", &[]), 1.0);
    assert!(m.get("probe_duration_seconds", &[]) > 0.0);
    assert_eq!(
        m.get(
            "imapcheck_success",
            &[("host", "127.0.0.1"), ("security", "none")]
        ),
        1.0
    );
}

fn server_port_label(body: &str) -> String {
    let at = body
        .find("imapcheck_success{host=\"127.0.0.1\",port=\"")
        .expect("imapcheck_success")
        + 41;
    body[at..].split('"').next().unwrap_or_default().to_string()
}

#[test]
fn a_failed_check_is_200_with_probe_success_0() {
    let dir = modules_dir(&[
        ("login.conf", LOGIN_MODULE),
        ("plain.conf", "--security none\n"),
    ]);
    let serve = Exporter::start(&dir, &[]);
    // Refused login.
    let server = ScriptedServer::start(
        Mode::Plain,
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone("LOGIN *".into()),
            Step::Send("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".into()),
            Step::Expect("LOGOUT".into()),
            Step::Send("* BYE\r\n{tag} OK Logout completed.\r\n".into()),
            Step::ExpectEof,
        ],
    );
    let a = serve.get(&probe_path("login", server.port()));
    server.finish().assert_ok();
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0)),
        "{}",
        a.body
    );
    // Connection refused, without a login.
    let a = serve.get(&probe_path("plain", closed_port()));
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0)),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("step=\"connect\",status=\"failed\"} 1"),
        "{}",
        a.body
    );
}

#[test]
fn bad_requests_are_400_404_405_with_a_one_line_reason() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let serve = Exporter::start(&dir, &[]);
    for (path, status) in [
        ("/probe", 400),
        ("/probe?module=plain", 400),
        ("/probe?target=127.0.0.1", 400),
        ("/probe?module=plain&target=127.0.0.1:0", 400),
        ("/probe?module=plain&target=127.0.0.1:99999", 400),
        ("/probe?module=plain&target=a%20b", 400),
        ("/probe?module=plain&target=%5B%3A%3A1", 400),
        ("/probe?module=plain&target=x&debug=yes", 400),
        ("/probe?module=plain&module=plain&target=x", 400),
        ("/probe?module=plain&target=x%zz", 400),
        ("/probe?module=plain&target=x%0d%0aSet-Cookie:%20a", 400),
        ("/probe?module=nope&target=127.0.0.1", 404),
        ("/nothing", 404),
        ("/logs?id=999", 404),
    ] {
        let a = serve.get(path);
        assert_eq!(a.status, status, "{path}: {a:?}");
        assert_eq!(a.body.lines().count(), 1, "{path}: one line: {:?}", a.body);
        assert!(
            a.header("content-type")
                .is_some_and(|t| t.starts_with("text/plain"))
        );
    }
    let a = serve.request("POST /probe HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(a.status, 405);
    assert_eq!(a.header("allow").as_deref(), Some("GET, HEAD"));
}

#[test]
fn health_ready_landing_metrics_and_head() {
    let dir = modules_dir(&[
        ("plain.conf", "--security none\n"),
        ("login.conf", LOGIN_MODULE),
    ]);
    let serve = Exporter::start(&dir, &[]);
    assert_eq!(serve.get("/-/healthy").status, 200);
    assert_eq!(serve.get("/-/ready").status, 200);
    let a = serve.get(&probe_path("plain", closed_port()));
    assert_eq!(a.status, 200);
    let page = serve.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html"))
    );
    assert!(
        page.body.contains("<li>plain</li>") && page.body.contains("<li>login</li>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("password") && !page.body.contains(USER),
        "{}",
        page.body
    );
    let link = page
        .body
        .split("href=\"/logs?id=")
        .nth(1)
        .expect("a probe link");
    let id = link.split('"').next().expect("id");
    let logs = serve.get(&format!("/logs?id={id}"));
    assert_eq!(logs.status, 200);
    assert!(logs.body.contains("connect"), "{}", logs.body);

    let m = serve.get("/metrics");
    assert_eq!(m.status, 200);
    promtool_accepts(&m.body);
    for line in [
        "imapcheck_exporter_probes_total{module=\"plain\",result=\"failure\"} 1",
        "imapcheck_exporter_probes_total{module=\"login\",result=\"success\"} 0",
        "imapcheck_exporter_probes_in_flight 0",
        "imapcheck_exporter_module_load_errors_total 0",
        "imapcheck_exporter_modules 2",
    ] {
        assert!(m.body.contains(line), "{line}\n{}", m.body);
    }
    for name in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "imapcheck_exporter_last_reload_success_timestamp_seconds",
    ] {
        assert!(
            sample(&m.body, name).is_some_and(|v| v > 0.0),
            "{name}\n{}",
            m.body
        );
    }
    // Ticks of 10 ms: a young process may not have used one yet.
    assert!(sample(&m.body, "process_cpu_seconds_total").is_some_and(|v| v >= 0.0));

    let head = serve.request("HEAD /metrics HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.header("content-length").is_some_and(|n| n != "0"));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let serve = Exporter::start(&dir, &[]);
    let mut tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // One, then two pipelined in one write (the answers may come in one
    // read: both are looked for in what arrives), then a probe.
    tcp.write_all(b"GET /-/healthy HTTP/1.1\r\n\r\n")
        .expect("write");
    assert_eq!(read_answer(&mut tcp).body, "Healthy\n");
    tcp.write_all(b"GET /-/ready HTTP/1.1\r\n\r\nGET /-/healthy HTTP/1.1\r\n\r\n")
        .expect("write");
    let mut both = String::new();
    let mut chunk = [0u8; 4096];
    while !both.ends_with("Healthy\n") {
        let n = tcp.read(&mut chunk).expect("read");
        assert!(n > 0, "closed after {both:?}");
        both.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "{both}");
    assert!(both.find("Ready\n") < both.find("Healthy\n"), "{both}");
    let path = probe_path("plain", closed_port());
    tcp.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
        .expect("write");
    let a = read_answer(&mut tcp);
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0))
    );
    assert_eq!(a.header("connection").as_deref(), Some("keep-alive"));
}

#[test]
fn debug_shows_the_transcript_and_report() {
    let dir = modules_dir(&[("login.conf", LOGIN_MODULE)]);
    let serve = Exporter::start(&dir, &[]);
    let server = kb_server();
    let a = serve.get(&format!(
        "{}&debug=true",
        probe_path("login", server.port())
    ));
    server.finish().assert_ok();
    assert_eq!(a.status, 200);
    assert!(
        a.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; charset"))
    );
    for want in [
        "S: * OK [CAPABILITY",
        "C: ",
        "LOGIN alice ***",
        "IMAP WARNING",
        "probe_success 1",
    ] {
        assert!(a.body.contains(want), "{want:?} missing:\n{}", a.body);
    }
    assert!(!a.body.contains(PASS), "{}", a.body);
    // The transcript went to the answer, not to the exporter's log.
    assert!(
        !serve.log().contains("S: * OK [CAPABILITY"),
        "{}",
        serve.log()
    );
}
