//! The greeting step (OK, PREAUTH or BYE, and whether it is IMAP at all)
//! and the capability step (from the greeting, or asked with CAPABILITY),
//! with the posture warnings the capabilities give: no IMAP4rev1, and a
//! cleartext port that takes passwords.

use crate::cli::Security;
use crate::parser::{Response, Status, Untagged};
use crate::report::{Failure, escape_cut, trim_eol};
use crate::session::{Arg, Completion};

use super::diagnosis;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT};

impl Check<'_> {
    pub(super) fn greeting(&mut self) -> StepOutcome {
        let security = self.cfg.security;
        let session = self.session()?;
        let (resp, raw) = session
            .read_response()
            .map_err(|e| diagnosis::greeting_io_failure(&e, security))?;
        let text = escape_cut(trim_eol(&raw), TEXT_CUT);
        self.report.greeting = Some(text.clone());
        let result = match resp {
            Response::Untagged(Untagged::Condition {
                status,
                code,
                text: words,
            }) => {
                if let Some(code) = &code {
                    self.seen.absorb_code(code, &words);
                }
                match status {
                    Status::Ok => Done::ok(text),
                    Status::Preauth => {
                        self.preauth = true;
                        self.authenticated = true;
                        Done::ok(text)
                    }
                    other => Err(diagnosis::greeting_not_ok(other, &raw)),
                }
            }
            _ => Err(diagnosis::greeting_not_a_status(&raw, security)),
        };
        if result.is_err() {
            // No LOGOUT to a server that refused us or is not IMAP.
            self.session()?.mark_broken();
        }
        result
    }

    pub(super) fn capability(&mut self) -> StepOutcome {
        let from_greeting = self.seen.capabilities_fresh;
        if from_greeting {
            self.sync_literal_caps();
        } else {
            self.request_capabilities(Step::Capability)?;
        }
        let mut detail = self.seen.capabilities.join(" ");
        if from_greeting {
            detail = format!("from the greeting: {detail}");
        }
        let mut warnings = Vec::new();
        if !self.seen.has_cap("IMAP4rev1") && !self.seen.has_cap("IMAP4rev2") {
            warnings.push("neither IMAP4rev1 nor IMAP4rev2 announced".to_string());
        }
        let cleartext_auth = !self.seen.has_cap("LOGINDISABLED") || self.seen.has_cap("AUTH=PLAIN");
        match self.cfg.security {
            Security::None if cleartext_auth && !self.preauth => {
                let mut w =
                    "the server accepts credentials in cleartext on this port (no LOGINDISABLED)"
                        .to_string();
                if self.seen.has_cap("STARTTLS") {
                    w.push_str("; it offers STARTTLS: check with --security starttls");
                }
                warnings.push(w);
            }
            Security::Starttls if cleartext_auth && self.seen.has_cap("STARTTLS") => {
                // Information only: we never log in before TLS ourselves.
                self.transcript.note(
                    "the server offers authentication before TLS on this port (no LOGINDISABLED); clients without STARTTLS would send passwords in cleartext",
                );
            }
            _ => {}
        }
        if self.cfg.security != Security::Starttls
            && let Some(id) = self.send_id_without_login()
        {
            detail.push_str(&format!("; server ID: {id}"));
        }
        Done::ok_or_warn(warnings, detail)
    }

    /// Asks CAPABILITY; a failure is reported as `step`'s.
    pub(super) fn request_capabilities(&mut self, step: Step) -> Result<(), Failure> {
        self.seen.capabilities_fresh = false;
        let done = self
            .run_command(&[Arg::Raw("CAPABILITY")])
            .map_err(|e| diagnosis::io_failure(&e, step, "the CAPABILITY response"))?;
        self.check_capability_answer(&done)
    }

    /// CAPABILITY's completion must be OK and must have listed capabilities.
    pub(super) fn check_capability_answer(&mut self, done: &Completion) -> Result<(), Failure> {
        if done.status != Status::Ok || !self.seen.capabilities_fresh {
            return Err(diagnosis::capability_answer(done));
        }
        self.sync_literal_caps();
        Ok(())
    }

    /// Tells the session which literals the server takes (RFC 7888).
    pub(super) fn sync_literal_caps(&mut self) {
        let plus = self.seen.has_cap("LITERAL+");
        let minus = self.seen.has_cap("LITERAL-");
        if let Some(s) = self.session.as_mut() {
            s.literal_plus = plus;
            s.literal_minus = minus;
        }
    }
}
