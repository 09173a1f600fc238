//! Pipelining after login: the commands after LOGIN depend on no answer
//! before them to be *sent*, so once the login is through they go out in
//! one write (RFC 9051 5.5) and cost one round trip together, not one
//! each. Each step still owns its command's answer: it reads up to its own
//! tag (`answer`), parses what came, and is timed from the previous
//! command's completion to its own. Nothing ever rides with LOGIN or
//! AUTHENTICATE (see `Check::login`). With `--no-pipelining`, or where a
//! command would need a synchronizing literal, each step sends its command
//! itself when it runs, as a one-command-at-a-time client does.

use crate::cli::Config;
use crate::mutf7;
use crate::report::Failure;
use crate::session::{Arg, Completion, SessionError};

use super::diagnosis;
use super::login::id_arguments;
use super::search::{self, SearchPlan};
use super::{Check, Step};
use crate::search::Word as SearchWord;

/// The fetch items of the fetch step (the body has its own FETCH).
const FETCH_ITEMS: &str = "(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)";

/// A command sent after login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmd {
    Capability,
    Id,
    List,
    /// EXAMINE, or SELECT with `--select`.
    Open,
    Quota,
    /// `--search`'s SEARCH (see `search`).
    Search,
    Fetch,
    /// `--body`'s BODY.PEEK[].
    Body,
    Logout,
}

/// One word of a command, owned, so a batch is built before the steps
/// that read its answers run.
enum Word {
    Raw(String),
    Str(Vec<u8>),
}

impl Word {
    fn arg(&self) -> Arg<'_> {
        match self {
            Word::Raw(s) => Arg::Raw(s),
            Word::Str(b) => Arg::Str(b),
        }
    }
}

/// The words of `cmd` under `cfg`. `seq` is the message to fetch when it
/// is known (one command at a time); unknown, it is `--message N` or `*`,
/// the newest message, whose number the answer carries.
fn words(cfg: &Config, cmd: Cmd, seq: Option<u32>) -> Vec<Word> {
    let raw = |s: &str| Word::Raw(s.to_string());
    let folder = || Word::Str(mutf7::encode(&cfg.folder).into_bytes());
    // Under --search a batched FETCH is SEARCHRES's `$`: the newest match.
    let newest = if cfg.search.is_some() { "$" } else { "*" };
    let target = || {
        Word::Raw(
            seq.or(cfg.message)
                .map_or_else(|| newest.to_string(), |n| n.to_string()),
        )
    };
    match cmd {
        Cmd::Capability => vec![raw("CAPABILITY")],
        Cmd::Id => vec![raw("ID"), Word::Raw(id_arguments())],
        Cmd::List => vec![raw("LIST"), raw("\"\""), raw("\"*\"")],
        Cmd::Open => vec![
            raw(if opens_read_write(cfg) {
                "SELECT"
            } else {
                "EXAMINE"
            }),
            folder(),
        ],
        Cmd::Quota => vec![raw("GETQUOTAROOT"), folder()],
        // Sent by the search step itself when not in the batch; this
        // plain form works on every server.
        Cmd::Search => search::search_words(cfg, &SearchPlan::plain())
            .into_iter()
            .map(|w| match w {
                SearchWord::Raw(s) => Word::Raw(s),
                SearchWord::Str(b) => Word::Str(b),
            })
            .collect(),
        Cmd::Fetch => vec![raw("FETCH"), target(), raw(FETCH_ITEMS)],
        Cmd::Body => vec![raw("FETCH"), target(), raw("BODY.PEEK[]")],
        Cmd::Logout => vec![raw("LOGOUT")],
    }
}

/// SELECT with `--select`, and for a round trip, whose cleanup writes.
fn opens_read_write(cfg: &Config) -> bool {
    cfg.select || cfg.round_trip.is_some()
}

/// How a command is named in a diagnosis.
fn verb(cfg: &Config, cmd: Cmd) -> &'static str {
    match cmd {
        Cmd::Capability => "CAPABILITY",
        Cmd::Id => "ID",
        Cmd::List => "LIST",
        Cmd::Open if opens_read_write(cfg) => "SELECT",
        Cmd::Open => "EXAMINE",
        Cmd::Quota => "GETQUOTAROOT",
        Cmd::Search => "SEARCH",
        Cmd::Fetch => "FETCH",
        Cmd::Body => "FETCH BODY.PEEK[]",
        Cmd::Logout => "LOGOUT",
    }
}

impl Check<'_> {
    /// Sends what the steps after login will ask, in one write, once the
    /// login is through. Which commands go is decided from the
    /// capabilities known now: when the login announced none, CAPABILITY
    /// leads the batch and GETQUOTAROOT goes anyway (a server without
    /// QUOTA answers it BAD, which the quota step then ignores).
    pub(super) fn send_pipeline(
        &mut self,
        with_capability: bool,
        with_id: bool,
    ) -> Result<(), SessionError> {
        if self.cfg.no_pipelining {
            return Ok(());
        }
        let mut cmds = Vec::with_capacity(8);
        if with_capability {
            cmds.push(Cmd::Capability);
        }
        if with_id {
            cmds.push(Cmd::Id);
        }
        cmds.extend([Cmd::List, Cmd::Open]);
        if self.seen.has_cap("QUOTA") || with_capability {
            cmds.push(Cmd::Quota);
        }
        // --search: what follows SEARCH in the batch (see `search_batch`).
        let search = self.search_batch(with_capability);
        if let Some((plan, _)) = &search {
            cmds.push(Cmd::Search);
            self.search_sent = Some(*plan);
        }
        // A search not in the batch, or one whose answer the FETCH needs,
        // leaves FETCH and LOGOUT to go once it is answered.
        let searching = self.cfg.search.is_some();
        let rest = search.as_ref().map_or(!searching, |(_, rest)| *rest);
        let fetch_rides = search
            .as_ref()
            .map_or(!searching, |(plan, _)| plan.prefetch);
        if !self.cfg.no_fetch && fetch_rides {
            cmds.push(Cmd::Fetch);
            if self.cfg.body {
                cmds.push(Cmd::Body);
            }
        }
        // LOGOUT never rides in the batch with LIST: Dovecot runs LOGOUT
        // beside a LIST still writing its answer (LIST uses no message
        // numbers, so the two are not ambiguous to it) and closes the
        // connection with the folders of a large account half sent. It
        // goes as soon as LIST's answer is complete, behind the answers
        // still on their way (the list step sends it). up-imapproxy,
        // handed LOGOUT in the same write as other commands, closes at
        // once and answers none of them: LOGOUT goes alone there. A round
        // trip's send and arrive steps come before LOGOUT.
        self.logout_after_list = !self.logout_alone && rest && self.cfg.round_trip.is_none();
        let mut all: Vec<Vec<Word>> = cmds.iter().map(|&c| words(self.cfg, c, None)).collect();
        if let (Some((plan, _)), Some(i)) = (&search, cmds.iter().position(|&c| c == Cmd::Search)) {
            all[i] = search::search_words(self.cfg, plan)
                .into_iter()
                .map(|w| match w {
                    SearchWord::Raw(s) => Word::Raw(s),
                    SearchWord::Str(b) => Word::Str(b),
                })
                .collect();
        }
        let args: Vec<Vec<Arg>> = all
            .iter()
            .map(|w| w.iter().map(Word::arg).collect())
            .collect();
        let refs: Vec<&[Arg]> = args.iter().map(Vec::as_slice).collect();
        // Answers may come sooner than the steps that read them (a server
        // may run commands at once): what they fill starts empty now.
        self.reset_mailbox();
        self.seen.quotas.clear();
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        let Some(tags) = session.send_batch(&refs)? else {
            return Ok(());
        };
        if cmds.contains(&Cmd::Body) {
            // The body's data may come before the first FETCH's answer,
            // its size still unknown: a literal too large to keep is
            // counted, not kept (memory stays bounded, the deadline bounds
            // the time), and compared with the size once that is known.
            session.stream_literals_up_to = Some(u64::MAX);
            session.take_streamed();
        }
        // The message's data: --message N's, or for `*` that of the
        // message numbered EXISTS when it comes (a message delivered
        // meanwhile is announced before its data).
        self.seen.fetched.clear();
        self.seen.fetch_seq = self.cfg.message;
        self.seen.fetch_newest = self.cfg.message.is_none() && search.is_none();
        if search.is_some() {
            // Counted as it streams, whichever step reads it.
            session.search_tally = Some(crate::search::Tally::default());
        }
        self.pipeline = cmds.into_iter().zip(tags).collect();
        Ok(())
    }

    /// Sends `cmds` (for fetching, message `seq`) in one write, after the
    /// batch, for the steps to read their answers as from the batch. Does
    /// nothing with `--no-pipelining`: each step then sends its own.
    pub(super) fn send_more(&mut self, cmds: &[Cmd], seq: Option<u32>) -> Result<(), SessionError> {
        if self.cfg.no_pipelining || cmds.is_empty() {
            return Ok(());
        }
        let all: Vec<Vec<Word>> = cmds.iter().map(|&c| words(self.cfg, c, seq)).collect();
        let args: Vec<Vec<Arg>> = all
            .iter()
            .map(|w| w.iter().map(Word::arg).collect())
            .collect();
        let refs: Vec<&[Arg]> = args.iter().map(Vec::as_slice).collect();
        let Some(session) = self.session.as_mut() else {
            return Ok(());
        };
        if cmds.contains(&Cmd::Body) {
            session.stream_literals_up_to = Some(u64::MAX);
            session.take_streamed();
        }
        if let Some(tags) = session.send_batch(&refs)? {
            self.pipeline.extend(cmds.iter().copied().zip(tags));
        }
        Ok(())
    }

    /// The command `cmd` went out with the batch and its answer is still
    /// to be read.
    pub(super) fn pipelined(&self, cmd: Cmd) -> bool {
        self.pipeline.iter().any(|(c, _)| *c == cmd)
    }

    /// The answer to `cmd`: read up to its tag when it went out with the
    /// batch, else sent now on its own (for fetching, message `seq`). An
    /// error becomes `on_error`'s failure, unless the server answered
    /// part of the batch and then went silent: that is a server that
    /// does not handle pipelining, and the diagnosis says so.
    pub(super) fn answer(
        &mut self,
        cmd: Cmd,
        step: Step,
        seq: Option<u32>,
        on_error: impl FnOnce(&SessionError) -> Failure,
    ) -> Result<Completion, Failure> {
        self.exchange(cmd, seq)
            .map_err(|e| match self.dropped.take() {
                Some(unanswered) => self.not_pipelining(step, &unanswered),
                None => on_error(&e),
            })
    }

    /// `answer`'s exchange, with the session's error. When the wait for
    /// a batched answer timed out after the server had answered part of
    /// the batch, `dropped` names the commands left unanswered.
    pub(super) fn exchange(
        &mut self,
        cmd: Cmd,
        seq: Option<u32>,
    ) -> Result<Completion, SessionError> {
        let Some(i) = self.pipeline.iter().position(|(c, _)| *c == cmd) else {
            let w = words(self.cfg, cmd, seq);
            let args: Vec<Arg> = w.iter().map(Word::arg).collect();
            return self.run_command(&args);
        };
        let tag = self.pipeline[i].1.clone();
        let seen = &mut self.seen;
        let session = self.session.as_mut().ok_or_else(gone)?;
        let result = session.await_answer(&tag, &mut |u, raw| seen.absorb(u, raw));
        let unanswered: Vec<Cmd> = self
            .pipeline
            .iter()
            .filter(|(_, t)| session.unanswered().contains(t))
            .map(|(c, _)| *c)
            .collect();
        let answered_now = self.pipeline.len() > unanswered.len();
        self.pipeline.remove(i);
        match result {
            Ok(done) => {
                self.batch_answered = true;
                if let Some(code) = &done.code {
                    self.seen.absorb_code(code, &done.text);
                }
                Ok(done)
            }
            Err(e) => {
                if e.timed_out() && (answered_now || self.batch_answered) {
                    self.dropped = Some(unanswered);
                }
                Err(e)
            }
        }
    }

    /// Reads the batch's answers that no step read: after a failure the
    /// later steps are skipped, but the server answers their commands all
    /// the same, ahead of a LOGOUT sent on its own.
    pub(super) fn drain_pipeline(&mut self) -> Result<(), SessionError> {
        while let Some(cmd) = self.pipeline.first().map(|(c, _)| *c) {
            self.exchange(cmd, None)?;
        }
        Ok(())
    }

    /// The failure of a server that answered part of a batch and then
    /// nothing more: it does not process pipelined commands.
    fn not_pipelining(&self, step: Step, unanswered: &[Cmd]) -> Failure {
        let names: Vec<&str> = unanswered.iter().map(|&c| verb(self.cfg, c)).collect();
        diagnosis::failure(
            format!(
                "no answer to {} before the deadline, after the server had answered \
                 the commands sent before them in the same write: the server does not \
                 handle pipelined commands (step {})",
                names.join(", "),
                step.as_str()
            ),
            format!("answers to {}", names.join(", ")),
            None,
            "run with --no-pipelining, which sends one command at a time",
        )
    }
}

/// A pipelined answer with no connection left to read it from.
fn gone() -> SessionError {
    SessionError::Protocol {
        what: "no connection".into(),
        got: vec![],
    }
}
