//! What `--output` (and a rotated refresh token) may replace: a regular
//! file, a name not yet taken, or a symbolic link to either of those. Not
//! a device, FIFO, socket or directory, not a mount point (a file bound
//! into a container), and nothing in /proc: run as root, a rename over
//! /dev/null or the /dev/stdout link would break every other process on
//! the host. `-` and `/dev/stdout` are standard output (see `means_stdout`).

use std::fs;
use std::io::{BufRead, ErrorKind};
use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

/// Links followed before giving up, as the kernel's own limit (ELOOP).
const MAX_LINK_HOPS: usize = 40;

/// `--output` values that mean standard output: `-`, as for most tools,
/// and `/dev/stdout`, which a user writes for the same thing and which
/// must never be replaced (it is a link into /proc shared by every
/// process).
pub fn means_stdout(path: &Path) -> bool {
    path == Path::new("-") || path == Path::new("/dev/stdout")
}

/// The directory `path` is in (`.` for a bare file name).
pub(crate) fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `Err` (a message that starts with `path` and says why) unless `path`
/// may be replaced by a rename: its directory exists, and what is there
/// now is nothing, a regular file that is not a mount point, or a
/// symbolic link to a regular file or to nothing, outside /proc.
pub fn check_replaceable(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let dir = directory_of(path);
    if path.as_os_str().is_empty() {
        return Err("'' is not a file name".into());
    }
    if path.file_name().is_none() || path.is_dir() {
        return Err(format!("{shown} is a directory, not a file name"));
    }
    if !dir.is_dir() {
        return Err(format!(
            "{shown}: the directory {} does not exist",
            dir.display()
        ));
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{shown}: {e}")),
    };
    if in_proc(dir) {
        return Err(format!(
            "{shown} is in /proc, which is not replaced (for --output, standard output is - or /dev/stdout)"
        ));
    }
    let kind = meta.file_type();
    if kind.is_symlink() {
        return check_link(path);
    }
    if let Some(what) = not_regular(&meta) {
        return Err(format!(
            "{shown} is {what}: only a regular file (or a name not yet taken) is replaced"
        ));
    }
    if is_mount_point(path) {
        return Err(format!(
            "{shown} is a mount point (a file mounted there): a rename cannot replace it (mount a directory and name a file in it instead)"
        ));
    }
    Ok(())
}

/// A symbolic link at `path` is replaced only when the links from it end
/// at a regular file or at nothing, outside /proc.
fn check_link(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let mut link = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        let to = fs::read_link(&link).map_err(|e| format!("{shown}: {e}"))?;
        let base = fs::canonicalize(directory_of(&link)).map_err(|e| format!("{shown}: {e}"))?;
        let next = base.join(&to);
        let Some(name) = next.file_name() else {
            return Err(format!(
                "{shown} is a symbolic link to a directory ({})",
                to.display()
            ));
        };
        let next_dir = match fs::canonicalize(directory_of(&next)) {
            Ok(d) => d,
            // A link into a directory that does not exist points at
            // nothing: replacing the link loses nothing.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{shown}: {e}")),
        };
        if in_proc(&next_dir) {
            return Err(format!(
                "{shown} is a symbolic link into /proc ({}), which is not replaced (for --output, standard output is - or /dev/stdout)",
                to.display()
            ));
        }
        let next = next_dir.join(name);
        match fs::symlink_metadata(&next) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("{shown}: {e}")),
            Ok(m) if m.file_type().is_symlink() => link = next,
            Ok(m) => {
                return match not_regular(&m) {
                    None => Ok(()),
                    Some(what) => Err(format!(
                        "{shown} is a symbolic link to {}, {what}: only a link to a regular file (or to nothing) is replaced",
                        next.display()
                    )),
                };
            }
        }
    }
    Err(format!("{shown}: more than {MAX_LINK_HOPS} symbolic links"))
}

/// What `meta` is when it is not a regular file.
fn not_regular(meta: &fs::Metadata) -> Option<&'static str> {
    let kind = meta.file_type();
    Some(if kind.is_file() {
        return None;
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    })
}

/// Whether the canonical form of `dir` is /proc or below.
fn in_proc(dir: &Path) -> bool {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut parts = dir.components();
    parts.next() == Some(Component::RootDir)
        && parts.next() == Some(Component::Normal("proc".as_ref()))
}

/// Whether the file at `path` is a mount point (a file bound onto it, as
/// container runtimes do): listed in this process's mount table. Not by
/// comparing devices with its directory: on overlayfs with layers on
/// several file systems a plain file's device differs from its
/// directory's. Without /proc nothing is found, and the rename then fails
/// (EBUSY) and says so.
fn is_mount_point(path: &Path) -> bool {
    let Ok(dir) = fs::canonicalize(directory_of(path)) else {
        return false;
    };
    let Some(name) = path.file_name() else {
        return false;
    };
    let full = dir.join(name);
    let Ok(table) = fs::File::open("/proc/self/mountinfo") else {
        return false;
    };
    // Each line: id, parent, major:minor, root, mount point, ...; the
    // mount point with space, tab, newline and backslash as \ooo.
    std::io::BufReader::new(table)
        .split(b'\n')
        .map_while(Result::ok)
        .any(|line| {
            line.split(|&b| b == b' ')
                .nth(4)
                .is_some_and(|field| unescape_octal(field) == full)
        })
}

/// A mountinfo field with its `\ooo` escapes undone.
fn unescape_octal(field: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = d.iter().fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("imapcheck-target-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn stdout_names() {
        assert!(means_stdout(Path::new("-")));
        assert!(means_stdout(Path::new("/dev/stdout")));
        assert!(!means_stdout(Path::new("/dev/stderr")));
        assert!(!means_stdout(Path::new("./-x")));
    }

    #[test]
    fn what_may_be_replaced() {
        let dir = temp_dir("kinds");
        let file = dir.join("file.prom");
        fs::write(&file, "x").expect("file");
        let link = |name: &str, to: &Path| {
            let l = dir.join(name);
            std::os::unix::fs::symlink(to, &l).expect("symlink");
            l
        };
        for ok in [
            dir.join("new.prom"),
            file.clone(),
            link("to-file", &file),
            link("to-nothing", &dir.join("missing")),
            link("to-nowhere", Path::new("/no/such/dir/x")),
            link("relative", Path::new("file.prom")),
        ] {
            assert_eq!(check_replaceable(&ok), Ok(()), "{}", ok.display());
        }
        let chain = link("chain", &dir.join("to-file"));
        assert_eq!(check_replaceable(&chain), Ok(()));
        for (bad, says) in [
            (
                Path::new("/dev/null").to_path_buf(),
                "is a character device",
            ),
            (
                link("to-null", Path::new("/dev/null")),
                "a character device",
            ),
            (Path::new("/dev/stderr").to_path_buf(), "into /proc"),
            (Path::new("/dev/fd/1").to_path_buf(), "in /proc"),
            (Path::new("/proc/self/fd/1").to_path_buf(), "in /proc"),
            (link("to-stdout", Path::new("/dev/stdout")), "into /proc"),
            (link("to-dir", &dir), "a directory"),
            (dir.clone(), "is a directory"),
            (PathBuf::new(), "not a file name"),
        ] {
            let err = check_replaceable(&bad).expect_err(&bad.display().to_string());
            assert!(err.contains(says), "{}: {err}", bad.display());
        }
        let l1 = dir.join("loop1");
        std::os::unix::fs::symlink(dir.join("loop2"), &l1).expect("symlink");
        std::os::unix::fs::symlink(&l1, dir.join("loop2")).expect("symlink");
        assert!(
            check_replaceable(&l1)
                .unwrap_err()
                .contains("symbolic links")
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn mount_points_are_found() {
        // /proc is a mount point of every Linux system.
        assert!(is_mount_point(Path::new("/proc")));
        assert!(!is_mount_point(Path::new("/proc/self")));
        assert_eq!(unescape_octal(br"/a\040b\134c"), PathBuf::from(r"/a b\c"));
    }
}
