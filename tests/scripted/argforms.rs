// getopt's argument forms on the real binary: what monitoring
// configurations pass, Debian's /etc/nagios-plugins/config/mail.cfg first
// (`check_imap -H '$HOSTADDRESS$' '$ARG1$'`: an empty argument when ARG1 is
// unset, `'-p 24200'` as one argument when it is set). The forms
// themselves are a table in src/cli/getopt.rs.

use super::*;

/// Greeting, then LOGOUT: a check without a user, in cleartext.
fn greeting_and_logout() -> Vec<Step> {
    vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE bye\r\n{tag} OK done\r\n".into()),
        Step::ExpectEof,
    ]
}

/// Runs imapcheck with `args(port)` against a fresh server; the run must
/// be a check of that server, not a usage error.
fn check_with(args: impl Fn(&str) -> Vec<String>) -> (Value, String) {
    let srv = ScriptedServer::start(Mode::Plain, greeting_and_logout());
    let port = srv.port().to_string();
    let argv = args(&port);
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let r = run(&refs, &[], None);
    let log = srv.finish();
    let ctx = format!("imapcheck {argv:?}\n{}", dump(&r, &log));
    assert_ne!(r.status, 3, "a usage error\n{ctx}");
    assert!(log.completed && log.errors.is_empty(), "{ctx}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}\n{ctx}"));
    assert_eq!(v["address"], format!("127.0.0.1:{port}"), "{ctx}");
    assert_eq!(v["exit_code"], r.status, "{ctx}");
    (v, r.stderr)
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

#[test]
fn debian_mail_cfg_with_arg1_as_one_argument() {
    // -H '$HOSTADDRESS$' '$ARG1$' with ARG1 = "-p PORT".
    check_with(|port| {
        owned(&[
            "-H",
            "127.0.0.1",
            &format!("-p {port}"),
            "--security=none",
            "--format=json",
        ])
    });
}

#[test]
fn debian_mail_cfg_with_arg1_unset() {
    // -H '$HOSTADDRESS$' '$ARG1$' with ARG1 empty; the port comes first
    // here only because the scripted server is not on 143.
    check_with(|port| {
        owned(&[
            "-p",
            port,
            "-H",
            "127.0.0.1",
            "",
            "--security",
            "none",
            "--format",
            "json",
        ])
    });
}

#[test]
fn attached_values_equals_signs_and_clustered_switches() {
    let (_, stderr) = check_with(|port| {
        owned(&[
            "-H127.0.0.1",
            &format!("--port={port}"),
            "-4v",
            "--security",
            "none",
            "--format=json",
        ])
    });
    // -v of the cluster took effect: the transcript is on stderr.
    assert!(stderr.contains("C: "), "{stderr}");
    check_with(|port| {
        owned(&[
            "127.0.0.1",
            &format!("-p{port}"),
            "-t5",
            "--security=none",
            "--format",
            "json",
        ])
    });
}

#[test]
fn an_unknown_letter_in_a_cluster_is_still_a_usage_error() {
    let r = run(&["127.0.0.1", "-4x"], &[], None);
    assert_eq!(r.status, 3, "{r:?}");
    assert!(r.stderr.contains("-4x"), "{r:?}");
}
