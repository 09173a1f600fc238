//! The answer to a SEARCH, kept small: the number of matches and the
//! highest (newest) few sequence numbers, never every number.
//!
//! A plain `* SEARCH 1 2 3 …` answer (RFC 3501 7.2.5) is one line however
//! many messages match: two million matches are a line of about 16 MB, far
//! beyond the parser's line limit. The session hands such a line's bytes
//! to [`Tally::feed`] as they arrive, which counts the numbers one byte at
//! a time, in constant memory. An ESEARCH answer (RFC 4731,
//! `* ESEARCH (TAG "x") COUNT n MAX m`) is short and read whole by
//! [`Tally::esearch`]; anything in it not understood is a quirk, kept as
//! text, never a failure.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::report::escape_cut;

/// How many of the highest matches are kept: the candidates whose
/// INTERNALDATE `--search-within` checks exactly where the server has no
/// WITHIN. A thousand numbers are 4 KB, and their FETCH one short command.
pub const KEEP_NEWEST: usize = 1000;

/// Longest number accepted in a SEARCH answer: a u32 has 10 digits.
const MAX_DIGITS: u32 = 10;

/// How much of an answer not understood is kept for the report.
const QUIRK_CUT: usize = 200;

/// The answer to one SEARCH.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Matches counted (plain SEARCH) or announced (ESEARCH COUNT).
    pub count: u64,
    /// The highest match: ESEARCH MAX, or the highest number seen.
    pub max: Option<u32>,
    /// The highest matches seen in a plain SEARCH, at most KEEP_NEWEST.
    newest: BinaryHeap<Reverse<u32>>,
    /// An ESEARCH answer came. With nothing matching, RFC 4731 leaves
    /// MAX out and says COUNT 0; some servers leave COUNT out as well.
    pub esearch: bool,
    /// ESEARCH said COUNT.
    pub counted: bool,
    /// What in the answer was not understood: the first such part.
    pub quirk: Option<String>,
    /// Words of a plain SEARCH answer that were not numbers.
    pub ignored_words: u64,
    /// Streaming state: the number being read, its digits, and whether
    /// the current word is not a number.
    current: u64,
    digits: u32,
    garbage: bool,
}

impl Tally {
    /// Counts one match.
    fn add(&mut self, n: u32) {
        self.count += 1;
        self.max = Some(self.max.map_or(n, |m| m.max(n)));
        if self.newest.len() < KEEP_NEWEST {
            self.newest.push(Reverse(n));
        } else if self.newest.peek().is_some_and(|Reverse(low)| n > *low) {
            self.newest.pop();
            self.newest.push(Reverse(n));
        }
    }

    /// The kept highest matches, ascending.
    pub fn candidates(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.newest.iter().map(|Reverse(n)| *n).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Whether `candidates` holds every match.
    pub fn all_kept(&self) -> bool {
        self.count <= self.newest.len() as u64
    }

    /// Bytes of a plain SEARCH line after `* SEARCH`; true at the line's
    /// end (LF). Numbers are separated by spaces; a word that is not a
    /// number (CONDSTORE's `(MODSEQ n)`, garbage) is counted as ignored.
    pub fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'0'..=b'9' if !self.garbage => {
                    self.digits += 1;
                    self.current = self.current * 10 + u64::from(b - b'0');
                    if self.digits > MAX_DIGITS {
                        self.garbage = true;
                    }
                }
                b' ' | b'\r' => self.end_word(),
                b'\n' => {
                    self.end_word();
                    return Some(i + 1);
                }
                _ => self.garbage = true,
            }
        }
        None
    }

    fn end_word(&mut self) {
        if self.garbage || self.digits > 0 {
            match u32::try_from(self.current) {
                Ok(n) if !self.garbage && n > 0 => self.add(n),
                _ => self.ignored_words += 1,
            }
        }
        self.current = 0;
        self.digits = 0;
        self.garbage = false;
    }

    /// One `* ESEARCH …` response, whole (`raw` with its CRLF). COUNT and
    /// MAX are taken; MIN, ALL, PARTIAL and the like are skipped with
    /// their value; anything else is a quirk.
    pub fn esearch(&mut self, raw: &[u8]) {
        self.esearch = true;
        let line = raw.strip_suffix(b"\n").unwrap_or(raw);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = match line.get(..10) {
            Some(head) if head.eq_ignore_ascii_case(b"* ESEARCH ") => &line[10..],
            _ if line.eq_ignore_ascii_case(b"* ESEARCH") => return,
            _ => return self.note(raw, "not an ESEARCH response"),
        };
        let mut words = Words { rest };
        while let Some(word) = words.next() {
            if word.first() == Some(&b'(') {
                // The search correlator, (TAG "x"): one command is ours.
                continue;
            }
            let name = word.to_ascii_uppercase();
            match name.as_slice() {
                b"UID" => self.note(raw, "UID numbers where sequence numbers were asked"),
                b"COUNT" | b"MAX" => {
                    let value = words.next().and_then(number);
                    match (name.as_slice(), value) {
                        (b"COUNT", Some(n)) => {
                            self.count = n;
                            self.counted = true;
                        }
                        (b"MAX", Some(n)) => match u32::try_from(n) {
                            Ok(n) if n > 0 => self.max = Some(n),
                            _ => self.note(raw, "MAX is not a message number"),
                        },
                        _ => self.note(raw, "COUNT or MAX without a number"),
                    }
                }
                b"MIN" | b"ALL" | b"PARTIAL" | b"MODSEQ" | b"RELEVANCY" => {
                    words.next();
                }
                // Skipped, and the rest still read: a server's addition
                // must not hide the COUNT and MAX after it.
                _ => self.note(raw, "a return item not asked for"),
            }
        }
    }

    fn note(&mut self, raw: &[u8], why: &str) {
        if self.quirk.is_none() {
            self.quirk = Some(format!(
                "{} ({why})",
                escape_cut(raw.trim_ascii_end(), QUIRK_CUT)
            ));
        }
    }
}

fn number(word: &[u8]) -> Option<u64> {
    if word.is_empty() || word.len() > 20 || !word.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(word).ok()?.parse().ok()
}

/// Space-separated words; a parenthesized group or a quoted string is one
/// word.
struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let s = &self.rest[start..];
        let mut depth = 0usize;
        let mut quoted = false;
        let mut end = s.len();
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'\\' if quoted => i += 1,
                b'"' => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted => depth = depth.saturating_sub(1),
                b' ' if !quoted && depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let end = end.min(s.len());
        self.rest = &s[end..];
        Some(&s[..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(line: &str) -> Tally {
        let mut t = Tally::default();
        assert_eq!(t.feed(line.as_bytes()), Some(line.len()));
        t
    }

    #[test]
    fn plain_search_counted_in_any_split() {
        let line = " 2 3 10 4294967295 7\r\n";
        let whole = plain(line);
        assert_eq!(whole.count, 5);
        assert_eq!(whole.max, Some(4_294_967_295));
        assert_eq!(whole.candidates(), vec![2, 3, 7, 10, 4_294_967_295]);
        for split in 1..line.len() {
            let mut t = Tally::default();
            assert_eq!(t.feed(&line.as_bytes()[..split]), None);
            assert_eq!(t.feed(&line.as_bytes()[split..]), Some(line.len() - split));
            assert_eq!((t.count, t.max), (5, whole.max), "split at {split}");
        }
    }

    #[test]
    fn plain_search_odd_words() {
        let table: &[(&str, u64, Option<u32>, u64)] = &[
            ("\r\n", 0, None, 0),
            ("\n", 0, None, 0),
            (" 1  2\n", 2, Some(2), 0),
            (" 1 x 3\r\n", 2, Some(3), 1),
            (" 1 4294967296 3\r\n", 2, Some(3), 1),
            (" 0 5\r\n", 1, Some(5), 1),
            (" 99999999999999999999999 5\r\n", 1, Some(5), 1),
            (" 2 5 (MODSEQ 917162500)\r\n", 2, Some(5), 2),
        ];
        for (line, count, max, ignored) in table {
            let t = plain(line);
            assert_eq!(
                (t.count, t.max, t.ignored_words),
                (*count, *max, *ignored),
                "{line:?}"
            );
        }
    }

    #[test]
    fn keeps_only_the_newest() {
        let mut t = Tally::default();
        let mut line = String::new();
        for n in (1..=5000u32).rev() {
            line.push_str(&format!(" {n}"));
        }
        line.push_str("\r\n");
        t.feed(line.as_bytes());
        assert_eq!(t.count, 5000);
        let c = t.candidates();
        assert_eq!(c.len(), KEEP_NEWEST);
        assert_eq!(c.first(), Some(&4001));
        assert_eq!(c.last(), Some(&5000));
        assert!(!t.all_kept());
    }

    #[test]
    fn esearch_answers() {
        let table: &[(&str, u64, Option<u32>, bool)] = &[
            (
                "* ESEARCH (TAG \"A1\") COUNT 3 MAX 1203\r\n",
                3,
                Some(1203),
                false,
            ),
            (
                "* ESEARCH (TAG \"A1\") MAX 9 COUNT 2\r\n",
                2,
                Some(9),
                false,
            ),
            ("* esearch (tag \"A1\") count 0\r\n", 0, None, false),
            ("* ESEARCH (TAG \"A1\")\r\n", 0, None, false),
            ("* ESEARCH\r\n", 0, None, false),
            (
                "* ESEARCH (TAG \"A)1\") MIN 2 COUNT 4 MAX 8\r\n",
                4,
                Some(8),
                false,
            ),
            ("* ESEARCH (TAG \"A1\") COUNT x MAX 5\r\n", 0, Some(5), true),
            ("* ESEARCH (TAG \"A1\") COUNT 3 MAX 0\r\n", 3, None, true),
            ("* ESEARCH (TAG \"A1\") COUNT 3 FOO 5\r\n", 3, None, true),
            (
                "* ESEARCH (TAG \"A1\") FOO COUNT 3 MAX 4\r\n",
                3,
                Some(4),
                true,
            ),
            (
                "* ESEARCH (TAG \"A1\") UID COUNT 3 MAX 7\r\n",
                3,
                Some(7),
                true,
            ),
            ("* ESEARCH (TAG \"A1\") COUNT\r\n", 0, None, true),
            ("* ESEARCH \u{1}\u{2}\r\n", 0, None, true),
            ("* ESEARCH \u{1} MAX 7 COUNT 3\r\n", 3, Some(7), true),
            ("* ESEARCH (((((((\r\n", 0, None, false),
        ];
        for (line, count, max, quirk) in table {
            let mut t = Tally::default();
            t.esearch(line.as_bytes());
            assert_eq!(
                (t.count, t.max, t.quirk.is_some()),
                (*count, *max, *quirk),
                "{line:?}"
            );
        }
    }
}
