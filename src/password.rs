//! The password (or OAuth access token): a [`Secret`] that is never
//! printed and is wiped when dropped, and reading it from where the
//! configuration says, in the documented order: IMAPCHECK_PASSWORD, a
//! file's first line, standard input's first line, or a prompt on the
//! terminal with echo off. Never from the command line.
//!
//! Every line read as a secret (here and by `oauth` for its files) obeys
//! one rule, [`one_line`]: at most a named number of bytes, and no control
//! character, since an IMAP string cannot carry a NUL and a CR or an
//! escape byte in a secret is a copy-and-paste accident, not a password.
//! Files are read by `file` (regular files only), the terminal by `prompt`.

mod file;
mod prompt;

pub use file::read_first_line;

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::path::PathBuf;

/// Longest password or client secret, in bytes (without the line end).
/// Real ones are far shorter (a password manager's longest are 128
/// characters, Azure and Google client secrets about 40); a longer first
/// line is a file given by mistake (a key, a log), not a password.
pub const MAX_PASSWORD_LINE: usize = 1024;

/// Longest token, in bytes: an access token read as the password for
/// XOAUTH2 or OAUTHBEARER, or a refresh token. Microsoft's access tokens
/// are JWTs of 1.5 to 4 KiB and its refresh tokens are not much shorter,
/// so the password limit would refuse real tokens; 16 KiB is four times
/// the largest seen and still bounds what is read.
pub const MAX_TOKEN_LINE: usize = 16 * 1024;

/// Where the password comes from, in the documented order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Env,
    File(PathBuf),
    Stdin,
    Prompt,
    /// No source available (stdin is not a terminal and nothing else given).
    Missing,
}

/// A password or token. Never printed (Debug shows `***`), wiped on drop.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Appends `bytes`. Give `new` the capacity needed: a buffer that
    /// grows leaves a copy behind that is not wiped.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// Each check of `--all-addresses` and `--repeat` logs in with a copy of
/// its own, read once from its source; every copy is wiped on drop.
impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret(self.0.clone())
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Wipe the bytes; black_box keeps the write from being optimized away.
        self.0.fill(0);
        std::hint::black_box(&self.0);
    }
}

/// The first line of `read` (what was read from `from`, at most
/// `max_line + 2` bytes: the line and its CRLF), without its line ending
/// (LF or CRLF). `Err`, naming `from` and never the secret, when the line
/// is longer than `max_line` bytes or holds a control character.
pub(crate) fn one_line(read: Secret, max_line: usize, from: &str) -> Result<Secret, String> {
    let mut secret = read;
    let bytes = &mut secret.0;
    let mut end = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    if end > 0 && bytes[end - 1] == b'\r' {
        end -= 1;
    }
    // Wipe what follows the line before dropping it from the length: the
    // drop wipes only up to the length.
    bytes[end..].fill(0);
    bytes.truncate(end);
    if bytes.len() > max_line {
        return Err(format!(
            "{from}: the first line is longer than {max_line} bytes, which is not a secret but a file given by mistake"
        ));
    }
    if let Some(&b) = bytes.iter().find(|&&b| b < 0x20 || b == 0x7f) {
        let what = match b {
            0 => "a NUL byte".to_string(),
            b'\r' => "a carriage return (CR) inside the line".to_string(),
            _ => format!("the control character 0x{b:02X}"),
        };
        return Err(format!(
            "{from}: the secret holds {what}, which an IMAP string or a token request cannot carry; write it as one line of printable characters"
        ));
    }
    Ok(secret)
}

/// Reads the password from its source; a line from a file, standard input
/// or the prompt may be `max_line` bytes long ([`MAX_PASSWORD_LINE`], or
/// [`MAX_TOKEN_LINE`] when the secret is an access token). `Err` is a
/// message naming the source (never the secret); the caller reports
/// UNKNOWN.
pub fn read_password(
    source: &PasswordSource,
    env_value: Option<OsString>,
    max_line: usize,
) -> Result<Secret, String> {
    let secret = read_secret(source, env_value, max_line)?;
    if secret.expose().is_empty() {
        // No IMAP server accepts an empty password; sending one only earns
        // a failed login (and on some servers a penalty) for a typo.
        let from = match source {
            PasswordSource::Env => "IMAPCHECK_PASSWORD".to_string(),
            PasswordSource::File(p) => format!("the password file {}", p.display()),
            PasswordSource::Stdin => "standard input".to_string(),
            PasswordSource::Prompt | PasswordSource::Missing => "the prompt".to_string(),
        };
        return Err(format!("the password from {from} is empty"));
    }
    Ok(secret)
}

fn read_secret(
    source: &PasswordSource,
    env_value: Option<OsString>,
    max_line: usize,
) -> Result<Secret, String> {
    use std::os::unix::ffi::OsStringExt;
    match source {
        PasswordSource::Env => Ok(Secret::new(env_value.map(OsStringExt::into_vec).unwrap_or_default())),
        PasswordSource::File(path) => read_first_line(path, "the password file", max_line),
        PasswordSource::Stdin => {
            let mut bytes = Secret::new(Vec::with_capacity(max_line + 2));
            std::io::stdin()
                .lock()
                .take(max_line as u64 + 2)
                .read_until(b'\n', &mut bytes.0)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            if bytes.expose().is_empty() {
                return Err("--password-stdin: standard input is empty".into());
            }
            one_line(bytes, max_line, "--password-stdin")
        }
        PasswordSource::Prompt => prompt::read(max_line),
        PasswordSource::Missing => Err("no password: set IMAPCHECK_PASSWORD, or use --password-file or --password-stdin (stdin is not a terminal, so there is no prompt)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(bytes: &[u8], max: usize) -> Result<Vec<u8>, String> {
        one_line(Secret::new(bytes.to_vec()), max, "test").map(|s| s.expose().to_vec())
    }

    #[test]
    fn one_line_strips_endings() {
        assert_eq!(line(b"pw\r\nrest", 10).unwrap(), b"pw");
        assert_eq!(line(b"pw\n", 10).unwrap(), b"pw");
        assert_eq!(line(b"pw\r", 10).unwrap(), b"pw");
        assert_eq!(line(b"p w \"\\", 10).unwrap(), b"p w \"\\");
        assert_eq!(line(b"\n", 10).unwrap(), b"");
    }

    #[test]
    fn one_line_has_a_limit() {
        assert_eq!(line(b"abcd\r\n", 4).unwrap(), b"abcd");
        assert_eq!(line(b"abcd", 4).unwrap(), b"abcd");
        // What a reader of max + 2 bytes gets from a longer line.
        for long in [&b"abcde"[..], b"abcde\n", b"abcdef"] {
            let err = line(long, 4).unwrap_err();
            assert!(err.contains("longer than 4 bytes"), "{err}");
        }
    }

    #[test]
    fn one_line_refuses_control_characters() {
        for (bytes, says) in [
            (&b"a\0b\n"[..], "NUL"),
            (b"\0\0\0", "NUL"),
            (b"a\rb\n", "carriage return"),
            (b"a\x1bb", "0x1B"),
            (b"a\tb", "0x09"),
            (b"a\x7fb", "0x7F"),
        ] {
            let err = line(bytes, 10).unwrap_err();
            assert!(err.contains(says), "{bytes:?}: {err}");
            assert!(err.starts_with("test: "), "{err}");
        }
        assert_eq!(line("pä ß€".as_bytes(), 10).unwrap(), "pä ß€".as_bytes());
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new(b"hunter2".to_vec())), "***");
    }
}
