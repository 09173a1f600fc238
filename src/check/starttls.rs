//! The starttls step: refuse what would downgrade the connection (PREAUTH,
//! no STARTTLS offered, responses injected before the handshake), start
//! TLS, and forget everything learned in cleartext.

use crate::parser::Status;
use crate::session::Arg;

use super::diagnosis::{self, NoStarttls, no_starttls};
use super::{Check, Done, Step, StepOutcome};

impl Check<'_> {
    pub(super) fn starttls(&mut self) -> StepOutcome {
        if self.preauth {
            let greeting = self.report.greeting.as_deref();
            return Err(no_starttls(NoStarttls::Preauth(greeting)));
        }
        if !self.seen.has_cap("STARTTLS") {
            let caps = &self.seen.capabilities;
            return Err(no_starttls(NoStarttls::NotOffered(caps)));
        }
        let done = self
            .run_command(&[Arg::Raw("STARTTLS")])
            .map_err(|e| diagnosis::io_failure(&e, Step::Starttls, "a tagged OK to STARTTLS"))?;
        if done.status != Status::Ok {
            return Err(no_starttls(NoStarttls::Refused(&done)));
        }
        let leftover = self.session()?.unparsed().to_vec();
        if !leftover.is_empty() {
            self.session()?.mark_broken();
            return Err(no_starttls(NoStarttls::Injected(&leftover)));
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
