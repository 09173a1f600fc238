//! The exporter's request-head parser (src/serve/http.rs) on arbitrary
//! bytes, as the server feeds it (the bytes received so far): never a
//! panic; a complete head is at most `MAX_HEAD` bytes, ends in CRLF CRLF,
//! and parses the same without the bytes after it; every strict prefix of
//! it is still incomplete (the server never answers a head early); its
//! path starts with '/' and no decoded path or query holds a control
//! character; "incomplete" means no CRLF CRLF yet and under `MAX_HEAD`; a
//! refusal is one of the statuses the server sends, with a one-line reason.

#![no_main]

use imapcheck::serve::http::{MAX_HEAD, Parsed, parse};
use libfuzzer_sys::fuzz_target;

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Parsed::Complete(req, used) => {
            assert!(used <= data.len() && used <= MAX_HEAD, "used {used} of {}", data.len());
            assert!(data[..used].ends_with(b"\r\n\r\n"));
            assert_eq!(parse(&data[..used]), Parsed::Complete(req.clone(), used));
            for cut in [used - 1, used / 2, 1] {
                if cut < used {
                    assert!(
                        matches!(parse(&data[..cut]), Parsed::Incomplete),
                        "a prefix of {cut} bytes is not incomplete"
                    );
                }
            }
            assert!(req.path.starts_with('/') && !has_control(&req.path));
            for (k, v) in &req.query {
                assert!(!has_control(k) && !has_control(v), "{k:?}={v:?}");
            }
            if let Some(t) = req.scrape_timeout {
                assert!(t.is_finite() && t > 0.0);
            }
        }
        Parsed::Incomplete => {
            assert!(data.len() < MAX_HEAD);
            assert!(!data.windows(4).any(|w| w == b"\r\n\r\n"));
        }
        Parsed::Refused(r) => {
            assert!([400, 405, 431, 505].contains(&r.status), "status {}", r.status);
            assert!(!r.reason.is_empty() && !r.reason.contains(['\r', '\n']));
        }
    }
});
