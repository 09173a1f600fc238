//! POSIX signal handlers, declared here once for the three places that
//! install them: `--repeat`'s Ctrl-C (runner/repeat.rs), `serve`'s stop
//! and reload (serve/signals.rs) and the password prompt, which puts the
//! terminal back before a signal ends the process (password/prompt.rs).
//! No new dependency: `sigaction` and `raise` are declared by hand.
//!
//! `struct sigaction` is laid out alike by glibc and musl on Linux, on
//! x86_64 and aarch64: the handler as a word, a 1024-bit signal mask, the
//! flags as an int (then padding), and the restorer, which the C library
//! fills in itself. A unit test compares it with the `libc` crate's. On
//! other systems nothing is installed: a signal keeps its default action.

/// The terminal hung up, or `serve` is asked to reload.
pub const SIGHUP: i32 = 1;
/// Ctrl-C.
pub const SIGINT: i32 = 2;
/// Ctrl-\.
pub const SIGQUIT: i32 = 3;
/// A polite stop, as from `kill` or a service manager.
pub const SIGTERM: i32 = 15;
/// Restart system calls the handler interrupted rather than fail them.
pub const SA_RESTART: i32 = 0x1000_0000;
/// The handler runs once; the signal's default action is back after it.
pub const SA_RESETHAND: i32 = 0x8000_0000_u32 as i32;

/// What a signal did before `install`, for `restore`.
pub struct Previous {
    #[cfg(target_os = "linux")]
    signal: i32,
    #[cfg(target_os = "linux")]
    action: sys::SigAction,
}

/// Installs `handler` for `signal` with `flags`, no extra signals blocked
/// while it runs (only `signal` itself). The handler must make only
/// async-signal-safe calls. `None` when refused (or on a system without
/// this binding), and the signal keeps what it had.
#[cfg(target_os = "linux")]
pub fn install(signal: i32, handler: extern "C" fn(i32), flags: i32) -> Option<Previous> {
    let action = sys::SigAction {
        handler: handler as usize,
        mask: [0; 16],
        flags,
        restorer: 0,
    };
    let mut old = sys::SigAction::empty();
    // SAFETY: `action` and `old` are valid, initialised struct sigactions;
    // the handler's own safety is the caller's promise above.
    if unsafe { sys::sigaction(signal, &action, &mut old) } != 0 {
        return None;
    }
    Some(Previous {
        signal,
        action: old,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn install(_signal: i32, _handler: extern "C" fn(i32), _flags: i32) -> Option<Previous> {
    None
}

/// Puts back what the signal did before `install`: handler, mask, flags.
#[cfg(target_os = "linux")]
pub fn restore(previous: &Previous) {
    // SAFETY: `previous.action` is what sigaction filled in for this
    // signal; a null `old` is allowed.
    unsafe { sys::sigaction(previous.signal, &previous.action, std::ptr::null_mut()) };
}

#[cfg(not(target_os = "linux"))]
pub fn restore(_previous: &Previous) {}

/// From a handler: gives `signal` its default action back and raises it.
/// Called in the handler, where the signal is blocked, it is delivered
/// with the default action (usually ending the process) as soon as the
/// handler returns, as it would have been without the handler.
/// Async-signal-safe: only `sigaction` and `raise`.
#[cfg(target_os = "linux")]
pub fn raise_with_default_action(signal: i32) {
    let default = sys::SigAction::empty();
    // SAFETY: a valid struct sigaction (SIG_DFL, no flags); a null `old`
    // is allowed; both calls are async-signal-safe.
    unsafe {
        sys::sigaction(signal, &default, std::ptr::null_mut());
        sys::raise(signal);
    }
}

#[cfg(target_os = "linux")]
mod sys {
    /// `struct sigaction` (see the module comment).
    #[repr(C)]
    pub(super) struct SigAction {
        /// The handler as a word: SIG_DFL is 0, SIG_IGN 1.
        pub(super) handler: usize,
        pub(super) mask: [u64; 16],
        pub(super) flags: i32,
        pub(super) restorer: usize,
    }

    /// The default action.
    pub(super) const SIG_DFL: usize = 0;

    impl SigAction {
        /// SIG_DFL, nothing blocked, no flags.
        pub(super) fn empty() -> SigAction {
            SigAction {
                handler: SIG_DFL,
                mask: [0; 16],
                flags: 0,
                restorer: 0,
            }
        }
    }

    unsafe extern "C" {
        pub(super) fn sigaction(signal: i32, action: *const SigAction, old: *mut SigAction) -> i32;
        pub(super) fn raise(signal: i32) -> i32;
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::sys::{SIG_DFL, SigAction};
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn layout_and_values_match_the_c_library() {
        assert_eq!(size_of::<SigAction>(), size_of::<libc::sigaction>());
        assert_eq!(align_of::<SigAction>(), align_of::<libc::sigaction>());
        assert_eq!(
            offset_of!(SigAction, handler),
            offset_of!(libc::sigaction, sa_sigaction)
        );
        assert_eq!(
            offset_of!(SigAction, mask),
            offset_of!(libc::sigaction, sa_mask)
        );
        assert_eq!(size_of::<[u64; 16]>(), size_of::<libc::sigset_t>());
        assert_eq!(
            offset_of!(SigAction, flags),
            offset_of!(libc::sigaction, sa_flags)
        );
        assert_eq!(
            offset_of!(SigAction, restorer),
            offset_of!(libc::sigaction, sa_restorer)
        );
        assert_eq!(SIG_DFL, libc::SIG_DFL);
        assert_eq!(
            [SIGHUP, SIGINT, SIGQUIT, SIGTERM],
            [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM]
        );
        assert_eq!(SA_RESTART, libc::SA_RESTART);
        assert_eq!(SA_RESETHAND, libc::SA_RESETHAND);
    }

    extern "C" fn ignore(_signal: i32) {}
    extern "C" fn ignore_too(_signal: i32) {}

    #[test]
    fn install_hands_back_what_restore_puts_back() {
        // SIGQUIT: no other unit test installs a handler for it.
        let before = current(SIGQUIT);
        let first = install(SIGQUIT, ignore, SA_RESETHAND).expect("installed");
        assert_eq!(first.action.handler, before.handler);
        let second = install(SIGQUIT, ignore_too, SA_RESTART).expect("installed");
        assert_eq!(second.action.handler, ignore as extern "C" fn(i32) as usize);
        assert_ne!(second.action.flags & SA_RESETHAND, 0);
        let during = current(SIGQUIT);
        assert_eq!(during.handler, ignore_too as extern "C" fn(i32) as usize);
        assert_eq!(during.flags & (SA_RESTART | SA_RESETHAND), SA_RESTART);
        // The flags come back too, not just the handler.
        restore(&second);
        let between = current(SIGQUIT);
        assert_eq!(between.handler, ignore as extern "C" fn(i32) as usize);
        assert_eq!(between.flags & (SA_RESTART | SA_RESETHAND), SA_RESETHAND);
        restore(&first);
        assert_eq!(current(SIGQUIT).handler, before.handler);
    }

    fn current(signal: i32) -> SigAction {
        let mut now = SigAction::empty();
        // SAFETY: a null action only reads; `now` is a valid sigaction.
        let rc = unsafe { super::sys::sigaction(signal, std::ptr::null(), &mut now) };
        assert_eq!(rc, 0);
        now
    }
}
