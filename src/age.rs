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

/// Why an INTERNALDATE gives no time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadDate {
    /// Not an RFC 3501 date-time.
    Unreadable,
    /// A date-time whose year (these digits, cut short) is outside
    /// `der::SANE_YEARS`: a server's quirk, not a date.
    Year(String),
}

/// How many digits of an impossible year a detail shows.
const YEAR_SHOWN: usize = 24;

/// RFC 3501 date-time `17-Jul-1996 02:44:25 -0700` as Unix seconds. The
/// arithmetic is checked: no input overflows, in a debug build either.
pub fn internal_date_unix(text: &str) -> Result<i64, BadDate> {
    use BadDate::Unreadable;
    let (date, rest) = text.trim().split_once(' ').ok_or(Unreadable)?;
    let (time, zone) = rest.split_once(' ').ok_or(Unreadable)?;
    let mut d = date.split('-');
    let day = number(d.next().ok_or(Unreadable)?.trim(), 2)?;
    let month = match d.next().ok_or(Unreadable)? {
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
        _ => return Err(Unreadable),
    };
    let year_text = d.next().ok_or(Unreadable)?;
    if d.next().is_some() || year_text.is_empty() || !year_text.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(Unreadable);
    }
    let mut t = time.split(':');
    let mut field = || number(t.next().ok_or(Unreadable)?, 2);
    let (h, m, s) = (field()?, field()?, field()?);
    if t.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return Err(Unreadable);
    }
    let sign = match zone.as_bytes() {
        [b'+', ..] => 1,
        [b'-', ..] => -1,
        _ => return Err(Unreadable),
    };
    let digits = zone.get(1..).filter(|z| z.len() == 4).ok_or(Unreadable)?;
    let zh = number(digits.get(..2).ok_or(Unreadable)?, 2)?;
    let zm = number(digits.get(2..).ok_or(Unreadable)?, 2)?;
    // Only now the year: a line that is no date at all is unreadable,
    // whatever its digits.
    let year = year_text
        .parse::<i64>()
        .ok()
        .filter(|y| der::SANE_YEARS.contains(y))
        .ok_or_else(|| BadDate::Year(cut_digits(year_text)))?;
    let local = der::days_from_civil(year, month, u32::try_from(day).map_err(|_| Unreadable)?)
        .and_then(|days| der::unix_seconds(days, h, m, s))
        .ok_or(Unreadable)?;
    let offset = zh
        .checked_mul(3600)
        .and_then(|z| z.checked_add(zm.checked_mul(60)?))
        .and_then(|z| z.checked_mul(sign))
        .ok_or(Unreadable)?;
    local.checked_sub(offset).ok_or(Unreadable)
}

/// One to `max` ASCII digits as a number (no sign, no space).
fn number(text: &str, max: usize) -> Result<i64, BadDate> {
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadDate::Unreadable);
    }
    text.parse().map_err(|_| BadDate::Unreadable)
}

/// An impossible year's digits for a detail: the first few, and how many
/// more there were.
fn cut_digits(digits: &str) -> String {
    match digits.get(..YEAR_SHOWN) {
        Some(head) if digits.len() > YEAR_SHOWN => {
            format!("{head}… ({} more digits)", digits.len() - YEAR_SHOWN)
        }
        _ => digits.to_string(),
    }
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
    /// An INTERNALDATE in a year outside 1970-9999 (these digits): a
    /// quirk, not a date, so the age cannot be told either.
    ImpossibleYear(String),
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
        assert_eq!(internal_date_unix("01-Jan-1970 00:00:00 +0000"), Ok(0));
        assert_eq!(
            internal_date_unix("03-Jan-2024 10:00:00 +0000"),
            Ok(1_704_276_000)
        );
        assert_eq!(
            internal_date_unix(" 3-Jan-2024 12:00:00 +0200"),
            Ok(1_704_276_000)
        );
        assert_eq!(
            internal_date_unix("17-Jul-1996 02:44:25 -0700"),
            Ok(837_596_665)
        );
        assert_eq!(
            internal_date_unix("31-Dec-9999 23:59:59 +0000"),
            Ok(253_402_300_799)
        );
        // The widest offsets the four digits allow, either way.
        assert_eq!(
            internal_date_unix("31-Dec-9999 23:59:59 -9999"),
            Ok(253_402_300_799 + 99 * 3600 + 99 * 60)
        );
        assert_eq!(
            internal_date_unix("01-Jan-1970 00:00:00 +9999"),
            Ok(-(99 * 3600 + 99 * 60))
        );
        for bad in [
            "",
            "17-Jux-1996 02:44:25 -0700",
            "17-Jul-1996 02:44 -0700",
            "x",
            "17-Jul-1996 -1:44:25 -0700",
            "17-Jul-1996 +1:44:25 -0700",
            "17-Jul-1996 02:44:25 +-100",
            "17-Jul-1996 02:44:25 -07000",
            "17-Jul-1996 02:44:25:00 -0700",
            "17-Jul--1996 02:44:25 -0700",
            "17-Jul-+1996 02:44:25 -0700",
            "17-Jul-1996-1 02:44:25 -0700",
            "999-Jul-1996 02:44:25 -0700",
            "17-Jul-10000 99:44:25 -0700",
            "99999999999999999999-Jul-1996 02:44:25 -0700",
            "17-Jul-1996 99999999999999999999:44:25 -0700",
            "17-Jul-1996 02:-9223372036854775808:25 -0700",
            "17-Jul-1996 02:44:25 -99999",
        ] {
            assert_eq!(internal_date_unix(bad), Err(BadDate::Unreadable), "{bad:?}");
        }
    }

    #[test]
    fn years_outside_1970_to_9999_are_a_quirk_not_a_date() {
        for (date, year) in [
            ("01-Jan-0 00:00:00 +0000", "0"),
            ("01-Jan-0000 00:00:00 +0000", "0000"),
            ("31-Dec-1969 23:59:59 +0000", "1969"),
            ("01-Jan-10000 00:00:00 +0000", "10000"),
            (
                "17-Jul-3020249310414753600 02:44:25 -0700",
                "3020249310414753600",
            ),
            (
                "17-Jul-99999999999999999999999999999999 02:44:25 -0700",
                "999999999999999999999999… (8 more digits)",
            ),
        ] {
            assert_eq!(
                internal_date_unix(date),
                Err(BadDate::Year(year.to_string())),
                "{date}"
            );
        }
    }

    /// Random date-times, most of them nearly right, some of every size:
    /// none panics (a debug build checks every overflow), and whatever
    /// converts is within the years a date may have.
    #[test]
    fn random_internal_dates_never_panic() {
        let mut rng = crate::test_input::Xorshift::new(0x1d47_e000_0000_0008);
        let months = ["Jan", "Feb", "Dec", "Foo", ""];
        let pick = |rng: &mut crate::test_input::Xorshift| -> String {
            match rng.next() % 6 {
                0 => rng.next().to_string(),
                1 => (rng.next() as i64).to_string(),
                2 => "9".repeat((rng.next() % 40) as usize),
                _ => (rng.next() % 64).to_string(),
            }
        };
        let (mut dates, mut years) = (0, 0);
        for _ in 0..100_000 {
            let year = match rng.next() % 3 {
                0 => (1900 + rng.next() % 8200).to_string(),
                _ => pick(&mut rng),
            };
            let month = months[(rng.next() % months.len() as u64) as usize];
            let sign = ["+", "-", ""][(rng.next() % 3) as usize];
            let text = format!(
                "{}-{month}-{year} {}:{}:{} {sign}{:04}",
                pick(&mut rng),
                pick(&mut rng),
                pick(&mut rng),
                pick(&mut rng),
                rng.next() % 10_000
            );
            match internal_date_unix(&text) {
                Ok(secs) => {
                    dates += 1;
                    // 1970 to 9999, give or take the widest offset.
                    let zone = 99 * 3600 + 99 * 60;
                    assert!(
                        (-zone..=253_402_300_799 + zone).contains(&secs),
                        "{text} -> {secs}"
                    );
                    let _ = judge(secs, der::now_unix(), 3600, Some(86_400));
                }
                Err(BadDate::Year(_)) => years += 1,
                Err(BadDate::Unreadable) => {}
            }
        }
        // The generator reaches both the dates and the impossible years.
        assert!(dates > 100 && years > 100, "{dates} dates, {years} years");
    }

    #[test]
    fn judging_never_overflows() {
        for (date, now) in [
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (i64::MIN, i64::MIN),
            (0, i64::MAX),
        ] {
            let _ = judge(date, now, u64::MAX, Some(u64::MAX));
            let _ = judge(date, now, 0, None);
        }
        assert_eq!(
            judge(i64::MIN, i64::MAX, 60, Some(120)),
            Age::Critical(i64::MAX as u64)
        );
        assert_eq!(
            judge(i64::MAX, i64::MIN, 60, None),
            Age::Skew(i64::MAX as u64 + 1)
        );
        assert_eq!(human(u64::MAX), "213503982334601d 7h");
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
