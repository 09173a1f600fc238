//! Pseudo-random input for the codecs' unit tests: one xorshift generator
//! for all of them (no crate needed), and random strings drawn from a set
//! of bytes that makes the interesting cases likely; and a compact way to
//! write where each of many inputs must fail.
//! Test code only: lib.rs declares this module under #[cfg(test)].

/// xorshift64 (Marsaglia): the same sequence for the same seed.
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `count` strings of fewer than `max_len` bytes, each byte drawn from
/// `bytes` (repeat a byte there to draw it more often).
pub fn random_strings(bytes: &[u8], max_len: u64, count: usize) -> Vec<Vec<u8>> {
    let mut rng = Xorshift::new(0x2545_f491_4f6c_dd1d);
    (0..count)
        .map(|_| {
            let mut r = rng.next();
            let len = (r % max_len) as usize;
            r >>= 4;
            let mut text = Vec::with_capacity(len);
            for _ in 0..len {
                let i = (r % bytes.len() as u64) as usize;
                text.push(bytes.get(i).copied().unwrap_or(b'A'));
                r = r.rotate_right(5);
            }
            text
        })
        .collect()
}

/// `cases` written as `input@offset`, space-separated: each input and the
/// offset at which it must fail.
pub fn failing_at(cases: &str) -> Vec<(&str, usize)> {
    cases
        .split(' ')
        .map(|case| {
            let (input, at) = case.rsplit_once('@').expect("input@offset");
            (input, at.parse().expect("a number after @"))
        })
        .collect()
}
