//! The password (or OAuth access token): a [`Secret`] that is never
//! printed and is wiped when dropped, and reading it from where the
//! configuration says, in the documented order: IMAPCHECK_PASSWORD, a
//! file's first line, standard input's first line, or a prompt on the
//! terminal with echo off. Never from the command line.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;

/// Longest password read from a file, stdin or the prompt. Real passwords
/// and OAuth tokens are far shorter; the cap stops `--password-stdin` from
/// swallowing a whole file by mistake.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

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

/// Strips one line ending (LF or CRLF) and everything after the first line.
fn first_line(mut bytes: Vec<u8>) -> Vec<u8> {
    if let Some(i) = bytes.iter().position(|&b| b == b'\n') {
        bytes.truncate(i);
    }
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    bytes
}

/// Reads the password from its source. `Err` is a message naming the source
/// (never the secret); the caller reports UNKNOWN.
pub fn read_password(
    source: &PasswordSource,
    env_value: Option<OsString>,
) -> Result<Secret, String> {
    let secret = read_secret(source, env_value)?;
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

fn read_secret(source: &PasswordSource, env_value: Option<OsString>) -> Result<Secret, String> {
    use std::os::unix::ffi::OsStringExt;
    match source {
        PasswordSource::Env => Ok(Secret::new(env_value.map(OsStringExt::into_vec).unwrap_or_default())),
        PasswordSource::File(path) => read_first_line(path, "the password file"),
        PasswordSource::Stdin => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .lock()
                .take(MAX_SECRET_BYTES)
                .read_until(b'\n', &mut bytes)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            if bytes.is_empty() {
                return Err("--password-stdin: standard input is empty".into());
            }
            Ok(Secret::new(first_line(bytes)))
        }
        PasswordSource::Prompt => prompt_password(),
        PasswordSource::Missing => Err("no password: set IMAPCHECK_PASSWORD, or use --password-file or --password-stdin (stdin is not a terminal, so there is no prompt)".into()),
    }
}

/// The first line of the file at `path` (`what` names it in errors, which
/// never hold its contents); it may be empty.
pub fn read_first_line(path: &std::path::Path, what: &str) -> Result<Secret, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    Ok(Secret::new(first_line(bytes)))
}

/// Prompts on the terminal with echo off. `stty` does the terminal mode so
/// we need no libc binding; echo is restored even when reading fails.
fn prompt_password() -> Result<Secret, String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("cannot open the terminal for the password prompt: {e}"))?;
    if !tty.is_terminal() {
        return Err("no terminal for the password prompt".into());
    }
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(
                tty.try_clone()
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            )
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let mut out = &tty;
    let _ = out.write_all(b"IMAP password: ");
    let _ = out.flush();
    let echo_off = stty("-echo");
    let mut bytes = Vec::new();
    let read = std::io::BufReader::new(&tty)
        .take(MAX_SECRET_BYTES)
        .read_until(b'\n', &mut bytes);
    if echo_off {
        stty("echo");
    }
    let _ = out.write_all(b"\n");
    read.map_err(|e| format!("cannot read the password from the terminal: {e}"))?;
    Ok(Secret::new(first_line(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_strips_endings() {
        assert_eq!(first_line(b"pw\r\nrest".to_vec()), b"pw");
        assert_eq!(first_line(b"pw\n".to_vec()), b"pw");
        assert_eq!(first_line(b"p w \"\\".to_vec()), b"p w \"\\");
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(format!("{:?}", Secret::new(b"hunter2".to_vec())), "***");
    }
}
