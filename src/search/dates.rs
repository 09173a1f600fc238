//! The SEARCH grammar's dates and sequence sets (RFC 3501 `date-text`,
//! `sequence-set`), checked for `--search`, and the SINCE date that
//! `--search-within` sends where the server has no WITHIN.

/// RFC 3501 sequence-set: `1`, `2:4`, `*`, `5:*`, `1,3:5`; `$` (RFC 5182).
pub fn is_sequence_set(text: &str) -> bool {
    if text == "$" {
        return true;
    }
    let number = |s: &str| {
        s == "*"
            || (!s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && !s.starts_with('0')
                && s.parse::<u32>().is_ok())
    };
    !text.is_empty()
        && text.split(',').all(|part| match part.split_once(':') {
            Some((a, b)) => number(a) && number(b),
            None => number(part),
        })
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 3501 `date-text`: 1-2 digit day, a month's three letters, a
/// four-digit year; the day must exist in that month.
pub fn is_date(text: &str) -> bool {
    let mut parts = text.split('-');
    let (Some(d), Some(m), Some(y), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits =
        |s: &str, lens: &[usize]| lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(d, &[1, 2]) || !digits(y, &[4]) {
        return false;
    }
    let Some(month) = MONTHS.iter().position(|n| n.eq_ignore_ascii_case(m)) else {
        return false;
    };
    let (day, year): (u32, u32) = match (d.parse(), y.parse()) {
        (Ok(d), Ok(y)) => (d, y),
        _ => return false,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    (1..=days[month]).contains(&day)
}

/// A Unix time's UTC day as RFC 3501 `date-text`, for SINCE.
pub fn date_text(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{}-{}-{:04}", day, MONTHS[(month - 1) as usize], year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_sets_and_dates() {
        for ok in ["1", "*", "1:*", "2,4:6,9", "$", "4294967295"] {
            assert!(is_sequence_set(ok), "{ok}");
        }
        for bad in ["", "0", "1:", ",1", "a", "1;2", "4294967296", "01"] {
            assert!(!is_sequence_set(bad), "{bad}");
        }
        for ok in ["1-Feb-2024", "29-Feb-2024", "01-jan-1999", "31-Dec-2030"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "29-Feb-2023",
            "0-Jan-2024",
            "1-Feb",
            "1-Feb-2024-1",
            "123-Feb-2024",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
        assert_eq!(date_text(0), "1-Jan-1970");
        assert_eq!(date_text(1_704_276_000), "3-Jan-2024");
        assert_eq!(date_text(951_782_400), "29-Feb-2000");
    }
}
