//! RFC 2047 encoded words (`=?charset?B?…?=`, `=?charset?Q?…?=`) in header
//! values as an IMAP server returns them in ENVELOPE subjects and address
//! display names: [`decode`] turns them into UTF-8 text that is safe to print
//! on a terminal. It never fails or panics, and its work is linear in the
//! input; what it cannot decode is shown as sent and reported in [`Decoded`].
//! Where RFC 2047 leaves room, or real mail departs from it, the choices
//! made are listed on [`decode`].

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod charset;
mod encoding;

use charset::Charset;
use encoding::{decode_b, decode_q};

/// The result of decoding a header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The decoded text, for display (UTF-8, no control characters).
    pub text: String,
    /// At least one encoded word was decoded.
    pub changed: bool,
    /// Charsets we could not decode (lower-cased, without an RFC 2231
    /// language suffix, deduplicated, in order of appearance); their words
    /// are left as sent.
    pub undecoded_charsets: Vec<String>,
    /// Something looked like an encoded word but was broken (left as sent).
    pub malformed: bool,
}

/// The longest encoded word accepted, in bytes from `=?` to `?=` inclusive.
/// RFC 2047 section 2 allows 75, but real mailers send longer words (whole
/// subjects in one word, long charset names); 1024 covers them while still
/// bounding how far a `=?` makes the scanner look ahead.
pub const MAX_WORD_LEN: usize = 1024;

/// The character shown for anything that cannot or must not be displayed.
const REPLACEMENT: char = '\u{FFFD}';

/// Decodes the RFC 2047 encoded words in a header value (an ENVELOPE subject
/// or display name, as the server sent it) into display text.
///
/// Choices beyond the letter of RFC 2047:
///
/// - Encoded words are decoded wherever they appear, also glued to other text
///   (`foo=?UTF-8?Q?a?=bar` → `fooabar`), next to `(` or `"`, as Thunderbird,
///   Gmail and Python's `email.header` do. RFC 2047 section 5 says such words
///   are not encoded words, but senders produce them and a display tool is
///   better off decoding them.
/// - An encoded word may be up to [`MAX_WORD_LEN`] bytes, not 75.
/// - Whitespace (SP, HTAB, CR, LF in any mix) between two encoded words that
///   are decoded is dropped. Around an encoded word that is left as sent
///   (unknown charset, malformed) whitespace is kept, so the raw word stays
///   separated from its neighbours.
/// - Charsets decoded: utf-8, us-ascii, iso-8859-1, iso-8859-2, iso-8859-15
///   and windows-1252 (aliases in `Charset::from_label`). iso-8859-2 is
///   there because RFC 2047's own examples (section 8) use it. iso-8859-1 is
///   decoded as windows-1252, as the WHATWG Encoding Standard, browsers and
///   Thunderbird do: the two differ only in 0x80–0x9F, C1 controls in
///   iso-8859-1 that real headers do not contain, while cp1252 text labelled
///   iso-8859-1 (curly quotes, €) is common.
/// - windows-1252's five undefined bytes (0x81 0x8D 0x8F 0x90 0x9D) decode to
///   U+FFFD.
/// - Control characters never reach the output: every C0 control (TAB, CR
///   and LF included), DEL and every C1 control (U+0080–U+009F) decoded from
///   an encoded word, and every control in the text outside encoded words,
///   becomes U+FFFD. The one exception is header whitespace outside encoded
///   words: folding (CRLF or a bare LF followed by SP or HTAB) is removed as
///   RFC 5322 unfolding does, and HTAB is shown as a space.
/// - `malformed` is set for a complete `=?charset?X?text?=` whose encoding is
///   not B or Q or whose text is not valid for it (bad base64 character,
///   impossible length, `=` not followed by two hex digits), or whose charset
///   is empty (`=?*en?Q?a?=`), and for `=?charset?B?` or `=?charset?Q?` that
///   is not closed by `?=` within [`MAX_WORD_LEN`] bytes (a raw space inside,
///   truncation, an over-long word). A `=?` not followed by that prefix is
///   ordinary text and not malformed.
/// - Text outside encoded words is taken as UTF-8; invalid bytes become
///   U+FFFD.
pub fn decode(raw: &[u8]) -> Decoded {
    let mut decoder = Decoder::new(raw.len());
    let mut pos = 0;
    while let Some(rest) = raw.get(pos..) {
        let Some(&first) = rest.first() else {
            break;
        };
        if first == b'=' {
            match scan_word(rest) {
                Scan::Word {
                    len,
                    charset,
                    encoding,
                    text,
                } => {
                    decoder.encoded_word(rest.get(..len).unwrap_or(rest), charset, encoding, text);
                    pos += len;
                    continue;
                }
                Scan::Unterminated => {
                    decoder.malformed = true;
                    decoder.plain(b"=?");
                    pos += 2;
                    continue;
                }
                Scan::NotAWord => {}
            }
        }
        let len = if is_space(first) {
            rest.iter().take_while(|&&b| is_space(b)).count()
        } else {
            // Ordinary text runs up to the next possible encoded word or
            // whitespace; the first byte is always taken (it may be a `=`
            // that did not start an encoded word).
            1 + rest
                .iter()
                .skip(1)
                .take_while(|&&b| b != b'=' && !is_space(b))
                .count()
        };
        let chunk = rest.get(..len).unwrap_or(rest);
        if is_space(first) {
            decoder.space(chunk);
        } else {
            decoder.plain(chunk);
        }
        pos += len.max(1);
    }
    decoder.finish()
}

/// Whitespace that may separate encoded words: SP, HTAB and the CR and LF of
/// header folding.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// The output being built, and what is pending until the next token shows
/// whether whitespace is dropped and where a run of encoded words ends.
struct Decoder {
    out: String,
    /// Raw bytes outside decoded encoded words, not yet converted. Empty
    /// while `group` is open.
    text: Vec<u8>,
    /// Decoded bytes of the current run of adjacent encoded words in one
    /// charset, joined before charset decoding so that a character split
    /// across words comes out whole.
    group: Option<(Charset, Vec<u8>)>,
    /// Whitespace after the current group: dropped if another decoded
    /// encoded word follows, kept otherwise.
    space: Vec<u8>,
    changed: bool,
    malformed: bool,
    undecoded_charsets: Vec<String>,
}

impl Decoder {
    fn new(capacity: usize) -> Self {
        Decoder {
            out: String::with_capacity(capacity),
            text: Vec::new(),
            group: None,
            space: Vec::new(),
            changed: false,
            malformed: false,
            undecoded_charsets: Vec::new(),
        }
    }

    /// A syntactically complete encoded word, `raw` being all of it.
    fn encoded_word(&mut self, raw: &[u8], charset: &[u8], encoding: u8, text: &[u8]) {
        let bytes = match encoding.to_ascii_uppercase() {
            b'B' => decode_b(text),
            b'Q' => decode_q(text),
            _ => None,
        };
        // The label is ASCII (checked by `scan_word`), so this is lossless.
        let label = String::from_utf8_lossy(charset).to_ascii_lowercase();
        let name = label
            .split_once('*')
            .map_or(label.as_str(), |(name, _)| name);
        let Some(bytes) = bytes.filter(|_| !name.is_empty()) else {
            self.malformed = true;
            self.plain(raw);
            return;
        };
        let Some(charset) = Charset::from_label(name) else {
            if !self.undecoded_charsets.iter().any(|c| c == name) {
                self.undecoded_charsets.push(name.to_owned());
            }
            self.plain(raw);
            return;
        };
        self.changed = true;
        match &mut self.group {
            Some((current, joined)) if *current == charset => {
                self.space.clear();
                joined.extend_from_slice(&bytes);
                return;
            }
            Some(_) => {
                self.space.clear();
                self.end_group();
            }
            None => self.flush_text(),
        }
        self.group = Some((charset, bytes));
    }

    fn space(&mut self, bytes: &[u8]) {
        if self.group.is_some() {
            self.space.extend_from_slice(bytes);
        } else {
            self.text.extend_from_slice(bytes);
        }
    }

    /// Bytes shown as they are: ordinary text and words left as sent.
    fn plain(&mut self, bytes: &[u8]) {
        self.end_group();
        self.text.extend_from_slice(bytes);
    }

    /// Decodes the current group, if any, into the output; whitespace after
    /// it becomes ordinary text.
    fn end_group(&mut self) {
        if let Some((charset, bytes)) = self.group.take() {
            for c in charset.decode(&bytes).chars() {
                self.out.push(if c.is_control() { REPLACEMENT } else { c });
            }
            self.text.append(&mut self.space);
        }
    }

    /// Converts the pending ordinary text into the output.
    fn flush_text(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let unfolded = unfold(&self.text);
        self.text.clear();
        for c in String::from_utf8_lossy(&unfolded).chars() {
            self.out.push(match c {
                '\t' => ' ',
                c if c.is_control() => REPLACEMENT,
                c => c,
            });
        }
    }

    fn finish(mut self) -> Decoded {
        self.end_group();
        self.flush_text();
        Decoded {
            text: self.out,
            changed: self.changed,
            undecoded_charsets: self.undecoded_charsets,
            malformed: self.malformed,
        }
    }
}

/// Removes header folding: a CRLF or bare LF directly followed by SP or HTAB.
fn unfold(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some((&b, tail)) = rest.split_first() {
        rest = match (b, tail) {
            (b'\r', [b'\n', b' ' | b'\t', ..]) => tail.get(1..).unwrap_or_default(),
            (b'\n', [b' ' | b'\t', ..]) => tail,
            _ => {
                out.push(b);
                tail
            }
        };
    }
    out
}

/// What a `=` at the start of the scanned text begins.
#[derive(Debug, PartialEq, Eq)]
enum Scan<'a> {
    /// `=?charset?X?text?=`, `len` bytes in all. The encoding `X` and the
    /// text are not validated yet.
    Word {
        len: usize,
        charset: &'a [u8],
        encoding: u8,
        text: &'a [u8],
    },
    /// `=?charset?B?` or `=?charset?Q?` without a closing `?=` in reach.
    Unterminated,
    /// Not an encoded word: the `=` is ordinary text.
    NotAWord,
}

/// Scans for an encoded word at the start of `input`, looking at no more than
/// [`MAX_WORD_LEN`] bytes. It stops at the third `?` after `=?` at the
/// latest, so the bytes scanned from overlapping candidates add up to a
/// small multiple of the input length.
fn scan_word(input: &[u8]) -> Scan<'_> {
    let window = input.get(..MAX_WORD_LEN).unwrap_or(input);
    let Some(after_open) = window.strip_prefix(b"=?") else {
        return Scan::NotAWord;
    };
    let (charset, after_charset) = split_while(after_open, is_charset_byte);
    let [b'?', encoding, b'?', after_encoding @ ..] = after_charset else {
        return Scan::NotAWord;
    };
    if charset.is_empty() {
        return Scan::NotAWord;
    }
    let (text, after_text) = split_while(after_encoding, is_text_byte);
    if after_text.starts_with(b"?=") {
        Scan::Word {
            len: 2 + charset.len() + 3 + text.len() + 2,
            charset,
            encoding: *encoding,
            text,
        }
    } else if matches!(encoding.to_ascii_uppercase(), b'B' | b'Q') {
        Scan::Unterminated
    } else {
        Scan::NotAWord
    }
}

/// `bytes` split after its longest prefix of bytes that `keep` accepts.
fn split_while(bytes: &[u8], keep: fn(u8) -> bool) -> (&[u8], &[u8]) {
    let n = bytes.iter().take_while(|&&b| keep(b)).count();
    bytes.split_at_checked(n).unwrap_or((bytes, &[]))
}

/// RFC 2047 `token` bytes (ASCII graphic, not an `especial`), except that `.`
/// is allowed, as in the charset label `ANSI_X3.4-1968` that misconfigured
/// systems send. `*` introduces an RFC 2231 language suffix.
fn is_charset_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\"/[]?=".contains(&b)
}

/// `encoded-text` bytes: printable ASCII other than `?` and SPACE.
fn is_text_byte(b: u8) -> bool {
    b.is_ascii_graphic() && b != b'?'
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Decoded text only.
    fn text(raw: &str) -> String {
        decode(raw.as_bytes()).text
    }

    fn decoded(text: &str, changed: bool, undecoded: &[&str], malformed: bool) -> Decoded {
        Decoded {
            text: text.to_owned(),
            changed,
            undecoded_charsets: undecoded.iter().map(|c| (*c).to_owned()).collect(),
            malformed,
        }
    }

    #[test]
    fn decoded_values() {
        // (the header value; its text, whether a word was decoded, the
        // charsets left undecoded (space-separated), whether something was
        // malformed), by topic.
        #[rustfmt::skip]
        let cases: [(&[u8], &str, bool, &str, bool); 26] = [
            // RFC 2047 section 8, the table of examples:
            (b"(=?ISO-8859-1?Q?a?=)", "(a)", true, "", false),
            (b"(=?ISO-8859-1?Q?a?= b)", "(a b)", true, "", false),
            (b"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)", true, "", false),
            (b"(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)", true, "", false),
            (b"(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)", true, "", false),
            (b"(=?ISO-8859-1?Q?a_b?=)", "(a b)", true, "", false),
            (b"(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)", true, "", false),
            // RFC 2047 section 8 headers:
            (b"Nathaniel Borenstein (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)", "Nathaniel Borenstein (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)", false, "iso-8859-8", false),
            // Common subjects:
            (b"=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4g4pyT?=", "Grüße aus Köln ✓", true, "", false),
            // UTF-8 character split across words:
            // "a€b": € is E2 82 AC; the first word ends after E2 82.
            (b"=?UTF-8?B?YeKC?= =?UTF-8?B?rGI=?=", "a€b", true, "", false),
            // Adjacent words in different charsets:
            (b"=?iso-8859-1?q?caf=E9?= =?utf-8?q?_=E2=9C=93?= =?iso-8859-15?q?_=A4?=", "café ✓ €", true, "", false),
            // Charset language suffix is ignored:
            (b"=?KOI8-R*ru?B?8NLJ18XU?=", "=?KOI8-R*ru?B?8NLJ18XU?=", false, "koi8-r", false),
            // Invalid bytes in charset are lossy not malformed:
            (b"=?utf-8?q?caf=E9!?=", "caf\u{FFFD}!", true, "", false),
            (b"=?us-ascii?q?caf=E9?=", "caf\u{FFFD}", true, "", false),
            // Unknown charsets are left as sent and reported:
            // Next to decoded words the whitespace stays, so the raw word does
            // not run into the text.
            (b"=?utf-8?q?a?= =?koi8-r?b?8NLJ18XU?= =?utf-8?q?b?=", "a =?koi8-r?b?8NLJ18XU?= b", true, "koi8-r", false),
            // Other malformed words:
            // Unknown encoding.
            (b"=?utf-8?x?abc?=", "=?utf-8?x?abc?=", false, "", true),
            // Empty charset before the language suffix.
            (b"=?*en?q?a?=", "=?*en?q?a?=", false, "", true),
            // Raw space inside the encoded text.
            (b"=?iso-8859-1?q?this is some text?=", "=?iso-8859-1?q?this is some text?=", false, "", true),
            // A `?` inside the encoded text.
            (b"=?utf-8?q?a?b?= =?utf-8?q?c?=", "=?utf-8?q?a?b?= c", true, "", true),
            // Unterminated words:
            (b"=?utf-8?q?abc", "=?utf-8?q?abc", false, "", true),
            (b"=?UTF-8?B?R3LDvMOfZQ==", "=?UTF-8?B?R3LDvMOfZQ==", false, "", true),
            (b"=?utf-8?q?abc =?utf-8?q?d?=", "=?utf-8?q?abc d", true, "", true),
            // Encoded word inside a word is decoded:
            // RFC 2047 section 5 says this is not an encoded word; we decode it
            // like Thunderbird and Gmail (module documentation).
            (b"foo=?UTF-8?Q?a?=bar", "fooabar", true, "", false),
            // Control characters are neutralized:
            // Encoded CR, LF, ESC, TAB, NUL, DEL and C1 (NEL).
            (b"=?utf-8?q?a=0D=0Ab=1B[31mc=09=00=7F=C2=85d?=", "a\u{FFFD}\u{FFFD}b\u{FFFD}[31mc\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}d", true, "", false),
            // Empty and degenerate words:
            (b"=?utf-8?q??=", "", true, "", false),
            (b"a =?utf-8?b??= b", "a  b", true, "", false),
        ];
        for (raw, text, changed, undecoded, malformed) in cases {
            let undecoded: Vec<&str> = undecoded.split_whitespace().collect();
            let want = decoded(text, changed, &undecoded, malformed);
            assert_eq!(decode(raw), want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn shown_texts() {
        // (the header value, its text for display), by topic.
        let cases = [
            // Whitespace next to ordinary text is kept:
            ("(=?ISO-8859-1?Q?a?=  b)", "(a  b)"),
            ("(a  =?ISO-8859-1?Q?b?=)", "(a  b)"),
            ("x =?utf-8?q?a?= \t =?utf-8?q?b?= y", "x ab y"),
            ("(a\r\n =?ISO-8859-1?Q?b?=)", "(a b)"),
            ("(=?ISO-8859-1?Q?a?=\r\n b)", "(a b)"),
            (" =?utf-8?q?a?= ", " a "),
            // RFC 2047 section 8 headers:
            ("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore"),
            (
                "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=",
                "Keld Jørn Simonsen",
            ),
            ("=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
            (
                "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n \
                 =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
                "If you can read this you understand the example.",
            ),
            ("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?=", "Patrik Fältström"),
            // Common subjects:
            ("=?ISO-8859-1?Q?J=F6rg_M=FCller?=", "Jörg Müller"),
            ("=?iso-8859-15?q?=A4uro?=", "€uro"),
            (
                "=?windows-1252?Q?=93quoted=94_=80?=",
                "\u{201C}quoted\u{201D} €",
            ),
            ("Re: =?utf-8?q?Caf=C3=A9?= ok", "Re: Café ok"),
            // Case insensitive encoding charset and hex:
            ("=?utf-8?b?R3LDvMOfZQ==?=", "Grüße"),
            ("=?UtF-8?B?R3LDvMOfZQ==?=", "Grüße"),
            ("=?utf-8?q?Gr=c3=bc=C3=9Fe?=", "Grüße"),
            ("=?UTF8?Q?=e2=9c=93?=", "✓"),
            // Base64 padding is optional:
            ("=?utf-8?b?R3LDvMOfZQ?=", "Grüße"),
            ("=?utf-8?b?SGk?=", "Hi"),
            ("=?utf-8?b?SGk=?=", "Hi"),
            ("=?utf-8?b?SGVsbG8?=", "Hello"),
            ("=?utf-8?b?SGVsbA==?=", "Hell"),
            ("=?utf-8?b?SGVsbA?=", "Hell"),
            // UTF-8 character split across words:
            // Folded, other label spellings and B/Q mixed.
            ("=?utf-8?B?YeKC?=\r\n\t=?UTF8?Q?=ACb?=", "a€b"),
            // Directly adjacent words.
            ("=?utf-8?q?=E2?==?utf-8?q?=9C=93?=", "✓"),
            // Ordinary text in between: the halves are decoded apart.
            (
                "=?UTF-8?B?YeKC?= x =?UTF-8?B?rGI=?=",
                "a\u{FFFD} x \u{FFFD}b",
            ),
            // A different charset in between also ends the run.
            (
                "=?UTF-8?B?YeKC?= =?iso-8859-1?q?x?= =?UTF-8?B?rGI=?=",
                "a\u{FFFD}x\u{FFFD}b",
            ),
            // Adjacent words in different charsets:
            (
                "=?ISO-8859-2?Q?Za=BF=F3=B3=E6_g=EA=B6l=B1_ja=BC=F1?=",
                "Zażółć gęślą jaźń",
            ),
            // Charset language suffix is ignored:
            ("=?utf-8*de?q?Gr=C3=BC=C3=9Fe?=", "Grüße"),
            ("=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"),
            // Windows 1252 high range:
            ("=?iso-8859-1?q?=93hi=94?=", "\u{201C}hi\u{201D}"),
            // Latin9 differs from latin1 in eight places:
            // Elsewhere they agree.
            ("=?iso-8859-15?q?=A0=E9=FF=D7?=", "\u{A0}éÿ×"),
            // 0x80-0x9F are C1 controls in iso-8859-15: neutralized.
            ("=?iso-8859-15?q?=80=9F?=", "\u{FFFD}\u{FFFD}"),
            // Encoded word inside a word is decoded:
            ("\"=?utf-8?q?J=C3=B6rg?=\"", "\"Jörg\""),
            ("Re:=?utf-8?q?x?=", "Re:x"),
            // Control characters are neutralized:
            // The same through base64: "\x1b[2Jx\r\n".
            ("=?utf-8?b?G1sySngNCg==?=", "\u{FFFD}[2Jx\u{FFFD}\u{FFFD}"),
            ("=?us-ascii?q?=1B=07?=", "\u{FFFD}\u{FFFD}"),
            ("=?iso-8859-15?q?=1B=85?=", "\u{FFFD}\u{FFFD}"),
            // Empty and degenerate words:
            ("=?utf-8?q?a?==?utf-8?q?b?=", "ab"),
            ("=?utf-8?q?=3D=3F_?=", "=? "),
            ("=?utf-8?q?a?=?=", "a?="),
            ("=?utf-8?q?a?==", "a="),
        ];
        for (raw, shown) in cases {
            assert_eq!(text(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn charset_aliases() {
        for label in [
            "iso-8859-1",
            "ISO8859-1",
            "iso_8859-1",
            "latin1",
            "L1",
            "cp1252",
        ] {
            assert_eq!(text(&format!("=?{label}?q?=E9?=")), "é", "{label}");
        }
        for label in ["iso-8859-15", "latin-9", "LATIN9", "iso_8859-15"] {
            assert_eq!(text(&format!("=?{label}?q?=A4?=")), "€", "{label}");
        }
        for label in ["us-ascii", "ASCII", "ANSI_X3.4-1968"] {
            assert_eq!(text(&format!("=?{label}?q?ok?=")), "ok", "{label}");
        }
    }

    #[test]
    fn windows_1252_high_range() {
        let q: String = (0x80..=0x9F).map(|b| format!("={b:02X}")).collect();
        let want = "€\u{FFFD}‚ƒ„…†‡ˆ‰Š‹Œ\u{FFFD}Ž\u{FFFD}\u{FFFD}‘’“”•–—˜™š›œ\u{FFFD}žŸ";
        assert_eq!(text(&format!("=?windows-1252?q?{q}?=")), want);
        // iso-8859-1 is read as windows-1252 (module documentation).
        assert_eq!(text(&format!("=?iso-8859-1?q?{q}?=")), want);
    }

    #[test]
    fn latin9_differs_from_latin1_in_eight_places() {
        let q = "=A4=A6=A8=B4=B8=BC=BD=BE";
        assert_eq!(text(&format!("=?iso-8859-15?q?{q}?=")), "€ŠšŽžŒœŸ");
        assert_eq!(text(&format!("=?iso-8859-1?q?{q}?=")), "¤¦¨´¸¼½¾");
    }

    #[test]
    fn latin2_table() {
        let q: String = (0xA0..=0xFF).map(|b| format!("={b:02X}")).collect();
        assert_eq!(
            text(&format!("=?iso-8859-2?q?{q}?=")),
            "\u{A0}Ą˘Ł¤ĽŚ§¨ŠŞŤŹ\u{AD}ŽŻ°ą˛ł´ľśˇ¸šşťź˝žżŔÁÂĂÄĹĆÇČÉĘËĚÍÎĎĐŃŇÓÔŐÖ×ŘŮÚŰÜÝŢß\
             ŕáâăäĺćçčéęëěíîďđńňóôőö÷řůúűüýţ˙"
        );
    }

    #[test]
    fn unknown_charsets_are_left_as_sent_and_reported() {
        let raw = "=?KOI8-R?B?8NLJ18XU?= =?koi8-r?B?8NLJ18XU?= =?gb2312?B?xOO6ww==?= \
                   =?Shift_JIS?Q?x?= =?iso-2022-jp?B?GyRCJDMbKEI=?=";
        assert_eq!(
            decode(raw.as_bytes()),
            decoded(
                raw,
                false,
                &["koi8-r", "gb2312", "shift_jis", "iso-2022-jp"],
                false
            )
        );
    }

    #[test]
    fn broken_q_escape_is_malformed_and_left_as_sent() {
        for bad in ["a=Zb", "a=4", "a=", "=G0", "==41"] {
            let raw = format!("=?utf-8?q?{bad}?= =?utf-8?q?ok?=");
            assert_eq!(
                decode(raw.as_bytes()),
                decoded(&format!("=?utf-8?q?{bad}?= ok"), true, &[], true),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn broken_base64_is_malformed_and_left_as_sent() {
        for bad in [
            "SGVsbG8-", "SGVs bG8", "S", "SGVsb", "SG=k", "SGk===", "SGk.", "SGk_",
        ] {
            let raw = format!("x =?utf-8?b?{bad}?= =?utf-8?b?SGk=?= y");
            // (A raw space ends the word early: unterminated, same text.)
            let want = format!("x =?utf-8?b?{bad}?= Hi y");
            assert_eq!(
                decode(raw.as_bytes()),
                decoded(&want, true, &[], true),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn unterminated_words() {
        // A `=?` that does not start `=?charset?B|Q?` is plain text.
        for plain in [
            "=?",
            "a =? b",
            "x=?y",
            "=?utf-8",
            "=?utf-8?",
            "=?utf-8?q",
            "=??q?a?=",
            "=?a?bb?c?=",
        ] {
            assert_eq!(
                decode(plain.as_bytes()),
                decoded(plain, false, &[], false),
                "{plain:?}"
            );
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        for plain in [
            "",
            "Hello, world",
            "Re: [list] 100% = 1?",
            "a=b?c=d",
            "a_b=20",
        ] {
            assert_eq!(decode(plain.as_bytes()), decoded(plain, false, &[], false));
        }
        // Raw UTF-8 (some servers send it) passes through; raw 8-bit
        // bytes that are not UTF-8 become U+FFFD.
        assert_eq!(
            decode("Grüße ✓".as_bytes()),
            decoded("Grüße ✓", false, &[], false)
        );
        assert_eq!(text_bytes(b"Gr\xFC\xDFe"), "Gr\u{FFFD}\u{FFFD}e");
        assert_eq!(text_bytes(b"\xE2\x9C =?utf-8?q?=93?="), "\u{FFFD} \u{FFFD}");
    }

    fn text_bytes(raw: &[u8]) -> String {
        decode(raw).text
    }

    #[test]
    fn control_characters_are_neutralized() {
        // Outside encoded words: folding removed, TAB shown as a space,
        // other controls neutralized.
        assert_eq!(text_bytes(b"Hello\r\n world"), "Hello world");
        assert_eq!(text_bytes(b"Hello\n\tworld"), "Hello world");
        assert_eq!(text_bytes(b"a\tb"), "a b");
        assert_eq!(
            text_bytes(b"a\r\nb\rc\nd"),
            "a\u{FFFD}\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(
            text_bytes(b"a\x1b]0;pwned\x07b"),
            "a\u{FFFD}]0;pwned\u{FFFD}b"
        );
        assert_eq!(
            text_bytes("a\u{9B}b\u{7F}".as_bytes()),
            "a\u{FFFD}b\u{FFFD}"
        );
    }

    #[test]
    fn word_length_limit() {
        let prefix = "=?utf-8?q?";
        let fill = MAX_WORD_LEN - prefix.len() - 2;
        let longest = format!("{prefix}{}?=", "a".repeat(fill));
        assert_eq!(longest.len(), MAX_WORD_LEN);
        assert_eq!(
            decode(longest.as_bytes()),
            decoded(&"a".repeat(fill), true, &[], false)
        );
        let too_long = format!("{prefix}{}?=", "a".repeat(fill + 1));
        assert_eq!(
            decode(too_long.as_bytes()),
            decoded(&too_long, false, &[], true)
        );
        // 75 bytes, the RFC limit, is nothing special.
        let long_b = format!("=?utf-8?b?{}?=", "QUJD".repeat(100));
        assert_eq!(text(&long_b), "ABC".repeat(100));
    }

    /// Checks what holds for every input.
    fn check_invariants(raw: &[u8]) -> Decoded {
        let d = decode(raw);
        assert!(
            !d.text.chars().any(char::is_control),
            "control in {:?} from {raw:?}",
            d.text
        );
        // Each input byte yields at most one U+FFFD (3 bytes) or one
        // decoded character (at most 3 bytes from the single-byte tables;
        // UTF-8 and ASCII words shrink).
        assert!(d.text.len() <= 3 * raw.len(), "{raw:?}");
        if !raw.windows(2).any(|w| w == b"=?") {
            assert!(!d.changed && !d.malformed && d.undecoded_charsets.is_empty());
        }
        if !d.changed && !d.malformed && d.undecoded_charsets.is_empty() {
            // Nothing decoded: the text is the input made displayable.
            assert!(!d.text.is_empty() || raw.is_empty(), "{raw:?}");
        }
        assert_eq!(decode(raw), d, "deterministic");
        d
    }

    #[test]
    fn pathological_inputs_are_fast() {
        let inputs: [Vec<u8>; 6] = [
            b"=?".repeat(1 << 19),
            b"=?utf-8?q?".repeat(1 << 17),
            b"=?a?q?".repeat(1 << 18),
            b"=?utf-8?b?"
                .iter()
                .chain(&[b'A'; 1000])
                .copied()
                .collect::<Vec<u8>>()
                .repeat(1 << 10),
            b"=?utf-8?q?a?= ".repeat(1 << 16),
            b"=?koi8-r?b?8NLJ18XU?= ".repeat(1 << 15),
        ];
        for raw in &inputs {
            let start = Instant::now();
            let d = decode(raw);
            let elapsed = start.elapsed();
            // Linear work takes milliseconds even unoptimized; quadratic
            // work on a megabyte would take minutes.
            assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
            assert!(!d.text.chars().any(char::is_control));
        }
        let all_eq = decode(&b"=?".repeat(1 << 19));
        assert_eq!(all_eq.text.len(), 1 << 20);
        assert!(!all_eq.changed && !all_eq.malformed);
        let words = decode(&b"=?utf-8?q?a?= ".repeat(1 << 16));
        assert_eq!(words.text, "a".repeat(1 << 16) + " ");
    }

    #[test]
    fn random_inputs_do_not_panic() {
        let mut rng = crate::test_input::Xorshift::new(0x9E37_79B9_7F4A_7C15);
        let mut next = move || rng.next();
        // Pieces that make encoded words likely, besides arbitrary bytes.
        let pieces: Vec<&[u8]> = "=?utf-8?B?|=?UTF8?q?|=?iso-8859-1?Q?|=?windows-1252?q?|\
                                  =?latin-9?b?|=?iso-8859-2?Q?|=?us-ascii?q?|=?koi8-r?b?|\
                                  =?utf-8*en?Q?|=?|?=|?=|?=|?|=|utf-8|?B?|?q?|_|=E2|=9c|=1B|\
                                  =C2=85|=0D=0A|4pyT|SGk|YeKC|rGI=|==|a|\u{e9}| | |\r\n |\t"
            .split('|')
            .map(str::as_bytes)
            .collect();
        let (mut changed, mut malformed, mut undecoded) = (0, 0, 0);
        for round in 0..20_000 {
            let len = usize::try_from(next() % 64).unwrap_or(0);
            let mut raw = Vec::new();
            for _ in 0..len {
                let r = next();
                if round % 4 == 0 || r % 8 == 0 {
                    raw.push(r.to_le_bytes()[1]);
                } else {
                    let i = usize::try_from(r >> 8).unwrap_or(0) % pieces.len();
                    raw.extend_from_slice(pieces.get(i).copied().unwrap_or_default());
                }
            }
            let d = check_invariants(&raw);
            changed += usize::from(d.changed);
            malformed += usize::from(d.malformed);
            undecoded += usize::from(!d.undecoded_charsets.is_empty());
        }
        // The generator does exercise all paths.
        assert!(
            changed > 3_000 && malformed > 3_000 && undecoded > 500,
            "{changed} {malformed} {undecoded}"
        );
    }
}
