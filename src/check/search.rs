//! The search step (`--search`, `--search-within`): which messages of the
//! open folder match, how many, and which is the newest (the highest
//! sequence number, the last to arrive) — the message the fetch step then
//! fetches and `--max-age` judges. `--messages` judges the match count.
//!
//! ESEARCH (RFC 4731) answers with a count and a maximum; with SEARCHRES
//! (RFC 5182) as well the newest match's FETCH rides in the same write
//! (`RETURN (SAVE MAX COUNT)` then `FETCH $`). Without ESEARCH the plain
//! `* SEARCH` answer is counted as it streams (`session::search`).
//! `--search-within` is YOUNGER where WITHIN (RFC 5032) is announced;
//! elsewhere a day-granular SINCE narrows the search and the newest
//! candidates' INTERNALDATEs decide exactly. Nothing here changes the
//! folder: SEARCH and FETCH of FLAGS, INTERNALDATE, RFC822.SIZE and
//! ENVELOPE set no flag.

use crate::age;
use crate::cli::Config;
use crate::der;
use crate::parser::{Status, Untagged};
use crate::report::{Failure, SearchReport, escape_cut, trim_eol};
use crate::search::keys::date_text;
use crate::search::{Tally, Word};
use crate::session::{Arg, Completion, SessionError};

use super::diagnosis;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT};

/// The fetch items of the fetch step, which the FETCH `$` of a search
/// with SEARCHRES asks for in its place.
const FETCH_ITEMS: &str = "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)";

/// A day's margin on SINCE without WITHIN: servers compare SINCE with the
/// INTERNALDATE's date in their own time zone, which may be a day off UTC.
const SINCE_MARGIN_SECS: u64 = 86_400;

/// How the search goes to this server, decided from the capabilities
/// known when it is sent.
#[derive(Debug, Clone, Copy)]
pub(super) struct SearchPlan {
    /// ESEARCH: `RETURN (MAX COUNT)`.
    pub(super) esearch: bool,
    /// ESEARCH and SEARCHRES: `RETURN (SAVE MAX COUNT)` and `FETCH $` in
    /// the same write.
    pub(super) prefetch: bool,
    /// WITHIN: `--search-within` as YOUNGER.
    pub(super) younger: bool,
    /// This host's clock when the search was planned (SINCE's date).
    pub(super) now: i64,
}

impl SearchPlan {
    /// `--search-within` without WITHIN: the matches' dates decide.
    pub(super) fn exact_dates(&self, cfg: &Config) -> bool {
        cfg.search_within.is_some() && !self.younger
    }
}

/// The SEARCH command under `plan`, word by word.
pub(super) fn search_words(cfg: &Config, plan: &SearchPlan) -> Vec<Word> {
    let mut words = vec![Word::Raw("SEARCH".into())];
    if plan.esearch {
        words.push(Word::Raw(
            if plan.prefetch {
                "RETURN (SAVE MAX COUNT)"
            } else {
                "RETURN (MAX COUNT)"
            }
            .into(),
        ));
    }
    let Some(keys) = &cfg.search else {
        return words;
    };
    if keys.utf8 {
        words.push(Word::Raw("CHARSET UTF-8".into()));
    }
    words.extend(keys.words.iter().cloned());
    if let Some(secs) = cfg.search_within {
        words.push(Word::Raw(if plan.younger {
            format!("YOUNGER {secs}")
        } else {
            let since = plan.now.saturating_sub((secs + SINCE_MARGIN_SECS) as i64);
            format!("SINCE {}", date_text(since))
        }));
    }
    words
}

/// What the search found, for the fetch step.
pub(super) struct Found {
    pub(super) newest: Option<u32>,
    /// The FETCH `$` that rode with the search, for the newest match.
    pub(super) prefetched: Option<Result<Completion, SessionError>>,
}

impl Check<'_> {
    pub(super) fn search(&mut self) -> StepOutcome {
        let Some(keys) = self.cfg.search.clone() else {
            return Done::skip("no --search");
        };
        if !self.opened {
            return Done::skip("no folder open");
        }
        for e in &keys.needs {
            if !self.seen.has_cap(e.capability()) {
                let caps = self.seen.capabilities.join(" ");
                return Err(unannounced(e.key(), e.capability(), &caps));
            }
        }
        let within = self.cfg.search_within;
        let plan = self.search_plan();
        let (esearch, prefetch, now) = (plan.esearch, plan.prefetch, plan.now);
        let exact_dates = plan.exact_dates(self.cfg);
        let words = search_words(self.cfg, &plan);
        let args: Vec<Arg> = words.iter().map(Word::arg).collect();
        self.session()?.search_tally = Some(Tally::default());
        self.seen.fetched.clear();
        let fetch = [Arg::Raw("FETCH"), Arg::Raw("$"), Arg::Raw(FETCH_ITEMS)];
        let result = if prefetch {
            self.run_search_pair(&args, &fetch)
        } else {
            self.run_command(&args).map(|done| (done, None))
        };
        let tally = self.session()?.search_tally.take().unwrap_or_default();
        let (done, prefetched) = result
            .map_err(|e| diagnosis::io_failure(&e, Step::Search, "a tagged response to SEARCH"))?;
        if done.status != Status::Ok {
            return Err(refused(&done, &keys.text, keys.utf8));
        }
        if let Some(q) = &tally.quirk {
            self.seen
                .quirk(q.clone(), "ESEARCH answer not understood".into());
        }
        if tally.ignored_words > 0 {
            self.seen.quirk(
                "* SEARCH …".into(),
                format!(
                    "{} word{} of the SEARCH answer not a message number, ignored",
                    tally.ignored_words,
                    if tally.ignored_words == 1 { "" } else { "s" }
                ),
            );
        }
        let (mut count, mut newest) = (tally.count, tally.max);
        if tally.esearch && !tally.counted && newest.is_some() {
            // MAX without COUNT: at least the one.
            count = 1;
        }
        let mut at_least = false;
        if let (Some(secs), true) = (within, exact_dates) {
            let (c, n, more) = self.within_exactly(&tally, secs, now)?;
            (count, newest, at_least) = (c, n, more);
        }
        let exists = self.seen.mailbox.exists;
        let method = match (esearch, prefetch) {
            (true, true) => "ESEARCH with SEARCHRES",
            (true, false) => "ESEARCH",
            (false, _) => "SEARCH",
        };
        self.report.search = Some(SearchReport {
            keys: escape_cut(keys.text.as_bytes(), TEXT_CUT),
            within_s: within,
            matches: count,
            at_least,
            newest,
            method,
        });
        self.search_found = Some(Found {
            newest,
            prefetched: prefetched.filter(|_| newest.is_some()),
        });
        let plural = if exists == 1 { "" } else { "s" };
        let verb = if count == 1 && !at_least {
            "matches"
        } else {
            "match"
        };
        let plus = if at_least { "at least " } else { "" };
        let mut detail = format!(
            "{plus}{count} of {exists} message{plural} {verb} `{}`",
            escape_cut(keys.text.as_bytes(), TEXT_CUT)
        );
        if let Some(secs) = within {
            detail.push_str(&format!(" within {}", age::human(secs)));
        }
        match newest {
            Some(n) => detail.push_str(&format!("; newest #{n}")),
            None => detail.push_str("; no message matches"),
        }
        detail.push_str(&format!(" ({method})"));
        let judged = i64::try_from(count).unwrap_or(i64::MAX);
        if let Some(crit) = self.cfg.messages_crit.as_ref().filter(|r| r.alerts(judged)) {
            // A finding, not a broken session: the newest match is still
            // worth fetching.
            self.finding = true;
            return Err(match_count(judged, &crit.text, &keys.text));
        }
        if let Some(warn) = self.cfg.messages_warn.as_ref().filter(|r| r.alerts(judged)) {
            return Done::warn(
                format!("{count} matches, outside the warning range {}", warn.text),
                detail,
            );
        }
        Done::ok(detail)
    }

    /// The search's plan with the capabilities known now.
    pub(super) fn search_plan(&self) -> SearchPlan {
        let esearch = self.seen.has_cap("ESEARCH");
        let younger = self.cfg.search_within.is_some() && self.seen.has_cap("WITHIN");
        let exact_dates = self.cfg.search_within.is_some() && !younger;
        // FETCH $ rides along only when the newest match is the message
        // to fetch as the server sees it: not when dates still decide.
        let prefetch =
            esearch && self.seen.has_cap("SEARCHRES") && !exact_dates && !self.cfg.no_fetch;
        SearchPlan {
            esearch,
            prefetch,
            younger,
            now: der::now_unix(),
        }
    }

    /// SEARCH with its FETCH `$` in one write. The FETCH's data is the
    /// newest match's whatever its number: SAVE MAX saved just that one.
    fn run_search_pair(
        &mut self,
        search: &[Arg],
        fetch: &[Arg],
    ) -> Result<(Completion, Option<Result<Completion, SessionError>>), SessionError> {
        self.bye_guard()?;
        let seen = &mut self.seen;
        let session = self.session.as_mut().ok_or_else(super::no_session)?;
        let mut on_untagged = |u: &Untagged, raw: &[u8]| {
            if let Untagged::Fetch { seq, items } = u
                && items.iter().any(|(name, _)| name == "RFC822.SIZE")
                && seen.fetch_seq != Some(*seq)
            {
                seen.fetch_seq = Some(*seq);
                seen.fetched.clear();
            }
            seen.absorb(u, raw);
        };
        let (done, second) = session.command_pair(search, fetch, &mut on_untagged)?;
        for c in [Some(&done), second.as_ref().ok()].into_iter().flatten() {
            if let Some(code) = &c.code {
                self.seen.absorb_code(code, &c.text);
            }
        }
        Ok((done, Some(second)))
    }

    /// `--search-within` without WITHIN: the INTERNALDATE of each kept
    /// candidate decides. Returns the count within, the newest within,
    /// and whether more matches than were checked may be within too.
    fn within_exactly(
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
                    .and_then(age::internal_date_unix);
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

impl Check<'_> {
    /// For the fetch step under `--search`: the newest match and its FETCH
    /// answer when that rode with the search; or the step's outcome when
    /// there is no match to fetch. None without `--search`.
    #[allow(clippy::type_complexity)]
    pub(super) fn search_target(
        &mut self,
    ) -> Option<Result<(Option<u32>, Option<Result<Completion, SessionError>>), StepOutcome>> {
        self.cfg.search.as_ref()?;
        let Some(found) = self.search_found.as_mut() else {
            return Some(Err(Done::skip("the search did not run")));
        };
        match found.newest {
            Some(n) => Some(Ok((Some(n), found.prefetched.take()))),
            None if self.cfg.max_age.is_some() => {
                // Under --max-age no match is the worst age there is, as
                // an empty folder.
                self.finding = true;
                Some(Err(Err(no_match(&self.cfg.folder))))
            }
            None => Some(Err(Done::skip("no message matches"))),
        }
    }
}

/// No message matches under `--max-age`.
fn no_match(folder: &str) -> Failure {
    diagnosis::failure(
        format!("no message in {folder} matches the search: nothing has arrived (--max-age)"),
        "at least one matching message, newer than --max-age",
        None,
        "check the delivery of the mail searched for: its sender, its subject, and what empties the folder",
    )
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

/// A key needs an extension the server does not announce.
fn unannounced(key: &str, capability: &str, caps: &str) -> Failure {
    diagnosis::failure(
        format!("--search uses {key}, but the server does not announce {capability}"),
        format!("the capability {capability}"),
        Some(format!("CAPABILITY {caps}").as_bytes()),
        match capability {
            "WITHIN" => "use --search-within, which works without WITHIN, or SINCE with a date",
            _ => "X-GM-RAW is Gmail's; use the standard keys (FROM, SUBJECT, SINCE …) elsewhere",
        },
    )
}

/// The server answered the SEARCH NO or BAD.
fn refused(done: &Completion, keys: &str, utf8: bool) -> Failure {
    let text = String::from_utf8_lossy(trim_eol(&done.raw)).to_ascii_uppercase();
    let hint = if text.contains("[BADCHARSET") {
        "the server cannot search in UTF-8 (BADCHARSET): search for an ASCII part of the text instead"
            .to_string()
    } else if done.status == Status::Bad {
        format!(
            "the server did not understand the search: a key it does not support or a syntax it reads differently (keys sent: {keys}){}",
            if utf8 {
                "; or it does not take CHARSET UTF-8"
            } else {
                ""
            }
        )
    } else {
        "the server could not run the search: a key it does not support, or a problem on its side (its words above)".to_string()
    };
    diagnosis::failure(
        format!("the server refused the search ({})", done.status.as_str()),
        "a tagged OK to SEARCH",
        Some(&done.raw),
        hint,
    )
}

/// The match count is outside `--messages`' critical range.
fn match_count(count: i64, range: &str, keys: &str) -> Failure {
    diagnosis::failure(
        format!("{count} messages match, outside the critical range {range}"),
        format!("a match count that --messages {range} does not alert on"),
        None,
        format!(
            "the mail searched for (`{}`) did not arrive as expected: check its sender, and what delivers to and empties the folder",
            escape_cut(keys.as_bytes(), TEXT_CUT)
        ),
    )
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
