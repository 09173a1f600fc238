//! Standard base64 (RFC 4648 section 4: alphabet `A-Za-z0-9+/`, `=` padding),
//! used for SASL exchanges. Encoding always pads. Decoding is strict (no
//! whitespace, no stray characters, no non-zero trailing bits), except that
//! input with the `=` padding omitted is accepted when its length is valid.

use std::fmt;

/// Why a base64 text could not be decoded, and at which byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Error {
    offset: usize,
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// A byte that is neither in the alphabet nor `=`.
    InvalidByte(u8),
    /// `=` followed by a non-`=` byte.
    MisplacedPadding,
    /// More than two `=`, or padding that does not complete a 4-byte group.
    BadPadding,
    /// The unpadded length leaves a single character in the last group.
    InvalidLength,
    /// The last character carries bits beyond the decoded data.
    NonZeroTrailingBits,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid base64 at byte {}: ", self.offset)?;
        match self.kind {
            ErrorKind::InvalidByte(b) if b.is_ascii_graphic() => {
                write!(f, "'{}' is not a base64 character", char::from(b))
            }
            ErrorKind::InvalidByte(b) => write!(f, "byte 0x{b:02x} is not a base64 character"),
            ErrorKind::MisplacedPadding => f.write_str("'=' padding is followed by more data"),
            ErrorKind::BadPadding => {
                f.write_str("'=' padding does not complete a group of 4 characters")
            }
            ErrorKind::InvalidLength => {
                f.write_str("a single character cannot encode a whole byte (bad length)")
            }
            ErrorKind::NonZeroTrailingBits => {
                f.write_str("last character has non-zero unused bits")
            }
        }
    }
}

impl std::error::Error for Base64Error {}

/// Maps a 6-bit value (only the low 6 bits are used) to its alphabet byte.
/// Also the alphabet of IMAP's modified base64 (`mutf7`), but for 63.
pub fn sextet_to_byte(v: u32) -> u8 {
    // Masked to 0..=63, so the casts below cannot truncate meaningful bits.
    let v = (v & 0x3f) as u8;
    match v {
        0..=25 => b'A' + v,
        26..=51 => b'a' + (v - 26),
        52..=61 => b'0' + (v - 52),
        62 => b'+',
        _ => b'/',
    }
}

/// Maps an alphabet byte to its 6-bit value.
pub const fn byte_to_sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Encodes `data` as padded standard base64.
#[must_use]
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let (b0, b1, b2) = match *chunk {
            [a] => (a, 0, 0),
            [a, b] => (a, b, 0),
            [a, b, c] => (a, b, c),
            _ => continue,
        };
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        out.push(char::from(sextet_to_byte(n >> 18)));
        out.push(char::from(sextet_to_byte(n >> 12)));
        out.push(if chunk.len() > 1 {
            char::from(sextet_to_byte(n >> 6))
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            char::from(sextet_to_byte(n))
        } else {
            '='
        });
    }
    out
}

/// A byte outside the alphabet in [`SEXTETS`].
const NOT_BASE64: u8 = 0xff;

/// Each byte's sextet, or NOT_BASE64: one table lookup per byte, which a
/// 200 KiB CA bundle decoded on every run notices.
const SEXTETS: [u8; 256] = {
    let mut table = [NOT_BASE64; 256];
    let mut i = 0;
    while i < 256 {
        if let Some(v) = byte_to_sextet(i as u8) {
            table[i] = v;
        }
        i += 1;
    }
    table
};

/// Decodes standard base64 strictly; `=` padding may be omitted entirely.
///
/// # Errors
///
/// Fails on a byte outside the alphabet (whitespace included), misplaced or
/// excess `=`, a length that leaves one character over, or non-zero unused
/// bits in the last character.
pub fn decode(text: &[u8]) -> Result<Vec<u8>, Base64Error> {
    let err = |offset, kind| Err(Base64Error { offset, kind });

    if let Some(pos) = text
        .iter()
        .position(|&c| c != b'=' && SEXTETS[usize::from(c)] == NOT_BASE64)
    {
        let byte = text.get(pos).copied().unwrap_or(0);
        return err(pos, ErrorKind::InvalidByte(byte));
    }

    let pad = text.iter().rev().take_while(|&&c| c == b'=').count();
    let (data, _) = text.split_at(text.len() - pad);
    if pad > 2 || (pad > 0 && !text.len().is_multiple_of(4)) {
        return err(data.len(), ErrorKind::BadPadding);
    }
    if let Some(pos) = data.iter().position(|&c| c == b'=') {
        return err(pos, ErrorKind::MisplacedPadding);
    }
    if data.len() % 4 == 1 {
        return err(data.len() - 1, ErrorKind::InvalidLength);
    }

    // Every byte of `data` is in the alphabet (checked above).
    let sextet = |c: u8| u32::from(SEXTETS[usize::from(c)]);
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let mut groups = data.chunks_exact(4);
    for g in &mut groups {
        let n = (sextet(g[0]) << 18) | (sextet(g[1]) << 12) | (sextet(g[2]) << 6) | sextet(g[3]);
        let [_, b0, b1, b2] = n.to_be_bytes();
        out.extend_from_slice(&[b0, b1, b2]);
    }
    let base = data.len() - groups.remainder().len();
    match *groups.remainder() {
        [] => {}
        [a, b, c] if sextet(c) & 0x03 == 0 => {
            let n = (sextet(a) << 18) | (sextet(b) << 12) | (sextet(c) << 6);
            let [_, b0, b1, _] = n.to_be_bytes();
            out.extend_from_slice(&[b0, b1]);
        }
        [_, _, _] => return err(base + 2, ErrorKind::NonZeroTrailingBits),
        [a, b] if sextet(b) & 0x0f == 0 => {
            let [_, b0, _, _] = ((sextet(a) << 18) | (sextet(b) << 12)).to_be_bytes();
            out.push(b0);
        }
        [_, _] => return err(base + 1, ErrorKind::NonZeroTrailingBits),
        _ => return err(base, ErrorKind::InvalidLength),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of `cases` (see `failing_at`) fails with `kind` there.
    fn rejects(kind: ErrorKind, cases: &str) {
        for (input, at) in crate::test_input::failing_at(cases) {
            assert_eq!(kind_at(input.as_bytes()), (at, kind), "{input:?}");
        }
    }

    fn kind_at(text: &[u8]) -> (usize, ErrorKind) {
        match decode(text) {
            Ok(v) => panic!("{text:?} unexpectedly decoded to {v:?}"),
            Err(e) => (e.offset, e.kind),
        }
    }

    const VECTORS: [(&str, &str); 7] = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];

    #[test]
    fn rfc4648_vectors_encode() {
        for (plain, encoded) in VECTORS {
            assert_eq!(encode(plain.as_bytes()), encoded, "encode {plain:?}");
        }
    }

    #[test]
    fn rfc4648_vectors_decode() {
        for (plain, encoded) in VECTORS {
            assert_eq!(
                decode(encoded.as_bytes()),
                Ok(plain.as_bytes().to_vec()),
                "decode {encoded:?}"
            );
        }
    }

    #[test]
    fn rfc4648_vectors_decode_without_padding() {
        let cases = [
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(decode(encoded.as_bytes()), Ok(plain.as_bytes().to_vec()));
        }
    }

    #[test]
    fn full_alphabet() {
        // The sextets 0..63 in order, packed into 48 bytes.
        let bytes: Vec<u8> = (0u32..16)
            .flat_map(|i| {
                let n = ((4 * i) << 18) | ((4 * i + 1) << 12) | ((4 * i + 2) << 6) | (4 * i + 3);
                let [_, a, b, c] = n.to_be_bytes();
                [a, b, c]
            })
            .collect();
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        assert_eq!(encode(&bytes).as_bytes(), alphabet);
        assert_eq!(decode(alphabet), Ok(bytes));
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(decode(b"+/+/"), Ok(vec![0xfb, 0xff, 0xbf]));
        assert_eq!(encode(&[0, 0, 0]), "AAAA");
        assert_eq!(encode(&[0xff]), "/w==");
    }

    #[test]
    fn sasl_plain_example() {
        assert_eq!(
            encode(b"\0tim\0tanstaaftanstaaf"),
            "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        assert_eq!(
            decode(b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"),
            Ok(b"\0tim\0tanstaaftanstaaf".to_vec())
        );
    }

    #[test]
    fn binary_round_trips_all_lengths() {
        let mut state: u32 = 0x1234_5678;
        for len in 0..300usize {
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    // Mix in the index so runs of 0x00 / 0xff also appear.
                    match i % 7 {
                        0 => 0x00,
                        1 => 0xff,
                        _ => state.to_le_bytes()[0],
                    }
                })
                .collect();
            let text = encode(&data);
            assert_eq!(text.len(), len.div_ceil(3) * 4, "length for {len}");
            assert!(
                text.bytes()
                    .all(|c| byte_to_sextet(c).is_some() || c == b'=')
            );
            assert_eq!(decode(text.as_bytes()).as_ref(), Ok(&data), "len {len}");
            let unpadded = text.trim_end_matches('=');
            assert_eq!(decode(unpadded.as_bytes()).as_ref(), Ok(&data), "len {len}");
        }
    }

    #[test]
    fn decode_accepts_only_canonical_input() {
        // Whatever decode accepts must re-encode to the same text, possibly
        // with padding added; nothing may panic.
        const BYTES: &[u8] = b"AAAQgwZz09+/=== -\n\xff";
        let mut accepted = 0;
        for text in crate::test_input::random_strings(BYTES, 10, 200_000) {
            match decode(&text) {
                Ok(data) => {
                    accepted += 1;
                    let again = encode(&data);
                    let padded = again.as_bytes();
                    let unpadded = again.trim_end_matches('=').as_bytes();
                    assert!(padded == text || unpadded == text, "{text:?}");
                }
                Err(e) => assert!(e.offset < text.len(), "{e} for {text:?}"),
            }
        }
        assert!(accepted > 1000, "only {accepted} accepted");
    }

    #[test]
    fn rejects_invalid_bytes() {
        // The error names the byte at its offset.
        for (text, at) in [
            (&b"Zm9v!"[..], 4),
            (b"Zm 9v", 2),
            (b"Zm9v\r\n", 4),
            (b"Zm9v\n", 4),
            (b"Zm-_", 2),
            (b"Zm9\xc3", 3),
            (b"\0", 0),
        ] {
            assert_eq!(kind_at(text), (at, ErrorKind::InvalidByte(text[at])));
        }
    }

    #[test]
    fn rejects_bad_padding_length_and_bits() {
        let bad_padding = "Zg=@2 Z===@1 ====@0 =@0 ==@0 Zm9v=@4 Zm9v====@4 Zg===@2 Zm8==@3";
        rejects(ErrorKind::BadPadding, bad_padding);
        rejects(ErrorKind::MisplacedPadding, "Zg==Zm9v@2 Z=9v@1 Zm=v@2");
        rejects(ErrorKind::InvalidLength, "Z@0 Zm9vY@4");
        // "Zg==" is 'f', "Zh==" sets an unused bit; "Zm8=" is "fo", "Zm9="
        // sets one.
        rejects(
            ErrorKind::NonZeroTrailingBits,
            "Zh==@1 Zh@1 Zm9=@2 Zm9vZm9@6",
        );
    }

    #[test]
    fn error_display() {
        for (text, message) in [
            (&b"Zm9v!"[..], "at byte 4: '!' is not a base64 character"),
            (b"Zm\n9", "at byte 2: byte 0x0a is not a base64 character"),
            (
                b"Zh==",
                "at byte 1: last character has non-zero unused bits",
            ),
            (
                b"Zg=",
                "at byte 2: '=' padding does not complete a group of 4 characters",
            ),
        ] {
            let shown = decode(text).map_err(|e| e.to_string()).err();
            assert_eq!(shown, Some(format!("invalid base64 {message}")));
        }
    }
}
