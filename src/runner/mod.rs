//! Between the process and the check: takes the configuration, runs the
//! check and hands each step to the renderer of the chosen format as soon
//! as it has finished, then the whole report. One run is a round: one
//! check, or with `--all-addresses` one check per address of the name, side
//! by side (`addresses`); `--repeat` runs rounds one after another
//! (`repeat`). Nothing in `check` knows about either: a check of one
//! address is a check whose configuration says where to connect.

mod addresses;
mod repeat;

use std::io::Write;

use crate::check::{self, Check, Event, Step};
use crate::cli::{Config, Format};
use crate::credentials::Credentials;
use crate::output::Output;
use crate::report::{
    Failure, JsonObject, Nagios, OpenMetrics, Renderer, Report, Round, StepStatus, Text, Verdict,
};
use crate::transport::{self, Deadline, TlsSettings};

/// The renderer for `format`.
fn renderer(format: Format) -> Box<dyn Renderer> {
    match format {
        Format::Text => Box::new(Text),
        Format::Nagios => Box::new(Nagios),
        Format::Json => Box::new(JsonObject),
        Format::OpenMetrics => Box::new(OpenMetrics),
    }
}

pub struct Runner<'a> {
    cfg: &'a Config,
    renderer: Box<dyn Renderer>,
    output: Output,
}

impl<'a> Runner<'a> {
    pub fn new(cfg: &'a Config) -> Runner<'a> {
        Runner {
            cfg,
            renderer: renderer(cfg.format),
            output: Output::new(cfg.output.clone()),
        }
    }

    /// Runs the check (each round of it), logging in with `credentials`
    /// when there is a user, and prints its result as it comes.
    pub fn run(&self, credentials: Credentials) -> Verdict {
        let extra_roots = match &self.cfg.ca_file {
            Some(path) => match transport::load_ca_file(path) {
                Ok(roots) => roots,
                Err(msg) => {
                    return self.cannot_start(
                        check::tls_step(self.cfg.security),
                        msg,
                        "--ca-file takes a PEM file with one or more CA certificates",
                    );
                }
            },
            None => Vec::new(),
        };
        let tls = TlsSettings::new(extra_roots, self.cfg.insecure);
        if let Some(n) = self.cfg.repeat {
            let repeated = self.repeat(n, &credentials, &tls);
            self.output.line(&self.renderer.repeated(&repeated));
            return self.deliver(repeated.verdict());
        }
        if self.cfg.all_addresses {
            let round = self.round(credentials, tls, true);
            self.output.line(&self.renderer.round(&round));
            return self.deliver(round.verdict());
        }
        let deadline = Deadline::after(self.cfg.timeout);
        let report = self.run_check(self.cfg, credentials, tls, deadline, true);
        self.finish(&report)
    }

    /// One round with nothing printed, for a caller that renders the
    /// result itself (`serve`'s probes).
    pub fn quiet_round(&self, credentials: Credentials, tls: TlsSettings) -> Round {
        self.round(credentials, tls, false)
    }

    /// One round: a check, or one per address with `--all-addresses`.
    /// `live`: each step is printed as it finishes (not under `--repeat`).
    /// The round's one deadline is its one clock: its time, and each
    /// check's, count from when it started.
    fn round(&self, credentials: Credentials, tls: TlsSettings, live: bool) -> Round {
        let deadline = Deadline::after(self.cfg.timeout);
        let (reports, left_out) = if self.cfg.all_addresses {
            self.every_address(&credentials, &tls, deadline, live)
        } else {
            let report = self.run_check(self.cfg, credentials, tls, deadline, live);
            (vec![report], 0)
        };
        Round {
            host: self.cfg.host.clone(),
            port: self.cfg.port,
            security: self.cfg.security,
            elapsed: deadline.started().elapsed(),
            reports,
            all_addresses: self.cfg.all_addresses,
            left_out,
        }
    }

    /// Renders the end of the run and delivers the output.
    fn finish(&self, report: &Report) -> Verdict {
        self.output.line(&self.renderer.end(report));
        self.deliver(report.verdict())
    }

    /// Delivers the output. A result that could not be written where
    /// `--output` says is UNKNOWN: whoever reads that file would otherwise
    /// go on seeing an old result.
    fn deliver(&self, verdict: Verdict) -> Verdict {
        match self.output.finish() {
            Ok(()) => verdict,
            Err(msg) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "imapcheck: {}",
                    crate::report::terminal(&msg)
                );
                Verdict::Unknown
            }
        }
    }

    /// One check of `cfg` within `deadline`; with `live`, each finished
    /// step and ALERT is rendered as it happens.
    fn run_check(
        &self,
        cfg: &Config,
        credentials: Credentials,
        tls: TlsSettings,
        deadline: Deadline,
        live: bool,
    ) -> Report {
        let renderer = &self.renderer;
        let output = &self.output;
        let mut on_event = |event: Event| {
            if !live {
                return;
            }
            let line = match event {
                Event::Step(step) => renderer.step(step),
                Event::Alert(text) => renderer.alert(text),
            };
            if let Some(line) = line {
                output.line(&line);
            }
        };
        let check = Check::new(cfg, credentials, tls, deadline, &mut on_event);
        if live && let Some(header) = renderer.start(check.report()) {
            output.line(&header);
        }
        check.run()
    }

    /// A run that cannot start (no password, unreadable file): UNKNOWN, and
    /// in every format the usual output so scripts always get their one
    /// object. `step` is the step the problem belongs to.
    pub fn cannot_start(&self, step: Step, message: String, hint: &str) -> Verdict {
        let step = step.as_str();
        let mut report = check::empty_report(self.cfg);
        report.unknown = true;
        let failure = Failure {
            message,
            expected: String::new(),
            got: None,
            hint: hint.to_string(),
        };
        if let Some(text) = self.renderer.not_started(&failure) {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
        if let Some(s) = report.steps.iter_mut().find(|s| s.name == step) {
            s.status = StepStatus::Skipped;
            s.detail = failure.message.clone();
        }
        report.error = Some((step, failure));
        self.finish(&report)
    }
}
