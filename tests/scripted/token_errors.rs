// Issue 14: the token step's failures against the scripted token endpoint:
// each identity-provider error the issue lists (Entra ID's AADSTS codes,
// Google's invalid_grant), an HTTP error without JSON, an answer that is
// not JSON, a redirect, answers over the size limits, and a drip that
// must end by the deadline. Each is diagnosed in four parts, and the IMAP
// steps before the login still run.

use super::oauth::*;
use super::*;

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
            // A token in an answer that does not parse must not be shown:
            // only the request's secrets were masked there before.
            name: "a token behind a byte-order mark",
            answer: json_answer(
                "200 OK",
                &format!(
                    "\u{feff}{}",
                    token_json(&format!(",\"refresh_token\":\"{NEW_REFRESH_TOKEN}\""))
                ),
            ),
            refresh: false,
            message: "the token endpoint's answer is not JSON",
            got: "\"access_token\":\"***\"",
            hint: "",
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
        for secret in [
            CLIENT_SECRET,
            REFRESH_TOKEN,
            ACCESS_TOKEN,
            NEW_REFRESH_TOKEN,
        ] {
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
fn insecure_does_not_apply_to_the_token_endpoint() {
    // Without --ca-file the test CA is trusted nowhere: --insecure lets
    // the IMAP handshake through, never the token request, which would
    // hand the client secret to whoever answers.
    let ep = TokenEndpoint::start(vec![Answer::Bytes(json_answer("200 OK", &token_json("")))]);
    let c = Case::tls(greeting_then_logout())
        .no_ca_file()
        .args(&refs(&client_credentials(&ep)))
        .args(&["--insecure"])
        .env(&SECRET_ENV)
        .json();
    let log = ep.finish();
    assert!(
        log.requests.is_empty(),
        "the request was sent: {log:?}\n{}",
        c.ctx
    );
    c.failed_at("token");
    assert_eq!(c.step("tls")["status"], "warning", "{}", c.ctx);
    assert!(
        c.error("message")
            .starts_with("the TLS handshake with the token endpoint localhost:"),
        "{}",
        c.ctx
    );
    assert!(
        c.error("hint").contains("--insecure does not apply here"),
        "{}",
        c.ctx
    );
}
