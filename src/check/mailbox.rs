//! The mailbox steps: list (which sends the batch after login, and reads
//! the answers to CAPABILITY, ID and LIST), examine or select (the
//! folder's counters), and quota (GETQUOTAROOT's usage against
//! `--quota-warn` and `--quota-crit`).

use crate::parser::{Code, Status};
use crate::report::{MailboxReport, QuotaReport, escape_cut, trim_eol};

use super::diagnosis::{self, LIST_REFUSED};
use super::pipeline::Cmd;
use super::{Check, Done, Step, StepOutcome, TEXT_CUT, cut_text};

impl Check<'_> {
    pub(super) fn list(&mut self) -> StepOutcome {
        if !self.authenticated {
            return Done::skip("not logged in");
        }
        // See `plan_after_login`: CAPABILITY and ID go first. The whole
        // batch after login goes out here, so this step's time starts with
        // its write (see `pipeline`).
        let with_caps = std::mem::take(&mut self.capabilities_with_list);
        let with_id = std::mem::take(&mut self.id_with_list);
        // Reset before the write: a server running the batch at once may
        // send ID's data with CAPABILITY's answer.
        if with_caps {
            self.seen.capabilities_fresh = false;
        }
        if with_id {
            self.seen.server_id = None;
            self.id_sent = true;
        }
        self.send_pipeline(with_caps, with_id).map_err(|e| {
            diagnosis::io_failure(&e, Step::List, "to send the commands after login")
        })?;
        let mut caps_after_login = None;
        if with_caps {
            let done = self.answer(Cmd::Capability, Step::List, None, |e| {
                diagnosis::io_failure(e, Step::List, "the CAPABILITY response")
            })?;
            self.check_capability_answer(&done)?;
            caps_after_login = Some(self.seen.capabilities.len());
        }
        let mut id = None;
        if with_id {
            let done = self.answer(Cmd::Id, Step::List, None, |e| {
                diagnosis::io_failure(e, Step::List, "a tagged response to ID")
            })?;
            id = self.describe_id(Ok(done));
        }
        let done = self.answer(Cmd::List, Step::List, None, |e| {
            diagnosis::io_failure(e, Step::List, "a tagged response to LIST")
        })?;
        // Never after the server has ended the session (a BYE in LIST's
        // answer): the logout step then says so instead.
        if std::mem::take(&mut self.logout_after_list) && self.seen.bye.is_none() {
            // LIST is answered whole: LOGOUT may follow the rest of the
            // batch now (see `send_pipeline`). A failed write shows at the
            // logout step, which sends LOGOUT itself when it did not go.
            let _ = self.send_more(&[Cmd::Logout], None);
        }
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
        // A pipelined EXAMINE's data may come with earlier answers: the
        // batch reset it when it went out (`send_pipeline`).
        if !self.pipelined(Cmd::Open) {
            self.reset_mailbox();
        }
        let with_quota = self.pipelined(Cmd::Quota);
        let done = self.answer(Cmd::Open, step, None, |e| {
            diagnosis::open_io_failure(e, step, verb, with_quota)
        })?;
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
            _ => !(self.cfg.select || self.cfg.round_trip.is_some()),
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

    /// What is known of the folder, before it is opened.
    pub(super) fn reset_mailbox(&mut self) {
        self.seen.mailbox = MailboxReport {
            name: self.cfg.folder.clone(),
            ..MailboxReport::default()
        };
    }

    /// RFC 9208 GETQUOTAROOT for the open folder: usage against limits.
    pub(super) fn quota(&mut self) -> StepOutcome {
        if !self.opened {
            return Done::skip("no folder open");
        }
        if !self.seen.has_cap("QUOTA") {
            return Done::skip("the server does not announce QUOTA");
        }
        if !self.pipelined(Cmd::Quota) {
            self.seen.quotas.clear();
        }
        let done = self.answer(Cmd::Quota, Step::Quota, None, |e| {
            diagnosis::io_failure(e, Step::Quota, "a tagged response to GETQUOTAROOT")
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
