//! What the SMTP session's end means for the send step: the usual causes
//! named for each refusal (530/535 the login, 550/554 relay or recipient,
//! 421/450/451 greylisting or a rate limit, which is a WARNING that says
//! to retry, not a CRITICAL), a server without STARTTLS, and the detail of
//! a message that went out.

use crate::cli::RoundTrip;
use crate::report::{Failure, escape_cut};
use crate::smtp::{Phase, Reply, ReplyError, Sent, SmtpError};

use super::{Done, StepOutcome, TEXT_CUT};

/// The send step's detail: where, how, and the server's "queued".
pub(super) fn sent_detail(rt: &RoundTrip, sent: &Sent, token: &str) -> String {
    let mut how = vec![sent.tls.clone().unwrap_or_else(|| "cleartext".into())];
    if sent.unverified.is_some() {
        how.push("certificate not verified (--insecure)".into());
    }
    match sent.mechanism {
        Some(m) => how.push(format!("AUTH {m}")),
        None => how.push("no AUTH offered".into()),
    }
    if sent.pipelined {
        how.push("pipelined".into());
    }
    format!(
        "{} → {} through {}:{} ({}); token {token}; {}",
        rt.from,
        rt.to,
        rt.host,
        rt.port,
        how.join(", "),
        shown(&sent.accepted)
    )
}

fn shown(reply: &Reply) -> String {
    escape_cut(reply.one_line().as_bytes(), TEXT_CUT)
}

/// A failed SMTP session as the step's outcome.
pub(super) fn outcome(e: &SmtpError, rt: &RoundTrip) -> StepOutcome {
    let server = format!("{}:{}", rt.host, rt.port);
    let phase = e.phase().as_str();
    // A refused STARTTLS fails closed whatever its code: 454 "TLS not
    // available" is no reason to wait, and never one to go on without.
    if let SmtpError::Rejected { reply, phase: at } = e
        && reply.is_transient()
        && *at != Phase::Starttls
    {
        return Done::warn(
            format!(
                "the SMTP server answered {} to {phase}: a temporary refusal (greylisting, a rate limit or a busy server); retry later",
                reply.code
            ),
            format!("no message was sent; {server} said {}", shown(reply)),
        );
    }
    let failure = |message: String, expected: String, got: Option<String>, hint: &str| Failure {
        message,
        expected,
        got,
        hint: hint.to_string(),
    };
    let expected = match e.phase().expects() {
        [] => format!("the SMTP server at {server} to answer"),
        codes => {
            let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
            format!("{} to {phase}", codes.join(" or "))
        }
    };
    Err(match e {
        SmtpError::Rejected {
            phase: Phase::Starttls,
            reply,
        } => failure(
            format!("the SMTP server at {server} refused STARTTLS after announcing it; nothing more was sent in cleartext"),
            expected,
            Some(shown(reply)),
            "the server's TLS setup is broken (certificate or key unreadable); its log says why",
        ),
        SmtpError::Rejected { phase, reply } => {
            let got = Some(shown(reply));
            let (what, hint) = refusal(*phase, reply.code, rt);
            failure(format!("the SMTP server refused {what}"), expected, got, &hint)
        }
        SmtpError::NoStarttls { ehlo } => failure(
            format!("the SMTP server at {server} does not offer STARTTLS; nothing was sent in cleartext"),
            "STARTTLS among EHLO's extensions".into(),
            Some(shown(ehlo)),
            "use --send-security tls (port 465) if the server speaks implicit TLS, or --send-security none where cleartext is acceptable; a server that offers STARTTLS to others may have it stripped on the way",
        ),
        SmtpError::Injected(bytes) => failure(
            "data arrived after STARTTLS's 220 and before the TLS handshake, as from someone in the middle; nothing more was sent".into(),
            "nothing between 220 and the handshake".into(),
            Some(escape_cut(bytes, TEXT_CUT)),
            "look for a device on the path that rewrites SMTP (a firewall's SMTP inspection)",
        ),
        SmtpError::NoMechanism { wanted, offered } => failure(
            format!("the SMTP server offers AUTH {offered}, not {wanted}"),
            format!("AUTH {wanted}"),
            None,
            "the login goes with PLAIN or LOGIN for a password, XOAUTH2 or OAUTHBEARER for a token (--auth); use --send-user for a login the server accepts",
        ),
        SmtpError::Tls(t) => failure(
            format!("the SMTP TLS handshake with {server} failed: {}", t.message),
            "a TLS handshake with a certificate valid for the host".into(),
            None,
            "check --send-via's name against the certificate; --ca-file and --insecure apply to SMTP too",
        ),
        SmtpError::Connect(c) => failure(
            format!("cannot connect to the SMTP server {server}: {c}"),
            "a TCP connection".into(),
            None,
            "check --send-via's host and port (587 submission, 465 implicit TLS) and any firewall between",
        ),
        SmtpError::Read { error, .. } if error.timed_out() => failure(
            format!("no answer from the SMTP server to {phase} before the deadline"),
            expected,
            None,
            "a slow content filter or a stalled server; raise -t, or look at the SMTP server's queue",
        ),
        SmtpError::Read { error, .. } => {
            let got = match error {
                ReplyError::LineTooLong { start } => Some(escape_cut(start, TEXT_CUT)),
                ReplyError::Malformed { line } => Some(escape_cut(line, TEXT_CUT)),
                ReplyError::Closed { partial } if !partial.is_empty() => {
                    Some(escape_cut(partial, TEXT_CUT))
                }
                _ => None,
            };
            failure(
                format!("the SMTP server at {phase}: {error}"),
                expected,
                got,
                "is this an SMTP submission port? Compare with a manual session (openssl s_client -starttls smtp)",
            )
        }
        SmtpError::Write { error, .. } => failure(
            format!(
                "cannot send {phase} to the SMTP server: {}",
                crate::transport::describe_io(error)
            ),
            expected,
            None,
            "the server closed the connection; its log says why",
        ),
    })
}

/// What was refused, and the hint, for a permanent refusal.
fn refusal(phase: Phase, code: u16, rt: &RoundTrip) -> (String, String) {
    let user = match &rt.secret {
        crate::cli::SendSecret::SameAsImap => {
            "the IMAP user and password (the default)".to_string()
        }
        crate::cli::SendSecret::Env(u) | crate::cli::SendSecret::File(u, _) => {
            format!("--send-user {u} and its password")
        }
    };
    match (phase, code) {
        (Phase::Auth, 535 | 534 | 538) | (_, 530) => (
            format!("the login ({code}: authentication failed or required)"),
            format!("the SMTP login used {user}; check it, or give the SMTP login its own with --send-user"),
        ),
        (Phase::MailFrom, 550..=554) => (
            format!("the sender {} ({code})", rt.from),
            "--send-from must be an address the SMTP login may send as".into(),
        ),
        (Phase::RcptTo, 550..=554) => (
            format!("the recipient {} ({code}: relay denied or no such mailbox)", rt.to),
            "check --send-to; a relay refusal means the server did not take the login as allowed to relay there".into(),
        ),
        (Phase::Data | Phase::DataEnd, 550..=554) => (
            format!("the message ({code})"),
            "a content filter or policy refused it; the server's log names the rule".into(),
        ),
        (Phase::Greeting, 554) => (
            "the connection in its greeting (554: no service for this client)".into(),
            "the server does not take mail from this address; check its access rules".into(),
        ),
        (phase, code) => (
            format!("{} ({code})", phase.as_str()),
            "the server's log says why".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::round_trip::{Flags, from_flags};
    use crate::report::StepStatus;

    fn rt() -> RoundTrip {
        let flags = Flags {
            send_via: Some("mx.example.org".into()),
            send_security: None,
            send_user: None,
            send_password_file: None,
            send_from: None,
            send_to: None,
            keep: false,
            arrival: None,
        };
        from_flags(flags, Some("m@example.org"), false)
            .ok()
            .flatten()
            .expect("a round trip")
    }

    fn rejected(phase: Phase, code: u16, text: &str) -> SmtpError {
        SmtpError::Rejected {
            phase,
            reply: Reply {
                code,
                lines: vec![text.to_string()],
            },
        }
    }

    #[test]
    fn temporary_refusals_warn_and_say_to_retry() {
        for (phase, code) in [
            (Phase::Greeting, 421),
            (Phase::RcptTo, 450),
            (Phase::RcptTo, 451),
            (Phase::DataEnd, 452),
        ] {
            let done = outcome(&rejected(phase, code, "try later"), &rt()).expect("a warning");
            assert_eq!(done.status, StepStatus::Warning);
            assert!(done.detail.contains("retry later"), "{}", done.detail);
        }
    }

    #[test]
    fn permanent_refusals_name_their_cause() {
        for (phase, code, says) in [
            (Phase::Auth, 535, "the login"),
            (Phase::MailFrom, 530, "the login"),
            (Phase::RcptTo, 550, "relay denied or no such mailbox"),
            (Phase::RcptTo, 554, "relay denied"),
            (Phase::MailFrom, 553, "the sender"),
            (Phase::DataEnd, 554, "the message"),
            // A 454 to STARTTLS fails closed: no waiting for it.
            (Phase::Starttls, 454, "refused STARTTLS"),
        ] {
            let Err(f) = outcome(&rejected(phase, code, "no"), &rt()) else {
                panic!("{code} at {phase:?} is not a failure");
            };
            assert!(f.message.contains(says), "{code}: {}", f.message);
            assert!(
                f.got
                    .as_deref()
                    .is_some_and(|g| g.starts_with(&code.to_string()))
            );
        }
        let ehlo = Reply {
            code: 250,
            lines: vec!["mx".into(), "AUTH PLAIN".into()],
        };
        let Err(f) = outcome(&SmtpError::NoStarttls { ehlo }, &rt()) else {
            panic!("no STARTTLS is a failure");
        };
        assert!(
            f.message.contains("does not offer STARTTLS"),
            "{}",
            f.message
        );
    }
}
