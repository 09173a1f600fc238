//! The mailbox steps: list (LIST, with ID when it rides along), examine or
//! select (the folder's counters, with GETQUOTAROOT in the same write when
//! the server has QUOTA), and quota (usage against `--quota-warn` and
//! `--quota-crit`).

use crate::mutf7;
use crate::parser::{Code, Status};
use crate::report::{MailboxReport, QuotaReport, escape_cut, trim_eol};
use crate::session::{Arg, SessionError};

use super::diagnosis::{self, LIST_REFUSED};
use super::login::id_arguments;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT, cut_text};

impl Check<'_> {
    pub(super) fn list(&mut self) -> StepOutcome {
        if !self.authenticated {
            return Done::skip("not logged in");
        }
        let list = [Arg::Raw("LIST"), Arg::Raw("\"\""), Arg::Raw("\"*\"")];
        // See `plan_after_login`: CAPABILITY and ID go first, in the same
        // write.
        let capability = [Arg::Raw("CAPABILITY")];
        let ours = id_arguments();
        let id_command = [Arg::Raw("ID"), Arg::Raw(&ours)];
        let with_caps = std::mem::take(&mut self.capabilities_with_list);
        let with_id = std::mem::take(&mut self.id_with_list);
        let mut batch: Vec<&[Arg]> = Vec::with_capacity(3);
        if with_caps {
            self.seen.capabilities_fresh = false;
            batch.push(&capability);
        }
        if with_id {
            self.seen.server_id = None;
            self.id_sent = true;
            batch.push(&id_command);
        }
        batch.push(&list);
        let first = if with_caps {
            "the CAPABILITY response"
        } else {
            "a tagged response to LIST"
        };
        let mut answers = self
            .run_batch(&batch)
            .map_err(|e| diagnosis::io_failure(&e, Step::List, first))?
            .into_iter();
        let mut caps_after_login = None;
        if with_caps {
            let done = answers
                .next()
                .unwrap_or_else(|| Err(missing_answer()))
                .map_err(|e| diagnosis::io_failure(&e, Step::List, first))?;
            self.check_capability_answer(&done)?;
            caps_after_login = Some(self.seen.capabilities.len());
        }
        let id_answer = if with_id { answers.next() } else { None };
        let done = answers
            .next()
            .unwrap_or_else(|| Err(missing_answer()))
            .map_err(|e| diagnosis::io_failure(&e, Step::List, "a tagged response to LIST"))?;
        let id = id_answer.and_then(|answer| self.describe_id(answer));
        if done.status != Status::Ok {
            return Err(LIST_REFUSED.with(Some(&done.raw)));
        }
        let n = self.seen.folder_count;
        // A few names, each cut short: the detail is a line, not the list.
        let shown: Vec<String> = self
            .seen
            .folders
            .iter()
            .take(8)
            .map(|f| cut_text(f, 60))
            .collect();
        let more = if n > shown.len() { ", …" } else { "" };
        let mut detail = format!(
            "{n} folder{}: {}{more}",
            if n == 1 { "" } else { "s" },
            shown.join(", ")
        );
        if n > self.seen.folders.len() {
            detail.push_str(&format!(
                " (names beyond {} not kept)",
                self.seen.folders.len()
            ));
        }
        if let Some(n) = caps_after_login {
            detail.push_str(&format!("; {n} capabilities after login"));
        }
        if let Some(id) = id {
            detail.push_str(&format!("; server ID: {id}"));
        }
        Done::ok(detail)
    }

    /// EXAMINE (`step` examine) or SELECT (`step` select) the folder.
    pub(super) fn open_folder(&mut self, step: Step) -> StepOutcome {
        if !self.authenticated {
            return Done::skip("not logged in");
        }
        let verb = if step == Step::Select {
            "SELECT"
        } else {
            "EXAMINE"
        };
        let wire_name = mutf7::encode(&self.cfg.folder);
        self.seen.mailbox = MailboxReport {
            name: self.cfg.folder.clone(),
            ..MailboxReport::default()
        };
        // GETQUOTAROOT needs no selected folder, so it rides with
        // EXAMINE/SELECT and the quota step costs no round trip of its own.
        let open = [Arg::Raw(verb), Arg::Str(wire_name.as_bytes())];
        let with_quota = self.seen.has_cap("QUOTA");
        let result = if with_quota {
            self.seen.quotas.clear();
            self.run_pair(
                &open,
                &[Arg::Raw("GETQUOTAROOT"), Arg::Str(wire_name.as_bytes())],
            )
            .map(|(done, quota)| {
                self.quota_answer = Some(quota);
                done
            })
        } else {
            self.run_command(&open)
        };
        let done = result.map_err(|e| diagnosis::open_io_failure(&e, step, verb, with_quota))?;
        if done.status != Status::Ok {
            let folder = &self.cfg.folder;
            return Err(diagnosis::folder_refused(
                &done,
                verb,
                folder,
                &self.seen.folders,
            ));
        }
        self.opened = true;
        let read_only = match &done.code {
            Some(Code::ReadOnly) => true,
            Some(Code::ReadWrite) => false,
            _ => !self.cfg.select,
        };
        self.seen.mailbox.read_only = read_only;
        let mb = &self.seen.mailbox;
        let mut detail = format!(
            "{}: {} message{}, {} recent",
            mb.name,
            mb.exists,
            if mb.exists == 1 { "" } else { "s" },
            mb.recent
        );
        if let Some(u) = mb.unseen {
            detail.push_str(&format!(", first unseen #{u}"));
        }
        if let Some(v) = mb.uidvalidity {
            detail.push_str(&format!(", UIDVALIDITY {v}"));
        }
        if let Some(n) = mb.uidnext {
            detail.push_str(&format!(", UIDNEXT {n}"));
        }
        detail.push_str(if read_only {
            ", read-only"
        } else {
            ", read-write"
        });
        let exists = i64::from(mb.exists);
        self.report.mailbox = Some(mb.clone());
        // With --search, --messages judges the matches (the search step).
        let judged = self.cfg.search.is_none();
        if let Some(crit) = self
            .cfg
            .messages_crit
            .as_ref()
            .filter(|r| judged && r.alerts(exists))
        {
            // A finding about the folder: the message is still fetched.
            self.finding = true;
            return Err(diagnosis::message_count(exists, &crit.text));
        }
        if let Some(warn) = self
            .cfg
            .messages_warn
            .as_ref()
            .filter(|r| judged && r.alerts(exists))
        {
            return Done::warn(
                format!("{exists} messages, outside the warning range {}", warn.text),
                detail,
            );
        }
        Done::ok(detail)
    }

    /// RFC 9208 GETQUOTAROOT for the open folder: usage against limits.
    pub(super) fn quota(&mut self) -> StepOutcome {
        if !self.opened {
            return Done::skip("no folder open");
        }
        if !self.seen.has_cap("QUOTA") {
            return Done::skip("the server does not announce QUOTA");
        }
        let answer = match self.quota_answer.take() {
            Some(answer) => answer,
            None => {
                self.seen.quotas.clear();
                let wire_name = mutf7::encode(&self.cfg.folder);
                self.run_command(&[Arg::Raw("GETQUOTAROOT"), Arg::Str(wire_name.as_bytes())])
            }
        };
        let done = answer.map_err(|e| {
            diagnosis::io_failure(&e, Step::Quota, "a tagged response to GETQUOTAROOT")
        })?;
        if done.status != Status::Ok {
            return Done::warn(
                format!(
                    "the server announces QUOTA but refused GETQUOTAROOT: {}",
                    escape_cut(trim_eol(&done.raw), TEXT_CUT)
                ),
                "",
            );
        }
        let mut rows = Vec::new();
        let mut parts = Vec::new();
        let mut worst: Option<(f64, String)> = None;
        for seen in &self.seen.quotas {
            let root = escape_cut(&seen.root, TEXT_CUT);
            for r in &seen.resources {
                let pct = if r.limit == 0 {
                    100.0
                } else {
                    r.usage as f64 * 100.0 / r.limit as f64
                };
                let unit = if r.name == "STORAGE" { " KiB" } else { "" };
                let text = format!("{} {} of {}{unit} ({pct:.1}%)", r.name, r.usage, r.limit);
                if worst.as_ref().is_none_or(|(w, _)| pct > *w) {
                    worst = Some((pct, format!("\"{root}\" {text}")));
                }
                parts.push(text);
                rows.push(QuotaReport {
                    root: root.clone(),
                    resource: r.name.clone(),
                    used: r.usage,
                    limit: r.limit,
                });
            }
            if seen.total > seen.resources.len() {
                parts.push(format!(
                    "({} resources, the first {} shown)",
                    seen.total,
                    seen.resources.len()
                ));
            }
        }
        self.report.quota = Some(rows);
        if parts.is_empty() {
            return Done::ok(format!("no limits reported for {}", self.cfg.folder));
        }
        let roots: Vec<String> = self
            .seen
            .quotas
            .iter()
            .map(|q| format!("\"{}\"", escape_cut(&q.root, TEXT_CUT)))
            .collect();
        let detail = format!("{}: {}", roots.join(", "), parts.join(", "));
        let (pct, which) = worst.unwrap_or((0.0, String::new()));
        if pct >= f64::from(self.cfg.quota_crit) {
            self.finding = true;
            return Err(diagnosis::quota_full(pct, &which, self.cfg.quota_crit));
        }
        if pct >= f64::from(self.cfg.quota_warn) {
            return Done::warn(
                format!("quota at {pct:.1}% (warning at {}%)", self.cfg.quota_warn),
                detail,
            );
        }
        Done::ok(detail)
    }
}

/// A batch answered with fewer completions than commands sent: cannot
/// happen (the session returns one per command), but is no panic either.
fn missing_answer() -> SessionError {
    SessionError::Protocol {
        what: "no answer to a command sent with LIST".into(),
        got: Vec::new(),
    }
}
