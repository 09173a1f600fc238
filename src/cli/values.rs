//! Flag values with ranges of their own, checked: the deadline, the
//! certificate days of `-D`, `--repeat` and `--interval`.

use std::time::Duration;

use super::Format;

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
