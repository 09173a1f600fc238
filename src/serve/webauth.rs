//! Basic authentication for the exporter's HTTP endpoint: the users file
//! (`imapcheck serve --web-auth-file`, one `user:hash` line each) and the
//! check of an `Authorization: Basic …` header against it, which
//! `serve::handle` asks for every request but `/-/healthy`.
//!
//! The hashes are SHA-512 crypt (`$6$[rounds=N$]salt$hash`), what
//! `openssl passwd -6` and `mkpasswd -m sha-512` print, computed as
//! Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512" specifies, on
//! top of the SHA-512 of the `openssl` crate (webauth/sha512_crypt.rs,
//! the hash's format and the algorithm). bcrypt (`$2b$` …) is refused
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

mod sha512_crypt;

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha512_crypt::{DEFAULT_ROUNDS, HASH_CHARS, Sha512Crypt};

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

#[cfg(test)]
mod tests;
