//! The starttls step: refuse what would downgrade the connection (PREAUTH,
//! no STARTTLS offered, responses injected before the handshake), start
//! TLS, and forget everything learned in cleartext.

use crate::parser::Status;
use crate::session::Arg;

use super::diagnosis::{
    self, PREAUTH_DOWNGRADE, STARTTLS_INJECTION, STARTTLS_NOT_OFFERED, STARTTLS_REFUSED,
};
use super::{Check, Done, Step, StepOutcome};

impl Check<'_> {
    pub(super) fn starttls(&mut self) -> StepOutcome {
        if self.preauth {
            let greeting = self.report.greeting.as_deref().map(str::as_bytes);
            return Err(PREAUTH_DOWNGRADE.with(greeting));
        }
        if !self.seen.has_cap("STARTTLS") {
            let caps = self.seen.capabilities.join(" ");
            return Err(STARTTLS_NOT_OFFERED.with(Some(caps.as_bytes())));
        }
        let done = self
            .run_command(&[Arg::Raw("STARTTLS")])
            .map_err(|e| diagnosis::io_failure(&e, Step::Starttls, "a tagged OK to STARTTLS"))?;
        if done.status != Status::Ok {
            return Err(STARTTLS_REFUSED.with(Some(&done.raw)));
        }
        let leftover = self.session()?.unparsed().to_vec();
        if !leftover.is_empty() {
            self.session()?.mark_broken();
            return Err(STARTTLS_INJECTION.with(Some(&leftover)));
        }
        let handshake = self.handshake(Step::Starttls)?;
        // RFC 9051 6.2.1: forget what was learned in cleartext and ask again.
        self.seen.capabilities.clear();
        self.seen.trusted = true;
        self.request_capabilities(Step::Starttls)?;
        let mut detail = format!(
            "{}; capabilities after TLS: {}",
            handshake.detail,
            self.seen.capabilities.join(" ")
        );
        if let Some(id) = self.send_id_without_login() {
            detail.push_str(&format!("; server ID: {id}"));
        }
        Ok(Done {
            detail,
            ..handshake
        })
    }
}
