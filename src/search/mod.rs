//! Arrival checks (`--search`): which messages of the folder count. The
//! keys are checked before connecting (`keys`); the server's answer is
//! counted as it streams, keeping only the newest matches (`tally`). The
//! search step itself is `check::search`.

pub mod dates;
pub mod keys;
pub mod tally;

pub use keys::{Extension, SearchKeys, Word};
pub use tally::Tally;

/// `--search` and `--search-within` checked against each other and the
/// flags they depend on: the keys, and the duration in seconds.
pub fn configure(
    search: Option<&str>,
    within: Option<&str>,
    logged_in: bool,
    message: bool,
) -> Result<(Option<SearchKeys>, Option<u64>), String> {
    if search.is_none() && within.is_none() {
        return Ok((None, None));
    }
    let flag = if search.is_some() {
        "--search"
    } else {
        "--search-within"
    };
    if !logged_in {
        return Err(format!(
            "{flag} needs -u: without a login no folder is searched"
        ));
    }
    if message {
        return Err(format!(
            "{flag} fetches the newest match: it excludes --message"
        ));
    }
    let within = match within {
        Some(text) => {
            let secs = crate::age::parse_duration(text)
                .map_err(|e| format!("--search-within: {}", e.trim_start_matches("--max-age: ")))?;
            if secs == 0 {
                return Err("--search-within must be more than 0".into());
            }
            Some(secs)
        }
        None => None,
    };
    let keys = keys::parse(search.unwrap_or("ALL"))?;
    Ok((Some(keys), within))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_together() {
        assert_eq!(configure(None, None, false, true), Ok((None, None)));
        let (k, w) = configure(None, Some("2h"), true, false).expect("within alone");
        assert_eq!((k.map(|k| k.text), w), (Some("ALL".into()), Some(7200)));
        type Row<'a> = (Option<&'a str>, Option<&'a str>, bool, bool, &'a str);
        let table: &[Row] = &[
            (Some("SEEN"), None, false, false, "--search needs -u"),
            (None, Some("1h"), false, false, "--search-within needs -u"),
            (Some("SEEN"), None, true, true, "excludes --message"),
            (Some("SEEN"), Some("0"), true, false, "more than 0"),
            (
                Some("SEEN"),
                Some("1w"),
                true,
                false,
                "--search-within: '1w' is not a duration",
            ),
            (
                Some("FORM x"),
                None,
                true,
                false,
                "unknown search key 'FORM'",
            ),
        ];
        for (s, w, user, msg, want) in table {
            match configure(*s, *w, *user, *msg) {
                Ok(c) => panic!("{s:?} {w:?} accepted: {c:?}"),
                Err(e) => assert!(e.contains(want), "{e}"),
            }
        }
    }
}
