//! The SMTP client's state machine: greeting, EHLO, STARTTLS, AUTH, then
//! MAIL FROM, RCPT TO and DATA (in one write where PIPELINING, RFC 2920,
//! is announced), over the same [`Transport`] and deadline as IMAP.
//!
//! Every reply is checked against its phase, and the first that is not
//! what the phase allows ends the session as [`SmtpError::Rejected`] with
//! the phase and the reply; the check turns that into a diagnosis.
//! STARTTLS fails closed, as IMAP's does: when it was asked for and the
//! server does not offer it, refuses it, or sends anything after its `220`
//! before the handshake, nothing more is sent in cleartext.

use std::time::Instant;

use crate::cli::Security;
use crate::password::Secret;
use crate::report::escape_cut;
use crate::transcript::Transcript;
use crate::transport::{Deadline, Family, TlsContext, TlsError, Transport, resolve};

use super::auth::{self, SmtpLogin};
use super::error::{Phase, SmtpError};
use super::mask::mask;
use super::reply::{Reply, ReplyReader};

/// How much of a server line the transcript shows.
const SHOWN_CUT: usize = 600;

/// Where and how to send, and what.
pub struct Delivery<'a> {
    pub host: &'a str,
    pub port: u16,
    pub security: Security,
    pub family: Family,
    /// The name TLS verifies (the host unless `--sni`).
    pub tls_name: &'a str,
    /// The name EHLO gives for this client.
    pub helo: &'a str,
    pub login: Option<&'a SmtpLogin>,
    pub from: &'a str,
    pub to: &'a str,
    /// The message, CRLF line ends, not yet dot-stuffed.
    pub message: &'a [u8],
}

/// A message the server accepted.
#[derive(Debug)]
pub struct Sent {
    /// When DATA's final `250` arrived: the delivery delay counts from here.
    pub accepted_at: Instant,
    pub accepted: Reply,
    /// The TLS version (`TLS 1.3`), None in cleartext.
    pub tls: Option<String>,
    /// Why the certificate did not verify, when `--insecure` let the
    /// handshake go on.
    pub unverified: Option<String>,
    pub pipelined: bool,
    /// The AUTH mechanism used, or None when the server offered no AUTH.
    pub mechanism: Option<&'static str>,
}

/// One SMTP connection: the transport, the reply reader, the transcript.
pub struct Smtp {
    transport: Transport,
    reader: ReplyReader,
    transcript: Transcript,
    /// What a reply must not show, should the server echo it (the
    /// password, its base64, the SASL message's base64).
    masked: Vec<Secret>,
}

impl Smtp {
    /// Sends `wire` in one write; `-v` shows `shown`.
    pub fn send(&mut self, wire: &[u8], shown: &str) -> Result<(), SmtpError> {
        for line in shown.lines() {
            self.show("C:", line);
        }
        self.transport
            .write_all(wire)
            .map_err(|error| SmtpError::Write {
                phase: Phase::Connect,
                error,
            })
    }

    /// Like `send`, for bytes that hold a secret.
    pub fn send_secret(&mut self, wire: &Secret, shown: &str) -> Result<(), SmtpError> {
        self.send(wire.expose(), shown)
    }

    /// Secrets that no reply may show from now on.
    pub fn mask_in_replies(&mut self, secret: Secret) {
        self.masked.push(secret);
    }

    /// The next reply, read for `phase`, with any echoed secret masked.
    pub fn reply(&mut self, phase: Phase) -> Result<Reply, SmtpError> {
        let (transcript, tls) = (self.transcript, self.transport.is_tls());
        let masked = &self.masked;
        let mut reply = self
            .reader
            .read_reply(&mut self.transport, &mut |line| {
                let shown = mask(line, masked);
                transcript.line(tls, "[smtp] S:", &escape_cut(&shown, SHOWN_CUT));
            })
            .map_err(|error| SmtpError::Read { phase, error })?;
        if !masked.is_empty() {
            for line in &mut reply.lines {
                *line = String::from_utf8_lossy(&mask(line.as_bytes(), masked)).into_owned();
            }
        }
        Ok(reply)
    }

    /// The next reply, which must be one `phase` allows.
    fn accepted_reply(&mut self, phase: Phase) -> Result<Reply, SmtpError> {
        let reply = self.reply(phase)?;
        if phase.expects().contains(&reply.code) {
            Ok(reply)
        } else {
            Err(SmtpError::Rejected { phase, reply })
        }
    }

    fn show(&self, who: &str, text: &str) {
        self.transcript
            .line(self.transport.is_tls(), &format!("[smtp] {who}"), text);
    }

    fn command(&mut self, phase: Phase, line: &str) -> Result<Reply, SmtpError> {
        self.send(format!("{line}\r\n").as_bytes(), line)
            .map_err(|e| with_phase(e, phase))?;
        self.accepted_reply(phase)
    }

    /// Leaves politely: QUIT, without waiting for its answer (a server
    /// that never answers it must not eat the arrival's time).
    fn quit(mut self) {
        let _ = self.send(b"QUIT\r\n", "QUIT");
        self.transport.close();
    }
}

fn with_phase(e: SmtpError, phase: Phase) -> SmtpError {
    match e {
        SmtpError::Write { error, .. } => SmtpError::Write { phase, error },
        other => other,
    }
}

/// The EHLO keywords, upper case (`PIPELINING`, `AUTH PLAIN LOGIN`, ...):
/// every line after the first, which is the server's name.
fn extensions(ehlo: &Reply) -> Vec<String> {
    ehlo.lines
        .iter()
        .skip(1)
        .map(|l| l.trim().to_ascii_uppercase())
        .collect()
}

fn has_extension(extensions: &[String], name: &str) -> bool {
    extensions.iter().any(|e| e.split(' ').next() == Some(name))
}

/// The mechanisms of the AUTH line (also the old `AUTH=` form).
fn auth_mechanisms(extensions: &[String]) -> Option<Vec<String>> {
    let mut found: Option<Vec<String>> = None;
    for e in extensions {
        let mut words = e.split([' ', '=']);
        if words.next() == Some("AUTH") {
            found
                .get_or_insert_with(Vec::new)
                .extend(words.filter(|w| !w.is_empty()).map(String::from));
        }
    }
    found
}

/// The message as DATA carries it: dot-stuffed (RFC 5321 4.5.2), ended
/// with CRLF `.` CRLF.
pub fn data_wire(message: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(message.len() + 16);
    let mut at_line_start = true;
    for &b in message {
        if at_line_start && b == b'.' {
            wire.push(b'.');
        }
        wire.push(b);
        at_line_start = b == b'\n';
    }
    if !wire.ends_with(b"\r\n") {
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b".\r\n");
    wire
}

/// Sends the message: the whole SMTP session within `deadline`.
pub fn send(
    delivery: &Delivery,
    connector: Option<&TlsContext>,
    deadline: Deadline,
    transcript: Transcript,
) -> Result<Sent, SmtpError> {
    let addrs = resolve(delivery.host, delivery.port, delivery.family, deadline)
        .map_err(SmtpError::Connect)?;
    let (transport, _) = Transport::connect(&addrs, deadline).map_err(SmtpError::Connect)?;
    transcript.line(
        false,
        "[smtp] --",
        &format!("connected to {}", transport.peer),
    );
    let mut smtp = Smtp {
        transport,
        reader: ReplyReader::new(),
        transcript,
        masked: Vec::new(),
    };
    let result = session(&mut smtp, delivery, connector);
    // Where TLS was asked for and is not up, not even QUIT goes out in
    // cleartext: the session just closes.
    if delivery.security != Security::None && !smtp.transport.is_tls() {
        smtp.transport.close();
    } else {
        smtp.quit();
    }
    result
}

/// The TLS version and, under `--insecure`, why the certificate did not
/// verify.
type TlsUp = (String, Option<String>);

fn start_tls(
    smtp: &mut Smtp,
    delivery: &Delivery,
    connector: Option<&TlsContext>,
) -> Result<TlsUp, SmtpError> {
    let connector = connector.ok_or_else(|| {
        SmtpError::Tls(TlsError {
            message: "no TLS context could be set up".into(),
            timed_out: false,
            received: Vec::new(),
            chain: None,
            old_version: None,
        })
    })?;
    let handshake = smtp
        .transport
        .start_tls(connector, delivery.tls_name)
        .map_err(SmtpError::Tls)?;
    let version = handshake.negotiated.version;
    match &handshake.unverified {
        None => smtp.show(
            "--",
            &format!("{version} established, certificate verified"),
        ),
        Some(why) => smtp.show(
            "--",
            &format!("{version} established, certificate NOT verified (--insecure): {why}"),
        ),
    }
    Ok((version, handshake.unverified))
}

fn session(
    smtp: &mut Smtp,
    delivery: &Delivery,
    connector: Option<&TlsContext>,
) -> Result<Sent, SmtpError> {
    let mut tls = None;
    if delivery.security == Security::Tls {
        tls = Some(start_tls(smtp, delivery, connector)?);
    }
    smtp.accepted_reply(Phase::Greeting)?;
    let ehlo_line = format!("EHLO {}", delivery.helo);
    let mut ehlo = smtp.command(Phase::Ehlo, &ehlo_line)?;
    if delivery.security == Security::Starttls {
        if !has_extension(&extensions(&ehlo), "STARTTLS") {
            return Err(SmtpError::NoStarttls { ehlo });
        }
        smtp.command(Phase::Starttls, "STARTTLS")?;
        // RFC 3207 5: nothing may come between the 220 and the handshake;
        // what did was sent by someone in the middle.
        if !smtp.reader.unread().is_empty() {
            return Err(SmtpError::Injected(smtp.reader.unread().to_vec()));
        }
        tls = Some(start_tls(smtp, delivery, connector)?);
        // RFC 3207 4.2: forget what EHLO said in cleartext, and ask again.
        ehlo = smtp.command(Phase::Ehlo, &ehlo_line)?;
    }
    let extensions = extensions(&ehlo);
    let mut mechanism = None;
    if let Some(login) = delivery.login
        && let Some(offered) = auth_mechanisms(&extensions)
    {
        let chosen = auth::choose(login, &offered)?;
        auth::authenticate(smtp, login, chosen, delivery.tls_name, delivery.port)?;
        mechanism = Some(chosen);
    }
    let pipelined = has_extension(&extensions, "PIPELINING");
    let envelope = [
        (Phase::MailFrom, format!("MAIL FROM:<{}>", delivery.from)),
        (Phase::RcptTo, format!("RCPT TO:<{}>", delivery.to)),
        (Phase::Data, "DATA".to_string()),
    ];
    if pipelined {
        // RFC 2920 3.1: MAIL, RCPT and DATA in one write, their replies
        // read in order. A refused MAIL or RCPT makes the server refuse
        // DATA as well; its reply is read so that the refusal reported is
        // the first one.
        let wire: String = envelope.iter().map(|(_, c)| format!("{c}\r\n")).collect();
        let shown: Vec<&str> = envelope.iter().map(|(_, c)| c.as_str()).collect();
        smtp.send(wire.as_bytes(), &shown.join("\n"))
            .map_err(|e| with_phase(e, Phase::MailFrom))?;
        let mut first_refusal = None;
        for (phase, _) in &envelope {
            let reply = smtp.reply(*phase)?;
            if first_refusal.is_none() && !phase.expects().contains(&reply.code) {
                first_refusal = Some(SmtpError::Rejected {
                    phase: *phase,
                    reply,
                });
            } else if *phase == Phase::Data && reply.code == 354 && first_refusal.is_some() {
                // DATA was accepted although an earlier command was not:
                // end the empty message at once (RFC 2920 3.1).
                smtp.send(b".\r\n", ".")?;
                let _ = smtp.reply(Phase::DataEnd);
            }
        }
        if let Some(refusal) = first_refusal {
            return Err(refusal);
        }
    } else {
        for (phase, line) in &envelope {
            smtp.command(*phase, line)?;
        }
    }
    let wire = data_wire(delivery.message);
    let shown = format!(
        "({} bytes of message, the last line a lone dot)",
        wire.len()
    );
    smtp.send(&wire, &shown)
        .map_err(|e| with_phase(e, Phase::DataEnd))?;
    let accepted = smtp.accepted_reply(Phase::DataEnd)?;
    Ok(Sent {
        accepted_at: Instant::now(),
        accepted,
        unverified: tls.as_ref().and_then(|(_, why)| why.clone()),
        tls: tls.map(|(version, _)| version),
        pipelined,
        mechanism,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_dot_stuffed_and_ended() {
        assert_eq!(data_wire(b"a\r\n.b\r\n..\r\n"), b"a\r\n..b\r\n...\r\n.\r\n");
        assert_eq!(data_wire(b".x"), b"..x\r\n.\r\n");
    }

    #[test]
    fn extensions_and_auth_lines_are_read_in_both_forms() {
        let ehlo = Reply {
            code: 250,
            lines: [
                "mx",
                "pipelining",
                "AUTH=LOGIN",
                "AUTH PLAIN XOAUTH2",
                "STARTTLS",
            ]
            .map(String::from)
            .to_vec(),
        };
        let ext = extensions(&ehlo);
        assert!(has_extension(&ext, "PIPELINING"));
        assert!(has_extension(&ext, "STARTTLS"));
        assert!(!has_extension(&ext, "MX"));
        assert_eq!(
            auth_mechanisms(&ext).unwrap(),
            ["LOGIN", "PLAIN", "XOAUTH2"]
        );
        assert_eq!(auth_mechanisms(&ext[..1]), None);
    }
}
