//! How an SMTP session ends when the message was not sent: the phase it
//! was in, and what went wrong there; also which reply codes let each
//! phase go on. The check turns these into its diagnoses.

use crate::transport::{ConnectError, TlsError};

use super::reply::{Reply, ReplyError};

/// The phases of an SMTP session, as errors and the transcript name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connect,
    Tls,
    Greeting,
    Ehlo,
    Starttls,
    Auth,
    MailFrom,
    RcptTo,
    Data,
    /// The message and its final dot: the `250` that means "queued".
    DataEnd,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::Tls => "TLS",
            Phase::Greeting => "greeting",
            Phase::Ehlo => "EHLO",
            Phase::Starttls => "STARTTLS",
            Phase::Auth => "AUTH",
            Phase::MailFrom => "MAIL FROM",
            Phase::RcptTo => "RCPT TO",
            Phase::Data => "DATA",
            Phase::DataEnd => "the end of DATA",
        }
    }

    /// The reply codes that let the session go on after this phase.
    pub fn expects(self) -> &'static [u16] {
        match self {
            Phase::Connect | Phase::Tls => &[],
            Phase::Greeting | Phase::Starttls => &[220],
            Phase::Ehlo | Phase::MailFrom | Phase::DataEnd => &[250],
            Phase::Auth => &[235],
            // 251: "user not local; will forward" is an acceptance too.
            Phase::RcptTo => &[250, 251],
            Phase::Data => &[354],
        }
    }
}

/// Why the message was not sent.
#[derive(Debug)]
pub enum SmtpError {
    Connect(ConnectError),
    Tls(TlsError),
    /// Reading a reply failed (deadline, close, framing, a limit).
    Read {
        phase: Phase,
        error: ReplyError,
    },
    /// Writing failed.
    Write {
        phase: Phase,
        error: std::io::Error,
    },
    /// A reply the phase does not allow.
    Rejected {
        phase: Phase,
        reply: Reply,
    },
    /// `--send-security starttls` and EHLO did not announce STARTTLS.
    NoStarttls {
        ehlo: Reply,
    },
    /// Bytes after STARTTLS's 220, before the handshake: injected.
    Injected(Vec<u8>),
    /// The login's mechanism is not among those offered.
    NoMechanism {
        wanted: String,
        offered: String,
    },
}

impl SmtpError {
    /// The phase the session ended in.
    pub fn phase(&self) -> Phase {
        match self {
            SmtpError::Connect(_) => Phase::Connect,
            SmtpError::Tls(_) => Phase::Tls,
            SmtpError::Read { phase, .. }
            | SmtpError::Write { phase, .. }
            | SmtpError::Rejected { phase, .. } => *phase,
            SmtpError::NoStarttls { .. } | SmtpError::Injected(_) => Phase::Starttls,
            SmtpError::NoMechanism { .. } => Phase::Auth,
        }
    }
}
