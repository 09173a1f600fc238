//! The check: the KB's manual steps as an explicit sequence of phases.
//!
//! (token ∥) connect → tls → greeting → capability → starttls → login → list →
//! examine/select → quota → fetch → logout, as [`plan`] lays them out for
//! a configuration. The commands after login go out in one write and each
//! step reads its own answer (see `pipeline`). Each step runs against the session, checks every
//! response against what that phase allows, and ends as ok, warning,
//! failed or skipped with its time and a detail line. After a failure the
//! later steps are skipped, but LOGOUT is still sent when the connection
//! can carry it. Nothing here writes to a mailbox: EXAMINE by default,
//! BODY.PEEK for bodies, no STORE/EXPUNGE/CREATE/DELETE at all.
//!
//! This file is the run loop, what a step returns, and the one way the
//! steps talk to the session (every untagged response goes to `Seen`).
//! Each phase has a file of its own; every failure's wording is in
//! `diagnosis`.

mod arrive;
mod cleanup;
mod cloud;
mod connect;
mod diagnosis;
mod fetch;
mod greeting;
mod login;
mod logout;
mod mailbox;
mod pipeline;
mod proxy_reuse;
mod search;
mod search_within;
mod seen;
mod send;
mod send_diagnosis;
mod starttls;
mod step;
mod tls_session;
mod token;
mod token_diagnosis;

pub use step::{Step, plan, tls_step};

use std::time::{Duration, Instant};

use crate::cli::{Config, Security};
use crate::credentials::Credentials;
use crate::report::{Failure, Quirk, Report, StepResult, StepStatus, escape_cut};
use crate::session::{Arg, Completion, Session, SessionError};
use crate::transcript::Transcript;
use crate::transport::{Deadline, PreparedTls, TlsSettings};

use diagnosis::NO_CONNECTION;
use seen::Seen;

/// How much server text goes into a detail or an error message.
const TEXT_CUT: usize = 300;

/// Something that happened during the run, for live output.
pub enum Event<'a> {
    Step(&'a StepResult),
    Alert(&'a str),
}

/// What a step function returns when it did not fail.
struct Done {
    status: StepStatus,
    detail: String,
    /// For a warning: the reason alone, for the one-line summaries.
    reason: Option<String>,
}

/// What a step ends with: ok, warning or skipped (`Done`), or failed.
type StepOutcome = Result<Done, Failure>;

impl Done {
    fn ok(detail: impl Into<String>) -> StepOutcome {
        Ok(Done {
            status: StepStatus::Ok,
            detail: detail.into(),
            reason: None,
        })
    }

    /// A warning: `reason` leads the detail line and alone goes into the
    /// summary; `info` is the rest of the detail.
    fn warn(reason: impl Into<String>, info: impl Into<String>) -> StepOutcome {
        let reason = reason.into();
        let info = info.into();
        let detail = if info.is_empty() {
            reason.clone()
        } else {
            format!("{reason}; {info}")
        };
        Ok(Done {
            status: StepStatus::Warning,
            detail,
            reason: Some(reason),
        })
    }

    /// Ok with `detail`, or a warning when there are `warnings`.
    fn ok_or_warn(warnings: Vec<String>, detail: String) -> StepOutcome {
        if warnings.is_empty() {
            Done::ok(detail)
        } else {
            Done::warn(warnings.join("; "), detail)
        }
    }

    fn skip(detail: impl Into<String>) -> StepOutcome {
        Ok(Done {
            status: StepStatus::Skipped,
            detail: detail.into(),
            reason: None,
        })
    }
}

/// Cuts decoded text to about `max` bytes on a character boundary.
fn cut_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// The one run of a check.
pub struct Check<'a> {
    cfg: &'a Config,
    /// The password, or once the token step has it, the access token.
    credentials: Credentials,
    /// The token step's thread, until its result is reported.
    token_job: Option<token::TokenJob>,
    /// The token step failed: login and what follows are skipped.
    token_failed: bool,
    /// TLS settings not yet handed to the background builder.
    tls_settings: Option<TlsSettings>,
    tls: Option<PreparedTls>,
    on_event: &'a mut dyn FnMut(Event),
    transcript: Transcript,
    deadline: Deadline,
    session: Option<Session>,
    seen: Seen,
    report: Report,
    authenticated: bool,
    preauth: bool,
    /// The folder opened successfully.
    opened: bool,
    /// ID is still to be sent after login (see `plan_after_login`).
    id_with_list: bool,
    /// ID has gone to the server.
    id_sent: bool,
    /// The login's answer carried no capabilities: CAPABILITY is still to
    /// be sent, ahead of LIST (see `plan_after_login`).
    capabilities_with_list: bool,
    /// Commands sent in the batch after login whose answers no step has
    /// read yet, with their tags (see `pipeline`).
    pipeline: Vec<(pipeline::Cmd, String)>,
    /// Some answer of the batch has come.
    batch_answered: bool,
    /// The server answered part of the batch, then nothing before the
    /// deadline: the commands it left unanswered.
    dropped: Option<Vec<pipeline::Cmd>>,
    /// The server announced XIMAPPROXY before login: LOGOUT goes alone.
    logout_alone: bool,
    /// LOGOUT is to go as soon as LIST's answer has come, behind the rest
    /// of the batch (see `send_pipeline`).
    logout_after_list: bool,
    /// The last untagged response during the latest command: a proxy's
    /// last words before it closes (see `login`).
    last_words: Option<Vec<u8>>,
    /// The step's failure is a threshold finding (full quota, certificate
    /// about to expire), not a broken step: the later steps still run.
    finding: bool,
    /// What `--search` found, for the fetch step.
    search_found: Option<search::Found>,
    /// How the SEARCH in the batch after login was sent.
    search_sent: Option<search::SearchPlan>,
    /// The round trip's TLS settings for SMTP (`--send-via`).
    smtp_tls: Option<TlsSettings>,
    /// The round trip in progress, from the send step to the arrive step.
    round_trip: Option<send::RoundTripState>,
    /// The IMAP secret kept for the SMTP login of a round trip (the login
    /// step takes and wipes its own copy).
    smtp_secret: Option<crate::password::Secret>,
}

impl<'a> Check<'a> {
    /// A check of `cfg` whose steps, as they finish, and ALERTs go to
    /// `on_event`. `deadline` bounds all of it: the runner's, which the
    /// checks of `--all-addresses` share with the name's resolution.
    pub fn new(
        cfg: &'a Config,
        mut credentials: Credentials,
        tls_settings: TlsSettings,
        deadline: Deadline,
        on_event: &'a mut dyn FnMut(Event),
    ) -> Check<'a> {
        let transcript = Transcript {
            enabled: cfg.verbose,
            capture: cfg.capture,
        };
        // First of all, so the token request overlaps everything up to
        // the login.
        let token_job = token::start(
            cfg,
            credentials.oauth.take(),
            &tls_settings,
            deadline,
            transcript,
        );
        // Only a check that will use TLS builds a TLS context. Implicit
        // TLS needs it right after connect, so it starts now and overlaps
        // DNS and the TCP handshake; STARTTLS starts it once connected,
        // so its CPU work never delays the first packet.
        let smtp_tls = cfg.round_trip.as_ref().map(|_| tls_settings.clone());
        let (tls, tls_settings) = match cfg.security {
            Security::Tls => (Some(tls_settings.prepare()), None),
            Security::Starttls => (None, Some(tls_settings)),
            Security::None => (None, None),
        };
        let report = empty_report(cfg);
        Check {
            cfg,
            credentials,
            token_job,
            token_failed: false,
            tls,
            tls_settings,
            on_event,
            transcript,
            deadline,
            session: None,
            // Implicit TLS and cleartext-only checks trust what they get;
            // under STARTTLS, trust starts with the handshake.
            seen: Seen::new(cfg.security != Security::Starttls),
            report,
            authenticated: false,
            preauth: false,
            opened: false,
            id_with_list: false,
            id_sent: false,
            capabilities_with_list: false,
            pipeline: Vec::new(),
            batch_answered: false,
            dropped: None,
            logout_alone: false,
            logout_after_list: false,
            last_words: None,
            finding: false,
            search_found: None,
            search_sent: None,
            smtp_tls,
            round_trip: None,
            smtp_secret: None,
        }
    }

    /// The report so far: before `run`, the plan with nothing found.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Runs every step of the plan and returns the report.
    /// Times count on the one clock that started with the deadline: the
    /// first step's from then, so it holds what came before it (with
    /// `--all-addresses`, resolving the name all addresses share), and the
    /// total is the run's whole time.
    pub fn run(mut self) -> Report {
        let started = self.deadline.started();
        let mut first_from = Some(started);
        let mut failed: Option<Step> = None;
        for (i, step) in plan(self.cfg).into_iter().enumerate() {
            if step == Step::Token {
                // Already running: reported by `collect_token`.
                continue;
            }
            // The login waits for the token; before it, a finished token
            // is reported at the next step boundary.
            self.collect_token(step == Step::Login);
            if step == Step::Login && self.token_failed {
                failed = failed.or(Some(Step::Token));
            }
            let t0 = first_from.take().unwrap_or_else(Instant::now);
            let outcome = match failed {
                Some(first) if step != Step::Logout => {
                    Done::skip(format!("{} failed", first.as_str()))
                }
                _ => self.step(step),
            };
            let result = self.step_result(step, outcome, t0.elapsed(), &mut failed);
            self.finding = false;
            for alert in std::mem::take(&mut self.seen.new_alerts) {
                (self.on_event)(Event::Alert(&alert));
            }
            if let Some(slot) = self.report.steps.get_mut(i) {
                *slot = result.clone();
            }
            (self.on_event)(Event::Step(&result));
        }
        self.collect_token(true);
        if let Some(s) = self.session.as_mut() {
            s.close();
        }
        self.finish_report(started.elapsed())
    }

    fn step(&mut self, step: Step) -> StepOutcome {
        match step {
            Step::Token => Done::skip("fetched on its own thread"),
            Step::Connect => self.connect(),
            Step::Tls => self.handshake(Step::Tls),
            Step::Greeting => self.greeting(),
            Step::Capability => self.capability(),
            Step::Starttls => self.starttls(),
            Step::Login => {
                self.keep_secret_for_smtp();
                self.login()
            }
            Step::List => self.list(),
            Step::Examine | Step::Select => self.open_folder(step),
            Step::Quota => self.quota(),
            Step::Search => self.search(),
            Step::Fetch => self.fetch(),
            Step::Send => self.send_message(),
            Step::Arrive => self.arrive(),
            Step::Logout => self.logout(),
        }
    }

    /// The report line of a finished step. A failure is the run's error
    /// when it is the first, and stops the later steps (`failed`) unless
    /// it is a full mailbox.
    fn step_result(
        &mut self,
        step: Step,
        outcome: StepOutcome,
        elapsed: Duration,
        failed: &mut Option<Step>,
    ) -> StepResult {
        let name = step.as_str();
        let mut result = match outcome {
            Ok(done) => StepResult {
                name,
                status: done.status,
                elapsed,
                detail: done.detail,
                reason: done.reason,
                failure: None,
            },
            Err(mut f) => {
                cloud::refine(
                    &mut f,
                    &cloud::Context {
                        step,
                        seen: &self.seen,
                        authenticated: self.authenticated,
                        id_sent: self.id_sent,
                    },
                );
                if let Some(bye) = &self.seen.bye
                    && f.got.is_none()
                {
                    f.got = Some(format!("* BYE {}", escape_cut(bye, TEXT_CUT)));
                    f.message.push_str(" (the server had said BYE)");
                }
                if self.report.error.is_none() {
                    self.report.error = Some((name, f.clone()));
                }
                // A full mailbox or an expiring certificate is a finding,
                // not a broken session: the message is still worth
                // fetching. An answer that broke the connection stops the
                // rest like any failure.
                let broken = self.session.as_ref().is_none_or(|s| !s.usable());
                if !(self.finding || step == Step::Quota) || broken {
                    *failed = failed.or(Some(step));
                }
                StepResult {
                    name,
                    status: StepStatus::Failed,
                    elapsed,
                    detail: f.message.clone(),
                    reason: None,
                    failure: Some(f),
                }
            }
        };
        self.note_quirks(name, &mut result);
        result
    }

    /// Moves the responses not understood during a step into the report,
    /// and says in the step's detail what was ignored.
    fn note_quirks(&mut self, step: &'static str, result: &mut StepResult) {
        let count = std::mem::take(&mut self.seen.quirks_in_step);
        let quirks = std::mem::take(&mut self.seen.new_quirks);
        if count == 0 {
            return;
        }
        let plural = if count == 1 { "" } else { "s" };
        match quirks.first() {
            Some((response, reason)) => result.detail.push_str(&format!(
                "; ignored {count} response{plural} not understood: {response} ({reason})"
            )),
            None => result.detail.push_str(&format!(
                "; ignored {count} response{plural} not understood"
            )),
        }
        for (response, reason) in quirks {
            self.report.quirks.push(Quirk {
                step,
                response,
                reason,
            });
        }
    }

    /// The report once every step has run: what the server told us.
    fn finish_report(mut self, elapsed: Duration) -> Report {
        self.report.server_id = self.seen.server_id.as_ref().map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        escape_cut(k, TEXT_CUT),
                        v.as_ref().map(|v| escape_cut(v, TEXT_CUT)),
                    )
                })
                .collect()
        });
        // EXISTS/EXPUNGE that arrived after EXAMINE keep counting.
        if self.opened {
            self.report.mailbox = Some(self.seen.mailbox.clone());
        }
        self.report.elapsed = elapsed;
        self.report.capabilities = self.seen.capabilities.clone();
        self.report.alerts = std::mem::take(&mut self.seen.alerts);
        self.report.folders = std::mem::take(&mut self.seen.folders);
        self.report.folder_count = self.seen.folder_count;
        self.report
    }

    fn session(&mut self) -> Result<&mut Session, Failure> {
        self.session
            .as_mut()
            .ok_or_else(|| NO_CONNECTION.with(None))
    }

    /// One command to its completion; its untagged responses and the
    /// completion's code go into `seen`.
    fn run_command(&mut self, args: &[Arg]) -> Result<Completion, SessionError> {
        if !matches!(args.first(), Some(Arg::Raw("LOGOUT"))) {
            self.bye_guard()?;
        }
        let seen = &mut self.seen;
        let last_words = &mut self.last_words;
        *last_words = None;
        let session = self.session.as_mut().ok_or_else(no_session)?;
        let done = session.command(args, &mut |u, raw| {
            *last_words = Some(raw.to_vec());
            seen.absorb(u, raw)
        })?;
        if let Some(code) = &done.code {
            seen.absorb_code(code, &done.text);
        }
        Ok(done)
    }

    /// After an untagged BYE the server is closing: another command would
    /// only meet a closed connection.
    fn bye_guard(&self) -> Result<(), SessionError> {
        match &self.seen.bye {
            Some(bye) => {
                let mut got = b"* BYE ".to_vec();
                got.extend_from_slice(bye);
                Err(SessionError::Protocol {
                    what: "the server ended the session (untagged BYE)".into(),
                    got,
                })
            }
            None => Ok(()),
        }
    }
}

/// The report of a run of `cfg` before any step ran: every step of the
/// plan, skipped, with nothing found, and the run's deadline.
pub fn empty_report(cfg: &Config) -> Report {
    let names: Vec<&'static str> = plan(cfg).into_iter().map(Step::as_str).collect();
    let mut report = Report::new(&cfg.host, cfg.port, cfg.security, &names);
    report.timeout_secs = cfg.timeout.as_secs_f64();
    report.warn_secs = cfg.warning;
    report.crit_secs = cfg.critical;
    report.cert_warn_days = Some(cfg.cert_warn_days);
    report.cert_crit_days = cfg.cert_crit_days;
    report.sni = cfg.sni.clone();
    report.messages_warn = cfg.messages_warn.as_ref().map(|r| r.text.clone());
    report.max_age = cfg.max_age;
    report.quota_warn = cfg.quota_warn;
    report.quota_crit = cfg.quota_crit;
    report.folder_label = cfg.user.is_some().then(|| cfg.folder.clone());
    report.labels = cfg.labels.clone();
    report.messages_crit = cfg.messages_crit.as_ref().map(|r| r.text.clone());
    report
}

/// A command with no connection to send it on.
fn no_session() -> SessionError {
    SessionError::Protocol {
        what: "no connection".into(),
        got: vec![],
    }
}
