//! The fetch step: one message's flags, date, size and envelope (subject
//! and sender decoded for display), and with `--body` the whole message,
//! streamed and counted, against the size the server announced. In the
//! batch after login the message is `*`, the newest, asked for before
//! EXISTS is known; an empty folder's NO or BAD to it means no message.

use crate::age::{self, Age};
use crate::der;
use crate::parser::{self, Status, Value};
use crate::report::{Failure, MessageReport, Quirk, escape_cut};
use crate::rfc2047;
use crate::session::SessionError;

use super::diagnosis;
use super::pipeline::Cmd;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT, cut_text};

/// A `--body` literal may exceed RFC822.SIZE by this much before it is a
/// protocol error rather than just a size mismatch (which `fetch` reports).
const BODY_SLACK: u64 = 64 * 1024;

impl Check<'_> {
    pub(super) fn fetch(&mut self) -> StepOutcome {
        if self.cfg.no_fetch {
            return Done::skip("--no-fetch");
        }
        if !self.opened {
            return Done::skip("no folder open");
        }
        // EXISTS as EXAMINE left it: the folder the FETCH was sent for.
        let exists = self.seen.mailbox.exists;
        // --search: the newest match (the search step set what to take).
        let searched = match self.search_target() {
            Some(Ok(newest)) => Some(newest),
            Some(Err(outcome)) => return outcome,
            None => None,
        };
        let pipelined = self.pipelined(Cmd::Fetch);
        if !pipelined {
            self.seen.fetched.clear();
            self.seen.fetch_seq = None;
        }
        // Pipelined, the batch set what to take when it went out, as the
        // data may have come with the answers before it (`send_pipeline`);
        // if it has not, it is that of the message EXAMINE counted last.
        if self.seen.fetch_seq.is_none() {
            self.seen.fetch_seq = searched
                .or(self.cfg.message)
                .or((exists > 0).then_some(exists));
        }
        let answer = if pipelined {
            let answer = self.answer(Cmd::Fetch, Step::Fetch, None, fetch_io_failure);
            self.seen.fetch_newest = false;
            Some(answer?)
        } else {
            None
        };
        let seq = self.seen.fetch_seq.unwrap_or(exists);
        if seq == 0 {
            // `FETCH *` in an empty folder: some servers answer NO or BAD,
            // which here only means there is no message.
            if self.cfg.max_age.is_some() {
                // Under --max-age an empty folder is the worst age there is.
                self.finding = true;
                return Err(diagnosis::empty_folder(&self.cfg.folder));
            }
            return Done::skip("the folder is empty");
        }
        // (`*` may have found a message delivered since: seq > exists.)
        if self.cfg.message.is_some_and(|n| n > exists) {
            return Err(diagnosis::no_such_message(seq, exists));
        }
        let done = match answer {
            Some(done) => done,
            None => self.answer(Cmd::Fetch, Step::Fetch, Some(seq), fetch_io_failure)?,
        };
        if done.status != Status::Ok {
            return Err(diagnosis::fetch_refused(&done, seq));
        }
        let Some(size) = self
            .seen
            .fetched_item("RFC822.SIZE")
            .and_then(Value::as_number)
        else {
            return Err(diagnosis::no_size(&done, seq));
        };
        let mut message = self.message_report(seq, size);
        let what = if searched.is_some() {
            "newest match "
        } else {
            ""
        };
        let mut detail = format!("{what}#{seq}: {size} bytes");
        if let Some(d) = &message.internal_date {
            detail.push_str(&format!(", {d}"));
        }
        if let Some(f) = &message.from {
            detail.push_str(&format!(", from {f}"));
        }
        match &message.subject {
            Some(s) => detail.push_str(&format!(", \"{s}\"")),
            None => detail.push_str(", no subject"),
        }
        if !message.undecoded_charsets.is_empty() {
            detail.push_str(&format!(
                " (charset {} shown undecoded)",
                message.undecoded_charsets.join(", ")
            ));
        }
        if self.cfg.body {
            let body = self.fetch_body(seq, size)?;
            message.body_bytes = Some(body);
            detail.push_str(&format!("; body {body} bytes"));
            if body != size {
                self.report.message = Some(message);
                return Err(diagnosis::body_size_mismatch(seq, body, size));
            }
        }
        let age = self.judge_age(&mut message);
        if let Some(secs) = message.age_s.filter(|_| self.cfg.max_age.is_some()) {
            detail.push_str(&format!("; {} old", age::human(secs)));
        }
        self.report.message = Some(message);
        // With --message N, the age is message N's, not the newest's.
        let which = match (self.cfg.message, searched) {
            (Some(n), _) => format!("message {n}"),
            (None, Some(_)) => "newest match".to_string(),
            (None, None) => "newest message".to_string(),
        };
        match age {
            Some(Age::Critical(secs)) => {
                self.finding = true;
                let mut f = diagnosis::message_too_old(secs, self.cfg.max_age);
                if let Some(rest) = f.message.strip_prefix("newest message") {
                    f.message = format!("{which}{rest}");
                }
                Err(f)
            }
            Some(Age::Warning(secs)) => {
                Done::warn(format!("{which} is {} old", age::human(secs)), detail)
            }
            Some(Age::Skew(secs)) => Done::warn(
                format!(
                    "INTERNALDATE is {} in the future: the clocks differ",
                    age::human(secs)
                ),
                detail,
            ),
            Some(Age::Unknown) => Done::warn(
                "no readable INTERNALDATE: the message's age cannot be told",
                detail,
            ),
            Some(Age::ImpossibleYear(year)) => Done::warn(
                format!(
                    "INTERNALDATE year {year} is outside 1970-9999: the message's age cannot be told"
                ),
                detail,
            ),
            _ => Done::ok(detail),
        }
    }

    /// The message's age by this host's clock, into the report, and what
    /// `--max-age` finds (None without it).
    /// A date in a year outside 1970-9999 is a quirk, not a date: no age,
    /// and under `--max-age` a warning, as for a date that cannot be read.
    fn judge_age(&mut self, message: &mut MessageReport) -> Option<Age> {
        let date = message
            .internal_date
            .as_deref()
            .map(age::internal_date_unix);
        let now = der::now_unix();
        let (warn, crit) = match self.cfg.max_age {
            Some(limits) => limits,
            None => (u64::MAX, None),
        };
        let found = match date {
            Some(Ok(d)) => age::judge(d, now, warn, crit),
            Some(Err(age::BadDate::Year(year))) => {
                self.report.quirks.push(Quirk {
                    step: Step::Fetch.as_str(),
                    response: format!(
                        "INTERNALDATE \"{}\"",
                        escape_cut(
                            message
                                .internal_date
                                .as_deref()
                                .unwrap_or_default()
                                .as_bytes(),
                            TEXT_CUT
                        )
                    ),
                    reason: format!("year {year} is outside 1970-9999: not a date"),
                });
                Age::ImpossibleYear(year)
            }
            Some(Err(age::BadDate::Unreadable)) | None => Age::Unknown,
        };
        message.age_s = match &found {
            Age::Fresh(s) | Age::Warning(s) | Age::Critical(s) => Some(*s),
            _ => None,
        };
        self.cfg.max_age?;
        Some(found)
    }

    /// The fetched message as the report shows it. Subjects and display
    /// names are shown decoded (RFC 2047) with the raw form kept beside
    /// them; a broken encoding never fails the check.
    fn message_report(&self, seq: u32, size: u64) -> MessageReport {
        let item = |name: &str| self.seen.fetched_item(name);
        let flags: Vec<String> = item("FLAGS")
            .and_then(|v| {
                v.as_list().map(|l| {
                    l.iter()
                        .filter_map(|f| {
                            f.as_bytes()
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                        })
                        .collect()
                })
            })
            .unwrap_or_default();
        // RFC 3501's date-day-fixed pads a one-digit day with a space
        // (Cyrus: " 3-Jan-2024 ..."); the padding is not part of the date.
        let internal_date = item("INTERNALDATE").and_then(|v| {
            v.as_bytes()
                .map(|b| String::from_utf8_lossy(b.trim_ascii()).into_owned())
        });
        let envelope = item("ENVELOPE").and_then(parser::envelope);
        let mut undecoded: Vec<String> = Vec::new();
        let mut decode = |raw: &[u8]| {
            let d = rfc2047::decode(raw);
            for c in d.undecoded_charsets {
                if !undecoded.contains(&c) {
                    undecoded.push(c);
                }
            }
            cut_text(&d.text, TEXT_CUT)
        };
        let subject_raw = envelope.as_ref().and_then(|e| e.subject.as_deref());
        let subject = subject_raw.map(&mut decode);
        let first_from = envelope.as_ref().and_then(|e| e.from.first());
        let from = first_from.map(|a| {
            let name = a.name.as_deref().map(&mut decode);
            a.display_with_name(name.as_deref())
        });
        MessageReport {
            seq,
            size,
            flags,
            internal_date,
            subject,
            subject_raw: subject_raw.map(|s| escape_cut(s, TEXT_CUT)),
            from,
            from_raw: first_from.map(|a| escape_cut(a.display().as_bytes(), TEXT_CUT)),
            undecoded_charsets: undecoded,
            age_s: None,
            body_bytes: None,
        }
    }

    /// `FETCH n BODY.PEEK[]`, streamed; returns the body's length.
    fn fetch_body(&mut self, seq: u32, size: u64) -> Result<u64, Failure> {
        // A pipelined body may have come already, with the answer to the
        // first FETCH (Dovecot runs both at once): keep what came.
        let pipelined = self.pipelined(Cmd::Body);
        let body_came = pipelined && self.seen.fetched_item("BODY[]").is_some();
        if !pipelined {
            self.seen.fetched.clear();
            self.session()?.take_streamed();
        }
        if !body_came {
            // Still to come: now that the size is known, a literal beyond
            // it (and the slack) is a protocol error.
            self.session()?.stream_literals_up_to = Some(size.saturating_add(BODY_SLACK));
        }
        let result = self.answer(Cmd::Body, Step::Fetch, Some(seq), |e| {
            diagnosis::io_failure(e, Step::Fetch, "the message body")
        });
        let session = self.session()?;
        session.stream_literals_up_to = None;
        let streamed = session.take_streamed();
        let done = result?;
        if done.status != Status::Ok {
            return Err(diagnosis::body_refused(&done, seq));
        }
        match self.seen.fetched_item("BODY[]") {
            // A streamed literal is left as "{0}" with its length recorded.
            Some(Value::String(b)) if b.is_empty() && !streamed.is_empty() => {
                Ok(streamed.iter().sum())
            }
            Some(Value::String(b)) => Ok(b.len() as u64),
            Some(Value::Nil) => Ok(0),
            _ => Err(diagnosis::no_body(&done, seq)),
        }
    }
}

/// No answer to the fetch step's FETCH.
fn fetch_io_failure(e: &SessionError) -> Failure {
    diagnosis::io_failure(e, Step::Fetch, "a tagged response to FETCH")
}
