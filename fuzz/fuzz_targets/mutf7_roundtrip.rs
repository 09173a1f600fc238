//! Modified UTF-7 mailbox names (src/mutf7.rs).
//!
//! - Any valid UTF-8 string: `encode` gives printable US-ASCII, and both
//!   `decode` and `decode_lossy` give the string back.
//! - Any bytes: `decode` and `decode_lossy` never panic; whatever the strict
//!   `decode` accepts is canonical (re-encodes to the very same bytes) and
//!   `decode_lossy` agrees with it.

#![no_main]

use imapcheck::mutf7::{decode, decode_lossy, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = std::str::from_utf8(data) {
        let wire = encode(name);
        assert!(
            wire.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "encode({name:?}) = {wire:?} is not printable US-ASCII"
        );
        match decode(wire.as_bytes()) {
            Ok(back) => assert_eq!(back, name, "decode(encode(s)) != s for {wire:?}"),
            Err(e) => panic!("decode rejects encode({name:?}) = {wire:?}: {e}"),
        }
        assert_eq!(
            decode_lossy(wire.as_bytes()),
            name,
            "decode_lossy of {wire:?}"
        );
    }

    let lossy = decode_lossy(data);
    match decode(data) {
        Ok(name) => {
            assert_eq!(
                encode(&name).as_bytes(),
                data,
                "{:?} decodes to {name:?}, which encodes differently",
                String::from_utf8_lossy(data)
            );
            assert_eq!(lossy, name, "decode_lossy disagrees with decode");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
