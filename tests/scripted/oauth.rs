// Issue 14: the token step against a scripted HTTPS token endpoint (test
// CA, loopback): the full check against an Exchange-Online-like IMAP
// server with the token fetched by the client-credentials grant, the
// token request running beside connect and greeting, chunked and
// until-close answers, the refresh-token grant and its rotation (also
// into a read-only file), and flags and secrets that cannot work. The
// endpoint's refusals are in token_errors.rs, the secrets in secrets.rs.

use super::*;

pub const CLIENT_ID: &str = "6f1c2b4e-0000-4d6a-9e2f-client-id";
/// The secrets: distinctive, so that any leak is found by a substring.
pub const CLIENT_SECRET: &str = "Qx8~cl1ent.Secret_Zz";
pub const ACCESS_TOKEN: &str = "eyJ0eXAi.Acc3ss-Token_Yk";
pub const REFRESH_TOKEN: &str = "1//0gRefr3sh-Old_Tq";
pub const NEW_REFRESH_TOKEN: &str = "1//0gRefr3sh-New_Wp";
pub const SCOPE: &str = "https://outlook.office365.com/.default";
pub const TOKEN_PATH: &str = "/tenant-id/oauth2/v2.0/token";

pub const SECRET_ENV: [(&str, &str); 1] = [("IMAPCHECK_OAUTH_CLIENT_SECRET", CLIENT_SECRET)];

/// Every step of a TLS check with a token URL.
pub const TOKEN_TLS_STEPS: &str =
    "token connect tls greeting capability login list examine quota fetch logout";

/// The token answer of Entra ID's v2.0 endpoint, with `extra` members.
pub fn token_json(extra: &str) -> String {
    format!(
        "{{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,\"access_token\":\"{ACCESS_TOKEN}\"{extra}}}"
    )
}

/// XOAUTH2's initial response for USER with ACCESS_TOKEN, base64.
pub fn xoauth2_token_b64() -> String {
    base64(format!("user={USER}\x01auth=Bearer {ACCESS_TOKEN}\x01\x01").as_bytes())
}

/// The greeting of an OAuth-only server, and LOGOUT after a login that
/// was skipped: the IMAP side of a failed token step.
pub fn greeting_then_logout() -> Vec<Step> {
    script(vec![
        vec![Step::Send(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n".into(),
        )],
        logout_steps(),
    ])
}

/// Exchange Online as it answers: a greeting without capabilities,
/// CAPABILITY, AUTHENTICATE XOAUTH2 with SASL-IR answered with a bare OK,
/// then CAPABILITY and ID ride with LIST.
pub fn exchange_online() -> Vec<Step> {
    script(vec![
        vec![
            Step::Send(
                "* OK The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABSADAA]\r\n".into(),
            ),
            Step::Expect("CAPABILITY".into()),
            Step::Send(
                "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+\r\n{tag} OK CAPABILITY completed.\r\n".into(),
            ),
            Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_token_b64())),
            Step::Send("{tag} OK AUTHENTICATE completed.\r\n".into()),
            Step::Expect("CAPABILITY".into()),
            Step::Expect("ID (*)".into()),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(format!(
                "* CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CLIENTACCESSRULES CLIENTNETWORKPRESENCELOCATION BACKENDAUTHENTICATE CHILDREN IDLE NAMESPACE LITERAL+\r\n{{prevtag2}} OK CAPABILITY completed.\r\n* ID (\"name\" \"Microsoft.Exchange\")\r\n{{prevtag}} OK ID completed.\r\n{}",
                kb_list_reply()
            )),
        ],
        kb_after_login_with_quota("{tag} BAD Command Error. 12\r\n").split_off(2),
    ])
}

/// The flags of the client-credentials grant against `ep`.
pub fn client_credentials(ep: &TokenEndpoint) -> Vec<String> {
    strings(&[
        "--oauth-token-url",
        &ep.url(TOKEN_PATH),
        "--oauth-client-id",
        CLIENT_ID,
        "--oauth-scope",
        SCOPE,
    ])
}

pub fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The one request the endpoint got; it must have been a well-formed
/// form POST to TOKEN_PATH.
pub fn only_request(log: &EndpointLog, ctx: &str) -> Request {
    assert!(
        log.errors.is_empty(),
        "token endpoint errors: {:?}\n{ctx}",
        log.errors
    );
    assert_eq!(log.requests.len(), 1, "{ctx}");
    let r = log.requests[0].clone();
    assert!(
        r.head
            .starts_with(&format!("POST {TOKEN_PATH} HTTP/1.1\r\n")),
        "{}\n{ctx}",
        r.head
    );
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/x-www-form-urlencoded"),
        "{ctx}"
    );
    assert_eq!(r.header("Connection").as_deref(), Some("close"), "{ctx}");
    assert!(
        r.header("Host")
            .is_some_and(|h| h.starts_with("localhost:")),
        "{ctx}"
    );
    r
}

use common::token_endpoint::Request;

#[test]
fn full_check_against_exchange_online_with_client_credentials() {
    let ep = TokenEndpoint::start(vec![Answer::Bytes(json_answer("200 OK", &token_json("")))]);
    let port = ep.port();
    let c = Case::tls(exchange_online())
        .args(&refs(&client_credentials(&ep)))
        .env(&SECRET_ENV)
        .json();
    let log = ep.finish();
    c.exit(0);
    c.steps(TOKEN_TLS_STEPS, "ok ok ok ok ok ok ok ok skipped ok ok");
    c.detail_starts_with(
        "token",
        &format!("client_credentials grant at localhost:{port}: Bearer token, expires in 3599 s"),
    );
    c.detail_starts_with("login", "alice via AUTHENTICATE XOAUTH2");
    let r = only_request(&log, &c.ctx);
    assert_eq!(
        r.form(),
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_id".to_string(), CLIENT_ID.to_string()),
            ("client_secret".to_string(), CLIENT_SECRET.to_string()),
            ("scope".to_string(), SCOPE.to_string()),
        ],
        "{}",
        c.ctx
    );
}

/// The greeting of an OAuth server with SASL-IR, AUTHENTICATE XOAUTH2
/// with ACCESS_TOKEN answered OK, then the KB path.
pub fn xoauth2_check() -> Vec<Step> {
    script(vec![
        vec![
            Step::Send(
                "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2 AUTH=OAUTHBEARER] ready\r\n"
                    .into(),
            ),
            Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_token_b64())),
            Step::Send(kb_login_ok()),
        ],
        kb_after_login(),
    ])
}

#[test]
fn the_token_request_runs_beside_connect_and_greeting() {
    // The endpoint and the greeting each take 500 ms: one after the other
    // they would hold the login back a whole second.
    let wait = Duration::from_millis(500);
    let ep = TokenEndpoint::start(vec![Answer::Late(
        wait,
        json_answer("200 OK", &token_json("")),
    )]);
    let mut imap = vec![Step::Sleep(wait)];
    imap.extend(xoauth2_check());
    let c = Case::tls(imap)
        .args(&refs(&client_credentials(&ep)))
        .env(&SECRET_ENV)
        .json();
    let log = ep.finish();
    only_request(&log, &c.ctx);
    c.exit(0);
    let ms = |name: &str| c.step(name)["elapsed_ms"].as_f64().expect("elapsed_ms");
    let (token, greeting) = (ms("token"), ms("greeting"));
    let total = c.v["elapsed_ms"].as_f64().expect("elapsed_ms");
    eprintln!("token {token} ms, greeting {greeting} ms, whole check {total} ms");
    assert!(token >= 500.0 && greeting >= 450.0, "{}", c.ctx);
    // In sequence the check would take token + greeting and more; side
    // by side it takes the longer of the two and the rest.
    assert!(
        total < token + greeting - 300.0,
        "token and greeting did not overlap: {total} ms\n{}",
        c.ctx
    );
}

#[test]
fn chunked_and_until_close_answers_give_the_token() {
    for (name, answer) in [
        ("chunked", chunked_answer("200 OK", &token_json(""), 7)),
        ("until close", until_close_answer("200 OK", &token_json(""))),
        (
            "100 Continue first",
            [
                b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                json_answer("200 OK", &token_json("")),
            ]
            .concat(),
        ),
    ] {
        let ep = TokenEndpoint::start(vec![Answer::Bytes(answer)]);
        let c = Case::tls(xoauth2_check())
            .named(name)
            .args(&refs(&client_credentials(&ep)))
            .env(&SECRET_ENV)
            .json();
        let log = ep.finish();
        only_request(&log, &c.ctx);
        c.exit(0);
        c.detail_contains("token", "Bearer token, expires in 3599 s");
    }
}

/// A temporary directory of this test's own.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("imapcheck-oauth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The refresh-token grant's flags against `ep` with `file`.
pub fn refresh_grant(ep: &TokenEndpoint, file: &std::path::Path) -> Vec<String> {
    strings(&[
        "--oauth-token-url",
        &ep.url(TOKEN_PATH),
        "--oauth-client-id",
        CLIENT_ID,
        "--oauth-refresh-token-file",
        file.to_str().expect("UTF-8 path"),
    ])
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_rotated_refresh_token_replaces_the_file_atomically_keeping_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("rotate");
    let file = dir.join("refresh-token");
    std::fs::write(&file, format!("{REFRESH_TOKEN}\n")).expect("token file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let rotated = token_json(&format!(",\"refresh_token\":\"{NEW_REFRESH_TOKEN}\""));
    let ep = TokenEndpoint::start(vec![Answer::Bytes(json_answer("200 OK", &rotated))]);
    let c = Case::tls(xoauth2_check())
        .args(&refs(&refresh_grant(&ep, &file)))
        .env(&[])
        .json();
    let log = ep.finish();
    c.exit(0);
    let r = only_request(&log, &c.ctx);
    assert_eq!(
        r.form(),
        vec![
            ("grant_type".to_string(), "refresh_token".to_string()),
            ("refresh_token".to_string(), REFRESH_TOKEN.to_string()),
            ("client_id".to_string(), CLIENT_ID.to_string()),
        ],
        "no client secret given, none sent\n{}",
        c.ctx
    );
    c.detail_contains(
        "token",
        &format!(
            "the endpoint rotated the refresh token: {} replaced",
            file.display()
        ),
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("token file"),
        format!("{NEW_REFRESH_TOKEN}\n")
    );
    assert_eq!(mode(&file), 0o640, "the mode is kept");
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("list")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["refresh-token"], "no temporary file is left");

    // The same token back: the file is not touched.
    let before = std::fs::metadata(&file)
        .expect("meta")
        .modified()
        .expect("mtime");
    let same = token_json(&format!(",\"refresh_token\":\"{NEW_REFRESH_TOKEN}\""));
    let ep = TokenEndpoint::start(vec![Answer::Bytes(json_answer("200 OK", &same))]);
    let c = Case::tls(xoauth2_check())
        .args(&refs(&refresh_grant(&ep, &file)))
        .env(&SECRET_ENV)
        .json();
    let log = ep.finish();
    c.exit(0);
    assert_eq!(
        only_request(&log, &c.ctx).field("client_secret").as_deref(),
        Some(CLIENT_SECRET),
        "a client secret given goes with the refresh token\n{}",
        c.ctx
    );
    c.detail_contains("token", "the refresh token is unchanged");
    let after = std::fs::metadata(&file)
        .expect("meta")
        .modified()
        .expect("mtime");
    assert_eq!(before, after, "{}", c.ctx);

    // An empty new refresh token would lose the one that works: the file
    // keeps it, and the step warns naming the file.
    let empty = token_json(",\"refresh_token\":\"\"");
    let ep = TokenEndpoint::start(vec![Answer::Bytes(json_answer("200 OK", &empty))]);
    let c = Case::tls(xoauth2_check())
        .args(&refs(&refresh_grant(&ep, &file)))
        .env(&[])
        .json();
    ep.finish();
    c.exit(1);
    c.detail_contains("token", &file.display().to_string());
    c.detail_contains("token", "empty refresh token");
    assert_eq!(
        std::fs::read_to_string(&file).expect("token file"),
        format!("{NEW_REFRESH_TOKEN}\n"),
        "{}",
        c.ctx
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refresh_token_file_that_cannot_be_written_is_a_warning_naming_it() {
    // Tests run as root, for whom file modes and a read-only directory
    // change nothing: the directory is mounted read-only in a private
    // mount namespace (unshare -m), where even root gets EROFS.
    let dir = temp_dir("readonly");
    let file = dir.join("refresh-token");
    std::fs::write(&file, format!("{REFRESH_TOKEN}\n")).expect("token file");
    let rotated = token_json(&format!(",\"refresh_token\":\"{NEW_REFRESH_TOKEN}\""));
    let ep = TokenEndpoint::start(vec![Answer::Bytes(json_answer("200 OK", &rotated))]);
    let case = Case::tls(xoauth2_check()).args(&refs(&refresh_grant(&ep, &file)));
    let srv = ScriptedServer::start(Mode::Tls(Identity::Good), xoauth2_check());
    let args = case.command_line(srv.port(), true);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "-m",
        "sh",
        "-c",
        "mount --bind \"$0\" \"$0\" && mount -o remount,bind,ro \"$0\" && exec \"$@\"",
    ])
    .arg(&dir)
    .arg(env!("CARGO_BIN_EXE_imapcheck"))
    .args(&args)
    .env_remove("IMAPCHECK_PASSWORD")
    .env_remove("IMAPCHECK_OAUTH_CLIENT_SECRET")
    .env_remove("RUST_LOG");
    let r = run_command(cmd, None, RUN_TIMEOUT);
    assert!(
        !r.stderr.contains("unshare:") && !r.stderr.contains("mount:"),
        "this test needs root and unshare(1) for a read-only mount: {r:?}"
    );
    let log = srv.finish();
    let ep_log = ep.finish();
    let ctx = dump(&r, &log);
    only_request(&ep_log, &ctx);
    let v = parse_json_stdout(&r);
    assert_exit(&r, &v, 1, &ctx);
    let token = step(&v, "token");
    assert_eq!(token["status"], "warning", "{ctx}");
    let detail = token["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&format!(
            "the endpoint rotated the refresh token but it was not saved to {} (Read-only file system",
            file.display()
        )),
        "{detail}\n{ctx}"
    );
    assert_eq!(step(&v, "login")["status"], "ok", "{ctx}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("token file"),
        format!("{REFRESH_TOKEN}\n"),
        "the old token is still there"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn flags_and_secrets_that_cannot_work_are_unknown_before_any_connection() {
    let port = closed_port().to_string();
    let url = format!("https://127.0.0.1:{port}/token");
    let base = ["127.0.0.1", "-p", &port, "-u", USER];
    // Usage errors: exit 3 with the reason on stderr.
    for (args, why) in [
        (
            vec![
                "--oauth-token-url",
                "http://login.example/token",
                "--oauth-client-id",
                "c",
            ],
            "only https:// URLs are taken",
        ),
        (
            vec!["--oauth-token-url", &url],
            "--oauth-token-url needs --oauth-client-id",
        ),
        (
            vec!["--oauth-client-id", "c"],
            "the --oauth-* flags need --oauth-token-url",
        ),
        (
            vec![
                "--oauth-token-url",
                &url,
                "--oauth-client-id",
                "c",
                "--auth",
                "login",
            ],
            "goes with --auth xoauth2",
        ),
        (
            vec![
                "--oauth-token-url",
                &url,
                "--oauth-client-id",
                "c",
                "--all-addresses",
                "--oauth-refresh-token-file",
                "f",
            ],
            "the refresh token would be used several times at once",
        ),
    ] {
        let all: Vec<&str> = base.iter().copied().chain(args).collect();
        let r = run(&all, &SECRET_ENV, None);
        assert_eq!(r.status, 3, "{r:?}");
        assert!(r.stderr.contains(why), "{why}: {r:?}");
    }
    let r = run(
        &[
            "127.0.0.1",
            "--oauth-token-url",
            &url,
            "--oauth-client-id",
            "c",
        ],
        &SECRET_ENV,
        None,
    );
    assert!(r.status == 3 && r.stderr.contains("needs -u"), "{r:?}");
    // Secrets that cannot be read: UNKNOWN, reported at the token step.
    let missing = std::env::temp_dir().join("imapcheck-oauth-no-such-dir/rt");
    let m = missing.to_str().expect("UTF-8");
    for (args, env, why) in [
        (
            vec![],
            &[][..],
            "set IMAPCHECK_OAUTH_CLIENT_SECRET or use --oauth-client-secret-file",
        ),
        (
            vec!["--oauth-client-secret-file", m],
            &[][..],
            "cannot read the client secret file",
        ),
        (
            vec!["--oauth-refresh-token-file", m],
            &SECRET_ENV[..],
            "cannot read the refresh token file",
        ),
    ] {
        let mut all: Vec<&str> = base.to_vec();
        all.extend([
            "--oauth-token-url",
            &url,
            "--oauth-client-id",
            "c",
            "--format",
            "json",
        ]);
        all.extend(args);
        let (r, v) = run_json(&all, env, None);
        let ctx = format!("{r:?}");
        assert_exit(&r, &v, 3, &ctx);
        assert_eq!(v["error"]["step"], "token", "{ctx}");
        assert!(error_text(&v, "message").contains(why), "{why}\n{ctx}");
    }
}

#[test]
fn each_repeated_run_uses_the_refresh_token_the_run_before_left_in_the_file() {
    let dir = temp_dir("repeat");
    let file = dir.join("refresh-token");
    std::fs::write(&file, format!("{REFRESH_TOKEN}\n")).expect("token file");
    let answers = [NEW_REFRESH_TOKEN, "1//0gRefr3sh-Third_Xz"].map(|rt| {
        Answer::Bytes(json_answer(
            "200 OK",
            &token_json(&format!(",\"refresh_token\":\"{rt}\"")),
        ))
    });
    let ep = TokenEndpoint::start(answers.to_vec());
    let srv = ScriptedServer::start_sequence(
        "127.0.0.1:0",
        Mode::Tls(Identity::Good),
        vec![xoauth2_check(), xoauth2_check()],
    );
    let mut args = Case::tls(Vec::new()).command_line(srv.port(), true);
    args.extend(refresh_grant(&ep, &file));
    args.extend(strings(&["--repeat", "2", "--interval", "0"]));
    let (r, log) = go(srv, &args, &[], None);
    let ep_log = ep.finish();
    let ctx = dump(&r, &log);
    assert_eq!(r.status, 0, "{ctx}");
    assert!(ep_log.errors.is_empty(), "{:?}\n{ctx}", ep_log.errors);
    let sent: Vec<Option<String>> = ep_log
        .requests
        .iter()
        .map(|q| q.field("refresh_token"))
        .collect();
    assert_eq!(
        sent,
        [
            Some(REFRESH_TOKEN.to_string()),
            Some(NEW_REFRESH_TOKEN.to_string())
        ],
        "the second run sends the token the first one saved\n{ctx}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("token file"),
        "1//0gRefr3sh-Third_Xz\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_address_fetches_its_own_token_with_client_credentials() {
    // A name with two loopback addresses (a private /etc/hosts, as in
    // rounds.rs, on 127.0.3.x of this file's own), both Exchange-like; the
    // endpoint stays on localhost.
    let mut servers = servers_on_one_port(
        vec![
            ("127.0.3.2", xoauth2_check()),
            ("127.0.3.3", xoauth2_check()),
        ],
        &[],
    );
    let b = servers.pop().expect("two servers");
    let a = servers.pop().expect("two servers");
    let ok = || Answer::Bytes(json_answer("200 OK", &token_json("")));
    let ep = TokenEndpoint::start(vec![ok(), ok()]);
    let mut args = tls_check_of("two.test", a.port());
    args.extend(strings(&["--all-addresses", "--format", "json"]));
    args.extend(client_credentials(&ep));
    let hosts = "127.0.0.1 localhost\n127.0.3.2 two.test\n127.0.3.3 two.test\n";
    let r = run_with_hosts(hosts, &refs(&args), &SECRET_ENV, None);
    let (la, lb) = (a.finish(), b.finish());
    let ep_log = ep.finish();
    let ctx = format!("{}\n--- server b\n{}", dump(&r, &la), lb.report());
    assert_eq!(r.status, 0, "{ctx}");
    assert!(
        ep_log.errors.is_empty() && ep_log.requests.len() == 2,
        "{:?}\n{ctx}",
        ep_log.errors
    );
    let v = parse_json_stdout(&r);
    let reports = v["addresses"].as_array().expect("addresses");
    assert_eq!(reports.len(), 2, "{ctx}");
    for report in reports {
        assert_eq!(step(report, "token")["status"], "ok", "{ctx}");
        assert_eq!(step(report, "login")["status"], "ok", "{ctx}");
    }
}
