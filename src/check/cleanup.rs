//! The round trip's cleanup, which can touch nothing but messages of ours:
//! `UID STORE <uid> +FLAGS.SILENT (\Deleted)` then `UID EXPUNGE <uid>`
//! (UIDPLUS, RFC 4315) for the one UID whose token is this run's. Never a
//! plain EXPUNGE or CLOSE: they would also remove every message the user
//! had marked \Deleted. Without UIDPLUS the message stays, marked \Seen,
//! and the step warns. Messages left behind by earlier runs go the same
//! way, one UID at a time, only when their token header has our token's
//! exact form and they are older than a grace period. Also here: the
//! commands the round trip reads answers of (UID SEARCH, LIST, SELECT).

use crate::age::internal_date_unix;
use crate::der::now_unix;
use crate::mutf7;
use crate::parser::{Status, Untagged, Value};
use crate::report::Failure;
use crate::session::{Arg, Completion, SessionError};
use crate::smtp::message::{TOKEN_HEADER, TOKEN_PREFIX, is_token};

use super::{Check, no_session};

/// How old a message left behind by an earlier run must be before it is
/// removed: far beyond any run's deadline, so a concurrent run's message
/// (from another monitoring host, say) is never taken for a leftover.
pub const LEFTOVER_GRACE_SECS: i64 = 3600;

/// The most leftovers removed in one run: each costs two round trips,
/// and the next run takes the rest.
const MAX_LEFTOVERS_PER_RUN: usize = 10;

/// The most messages with a token-like header looked at in one run (one
/// UID FETCH for all of them).
const MAX_CANDIDATES: usize = 50;

/// The most UIDs a search keeps: ours is one; the leftovers are bounded.
const MAX_UIDS_KEPT: usize = 100;

/// The most folders LIST gives the junk search.
const MAX_FOLDERS_LISTED: usize = 1000;

/// A folder as LIST gives it: name, delimiter, attributes.
pub(super) type Listed = (String, Option<u8>, Vec<String>);

/// What the cleanup did.
#[derive(Debug, Default)]
pub(super) struct Cleanup {
    pub removed: Vec<u32>,
    pub detail: String,
    pub warnings: Vec<String>,
}

/// `* SEARCH 3 7 12` → the numbers (at most MAX_UIDS_KEPT).
fn search_numbers(raw: &[u8]) -> Vec<u32> {
    let line = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let mut words = line.split(|&b| b == b' ');
    let (Some(b"*"), Some(keyword)) = (words.next(), words.next()) else {
        return Vec::new();
    };
    if !keyword.eq_ignore_ascii_case(b"SEARCH") {
        return Vec::new();
    }
    words
        .filter_map(|w| std::str::from_utf8(w).ok()?.parse::<u32>().ok())
        .take(MAX_UIDS_KEPT)
        .collect()
}

/// The token in a fetched `X-Imapcheck-Token: ...` header block.
fn header_token(block: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(block).ok()?;
    let line = text.lines().find(|l| {
        l.split_once(':')
            .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case(TOKEN_HEADER))
    })?;
    Some(line.split_once(':')?.1.trim().to_string())
}

impl Check<'_> {
    /// One command; `capture` sees each untagged response first.
    fn run_capture(
        &mut self,
        args: &[Arg],
        capture: &mut dyn FnMut(&Untagged, &[u8]) -> bool,
    ) -> Result<Completion, SessionError> {
        self.bye_guard()?;
        let seen = &mut self.seen;
        let session = self.session.as_mut().ok_or_else(no_session)?;
        session.command(args, &mut |u, raw| {
            if capture(u, raw) {
                seen.absorb(u, raw);
            }
        })
    }

    /// The UIDs of messages whose token header contains `needle`.
    pub(super) fn search_token(&mut self, needle: &str) -> Result<Vec<u32>, Failure> {
        let mut uids = Vec::new();
        let done = self
            .run_capture(
                &[
                    Arg::Raw("UID SEARCH HEADER"),
                    Arg::Raw(TOKEN_HEADER),
                    Arg::Str(needle.as_bytes()),
                ],
                &mut |u, raw| {
                    if matches!(u, Untagged::Other { keyword } if keyword == "SEARCH") {
                        uids.extend(search_numbers(raw));
                    }
                    true
                },
            )
            .map_err(|e| imap_failure("UID SEARCH", &e.to_string(), None))?;
        if done.status != Status::Ok {
            return Err(imap_failure("UID SEARCH", "refused", Some(&done.raw)));
        }
        Ok(uids)
    }

    /// Every folder: name, delimiter, attributes.
    pub(super) fn list_all(&mut self) -> Result<Vec<Listed>, Failure> {
        let mut folders = Vec::new();
        let done = self
            .run_capture(
                &[Arg::Raw("LIST"), Arg::Str(b""), Arg::Str(b"*")],
                &mut |u, _| {
                    if let Untagged::List {
                        attributes,
                        delimiter,
                        name,
                    } = u
                    {
                        if folders.len() < MAX_FOLDERS_LISTED {
                            folders.push((
                                mutf7::decode_lossy(name),
                                *delimiter,
                                attributes.clone(),
                            ));
                        }
                        return false;
                    }
                    true
                },
            )
            .map_err(|e| imap_failure("LIST", &e.to_string(), None))?;
        if done.status != Status::Ok {
            return Err(imap_failure("LIST", "refused", Some(&done.raw)));
        }
        Ok(folders)
    }

    /// SELECTs another folder (read-write: a message found there is
    /// removed there); false when the server refuses it.
    pub(super) fn select_other(&mut self, folder: &str) -> Result<bool, Failure> {
        let wire = mutf7::encode(folder);
        let done = self
            .run_capture(
                &[Arg::Raw("SELECT"), Arg::Str(wire.as_bytes())],
                &mut |u, _| {
                    // The checked folder's counts stay in the report.
                    !matches!(
                        u,
                        Untagged::Exists(_) | Untagged::Recent(_) | Untagged::Flags(_)
                    )
                },
            )
            .map_err(|e| imap_failure("SELECT", &e.to_string(), None))?;
        Ok(done.status == Status::Ok)
    }

    /// UNSELECT: leaves the folder, expunging nothing.
    pub(super) fn unselect(&mut self) {
        let _ = self.run_capture(&[Arg::Raw("UNSELECT")], &mut |_, _| true);
    }

    /// Removes this run's message (UID `uid`), then what earlier runs
    /// left behind, as the flags and the server allow.
    pub(super) fn clean_up(&mut self, uid: u32, token: &str) -> Cleanup {
        let mut cleanup = Cleanup::default();
        if self.cfg.round_trip.as_ref().is_some_and(|r| r.keep) {
            cleanup.detail = "kept (--keep)".into();
            return cleanup;
        }
        if !self.seen.has_cap("UIDPLUS") {
            let marked = self.store(uid, "+FLAGS.SILENT", "(\\Seen)");
            cleanup.warnings.push(format!(
                "the message stays in the folder{}: the server lacks UIDPLUS (RFC 4315), and without UID EXPUNGE removing it would also remove every message marked \\Deleted",
                if marked { ", marked \\Seen" } else { "" }
            ));
            return cleanup;
        }
        match self.remove(uid) {
            Ok(()) => {
                cleanup.removed.push(uid);
                cleanup.detail = format!("removed UID {uid}");
            }
            Err(why) => cleanup.warnings.push(format!(
                "the message (UID {uid}) could not be removed: {why}"
            )),
        }
        let leftovers = self.remove_leftovers(token);
        if !leftovers.is_empty() {
            let list: Vec<String> = leftovers.iter().map(u32::to_string).collect();
            cleanup.detail.push_str(&format!(
                "; removed {} left behind by earlier runs (UID {})",
                leftovers.len(),
                list.join(", ")
            ));
            cleanup.removed.extend(leftovers);
        }
        cleanup
    }

    /// UID STORE; true when the server said OK.
    fn store(&mut self, uid: u32, how: &str, flags: &str) -> bool {
        let set = uid.to_string();
        let args = [
            Arg::Raw("UID STORE"),
            Arg::Raw(&set),
            Arg::Raw(how),
            Arg::Raw(flags),
        ];
        matches!(self.run_capture(&args, &mut |_, _| true), Ok(d) if d.status == Status::Ok)
    }

    /// `\Deleted` on `uid` alone, then UID EXPUNGE of `uid` alone; if the
    /// expunge fails, the flag is taken back off.
    fn remove(&mut self, uid: u32) -> Result<(), String> {
        if !self.store(uid, "+FLAGS.SILENT", "(\\Deleted)") {
            return Err("the server refused UID STORE".into());
        }
        let set = uid.to_string();
        match self.run_capture(&[Arg::Raw("UID EXPUNGE"), Arg::Raw(&set)], &mut |_, _| true) {
            Ok(d) if d.status == Status::Ok => Ok(()),
            other => {
                self.store(uid, "-FLAGS.SILENT", "(\\Deleted)");
                Err(match other {
                    Ok(d) => format!(
                        "the server refused UID EXPUNGE: {}",
                        crate::report::escape_cut(&d.raw, 200)
                    ),
                    Err(e) => e.to_string(),
                })
            }
        }
    }

    /// Messages of earlier runs: token header of exactly our form, other
    /// than `own`, INTERNALDATE older than the grace period.
    fn remove_leftovers(&mut self, own: &str) -> Vec<u32> {
        let Ok(mut candidates) = self.search_token(TOKEN_PREFIX) else {
            return Vec::new();
        };
        candidates.truncate(MAX_CANDIDATES);
        let now = now_unix();
        let mut removed = Vec::new();
        for (uid, token, date) in self.tokens_and_dates(&candidates) {
            if removed.len() >= MAX_LEFTOVERS_PER_RUN {
                break;
            }
            let old = internal_date_unix(&date).is_ok_and(|d| now - d > LEFTOVER_GRACE_SECS);
            if token != own && is_token(&token) && old && self.remove(uid).is_ok() {
                removed.push(uid);
            }
        }
        removed
    }

    /// The token header and INTERNALDATE of each of `uids`, in one
    /// command; UIDs the answer does not carry are left out.
    fn tokens_and_dates(&mut self, uids: &[u32]) -> Vec<(u32, String, String)> {
        if uids.is_empty() {
            return Vec::new();
        }
        let set: Vec<String> = uids.iter().map(u32::to_string).collect();
        let set = set.join(",");
        let item = format!("(UID INTERNALDATE BODY.PEEK[HEADER.FIELDS ({TOKEN_HEADER})])");
        let mut found = Vec::new();
        let done = self.run_capture(
            &[Arg::Raw("UID FETCH"), Arg::Raw(&set), Arg::Raw(&item)],
            &mut |u, _| {
                let Untagged::Fetch { items, .. } = u else {
                    return true;
                };
                let value = |name: &str| {
                    items
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                };
                let uid = value("UID")
                    .and_then(Value::as_number)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| uids.contains(n));
                let date = value("INTERNALDATE")
                    .and_then(Value::as_bytes)
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                let token = items
                    .iter()
                    .find(|(n, _)| n.to_ascii_uppercase().starts_with("BODY["))
                    .and_then(|(_, v)| v.as_bytes())
                    .and_then(header_token);
                if let (Some(uid), Some(token), Some(date)) = (uid, token, date)
                    && found.len() < MAX_CANDIDATES
                {
                    found.push((uid, token, date));
                }
                false
            },
        );
        match done {
            Ok(d) if d.status == Status::Ok => found,
            _ => Vec::new(),
        }
    }
}

/// A round-trip command that failed.
fn imap_failure(command: &str, what: &str, got: Option<&[u8]>) -> Failure {
    Failure {
        message: format!("{command} during the round trip: {what}"),
        expected: format!("a tagged OK to {command}"),
        got: got.map(|g| crate::report::escape_cut(g, 300)),
        hint: "the -v transcript shows the exchange".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_answers_and_token_headers_are_read() {
        assert_eq!(search_numbers(b"* SEARCH 3 17 x 4\r\n"), [3, 17, 4]);
        assert_eq!(search_numbers(b"* SEARCH\r\n"), Vec::<u32>::new());
        assert_eq!(search_numbers(b"* 3 EXISTS\r\n"), Vec::<u32>::new());
        let block = b"x-imapcheck-token:  imapcheck-0123\r\n\r\n";
        assert_eq!(header_token(block).as_deref(), Some("imapcheck-0123"));
        assert_eq!(header_token(b"\r\n"), None);
    }
}
