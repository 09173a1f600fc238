//! The logout step: LOGOUT, answered by `* BYE` and a tagged OK as the KB
//! shows; still sent after a failed step while the connection can carry
//! it, never after the server has ended the session. An answer short of
//! that (no BYE, no tagged OK, or the server just hanging up) is a warning:
//! the session ended, which is what LOGOUT asks for.

use crate::parser::Status;
use crate::report::escape_cut;
use crate::session::{Arg, SessionError};

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
            // The server hung up on LOGOUT without a word: the session is
            // over as asked, only not the way RFC 3501 says. The connection
            // can only have ended after LOGOUT went out: a close is seen on
            // reading, and reading starts once the command is sent. A
            // reset, a deadline, or a close noticed while still sending
            // stay failures.
            (Err(e), None) if closed_by_server(&e) => Done::warn(
                "the server closed the connection in answer to LOGOUT, without * BYE or a tagged OK",
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

/// The server closed the connection (TCP FIN, or TLS close_notify) while
/// we were reading its answer.
fn closed_by_server(e: &SessionError) -> bool {
    matches!(e, SessionError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
}
