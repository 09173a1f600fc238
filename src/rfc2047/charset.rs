//! The charsets an encoded word is decoded from: UTF-8, US-ASCII, the
//! iso-8859-1/windows-1252 family, iso-8859-2 and iso-8859-15, with their
//! labels and code tables.

use super::REPLACEMENT;

/// A charset decoded here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Charset {
    Utf8,
    UsAscii,
    /// iso-8859-1 and windows-1252 (see the module documentation).
    Windows1252,
    Latin2,
    Latin9,
}

impl Charset {
    /// Looks up a lower-case charset label (without language suffix).
    pub(super) fn from_label(label: &str) -> Option<Charset> {
        Some(match label {
            "utf-8" | "utf8" => Charset::Utf8,
            "us-ascii" | "ascii" | "ansi_x3.4-1968" => Charset::UsAscii,
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "iso-ir-100" | "latin1" | "latin-1"
            | "l1" | "cp819" | "windows-1252" | "cp1252" | "x-cp1252" => Charset::Windows1252,
            "iso-8859-2" | "iso8859-2" | "iso_8859-2" | "iso-ir-101" | "latin2" | "latin-2"
            | "l2" => Charset::Latin2,
            "iso-8859-15" | "iso8859-15" | "iso_8859-15" | "latin-9" | "latin9" | "l9" => {
                Charset::Latin9
            }
            _ => return None,
        })
    }

    /// Decodes bytes in this charset. Bytes that are invalid or undefined in
    /// it become U+FFFD; control characters are passed through.
    pub(super) fn decode(self, bytes: &[u8]) -> String {
        match self {
            Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Charset::UsAscii => bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        REPLACEMENT
                    }
                })
                .collect(),
            Charset::Windows1252 => bytes.iter().map(|&b| windows_1252(b)).collect(),
            Charset::Latin2 => bytes.iter().map(|&b| latin2(b)).collect(),
            Charset::Latin9 => bytes.iter().map(|&b| latin9(b)).collect(),
        }
    }
}

/// windows-1252 0x80–0x9F; U+FFFD where the code page defines nothing.
const WINDOWS_1252_80_9F: [char; 32] = [
    '€',
    REPLACEMENT,
    '‚',
    'ƒ',
    '„',
    '…',
    '†',
    '‡',
    'ˆ',
    '‰',
    'Š',
    '‹',
    'Œ',
    REPLACEMENT,
    'Ž',
    REPLACEMENT,
    REPLACEMENT,
    '‘',
    '’',
    '“',
    '”',
    '•',
    '–',
    '—',
    '˜',
    '™',
    'š',
    '›',
    'œ',
    REPLACEMENT,
    'ž',
    'Ÿ',
];

fn windows_1252(b: u8) -> char {
    from_table(b, 0x80, &WINDOWS_1252_80_9F)
}

/// `b` from `table`, which holds the characters from byte `first` on;
/// bytes outside the table are those of iso-8859-1.
fn from_table(b: u8, first: u8, table: &[char]) -> char {
    match b.checked_sub(first).and_then(|i| table.get(usize::from(i))) {
        Some(&c) => c,
        None => char::from(b),
    }
}

/// iso-8859-15: iso-8859-1 with eight code points replaced.
fn latin9(b: u8) -> char {
    match b {
        0xA4 => '€',
        0xA6 => 'Š',
        0xA8 => 'š',
        0xB4 => 'Ž',
        0xB8 => 'ž',
        0xBC => 'Œ',
        0xBD => 'œ',
        0xBE => 'Ÿ',
        _ => char::from(b),
    }
}

/// iso-8859-2 0xA0–0xFF (0x00–0x9F are the same as in iso-8859-1).
const LATIN2_A0_FF: [char; 96] = [
    '\u{A0}', 'Ą', '˘', 'Ł', '¤', 'Ľ', 'Ś', '§', '¨', 'Š', 'Ş', 'Ť', 'Ź', '\u{AD}', 'Ž',
    'Ż', //
    '°', 'ą', '˛', 'ł', '´', 'ľ', 'ś', 'ˇ', '¸', 'š', 'ş', 'ť', 'ź', '˝', 'ž', 'ż', //
    'Ŕ', 'Á', 'Â', 'Ă', 'Ä', 'Ĺ', 'Ć', 'Ç', 'Č', 'É', 'Ę', 'Ë', 'Ě', 'Í', 'Î', 'Ď', //
    'Đ', 'Ń', 'Ň', 'Ó', 'Ô', 'Ő', 'Ö', '×', 'Ř', 'Ů', 'Ú', 'Ű', 'Ü', 'Ý', 'Ţ', 'ß', //
    'ŕ', 'á', 'â', 'ă', 'ä', 'ĺ', 'ć', 'ç', 'č', 'é', 'ę', 'ë', 'ě', 'í', 'î', 'ď', //
    'đ', 'ń', 'ň', 'ó', 'ô', 'ő', 'ö', '÷', 'ř', 'ů', 'ú', 'ű', 'ü', 'ý', 'ţ', '˙', //
];

fn latin2(b: u8) -> char {
    from_table(b, 0xA0, &LATIN2_A0_FF)
}
