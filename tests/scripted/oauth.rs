// Issue 14: the token step. A scripted HTTPS token endpoint (test CA,
// loopback) answers each grant, each error the issue lists, chunked and
// until-close bodies, a body over the limit, a drip that must end by the
// deadline, a redirect and an answer that is not JSON; the full check runs
// against an Exchange-Online-like IMAP server with the token fetched by
// the client-credentials grant.

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
        kb_after_login().split_off(2),
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

fn refs(v: &[String]) -> Vec<&str> {
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
            "the endpoint rotated the refresh token but {} cannot be written (Read-only file system",
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

/// Entra ID's error answer for `code`, as its v2.0 endpoint sends it.
fn entra_error(error: &str, code: u32, text: &str) -> String {
    format!(
        "{{\"error\":\"{error}\",\"error_description\":\"AADSTS{code}: {text}\\r\\nTrace ID: 0f3a Correlation ID: 9b2c Timestamp: 2026-12-06 10:00:00Z\",\"error_codes\":[{code}],\"timestamp\":\"2026-12-06 10:00:00Z\",\"trace_id\":\"0f3a\",\"correlation_id\":\"9b2c\",\"error_uri\":\"https://login.microsoftonline.com/error?code={code}\"}}"
    )
}

/// One failing answer of the endpoint and what the report must say.
struct Refusal {
    name: &'static str,
    answer: Vec<u8>,
    /// The refresh-token grant (else client credentials).
    refresh: bool,
    message: &'static str,
    got: &'static str,
    hint: &'static str,
}

fn refusals() -> Vec<Refusal> {
    let big = "x".repeat(70_000);
    vec![
        Refusal {
            name: "wrong client secret (AADSTS7000215)",
            answer: json_answer(
                "401 Unauthorized",
                &entra_error("invalid_client", 7_000_215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '6f1c2b4e'."),
            ),
            refresh: false,
            message: "the identity provider refused the client secret: it is wrong (invalid_client, AADSTS7000215)",
            got: "HTTP 401: invalid_client: AADSTS7000215: Invalid client secret provided.",
            hint: "Certificates & secrets: copy the secret's Value (not its Secret ID) into IMAPCHECK_OAUTH_CLIENT_SECRET",
        },
        Refusal {
            name: "expired client secret (AADSTS7000222)",
            answer: json_answer(
                "401 Unauthorized",
                &entra_error("invalid_client", 7_000_222, "The provided client secret keys for app '6f1c2b4e' are expired."),
            ),
            refresh: false,
            message: "the client secret has expired (invalid_client, AADSTS7000222)",
            got: "AADSTS7000222: The provided client secret keys",
            hint: "create a new client secret and put its Value into IMAPCHECK_OAUTH_CLIENT_SECRET",
        },
        Refusal {
            name: "unknown application (AADSTS700016)",
            answer: json_answer(
                "400 Bad Request",
                &entra_error("unauthorized_client", 700_016, "Application with identifier '6f1c2b4e' was not found in the directory 'Contoso'."),
            ),
            refresh: false,
            message: "the identity provider knows no application with this client ID in this tenant (unauthorized_client, AADSTS700016)",
            got: "was not found in the directory",
            hint: "is the Application (client) ID of an app registered in the tenant",
        },
        Refusal {
            name: "unknown tenant (AADSTS90002)",
            answer: json_answer(
                "400 Bad Request",
                &entra_error("invalid_request", 90_002, "Tenant 'tenant-id' not found. Check to make sure you have the correct tenant ID."),
            ),
            refresh: false,
            message: "the identity provider knows no such tenant (invalid_request, AADSTS90002)",
            got: "Tenant 'tenant-id' not found.",
            hint: "use the Directory (tenant) ID or a verified domain",
        },
        Refusal {
            name: "invalid scope (AADSTS70011)",
            answer: json_answer(
                "400 Bad Request",
                &entra_error("invalid_scope", 70_011, "The provided value for the input parameter 'scope' is not valid."),
            ),
            refresh: false,
            message: "the identity provider refused the scope (invalid_scope, AADSTS70011)",
            got: "'scope' is not valid",
            hint: "--oauth-scope https://outlook.office365.com/.default",
        },
        Refusal {
            name: "Google: refresh token expired or revoked",
            answer: json_answer(
                "400 Bad Request",
                "{\n  \"error\": \"invalid_grant\",\n  \"error_description\": \"Token has been expired or revoked.\"\n}",
            ),
            refresh: true,
            message: "the refresh token has expired or was revoked (invalid_grant)",
            got: "HTTP 400: invalid_grant: Token has been expired or revoked.",
            hint: "get a new refresh token through the provider's consent flow and write it into",
        },
        Refusal {
            name: "HTTP error without JSON",
            answer: http_answer(
                "502 Bad Gateway",
                "text/html",
                "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            ),
            refresh: false,
            message: "answered HTTP 502 Bad Gateway without JSON (text/html)",
            got: "<html><head><title>502 Bad Gateway",
            hint: "has a problem: try again later",
        },
        Refusal {
            name: "200 that is not JSON",
            answer: http_answer("200 OK", "text/html", "<!DOCTYPE html><title>Sign in</title>"),
            refresh: false,
            message: "the token endpoint's answer is not JSON (text/html; not JSON at byte 0",
            got: "<!DOCTYPE html>",
            hint: "a web page?",
        },
        Refusal {
            name: "302 redirect",
            answer: b"HTTP/1.1 302 Found\r\nLocation: https://login.example.net/other/token\r\nContent-Length: 0\r\n\r\n".to_vec(),
            refresh: false,
            message: "answered with a redirect (302), which is not followed",
            got: "HTTP 302, Location: https://login.example.net/other/token",
            hint: "a redirect would carry the client's secrets to another place",
        },
        Refusal {
            name: "JSON without access_token",
            answer: json_answer("200 OK", "{\"token_type\":\"Bearer\",\"expires_in\":3599}"),
            refresh: false,
            message: "(HTTP 200 OK) holds no access_token",
            got: "{\"token_type\":\"Bearer\",\"expires_in\":3599}",
            hint: "is the OAuth 2.0 token endpoint",
        },
        Refusal {
            name: "Content-Length over the limit",
            answer: json_answer("200 OK", &big),
            refresh: false,
            message: "the token endpoint's answer is too large: the body over 65536 bytes",
            got: "",
            hint: "names something other than a token endpoint",
        },
        Refusal {
            name: "chunked over the limit",
            answer: chunked_answer("200 OK", &big, 4096),
            refresh: false,
            message: "the token endpoint's answer is too large: the body over 65536 bytes",
            got: "",
            hint: "names something other than a token endpoint",
        },
        Refusal {
            name: "until close over the limit",
            answer: until_close_answer("200 OK", &big),
            refresh: false,
            message: "the token endpoint's answer is too large: the body over 65536 bytes",
            got: "",
            hint: "names something other than a token endpoint",
        },
        Refusal {
            name: "headers over the limit",
            answer: format!("HTTP/1.1 200 OK\r\nX-Padding: {}\r\n\r\n", "p".repeat(20_000)).into_bytes(),
            refresh: false,
            message: "the token endpoint's answer is too large: the status line and headers over 16384 bytes",
            got: "",
            hint: "names something other than a token endpoint",
        },
    ]
}

#[test]
fn each_refusal_is_diagnosed_and_the_imap_steps_before_login_still_run() {
    let dir = temp_dir("refusals");
    let file = dir.join("refresh-token");
    for f in refusals() {
        std::fs::write(&file, format!("{REFRESH_TOKEN}\n")).expect("token file");
        let ep = TokenEndpoint::start(vec![Answer::Bytes(f.answer.clone())]);
        let flags = if f.refresh {
            refresh_grant(&ep, &file)
        } else {
            client_credentials(&ep)
        };
        let c = Case::tls(greeting_then_logout())
            .named(f.name)
            .args(&refs(&flags))
            .env(&SECRET_ENV)
            .json();
        let log = ep.finish();
        only_request(&log, &c.ctx);
        c.failed_at("token");
        c.steps(
            TOKEN_TLS_STEPS,
            "failed ok ok ok ok skipped skipped skipped skipped skipped ok",
        );
        assert_eq!(c.detail("login"), "token failed", "{}", c.ctx);
        for (field, want) in [("message", f.message), ("got", f.got), ("hint", f.hint)] {
            let text = c.v["error"][field].as_str().unwrap_or("");
            assert!(
                text.contains(want),
                "error.{field}: {text:?} lacks {want:?}\n{}",
                c.ctx
            );
        }
        assert!(!c.error("expected").is_empty(), "{}", c.ctx);
        if f.refresh {
            assert!(
                c.error("hint").contains(file.to_str().expect("UTF-8")),
                "{}",
                c.ctx
            );
        }
        for secret in [CLIENT_SECRET, REFRESH_TOKEN] {
            assert!(
                !c.r.stdout.contains(secret) && !c.r.stderr.contains(secret),
                "{}",
                c.ctx
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_byte_every_200_ms_ends_by_the_deadline_naming_the_host() {
    let body = json_answer("200 OK", &token_json(""));
    let ep = TokenEndpoint::start(vec![Answer::Drip(body, Duration::from_millis(200))]);
    let port = ep.port();
    let c = Case::tls(script(vec![
        vec![Step::Send(
            "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n".into(),
        )],
        vec![Step::Hold],
    ]))
    .args(&refs(&client_credentials(&ep)))
    .args(&["-t", "2"])
    .env(&SECRET_ENV)
    .script_may_break()
    .json();
    let log = ep.finish();
    only_request(&log, &c.ctx);
    assert!(
        c.r.elapsed < Duration::from_millis(2_800),
        "the deadline of 2 s was not kept: {:?}\n{}",
        c.r.elapsed,
        c.ctx
    );
    assert_eq!(c.v["error"]["step"], "token", "{}", c.ctx);
    assert_eq!(c.step("token")["status"], "failed", "{}", c.ctx);
    let message = c.error("message");
    assert!(
        message.starts_with(&format!(
            "no answer from the token endpoint localhost:{port} "
        )) && message.ends_with("within the deadline"),
        "{message}\n{}",
        c.ctx
    );
    let ms = c.step("token")["elapsed_ms"].as_f64().expect("ms");
    assert!(
        (1_900.0..2_300.0).contains(&ms),
        "token step {ms} ms\n{}",
        c.ctx
    );
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
                "--repeat",
                "2",
            ],
            "does not go with --repeat or --all-addresses",
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
