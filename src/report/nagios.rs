//! `--format nagios`: one Nagios/Icinga plugin line with performance data
//! (the total time against -w/-c, each step that ran, the message count,
//! the certificate's days left), then any ALERTs on lines of their own.
//! Perfdata are as the monitoring-plugins guidelines spell them,
//! `label=value[UOM];warn;crit;min;max`, each threshold filled where one is
//! set. Labels are step names and fixed words, never with a space, `=` or
//! a quote, so they need no quoting.

use std::fmt::Write as _;

use std::time::Duration;

use super::{Renderer, Repeated, Report, Round, StepStatus, address_label};

pub struct Nagios;

impl Renderer for Nagios {
    /// `IMAP OK - ... | time=0.045123s;1;2;0;10 connect=0.000300s ...`
    fn end(&self, report: &Report) -> String {
        let v = report.verdict();
        let mut perf = time_perf("time", report.elapsed, Some(report));
        for s in report
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Skipped)
        {
            let _ = write!(perf, " {}={:.6}s;;;0", s.name, s.elapsed.as_secs_f64());
        }
        // With --search, --messages judges the matches: its thresholds
        // go with `matches`.
        let (count_warn, count_crit) = (
            report.messages_warn.as_deref().unwrap_or_default(),
            report.messages_crit.as_deref().unwrap_or_default(),
        );
        if let Some(mb) = &report.mailbox {
            let (w, c) = if report.search.is_some() {
                ("", "")
            } else {
                (count_warn, count_crit)
            };
            let _ = write!(perf, " messages={};{w};{c};0", mb.exists);
        }
        if let Some(s) = &report.search {
            let _ = write!(perf, " matches={};{count_warn};{count_crit};0", s.matches);
        }
        if let Some(age) = report.message.as_ref().and_then(|m| m.age_s) {
            let (warn, crit) = report.max_age.unzip();
            let opt = |x: Option<u64>| x.map(|v| v.to_string()).unwrap_or_default();
            let _ = write!(
                perf,
                " newest_age={age}s;{};{};0",
                opt(warn),
                opt(crit.flatten())
            );
        }
        for (resource, pct) in quota_percents(report) {
            let _ = write!(
                perf,
                " quota_{resource}={pct:.1}%;{};{};0;100",
                report.quota_warn, report.quota_crit
            );
        }
        if let Some(rt) = &report.round_trip
            && let Some(delay) = rt.delay_secs
        {
            let opt = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
            let _ = write!(
                perf,
                " arrival={delay:.6}s;{};{};0",
                opt(rt.warn_secs),
                opt(rt.crit_secs)
            );
        }
        if let Some(days) = report.tls.as_ref().and_then(|t| t.days_left) {
            // Fewer days left is worse: the range `N:` alerts below N.
            let below = |d: Option<i64>| d.map(|d| format!("{d}:")).unwrap_or_default();
            let _ = write!(
                perf,
                " cert_days={days};{};{}",
                below(report.cert_warn_days),
                below(report.cert_crit_days)
            );
        }
        plugin_output(v, &report.summary(), &perf, &report.alerts)
    }

    /// The round's verdict and summary; perfdata: the round's time, then
    /// each address's own total time against -w/-c.
    fn round(&self, round: &Round) -> String {
        let first = round.reports.first();
        let mut perf = time_perf("time", round.elapsed, first);
        for r in &round.reports {
            let label = format!("time {}", address_label(r));
            let _ = write!(perf, " {}", time_perf(&label, r.elapsed, Some(r)));
        }
        if round.all_addresses {
            let _ = write!(perf, " addresses_left_out={};;;0", round.left_out);
        }
        let alerts: Vec<String> = round
            .reports
            .iter()
            .flat_map(|r| r.alerts.clone())
            .collect();
        plugin_output(round.verdict(), &round.summary(), &perf, &alerts)
    }

    /// The worst verdict; perfdata: the medians, `time` being the whole
    /// check's, per address with `--all-addresses`.
    fn repeated(&self, rep: &Repeated) -> String {
        let first = rep.rounds.first().and_then(|r| r.reports.first());
        let mut perf = Vec::new();
        for series in rep.series() {
            let suffix = series.address.map(|a| format!(" {a}")).unwrap_or_default();
            let total = format!("time{suffix}");
            perf.push(time_perf(&total, series.total.median, first));
            for s in series.steps.iter().filter(|s| s.runs > 0) {
                perf.push(format!(
                    "{}={:.6}s;;;0",
                    perf_label(&format!("{}{suffix}", s.name)),
                    s.median.as_secs_f64()
                ));
            }
        }
        plugin_output(rep.verdict(), &rep.summary(), &perf.join(" "), &[])
    }
}

/// `IMAP <VERDICT> - <summary> | <perfdata>`, then ALERT lines.
fn plugin_output(v: super::Verdict, summary: &str, perf: &str, alerts: &[String]) -> String {
    // '|' starts performance data; keep it out of the human part, and
    // server text (a folder name, an ALERT) on its one line, escaped.
    let mut out = format!(
        "IMAP {} - {} | {perf}",
        v.upper(),
        super::terminal(summary).replace('|', "/")
    );
    for alert in alerts {
        let _ = write!(
            out,
            "\n[ALERT] {}",
            super::terminal(alert).replace('|', "/")
        );
    }
    out
}

/// A total time against -w/-c, from 0 to the deadline (`like`'s settings,
/// which every check of a run shares).
fn time_perf(label: &str, t: Duration, like: Option<&Report>) -> String {
    let opt = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
    let (warn, crit, max) = like.map_or((None, None, 0.0), |r| {
        (r.warn_secs, r.crit_secs, r.timeout_secs)
    });
    format!(
        "{}={:.6}s;{};{};0;{max}",
        perf_label(label),
        t.as_secs_f64(),
        opt(warn),
        opt(crit)
    )
}

/// A perfdata label: as it is when it is a plain word, else in single
/// quotes (a space, `[::1]`); a label can hold neither `=` nor `'`.
fn perf_label(label: &str) -> String {
    let clean: String = label.chars().filter(|&c| c != '=' && c != '\'').collect();
    if clean
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        clean
    } else {
        format!("'{clean}'")
    }
}

/// Per quota resource (lower case), the highest usage in percent over
/// the folder's quota roots: one label each, whatever the roots are
/// called. Resources whose names are not plain words, and those without
/// a limit, are left out; the JSON has them all.
fn quota_percents(report: &Report) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for q in report.quota.iter().flatten() {
        let plain = !q.resource.is_empty()
            && q.resource
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain || q.limit == 0 {
            continue;
        }
        let pct = q.used as f64 * 100.0 / q.limit as f64;
        let name = q.resource.to_ascii_lowercase();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, p)) => *p = p.max(pct),
            None => out.push((name, pct)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::super::{Failure, StepStatus};
    use super::*;

    #[test]
    fn server_text_stays_on_the_plugin_line_escaped() {
        let alerts = vec!["x\x1b]52;c;ZXZpbA==\x07\ny".to_string()];
        let out = plugin_output(
            super::super::Verdict::Critical,
            "list failed: INBOX\r\nIMAP OK - forged\u{9b}|\u{202e}",
            "time=1s",
            &alerts,
        );
        assert_eq!(
            out,
            "IMAP CRITICAL - list failed: INBOX\\r\\nIMAP OK - forged\\x9b/\\u{202e} | time=1s\n\
             [ALERT] x\\x1b]52;c;ZXZpbA==\\x07\\ny"
        );
    }

    #[test]
    fn nagios_line_and_perfdata() {
        let mut r = sample();
        r.warn_secs = Some(1.0);
        assert_eq!(
            Nagios.end(&r),
            "IMAP OK - [::1]:993 connect in 0.045s | time=0.045000s;1;;0;10 connect=0.001234s;;;0"
        );
        r.tls = Some(crate::report::TlsReport {
            name: "::1".into(),
            verified: true,
            subject: None,
            issuer: None,
            not_after: None,
            not_after_unix: None,
            days_left: Some(20),
            session: None,
        });
        r.cert_warn_days = Some(30);
        r.cert_crit_days = Some(14);
        assert!(Nagios.end(&r).ends_with(" cert_days=20;30:;14:"));
        r.cert_crit_days = None;
        assert!(Nagios.end(&r).ends_with(" cert_days=20;30:;"));
        r.error = Some((
            "greeting",
            Failure {
                message: "a|b".into(),
                ..Failure::default()
            },
        ));
        r.steps[2].status = StepStatus::Failed;
        assert!(
            Nagios
                .end(&r)
                .starts_with("IMAP CRITICAL - [::1]:993: greeting failed: a/b | time=")
        );
    }
}
