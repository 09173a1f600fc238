//! Threshold ranges in the monitoring-plugins syntax, as `--messages`
//! takes them: `10` alerts above 10 (and below 0), `10:` below 10, `~:10`
//! above 10, `10:20` outside 10–20, `@10:20` inside 10–20 (ends
//! included). The text is kept as given, for perfdata and messages.

/// One range; `None` ends are infinite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    start: Option<i64>,
    end: Option<i64>,
    /// `@`: alert inside the range instead of outside.
    inside: bool,
    /// As given, for perfdata (which takes the same syntax).
    pub text: String,
}

impl Range {
    pub fn parse(text: &str) -> Result<Range, String> {
        let bad = || {
            format!(
                "'{}' is not a range: use 10, 10:, ~:10, 10:20 or @10:20",
                text.escape_default()
            )
        };
        let (inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let number = |s: &str| s.parse::<i64>().map_err(|_| bad());
        let (start, end) = match body.split_once(':') {
            Some((s, e)) => {
                let start = match s {
                    "~" => None,
                    "" => Some(0),
                    s => Some(number(s)?),
                };
                let end = if e.is_empty() { None } else { Some(number(e)?) };
                (start, end)
            }
            None => (Some(0), Some(number(body)?)),
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err(format!(
                "'{}': the range's start is above its end",
                text.escape_default()
            ));
        }
        Ok(Range {
            start,
            end,
            inside,
            text: text.to_string(),
        })
    }

    /// Whether `value` alerts.
    pub fn alerts(&self, value: i64) -> bool {
        let within = self.start.is_none_or(|s| value >= s) && self.end.is_none_or(|e| value <= e);
        within == self.inside
    }
}

/// `<warn>[,<crit>]`, either part may be empty (`,1000`).
pub fn parse_pair(flag: &str, text: &str) -> Result<(Option<Range>, Option<Range>), String> {
    let one = |s: &str| {
        if s.is_empty() {
            Ok(None)
        } else {
            Range::parse(s)
                .map(Some)
                .map_err(|e| format!("{flag}: {e}"))
        }
    };
    let (w, c) = match text.split_once(',') {
        Some((w, c)) => (one(w)?, one(c)?),
        None => (one(text)?, None),
    };
    if w.is_none() && c.is_none() {
        return Err(format!("{flag} takes <warn>[,<crit>], like 500,1000"));
    }
    Ok((w, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alerts(range: &str, values: &[i64]) -> Vec<bool> {
        let r = Range::parse(range).expect(range);
        values.iter().map(|&v| r.alerts(v)).collect()
    }

    #[test]
    fn every_form_at_its_boundaries() {
        assert_eq!(alerts("10", &[-1, 0, 10, 11]), [true, false, false, true]);
        assert_eq!(
            alerts("10:", &[9, 10, 11, 1 << 40]),
            [true, false, false, false]
        );
        assert_eq!(alerts("~:10", &[-5, 10, 11]), [false, false, true]);
        assert_eq!(
            alerts("10:20", &[9, 10, 20, 21]),
            [true, false, false, true]
        );
        assert_eq!(
            alerts("@10:20", &[9, 10, 20, 21]),
            [false, true, true, false]
        );
        assert_eq!(alerts("1:", &[0, 1]), [true, false]);
        assert_eq!(alerts(":5", &[-1, 0, 5, 6]), [true, false, false, true]);
    }

    #[test]
    fn bad_ranges_and_pairs() {
        for bad in ["", "x", "10:5", "@", "1.5", "~", "10:x", "--1"] {
            assert!(Range::parse(bad).is_err(), "{bad:?} accepted");
        }
        let (w, c) = parse_pair("--messages", "500,1000").expect("pair");
        assert_eq!(
            (w.map(|r| r.text), c.map(|r| r.text)),
            (Some("500".into()), Some("1000".into()))
        );
        let (w, c) = parse_pair("--messages", ",1:").expect("crit only");
        assert!(w.is_none() && c.is_some());
        assert!(parse_pair("--messages", ",").is_err());
        assert!(parse_pair("--messages", "1,x").is_err());
    }
}
