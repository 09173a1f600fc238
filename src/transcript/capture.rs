//! A check's transcript kept in memory instead of written to stderr: for
//! `serve`'s `debug=true`, where many checks run at once on threads of
//! their own (the token request on yet another), so neither stderr nor a
//! thread-local would keep one probe's lines apart. A `Transcript` stays
//! `Copy`: it carries only the capture's id, and the lines go to a small
//! table of the captures open now.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most bytes one capture keeps: a transcript is a few KiB; a server that
/// sends megabytes of lines must not make a debug probe grow without bound.
const MAX_CAPTURE_BYTES: usize = 256 * 1024;

/// Names one open capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureId(u64);

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The captures open now, with their text; a few at most (debug probes
/// in flight), so a list is enough.
static OPEN: Mutex<Vec<(CaptureId, String)>> = Mutex::new(Vec::new());

/// An open capture: lines written with its id gather until `finish`;
/// dropped unfinished, its lines are discarded.
#[derive(Debug)]
pub struct Capture {
    id: CaptureId,
}

impl Capture {
    pub fn open() -> Capture {
        let id = CaptureId(NEXT.fetch_add(1, Ordering::Relaxed));
        lock().push((id, String::new()));
        Capture { id }
    }

    pub fn id(&self) -> CaptureId {
        self.id
    }

    /// The lines written so far; closes the capture (later lines are
    /// dropped: a token thread the check stopped waiting for).
    pub fn finish(self) -> String {
        take(self.id)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        take(self.id);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<(CaptureId, String)>> {
    // A panic while holding the lock cannot leave the list inconsistent.
    OPEN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn take(id: CaptureId) -> String {
    let mut open = lock();
    match open.iter().position(|(i, _)| *i == id) {
        Some(at) => open.swap_remove(at).1,
        None => String::new(),
    }
}

/// Appends a line to capture `id`, if it is still open.
pub(super) fn append(id: CaptureId, line: std::fmt::Arguments<'_>) {
    let mut open = lock();
    if let Some((_, text)) = open.iter_mut().find(|(i, _)| *i == id) {
        if text.len() < MAX_CAPTURE_BYTES {
            let _ = writeln!(text, "{line}");
        } else if !text.ends_with("(cut short)\n") {
            text.push_str("-- the rest of the transcript is cut short (cut short)\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_go_to_their_own_capture() {
        let a = Capture::open();
        let b = Capture::open();
        append(a.id(), format_args!("one"));
        append(b.id(), format_args!("two"));
        append(a.id(), format_args!("three"));
        assert_eq!(a.finish(), "one\nthree\n");
        assert_eq!(b.finish(), "two\n");
        let gone = Capture::open();
        let id = gone.id();
        drop(gone);
        append(id, format_args!("late"));
        assert!(lock().iter().all(|(i, _)| *i != id));
    }
}
