//! IDLE (RFC 2177) for the round trip: the server reports a new message
//! the moment it is delivered, so the arrival time is that moment, not
//! the next poll. A wait ends at a limit before the deadline (a
//! `Transport` wait limit) and leaves the session usable, so DONE and
//! what follows still fit in the time left.

use std::io;
use std::time::Instant;

use crate::parser::Response;
use crate::transport::WAIT_LIMIT_PASSED;

use super::{Completion, OnUntagged, Session, SessionError};

/// An IDLE in progress: its tag, for DONE's completion.
#[derive(Debug)]
pub struct Idling {
    tag: String,
}

impl Session {
    /// Sends IDLE and waits for its `+`. A tagged answer instead (a
    /// server that refuses IDLE here) comes back as `Err(completion)`.
    pub fn idle_start(
        &mut self,
        on_untagged: &mut OnUntagged,
    ) -> Result<Result<Idling, Completion>, SessionError> {
        self.ensure_usable()?;
        let tag = self.next_tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes(), &format!("{tag} IDLE"))?;
        match self.await_tag(&tag, &mut |_, _, _| Ok(false), on_untagged)? {
            None => Ok(Ok(Idling { tag })),
            Some(done) => Ok(Err(done)),
        }
    }

    /// The next response during IDLE, or None when `limit` passed first.
    pub fn idle_next(
        &mut self,
        limit: Instant,
    ) -> Result<Option<(Response, Vec<u8>)>, SessionError> {
        self.transport.set_wait_limit(Some(limit));
        let got = self.read_response();
        self.transport.set_wait_limit(None);
        match got {
            Ok(r) => Ok(Some(r)),
            Err(SessionError::Io(e)) if is_wait_limit(&e) => {
                // Only the wait ended: the connection is as it was.
                self.broken = false;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Ends the IDLE with DONE and waits for its completion.
    pub fn idle_done(
        &mut self,
        idling: Idling,
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        self.send(b"DONE\r\n", "DONE")?;
        self.await_completion(&idling.tag, on_untagged)
    }
}

fn is_wait_limit(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock && e.to_string() == WAIT_LIMIT_PASSED
}
