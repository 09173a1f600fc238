//! The two encodings of an encoded word's text (RFC 2047 section 4): "B"
//! (base64) and "Q" (quoted-printable-like), to the bytes of its charset.

use crate::base64;

/// The "B" encoding: standard base64. Missing `=` padding and non-zero
/// trailing bits are tolerated; any other defect gives `None`.
pub(super) fn decode_b(text: &[u8]) -> Option<Vec<u8>> {
    let mut body = text;
    for _ in 0..2 {
        body = body.strip_suffix(b"=").unwrap_or(body);
    }
    if body.len() % 4 == 1 {
        // A single character in the last group cannot encode a whole byte.
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &b in body {
        let value = base64::byte_to_sextet(b)?;
        acc = (acc << 6 | u32::from(value)) & 0xFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xFF) as u8);
        }
    }
    Some(out)
}

/// The "Q" encoding: `_` is a space, `=XX` a hex-encoded byte (either case),
/// anything else itself. A `=` not followed by two hex digits gives `None`.
pub(super) fn decode_q(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter();
    while let Some(&b) = bytes.next() {
        out.push(match b {
            b'_' => b' ',
            b'=' => {
                let high = bytes.next().and_then(|&h| hex_value(h))?;
                let low = bytes.next().and_then(|&l| hex_value(l))?;
                high << 4 | low
            }
            b => b,
        });
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}
