//! IMAP modified UTF-7 mailbox names (RFC 3501 section 5.1.3): converts
//! between UTF-8 and the wire form. Printable US-ASCII except `&` stands for
//! itself, `&` is `&-`, and everything else is UTF-16BE in modified base64
//! (`,` instead of `/`, no padding) between `&` and `-`.
//!
//! [`decode`] is strict. In particular it rejects an encoded run that directly
//! follows another one (`&AOQ-&AOQ-`): RFC 3501 requires such runs to be
//! merged, and Dovecot and Cyrus reject the unmerged form too. An empty shift
//! `&-` is the literal `&` and may follow an encoded run. [`decode_lossy`]
//! accepts unmerged runs and otherwise falls back to showing the raw bytes.

use std::fmt;

use crate::base64;

/// Why a mailbox name is not valid modified UTF-7, and at which byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutf7Error {
    offset: usize,
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// A byte outside a shift that is not printable US-ASCII.
    NotPrintableAscii(u8),
    /// `&` without a closing `-`.
    Unterminated,
    /// A byte inside a shift that is not in the modified base64 alphabet.
    InvalidBase64(u8),
    /// An encoded run that encodes printable US-ASCII.
    MustBeDirect(char),
    /// An encoded run with a superfluous character (partial UTF-16 unit).
    IncompleteUnit,
    /// An encoded run whose unused trailing bits are not zero.
    NonZeroBits,
    /// An encoded run immediately after another encoded run.
    AdjacentShift,
    /// An unpaired UTF-16 surrogate.
    LoneSurrogate(u16),
}

impl fmt::Display for Mutf7Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid modified UTF-7 mailbox name at byte {}: ",
            self.offset
        )?;
        match self.kind {
            ErrorKind::NotPrintableAscii(b) => {
                write!(
                    f,
                    "byte 0x{b:02x} is not printable US-ASCII and must be encoded"
                )
            }
            ErrorKind::Unterminated => f.write_str("'&' shift is not terminated by '-'"),
            ErrorKind::InvalidBase64(b) if b.is_ascii_graphic() => {
                write!(f, "'{}' is not a modified base64 character", char::from(b))
            }
            ErrorKind::InvalidBase64(b) => {
                write!(f, "byte 0x{b:02x} is not a modified base64 character")
            }
            ErrorKind::MustBeDirect(c) => write!(
                f,
                "shift encodes {c:?}, which must be represented as itself"
            ),
            ErrorKind::IncompleteUnit => {
                f.write_str("shift ends with an incomplete UTF-16 code unit")
            }
            ErrorKind::NonZeroBits => f.write_str("shift ends with non-zero unused bits"),
            ErrorKind::AdjacentShift => {
                f.write_str("shift directly follows another shift; they must be merged")
            }
            ErrorKind::LoneSurrogate(u) => {
                write!(f, "shift contains unpaired UTF-16 surrogate 0x{u:04X}")
            }
        }
    }
}

impl std::error::Error for Mutf7Error {}

/// Characters that represent themselves (plus `&`, which is written `&-`).
fn is_direct(c: char) -> bool {
    matches!(c, ' '..='~')
}

/// Maps a 6-bit value (only the low 6 bits are used) to modified base64:
/// the standard alphabet with `,` for 63 (RFC 3501 5.1.3).
fn sextet_to_char(v: u32) -> char {
    char::from(match base64::sextet_to_byte(v) {
        b'/' => b',',
        b => b,
    })
}

/// Maps a modified base64 byte to its 6-bit value.
fn byte_to_sextet(c: u8) -> Option<u32> {
    match c {
        b',' => Some(63),
        b'/' => None,
        c => base64::byte_to_sextet(c).map(u32::from),
    }
}

/// Appends `&<modified base64 of units>-` to `out` and empties `units`.
fn flush_run(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    for &unit in units.iter() {
        // At most 5 leftover bits + 16 new ones: fits in u32.
        acc = (acc << 16) | u32::from(unit);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.push(sextet_to_char(acc >> nbits));
        }
        acc &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        out.push(sextet_to_char(acc << (6 - nbits)));
    }
    out.push('-');
    units.clear();
}

/// Encodes a UTF-8 mailbox name as modified UTF-7. The result is ASCII.
#[must_use]
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + name.len() / 2);
    let mut units: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush_run(&mut out, &mut units);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush_run(&mut out, &mut units);
    out
}

/// Decodes the base64 body of one shift (between `&` and `-`) into `out`.
/// `start` is the offset of the `&`, used for run-level errors; the body
/// itself starts at `start + 1`.
fn decode_run(body: &[u8], start: usize, out: &mut String) -> Result<(), Mutf7Error> {
    let err = |offset, kind| Err(Mutf7Error { offset, kind });
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    let mut pending_high: Option<u16> = None;
    for (i, &b) in body.iter().enumerate() {
        let Some(v) = byte_to_sextet(b) else {
            return err(start + 1 + i, ErrorKind::InvalidBase64(b));
        };
        // At most 15 leftover bits + 6 new ones: fits in u32.
        acc = (acc << 6) | v;
        nbits += 6;
        if nbits < 16 {
            continue;
        }
        nbits -= 16;
        let unit = ((acc >> nbits) & 0xffff) as u16;
        acc &= (1 << nbits) - 1;
        let code = match (pending_high.take(), unit) {
            (Some(high), 0xdc00..=0xdfff) => {
                0x10000 + ((u32::from(high) - 0xd800) << 10) + (u32::from(unit) - 0xdc00)
            }
            (Some(high), _) => return err(start, ErrorKind::LoneSurrogate(high)),
            (None, 0xd800..=0xdbff) => {
                pending_high = Some(unit);
                continue;
            }
            (None, 0xdc00..=0xdfff) => return err(start, ErrorKind::LoneSurrogate(unit)),
            (None, _) => u32::from(unit),
        };
        match char::from_u32(code) {
            Some(c) if is_direct(c) => return err(start, ErrorKind::MustBeDirect(c)),
            Some(c) => out.push(c),
            // Unreachable: surrogates were handled above.
            None => return err(start, ErrorKind::LoneSurrogate(unit)),
        }
    }
    if let Some(high) = pending_high {
        return err(start, ErrorKind::LoneSurrogate(high));
    }
    if nbits >= 6 {
        return err(start, ErrorKind::IncompleteUnit);
    }
    if acc != 0 {
        return err(start, ErrorKind::NonZeroBits);
    }
    Ok(())
}

fn decode_impl(wire: &[u8], strict: bool) -> Result<String, Mutf7Error> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    let mut offset = 0;
    // Whether the previous token was a non-empty encoded run.
    let mut after_run = false;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'&' => {
                let Some(len) = tail.iter().position(|&c| c == b'-') else {
                    // Report a bad character first if there is one.
                    if let Some(i) = tail.iter().position(|&c| byte_to_sextet(c).is_none()) {
                        let bad = tail.get(i).copied().unwrap_or(0);
                        return Err(Mutf7Error {
                            offset: offset + 1 + i,
                            kind: ErrorKind::InvalidBase64(bad),
                        });
                    }
                    return Err(Mutf7Error {
                        offset,
                        kind: ErrorKind::Unterminated,
                    });
                };
                let (body, after) = tail.split_at(len);
                if body.is_empty() {
                    out.push('&');
                    after_run = false;
                } else {
                    if strict && after_run {
                        return Err(Mutf7Error {
                            offset,
                            kind: ErrorKind::AdjacentShift,
                        });
                    }
                    decode_run(body, offset, &mut out)?;
                    after_run = true;
                }
                // Skip the '-' as well.
                rest = after.get(1..).unwrap_or_default();
                offset += len + 2;
            }
            0x20..=0x7e => {
                out.push(char::from(b));
                after_run = false;
                rest = tail;
                offset += 1;
            }
            _ => {
                return Err(Mutf7Error {
                    offset,
                    kind: ErrorKind::NotPrintableAscii(b),
                });
            }
        }
    }
    Ok(out)
}

/// Decodes a modified UTF-7 mailbox name strictly.
///
/// # Errors
///
/// Fails on any input that [`encode`] would not have produced: bytes that
/// are not printable US-ASCII outside a shift, an unterminated shift, bytes
/// outside the modified base64 alphabet, encoded printable ASCII, a
/// superfluous character or non-zero unused bits, a shift directly after
/// another, or an unpaired UTF-16 surrogate.
pub fn decode(wire: &[u8]) -> Result<String, Mutf7Error> {
    decode_impl(wire, true)
}

/// Decodes a mailbox name for display. Unmerged adjacent shifts are accepted;
/// anything else that is invalid is returned as the raw bytes (lossy UTF-8).
#[must_use]
pub fn decode_lossy(wire: &[u8]) -> String {
    decode_impl(wire, false).unwrap_or_else(|_| String::from_utf8_lossy(wire).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(wire: &[u8]) -> (usize, ErrorKind) {
        match decode(wire) {
            Ok(s) => panic!("{wire:?} unexpectedly decoded to {s:?}"),
            Err(e) => (e.offset, e.kind),
        }
    }

    /// Each of `cases` (see `failing_at`) fails with `kind` there.
    fn rejects(kind: ErrorKind, cases: &str) {
        for (wire, at) in crate::test_input::failing_at(cases) {
            assert_eq!(fails(wire.as_bytes()), (at, kind), "{wire:?}");
        }
    }

    fn both_ways(plain: &str, wire: &str) {
        assert_eq!(encode(plain), wire, "encode {plain:?}");
        assert_eq!(
            decode(wire.as_bytes()).as_deref(),
            Ok(plain),
            "decode {wire:?}"
        );
        assert_eq!(
            decode_lossy(wire.as_bytes()),
            plain,
            "decode_lossy {wire:?}"
        );
    }

    #[test]
    fn vectors() {
        both_ways("", "");
        both_ways("INBOX", "INBOX");
        both_ways("Deleted Items", "Deleted Items");
        both_ways("Entwürfe", "Entw&APw-rfe");
        both_ways("&", "&-");
        both_ways("A&B", "A&-B");
        both_ways("&&", "&-&-");
        both_ways("-", "-");
        both_ways(
            "~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}",
            "~!\"#$%'()*+,-./:;<=>?@[\\]^_`{|}",
        );
        both_ways("日本語", "&ZeVnLIqe-");
        both_ways("台北", "&U,BTFw-");
        both_ways("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
        both_ways("😀", "&2D3eAA-");
        both_ways("a😀b", "a&2D3eAA-b");
        both_ways("😀😀", "&2D3eANg93gA-");
        both_ways("ä&", "&AOQ-&-");
        both_ways("&ä", "&-&AOQ-");
        both_ways("ää", "&AOQA5A-");
        both_ways("ä-", "&AOQ--");
        both_ways("Gelöschte Elemente", "Gel&APY-schte Elemente");
        both_ways("Корзина", "&BBoEPgRABDcEOAQ9BDA-");
        both_ways("\t", "&AAk-");
        both_ways("\0", "&AAA-");
        both_ways("\u{7f}", "&AH8-");
        both_ways("\u{ffff}", "&,,8-");
        both_ways("\u{10ffff}", "&2,,f,w-");
    }

    #[test]
    fn encode_is_ascii_and_never_panics_on_odd_input() {
        let s = "\u{0}\u{1f}\u{7f}\u{80}\u{d7ff}\u{e000}\u{fffd}\u{10000}";
        let wire = encode(s);
        assert!(wire.is_ascii());
        assert_eq!(wire, "&AAAAHwB,AIDX,+AA,,3YANwA-");
        assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(s));
    }

    #[test]
    fn round_trip_fixed_strings() {
        let strings = [
            "",
            "a",
            "&",
            "&-",
            "&&&",
            "--&--",
            "ü",
            "üü",
            "üüü",
            "a&ü&b",
            "Posteingang/Entwürfe/Größe",
            "日本語/テスト/메일함",
            "🦀🦀🦀",
            "x🦀y😀z",
            "Ω≈ç√∫",
            "\u{2028}\u{2029}",
            "tab\there",
            "line\r\nbreak",
            "trailing ü",
            "ü leading",
        ];
        for s in strings {
            let wire = encode(s);
            assert!(wire.is_ascii(), "{wire:?}");
            assert_eq!(
                decode(wire.as_bytes()).as_deref(),
                Ok(s),
                "{s:?} -> {wire:?}"
            );
        }
    }

    #[test]
    fn round_trip_every_code_point() {
        let mut chunk = String::new();
        let mut count = 0usize;
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            chunk.push(c);
            count += 1;
            if count.is_multiple_of(61) {
                let wire = encode(&chunk);
                assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(chunk.as_str()));
                chunk.clear();
            }
        }
        let wire = encode(&chunk);
        assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(chunk.as_str()));
        assert_eq!(count, 0x110000 - 0x800);
    }

    #[test]
    fn round_trip_generated() {
        let pools: [(u32, u32); 8] = [
            (0x20, 0x7e),
            (0x26, 0x26),
            (0x2d, 0x2d),
            (0x00, 0x1f),
            (0x80, 0x7ff),
            (0x3000, 0x9fff),
            (0xe000, 0xffff),
            (0x10000, 0x10ffff),
        ];
        let mut rng = crate::test_input::Xorshift::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next();
        for _ in 0..3000 {
            let len = next() % 24;
            let mut s = String::new();
            for _ in 0..len {
                let r = next();
                let (lo, hi) = pools[(r % 8) as usize];
                let cp = lo + ((r >> 8) % u64::from(hi - lo + 1)) as u32;
                s.push(char::from_u32(cp).unwrap_or('?'));
            }
            let wire = encode(&s);
            assert!(wire.is_ascii());
            assert_eq!(decode(wire.as_bytes()).as_deref(), Ok(s.as_str()), "{wire}");
            assert_eq!(decode_lossy(wire.as_bytes()), s);
        }
    }

    #[test]
    fn strict_decode_accepts_only_canonical_input() {
        // Random wire strings biased towards the interesting bytes: whatever
        // strict decode accepts must re-encode to exactly the same bytes, and
        // nothing may panic.
        const BYTES: &[u8] = b"&&&---AAAOQ5Za2D3eg,,+/=z9 \x7f\x80\xff\0\t";
        let mut accepted = 0;
        for wire in crate::test_input::random_strings(BYTES, 12, 200_000) {
            let lossy = decode_lossy(&wire);
            match decode(&wire) {
                Ok(s) => {
                    accepted += 1;
                    assert_eq!(encode(&s).as_bytes(), wire.as_slice(), "{s:?}");
                    assert_eq!(lossy, s);
                }
                Err(e) => assert!(e.offset <= wire.len(), "{e} for {wire:?}"),
            }
        }
        // Make sure the generator actually produced valid inputs too.
        assert!(accepted > 1000, "only {accepted} accepted");
    }

    #[test]
    fn rejects_bytes_that_cannot_be_there() {
        // Both errors name the byte at their offset. The last is
        // unterminated too, but the bad character is the more useful report.
        let not_printable: fn(u8) -> ErrorKind = ErrorKind::NotPrintableAscii;
        let not_base64: fn(u8) -> ErrorKind = ErrorKind::InvalidBase64;
        for (wire, at, kind) in [
            (&b"a\x80b"[..], 1, not_printable),
            ("Entwürfe".as_bytes(), 4, not_printable),
            (b"a\tb", 1, not_printable),
            (b"\0", 0, not_printable),
            (b"x\x7f", 1, not_printable),
            (b"&AOQ-\xff", 5, not_printable),
            (b"&AO/-", 3, not_base64),
            (b"&AO=-", 3, not_base64),
            (b"&&-", 1, not_base64),
            (b"&AO Q-", 3, not_base64),
            (b"&AO\xc3\xa4-", 3, not_base64),
            (b"&AO.Q", 3, not_base64),
        ] {
            assert_eq!(fails(wire), (at, kind(wire[at])), "{wire:?}");
        }
    }

    #[test]
    fn rejects_malformed_shifts() {
        rejects(ErrorKind::Unterminated, "&@0 abc&AOQ@3 &AOQ-x&@6");
        rejects(ErrorKind::NonZeroBits, "&AOR-@0 &APx-@0");
        rejects(
            ErrorKind::IncompleteUnit,
            "&A-@0 &AO-@0 &AOQA-@0 &AOQA5AA-@0",
        );
        rejects(ErrorKind::AdjacentShift, "&AOQ-&AOQ-@5 x&AOQ-&2D3eAA-y@6");
        // Separated by a direct character or by "&-" is fine.
        assert_eq!(decode(b"&AOQ-x&AOQ-").as_deref(), Ok("äxä"));
        assert_eq!(decode(b"&AOQ-&-&AOQ-").as_deref(), Ok("ä&ä"));
    }

    #[test]
    fn rejects_what_a_shift_must_not_encode() {
        // Printable ASCII must be itself; the last is 'ä' then 'a' in one run.
        for (wire, c) in [
            ("&AGE-", 'a'),
            ("x&ACY-", '&'),
            ("&ACA-", ' '),
            ("&AH4-", '~'),
            ("&AOQAYQ-", 'a'),
        ] {
            let at = wire.find('&').unwrap_or(0);
            assert_eq!(
                fails(wire.as_bytes()),
                (at, ErrorKind::MustBeDirect(c)),
                "{wire}"
            );
        }
        // A lone high or low surrogate, low before high, high followed by a
        // non-surrogate, high followed by another high.
        for (wire, unit) in [
            ("&2D0-", 0xd83d),
            ("&3gA-", 0xde00),
            ("&3gDYPQ-", 0xde00),
            ("&2D0A5A-", 0xd83d),
            ("&2D3YPQ-", 0xd83d),
        ] {
            assert_eq!(
                fails(wire.as_bytes()),
                (0, ErrorKind::LoneSurrogate(unit)),
                "{wire}"
            );
        }
    }

    #[test]
    fn error_display() {
        let msg = |w: &[u8]| decode(w).map_err(|e| e.to_string()).err();
        assert_eq!(
            msg(b"Sent&AGE-").as_deref(),
            Some(
                "invalid modified UTF-7 mailbox name at byte 4: \
                 shift encodes 'a', which must be represented as itself"
            )
        );
        assert_eq!(
            msg(b"a\x80").as_deref(),
            Some(
                "invalid modified UTF-7 mailbox name at byte 1: \
                 byte 0x80 is not printable US-ASCII and must be encoded"
            )
        );
        assert_eq!(
            msg(b"&AOQ-&AOQ-").as_deref(),
            Some(
                "invalid modified UTF-7 mailbox name at byte 5: \
                 shift directly follows another shift; they must be merged"
            )
        );
        assert_eq!(
            msg(b"&2D0-").as_deref(),
            Some(
                "invalid modified UTF-7 mailbox name at byte 0: \
                 shift contains unpaired UTF-16 surrogate 0xD83D"
            )
        );
        assert_eq!(
            msg(b"ab&AOQ").as_deref(),
            Some(
                "invalid modified UTF-7 mailbox name at byte 2: '&' shift is not terminated by '-'"
            )
        );
    }

    #[test]
    fn decode_lossy_on_invalid_input() {
        assert_eq!(decode_lossy(b"&AOQ-&AOQ-"), "ää");
        assert_eq!(decode_lossy(b"x&AOQ-&2D3eAA-y"), "xä😀y");
        assert_eq!(decode_lossy(b"&AGE-"), "&AGE-");
        assert_eq!(decode_lossy(b"a\xffb&"), "a\u{fffd}b&");
        assert_eq!(decode_lossy("Entwürfe".as_bytes()), "Entwürfe");
        assert_eq!(decode_lossy(b"&2D0-"), "&2D0-");
        assert_eq!(decode_lossy(b"&AOR-"), "&AOR-");
        assert_eq!(decode_lossy(b"tab\there"), "tab\there");
        assert_eq!(decode_lossy(b""), "");
    }
}
