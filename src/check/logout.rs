//! The logout step: LOGOUT, answered by `* BYE` and a tagged OK as the KB
//! shows; still sent after a failed step while the connection can carry
//! it, never after the server has ended the session.

use crate::parser::Status;
use crate::report::escape_cut;
use crate::session::Arg;

use super::diagnosis::{self, LOGOUT_REFUSED};
use super::{Check, Done, Step, StepOutcome, TEXT_CUT};

impl Check<'_> {
    pub(super) fn logout(&mut self) -> StepOutcome {
        let Some(session) = self.session.as_mut() else {
            return Done::skip("not connected");
        };
        if !session.usable() {
            return Done::skip("the connection is not usable");
        }
        if let Some(bye) = &self.seen.bye {
            return Done::skip(format!(
                "the server already ended the session: * BYE {}",
                escape_cut(bye, TEXT_CUT)
            ));
        }
        let result = self.run_command(&[Arg::Raw("LOGOUT")]);
        let bye = self.seen.bye.take();
        if let Some(s) = self.session.as_mut() {
            s.close();
        }
        match (result, bye) {
            (Ok(done), Some(bye)) if done.status == Status::Ok => {
                Done::ok(format!("* BYE {}", escape_cut(&bye, TEXT_CUT)))
            }
            (Ok(done), None) if done.status == Status::Ok => Done::warn(
                "tagged OK without the * BYE that RFC 3501 requires first",
                "",
            ),
            (Ok(done), _) => Err(LOGOUT_REFUSED.with(Some(&done.raw))),
            (Err(e), Some(bye)) if !e.timed_out() => Done::warn(
                format!(
                    "* BYE {}, then the connection closed without a tagged OK ({e})",
                    escape_cut(&bye, TEXT_CUT)
                ),
                "",
            ),
            (Err(e), _) => Err(diagnosis::io_failure(
                &e,
                Step::Logout,
                "* BYE, then a tagged OK",
            )),
        }
    }
}
