//! Between the process and the check: takes the configuration, runs the
//! check and hands each step to the renderer of the chosen format as soon
//! as it has finished, then the whole report. It runs one check; running
//! one per address of a name, or `--repeat` times, is a loop around
//! `run_check` here, and nothing in `check` or the renderers changes.

use std::io::Write;

use crate::check::{self, Check, Event, Step};
use crate::cli::{Config, Format};
use crate::password::Secret;
use crate::report::{Failure, JsonObject, Nagios, Renderer, Report, StepStatus, Text, Verdict};
use crate::transport::{self, TlsSettings};

/// The renderer for `format`.
fn renderer(format: Format) -> Box<dyn Renderer> {
    match format {
        Format::Text => Box::new(Text),
        Format::Nagios => Box::new(Nagios),
        Format::Json => Box::new(JsonObject),
    }
}

/// Writes `text` and a line end to stdout at once. A closed pipe
/// (`imapcheck ... | head -2`) must not panic mid-session: the check still
/// finishes and logs out, and only the output that nobody reads is lost.
fn print(text: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

pub struct Runner<'a> {
    cfg: &'a Config,
    renderer: Box<dyn Renderer>,
}

impl<'a> Runner<'a> {
    pub fn new(cfg: &'a Config) -> Runner<'a> {
        Runner {
            cfg,
            renderer: renderer(cfg.format),
        }
    }

    /// Runs the check, logging in with `password` when there is a user,
    /// and prints its result as it comes.
    pub fn run(&self, password: Option<Secret>) -> Verdict {
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
        let report = self.run_check(password, tls);
        print(&self.renderer.end(&report));
        report.verdict()
    }

    /// One check, each finished step and ALERT rendered as it happens.
    fn run_check(&self, password: Option<Secret>, tls: TlsSettings) -> Report {
        let renderer = &self.renderer;
        let mut on_event = |event: Event| {
            let line = match event {
                Event::Step(step) => renderer.step(step),
                Event::Alert(text) => renderer.alert(text),
            };
            if let Some(line) = line {
                print(&line);
            }
        };
        let check = Check::new(self.cfg, password, tls, &mut on_event);
        if let Some(header) = renderer.start(check.report()) {
            print(&header);
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
        print(&self.renderer.end(&report));
        report.verdict()
    }
}
