//! The arrive step of a round trip: wait for this run's token in the
//! folder, with IDLE where the server offers it (the arrival is the
//! moment the server reports the new message) or else by polling
//! `UID SEARCH HEADER X-Imapcheck-Token <token>`. If the message is not
//! there by the deadline less a margin, the junk folders are searched: a
//! message filed as spam arrived, but is a WARNING naming the folder. The
//! delay counts from the SMTP server's 250 to the end of DATA. Removing
//! the message again is `cleanup`'s.

use std::time::{Duration, Instant};

use crate::parser::{Response, Untagged};
use crate::report::{Failure, RoundTripReport};
use crate::smtp::message::TOKEN_HEADER;

use super::send::RoundTripState;
use super::{Check, Done, StepOutcome};

/// The pause between two searches when the server has no IDLE: short, as
/// the delay is measured to the poll that finds the message; each poll is
/// one small command.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How long an IDLE goes without a search of our own: a server whose IDLE
/// misses a delivery (no EXISTS) still has the message found, this much
/// late at most.
const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// Time kept back from the wait for the junk-folder search, the cleanup
/// and LOGOUT: a few round trips to a slow server.
const ARRIVAL_MARGIN: Duration = Duration::from_secs(2);

/// The most of the time left the margin takes, under short timeouts: the
/// wait keeps at least the rest.
const MARGIN_SHARE: u32 = 4;

/// Folder names searched for a message filed as spam, besides the one the
/// server marks `\Junk` (RFC 6154), compared case-insensitively with the
/// last part of each folder's name.
const JUNK_NAMES: [&str; 3] = ["Junk", "Spam", "Junk E-mail"];

/// The most junk folders searched: each is a SELECT and a search, and a
/// server with many folders of those names is not asked about them all.
const MAX_JUNK_FOLDERS: usize = 4;

impl Check<'_> {
    pub(super) fn arrive(&mut self) -> StepOutcome {
        let Some(mut state) = self.round_trip.take() else {
            return Done::skip("no message was sent");
        };
        let Some(accepted_at) = state.accepted_at else {
            return Done::skip("no message was sent");
        };
        let left = self.deadline.remaining().unwrap_or_default();
        let margin = ARRIVAL_MARGIN.min(left / MARGIN_SHARE);
        let limit = Instant::now() + left.saturating_sub(margin);
        let how = if state.idling.is_some() {
            "IDLE"
        } else {
            "polling"
        };
        let found = match state.idling.take() {
            Some(idling) => self.wait_idle(&mut state, idling, limit)?,
            None => self.wait_polling(&state, limit)?,
        };
        let folder = self.cfg.folder.clone();
        let (uid, at, folder, in_junk) = match found {
            Some((uid, at)) => (uid, at, folder, false),
            None => match self.search_junk(&state.token)? {
                Some((junk, uid)) => (uid, Instant::now(), junk, true),
                None => {
                    let waited = accepted_at.elapsed().as_secs_f64();
                    self.report.round_trip = Some(RoundTripReport::default());
                    return Err(Failure {
                        message: format!(
                            "the message sent {waited:.1} s ago did not arrive in {folder} (nor in a junk folder) before the deadline"
                        ),
                        expected: format!("a message with {TOKEN_HEADER}: {}", state.token),
                        got: None,
                        hint: "look for the token in the SMTP server's log and queue (greylisting, a stuck queue, a filter that discards); raise -t if delivery is just slow".into(),
                    });
                }
            },
        };
        let delay = at.saturating_duration_since(accepted_at).as_secs_f64();
        let rt = self.cfg.round_trip.as_ref();
        let (warn, crit) = rt.map_or((None, None), |r| (r.arrival_warn, r.arrival_crit));
        let cleanup = self.clean_up(uid, &state.token);
        self.report.round_trip = Some(RoundTripReport {
            delay_secs: Some(delay),
            folder: Some(folder.clone()),
            junk: in_junk,
            removed: cleanup.removed.clone(),
            warn_secs: warn,
            crit_secs: crit,
        });
        let mut detail = if in_junk {
            format!(
                "found in {folder} {delay:.3} s after sending (searched once the wait in {} ended), UID {uid}",
                self.cfg.folder
            )
        } else {
            format!("arrived in {folder} after {delay:.3} s ({how}), UID {uid}")
        };
        if !cleanup.detail.is_empty() {
            detail.push_str(&format!("; {}", cleanup.detail));
        }
        if crit.is_some_and(|c| delay > c) {
            self.finding = true;
            return Err(Failure {
                message: format!(
                    "the delivery took {delay:.3} s, above the critical {:.3} s ({detail})",
                    crit.unwrap_or_default()
                ),
                expected: "a delivery within --arrival's critical delay".into(),
                got: None,
                hint:
                    "the SMTP server's queue or a filter is slow; its log shows where the time went"
                        .into(),
            });
        }
        let mut warnings = cleanup.warnings;
        if in_junk {
            warnings.insert(
                0,
                format!("the message was filed in the junk folder {folder}"),
            );
        }
        if warn.is_some_and(|w| delay > w) {
            warnings.push(format!(
                "the delivery took {delay:.3} s, above {:.3} s",
                warn.unwrap_or_default()
            ));
        }
        Done::ok_or_warn(warnings, detail)
    }

    /// IDLE until an EXISTS brings the token (then its UID and the moment
    /// the EXISTS came), or until `limit`.
    fn wait_idle(
        &mut self,
        state: &mut RoundTripState,
        mut idling: crate::session::Idling,
        limit: Instant,
    ) -> Result<Option<(u32, Instant)>, Failure> {
        let mut exists = state.exists_before;
        // A new EXISTS ends the IDLE for a search: ours, or another
        // message (then the IDLE starts again).
        let mut pending = false;
        let mut next_look = Instant::now() + IDLE_RECHECK;
        loop {
            if pending {
                pending = false;
                next_look = Instant::now() + IDLE_RECHECK;
                let at = Instant::now();
                if !self.end_idle(idling) {
                    return Err(lost("DONE"));
                }
                if let Some(uid) = self.search_token(&state.token)?.first() {
                    return Ok(Some((*uid, at)));
                }
                idling = self.start_idle().ok_or_else(|| lost("IDLE"))?;
                // A message that came while IDLE was restarted.
                if self.seen.mailbox.exists > exists {
                    exists = self.seen.mailbox.exists;
                    pending = true;
                }
            }
            let got = match self.session.as_mut() {
                Some(s) => s.idle_next(limit.min(next_look)),
                None => return Err(super::diagnosis::NO_CONNECTION.with(None)),
            };
            match got {
                Ok(Some((Response::Untagged(u), raw))) => {
                    self.seen.absorb(&u, &raw);
                    if let Untagged::Exists(n) = u
                        && n > exists
                    {
                        // Ours, or another message: the search says.
                        exists = n;
                        pending = true;
                    }
                }
                Ok(Some(_)) => {}
                // Time for a look of our own.
                Ok(None) if Instant::now() < limit => pending = true,
                Ok(None) => {
                    if !self.end_idle(idling) {
                        return Err(lost("DONE"));
                    }
                    // A last look: the EXISTS may have been missed.
                    return Ok(self
                        .search_token(&state.token)?
                        .first()
                        .map(|uid| (*uid, Instant::now())));
                }
                Err(e) => return Err(lost(&e.to_string())),
            }
        }
    }

    /// Searches for the token every POLL_INTERVAL until `limit`.
    fn wait_polling(
        &mut self,
        state: &RoundTripState,
        limit: Instant,
    ) -> Result<Option<(u32, Instant)>, Failure> {
        loop {
            if let Some(uid) = self.search_token(&state.token)?.first() {
                return Ok(Some((*uid, Instant::now())));
            }
            if Instant::now() + POLL_INTERVAL >= limit {
                return Ok(None);
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The junk folders (`\Junk`, or named as in JUNK_NAMES) other than
    /// the checked one, each SELECTed and searched; the first holding the
    /// token stays selected, for the cleanup.
    fn search_junk(&mut self, token: &str) -> Result<Option<(String, u32)>, Failure> {
        let mut left_checked = false;
        for folder in self.junk_folders()? {
            if folder.eq_ignore_ascii_case(&self.cfg.folder) {
                continue;
            }
            // Leaving the checked folder: UNSELECT (RFC 3691) where
            // announced says outright that nothing is expunged; a SELECT
            // of another folder deselects without expunging too (RFC 9051
            // 6.3.2). Never CLOSE.
            if !left_checked && self.seen.has_cap("UNSELECT") {
                self.unselect();
            }
            left_checked = true;
            if !self.select_other(&folder)? {
                continue;
            }
            if let Some(uid) = self.search_token(token)?.first() {
                return Ok(Some((folder, *uid)));
            }
        }
        Ok(None)
    }

    /// LIST's folders that are junk folders by attribute or by name.
    fn junk_folders(&mut self) -> Result<Vec<String>, Failure> {
        let list = self.list_all()?;
        let mut by_use = Vec::new();
        let mut by_name = Vec::new();
        for (name, delimiter, attributes) in list {
            let last = match delimiter {
                Some(d) => name.rsplit(char::from(d)).next().unwrap_or(&name),
                None => &name,
            };
            if attributes.iter().any(|a| a.eq_ignore_ascii_case("\\Junk")) {
                by_use.push(name.clone());
            } else if JUNK_NAMES.iter().any(|j| j.eq_ignore_ascii_case(last)) {
                by_name.push(name.clone());
            }
        }
        by_use.extend(by_name);
        by_use.truncate(MAX_JUNK_FOLDERS);
        Ok(by_use)
    }
}

/// The session broke during the wait.
fn lost(what: &str) -> Failure {
    Failure {
        message: format!("the IMAP session broke while waiting for the message ({what})"),
        expected: "the server to keep the session open during IDLE or the searches".into(),
        got: None,
        hint: "a proxy or firewall that cuts idle connections; the -v transcript shows where"
            .into(),
    }
}
