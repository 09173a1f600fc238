//! The send step of a round trip (`--send-via`): a message with a fresh
//! token goes to the SMTP server, while the folder (SELECTed read-write
//! for the cleanup) already waits in IDLE where the server offers it, so
//! that its arrival is reported the moment it is delivered. The SMTP
//! session itself is `crate::smtp`'s; what its failures mean is
//! `send_diagnosis`'s.

use std::time::Instant;

use crate::cli::{AuthMethod, RoundTrip, SendSecret};
use crate::password::{MAX_PASSWORD_LINE, PasswordSource, read_password};
use crate::session::Idling;
use crate::smtp::{self, Delivery, OAuthMechanism, SmtpLogin, message};

use super::{Check, Done, StepOutcome, send_diagnosis};
use crate::report::Failure;

/// What the round trip carries from the send step to the arrive step.
#[derive(Debug, Default)]
pub(super) struct RoundTripState {
    pub token: String,
    /// The IDLE started before sending, until the arrive step ends it.
    pub idling: Option<Idling>,
    /// EXISTS when the IDLE started: a larger one is a new message.
    pub exists_before: u32,
    /// When the SMTP server said 250 to the end of DATA.
    pub accepted_at: Option<Instant>,
}

/// The EHLO name: this host's name where the kernel has a qualified one,
/// else `localhost` (a relay that checks HELO names accepts it from a
/// client that logs in).
fn helo_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| {
            h.contains('.')
                && h.len() <= 253
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
        .unwrap_or_else(|| "localhost".into())
}

impl Check<'_> {
    pub(super) fn send_message(&mut self) -> StepOutcome {
        let Some(rt) = self.cfg.round_trip.clone() else {
            return Done::skip("no --send-via");
        };
        if !self.opened {
            return Done::skip("the folder is not open");
        }
        let token = message::new_token().map_err(|e| Failure {
            message: e,
            expected: "a random token from the kernel".into(),
            got: None,
            hint: "check that getrandom(2) or /dev/urandom is available to this process".into(),
        })?;
        let login = self.smtp_login(&rt)?;
        // Answers to the batch after login that no step read (a fetch
        // skipped on an empty folder) come before IDLE's.
        self.drain_pipeline().map_err(|e| {
            super::diagnosis::io_failure(
                &e,
                super::Step::Send,
                "the answers to the commands sent after login",
            )
        })?;
        let domain = rt.from.rsplit_once('@').map_or("localhost", |(_, d)| d);
        let body = message::build(&token, &rt.from, &rt.to, domain);
        let mut state = RoundTripState {
            token,
            exists_before: self.seen.mailbox.exists,
            ..RoundTripState::default()
        };
        let connector = match (rt.security, &self.smtp_tls) {
            (crate::cli::Security::None, _) | (_, None) => None,
            (_, Some(settings)) => Some(settings.connector().map_err(|e| Failure {
                message: format!("cannot set up TLS for SMTP: {e}"),
                expected: "a TLS context".into(),
                got: None,
                hint: "check --ca-file".into(),
            })?),
        };
        if self.seen.has_cap("IDLE") {
            state.idling = self.start_idle();
        }
        let helo = helo_name();
        let delivery = Delivery {
            host: &rt.host,
            port: rt.port,
            security: rt.security,
            family: self.cfg.family,
            tls_name: &rt.host,
            helo: &helo,
            login: login.as_ref(),
            from: &rt.from,
            to: &rt.to,
            message: &body,
        };
        let result = smtp::send(
            &delivery,
            connector.as_ref(),
            self.deadline,
            self.transcript,
        );
        match result {
            Ok(sent) => {
                state.accepted_at = Some(sent.accepted_at);
                let detail = send_diagnosis::sent_detail(&rt, &sent, &state.token);
                self.round_trip = Some(state);
                Done::ok(detail)
            }
            Err(e) => {
                if let Some(idling) = state.idling.take() {
                    self.end_idle(idling);
                }
                send_diagnosis::outcome(&e, &rt)
            }
        }
    }

    /// The SMTP login: by default the IMAP user with its password (or its
    /// OAuth token, by the same mechanism), else `--send-user`'s.
    fn smtp_login(&self, rt: &RoundTrip) -> Result<Option<SmtpLogin>, Failure> {
        let read = |source: PasswordSource, env: Option<std::ffi::OsString>| {
            // read_password names IMAPCHECK_PASSWORD for an empty value.
            let e = match &env {
                Some(v) if v.is_empty() => Err(format!(
                    "{} is empty",
                    crate::cli::round_trip::SEND_PASSWORD_ENV
                )),
                _ => read_password(&source, env, MAX_PASSWORD_LINE),
            };
            e.map_err(|e| Failure {
                message: format!("cannot read the SMTP password: {e}"),
                expected: "the SMTP password of --send-user".into(),
                got: None,
                hint: format!(
                    "set {} or give --send-password-file",
                    crate::cli::round_trip::SEND_PASSWORD_ENV
                ),
            })
        };
        let login = match &rt.secret {
            SendSecret::SameAsImap => {
                let (Some(user), Some(secret)) = (&self.cfg.user, &self.smtp_secret) else {
                    return Ok(None);
                };
                let oauth = match self.cfg.auth {
                    AuthMethod::XOAuth2 => Some(OAuthMechanism::XOAuth2),
                    AuthMethod::OAuthBearer => Some(OAuthMechanism::OAuthBearer),
                    AuthMethod::Login | AuthMethod::Plain => None,
                };
                SmtpLogin {
                    user: user.clone(),
                    secret: secret.clone(),
                    oauth,
                }
            }
            SendSecret::Env(user) => SmtpLogin {
                user: user.clone(),
                secret: read(
                    PasswordSource::Env,
                    std::env::var_os(crate::cli::round_trip::SEND_PASSWORD_ENV),
                )?,
                oauth: None,
            },
            SendSecret::File(user, path) => SmtpLogin {
                user: user.clone(),
                secret: read(PasswordSource::File(path.clone()), None)?,
                oauth: None,
            },
        };
        Ok(Some(login))
    }

    /// Before the login takes the IMAP secret: a copy for SMTP, when the
    /// round trip logs in with it.
    pub(super) fn keep_secret_for_smtp(&mut self) {
        if self
            .cfg
            .round_trip
            .as_ref()
            .is_some_and(|r| r.secret == SendSecret::SameAsImap)
        {
            self.smtp_secret = self.credentials.password.clone();
        }
    }

    /// IDLE before sending; None (and the arrive step polls) when the
    /// server refuses it.
    pub(super) fn start_idle(&mut self) -> Option<Idling> {
        let seen = &mut self.seen;
        let session = self.session.as_mut()?;
        match session.idle_start(&mut |u, raw| seen.absorb(u, raw)) {
            Ok(Ok(idling)) => Some(idling),
            Ok(Err(_)) | Err(_) => None,
        }
    }

    /// DONE, and its completion; false when the session did not survive.
    pub(super) fn end_idle(&mut self, idling: Idling) -> bool {
        let seen = &mut self.seen;
        let Some(session) = self.session.as_mut() else {
            return false;
        };
        session
            .idle_done(idling, &mut |u, raw| seen.absorb(u, raw))
            .is_ok()
    }
}
