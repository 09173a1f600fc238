// Secrets: the password reaches the server intact from every source and
// never shows in stdout or stderr (-v transcript, RUST_LOG=trace), in any
// format, whether the login works or not.

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
    let c = Case::tls(s).env(&[("IMAPCHECK_PASSWORD", TRICKY)]).json();
    c.exit(0);
    let line = &c.log.lines[0];
    let quoted = line
        .split_once(&format!(" LOGIN {USER} "))
        .map(|(_, q)| q)
        .expect("LOGIN line");
    assert_eq!(unquote(quoted), TRICKY, "{}", c.ctx);
}

/// Runs the login `start` (up to the server's answer) answered OK or NO,
/// with -v and trace logs, in every format; `check` looks at each run.
fn in_every_format_and_outcome(
    start: impl Fn() -> Vec<Step>,
    args: &[&str],
    env: &[(&str, &str)],
    check: impl Fn(&Ran, bool),
) {
    for format in ["text", "nagios", "json", "openmetrics"] {
        for ok in [true, false] {
            let s = script(vec![
                start(),
                vec![Step::Send(login_reply(ok))],
                after_login(ok),
            ]);
            let run = Case::tls(s)
                .named(format!("--format {format}, login ok: {ok}"))
                .args(&["-v"])
                .args(args)
                .args(&["--format", format])
                .env(env)
                .output();
            check(&run, ok);
        }
    }
}

#[test]
fn tricky_password_never_shown_in_any_format() {
    let start = || {
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {TRICKY_WIRE}")),
        ]
    };
    in_every_format_and_outcome(start, &[], &VERBOSE_ENV, |run, ok| {
        let (r, ctx) = (&run.r, &run.ctx);
        run.status(if ok { 0 } else { 2 });
        // The transcript is there, with the secret masked.
        assert!(
            r.stderr.contains(&format!(" LOGIN {USER} ***")),
            "no masked LOGIN line\n{ctx}"
        );
        assert!(
            r.stderr.contains("TRACE"),
            "RUST_LOG=trace had no effect\n{ctx}"
        );
        assert_hidden(r, &[TRICKY, TRICKY_WIRE, "Zebra7"], ctx);
    });
}

#[test]
fn literal_password_never_shown() {
    let pw = "pä\r\nZebra7";
    let start = || {
        vec![
            Step::Send("* OK [CAPABILITY IMAP4rev1] ready\r\n".into()),
            Step::Expect(format!("LOGIN {USER} {{{}}}", pw.len())),
            Step::Send("+ Ready for literal data\r\n".into()),
            Step::ExpectBytes(pw.len()),
            Step::Expect(String::new()),
        ]
    };
    let env = [("IMAPCHECK_PASSWORD", pw), ("RUST_LOG", "trace")];
    in_every_format_and_outcome(start, &[], &env, |run, ok| {
        run.status(if ok { 0 } else { 2 });
        assert_eq!(run.log.literals, [pw.as_bytes()], "{}", run.ctx);
        assert_hidden(&run.r, &["Zebra7", "p\u{e4}", "p\\xc3"], &run.ctx);
    });
}

#[test]
fn authenticate_plain_payload_never_shown() {
    let b64 = plain_b64();
    for format in ["text", "nagios", "json", "openmetrics"] {
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
            s.push(Step::Send(login_reply(false)));
            s.extend(logout_steps());
            let run = Case::tls(s)
                .named(format!("--format {format}, SASL-IR: {sasl_ir}"))
                .args(&["-v", "--auth", "plain", "--format", format])
                .env(&[("IMAPCHECK_PASSWORD", PASS), ("RUST_LOG", "trace")])
                .output();
            run.status(2);
            assert!(run.r.stderr.contains("AUTHENTICATE PLAIN"), "{}", run.ctx);
            assert_hidden(&run.r, &[&b64, &b64[..12], PASS], &run.ctx);
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

/// The KB path with LOGIN exactly as USER with PASS.
fn exact_login_script() -> Vec<Step> {
    script(vec![logged_in(), kb_after_login()])
}

#[test]
fn password_from_every_source() {
    let path = temp_file("pw-file", format!("{PASS}\r\nsecond line\n").as_bytes());
    let file = path.to_str().expect("UTF-8 path");
    let stdin = format!("{PASS}\nignored\n");
    // (source, arguments, environment, standard input)
    let cases = [
        ("the environment", &[][..], &PASS_ENV[..], None),
        (
            "a file, first line only",
            &["--password-file", file],
            &[],
            None,
        ),
        ("stdin", &["--password-stdin"], &[], Some(stdin.as_bytes())),
    ];
    for (name, args, env, stdin) in cases {
        let mut case = Case::tls(exact_login_script())
            .named(name)
            .args(args)
            .env(env);
        if let Some(bytes) = stdin {
            case = case.stdin(bytes);
        }
        let c = case.json();
        c.exit(0);
        assert_not_received(&c.log, "second line", &c.ctx);
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn no_password_source_is_unknown() {
    // stdin is /dev/null (no terminal, no prompt) and nothing else given.
    let c = Case::tls(kb_script()).env(&[]).script_may_break().json();
    let ctx = &c.ctx;
    c.exit(3);
    assert_eq!(c.v["error"]["step"], "login", "{ctx}");
    assert!(c.error("message").starts_with("no password"), "{ctx}");
    c.steps(
        TLS_STEPS,
        "skipped skipped skipped skipped skipped skipped skipped skipped skipped skipped",
    );
    for key in JSON_FIELDS {
        assert!(c.v.get(key).is_some(), "{key}\n{ctx}");
    }
    // No connection was even made.
    assert!(
        c.log
            .errors
            .iter()
            .any(|e| e.contains("no client connected")),
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

/// The secrets of the token request and answer: the client secret (as is
/// and form-encoded), both refresh tokens, the access token, an id_token,
/// and the XOAUTH2 message built from the access token.
fn oauth_secrets() -> Vec<String> {
    use oauth::*;
    vec![
        CLIENT_SECRET.to_string(),
        CLIENT_SECRET.replace('~', "%7E"),
        REFRESH_TOKEN.to_string(),
        REFRESH_TOKEN.replace('/', "%2F"),
        NEW_REFRESH_TOKEN.to_string(),
        ACCESS_TOKEN.to_string(),
        ID_TOKEN.to_string(),
        xoauth2_token_b64(),
        xoauth2_token_b64()[..16].to_string(),
    ]
}

/// A name, flags and environment that set how much is shown.
type Verbosity = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const ID_TOKEN: &str = "eyJpZCI6.Id-Token_Secret9";

#[test]
fn oauth_secrets_never_shown_at_any_verbosity_in_any_format() {
    use oauth::*;
    let dir = temp_dir("secrets");
    let file = dir.join("refresh-token");
    let rotated = token_json(&format!(
        ",\"refresh_token\":\"{NEW_REFRESH_TOKEN}\",\"id_token\":\"{ID_TOKEN}\""
    ));
    // An endpoint that echoes the request, in a header and the body, as a
    // debugging proxy might.
    let echo = format!(
        "bad request: grant_type=client_credentials&client_secret={} raw {CLIENT_SECRET}",
        CLIENT_SECRET.replace('~', "%7E")
    );
    let verbosities: [Verbosity; 4] = [
        ("quiet", &[], &[]),
        ("-v", &["-v"], &[]),
        ("RUST_LOG=trace", &[], &[("RUST_LOG", "trace")]),
        ("-v and RUST_LOG=trace", &["-v"], &[("RUST_LOG", "trace")]),
    ];
    for format in ["text", "nagios", "json", "openmetrics"] {
        for (verbosity, flags, log_env) in verbosities {
            // The token answered, refused with the request echoed, and
            // answered with the tokens in text that does not parse (a
            // byte-order mark first).
            for (ok, unparsable) in [(true, false), (false, false), (false, true)] {
                std::fs::write(&file, format!("{REFRESH_TOKEN}\n")).expect("token file");
                let (answer, imap) = if ok {
                    (json_answer("200 OK", &rotated), xoauth2_check())
                } else if unparsable {
                    (
                        json_answer("200 OK", &format!("\u{feff}{rotated}")),
                        greeting_then_logout(),
                    )
                } else {
                    (
                        format!(
                            "HTTP/1.1 400 Bad Request\r\nX-Echo: {echo}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{echo}",
                            echo.len()
                        )
                        .into_bytes(),
                        greeting_then_logout(),
                    )
                };
                let ep = TokenEndpoint::start(vec![Answer::Bytes(answer)]);
                let grant = if ok {
                    refresh_grant(&ep, &file)
                } else {
                    client_credentials(&ep)
                };
                let mut env = SECRET_ENV.to_vec();
                env.extend_from_slice(log_env);
                let grant: Vec<&str> = grant.iter().map(String::as_str).collect();
                let run = Case::tls(imap)
                    .named(format!(
                        "--format {format}, {verbosity}, token ok: {ok}, unparsable: {unparsable}"
                    ))
                    .args(&grant)
                    .args(flags)
                    .args(&["--format", format])
                    .env(&env)
                    .output();
                ep.finish();
                run.status(if ok { 0 } else { 2 });
                let secrets = oauth_secrets();
                let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
                assert_hidden(&run.r, &refs, &run.ctx);
                let stderr = &run.r.stderr;
                if flags.contains(&"-v") {
                    // The exchange is shown, each secret as ***.
                    assert!(
                        stderr.contains("[https] C: POST /tenant-id/oauth2/v2.0/token HTTP/1.1"),
                        "{}",
                        run.ctx
                    );
                    assert!(stderr.contains("client_secret=***"), "{}", run.ctx);
                    if ok {
                        assert!(stderr.contains("refresh_token=***"), "{}", run.ctx);
                        assert!(stderr.contains("\"access_token\":\"***\""), "{}", run.ctx);
                        assert!(stderr.contains("\"id_token\":\"***\""), "{}", run.ctx);
                        assert!(stderr.contains("AUTHENTICATE XOAUTH2 ***"), "{}", run.ctx);
                    } else if unparsable {
                        // The answer is shown, its tokens as ***.
                        assert!(stderr.contains("\"access_token\":\"***\""), "{}", run.ctx);
                        assert!(stderr.contains("\"refresh_token\":\"***\""), "{}", run.ctx);
                    } else {
                        assert!(stderr.contains("client_secret=*** raw ***"), "{}", run.ctx);
                        assert!(stderr.contains("[https] S: X-Echo: bad request: grant_type=client_credentials&client_secret=*** raw ***"), "{}", run.ctx);
                    }
                }
                if !log_env.is_empty() {
                    assert!(
                        stderr.contains("TRACE") && stderr.contains("[https]"),
                        "{}",
                        run.ctx
                    );
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_flag_takes_an_oauth_secret_on_the_command_line() {
    for flag in [
        "--oauth-client-secret",
        "--oauth-refresh-token",
        "--oauth-access-token",
    ] {
        let r = run(&["127.0.0.1", flag, "x"], &[], None);
        assert_eq!(r.status, 3, "{flag} accepted: {r:?}");
        assert!(r.stderr.contains("Unrecognized argument"), "{r:?}");
    }
}
