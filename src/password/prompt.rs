//! The password prompt on the terminal: echo is switched off with termios
//! (tcgetattr/tcsetattr, declared here by hand as the crate's `signals`
//! module declares sigaction: no new dependency, no `stty` to find on
//! PATH) and switched back on
//! whatever ends the prompt: a line, end of input, an error, or SIGINT,
//! SIGTERM, SIGHUP or SIGQUIT, whose handlers restore the terminal and
//! then let the signal end the process as it would have. A terminal whose
//! echo cannot be switched off gets no prompt at all: the password would
//! show as it is typed.

use std::io::{Read, Write};

use super::{Secret, one_line};

/// What the prompt says when echo cannot be switched off.
const NO_ECHO_OFF: &str =
    "the prompt reads no password it cannot hide: use --password-file or IMAPCHECK_PASSWORD";

/// Prompts on the terminal with echo off and reads one line of at most
/// `max_line` bytes.
pub(super) fn read(max_line: usize) -> Result<Secret, String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| format!("cannot open the terminal for the password prompt: {e}"))?;
    let _echo_off = termios::EchoOff::switch(&tty)?;
    let mut out = &tty;
    let _ = out.write_all(b"IMAP password: ");
    let _ = out.flush();
    // Read straight into the secret (a BufReader would keep a copy that
    // is never wiped); in canonical mode a read returns one line at most.
    let mut bytes = Secret::new(vec![0; max_line + 2]);
    let mut len = 0;
    let read = loop {
        if len == bytes.0.len() || bytes.0[..len].contains(&b'\n') {
            break Ok(());
        }
        match (&tty).read(&mut bytes.0[len..]) {
            Ok(0) => break Ok(()),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    // Only zeros follow `len`: nothing to wipe there.
    bytes.0.truncate(len);
    // The line end typed was not echoed either.
    let _ = out.write_all(b"\n");
    read.map_err(|e| format!("cannot read the password from the terminal: {e}"))?;
    if bytes.expose().is_empty() {
        return Err("no password: the terminal's input ended at the prompt".into());
    }
    one_line(bytes, max_line, "the password typed at the prompt")
}

#[cfg(target_os = "linux")]
mod termios {
    use std::cell::UnsafeCell;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicI32, Ordering};

    use crate::signals::{self, Previous};

    /// `struct termios` as glibc and musl lay it out on Linux (x86_64 and
    /// aarch64): four flag words, the line discipline, 32 control
    /// characters and the two speeds (a unit test compares it with the
    /// `libc` crate's).
    #[repr(C)]
    #[derive(Clone, Copy)]
    pub(super) struct Termios {
        iflag: u32,
        oflag: u32,
        cflag: u32,
        pub(super) lflag: u32,
        line: u8,
        cc: [u8; 32],
        ispeed: u32,
        ospeed: u32,
    }

    unsafe extern "C" {
        fn tcgetattr(fd: i32, termios: *mut Termios) -> i32;
        fn tcsetattr(fd: i32, when: i32, termios: *const Termios) -> i32;
        fn write(fd: i32, bytes: *const u8, len: usize) -> isize;
    }

    pub(super) const ECHO: u32 = 0o10;
    pub(super) const ECHONL: u32 = 0o100;
    const TCSANOW: i32 = 0;
    /// Also drops what was typed ahead while echo was still on.
    const TCSAFLUSH: i32 = 2;
    /// What ends a prompt from outside.
    const SIGNALS: [i32; 4] = [
        signals::SIGHUP,
        signals::SIGINT,
        signals::SIGQUIT,
        signals::SIGTERM,
    ];
    /// As `signal()` installs a handler in glibc and musl: interrupted
    /// calls restart, and the handler stays.
    const HANDLER_FLAGS: i32 = signals::SA_RESTART;

    /// The terminal and its settings from before the prompt, for the
    /// signal handler: `TTY_FD` is published (>= 0) only after `SAVED`
    /// is written, and withdrawn before it changes.
    static TTY_FD: AtomicI32 = AtomicI32::new(-1);
    struct Saved(UnsafeCell<Termios>);
    // SAFETY: written only while TTY_FD is -1, by the one thread that
    // prompts; read by the handler only while TTY_FD is published.
    unsafe impl Sync for Saved {}
    static SAVED: Saved = Saved(UnsafeCell::new(Termios {
        iflag: 0,
        oflag: 0,
        cflag: 0,
        lflag: 0,
        line: 0,
        cc: [0; 32],
        ispeed: 0,
        ospeed: 0,
    }));

    extern "C" fn on_signal(sig: i32) {
        let fd = TTY_FD.load(Ordering::SeqCst);
        // SAFETY: tcsetattr and write are async-signal-safe; SAVED is
        // complete while fd is published.
        unsafe {
            if fd >= 0 {
                tcsetattr(fd, TCSANOW, SAVED.0.get());
                write(fd, b"\n".as_ptr(), 1);
            }
        }
        // The signal is blocked while its handler runs: raised again with
        // the default action, it ends the process as soon as this returns.
        signals::raise_with_default_action(sig);
    }

    /// Echo off on one terminal until dropped.
    pub(super) struct EchoOff {
        fd: i32,
        saved: Termios,
        old_handlers: Vec<Previous>,
    }

    impl EchoOff {
        /// Switches echo off on `tty`, with the handlers that switch it
        /// back on installed first. `Err` when echo cannot be switched off
        /// (not a terminal, or a terminal that does not take the setting).
        pub(super) fn switch(tty: &std::fs::File) -> Result<EchoOff, String> {
            let fd = tty.as_raw_fd();
            let refused = |why: String| {
                format!(
                    "cannot switch off echo on the terminal ({why}); {}",
                    super::NO_ECHO_OFF
                )
            };
            let mut saved = empty();
            // SAFETY: fd is open for the call; `saved` is a valid termios.
            if unsafe { tcgetattr(fd, &mut saved) } != 0 {
                return Err(refused(std::io::Error::last_os_error().to_string()));
            }
            // SAFETY: TTY_FD is -1 here (see `Saved`), so no handler reads.
            unsafe { *SAVED.0.get() = saved };
            TTY_FD.store(fd, Ordering::SeqCst);
            let mut guard = EchoOff {
                fd,
                saved,
                old_handlers: Vec::new(),
            };
            // The handler only makes async-signal-safe calls.
            for sig in SIGNALS {
                if let Some(old) = signals::install(sig, on_signal, HANDLER_FLAGS) {
                    guard.old_handlers.push(old);
                }
            }
            let mut quiet = saved;
            quiet.lflag &= !(ECHO | ECHONL);
            let mut now = empty();
            // SAFETY: as for tcgetattr; `quiet` is a valid termios.
            let switched =
                unsafe { tcsetattr(fd, TCSAFLUSH, &quiet) == 0 && tcgetattr(fd, &mut now) == 0 };
            // tcsetattr succeeds when any part of the change took: look.
            if !switched || now.lflag & ECHO != 0 {
                let why = if switched {
                    "the terminal kept it on".to_string()
                } else {
                    std::io::Error::last_os_error().to_string()
                };
                return Err(refused(why)); // the guard's drop restores
            }
            Ok(guard)
        }
    }

    impl Drop for EchoOff {
        fn drop(&mut self) {
            // SAFETY: fd is still open (the File outlives the guard);
            // `saved` is what tcgetattr filled in.
            unsafe { tcsetattr(self.fd, TCSANOW, &self.saved) };
            TTY_FD.store(-1, Ordering::SeqCst);
            for old in &self.old_handlers {
                signals::restore(old);
            }
        }
    }

    fn empty() -> Termios {
        Termios {
            iflag: 0,
            oflag: 0,
            cflag: 0,
            lflag: 0,
            line: 0,
            cc: [0; 32],
            ispeed: 0,
            ospeed: 0,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn layouts_and_values_match_the_c_library() {
            assert_eq!(size_of::<Termios>(), size_of::<libc::termios>());
            assert_eq!(
                std::mem::offset_of!(Termios, lflag),
                std::mem::offset_of!(libc::termios, c_lflag)
            );
            assert_eq!(
                std::mem::offset_of!(Termios, ispeed),
                std::mem::offset_of!(libc::termios, c_ispeed)
            );
            assert_eq!(ECHO, libc::ECHO);
            assert_eq!(ECHONL, libc::ECHONL);
            assert_eq!(TCSANOW, libc::TCSANOW);
            assert_eq!(TCSAFLUSH, libc::TCSAFLUSH);
            assert_eq!(HANDLER_FLAGS, libc::SA_RESTART);
            assert_eq!(
                SIGNALS,
                [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM]
            );
        }

        #[test]
        fn no_terminal_no_prompt() {
            let file = std::fs::File::open("/dev/null").expect("/dev/null");
            let err = EchoOff::switch(&file).err().expect("refused");
            assert!(err.contains("cannot switch off echo"), "{err}");
            assert!(
                err.contains("--password-file or IMAPCHECK_PASSWORD"),
                "{err}"
            );
            assert_eq!(TTY_FD.load(Ordering::SeqCst), -1, "nothing left published");
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod termios {
    /// No termios binding for this system: no prompt.
    pub(super) struct EchoOff;

    impl EchoOff {
        pub(super) fn switch(_tty: &std::fs::File) -> Result<EchoOff, String> {
            Err(format!(
                "cannot switch off echo on this system's terminals; {}",
                super::NO_ECHO_OFF
            ))
        }
    }
}
