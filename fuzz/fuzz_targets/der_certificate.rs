//! The DER certificate reader (src/der.rs): `parse_certificate` on arbitrary
//! bytes never panics, and on success every string it returns is safe to
//! print: no control character (C0, DEL, C1) and no bidi embedding,
//! override or isolate mark, all of which it must have escaped.

#![no_main]

use imapcheck::der::{days_left, format_rfc3339, parse_certificate};
use libfuzzer_sys::fuzz_target;

fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn check(what: &str, s: &str) {
    if let Some(c) = s.chars().find(|&c| unsafe_char(c)) {
        panic!("{what} contains unescaped {c:?}: {s:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    match parse_certificate(data) {
        Ok(info) => {
            check("subject", &info.subject);
            check("issuer", &info.issuer);
            for name in &info.dns_names {
                check("dNSName", name);
            }
            // What the report does with the dates, for any i64.
            for t in [info.not_before, info.not_after] {
                let shown = format_rfc3339(t);
                assert!(shown.is_ascii() && shown.ends_with('Z'), "{t} -> {shown}");
                let _ = days_left(t, 1_800_000_000);
                let _ = days_left(t, i64::MIN);
                let _ = days_left(t, i64::MAX);
            }
            for ip in &info.ip_addresses {
                let _ = ip.to_string();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
