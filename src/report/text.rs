//! `--format text`, for people: a header line, one line per step as it
//! finishes (with expected/got/hint under a failure), ALERT lines as they
//! arrive, and a summary line at the end.
//!
//! Every line is written through [`Lines`], which escapes it whole (see
//! `escape.rs`): server text in a detail, a hint or a summary cannot put a
//! control character, or a line end of its own, on the terminal.

use crate::cli::Security;

use std::net::SocketAddr;

use super::{
    Failure, Lines, Renderer, Repeated, Report, Round, StepResult, StepStats, StepStatus,
    address_label, display_host, ms,
};

pub struct Text;

impl Renderer for Text {
    fn start(&self, report: &Report) -> Option<String> {
        let name = match &report.sni {
            Some(n) => format!(", certificate name {n}"),
            None => String::new(),
        };
        Some(one(format!(
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
        )))
    }

    fn step(&self, step: &StepResult) -> Option<String> {
        Some(step_line(step))
    }

    fn alert(&self, text: &str) -> Option<String> {
        Some(one(format!(
            "{:<11} {:<8} {:>10}  {text}",
            "ALERT", "server", ""
        )))
    }

    fn not_started(&self, failure: &Failure) -> Option<String> {
        let mut out = Lines::new();
        out.line(format_args!("imapcheck: {}", failure.message))
            .line(format_args!("hint: {}", failure.hint));
        Some(out.finish())
    }

    fn end(&self, report: &Report) -> String {
        one(format!(
            "IMAP {} - {}",
            report.verdict().upper(),
            report.summary()
        ))
    }

    fn addresses(&self, addrs: &[SocketAddr], left_out: usize) -> Option<String> {
        let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
        let more = match left_out {
            0 => String::new(),
            n => format!(" ({n} more left out: at most {} are checked)", addrs.len()),
        };
        Some(one(format!(
            "checking {} address{} side by side: {}{more}",
            addrs.len(),
            if addrs.len() == 1 { "" } else { "es" },
            list.join(", ")
        )))
    }

    fn address_start(&self, report: &Report) -> Option<String> {
        let mut out = Lines::new();
        out.blank().line(address_label(report));
        Some(out.finish())
    }

    /// A line per address, then the verdict.
    fn round(&self, round: &Round) -> String {
        let mut out = Lines::new();
        out.blank();
        for r in &round.reports {
            out.line(format_args!(
                "{:<24} {:<8} {:>10}  {}",
                address_label(r),
                r.verdict().upper(),
                format!("{:.1} ms", ms(r.elapsed)),
                r.outcome()
            ));
        }
        out.line(format_args!(
            "IMAP {} - {}",
            round.verdict().upper(),
            round.summary()
        ));
        out.finish()
    }

    /// `3/5 IMAP OK - ...`, like ping's line per reply.
    fn run_done(&self, n: usize, round: &Round) -> Option<String> {
        Some(one(format!(
            "{n:>3}  {:<8} {:>10}  {}",
            round.verdict().upper(),
            format!("{:.1} ms", ms(round.elapsed)),
            round.summary()
        )))
    }

    /// Per address: a table of each step's runs, failures and times.
    fn repeated(&self, rep: &Repeated) -> String {
        let mut out = Lines::new();
        out.blank().line(format_args!(
            "--- {}:{} statistics: {} run{}{}, {:.1} s ---",
            display_host(&rep.host),
            rep.port,
            rep.rounds.len(),
            if rep.rounds.len() == 1 { "" } else { "s" },
            if rep.interrupted {
                ", stopped by Ctrl-C"
            } else {
                ""
            },
            rep.elapsed.as_secs_f64()
        ));
        for series in rep.series() {
            if let Some(a) = &series.address {
                out.line(a);
            }
            out.line(format_args!(
                "{:<11} {:>5} {:>7} {:>10} {:>10} {:>10}",
                "step", "runs", "failed", "min", "median", "max"
            ));
            for s in series.steps.iter().chain([&series.total]) {
                out.line(stats_line(s));
            }
        }
        out.line(format_args!(
            "IMAP {} - {}",
            rep.verdict().upper(),
            rep.summary()
        ));
        out.finish()
    }
}

/// One line, escaped (see `Lines`).
fn one(line: String) -> String {
    let mut out = Lines::new();
    out.line(line);
    out.finish()
}

fn stats_line(s: &StepStats) -> String {
    let t = |d| {
        if s.runs == 0 {
            "-".to_string()
        } else {
            format!("{:.1} ms", ms(d))
        }
    };
    format!(
        "{:<11} {:>5} {:>7} {:>10} {:>10} {:>10}",
        s.name,
        s.runs,
        s.failed,
        t(s.min),
        t(s.median),
        t(s.max)
    )
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
    let mut out = Lines::new();
    let head = format!(
        "{:<11} {:<8} {:>10}  {}",
        step.name, status, time, step.detail
    );
    out.line(head.trim_end());
    if let Some(f) = &step.failure {
        let pad = " ".repeat(33);
        out.line(format_args!("{pad}expected: {}", f.expected));
        if let Some(got) = &f.got {
            out.line(format_args!("{pad}got:      {got}"));
        }
        if !f.hint.is_empty() {
            out.line(format_args!("{pad}hint:     {}", f.hint));
        }
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn server_text_cannot_add_a_line_or_a_control() {
        let s = StepResult {
            name: "list",
            status: StepStatus::Failed,
            elapsed: Duration::from_micros(100),
            detail: "3 folders: Evil\r\nIMAP OK - forged\u{1b}]52;c;eA==\u{7}".into(),
            reason: None,
            failure: Some(Failure {
                message: "m".into(),
                expected: "x\ny".into(),
                got: Some("a1 NO \u{9b}2J\u{202e}".into()),
                hint: "closest folder names from LIST: A\nB".into(),
            }),
        };
        let t = step_line(&s);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].ends_with("Evil\\r\\nIMAP OK - forged\\x1b]52;c;eA==\\x07"));
        assert!(lines[1].ends_with("expected: x\\ny"));
        assert!(lines[2].ends_with("got:      a1 NO \\x9b2J\\u{202e}"));
        assert!(lines[3].ends_with("LIST: A\\nB"));
        let alert = Text.alert("\u{1b}[2J").unwrap_or_default();
        assert!(alert.ends_with("  \\x1b[2J"), "{alert}");
    }

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
