//! Where the result goes: standard output as it comes (the default), or,
//! with `--output FILE`, a file replaced atomically once the run is over.
//! A reader of that file (node_exporter's textfile collector, a script
//! tailing it) therefore sees the whole previous result or the whole new
//! one, never half a file: the text goes to a temporary file in the same
//! directory, which is flushed to disk and then renamed over FILE.

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The destination of one run's output.
pub struct Output {
    file: Option<PathBuf>,
    /// With a file: everything rendered so far, written at `finish`.
    kept: RefCell<String>,
}

impl Output {
    /// Standard output, or `file` when given.
    pub fn new(file: Option<PathBuf>) -> Output {
        Output {
            file,
            kept: RefCell::new(String::new()),
        }
    }

    /// Emits `text` and a line end: printed at once on standard output, or
    /// kept for the file.
    pub fn line(&self, text: &str) {
        if self.file.is_some() {
            let mut kept = self.kept.borrow_mut();
            kept.push_str(text);
            kept.push('\n');
        } else {
            print(text);
        }
    }

    /// Writes what was kept to the file, if there is one. `Err` says why
    /// it could not be written; the file then still holds what it held.
    pub fn finish(&self) -> Result<(), String> {
        match &self.file {
            Some(path) => replace_atomically(path, self.kept.borrow().as_bytes())
                .map_err(|e| format!("cannot write --output {}: {e}", path.display())),
            None => Ok(()),
        }
    }
}

/// Writes `text` and a line end to stdout at once. A closed pipe
/// (`imapcheck ... | head -2`) must not panic mid-session: the check still
/// finishes and logs out, and only the output that nobody reads is lost.
fn print(text: &str) {
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Checks, before any connection, that `path` can be an output file: its
/// directory exists and it is not itself a directory. Whether it can be
/// written is known only when it is (permissions, a full disk).
pub fn check_path(path: &Path) -> Result<(), String> {
    let dir = directory_of(path);
    if path.file_name().is_none() || path.is_dir() {
        return Err(format!(
            "--output takes a file name, and {} is a directory",
            path.display()
        ));
    }
    if !dir.is_dir() {
        return Err(format!(
            "--output {}: the directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes`: a hidden temporary file beside it (whose
/// name does not end in `.prom`, so the textfile collector ignores it),
/// with the old file's permissions (and owner, where allowed) when it was
/// a regular file, synced, then renamed over `path`. A symbolic link at
/// `path` is itself replaced, never written through, and lends nothing
/// of its target. The temporary file is removed on any failure.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = directory_of(path).join(format!(".{name}.{}.tmp", std::process::id()));
    let written = write_new(&tmp, path, bytes).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

fn write_new(tmp: &Path, replaced: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file: File = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    if let Some(old) = fs::symlink_metadata(replaced)
        .ok()
        .filter(|m| m.file_type().is_file())
    {
        file.set_permissions(old.permissions())?;
        // And its owner, where this process may (root, or the owner
        // itself): a refresh token file of the monitoring user that root's
        // cron replaced must stay that user's. Elsewhere the new file is
        // ours, as any rewrite would make it.
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
    }
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("imapcheck-output-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn replaces_the_file_and_keeps_its_mode() {
        let dir = temp_dir("replace");
        let path = dir.join("imap.prom");
        fs::write(&path, "old\n").expect("old file");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        let out = Output::new(Some(path.clone()));
        out.line("one");
        out.line("# EOF");
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "old\n",
            "nothing before finish"
        );
        out.finish().expect("written");
        assert_eq!(fs::read_to_string(&path).expect("read"), "one\n# EOF\n");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let left: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("imap.prom")],
            "no temporary file left"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_symlink_is_replaced_and_its_target_left_alone() {
        let dir = temp_dir("link");
        let target = dir.join("elsewhere");
        fs::write(&target, "keep\n").expect("target");
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).expect("chmod");
        let path = dir.join("imap.prom");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        replace_atomically(&path, b"new\n").expect("written");
        assert_eq!(fs::read_to_string(&target).expect("read"), "keep\n");
        let meta = fs::symlink_metadata(&path).expect("meta");
        assert!(meta.file_type().is_file(), "the link itself was replaced");
        assert_ne!(
            meta.permissions().mode() & 0o777,
            0o600,
            "nothing taken from the target"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_that_cannot_be_outputs() {
        let dir = temp_dir("paths");
        assert!(check_path(&dir.join("x.prom")).is_ok());
        assert!(check_path(&dir).unwrap_err().contains("is a directory"));
        assert!(
            check_path(&dir.join("missing/x.prom"))
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(
            check_path(Path::new("x.prom")).is_ok(),
            "a bare name is in the current directory"
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = temp_dir("fail");
        // Renaming a file over a non-empty directory fails, even as root.
        let target = dir.join("busy");
        fs::create_dir_all(target.join("inside")).expect("dir");
        assert!(replace_atomically(&target, b"x").is_err());
        let left: Vec<_> = fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("busy")]);
        let _ = fs::remove_dir_all(&dir);
    }
}
