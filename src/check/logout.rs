//! The logout step: LOGOUT, answered by `* BYE` and a tagged OK as the KB
//! shows; still sent after a failed step while the connection can carry
//! it, never after the server has ended the session. An answer short of
//! that (no BYE, no tagged OK, or the server just hanging up) is a warning:
//! the session ended, which is what LOGOUT asks for. LOGOUT usually went
//! out with the batch after login (see `pipeline`); the wording says
//! whether the server closed before LOGOUT was sent, before answering the
//! commands ahead of it, or in answer to it.

use crate::parser::Status;
use crate::report::escape_cut;
use crate::session::SessionError;

use super::diagnosis::{self, LOGOUT_REFUSED};
use super::pipeline::Cmd;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT};

impl Check<'_> {
    pub(super) fn logout(&mut self) -> StepOutcome {
        let pipelined = self.pipelined(Cmd::Logout);
        let body_unread = self.pipelined(Cmd::Body);
        let Some(session) = self.session.as_mut() else {
            return Done::skip("not connected");
        };
        if !session.usable() {
            // The order shows when the server closed: a read found the
            // close while LOGOUT was still unsent, or unanswered behind
            // commands the server never answered.
            if session.peer_closed() && pipelined {
                return Done::skip(
                    "the server closed the connection before answering the commands sent ahead of LOGOUT",
                );
            }
            if session.peer_closed() {
                return Done::skip("the server closed the connection before LOGOUT was sent");
            }
            return Done::skip("the connection is not usable");
        }
        if let Some(bye) = &self.seen.bye {
            return Done::skip(format!(
                "the server already ended the session: * BYE {}",
                escape_cut(bye, TEXT_CUT)
            ));
        }
        // Answers no step read (the steps after a failure) come first; a
        // body among them is counted, not kept.
        if body_unread {
            session.stream_literals_up_to = Some(u64::MAX);
        }
        if !pipelined && let Err(e) = self.drain_pipeline() {
            return if closed_by_server(&e) {
                Done::warn(
                    "the server closed the connection before LOGOUT was sent",
                    "",
                )
            } else {
                Err(diagnosis::io_failure(
                    &e,
                    Step::Logout,
                    "answers to the commands before LOGOUT",
                ))
            };
        }
        let logout_tag = self
            .pipeline
            .iter()
            .find(|(c, _)| *c == Cmd::Logout)
            .map(|(_, tag)| tag.clone());
        let result = self.exchange(Cmd::Logout, None);
        self.dropped = None;
        let bye = self.seen.bye.take();
        let mut ahead_unanswered = false;
        if let Some(s) = self.session.as_mut() {
            ahead_unanswered = s
                .unanswered()
                .iter()
                .any(|t| Some(t) != logout_tag.as_ref());
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
            // LOGOUT went in one write with commands the server never
            // answered: it closed on the batch, not in answer to LOGOUT.
            (Err(e), None) if closed_by_server(&e) && ahead_unanswered => Done::warn(
                "the server closed the connection before answering the commands sent ahead of LOGOUT",
                "",
            ),
            // The server hung up on LOGOUT without a word: the session is
            // over as asked, only not the way RFC 3501 says. The connection
            // can only have ended after LOGOUT went out: a close is seen on
            // reading, and reading starts once the command is sent. (A
            // proxy that closes at once after a refused login, like nginx,
            // may have closed before LOGOUT arrived: nothing on the wire
            // tells the two apart, so the detail says so.) A reset, a
            // deadline, or a close noticed while still sending stay
            // failures.
            (Err(e), None) if closed_by_server(&e) && self.login_refused() => Done::warn(
                "the server closed the connection without answering LOGOUT: after a refused login some proxies (nginx) close at once, before LOGOUT arrives",
                "",
            ),
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

impl Check<'_> {
    /// The run's first failure is the login's.
    fn login_refused(&self) -> bool {
        self.report
            .error
            .as_ref()
            .is_some_and(|(step, _)| *step == Step::Login.as_str())
    }
}

/// The server closed the connection (TCP FIN, or TLS close_notify) while
/// we were reading its answer.
fn closed_by_server(e: &SessionError) -> bool {
    matches!(e, SessionError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
}
