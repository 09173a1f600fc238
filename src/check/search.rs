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
use crate::parser::Status;
use crate::report::{Failure, SearchReport, escape_cut, trim_eol};
use crate::search::dates::date_text;
use crate::search::{Tally, Word};
use crate::session::{Arg, Completion, SessionError};

use super::diagnosis;
use super::pipeline::Cmd;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT};

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
    /// Plain SEARCH, no extension: what every server takes.
    pub(super) fn plain() -> SearchPlan {
        SearchPlan {
            esearch: false,
            prefetch: false,
            younger: false,
            now: der::now_unix(),
        }
    }

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
        // Sent with the batch after login, or now on its own.
        let pipelined = self.pipelined(Cmd::Search);
        let plan = match self.search_sent.take() {
            Some(plan) if pipelined => plan,
            _ => SearchPlan {
                // One command at a time: FETCH $ waits for its turn.
                prefetch: false,
                ..self.search_plan()
            },
        };
        let (esearch, prefetch, now) = (plan.esearch, plan.prefetch, plan.now);
        let exact_dates = plan.exact_dates(self.cfg);
        let answer = if pipelined {
            self.answer(Cmd::Search, Step::Search, None, search_io_failure)
        } else {
            self.session()?.search_tally = Some(Tally::default());
            let words = search_words(self.cfg, &plan);
            let args: Vec<Arg> = words.iter().map(Word::arg).collect();
            self.run_command(&args).map_err(|e| search_io_failure(&e))
        };
        let tally = self.session()?.search_tally.take().unwrap_or_default();
        let done = answer?;
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
        if prefetch {
            // FETCH $ went with the batch: its data is the newest match's.
            self.seen.fetch_seq = newest;
            self.seen.fetched.clear();
            self.seen.fetch_newest = false;
        } else {
            // The fetch needed this answer: it goes now, LOGOUT with it.
            self.send_after_search(newest)
                .map_err(|e| search_io_failure(&e))?;
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
        self.search_found = Some(Found { newest });
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

    /// Whether SEARCH goes in the batch after login, how, and whether
    /// LOGOUT may go behind it (nothing more needs its answer). None
    /// without `--search`, or when the search cannot ride: a key whose
    /// extension is not announced (the step refuses it unsent), or a
    /// literal that must wait for the server's `+`.
    pub(super) fn search_batch(&self, caps_unknown: bool) -> Option<(SearchPlan, bool)> {
        let keys = self.cfg.search.as_ref()?;
        let announced = |e: &crate::search::Extension| self.seen.has_cap(e.capability());
        if !caps_unknown && !keys.needs.iter().all(announced)
            || caps_unknown && !keys.needs.is_empty()
        {
            return None;
        }
        let session = self.session.as_ref()?;
        let literal = keys.words.iter().any(|w| matches!(w, Word::Str(_)));
        if literal && !(session.literal_plus || session.literal_minus) {
            return None;
        }
        // Capabilities unknown until the batch's CAPABILITY is answered:
        // plain SEARCH, which every server takes.
        let plan = if caps_unknown {
            SearchPlan::plain()
        } else {
            self.search_plan()
        };
        let rest = (plan.prefetch || self.cfg.no_fetch) && !plan.exact_dates(self.cfg);
        Some((plan, rest))
    }

    /// After the search's answer: the newest match's FETCH (and body)
    /// and LOGOUT in one write, unless they went with the batch.
    fn send_after_search(&mut self, newest: Option<u32>) -> Result<(), SessionError> {
        if self.cfg.no_pipelining || self.pipelined(Cmd::Logout) || self.pipelined(Cmd::Fetch) {
            return Ok(());
        }
        let mut cmds = Vec::with_capacity(3);
        if let Some(n) = newest.filter(|_| !self.cfg.no_fetch) {
            cmds.push(Cmd::Fetch);
            if self.cfg.body {
                cmds.push(Cmd::Body);
            }
            self.seen.fetch_seq = Some(n);
            self.seen.fetched.clear();
            self.seen.fetch_newest = false;
        }
        // A round trip's send and arrive steps come before LOGOUT.
        if !self.logout_alone && self.cfg.round_trip.is_none() {
            cmds.push(Cmd::Logout);
        }
        self.send_more(&cmds, newest)
    }
}

impl Check<'_> {
    /// For the fetch step under `--search`: the newest match, or the
    /// step's outcome when there is none to fetch. None without
    /// `--search`.
    pub(super) fn search_target(&mut self) -> Option<Result<u32, StepOutcome>> {
        self.cfg.search.as_ref()?;
        let Some(found) = self.search_found.as_ref() else {
            return Some(Err(Done::skip("the search did not run")));
        };
        match found.newest {
            Some(n) => Some(Ok(n)),
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

/// No answer to the SEARCH.
fn search_io_failure(e: &SessionError) -> Failure {
    diagnosis::io_failure(e, Step::Search, "a tagged response to SEARCH")
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

    fn config(list: &[&str]) -> Config {
        use argh::FromArgs;
        let args = crate::cli::Args::from_args(&["imapcheck"], list).expect("flags");
        crate::cli::configure(args, true, false).expect("config")
    }

    fn sent(list: &[&str], plan: SearchPlan) -> String {
        let cfg = config(list);
        search_words(&cfg, &plan)
            .iter()
            .map(|w| match w {
                Word::Raw(s) => s.clone(),
                Word::Str(b) => format!("<{}>", String::from_utf8_lossy(b)),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_search_command_under_each_plan() {
        let now = 1_704_276_000; // 3-Jan-2024 10:00 UTC
        let plain = SearchPlan {
            now,
            ..SearchPlan::plain()
        };
        let esearch = SearchPlan {
            esearch: true,
            ..plain
        };
        let searchres = SearchPlan {
            prefetch: true,
            ..esearch
        };
        let within = SearchPlan {
            younger: true,
            ..searchres
        };
        let table: &[(&[&str], SearchPlan, &str)] = &[
            (
                &["h", "-u", "a", "--search", "FROM x"],
                plain,
                "SEARCH FROM x",
            ),
            (
                &["h", "-u", "a", "--search", "FROM x"],
                esearch,
                "SEARCH RETURN (MAX COUNT) FROM x",
            ),
            (
                &["h", "-u", "a", "--search", "FROM x"],
                searchres,
                "SEARCH RETURN (SAVE MAX COUNT) FROM x",
            ),
            (
                &["h", "-u", "a", "--search", "SUBJECT ä"],
                plain,
                "SEARCH CHARSET UTF-8 SUBJECT <ä>",
            ),
            (
                &["h", "-u", "a", "--search-within", "2h"],
                within,
                "SEARCH RETURN (SAVE MAX COUNT) ALL YOUNGER 7200",
            ),
            // A day's margin before the day two hours ago.
            (
                &["h", "-u", "a", "--search-within", "2h"],
                plain,
                "SEARCH ALL SINCE 2-Jan-2024",
            ),
        ];
        for (flags, plan, want) in table {
            assert_eq!(sent(flags, *plan), *want, "{flags:?}");
            assert_eq!(
                plan.exact_dates(&config(flags)),
                flags.contains(&"--search-within") && !plan.younger
            );
        }
    }
}
