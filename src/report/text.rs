//! `--format text`, for people: a header line, one line per step as it
//! finishes (with expected/got/hint under a failure), ALERT lines as they
//! arrive, and a summary line at the end.

use std::fmt::Write as _;

use crate::cli::Security;

use super::{Failure, Renderer, Report, StepResult, StepStatus, display_host, ms};

pub struct Text;

impl Renderer for Text {
    fn start(&self, report: &Report) -> Option<String> {
        let name = match &report.sni {
            Some(n) => format!(", certificate name {n}"),
            None => String::new(),
        };
        Some(format!(
            "imapcheck {}: {} port {} ({}{name}), deadline {} s",
            env!("CARGO_PKG_VERSION"),
            display_host(&report.host),
            report.port,
            match report.security {
                Security::Tls => "implicit TLS",
                Security::Starttls => "STARTTLS required",
                Security::None => "cleartext, no TLS",
            },
            report.timeout_secs
        ))
    }

    fn step(&self, step: &StepResult) -> Option<String> {
        Some(step_line(step))
    }

    fn alert(&self, text: &str) -> Option<String> {
        Some(format!(
            "{:<11} {:<8} {:>10}  {text}",
            "ALERT", "server", ""
        ))
    }

    fn not_started(&self, failure: &Failure) -> Option<String> {
        Some(format!(
            "imapcheck: {}\nhint: {}",
            failure.message, failure.hint
        ))
    }

    fn end(&self, report: &Report) -> String {
        format!("IMAP {} - {}", report.verdict().upper(), report.summary())
    }
}

/// The text line for one finished step.
fn step_line(step: &StepResult) -> String {
    let status = match step.status {
        StepStatus::Ok => "ok",
        StepStatus::Warning => "WARNING",
        StepStatus::Failed => "FAILED",
        StepStatus::Skipped => "skipped",
    };
    let time = if step.status == StepStatus::Skipped {
        String::from("-")
    } else {
        format!("{:.1} ms", ms(step.elapsed))
    };
    let mut line = format!(
        "{:<11} {:<8} {:>10}  {}",
        step.name, status, time, step.detail
    );
    if let Some(f) = &step.failure {
        let pad = " ".repeat(33);
        let _ = write!(line, "\n{pad}expected: {}", f.expected);
        if let Some(got) = &f.got {
            let _ = write!(line, "\n{pad}got:      {got}");
        }
        if !f.hint.is_empty() {
            let _ = write!(line, "\n{pad}hint:     {}", f.hint);
        }
    }
    line.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn step_line_shows_failure_lines() {
        let s = StepResult {
            name: "login",
            status: StepStatus::Failed,
            elapsed: Duration::from_micros(2500),
            detail: "the server refused the login".into(),
            reason: None,
            failure: Some(Failure {
                message: "m".into(),
                expected: "a tagged OK".into(),
                got: Some("X NO".into()),
                hint: "check".into(),
            }),
        };
        let t = step_line(&s);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "login       FAILED       2.5 ms  the server refused the login"
        );
        assert!(lines[1].ends_with("expected: a tagged OK"));
        assert!(lines[2].ends_with("got:      X NO"));
        assert!(lines[3].ends_with("hint:     check"));
    }
}
