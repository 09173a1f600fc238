//! `--max-age`: durations as the flag takes them (`90s`, `30m`, `2h`,
//! `1d`, a bare number of seconds), IMAP INTERNALDATE as a Unix time, and
//! the verdict on a message's age by this host's clock.

use crate::der;

/// The longest `--max-age` accepted: an age is the difference of two
/// signed Unix times, so none is longer. Any shorter duration is taken:
/// a refusal would be exit 3, UNKNOWN to the monitoring.
const MAX_AGE_SECS: u64 = i64::MAX as u64;

/// How far in the future an INTERNALDATE may be before it is clock skew
/// rather than a message just delivered between two clocks a little apart.
pub const SKEW_TOLERANCE_SECS: i64 = 60;

/// `90s`, `30m`, `2h`, `1d` or `90` (seconds) as seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "'{}' is not a duration: use 90s, 30m, 2h, 1d or seconds",
            text.escape_default()
        )
    };
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let factor = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    match n.checked_mul(factor) {
        Some(secs) if secs <= MAX_AGE_SECS => Ok(secs),
        // Said in the unit the user wrote.
        _ => Err(format!(
            "--max-age: '{text}' is too long: at most {}{}",
            MAX_AGE_SECS / factor,
            if unit.is_empty() { " seconds" } else { unit }
        )),
    }
}

/// `warn[,crit]` durations; crit, when given, not below warn.
pub fn parse_pair(text: &str) -> Result<(u64, Option<u64>), String> {
    let (w, c) = match text.split_once(',') {
        Some((w, c)) => (parse_duration(w)?, Some(parse_duration(c)?)),
        None => (parse_duration(text)?, None),
    };
    if c.is_some_and(|c| c < w) {
        return Err("--max-age: the critical age must not be below the warning age".into());
    }
    Ok((w, c))
}

/// RFC 3501 date-time `17-Jul-1996 02:44:25 -0700` as Unix seconds.
pub fn internal_date_unix(text: &str) -> Option<i64> {
    let (date, rest) = text.trim().split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let mut d = date.split('-');
    let day: u32 = d.next()?.trim().parse().ok()?;
    let month = match d.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = d.next()?.parse().ok()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 || zone.len() != 5 {
        return None;
    }
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    let local = der::days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s;
    Some(local - sign * (zh * 3600 + zm * 60))
}

/// What `--max-age` finds for a message dated `date` at `now`.
#[derive(Debug, PartialEq, Eq)]
pub enum Age {
    /// Seconds old (0 for a date up to a minute ahead).
    Fresh(u64),
    Warning(u64),
    Critical(u64),
    /// Dated this many seconds in the future, beyond the tolerance.
    Skew(u64),
    /// No INTERNALDATE, or one that does not parse: the age cannot be told.
    Unknown,
}

/// The verdict on an age: older than a threshold alerts, exactly as old
/// does not.
pub fn judge(date: i64, now: i64, warn: u64, crit: Option<u64>) -> Age {
    let age = now.saturating_sub(date);
    if age < -SKEW_TOLERANCE_SECS {
        return Age::Skew(age.unsigned_abs());
    }
    let age = age.max(0).unsigned_abs();
    if crit.is_some_and(|c| age > c) {
        Age::Critical(age)
    } else if age > warn {
        Age::Warning(age)
    } else {
        Age::Fresh(age)
    }
}

/// `3d 4h` style, for details.
pub fn human(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("2h"), Ok(7200));
        assert_eq!(parse_duration("1d"), Ok(86_400));
        for bad in ["", "s", "1w", "-1", "1.5h", "1 h", "999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_pair("30m,2h"), Ok((1800, Some(7200))));
        assert_eq!(parse_pair("1d"), Ok((86_400, None)));
        assert!(parse_pair("2h,30m").is_err());
    }

    #[test]
    fn long_durations_are_taken_and_limits_use_the_units_given() {
        assert_eq!(parse_duration("3650d"), Ok(3650 * 86_400));
        assert_eq!(parse_duration("36500d"), Ok(36_500 * 86_400));
        assert_eq!(parse_duration("876000h"), Ok(876_000 * 3600));
        let max_days = i64::MAX as u64 / 86_400;
        assert_eq!(
            parse_duration(&format!("{max_days}d")),
            Ok(max_days * 86_400)
        );
        let too_long = parse_duration(&format!("{}d", max_days + 1)).unwrap_err();
        assert!(
            too_long.contains(&format!("at most {max_days}d")),
            "{too_long}"
        );
        let too_long = parse_duration("99999999999999999999").unwrap_err();
        assert!(!too_long.contains("at most"), "not a number: {too_long}");
        let too_long = parse_duration(&format!("{}", i64::MAX as u64 + 1)).unwrap_err();
        assert!(
            too_long.contains(&format!("at most {} seconds", i64::MAX)),
            "{too_long}"
        );
    }

    #[test]
    fn internal_dates() {
        assert_eq!(internal_date_unix("01-Jan-1970 00:00:00 +0000"), Some(0));
        assert_eq!(
            internal_date_unix("03-Jan-2024 10:00:00 +0000"),
            Some(1_704_276_000)
        );
        assert_eq!(
            internal_date_unix(" 3-Jan-2024 12:00:00 +0200"),
            Some(1_704_276_000)
        );
        assert_eq!(
            internal_date_unix("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        for bad in [
            "",
            "17-Jux-1996 02:44:25 -0700",
            "17-Jul-1996 02:44 -0700",
            "x",
        ] {
            assert_eq!(internal_date_unix(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ages_at_the_boundaries() {
        let now = 1_000_000;
        assert_eq!(judge(now - 60, now, 60, Some(120)), Age::Fresh(60));
        assert_eq!(judge(now - 61, now, 60, Some(120)), Age::Warning(61));
        assert_eq!(judge(now - 120, now, 60, Some(120)), Age::Warning(120));
        assert_eq!(judge(now - 121, now, 60, Some(120)), Age::Critical(121));
        assert_eq!(judge(now - 121, now, 60, None), Age::Warning(121));
        assert_eq!(judge(now + 60, now, 60, None), Age::Fresh(0));
        assert_eq!(judge(now + 61, now, 60, None), Age::Skew(61));
        assert_eq!(human(93_784), "1d 2h");
        assert_eq!(human(61), "1m 1s");
    }
}
