//! Flag values with ranges of their own, checked: the deadline, the
//! certificate days of `-D`, `--repeat` and `--interval`, `--label`.

use std::time::Duration;

use super::Format;
use crate::report::BUILT_IN_LABELS;

/// The longest `--timeout` accepted: a check that needs more than an hour
/// is not a check; the cap also keeps Duration arithmetic far from overflow.
const MAX_TIMEOUT_SECS: f64 = 3600.0;

/// `--timeout`, 10 s by default.
pub(super) fn timeout(secs: Option<f64>) -> Result<Duration, String> {
    let secs = secs.unwrap_or(10.0);
    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
        return Err(format!(
            "--timeout must be more than 0 and at most {MAX_TIMEOUT_SECS} seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The most runs `--repeat` takes: an hour of runs at the default
/// interval. Every run's report is kept until the end (JSON's `runs`, the
/// statistics); measured against Dovecot, a run costs about 30 KiB of
/// peak memory with `--format json`, so the cap holds a repeat near
/// 100 MiB. Longer watching is a service's job, not a check's.
const MAX_REPEAT: u32 = 3_600;

/// The longest `--interval`: an hour, like `--timeout`.
const MAX_INTERVAL_SECS: f64 = 3600.0;

/// `--repeat` and `--interval`, checked.
pub(super) fn repetition(
    repeat: Option<u32>,
    interval: Option<f64>,
    format: Format,
) -> Result<(Option<u32>, Duration), String> {
    let Some(n) = repeat else {
        return match interval {
            Some(_) => Err("--interval needs --repeat".into()),
            None => Ok((None, Duration::ZERO)),
        };
    };
    if !(1..=MAX_REPEAT).contains(&n) {
        return Err(format!("--repeat must be between 1 and {MAX_REPEAT}"));
    }
    if format == Format::OpenMetrics {
        return Err(
            "--repeat makes a result per run and OpenMetrics holds one: use --format json".into(),
        );
    }
    let secs = interval.unwrap_or(1.0);
    if !(0.0..=MAX_INTERVAL_SECS).contains(&secs) {
        return Err(format!(
            "--interval must be 0 to {MAX_INTERVAL_SECS} seconds"
        ));
    }
    Ok((Some(n), Duration::from_secs_f64(secs)))
}

/// The certificate thresholds from `-D warn[,crit]` or the two
/// `--cert-*-days` flags (not both ways at once): warn defaults to 14
/// days, crit to off.
pub(super) fn cert_days(
    certificate: Option<&str>,
    warn: Option<u32>,
    crit: Option<u32>,
) -> Result<(i64, Option<i64>), String> {
    let (warn, crit) = match certificate {
        Some(_) if warn.is_some() || crit.is_some() => {
            return Err("-D/--certificate excludes --cert-warn-days and --cert-crit-days".into());
        }
        Some(spec) => {
            let days = |s: &str| {
                s.trim().parse::<u32>().map_err(|_| {
                    format!(
                        "-D/--certificate takes days as <warn>[,<crit>], like 30,14, not '{}'",
                        spec.escape_default()
                    )
                })
            };
            match spec.split_once(',') {
                Some((w, c)) => (days(w)?, Some(days(c)?)),
                None => (days(spec)?, None),
            }
        }
        None => (warn.unwrap_or(14), crit),
    };
    if let Some(c) = crit
        && c > warn
    {
        return Err(format!(
            "the certificate's critical days ({c}) must not be more than its warning days ({warn})"
        ));
    }
    Ok((i64::from(warn), crit.map(i64::from)))
}

/// `--label name=value`, each checked: a Prometheus label name
/// (`[a-zA-Z_][a-zA-Z0-9_]*`), not `__`-prefixed (Prometheus's own), not
/// a built-in one, not given twice; the value not empty (Prometheus takes
/// an empty label for a missing one, so it would not tell checks apart).
pub(super) fn labels(list: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(list.len());
    for given in list {
        let shown = || given.escape_default().to_string();
        let Some((name, value)) = given.split_once('=') else {
            return Err(format!("--label takes name=value, not '{}'", shown()));
        };
        let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "--label '{}': a label name is letters, digits and _, not starting with a digit",
                shown()
            ));
        }
        if name.starts_with("__") {
            return Err(format!(
                "--label '{}': names starting with __ are reserved for Prometheus",
                shown()
            ));
        }
        if BUILT_IN_LABELS.contains(&name) {
            return Err(format!(
                "--label '{}': imapcheck sets the label {name} itself (its own labels: {})",
                shown(),
                BUILT_IN_LABELS.join(", ")
            ));
        }
        if value.is_empty() {
            return Err(format!(
                "--label '{}': the value is empty, which Prometheus takes for no label",
                shown()
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!("--label {name} is given twice"));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

/// `--min-tls <warn>[,<crit>]`: `1.2`, `1.3`, or `1.3,1.2`.
pub fn min_tls(text: &str) -> Result<super::TlsFloor, String> {
    let version = |v: &str| match v.trim() {
        "1.2" => Ok(0x0303),
        "1.3" => Ok(0x0304),
        other => Err(format!(
            "--min-tls takes 1.2 or 1.3 (a warning floor, then optionally ,<critical floor>), not {other:?}"
        )),
    };
    let (warn, crit) = match text.split_once(',') {
        Some((w, c)) => (version(w)?, Some(version(c)?)),
        None => (version(text)?, None),
    };
    if crit.is_some_and(|c| c > warn) {
        return Err(
            "--min-tls <warn>,<crit>: the critical floor cannot be above the warning floor".into(),
        );
    }
    Ok(super::TlsFloor { warn, crit })
}

#[cfg(test)]
mod min_tls_tests {
    use super::*;

    #[test]
    fn min_tls_takes_a_floor_and_an_optional_critical_one() {
        let floor = |w, c| Ok(super::super::TlsFloor { warn: w, crit: c });
        assert_eq!(min_tls("1.2"), floor(0x0303, None));
        assert_eq!(min_tls("1.3,1.2"), floor(0x0304, Some(0x0303)));
        assert_eq!(min_tls("1.3,1.3"), floor(0x0304, Some(0x0304)));
        assert!(min_tls("1.2,1.3").is_err());
        assert!(min_tls("1.1").is_err());
        assert!(min_tls("").is_err());
    }
}
