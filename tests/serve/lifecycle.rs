// Start, reload and stop: a broken module stops the start naming its
// file and line; SIGHUP loads a good module and keeps the old set on a
// broken one (counting the error); SIGTERM and SIGINT end the process
// with status 0 within a few seconds, also with a probe in flight.

use super::endpoints::sample;
use super::*;

#[test]
fn a_broken_module_stops_the_start_with_file_and_line() {
    for (text, line, what) in [
        ("--security none\n--format json\n", 2, "--format"),
        ("# ok\n--output /tmp/x\n", 2, "--output"),
        ("--repeat 3\n", 1, "--repeat"),
        ("--password-stdin\n", 1, "--password-stdin"),
        ("-H serve\n", 1, "host"),
        ("\n\n--allow-target not a pattern\n", 3, "--allow-target"),
        ("--no-such-flag\n", 1, "no-such-flag"),
    ] {
        let dir = modules_dir(&[("ok.conf", "--security none\n"), ("broken.conf", text)]);
        let log = Exporter::try_start(&dir, &[])
            .err()
            .unwrap_or_else(|| panic!("{text:?} started"));
        let at = format!("broken.conf:{line}:");
        assert!(log.contains(&at) && log.contains(what), "{text:?}: {log}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn sighup_reloads_and_a_broken_file_keeps_the_old_set() {
    let dir = modules_dir(&[("one.conf", "--security none\n")]);
    let serve = Exporter::start(&dir, &[]);
    assert_eq!(serve.get(&probe_path("two", closed_port())).status, 404);
    std::fs::write(dir.join("two.conf"), "--security none\n-t 2\n").expect("write");
    serve.signal("HUP");
    let end = Instant::now() + Duration::from_secs(5);
    while serve.get(&probe_path("two", closed_port())).status != 200 {
        assert!(
            Instant::now() < end,
            "two.conf never loaded:\n{}",
            serve.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(dir.join("three.conf"), "--format json\n").expect("write");
    serve.signal("HUP");
    let end = Instant::now() + Duration::from_secs(5);
    while !serve
        .get("/metrics")
        .body
        .contains("imapcheck_exporter_module_load_errors_total 1")
    {
        assert!(
            Instant::now() < end,
            "no reload error counted:\n{}",
            serve.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    assert!(serve.log().contains("three.conf:1:"), "{}", serve.log());
    // The set before the broken file is still in use, whole.
    assert_eq!(serve.get(&probe_path("one", closed_port())).status, 200);
    assert_eq!(serve.get(&probe_path("two", closed_port())).status, 200);
    assert_eq!(serve.get(&probe_path("three", closed_port())).status, 404);
}

#[test]
fn sigterm_during_a_probe_exits_0_within_seconds() {
    for signal in ["TERM", "INT"] {
        let dir = modules_dir(&[("slow.conf", "--security none\n-t 30\n")]);
        let mut serve = Exporter::start(&dir, &[]);
        let server = ScriptedServer::start(Mode::Plain, vec![Step::Hold]);
        let path = probe_path("slow", server.port());
        let addr = serve.addr;
        let probe = thread::spawn(move || {
            let mut tcp = TcpStream::connect(addr).expect("connect");
            tcp.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let _ = tcp.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
            let mut got = Vec::new();
            let _ = tcp.read_to_end(&mut got);
            String::from_utf8_lossy(&got).into_owned()
        });
        let end = Instant::now() + Duration::from_secs(5);
        while !serve
            .get("/metrics")
            .body
            .contains("imapcheck_exporter_probes_in_flight 1")
        {
            assert!(Instant::now() < end, "the probe never ran");
            thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        serve.signal(signal);
        let status = serve.wait_exit(Duration::from_secs(5));
        assert_eq!(status, Some(0), "SIG{signal}: {}", serve.log());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        // The probe in flight was answered (failed) or its connection closed.
        let answer = probe.join().expect("probe thread");
        assert!(
            answer.is_empty()
                || sample(
                    answer.split("\r\n\r\n").nth(1).unwrap_or(""),
                    "probe_success"
                ) == Some(0.0),
            "{answer}"
        );
        drop(server);
    }
}

#[test]
fn serve_is_a_word_only_in_first_place() {
    // A host named serve is checked with -H serve (here: a name that does
    // not resolve, so the check is CRITICAL at connect, not a usage error).
    let r = run(&["-H", "serve", "-p", "1", "-t", "2"], &[], None);
    assert_eq!(r.status, 2, "{r:?}");
    assert!(r.stdout.contains("connect"), "{r:?}");
    let r = run(&["serve", "--help"], &[], None);
    assert_eq!(r.status, 0, "{r:?}");
    assert!(
        r.stdout.contains("--modules") && r.stdout.contains("--max-probes"),
        "{r:?}"
    );
    let r = run(&["serve"], &[], None);
    assert_eq!(r.status, 3, "--modules is required: {r:?}");
    let dir = modules_dir(&[]);
    let d = dir.to_string_lossy().into_owned();
    for bad in [&["--listen", "nowhere"][..], &["--max-probes", "0"]] {
        let mut args = vec!["serve", "--modules", &d];
        args.extend_from_slice(bad);
        let r = run(&args, &[], None);
        assert_eq!(r.status, 3, "{bad:?}: {r:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `--flags` in `text` (roff's `\-` read as `-`), but --help.
fn long_flags(text: &str) -> std::collections::BTreeSet<String> {
    let text = text.replace("\\-", "-");
    let mut flags = std::collections::BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("--") {
        rest = &rest[at + 2..];
        let end = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c == '-'))
            .unwrap_or(rest.len());
        if end > 0 && &rest[..end] != "help" {
            flags.insert(format!("--{}", &rest[..end]));
        }
        rest = &rest[end..];
    }
    flags
}

#[test]
fn serve_help_and_the_man_page_list_the_same_options() {
    let r = run(&["serve", "--help"], &[], None);
    assert_eq!(r.status, 0, "{r:?}");
    let options = r.stdout.split_once("Options:").expect("Options:").1;
    // The first flag of each option line, not the flags its text names.
    let help: std::collections::BTreeSet<String> = options
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| format!("--{}", l.split_whitespace().next().unwrap_or_default()))
        .filter(|f| f != "--help,")
        .collect();
    let man = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/man/imapcheck.1"))
        .expect("man page");
    let between = |from: &str, to: &str| -> String {
        let start = man.find(from).unwrap_or_else(|| panic!("{from}"));
        let len = man[start..].find(to).unwrap_or_else(|| panic!("{to}"));
        man[start..start + len].to_string()
    };
    // Each entry's tag: the line after .TP.
    let section = between(".SS Options of serve", ".SS Endpoints");
    let lines: Vec<&str> = section.lines().collect();
    let tags: String = lines
        .windows(2)
        .filter(|w| w[0] == ".TP")
        .map(|w| format!("{}\n", w[1]))
        .collect();
    assert_eq!(long_flags(&tags), help, "SERVE's option entries");
    let synopsis = between(".SY \"imapcheck serve\"", ".YS");
    assert_eq!(long_flags(&synopsis), help, "SYNOPSIS of serve");
}
