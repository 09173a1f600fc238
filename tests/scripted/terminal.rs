// Terminal safety (issue 18): a hostile server puts ESC, BEL, OSC 52, a
// C1 CSI (U+009B), bidi overrides and line breaks into every field the
// report shows; none of it reaches stdout or stderr raw, in any format,
// with -v and trace logs. A server that echoes the login shows no form of
// the password.

use super::modern::id_exchange;
use super::*;

/// OSC 52: sets the terminal's clipboard (here to "evil").
const OSC52: &str = "\x1b]52;c;ZXZpbA==\x07";
/// Everything a terminal acts on, for quoted strings: ESC, BEL, OSC 52,
/// DEL, the C1 CSI as UTF-8, a right-to-left override and an isolate.
const POISON: &str = "\x1b[31m\x07\x1b]52;c;ZXZpbA==\x07\x7f\u{9b}2J\u{202e}\u{2066}";
/// The same for atoms, as far as parsers take them: the C1 CSI and bidi
/// marks (UTF-8 in an atom).
const POISON_ATOM: &str = "X\u{9b}2J\u{202e}\u{2066}Z";
/// A literal folder name with a line break and a forged verdict line.
const FORGED: &str = "Evil\r\nIMAP OK - forged\nfake\x1b]52;c;ZXZpbA==\x07";
/// A folder name in modified UTF-7 that decodes to ESC, U+009B U+202E and
/// U+2028 (a line separator).
const MUTF7_POISON: &str = "A&ABs-2J&AJsgLg-B&ICg-";

/// Every character a terminal or a log must not get raw.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
                | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn assert_stream_safe(name: &str, text: &str, ctx: &str) {
    if let Some((i, c)) = text.char_indices().find(|&(_, c)| unsafe_char(c)) {
        panic!("{c:?} reaches {name} raw at byte {i}\n{ctx}");
    }
    assert!(
        !text.lines().any(|l| l.starts_with("IMAP OK - forged")),
        "a forged line on {name}\n{ctx}"
    );
}

fn assert_terminal_safe(r: &Run, ctx: &str) {
    assert_stream_safe("stdout", &r.stdout, ctx);
    assert_stream_safe("stderr", &r.stderr, ctx);
}

/// The KB check against a server that poisons every field it sends:
/// greeting, capabilities, LOGIN's answer, ID, LIST (quoted, literal with
/// CRLF, modified UTF-7), an ALERT, EXAMINE, quota roots and resources,
/// INTERNALDATE, the envelope's date, subject and From, and LOGOUT's BYE.
fn poisoned_script() -> Vec<Step> {
    let caps = format!("IMAP4rev1 ID QUOTA LITERAL+ AUTH=PLAIN {POISON_ATOM}");
    let (ours, _) = id_exchange();
    let mut greeting = format!("* OK [CAPABILITY {caps}] ready {POISON} raw C1:").into_bytes();
    greeting.extend_from_slice(b"\x9b[2J\r\n");
    let list = format!(
        "* LIST (\\HasNoChildren) \".\" INBOX\r\n\
         * LIST () \".\" {}\r\n\
         * LIST () \".\" \"Q{POISON}\"\r\n\
         * LIST () \".\" {MUTF7_POISON}\r\n\
         {{tag}} OK List {POISON}\r\n",
        literal(FORGED)
    );
    let examine = format!("* OK [ALERT] alert {POISON}\r\n{}", kb_examine_reply());
    let quota = format!(
        "* QUOTAROOT INBOX \"R{POISON}\"\r\n* QUOTA \"R{POISON}\" ({POISON_ATOM} 5 10 STORAGE 1 10)\r\n"
    );
    let addr = format!("((\"Bob{POISON}\" NIL \"bob{POISON}\" \"ex{POISON}ample.com\"))");
    let fetch = format!(
        "* 3 FETCH (FLAGS (\\Flagged) INTERNALDATE \"03-Jan-2024 10:00:00 +0000{POISON}\" \
         RFC822.SIZE 512 ENVELOPE (\"Wed, 03 Jan 2024{POISON}\" \"Subject {POISON}\" \
         {addr} {addr} {addr} {addr} NIL NIL NIL \"<m{POISON}@x>\"))\r\n\
         {{tag}} OK Fetch {POISON}\r\n"
    );
    script(vec![
        vec![
            Step::SendBytes(greeting),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!(
                "{{tag}} OK [CAPABILITY {caps}] Logged in {POISON}\r\n"
            )),
            Step::Expect(ours),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(format!(
                "* ID (\"name\" \"Dove{POISON}cot\" \"version\" \"2{POISON}\" \"os\" \"L{POISON}\")\r\n\
                 {{prevtag}} OK ID {POISON}\r\n{list}"
            )),
        ],
        opened("EXAMINE INBOX", examine),
        vec![
            Step::Expect("GETQUOTAROOT INBOX".into()),
            Step::Send(format!("{quota}{{tag}} OK quota {POISON}\r\n")),
        ],
        fetched(3, fetch),
        vec![
            Step::Expect("LOGOUT".into()),
            Step::Send(format!("* BYE {POISON}\r\n{{tag}} OK Logout {POISON}\r\n")),
            Step::ExpectEof,
        ],
    ])
}

const TRACE: [(&str, &str); 2] = [("IMAPCHECK_PASSWORD", PASS), ("RUST_LOG", "trace")];

#[test]
fn hostile_text_reaches_no_terminal_raw_in_any_format() {
    for format in ["text", "nagios", "json", "openmetrics"] {
        let run = Case::tls(poisoned_script())
            .named(format!("--format {format}"))
            .args(&["-v", "--format", format])
            .env(&TRACE)
            .output();
        assert_terminal_safe(&run.r, &run.ctx);
        // The poison was read and is shown, escaped: in the transcript,
        // and in the text report's lines.
        let osc52_shown = OSC52.replace('\x1b', "\\x1b").replace('\x07', "\\x07");
        assert!(run.r.stderr.contains(&osc52_shown), "{}", run.ctx);
        assert!(run.r.stderr.contains("\\x9b"), "{}", run.ctx);
        if format == "text" {
            let out = &run.r.stdout;
            for shown in [
                "Evil\\r\\nIMAP OK - forged\\nfake\\x1b]52;c;ZXZpbA==\\x07",
                "\\x1b[31m\\x07\\x1b]52;c;ZXZpbA==\\x07\\x7f\\x9b2J\\u{202e}\\u{2066}",
                "A\\x1b2J\\x9b\\u{202e}B\\u{2028}",
            ] {
                assert!(
                    out.contains(shown),
                    "{shown:?} not in the text report\n{}",
                    run.ctx
                );
            }
        }
    }
}

/// Runs `script` with -v and trace logs in every format, expecting
/// `status`, and checks that nothing reaches the terminal raw; in text,
/// one line of the report must hold every part of `shown` (escaped server
/// text).
fn in_every_format(name: &str, script: Vec<Step>, args: &[&str], status: i32, shown: &[&str]) {
    for format in ["text", "nagios", "json", "openmetrics"] {
        let run = Case::tls(script.clone())
            .named(format!("{name}, --format {format}"))
            .args(&["-v", "--format", format])
            .args(args)
            .env(&TRACE)
            .output();
        run.status(status);
        assert_terminal_safe(&run.r, &run.ctx);
        if format == "text" {
            assert!(
                run.r
                    .stdout
                    .lines()
                    .any(|l| shown.iter().all(|part| l.contains(part))),
                "no line with all of {shown:?}\n{}",
                run.ctx
            );
        }
    }
}

#[test]
fn hostile_failure_texts_and_hints_reach_no_terminal_raw() {
    // The closest-folder names in the hint, and the refusal in got:.
    let list = format!(
        "* LIST () \".\" INBOX\r\n* LIST () \".\" {}\r\n* LIST () \".\" \"evil{POISON}\"\r\n{{tag}} OK done\r\n",
        literal(FORGED)
    );
    let folder = script(vec![
        logged_in(),
        listed(list),
        opened(
            "EXAMINE evil",
            format!("{{tag}} NO [NONEXISTENT] no {POISON}\r\n"),
        ),
        batch_refused(&[KB_FETCH_NEWEST]),
    ]);
    in_every_format(
        "closest folder names",
        folder,
        &["--folder", "evil"],
        2,
        &[
            "hint:",
            "closest folder names from LIST: ",
            "Evil\\r\\nIMAP OK - forged\\nfake\\x1b]52;c;ZXZpbA==\\x07",
        ],
    );

    // LOGIN refused with a poisoned text, and a BYE before LOGOUT's OK.
    let login = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!(
            "* NO [ALERT] {POISON}\r\n{{tag}} NO [AUTHENTICATIONFAILED] {POISON}\r\n"
        )),
        Step::Expect("LOGOUT".into()),
        Step::Send(format!("* BYE {POISON}\r\n{{tag}} OK {POISON}\r\n")),
        Step::ExpectEof,
    ];
    in_every_format(
        "LOGIN refused",
        login,
        &[],
        2,
        &[
            "got:",
            " NO [AUTHENTICATIONFAILED] \\x1b[31m\\x07\\x1b]52;c;ZXZpbA==\\x07",
        ],
    );

    // A greeting that is a BYE.
    let bye = vec![Step::Send(format!("* BYE {POISON}\r\n")), Step::Close];
    in_every_format(
        "BYE greeting",
        bye,
        &[],
        2,
        &["got:", "* BYE \\x1b[31m\\x07\\x1b]52;c;ZXZpbA==\\x07"],
    );
}

/// Every form of `secrets` that must not show: as is, base64, and as the
/// escaping would show it.
fn assert_never_shown(r: &Run, secrets: &[&str], ctx: &str) {
    for s in secrets {
        let escaped: String = s.escape_default().collect();
        for form in [s.to_string(), base64(s.as_bytes()), escaped] {
            for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
                assert!(!text.contains(&form), "{form:?} appears on {name}\n{ctx}");
            }
        }
    }
}

/// A password a server echoes: quoted on the wire (space, quotes and a
/// backslash need it).
const ECHOED: &str = "Zebra7 \"q\" \\b";
const ECHOED_WIRE: &str = "\"Zebra7 \\\"q\\\" \\\\b\"";
/// A password that goes as a literal (8-bit).
const ECHOED_LITERAL: &str = "pässwörd-Zebra8";

/// The echoing server's answer to a login it refuses: the command line as
/// received, in an untagged BAD, a tagged NO and a BYE.
fn echo_refusal(echo: &str) -> Vec<Step> {
    vec![
        Step::Send(format!(
            "* BAD you sent: {echo}\r\n{{tag}} NO [AUTHENTICATIONFAILED] {echo} refused\r\n"
        )),
        Step::Expect("LOGOUT".into()),
        Step::Send(format!("* BYE {echo}\r\n{{tag}} OK bye\r\n")),
        Step::ExpectEof,
    ]
}

fn echoing_runs(name: &str, steps: Vec<Step>, args: &[&str], password: &str, secrets: &[&str]) {
    for format in ["text", "nagios", "json", "openmetrics"] {
        let run = Case::tls(steps.clone())
            .named(format!("{name}, --format {format}"))
            .args(&["-v", "--format", format])
            .args(args)
            .env(&[("IMAPCHECK_PASSWORD", password), ("RUST_LOG", "trace")])
            .output();
        run.status(2);
        // The echo is read and shown, masked.
        assert!(run.r.stderr.contains("you sent: "), "{}", run.ctx);
        assert!(run.r.stderr.contains("***"), "{}", run.ctx);
        assert_never_shown(&run.r, secrets, &run.ctx);
    }
}

#[test]
fn a_server_echoing_login_with_a_quoted_password_shows_no_password() {
    let mut steps = vec![
        Step::Send(GREETING.into()),
        Step::ExpectAlone(format!("LOGIN {USER} {ECHOED_WIRE}")),
    ];
    let echo = format!("LOGIN {USER} {ECHOED_WIRE} = {ECHOED}");
    steps.extend(echo_refusal(&echo));
    echoing_runs(
        "LOGIN quoted",
        steps,
        &[],
        ECHOED,
        &[ECHOED, ECHOED_WIRE, "Zebra7"],
    );
}

#[test]
fn a_server_echoing_login_with_a_literal_password_shows_no_password() {
    let n = ECHOED_LITERAL.len();
    for (name, caps, header) in [
        ("synchronizing", "IMAP4rev1", format!("{{{n}}}")),
        ("LITERAL+", "IMAP4rev1 LITERAL+", format!("{{{n}+}}")),
    ] {
        let mut steps = vec![
            Step::Send(format!("* OK [CAPABILITY {caps}] ready\r\n")),
            Step::Expect(format!("LOGIN {USER} {header}")),
        ];
        if name == "synchronizing" {
            steps.push(Step::Send("+ go ahead\r\n".into()));
        }
        steps.extend([Step::ExpectBytes(n), Step::Expect(String::new())]);
        let echo = format!("LOGIN {USER} {header} {ECHOED_LITERAL}");
        steps.extend(echo_refusal(&echo));
        echoing_runs(
            &format!("LOGIN literal, {name}"),
            steps,
            &[],
            ECHOED_LITERAL,
            &[ECHOED_LITERAL, "Zebra8", "w\\xc3\\xb6rd"],
        );
    }
}

#[test]
fn a_server_echoing_authenticate_plain_shows_no_password() {
    let b64 = plain_b64();
    for sasl_ir in [true, false] {
        let mut steps = if sasl_ir {
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
        // Echoed as sent, and decoded (the user, then the password).
        let echo = format!("AUTHENTICATE PLAIN {b64} = alice {PASS}");
        steps.extend(echo_refusal(&echo));
        echoing_runs(
            &format!("AUTHENTICATE PLAIN, SASL-IR {sasl_ir}"),
            steps,
            &["--auth", "plain"],
            PASS,
            &[PASS, &b64, &b64[4..20]],
        );
    }
}

#[test]
fn a_server_echoing_an_xoauth2_token_shows_no_token() {
    let token = "eyJ0eXAi.Echoed-Token_Q";
    let b64 = base64(format!("user={USER}\x01auth=Bearer {token}\x01\x01").as_bytes());
    let mut steps = vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n".into()),
        Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {b64}")),
    ];
    steps.extend(echo_refusal(&format!("{b64} = Bearer {token}")));
    echoing_runs(
        "AUTHENTICATE XOAUTH2",
        steps,
        &["--auth", "xoauth2"],
        token,
        &[token, &b64, "Echoed-Token"],
    );
}

#[test]
fn the_token_endpoints_status_line_and_headers_are_escaped_in_the_transcript() {
    use super::oauth::{SECRET_ENV, client_credentials, greeting_then_logout, refs};
    let answer = format!(
        "HTTP/1.1 503 Busy {POISON}\r\nX-Evil: {POISON}\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbusy"
    );
    for format in ["text", "json"] {
        let ep = TokenEndpoint::start(vec![Answer::Bytes(answer.clone().into_bytes())]);
        let flags = client_credentials(&ep);
        let run = Case::tls(greeting_then_logout())
            .named(format!("--format {format}"))
            .args(&refs(&flags))
            .args(&["-v", "--format", format])
            .env(&SECRET_ENV)
            .output();
        let _ = ep.finish();
        run.status(2);
        // The -v transcript first: the status line and headers (issue 18
        // point 9); then the report, which quotes the status line.
        assert_stream_safe("stderr", &run.r.stderr, &run.ctx);
        assert_terminal_safe(&run.r, &run.ctx);
        for shown in [
            "[https] S: HTTP/1.1 503 Busy \\x1b[31m\\x07\\x1b]52;c;ZXZpbA==",
            "[https] S: X-Evil: \\x1b[31m",
        ] {
            assert!(
                run.r.stderr.contains(shown),
                "{shown:?} not in -v\n{}",
                run.ctx
            );
        }
    }
}
