//! SHA-512 crypt, as Ulrich Drepper's "Unix crypt using SHA-256 and
//! SHA-512" specifies it: the `$6$[rounds=N$]salt$hash` strings of the
//! users file (parsed and checked against a password here), and the
//! algorithm itself, a pure function of password, salt and rounds over
//! the SHA-512 of the `openssl` crate. What a users file and a request
//! may ask of it (`MAX_ROUNDS`) is webauth's, as is the constant-time
//! comparison of what it computes.

use openssl::sha::Sha512;

use super::{MAX_ROUNDS, constant_time_eq};

/// The spec's rounds when the hash does not say (`$6$salt$…`).
pub(super) const DEFAULT_ROUNDS: u32 = 5000;
/// The spec's bounds on `rounds=`.
pub(super) const MIN_ROUNDS: u32 = 1000;
pub(super) const SPEC_MAX_ROUNDS: u32 = 999_999_999;
/// The spec uses at most this many salt characters.
pub(super) const MAX_SALT: usize = 16;
/// 64 bytes of SHA-512 in crypt's base64: 21 groups of 4, and 2.
pub(super) const HASH_CHARS: usize = 86;

/// crypt's base64 alphabet, which is not RFC 4648's.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// One SHA-512 crypt hash: its salt and rounds, and the 86 characters.
#[derive(Clone)]
pub(super) struct Sha512Crypt {
    pub(super) salt: Vec<u8>,
    pub(super) rounds: u32,
    pub(super) hash: [u8; HASH_CHARS],
}

impl Sha512Crypt {
    /// `$6$[rounds=N$]salt$hash` as stored in the users file.
    pub(super) fn parse(text: &str) -> Result<Sha512Crypt, String> {
        if text.starts_with("$2a$") || text.starts_with("$2b$") || text.starts_with("$2y$") {
            return Err(
                "bcrypt hashes are not supported (Blowfish is not available here); make a SHA-512 crypt hash with `openssl passwd -6` or `mkpasswd -m sha-512`".into(),
            );
        }
        let Some(rest) = text.strip_prefix("$6$") else {
            // Only a scheme's `$id$` is shown: what stands there may be a
            // password written in by mistake, and errors end up in logs.
            let scheme = match text.split('$').nth(1) {
                Some(id) if text.starts_with('$') && id.len() <= 2 => format!("${id}$ hashes"),
                _ => "a field that is no crypt hash".into(),
            };
            return Err(format!(
                "the hash must be SHA-512 crypt ($6$...), as `openssl passwd -6` prints, not {scheme}"
            ));
        };
        let (rounds, rest) = match rest.strip_prefix("rounds=") {
            Some(r) => {
                let (n, rest) = r
                    .split_once('$')
                    .ok_or("rounds= is not followed by '$' and the salt")?;
                let rounds = parse_rounds(n)?;
                (rounds, rest)
            }
            None => (DEFAULT_ROUNDS, rest),
        };
        let (salt, hash) = rest
            .split_once('$')
            .ok_or("expected $6$salt$hash: no '$' after the salt")?;
        if salt.len() > MAX_SALT {
            return Err(format!(
                "the salt has {} characters; SHA-512 crypt uses at most {MAX_SALT}",
                salt.len()
            ));
        }
        if hash.len() != HASH_CHARS || !hash.bytes().all(|b| CRYPT_ALPHABET.contains(&b)) {
            return Err(format!(
                "the hash after the salt must be {HASH_CHARS} characters of ./0-9A-Za-z (the hash may be cut short)"
            ));
        }
        let mut stored = [0u8; HASH_CHARS];
        stored.copy_from_slice(hash.as_bytes());
        Ok(Sha512Crypt {
            salt: salt.as_bytes().to_vec(),
            rounds,
            hash: stored,
        })
    }

    pub(super) fn verify(&self, password: &[u8]) -> bool {
        let computed = encode(&sha512_crypt(password, &self.salt, self.rounds));
        constant_time_eq(&computed, &self.hash)
    }
}

/// `rounds=` of a stored hash: the spec's range, and our cap.
fn parse_rounds(n: &str) -> Result<u32, String> {
    let rounds: u32 = if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
        n.parse()
            .map_err(|_| format!("rounds={} is beyond the spec's {SPEC_MAX_ROUNDS}", cut(n)))?
    } else {
        return Err(format!("rounds={} is not a number", cut(n)));
    };
    if rounds < MIN_ROUNDS {
        return Err(format!(
            "rounds={rounds} is below the spec's minimum of {MIN_ROUNDS} (crypt would have written rounds={MIN_ROUNDS})"
        ));
    }
    if rounds > MAX_ROUNDS {
        return Err(format!(
            "rounds={rounds} is more than imapcheck checks per request (at most {MAX_ROUNDS}, to bound each request's CPU); make a hash with fewer rounds"
        ));
    }
    Ok(rounds)
}

fn cut(s: &str) -> String {
    s.chars()
        .take(20)
        .collect::<String>()
        .escape_default()
        .to_string()
}

/// The spec's algorithm, steps 1 to 21: the 64-byte digest C of the
/// password with at most 16 bytes of `salt` and `rounds` (clamped to the
/// spec's range) rounds.
pub(super) fn sha512_crypt(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
    let salt = &salt[..salt.len().min(MAX_SALT)];
    let rounds = rounds.clamp(MIN_ROUNDS, SPEC_MAX_ROUNDS);
    // Digest B: password, salt, password.
    let mut b = Sha512::new();
    b.update(password);
    b.update(salt);
    b.update(password);
    let b = b.finish();
    // Digest A: password, salt, as many bytes of B as the password has,
    // then B or the password for each bit of the password's length.
    let mut a = Sha512::new();
    a.update(password);
    a.update(salt);
    repeat_into(&mut a, &b, password.len());
    let mut n = password.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(&b);
        } else {
            a.update(password);
        }
        n >>= 1;
    }
    let a = a.finish();
    // Digest DP: the password once for each of its bytes; P is as many
    // bytes of it as the password has.
    let mut dp = Sha512::new();
    for _ in 0..password.len() {
        dp.update(password);
    }
    let p = repeated(&dp.finish(), password.len());
    // Digest DS: the salt 16 + A[0] times; S is as many bytes as the salt.
    let mut ds = Sha512::new();
    for _ in 0..16 + usize::from(a[0]) {
        ds.update(salt);
    }
    let s = repeated(&ds.finish(), salt.len());
    // The rounds: each digest of the previous one, P and S in an order
    // set by the round's number.
    let mut c = a;
    for i in 0..rounds {
        let mut d = Sha512::new();
        if i % 2 == 1 {
            d.update(&p);
        } else {
            d.update(&c);
        }
        if i % 3 != 0 {
            d.update(&s);
        }
        if i % 7 != 0 {
            d.update(&p);
        }
        if i % 2 == 1 {
            d.update(&c);
        } else {
            d.update(&p);
        }
        c = d.finish();
    }
    c
}

/// Adds `len` bytes of `block` repeated to `digest`.
fn repeat_into(digest: &mut Sha512, block: &[u8; 64], len: usize) {
    let mut left = len;
    while left >= block.len() {
        digest.update(block);
        left -= block.len();
    }
    digest.update(&block[..left]);
}

fn repeated(block: &[u8; 64], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

/// The spec's step 22: the digest's bytes in its fixed order, three at a
/// time (low six bits first) in crypt's alphabet.
pub(super) fn encode(c: &[u8; 64]) -> [u8; HASH_CHARS] {
    let mut out = [0u8; HASH_CHARS];
    let mut at = 0;
    let mut put = |b2: u8, b1: u8, b0: u8, chars: usize| {
        let mut w = u32::from(b2) << 16 | u32::from(b1) << 8 | u32::from(b0);
        for _ in 0..chars {
            out[at] = CRYPT_ALPHABET[(w & 0x3f) as usize];
            at += 1;
            w >>= 6;
        }
    };
    // Groups (k, k+21, k+42), rotated by one place every group.
    for k in 0..21 {
        let (x, y, z) = (c[k], c[k + 21], c[k + 42]);
        match k % 3 {
            0 => put(x, y, z, 4),
            1 => put(y, z, x, 4),
            _ => put(z, x, y, 4),
        }
    }
    put(0, 0, c[63], 2);
    out
}
