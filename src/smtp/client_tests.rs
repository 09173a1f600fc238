//! The SMTP client against scripted servers on loopback: the odd and
//! hostile answers a real server sends rarely, each with what the client
//! must do (and must not send).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::auth::{OAuthMechanism, SmtpLogin};
use super::client::{Delivery, send};
use super::error::{Phase, SmtpError};
use super::reply::ReplyError;
use crate::cli::Security;
use crate::password::Secret;
use crate::transcript::Transcript;
use crate::transport::{Deadline, Family};

/// One move of a scripted server.
enum Move {
    /// Write these bytes (one write).
    Say(&'static [u8]),
    /// Read lines until one starts with this.
    Await(&'static str),
    /// Read the message up to its lone dot.
    AwaitDot,
    Pause(u64),
    /// Keep the connection open, answer nothing, until the client closes.
    Hang,
}
use Move::*;

struct Server {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

fn serve(script: Vec<Move>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&received);
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut writer: TcpStream = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        let read_line = |reader: &mut BufReader<TcpStream>, line: &mut Vec<u8>| {
            line.clear();
            let n = reader.read_until(b'\n', line).unwrap_or(0);
            log.lock().unwrap().extend_from_slice(line);
            n
        };
        for step in script {
            match step {
                Say(bytes) => {
                    let _ = writer.write_all(bytes);
                }
                Await(prefix) => loop {
                    if read_line(&mut reader, &mut line) == 0 || line.starts_with(prefix.as_bytes())
                    {
                        break;
                    }
                },
                AwaitDot => loop {
                    if read_line(&mut reader, &mut line) == 0 || line == b".\r\n" {
                        break;
                    }
                },
                Pause(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Hang => {
                    let mut rest = Vec::new();
                    let _ = reader.read_to_end(&mut rest);
                    log.lock().unwrap().extend_from_slice(&rest);
                }
            }
        }
        // Whatever else comes until the client closes.
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        log.lock().unwrap().extend_from_slice(&rest);
    });
    Server {
        port,
        received,
        thread,
    }
}

impl Server {
    fn received(self) -> String {
        self.thread.join().unwrap();
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

fn login() -> SmtpLogin {
    SmtpLogin {
        user: "monitor@example.org".into(),
        secret: Secret::new(b"s3cret-pw".to_vec()),
        oauth: None,
    }
}

fn run(server: &Server, security: Security, budget_ms: u64) -> Result<super::Sent, SmtpError> {
    run_as(server, security, budget_ms, login())
}

fn run_as(
    server: &Server,
    security: Security,
    budget_ms: u64,
    login: SmtpLogin,
) -> Result<super::Sent, SmtpError> {
    let delivery = Delivery {
        host: "127.0.0.1",
        port: server.port,
        security,
        family: Family::Any,
        tls_name: "localhost",
        helo: "client.example.org",
        login: Some(&login),
        from: "monitor@example.org",
        to: "monitor@example.org",
        message: b"Subject: t\r\n\r\nbody\r\n",
    };
    let deadline = Deadline::after(Duration::from_millis(budget_ms));
    let transcript = Transcript {
        enabled: false,
        capture: None,
    };
    send(&delivery, None, deadline, transcript)
}

const EHLO_PIPELINING: &[u8] =
    b"250-mx.example.org\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";

#[test]
fn a_pipelined_session_sends_the_envelope_in_one_write() {
    let server = serve(vec![
        Say(b"220 mx ESMTP\r\n"),
        Await("EHLO"),
        Say(EHLO_PIPELINING),
        Await("AUTH"),
        Say(b"235 2.7.0 ok\r\n"),
        Await("DATA"),
        Say(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
        AwaitDot,
        Say(b"250 2.0.0 Ok: queued as 1234\r\n"),
        Await("QUIT"),
        Say(b"221 bye\r\n"),
    ]);
    let sent = run(&server, Security::None, 5000).unwrap();
    assert!(sent.pipelined);
    assert_eq!(sent.mechanism, Some("PLAIN"));
    assert_eq!(sent.accepted.code, 250);
    let got = server.received();
    assert!(
        got.contains("AUTH PLAIN AG1vbml0b3JAZXhhbXBsZS5vcmcAczNjcmV0LXB3\r\n"),
        "{got}"
    );
    assert!(
        got.contains(
            "MAIL FROM:<monitor@example.org>\r\nRCPT TO:<monitor@example.org>\r\nDATA\r\n"
        )
    );
    assert!(got.contains("\r\nbody\r\n.\r\nQUIT\r\n"), "{got}");
}

#[test]
fn a_multi_line_reply_split_across_reads_is_read_whole() {
    let server = serve(vec![
        Say(b"220-mx ESMTP\r\n"),
        Pause(50),
        Say(b"220 welcome\r\n"),
        Await("EHLO"),
        Say(b"250-mx.exa"),
        Pause(50),
        Say(b"mple.org\r\n250-AUTH LO"),
        Pause(50),
        Say(b"GIN\r\n250 SIZE 1000\r\n"),
        Await("AUTH LOGIN"),
        Say(b"334 VXNlcm5hbWU6\r\n"),
        Await(""),
        Say(b"334 UGFzc3dvcmQ6\r\n"),
        Await(""),
        Say(b"235 ok\r\n"),
        Await("MAIL"),
        Say(b"250 ok\r\n"),
        Await("RCPT"),
        Say(b"250 ok\r\n"),
        Await("DATA"),
        Say(b"354 go\r\n"),
        AwaitDot,
        Say(b"250 queued\r\n"),
    ]);
    let sent = run(&server, Security::None, 5000).unwrap();
    assert!(!sent.pipelined);
    assert_eq!(sent.mechanism, Some("LOGIN"));
    let got = server.received();
    // LOGIN: the user and the password, each base64 on its own line.
    assert!(
        got.contains("bW9uaXRvckBleGFtcGxlLm9yZw==\r\nczNjcmV0LXB3\r\n"),
        "{got}"
    );
}

#[test]
fn a_4xx_after_the_message_is_a_transient_refusal_at_the_end_of_data() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(EHLO_PIPELINING),
        Await("AUTH"),
        Say(b"235 ok\r\n"),
        Await("DATA"),
        Say(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        AwaitDot,
        Say(b"451 4.7.1 Greylisted, please try again in 300 seconds\r\n"),
    ]);
    match run(&server, Security::None, 5000) {
        Err(SmtpError::Rejected {
            phase: Phase::DataEnd,
            reply,
        }) => {
            assert!(reply.is_transient());
            assert!(reply.one_line().contains("Greylisted"));
        }
        other => panic!("{other:?}"),
    }
    server.received();
}

#[test]
fn a_refused_recipient_is_reported_as_the_first_refusal_not_datas() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(EHLO_PIPELINING),
        Await("AUTH"),
        Say(b"235 ok\r\n"),
        Await("DATA"),
        Say(b"250 ok\r\n550 5.1.1 <monitor@example.org>: Recipient address rejected\r\n554 5.5.1 no valid recipients\r\n"),
    ]);
    match run(&server, Security::None, 5000) {
        Err(SmtpError::Rejected {
            phase: Phase::RcptTo,
            reply,
        }) => assert_eq!(reply.code, 550),
        other => panic!("{other:?}"),
    }
    let got = server.received();
    assert!(
        !got.contains("body"),
        "no message after a refused DATA: {got}"
    );
}

#[test]
fn a_server_that_never_answers_the_end_of_data_ends_by_the_deadline() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(EHLO_PIPELINING),
        Await("AUTH"),
        Say(b"235 ok\r\n"),
        Await("DATA"),
        Say(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        AwaitDot,
        Hang,
    ]);
    let started = Instant::now();
    match run(&server, Security::None, 1500) {
        Err(SmtpError::Read {
            phase: Phase::DataEnd,
            error,
        }) => assert!(error.timed_out(), "{error:?}"),
        other => panic!("{other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    server.received();
}

#[test]
fn an_oversized_reply_line_is_refused_at_the_limit() {
    static LONG: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(|| {
        let mut l = b"220 ".to_vec();
        l.extend(std::iter::repeat_n(b'x', 100_000));
        l
    });
    let long: &'static [u8] = &LONG;
    let server = serve(vec![Say(long), Say(b"\r\n")]);
    match run(&server, Security::None, 5000) {
        Err(SmtpError::Read {
            phase: Phase::Greeting,
            error: ReplyError::LineTooLong { start },
        }) => {
            assert_eq!(start.len(), super::MAX_REPLY_LINE);
        }
        other => panic!("{other:?}"),
    }
    server.received();
}

#[test]
fn starttls_refused_after_ehlo_announced_it_sends_nothing_more_in_cleartext() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(b"250-mx\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n"),
        Await("STARTTLS"),
        Say(b"454 4.7.0 TLS not available due to local problem\r\n"),
    ]);
    match run(&server, Security::Starttls, 5000) {
        Err(SmtpError::Rejected {
            phase: Phase::Starttls,
            reply,
        }) => assert_eq!(reply.code, 454),
        other => panic!("{other:?}"),
    }
    let got = server.received();
    assert_eq!(got, "EHLO client.example.org\r\nSTARTTLS\r\n");
}

#[test]
fn starttls_not_offered_and_bytes_injected_before_the_handshake_fail_closed() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(b"250-mx\r\n250 AUTH PLAIN\r\n"),
    ]);
    assert!(matches!(
        run(&server, Security::Starttls, 5000),
        Err(SmtpError::NoStarttls { .. })
    ));
    assert_eq!(server.received(), "EHLO client.example.org\r\n");
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(b"250-mx\r\n250 STARTTLS\r\n"),
        Await("STARTTLS"),
        Say(b"220 go ahead\r\n250 AUTH PLAIN\r\n"),
    ]);
    match run(&server, Security::Starttls, 5000) {
        Err(SmtpError::Injected(bytes)) => assert_eq!(bytes, b"250 AUTH PLAIN\r\n"),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.received(), "EHLO client.example.org\r\nSTARTTLS\r\n");
}

#[test]
fn a_wrong_password_is_refused_at_auth() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(EHLO_PIPELINING),
        Await("AUTH"),
        Say(b"535 5.7.8 Error: authentication failed\r\n"),
    ]);
    match run(&server, Security::None, 5000) {
        Err(SmtpError::Rejected {
            phase: Phase::Auth,
            reply,
        }) => assert_eq!(reply.code, 535),
        other => panic!("{other:?}"),
    }
    assert!(!server.received().contains("MAIL FROM"));
}

#[test]
fn a_server_that_echoes_the_password_has_it_masked_in_the_refusal() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(EHLO_PIPELINING),
        Await("AUTH"),
        Say(b"535-5.7.8 bad password s3cret-pw\r\n535 5.7.8 for AG1vbml0b3JAZXhhbXBsZS5vcmcAczNjcmV0LXB3\r\n"),
    ]);
    match run(&server, Security::None, 5000) {
        Err(SmtpError::Rejected { reply, .. }) => {
            let text = reply.one_line();
            assert!(
                !text.contains("s3cret") && !text.contains("czNjcmV0"),
                "{text}"
            );
            assert!(
                text.contains("bad password ***") && text.contains("for ***"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    server.received();
}

#[test]
fn an_oauth_token_goes_as_xoauth2_and_its_error_challenge_is_answered() {
    let server = serve(vec![
        Say(b"220 mx\r\n"),
        Await("EHLO"),
        Say(b"250-mx\r\n250 AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER\r\n"),
        Await("AUTH XOAUTH2"),
        // {"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}
        Say(b"334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==\r\n"),
        Await(""),
        Say(b"535 5.7.8 Username and Password not accepted\r\n"),
    ]);
    let token = SmtpLogin {
        user: "monitor@example.org".into(),
        secret: Secret::new(b"ya29.token".to_vec()),
        oauth: Some(OAuthMechanism::XOAuth2),
    };
    match run_as(&server, Security::None, 5000, token) {
        Err(SmtpError::Rejected {
            phase: Phase::Auth,
            reply,
        }) => assert_eq!(reply.code, 535),
        other => panic!("{other:?}"),
    }
    let got = server.received();
    // user=monitor@example.org^Aauth=Bearer ya29.token^A^A, then the empty
    // answer to the error challenge.
    assert!(
        got.starts_with("EHLO client.example.org\r\nAUTH XOAUTH2 dXNlcj1tb25pdG9yQGV4YW1wbGUub3JnAWF1dGg9QmVhcmVyIHlhMjkudG9rZW4BAQ==\r\n\r\n"),
        "{got}"
    );
}
