// Secrets and the endpoint's own TLS: the password, the OAuth client
// secret and the access token never show in any answer (head or body) of
// any endpoint, with debug=true or not, nor in any log line (RUST_LOG=
// trace); --web-tls-cert/--web-tls-key serve HTTPS, and plain HTTP to the
// TLS port gets no HTTP answer.

use super::endpoints::sample;
use super::*;

const CLIENT_ID: &str = "6f1c2b4e-0000-4d6a-9e2f-client-id";
const CLIENT_SECRET: &str = "Qx8~cl1ent.Secret_Zz";
const ACCESS_TOKEN: &str = "eyJ0eXAi.Acc3ss-Token_Yk";
const TOKEN_PATH: &str = "/tenant-id/oauth2/v2.0/token";

/// Exchange Online's answers to an XOAUTH2 login with ACCESS_TOKEN, as
/// tests/scripted/oauth.rs plays them, over implicit TLS.
fn exchange_online() -> Vec<Step> {
    let b64 = base64(format!("user={USER}\x01auth=Bearer {ACCESS_TOKEN}\x01\x01").as_bytes());
    let mut steps = vec![
        Step::Send("* OK The Microsoft Exchange IMAP4 service is ready.\r\n".into()),
        Step::Expect("CAPABILITY".into()),
        Step::Send("* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 SASL-IR ID\r\n{tag} OK CAPABILITY completed.\r\n".into()),
        Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {b64}")),
        Step::Send("{tag} OK AUTHENTICATE completed.\r\n".into()),
        Step::Expect("CAPABILITY".into()),
        Step::Expect("ID (*)".into()),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(format!(
            "* CAPABILITY IMAP4 IMAP4rev1 AUTH=XOAUTH2 SASL-IR ID\r\n{{prevtag2}} OK CAPABILITY completed.\r\n* ID (\"name\" \"Microsoft.Exchange\")\r\n{{prevtag}} OK ID completed.\r\n{}",
            kb_list_reply()
        )),
    ];
    // The rest of the batch: EXAMINE, then GETQUOTAROOT (sent because the
    // login's answer carried no capabilities; Exchange refuses it), FETCH
    // and LOGOUT.
    let mut rest = kb_script_after_greeting().split_off(4);
    rest.splice(
        2..2,
        [
            Step::ExpectQueued("GETQUOTAROOT INBOX".into()),
            Step::Send("{tag} BAD Command Error. 12\r\n".into()),
        ],
    );
    steps.extend(rest);
    steps
}

fn token_answer() -> token_endpoint::Answer {
    token_endpoint::Answer::Bytes(json_answer(
        "200 OK",
        &format!(
            "{{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"{ACCESS_TOKEN}\"}}"
        ),
    ))
}

#[test]
fn secrets_never_reach_an_answer_or_a_log_line() {
    let ep = TokenEndpoint::start(vec![token_answer(), token_answer()]);
    let oauth_module = format!(
        "--security tls\n--sni localhost\n--ca-file {}\n-u {USER}\n--oauth-token-url {}\n--oauth-client-id {CLIENT_ID}\n--oauth-client-secret-file client_secret\n--allow-target 127.0.0.1\n",
        certs().ca_pem.display(),
        ep.url(TOKEN_PATH)
    );
    let dir = modules_dir(&[("login.conf", LOGIN_MODULE), ("oauth.conf", &oauth_module)]);
    std::fs::write(dir.join("client_secret"), format!("{CLIENT_SECRET}\n")).expect("secret");
    let serve = Exporter::start_env(&dir, &[], &[("RUST_LOG", "trace")]);
    let mut answers = Vec::new();
    for debug in ["", "&debug=true"] {
        let server = kb_server();
        answers.push(serve.get(&format!("{}{debug}", probe_path("login", server.port()))));
        server.finish().assert_ok();
        let server = ScriptedServer::start(Mode::Tls(Identity::Good), exchange_online());
        answers.push(serve.get(&format!("{}{debug}", probe_path("oauth", server.port()))));
        let log = server.finish();
        log.assert_ok();
    }
    let endpoint = ep.finish();
    assert_eq!(endpoint.requests.len(), 2, "{:?}", endpoint.errors);
    for a in &answers {
        assert_eq!(a.status, 200, "{a:?}");
        assert!(
            a.body.contains("probe_success 1"),
            "{}\n{}",
            a.body,
            serve.log()
        );
    }
    assert!(
        answers[3].body.contains("AUTHENTICATE XOAUTH2 ***"),
        "{}",
        answers[3].body
    );
    for path in [
        "/",
        "/metrics",
        "/-/healthy",
        "/-/ready",
        "/nothing",
        "/logs?id=1",
        "/logs?id=2",
        "/logs?id=3",
        "/logs?id=4",
    ] {
        answers.push(serve.get(path));
    }
    assert!(
        answers.iter().filter(|a| a.body.contains("IMAP ")).count() >= 6,
        "the logs pages hold reports"
    );
    let log = serve.log();
    assert!(
        log.contains("C: ") || log.contains("TRACE"),
        "trace logging was on: {log}"
    );
    let xoauth2 = base64(format!("user={USER}\x01auth=Bearer {ACCESS_TOKEN}\x01\x01").as_bytes());
    for secret in [PASS, CLIENT_SECRET, ACCESS_TOKEN, xoauth2.as_str()] {
        for a in &answers {
            assert!(
                !a.head.contains(secret) && !a.body.contains(secret),
                "{secret} in {a:?}"
            );
        }
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
}

#[test]
fn tls_on_the_endpoint() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let pair = certs().pair(Identity::Good);
    let cert = pair.cert_pem.to_string_lossy().into_owned();
    let key = pair.key_pem.to_string_lossy().into_owned();
    let serve = Exporter::start(&dir, &["--web-tls-cert", &cert, "--web-tls-key", &key]);
    assert!(
        serve.log().contains("listening on https://"),
        "{}",
        serve.log()
    );
    let ca = native_tls::Certificate::from_pem(&std::fs::read(&certs().ca_pem).expect("ca"))
        .expect("ca pem");
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .build()
        .expect("connector");
    let tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut tls = connector.connect("localhost", tcp).expect("handshake");
    let path = probe_path("plain", closed_port());
    tls.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
        .expect("write");
    let a = read_answer(&mut tls);
    assert_eq!(
        (a.status, sample(&a.body, "probe_success")),
        (200, Some(0.0)),
        "{a:?}"
    );
    // Keep-alive over TLS.
    tls.write_all(b"GET /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    assert_eq!(read_answer(&mut tls).body, "Healthy\n");

    // Plain HTTP to the TLS port: no HTTP answer, and the port still works.
    let mut tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(12)))
        .expect("timeout");
    tcp.write_all(b"GET /-/healthy HTTP/1.1\r\n\r\n")
        .expect("write");
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1 200"),
        "{got:?}"
    );
    let tcp = TcpStream::connect(serve.addr).expect("connect");
    let mut tls = connector.connect("localhost", tcp).expect("handshake");
    tls.write_all(b"GET /-/ready HTTP/1.1\r\n\r\n")
        .expect("write");
    assert_eq!(read_answer(&mut tls).status, 200);
}

#[test]
fn web_tls_flags_go_together_and_must_load() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let cert = certs()
        .pair(Identity::Good)
        .cert_pem
        .to_string_lossy()
        .into_owned();
    let log = Exporter::try_start(&dir, &["--web-tls-cert", &cert])
        .err()
        .expect("cert without key");
    assert!(log.contains("go together"), "{log}");
    let log = Exporter::try_start(&dir, &["--web-tls-cert", &cert, "--web-tls-key", &cert])
        .err()
        .expect("a certificate is no key");
    assert!(log.contains("--web-tls-key"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_trickled_tls_handshake_is_cut_after_ten_seconds() {
    let dir = modules_dir(&[("plain.conf", "--security none\n")]);
    let pair = certs().pair(Identity::Good);
    let cert = pair.cert_pem.to_string_lossy().into_owned();
    let key = pair.key_pem.to_string_lossy().into_owned();
    let serve = Exporter::start(&dir, &["--web-tls-cert", &cert, "--web-tls-key", &key]);
    let mut tcp = TcpStream::connect(serve.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    // A TLS handshake record header announcing 16 KiB, then a byte a
    // second: each read gets something, the handshake never ends.
    let started = Instant::now();
    let mut closed = false;
    for (i, b) in [0x16u8, 0x03, 0x01, 0x40, 0x00]
        .into_iter()
        .chain(std::iter::repeat(0x01))
        .enumerate()
    {
        if i > 0 {
            thread::sleep(Duration::from_millis(900));
        }
        let mut buf = [0u8; 512];
        if tcp.write_all(&[b]).is_err() || matches!(tcp.read(&mut buf), Ok(0)) {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "still open after {took:?}");
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(13),
        "closed after {took:?}"
    );
}
