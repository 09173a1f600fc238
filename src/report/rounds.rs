//! Results of more than one check: a [`Round`] (the check of a host, or of
//! every address of its name with `--all-addresses`) and [`Repeated`]
//! (the rounds of `--repeat`), with each step's statistics over the runs.
//! The renderers show these; nothing here prints.

use std::fmt::Write as _;
use std::time::Duration;

use crate::cli::Security;

use super::{Report, StepStatus, Verdict, display_host};

/// One round: one report per address checked (one for a plain check).
#[derive(Debug, Clone)]
pub struct Round {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub elapsed: Duration,
    pub reports: Vec<Report>,
    /// `--all-addresses`: the reports are the name's addresses.
    pub all_addresses: bool,
    /// `--all-addresses`: the name's addresses beyond the cap, not checked.
    pub left_out: usize,
}

impl Round {
    /// The worst of the reports (UNKNOWN for none, which cannot happen).
    pub fn verdict(&self) -> Verdict {
        let worst = self
            .reports
            .iter()
            .map(Report::verdict)
            .max()
            .unwrap_or(Verdict::Unknown);
        match self.certificate_differences() {
            Some(_) => worst.max(Verdict::Warning),
            None => worst,
        }
    }

    /// With `--all-addresses`: the addresses present different leaf
    /// certificates (a WARNING), said in a sentence.
    pub fn certificate_differences(&self) -> Option<String> {
        self.all_addresses
            .then(|| super::certificates::differences(&self.reports))
            .flatten()
    }

    /// `host: 2 of 3 addresses OK; [2001:db8::5]:993 connect failed: …`,
    /// or a plain check's summary.
    pub fn summary(&self) -> String {
        self.summary_noting(true)
    }

    /// The summary, with the addresses the cap left out when `left_out`.
    fn summary_noting(&self, left_out: bool) -> String {
        match (self.all_addresses, self.reports.as_slice()) {
            (false, [one]) => one.summary(),
            _ => {
                let ok = self
                    .reports
                    .iter()
                    .filter(|r| r.verdict() == Verdict::Ok)
                    .count();
                let mut s = format!(
                    "{}: {ok} of {} address{} OK",
                    display_host(&self.host),
                    self.reports.len(),
                    if self.reports.len() == 1 { "" } else { "es" }
                );
                if let Some(note) = self.left_out_note().filter(|_| left_out) {
                    let _ = write!(s, "; {note}");
                }
                for r in self.reports.iter().filter(|r| r.verdict() != Verdict::Ok) {
                    let _ = write!(s, "; {} {}", address_label(r), r.outcome());
                }
                if let Some(differ) = self.certificate_differences() {
                    let _ = write!(s, "; {differ}");
                }
                s
            }
        }
    }

    /// `8 more addresses left out: only the first 32 are checked`, when
    /// the cap left any out.
    pub fn left_out_note(&self) -> Option<String> {
        (self.left_out > 0).then(|| {
            format!(
                "{} more address{} left out: only the first {} {} checked",
                self.left_out,
                if self.left_out == 1 { "" } else { "es" },
                self.reports.len(),
                if self.reports.len() == 1 { "is" } else { "are" }
            )
        })
    }
}

/// The address a report of `--all-addresses` is about, as `addr:port`.
pub fn address_label(r: &Report) -> String {
    match r.address {
        Some(a) => a.to_string(),
        None => format!("{}:{}", display_host(&r.host), r.port),
    }
}

/// The rounds of `--repeat`.
#[derive(Debug, Clone)]
pub struct Repeated {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// How many runs were asked for.
    pub asked: u32,
    pub rounds: Vec<Round>,
    /// Ctrl-C ended the runs early.
    pub interrupted: bool,
    pub elapsed: Duration,
}

/// One step's times over the runs in which it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    pub name: &'static str,
    /// Runs in which the step ran (was not skipped).
    pub runs: usize,
    pub failed: usize,
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
}

/// The statistics of one address (or of the host, without
/// `--all-addresses`): each step's, then the whole check's as `total`.
#[derive(Debug, Clone)]
pub struct Series {
    /// `addr:port` with `--all-addresses`, else None.
    pub address: Option<String>,
    pub steps: Vec<StepStats>,
    pub total: StepStats,
}

impl Repeated {
    /// The worst verdict of all runs (UNKNOWN when none finished).
    pub fn verdict(&self) -> Verdict {
        self.rounds
            .iter()
            .map(Round::verdict)
            .max()
            .unwrap_or(Verdict::Unknown)
    }

    /// `localhost:993: 4 of 5 runs OK; run 3: list failed: …` (the first
    /// run that was not OK tells what went wrong).
    pub fn summary(&self) -> String {
        let ok = self
            .rounds
            .iter()
            .filter(|r| r.verdict() == Verdict::Ok)
            .count();
        let mut s = format!(
            "{}:{}: {ok} of {} run{} OK",
            display_host(&self.host),
            self.port,
            self.rounds.len(),
            if self.rounds.len() == 1 { "" } else { "s" }
        );
        if self.interrupted {
            let _ = write!(
                s,
                " (stopped after {} of {})",
                self.rounds.len(),
                self.asked
            );
        }
        let first_bad = self
            .rounds
            .iter()
            .enumerate()
            .find(|(_, r)| r.verdict() != Verdict::Ok);
        // Said once for all runs, not in the run quoted.
        if let Some(note) = self.rounds.iter().rev().find_map(Round::left_out_note) {
            let _ = write!(s, "; {note}");
        }
        if let Some((i, round)) = first_bad {
            let _ = write!(s, "; run {}: {}", i + 1, round.summary_noting(false));
        }
        s
    }

    /// Statistics per address (one series without `--all-addresses`), in
    /// the order addresses first appear.
    pub fn series(&self) -> Vec<Series> {
        let mut groups: Vec<(Option<String>, Vec<&Report>)> = Vec::new();
        for round in &self.rounds {
            for r in &round.reports {
                let key = round.all_addresses.then(|| address_label(r));
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, list)) => list.push(r),
                    None => groups.push((key, vec![r])),
                }
            }
        }
        groups
            .into_iter()
            .map(|(address, reports)| Series {
                address,
                steps: step_stats(&reports),
                total: stats(
                    "total",
                    reports
                        .iter()
                        .map(|r| (r.elapsed, r.verdict() >= Verdict::Critical)),
                ),
            })
            .collect()
    }
}

/// Each step's statistics, in the order steps first appear.
fn step_stats(reports: &[&Report]) -> Vec<StepStats> {
    let mut names: Vec<&'static str> = Vec::new();
    for r in reports {
        for s in &r.steps {
            if !names.contains(&s.name) {
                names.push(s.name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let ran = reports
                .iter()
                .flat_map(|r| r.steps.iter())
                .filter(|s| s.name == name && s.status != StepStatus::Skipped)
                .map(|s| (s.elapsed, s.status == StepStatus::Failed));
            stats(name, ran)
        })
        .collect()
}

/// Count, failures, minimum, median (the mean of the middle two for an
/// even count) and maximum of `(time, failed)` samples.
fn stats(name: &'static str, samples: impl Iterator<Item = (Duration, bool)>) -> StepStats {
    let mut times = Vec::new();
    let mut failed = 0;
    for (t, f) in samples {
        times.push(t);
        failed += usize::from(f);
    }
    times.sort();
    let n = times.len();
    let median = match n {
        0 => Duration::ZERO,
        _ if n % 2 == 1 => times[n / 2],
        _ => (times[n / 2 - 1] + times[n / 2]) / 2,
    };
    StepStats {
        name,
        runs: n,
        failed,
        min: times.first().copied().unwrap_or_default(),
        median,
        max: times.last().copied().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = stats("x", [3, 1, 2].iter().map(|&n| (ms(n), false)));
        assert_eq!((s.min, s.median, s.max, s.runs), (ms(1), ms(2), ms(3), 3));
        let s = stats("x", [4, 1, 2, 10].iter().map(|&n| (ms(n), n == 10)));
        assert_eq!((s.median, s.failed), (ms(3), 1));
        let s = stats("x", std::iter::empty());
        assert_eq!((s.runs, s.median), (0, Duration::ZERO));
    }

    fn round(reports: Vec<Report>, all: bool) -> Round {
        Round {
            host: "mail.example.org".into(),
            port: 993,
            security: Security::Tls,
            elapsed: ms(50),
            reports,
            all_addresses: all,
            left_out: 0,
        }
    }

    #[test]
    fn the_addresses_left_out_are_counted_in_the_summary() {
        let mut a = sample();
        a.address = Some("127.0.0.2:993".parse().expect("addr"));
        let mut r = round(vec![a.clone(), a], true);
        assert_eq!(r.left_out_note(), None);
        r.left_out = 8;
        assert_eq!(
            r.summary(),
            "mail.example.org: 2 of 2 addresses OK; 8 more addresses left out: only the first 2 are checked"
        );
        let rep = Repeated {
            host: "h".into(),
            port: 993,
            security: Security::Tls,
            asked: 2,
            rounds: vec![r.clone(), r.clone()],
            interrupted: false,
            elapsed: ms(100),
        };
        let summary = rep.summary();
        assert!(
            summary.starts_with(
                "h:993: 2 of 2 runs OK; 8 more addresses left out: only the first 2 are checked"
            ),
            "{summary}"
        );
        assert_eq!(summary.matches("left out").count(), 1, "{summary}");
        r.left_out = 1;
        r.reports.truncate(1);
        assert_eq!(
            r.left_out_note().as_deref(),
            Some("1 more address left out: only the first 1 is checked")
        );
    }

    #[test]
    fn a_round_is_as_bad_as_its_worst_address() {
        let ok = sample();
        let mut bad = sample();
        bad.address = Some("[2001:db8::5]:993".parse().expect("addr"));
        bad.steps[1].status = StepStatus::Failed;
        bad.error = Some((
            "connect",
            super::super::Failure {
                message: "connection refused".into(),
                ..Default::default()
            },
        ));
        let r = round(vec![ok.clone(), bad], true);
        assert_eq!(r.verdict(), Verdict::Critical);
        assert_eq!(
            r.summary(),
            "mail.example.org: 1 of 2 addresses OK; [2001:db8::5]:993 connect failed: connection refused"
        );
        assert_eq!(round(vec![ok.clone()], false).summary(), ok.summary());
    }

    #[test]
    fn series_per_address_and_skipped_steps_left_out() {
        let mut a = sample();
        a.address = Some("127.0.0.2:993".parse().expect("addr"));
        let mut b = a.clone();
        b.steps[0].elapsed = ms(3);
        b.steps[1].status = StepStatus::Failed;
        b.steps[1].elapsed = ms(7);
        let rep = Repeated {
            host: "h".into(),
            port: 993,
            security: Security::Tls,
            asked: 3,
            rounds: vec![round(vec![a.clone()], true), round(vec![b], true)],
            interrupted: true,
            elapsed: ms(100),
        };
        let series = rep.series();
        assert_eq!(series.len(), 1);
        assert_eq!(series[0].address.as_deref(), Some("127.0.0.2:993"));
        let connect = &series[0].steps[0];
        assert_eq!(
            (connect.runs, connect.min, connect.max),
            (2, a.steps[0].elapsed, ms(3))
        );
        let tls = &series[0].steps[1];
        assert_eq!(
            (tls.runs, tls.failed, tls.median),
            (1, 1, ms(7)),
            "skipped once"
        );
        assert_eq!(series[0].total.runs, 2);
        assert!(
            rep.summary()
                .starts_with("h:993: 1 of 2 runs OK (stopped after 2 of 3); run 2: ")
        );
    }
}
