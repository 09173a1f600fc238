//! RFC 2047 encoded words (src/rfc2047.rs): `decode` on arbitrary bytes never
//! panics; its text has no control character (C0 including TAB/CR/LF, DEL,
//! C1); the text is at most 3 bytes per input byte (U+FFFD, the widest thing
//! one byte can become, is 3 bytes in UTF-8); and plain UTF-8 text without
//! an encoded word or a control character comes out unchanged.

#![no_main]

use imapcheck::rfc2047::decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let d = decode(data);
    if let Some(c) = d.text.chars().find(|c| c.is_control()) {
        panic!("control character {c:?} in the output {:?}", d.text);
    }
    assert!(
        d.text.len() <= 3 * data.len(),
        "{} input bytes gave {} output bytes",
        data.len(),
        d.text.len()
    );
    for cs in &d.undecoded_charsets {
        assert!(
            !cs.is_empty() && cs.bytes().all(|b| b.is_ascii_graphic()),
            "undecoded charset {cs:?}"
        );
    }
    let has_word_start = data.windows(2).any(|w| w == b"=?");
    if !has_word_start {
        assert!(!d.changed && !d.malformed, "no '=?' yet changed/malformed");
        if let Ok(s) = std::str::from_utf8(data)
            && !s.chars().any(|c| c.is_control())
        {
            assert_eq!(d.text, s, "plain text altered");
        }
    }
});
