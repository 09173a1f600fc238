//! Where the result goes: standard output as it comes (the default), or,
//! with `--output FILE`, a file replaced atomically once the run is over.
//! A reader of that file (node_exporter's textfile collector, a script
//! tailing it) therefore sees the whole previous result or the whole new
//! one, never half a file: the text goes to a temporary file in the same
//! directory, which is flushed to disk and then renamed over FILE. What
//! FILE may be (no device, no /proc link, ...) is `target`'s.

mod target;

use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

pub use target::means_stdout;
use target::{check_replaceable, directory_of};

/// Names tried for the temporary file before giving up: each is random,
/// so a second collision means something is wrong, not bad luck.
const TEMP_NAME_TRIES: usize = 16;

/// The longest part of FILE's name kept in the temporary file's name,
/// which must stay under the 255 bytes a file name may have.
const TEMP_NAME_KEEP: usize = 200;

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

/// Checks, before any connection, that `path` can be an `--output` file
/// (see `target`). Whether it can be written is known only when it is
/// (permissions, a full disk).
pub fn check_path(path: &Path) -> Result<(), String> {
    check_replaceable(path).map_err(|e| format!("--output {e}"))
}

/// Replaces `path` with `bytes`: a hidden temporary file beside it (whose
/// name does not end in `.prom`, so the textfile collector ignores it),
/// with the old file's permissions (and owner, where allowed) when it was
/// a regular file, synced, then renamed over `path`. A symbolic link at
/// `path` is itself replaced, never written through, and lends nothing
/// of its target. What `path` is must still pass `check_path` (it may
/// have changed since the run began). The temporary file's name has a
/// random part and is created exclusively, so it is always ours: it is
/// removed on any failure, and nobody else's file ever is.
pub(crate) fn replace_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    check_replaceable(path).map_err(std::io::Error::other)?;
    let (tmp, file) = create_temp(path, random_u64)?;
    let written = write_new(file, path, bytes).and_then(|()| fs::rename(&tmp, path));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

/// Creates `.NAME.RANDOM.tmp` beside `path`, exclusively, trying another
/// random part when the name is taken.
fn create_temp(path: &Path, mut random: impl FnMut() -> u64) -> std::io::Result<(PathBuf, File)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let mut keep = name.len().min(TEMP_NAME_KEEP);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    let dir = directory_of(path);
    for _ in 0..TEMP_NAME_TRIES {
        let tmp = dir.join(format!(".{}.{:016x}.tmp", &name[..keep], random()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{TEMP_NAME_TRIES} random temporary file names were all taken"),
    ))
}

/// 64 random bits from the kernel (getrandom, else /dev/urandom); the
/// time and the process ID when neither answers, which still differ
/// from one try to the next and between processes.
fn random_u64() -> u64 {
    unsafe extern "C" {
        fn getrandom(buf: *mut u8, len: usize, flags: u32) -> isize;
    }
    let mut bytes = [0u8; 8];
    // SAFETY: `bytes` is valid for 8 bytes of writes.
    if unsafe { getrandom(bytes.as_mut_ptr(), bytes.len(), 0) } == 8 {
        return u64::from_ne_bytes(bytes);
    }
    use std::io::Read;
    if fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ (u64::from(std::process::id()) << 32)
}

fn write_new(mut file: File, replaced: &Path, bytes: &[u8]) -> std::io::Result<()> {
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
    fn a_refused_target_leaves_no_temporary_file() {
        let dir = temp_dir("fail");
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

    #[test]
    fn a_taken_temporary_name_is_neither_used_nor_removed() {
        let dir = temp_dir("taken");
        let path = dir.join("imap.prom");
        let theirs = dir.join(".imap.prom.0000000000000001.tmp");
        fs::write(&theirs, "theirs\n").expect("theirs");
        let mut next = [1u64, 1, 2].into_iter();
        let (tmp, _file) =
            create_temp(&path, || next.next().expect("three tries")).expect("a free name");
        assert_eq!(tmp, dir.join(".imap.prom.0000000000000002.tmp"));
        assert_eq!(fs::read_to_string(&theirs).expect("read"), "theirs\n");
        let err = create_temp(&path, || 1).expect_err("always taken");
        assert!(err.to_string().contains("all taken"), "{err}");
        assert_eq!(fs::read_to_string(&theirs).expect("read"), "theirs\n");
        // A stale file of an earlier imapcheck with this process's ID (a
        // container's PID 1) is in nobody's way, and stays.
        let stale = dir.join(format!(".imap.prom.{}.tmp", std::process::id()));
        fs::write(&stale, "stale\n").expect("stale");
        replace_atomically(&path, b"new\n").expect("written");
        assert_eq!(fs::read_to_string(&path).expect("read"), "new\n");
        assert_eq!(fs::read_to_string(&stale).expect("read"), "stale\n");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn long_names_get_a_temporary_name_that_fits() {
        let dir = temp_dir("long");
        let path = dir.join("é".repeat(120));
        replace_atomically(&path, b"x\n").expect("written");
        assert_eq!(fs::read_to_string(&path).expect("read"), "x\n");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn random_parts_differ() {
        assert_ne!(random_u64(), random_u64());
    }
}
