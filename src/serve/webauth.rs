//! Basic authentication for the exporter's HTTP endpoint: the users file
//! (`imapcheck serve --web-auth-file`, one `user:hash` line each) and the
//! check of an `Authorization: Basic …` header against it, which
//! `serve::handle` asks for every request but `/-/healthy`.
//!
//! The hashes are SHA-512 crypt (`$6$[rounds=N$]salt$hash`), what
//! `openssl passwd -6` and `mkpasswd -m sha-512` print, computed here as
//! Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specifies, on
//! top of the SHA-512 of the `openssl` crate. bcrypt (`$2b$` …) is refused
//! with a load error: OpenSSL 3 keeps Blowfish in its legacy provider, the
//! `openssl` crate offers no access to Blowfish's key schedule (which
//! bcrypt changes), and a Blowfish of our own would mean its 4 KiB of
//! constants in the tree; SHA-512 crypt is what every Linux system makes.
//!
//! What an attacker on the network learns from timing is nothing: the
//! hashes are compared in constant time, every user name of the file is
//! compared (without stopping at a match), and an unknown user costs a
//! SHA-512 crypt against a dummy hash with the rounds most users have.
//! Nothing here logs, and no error carries a password.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use openssl::sha::Sha512;

/// Largest users file read: a line is about 110 bytes, so this holds
/// thousands of users; a larger file is a wrong path (a log, a disk
/// image), not a users file, and is refused instead of read into memory.
pub const MAX_USERS_FILE_BYTES: u64 = 256 * 1024;

/// Most SHA-512 crypt rounds a hash of the users file may ask for. Every
/// request with credentials costs one hash, on the request's thread: the
/// default 5000 rounds take a few milliseconds; this cap, 40 times that,
/// keeps one request's CPU well under a second even on a small machine,
/// so a typo (`rounds=50000000`) or a hostile file cannot make every
/// scrape burn seconds of CPU. The spec allows up to 999,999,999.
pub const MAX_ROUNDS: u32 = 200_000;

/// Longest password checked. SHA-512 crypt's work grows with the square of
/// the password's length (one step hashes the password repeated as many
/// times as it has bytes), so an unbounded one would let one request burn
/// CPU; a longer password is refused before any user is looked at.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// The spec's rounds when the hash does not say (`$6$salt$…`).
const DEFAULT_ROUNDS: u32 = 5000;
/// The spec's bounds on `rounds=`.
const MIN_ROUNDS: u32 = 1000;
const SPEC_MAX_ROUNDS: u32 = 999_999_999;
/// The spec uses at most this many salt characters.
const MAX_SALT: usize = 16;
/// 64 bytes of SHA-512 in crypt's base64: 21 groups of 4, and 2.
const HASH_CHARS: usize = 86;

/// crypt's base64 alphabet, which is not RFC 4648's.
const CRYPT_ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The users allowed in, as loaded from a users file.
pub struct Users {
    list: Vec<User>,
    /// Checked for a user name not in the file, so that it costs what a
    /// known user with a wrong password costs.
    dummy: Sha512Crypt,
}

struct User {
    name: Vec<u8>,
    hash: Sha512Crypt,
}

/// One SHA-512 crypt hash: its salt and rounds, and the 86 characters.
#[derive(Clone)]
struct Sha512Crypt {
    salt: Vec<u8>,
    rounds: u32,
    hash: [u8; HASH_CHARS],
}

/// The hashes are not secrets, but nothing prints them either.
impl fmt::Debug for Users {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Users({} users)", self.list.len())
    }
}

impl Users {
    /// Reads a users file: `user:hash` lines, blank lines and lines
    /// starting with `#` ignored. Errors say `file:line: reason`.
    pub fn load(path: &Path) -> Result<Users, String> {
        let shown = path.display();
        let file = File::open(path).map_err(|e| format!("{shown}: cannot open: {e}"))?;
        let meta = file
            .metadata()
            .map_err(|e| format!("{shown}: cannot read: {e}"))?;
        if !meta.is_file() {
            return Err(format!("{shown}: not a regular file"));
        }
        if meta.len() > MAX_USERS_FILE_BYTES {
            return Err(format!(
                "{shown}: {} bytes is too large for a users file (at most {MAX_USERS_FILE_BYTES})",
                meta.len()
            ));
        }
        let mut bytes = Vec::new();
        // A file growing while read is still held to the cap.
        file.take(MAX_USERS_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{shown}: cannot read: {e}"))?;
        if bytes.len() as u64 > MAX_USERS_FILE_BYTES {
            return Err(format!(
                "{shown}: too large for a users file (at most {MAX_USERS_FILE_BYTES} bytes)"
            ));
        }
        Users::parse(&bytes).map_err(|(line, why)| match line {
            Some(line) => format!("{shown}:{line}: {why}"),
            None => format!("{shown}: {why}"),
        })
    }

    /// The file's text to users; `Err` is (line number, reason).
    fn parse(bytes: &[u8]) -> Result<Users, (Option<usize>, String)> {
        let mut list: Vec<User> = Vec::new();
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let n = Some(i + 1);
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = std::str::from_utf8(line).map_err(|_| (n, "not UTF-8".to_string()))?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, hash)) = line.split_once(':') else {
                return Err((
                    n,
                    "expected user:hash (no ':'); make the hash with `openssl passwd -6`".into(),
                ));
            };
            if name.is_empty() {
                return Err((n, "the user name is empty".into()));
            }
            if name.chars().any(char::is_whitespace) {
                return Err((n, "the user name has a space in it".into()));
            }
            if list.iter().any(|u| u.name == name.as_bytes()) {
                return Err((
                    n,
                    format!("user '{}' is given twice", name.escape_default()),
                ));
            }
            let hash = Sha512Crypt::parse(hash).map_err(|why| (n, why))?;
            list.push(User {
                name: name.as_bytes().to_vec(),
                hash,
            });
        }
        if list.is_empty() {
            return Err((None, "no users: add user:hash lines".into()));
        }
        let dummy = Sha512Crypt {
            salt: b"imapcheckdummy".to_vec(),
            rounds: common_rounds(&list),
            hash: [b'.'; HASH_CHARS],
        };
        Ok(Users { list, dummy })
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether an `Authorization` header value (None: no header) names a
    /// user of the file with that user's password.
    pub fn allows(&self, authorization_header_value: Option<&[u8]>) -> bool {
        let Some((name, password)) = authorization_header_value.and_then(basic_credentials) else {
            return false;
        };
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        // Every name is compared, in constant time, and the first match
        // kept: how long this takes says nothing about which users exist.
        let mut found: Option<&User> = None;
        for user in &self.list {
            if constant_time_eq(&user.name, &name) && found.is_none() {
                found = Some(user);
            }
        }
        let hash = found.map_or(&self.dummy, |u| &u.hash);
        let matches = hash.verify(&password);
        matches && found.is_some()
    }
}

/// The rounds most users have (the first among equals): what the dummy
/// hash costs, so that an unknown name costs what a known one usually does.
fn common_rounds(list: &[User]) -> u32 {
    let count = |r: u32| list.iter().filter(|u| u.hash.rounds == r).count();
    list.iter()
        .map(|u| u.hash.rounds)
        .max_by_key(|&r| (count(r), std::cmp::Reverse(first_index(list, r))))
        .unwrap_or(DEFAULT_ROUNDS)
}

fn first_index(list: &[User], rounds: u32) -> usize {
    list.iter()
        .position(|u| u.hash.rounds == rounds)
        .unwrap_or(0)
}

/// `Basic <base64 of user:password>` (RFC 7617): the scheme in any case,
/// the credentials split at the first colon (a password may hold colons,
/// a user name may not).
fn basic_credentials(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let value = value.trim_ascii();
    let (scheme, rest) = value.split_at_checked(6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let decoded = crate::base64::decode(rest.trim_ascii_start()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    Some((decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

/// Compares without stopping at the first difference (lengths are not
/// secret: user names differ in length anyway, hashes never do).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

impl Sha512Crypt {
    /// `$6$[rounds=N$]salt$hash` as stored in the users file.
    fn parse(text: &str) -> Result<Sha512Crypt, String> {
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

    fn verify(&self, password: &[u8]) -> bool {
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
fn sha512_crypt(password: &[u8], salt: &[u8], rounds: u32) -> [u8; 64] {
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
fn encode(c: &[u8; 64]) -> [u8; HASH_CHARS] {
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

#[cfg(test)]
mod tests;
