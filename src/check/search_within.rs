//! `--search-within` where the server has no WITHIN (RFC 5032): the
//! search carried a day-granular SINCE, and here the INTERNALDATE of the
//! newest matches (at most `tally::KEEP_NEWEST`, fetched in one command)
//! decides which are within the duration.

use crate::age;
use crate::parser::{Status, Untagged};
use crate::report::Failure;
use crate::search::Tally;
use crate::session::Arg;

use super::diagnosis;
use super::{Check, Step};

impl Check<'_> {
    /// `--search-within` without WITHIN: the INTERNALDATE of each kept
    /// candidate decides. Returns the count within, the newest within,
    /// and whether more matches than were checked may be within too.
    pub(super) fn within_exactly(
        &mut self,
        tally: &Tally,
        secs: u64,
        now: i64,
    ) -> Result<(u64, Option<u32>, bool), Failure> {
        let candidates = tally.candidates();
        if candidates.is_empty() {
            return Ok((0, None, false));
        }
        let set = sequence_set(&candidates);
        let mut dates: Vec<(u32, Option<i64>)> = Vec::with_capacity(candidates.len());
        let seen = &mut self.seen;
        let session = self.session.as_mut().ok_or_else(|| {
            diagnosis::io_failure(&super::no_session(), Step::Search, "a connection")
        })?;
        let mut on_untagged = |u: &Untagged, raw: &[u8]| {
            if let Untagged::Fetch { seq, items } = u
                && candidates.binary_search(seq).is_ok()
                && let Some((_, v)) = items.iter().find(|(n, _)| n == "INTERNALDATE")
                && dates.len() < candidates.len()
            {
                let date = v
                    .as_bytes()
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|t| age::internal_date_unix(t).ok());
                dates.push((*seq, date));
                return;
            }
            seen.absorb(u, raw);
        };
        let done = session
            .command(
                &[
                    Arg::Raw("FETCH"),
                    Arg::Raw(&set),
                    Arg::Raw("(INTERNALDATE)"),
                ],
                &mut on_untagged,
            )
            .map_err(|e| {
                diagnosis::io_failure(
                    &e,
                    Step::Search,
                    "a tagged response to FETCH (INTERNALDATE)",
                )
            })?;
        if done.status != Status::Ok {
            return Err(diagnosis::failure(
                "the server refused the FETCH of the matches' INTERNALDATE (--search-within)",
                "a tagged OK to FETCH (INTERNALDATE)",
                Some(&done.raw),
                "the server does not announce WITHIN, so imapcheck filters the matches by date itself; a refusal here is a server fault",
            ));
        }
        let cutoff = now.saturating_sub(secs as i64);
        let within: Vec<u32> = dates
            .iter()
            .filter(|(_, d)| d.is_some_and(|d| d >= cutoff))
            .map(|(s, _)| *s)
            .collect();
        // Every candidate within and more matched than were kept: those
        // not checked may be within too.
        let more = !tally.all_kept() && within.len() == candidates.len();
        Ok((within.len() as u64, within.iter().max().copied(), more))
    }
}

/// Numbers, ascending, as a sequence set with runs joined (`1:4,9`).
fn sequence_set(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_sets_join_runs() {
        assert_eq!(sequence_set(&[1]), "1");
        assert_eq!(sequence_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(sequence_set(&[4, 9]), "4,9");
    }
}
