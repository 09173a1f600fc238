//! Secret files (the password file, the OAuth client secret and refresh
//! token files): only a regular file is read, and only its first line, at
//! most a named number of bytes of it. A FIFO, a device or a directory is
//! refused before it is read: a FIFO's writer could hold the run before
//! its deadline starts, and `/dev/zero` or a 10 GB file would be read for
//! nothing. A pipe is what `--password-stdin` is for.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use super::{Secret, one_line};

/// Opened without blocking (a FIFO swapped in after the check must not
/// wait for a writer) and without becoming our controlling terminal.
#[cfg(target_os = "linux")]
const OPEN_FLAGS: i32 = 0o4000 | 0o400; // O_NONBLOCK | O_NOCTTY
#[cfg(not(target_os = "linux"))]
const OPEN_FLAGS: i32 = 0;

/// The first line of the regular file at `path` (`what` names it in
/// errors, which never hold its contents), at most `max_line` bytes
/// without a control character (see [`one_line`]); it may be empty.
pub fn read_first_line(path: &Path, what: &str, max_line: usize) -> Result<Secret, String> {
    let cannot = |e: std::io::Error| format!("cannot read {what} {}: {e}", path.display());
    // The type is checked before opening (opening a device can have an
    // effect of its own) and again on what was opened (the path may have
    // changed in between).
    let meta = std::fs::metadata(path).map_err(cannot)?;
    refuse_unless_regular(&meta, path, what)?;
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(cannot)?;
    refuse_unless_regular(&file.metadata().map_err(cannot)?, path, what)?;
    // The line and its CRLF: one byte more than a line may have tells a
    // line that is too long, whatever the file's size.
    let limit = max_line + 2;
    let mut bytes = Secret::new(Vec::with_capacity(limit));
    file.take(limit as u64)
        .read_to_end(&mut bytes.0)
        .map_err(cannot)?;
    one_line(bytes, max_line, &format!("{what} {}", path.display()))
}

/// `Err` unless `meta` is a regular file's, naming what it is instead.
fn refuse_unless_regular(meta: &std::fs::Metadata, path: &Path, what: &str) -> Result<(), String> {
    let kind = meta.file_type();
    let is = if kind.is_file() {
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(format!(
        "{what} {} is {is}: only a regular file is read (a pipe's writer could hold the check before its deadline starts)",
        path.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("imapcheck-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn reads_the_first_line_of_a_regular_file() {
        let path = temp("ok", b"pw\r\nsecond\n");
        assert_eq!(read_first_line(&path, "f", 10).unwrap().expose(), b"pw");
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = std::env::temp_dir();
        let err = read_first_line(&dir, "the file", 10).unwrap_err();
        assert!(err.contains("is a directory"), "{err}");
        let err = read_first_line(Path::new("/dev/zero"), "the file", 10).unwrap_err();
        assert!(err.contains("is a character device"), "{err}");
    }

    #[test]
    fn a_long_file_is_read_no_further_than_the_limit() {
        let path = temp("long", &[b'a'; 5000]);
        let err = read_first_line(&path, "the file", 1024).unwrap_err();
        assert!(err.contains("longer than 1024 bytes"), "{err}");
        let _ = std::fs::remove_file(path);
    }
}
