// The password prompt on a real terminal: a pseudo-terminal made here
// (posix_openpt), the binary its session leader with the pty as its
// controlling terminal, as in a login shell. Echo is off while the prompt
// waits, without `stty` on PATH, and on again however the prompt ends: a
// line, end of input, Ctrl-C, SIGTERM, SIGHUP. A terminal whose echo
// cannot be switched off gets no prompt.

use super::*;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Child;

/// Both ends of a pseudo-terminal; the master is non-blocking.
struct Pty {
    master: File,
    slave: File,
}

fn open_pty() -> Pty {
    // SAFETY: plain libc calls on a descriptor this function owns; the
    // name buffer is large enough and NUL-terminated by ptsname_r.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_NONBLOCK);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let master = File::from_raw_fd(m);
        assert_eq!(libc::grantpt(m), 0, "grantpt");
        assert_eq!(libc::unlockpt(m), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, name.as_mut_ptr(), name.len()), 0);
        let path = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_str()
            .expect("pty name")
            .to_string();
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
        Pty { master, slave }
    }
}

/// Whether the terminal echoes, as the slave's termios says.
fn echoes(pty: &Pty) -> bool {
    // SAFETY: termios is plain old data; the descriptor is open.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(pty.slave.as_raw_fd(), &mut t), 0);
        t.c_lflag & libc::ECHO != 0
    }
}

/// imapcheck asking for the password of USER (then checking a closed
/// port), on the pty as its controlling terminal, PATH without `stty`.
fn spawn_on(pty: &Pty) -> Child {
    let port = closed_port().to_string();
    let mut cmd = imapcheck();
    cmd.args(["127.0.0.1", "-p", &port, "-u", USER, "--format", "nagios"])
        .env("PATH", "/nonexistent")
        .stdin(pty.slave.try_clone().expect("slave"))
        .stdout(pty.slave.try_clone().expect("slave"))
        .stderr(pty.slave.try_clone().expect("slave"));
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().expect("spawning imapcheck on the pty")
}

/// Reads what the master has until `want` shows or `until` passes.
fn read_master(pty: &Pty, seen: &mut Vec<u8>, want: &str, until: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        if contains(seen, want.as_bytes()) {
            return true;
        }
        match std::io::Read::read(&mut &pty.master, &mut buf) {
            Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
            _ => {
                if Instant::now() > until {
                    return false;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn wait(child: &mut Child) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("imapcheck did not end after the prompt");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_prompt_hides_the_password_and_always_restores_echo() {
    // (how the prompt ends, the exit code or signal expected)
    let cases: [(&str, Option<i32>, Option<i32>); 5] = [
        ("typed", Some(2), None),
        ("ctrl-c", None, Some(libc::SIGINT)),
        ("sigterm", None, Some(libc::SIGTERM)),
        ("sighup", None, Some(libc::SIGHUP)),
        ("eof", Some(3), None),
    ];
    for (how, code, signal) in cases {
        let pty = open_pty();
        assert!(echoes(&pty), "a new terminal echoes");
        let mut child = spawn_on(&pty);
        let mut seen = Vec::new();
        let until = Instant::now() + Duration::from_secs(10);
        let prompted = read_master(&pty, &mut seen, "IMAP password: ", until);
        let shown = |seen: &[u8]| String::from_utf8_lossy(seen).into_owned();
        if !prompted {
            let _ = child.kill();
            panic!("{how}: no prompt: {:?}", shown(&seen));
        }
        assert!(!echoes(&pty), "{how}: echo is off at the prompt");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        let mut master = &pty.master;
        match how {
            "typed" => std::io::Write::write_all(&mut master, format!("{PASS}\n").as_bytes()),
            "ctrl-c" => std::io::Write::write_all(&mut master, b"\x03"),
            "eof" => std::io::Write::write_all(&mut master, b"\x04"),
            _ => {
                let sig = signal.expect("a signal");
                // SAFETY: kill takes no pointers; pid is our live child.
                assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
                Ok(())
            }
        }
        .expect("writing to the pty");
        let status = wait(&mut child);
        let _ = read_master(&pty, &mut seen, "\u{0}never", Instant::now());
        let ctx = format!("{how}: {status:?}\n{}", shown(&seen));
        assert_eq!(status.code(), code, "{ctx}");
        assert_eq!(status.signal(), signal, "{ctx}");
        assert!(echoes(&pty), "echo is on again\n{ctx}");
        assert!(
            !contains(&seen, PASS.as_bytes()),
            "the password was echoed\n{ctx}"
        );
        if how == "eof" {
            assert!(shown(&seen).contains("input ended"), "{ctx}");
        }
    }
}

#[test]
fn no_prompt_where_echo_cannot_be_switched_off() {
    // Standard input is a terminal, so the prompt is chosen; /dev/tty is,
    // in a private mount namespace, a file with no terminal settings.
    let pty = open_pty();
    let dir = std::env::temp_dir().join(format!("imapcheck-prompt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let not_a_tty = dir.join("tty");
    std::fs::write(&not_a_tty, format!("{PASS}\n")).expect("file");
    let port = closed_port().to_string();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" /dev/tty && exec \"$@\"",
    ])
    .arg(&not_a_tty)
    .arg(env!("CARGO_BIN_EXE_imapcheck"))
    .args(["127.0.0.1", "-p", &port, "-u", USER, "--format", "nagios"])
    .env_remove("IMAPCHECK_PASSWORD")
    .env_remove("RUST_LOG")
    .stdin(pty.slave.try_clone().expect("slave"));
    let r = run_command(cmd, None, RUN_TIMEOUT);
    let _ = std::fs::remove_dir_all(&dir);
    let ctx = format!("{r:?}");
    assert!(
        !r.stderr.contains("unshare:") && !r.stderr.contains("mount:"),
        "needs root and unshare(1)\n{ctx}"
    );
    assert_eq!(r.status, 3, "{ctx}");
    let all = format!("{}{}", r.stdout, r.stderr);
    assert!(all.contains("cannot switch off echo"), "{ctx}");
    assert!(
        all.contains("use --password-file or IMAPCHECK_PASSWORD"),
        "{ctx}"
    );
}
