// Secrets: the password reaches the server intact from every source and
// never shows in stdout or stderr (-v transcript, RUST_LOG=trace), in any
// format, whether the login works or not.

use super::happy::plain_b64;
use super::*;

/// Space, quotes and backslash: must go as a quoted string with escapes.
const TRICKY: &str = "Zebra7 \"q\" \\b";
/// How TRICKY goes on the wire.
const TRICKY_WIRE: &str = "\"Zebra7 \\\"q\\\" \\\\b\"";

/// Undoes IMAP quoted-string escaping of `"..."`.
fn unquote(q: &str) -> String {
    let inner = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or_else(|| panic!("not quoted: {q}"));
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next().expect("escape at the end"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Fails if any form of `secret` shows in the run's output.
fn assert_hidden(r: &Run, secrets: &[&str], ctx: &str) {
    for s in secrets {
        for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
            assert!(!text.contains(s), "{s:?} appears on {name}\n{ctx}");
        }
    }
}

const VERBOSE_ENV: [(&str, &str); 2] = [("IMAPCHECK_PASSWORD", TRICKY), ("RUST_LOG", "trace")];

fn login_reply(ok: bool) -> String {
    if ok {
        kb_login_ok()
    } else {
        "{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".into()
    }
}

fn after_login(ok: bool) -> Vec<Step> {
    if ok { kb_after_login() } else { logout_steps() }
}

#[test]
fn tricky_password_arrives_quoted_and_intact() {
    assert_eq!(unquote(TRICKY_WIRE), TRICKY);
    let s = script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {TRICKY_WIRE}")),
            Step::Send(kb_login_ok()),
        ],
        kb_after_login(),
    ]);
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
    let port = srv.port();
    let (r, v, log) = go_json(
        srv,
        &user(tls_args(port)),
        &[("IMAPCHECK_PASSWORD", TRICKY)],
    );
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    let line = &log.lines[0];
    let quoted = line
        .split_once(&format!(" LOGIN {USER} "))
        .map(|(_, q)| q)
        .expect("LOGIN line");
    assert_eq!(unquote(quoted), TRICKY, "{ctx}");
}

#[test]
fn tricky_password_never_shown_in_any_format() {
    for format in ["text", "nagios", "json"] {
        for ok in [true, false] {
            let s = script(vec![
                vec![
                    Step::Send(GREETING.into()),
                    Step::ExpectAlone(format!("LOGIN {USER} {TRICKY_WIRE}")),
                    Step::Send(login_reply(ok)),
                ],
                after_login(ok),
            ]);
            let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
            let port = srv.port();
            let args = with(user(tls_args(port)), &["-v", "--format", format]);
            let (r, log) = go(srv, &args, &VERBOSE_ENV, None);
            let ctx = dump(&r, &log);
            log.assert_ok();
            assert_eq!(r.status, if ok { 0 } else { 2 }, "{ctx}");
            // The transcript is there, with the secret masked.
            assert!(
                r.stderr.contains(&format!(" LOGIN {USER} ***")),
                "no masked LOGIN line\n{ctx}"
            );
            assert!(
                r.stderr.contains("TRACE"),
                "RUST_LOG=trace had no effect\n{ctx}"
            );
            assert_hidden(&r, &[TRICKY, TRICKY_WIRE, "Zebra7"], &ctx);
        }
    }
}

#[test]
fn literal_password_never_shown() {
    let pw = "pä\r\nZebra7";
    for format in ["text", "nagios", "json"] {
        for ok in [true, false] {
            let s = script(vec![
                vec![
                    Step::Send("* OK [CAPABILITY IMAP4rev1] ready\r\n".into()),
                    Step::Expect(format!("LOGIN {USER} {{{}}}", pw.len())),
                    Step::Send("+ Ready for literal data\r\n".into()),
                    Step::ExpectBytes(pw.len()),
                    Step::Expect(String::new()),
                    Step::Send(login_reply(ok)),
                ],
                after_login(ok),
            ]);
            let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
            let port = srv.port();
            let args = with(user(tls_args(port)), &["-v", "--format", format]);
            let env = [("IMAPCHECK_PASSWORD", pw), ("RUST_LOG", "trace")];
            let (r, log) = go(srv, &args, &env, None);
            let ctx = dump(&r, &log);
            log.assert_ok();
            assert_eq!(r.status, if ok { 0 } else { 2 }, "{ctx}");
            assert_eq!(log.literals, [pw.as_bytes()], "{ctx}");
            assert_hidden(&r, &["Zebra7", "p\u{e4}", "p\\xc3"], &ctx);
        }
    }
}

#[test]
fn authenticate_plain_payload_never_shown() {
    let b64 = plain_b64();
    for format in ["text", "nagios", "json"] {
        for sasl_ir in [true, false] {
            let mut s = if sasl_ir {
                vec![
                    Step::Send(GREETING.into()),
                    Step::ExpectAlone(format!("AUTHENTICATE PLAIN {b64}")),
                ]
            } else {
                vec![
                    Step::Send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n".into()),
                    Step::Expect("AUTHENTICATE PLAIN".into()),
                    Step::Send("+ \r\n".into()),
                    Step::ExpectBytes(b64.len()),
                    Step::Expect(String::new()),
                ]
            };
            s.push(Step::Send(
                "{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n".into(),
            ));
            s.extend(logout_steps());
            let srv = ScriptedServer::start(Mode::Tls(Identity::Good), s);
            let port = srv.port();
            let args = with(
                user(tls_args(port)),
                &["-v", "--auth", "plain", "--format", format],
            );
            let env = [("IMAPCHECK_PASSWORD", PASS), ("RUST_LOG", "trace")];
            let (r, log) = go(srv, &args, &env, None);
            let ctx = dump(&r, &log);
            log.assert_ok();
            assert_eq!(r.status, 2, "{ctx}");
            assert!(r.stderr.contains("AUTHENTICATE PLAIN"), "{ctx}");
            assert_hidden(&r, &[&b64, &b64[..12], PASS], &ctx);
        }
    }
}

/// A fresh file path in the temp dir for this test.
fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("imapcheck-scripted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("writing temp file");
    path
}

fn exact_login_script() -> Vec<Step> {
    script(vec![
        vec![Step::Send(GREETING.into())],
        login_steps(),
        kb_after_login(),
    ])
}

#[test]
fn password_from_the_environment() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), exact_login_script());
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &PASS_ENV);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
}

#[test]
fn password_from_a_file_first_line_only() {
    let path = temp_file("pw-file", format!("{PASS}\r\nsecond line\n").as_bytes());
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), exact_login_script());
    let port = srv.port();
    let p = path.to_str().expect("UTF-8 path");
    let (r, v, log) = go_json(
        srv,
        &with(user(tls_args(port)), &["--password-file", p]),
        &[],
    );
    let _ = std::fs::remove_file(&path);
    let ctx = dump(&r, &log);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
    assert_not_received(&log, "second line", &ctx);
}

#[test]
fn password_from_stdin() {
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), exact_login_script());
    let port = srv.port();
    let args = with(
        user(tls_args(port)),
        &["--password-stdin", "--format", "json"],
    );
    let stdin = format!("{PASS}\nignored\n");
    let (r, log) = go(srv, &args, &[], Some(stdin.as_bytes()));
    let ctx = dump(&r, &log);
    let v = parse_json_stdout(&r);
    log.assert_ok();
    assert_exit(&r, &v, 0, &ctx);
}

#[test]
fn no_password_source_is_unknown() {
    // stdin is /dev/null (no terminal, no prompt) and nothing else given.
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), kb_script());
    let port = srv.port();
    let (r, v, log) = go_json(srv, &user(tls_args(port)), &[]);
    let ctx = dump(&r, &log);
    assert_exit(&r, &v, 3, &ctx);
    assert_eq!(v["error"]["step"], "login", "{ctx}");
    assert!(
        error_text(&v, "message").starts_with("no password"),
        "{ctx}"
    );
    assert_steps(
        &v,
        &TLS_STEPS,
        "skipped skipped skipped skipped skipped skipped skipped skipped skipped skipped",
        &ctx,
    );
    for key in JSON_FIELDS {
        assert!(v.get(key).is_some(), "{key}\n{ctx}");
    }
    // No connection was even made.
    assert!(
        log.errors.iter().any(|e| e.contains("no client connected")),
        "{ctx}"
    );
    // In text format the reason goes to stderr, the summary to stdout.
    let r = run(
        &["127.0.0.1", "-p", "1", "-u", USER, "--format", "text"],
        &[],
        None,
    );
    assert_eq!(r.status, 3, "{r:?}");
    assert!(r.stderr.contains("no password"), "{r:?}");
    assert!(r.stdout.contains("IMAP UNKNOWN - "), "{r:?}");
}

#[test]
fn unreadable_files_are_unknown() {
    let missing = std::env::temp_dir().join("imapcheck-scripted-does-not-exist/pw");
    let m = missing.to_str().expect("UTF-8 path");
    let port = closed_port().to_string();
    let cases = [
        (
            vec!["127.0.0.1", "-p", &port, "-u", USER, "--password-file", m],
            "login",
        ),
        (
            vec![
                "127.0.0.1",
                "-p",
                &port,
                "--security",
                "tls",
                "--ca-file",
                m,
            ],
            "tls",
        ),
    ];
    for (mut args, failed) in cases {
        args.extend(["--format", "json"]);
        let (r, v) = run_json(&args, &[], None);
        let ctx = format!("{r:?}");
        assert_exit(&r, &v, 3, &ctx);
        assert_eq!(v["error"]["step"], failed, "{ctx}");
        assert!(error_text(&v, "message").contains(m), "{ctx}");
    }
    let empty = temp_file("empty-pw", b"");
    let e = empty.to_str().expect("UTF-8 path");
    let (r, v) = run_json(
        &[
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            USER,
            "--password-file",
            e,
            "--format",
            "json",
        ],
        &[],
        None,
    );
    let _ = std::fs::remove_file(&empty);
    assert_exit(&r, &v, 3, &format!("{r:?}"));
}
