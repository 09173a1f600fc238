// Local files the run reads or replaces: `--output` never replaces a
// device, a FIFO, a mount point or a link into /proc (each made in a
// private mount namespace, never in the real /dev), `-` and /dev/stdout
// are standard output, and a stale temporary file is neither used nor
// removed; secret files (password, OAuth client secret and refresh
// token) are regular files with one short printable line, refused at
// once otherwise; `--ca-file` is read up to its limit.

use super::*;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// A listener nobody should connect to: the run must stop before any
/// connection. Returns it and its port.
fn untouched_listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.set_nonblocking(true).expect("nonblocking");
    let port = l.local_addr().expect("addr").port().to_string();
    (l, port)
}

fn assert_no_connection(l: &TcpListener, ctx: &str) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the run connected before refusing: {other:?}\n{ctx}"),
    }
}

/// A fresh directory for this test.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("imapcheck-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `sh -c script` in a private mount namespace, `$0` being `dir`
/// and `"$@"` imapcheck with `args`.
fn in_namespace(dir: &std::path::Path, script: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_imapcheck"))
        .args(args)
        .env_remove("IMAPCHECK_PASSWORD")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    let r = run_command(cmd, None, RUN_TIMEOUT);
    assert!(
        !r.stderr.contains("unshare:") && !r.stderr.contains("mount:"),
        "this test needs root and unshare(1) for a private mount namespace: {r:?}"
    );
    r
}

#[test]
fn output_refuses_devices_fifos_and_mount_points() {
    let dir = fresh_dir("kinds");
    // In the namespace: a tmpfs on `dir` holding a character device (the
    // null device's numbers), a FIFO, and a file with another bound on it.
    let setup = "mount -t tmpfs tmpfs \"$0\" && cd \"$0\" && mknod null c 1 3 && mkfifo fifo \
                 && echo keep > file && echo keep > bound && mount --bind file bound";
    for (name, is, test) in [
        ("null", "is a character device", "test -c null"),
        ("fifo", "is a FIFO", "test -p fifo"),
        ("bound", "is a mount point", "grep -qx keep bound"),
    ] {
        let (l, port) = untouched_listener();
        let script = format!(
            "{setup} || exit 99; \"$@\"; echo \"exit=$?\" >&2; {test} && echo unchanged >&2"
        );
        let target = dir.join(name);
        let target = target.to_str().expect("UTF-8 path");
        let r = in_namespace(
            &dir,
            &script,
            &["127.0.0.1", "-p", &port, "--output", target],
        );
        let ctx = format!("--output {name}: {r:?}");
        assert!(r.stderr.contains("exit=3\n"), "a usage error\n{ctx}");
        assert!(r.stderr.contains(is), "{ctx}");
        assert!(r.stderr.contains("unchanged\n"), "{ctx}");
        assert_no_connection(&l, &ctx);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dev_stdout_and_dash_are_standard_output() {
    let port = closed_port().to_string();
    let args = ["127.0.0.1", "-p", &port, "--format", "nagios", "--output"];
    let r = run(&[&args[..], &["-"]].concat(), &[], None);
    assert_eq!(r.status, 2, "{r:?}");
    assert!(r.stdout.starts_with("IMAP CRITICAL - "), "{r:?}");
    // /dev in the namespace is a tmpfs of its own with the links and
    // nodes a process needs, so that a run that replaced /dev/stdout
    // (the defect) could not break the host's.
    let dir = fresh_dir("devstdout");
    let setup = "mount -t tmpfs tmpfs \"$0\" && cp -a /dev/null /dev/zero /dev/urandom /dev/random \"$0\"/ \
                 && ln -s /proc/self/fd \"$0/fd\" && ln -s /proc/self/fd/1 \"$0/stdout\" \
                 && ln -s /proc/self/fd/2 \"$0/stderr\" && mount --bind \"$0\" /dev || exit 99";
    let check = "test -L /dev/stdout && test -L /dev/stderr && echo links-kept >&2";
    let script = format!("{setup}; \"$@\"; echo \"exit=$?\" >&2; {check}");
    let r = in_namespace(&dir, &script, &[&args[..], &["/dev/stdout"]].concat());
    let ctx = format!("{r:?}");
    assert!(r.stderr.contains("exit=2\n"), "{ctx}");
    assert!(r.stdout.starts_with("IMAP CRITICAL - "), "{ctx}");
    assert!(r.stderr.contains("links-kept"), "{ctx}");
    // Other links into /proc are refused, before any connection.
    let script = format!("{setup}; \"$@\"; echo \"exit=$?\" >&2; {check}");
    for other in ["/dev/stderr", "/dev/fd/1", "/proc/self/fd/1"] {
        let (l, port) = untouched_listener();
        let r = in_namespace(
            &dir,
            &script,
            &["127.0.0.1", "-p", &port, "--output", other],
        );
        let ctx = format!("--output {other}: {r:?}");
        assert!(r.stderr.contains("exit=3\n"), "{ctx}");
        assert!(r.stderr.contains("/proc"), "{ctx}");
        assert!(r.stderr.contains("links-kept"), "{ctx}");
        assert_no_connection(&l, &ctx);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stale_temporary_file_is_neither_used_nor_removed() {
    // In a PID namespace imapcheck is PID 1, as in a container, where an
    // earlier run killed mid-write left `.imap.prom.1.tmp` behind.
    let dir = fresh_dir("stale");
    let file = dir.join("imap.prom");
    let stale = dir.join(".imap.prom.1.tmp");
    std::fs::write(&stale, "stale\n").expect("stale file");
    let port = closed_port().to_string();
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_imapcheck"))
        .args(["127.0.0.1", "-p", &port, "--format", "nagios", "--output"])
        .arg(&file)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null());
    let r = run_command(cmd, None, RUN_TIMEOUT);
    let ctx = format!("{r:?}");
    assert!(
        !r.stderr.contains("unshare:"),
        "needs root and unshare(1)\n{ctx}"
    );
    assert_eq!(r.status, 2, "the check's own result\n{ctx}");
    let written = std::fs::read_to_string(&file).expect("the output file");
    assert!(written.starts_with("IMAP CRITICAL - "), "{written}\n{ctx}");
    assert_eq!(
        std::fs::read_to_string(&stale).expect("the stale file is still there"),
        "stale\n"
    );
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".imap.prom.1.tmp", "imap.prom"],
        "no temporary file of ours left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs a check with `--password-file path` against a listener that must
/// not be reached; it must be refused at once (UNKNOWN at login) with a
/// message holding `says` and no byte of the file.
fn assert_password_file_refused(path: &str, says: &str) {
    let (l, port) = untouched_listener();
    let args = [
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        USER,
        "-t",
        "5",
        "--password-file",
        path,
        "--format",
        "json",
    ];
    let (r, v) = run_json(&args, &[], None);
    let ctx = format!("--password-file {path}: {r:?}");
    assert_exit(&r, &v, 3, &ctx);
    assert_eq!(v["error"]["step"], "login", "{ctx}");
    let message = error_text(&v, "message");
    assert!(message.contains(says), "{message}\n{ctx}");
    assert!(
        r.elapsed < Duration::from_secs(2),
        "refused at once, not after {:?}\n{ctx}",
        r.elapsed
    );
    assert!(
        !r.stdout.contains("Zebra7") && !r.stderr.contains("Zebra7"),
        "{ctx}"
    );
    assert_no_connection(&l, &ctx);
}

#[test]
fn password_files_that_are_refused() {
    let dir = fresh_dir("pw");
    let file = |name: &str, contents: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path.to_str().expect("UTF-8 path").to_string()
    };
    let sparse = dir.join("sparse");
    std::fs::File::create(&sparse)
        .and_then(|f| f.set_len(10 << 30))
        .expect("a 10 GB sparse file");
    let long = format!("{}\n", "Zebra7".repeat(342)); // 2052 bytes
    for (path, says) in [
        ("/dev/zero".to_string(), "is a character device"),
        (dir.to_str().expect("path").to_string(), "is a directory"),
        (
            sparse.to_str().expect("path").to_string(),
            "longer than 1024 bytes",
        ),
        (file("long", long.as_bytes()), "longer than 1024 bytes"),
        (file("nul", b"Zebra7\0pw\n"), "a NUL byte"),
        (file("cr", b"Zebra7\rpw\n"), "carriage return"),
        (file("esc", b"Zebra7\x1b[2Jpw\n"), "control character 0x1B"),
    ] {
        assert_password_file_refused(&path, says);
    }
    // A line of exactly the limit is a password.
    let (r, _) = run_json(
        &[
            "127.0.0.1",
            "-p",
            &closed_port().to_string(),
            "-u",
            USER,
            "--password-file",
            &file("limit", format!("{}\r\n", "x".repeat(1024)).as_bytes()),
            "--format",
            "json",
        ],
        &[],
        None,
    );
    assert_eq!(r.status, 2, "read, then the connection fails: {r:?}");
    // An access token (XOAUTH2 or OAUTHBEARER) may be longer: Microsoft's
    // are JWTs of several KiB.
    let jwt = file("jwt", format!("eyJ{}\n", "x".repeat(3000)).as_bytes());
    for (auth, code) in [("xoauth2", 2), ("oauthbearer", 2), ("login", 3)] {
        let port = closed_port().to_string();
        let r = run(
            &[
                "127.0.0.1",
                "-p",
                &port,
                "-u",
                USER,
                "--auth",
                auth,
                "--password-file",
                &jwt,
            ],
            &[],
            None,
        );
        assert_eq!(r.status, code, "--auth {auth}: {r:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_fifo_whose_writer_stays_is_refused_at_once() {
    let dir = fresh_dir("fifo");
    let fifo = dir.join("pw");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    // Opened read-write, the FIFO has a writer at once that never closes
    // (a reader would have its password, and then wait for the end).
    let mut writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the FIFO");
    std::io::Write::write_all(&mut writer, format!("{PASS}\n").as_bytes()).expect("write");
    assert_password_file_refused(fifo.to_str().expect("path"), "is a FIFO");
    drop(writer);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oauth_secret_files_follow_the_same_rules() {
    let dir = fresh_dir("oauth");
    let fifo = dir.join("refresh");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    let nul = dir.join("secret");
    std::fs::write(&nul, b"Zebra7\0secret\n").expect("write");
    let (l, port) = untouched_listener();
    let url = format!("https://127.0.0.1:{port}/token");
    let base = [
        "127.0.0.1",
        "-p",
        &port,
        "-u",
        USER,
        "--oauth-token-url",
        &url,
        "--oauth-client-id",
        "c",
        "--format",
        "json",
    ];
    for (flag, path, says) in [
        (
            "--oauth-client-secret-file",
            "/dev/zero",
            "is a character device",
        ),
        (
            "--oauth-client-secret-file",
            nul.to_str().expect("path"),
            "a NUL byte",
        ),
        (
            "--oauth-refresh-token-file",
            fifo.to_str().expect("path"),
            "is a FIFO",
        ),
    ] {
        let (r, v) = run_json(&[&base[..], &[flag, path]].concat(), &[], None);
        let ctx = format!("{flag} {path}: {r:?}");
        assert_exit(&r, &v, 3, &ctx);
        assert_eq!(v["error"]["step"], "token", "{ctx}");
        assert!(error_text(&v, "message").contains(says), "{ctx}");
        assert!(r.elapsed < Duration::from_secs(2), "{ctx}");
        assert!(
            !r.stdout.contains("Zebra7") && !r.stderr.contains("Zebra7"),
            "{ctx}"
        );
        assert_no_connection(&l, &ctx);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ca_file_dev_zero_is_refused_within_its_limit() {
    // A cap on the address space keeps a build without the limit (which
    // reads /dev/zero until memory runs out) from taking the machine's
    // memory: it then fails on its first allocation above 1 GiB instead.
    let port = closed_port().to_string();
    let mut cmd = imapcheck();
    cmd.args([
        "127.0.0.1",
        "-p",
        &port,
        "--security",
        "tls",
        "--ca-file",
        "/dev/zero",
        "--format",
        "json",
    ]);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of
    // the parent.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1 << 30,
                rlim_max: 1 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let r = run_command(cmd, None, RUN_TIMEOUT);
    let v = parse_json_stdout(&r);
    let ctx = format!("{r:?}");
    assert_exit(&r, &v, 3, &ctx);
    assert_eq!(v["error"]["step"], "tls", "{ctx}");
    assert!(
        error_text(&v, "message").contains("/dev/zero is larger than 4 MiB"),
        "{ctx}"
    );
    assert!(r.elapsed < Duration::from_secs(2), "{ctx}");
}
