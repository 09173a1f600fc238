//! SIGTERM/SIGINT (stop) and SIGHUP (reload the modules) for `serve`,
//! with the same small `sigaction` declaration as `--repeat`'s Ctrl-C (no
//! new dependency). The handlers only store to atomics; the accept loop
//! looks at them at least every `server::POLL`. Stopping also makes every
//! check's deadline count as passed (`transport::interrupt`), so probes
//! in flight end within `transport::WAKE`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::transport;

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

/// A stop signal came.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// A reload signal came since the last call.
pub fn take_reload() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}

extern "C" fn on_stop(_signal: i32) {
    // Only atomic stores: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
    transport::interrupt();
}

extern "C" fn on_hup(_signal: i32) {
    RELOAD.store(true, Ordering::SeqCst);
}

/// Installs the handlers. Failure leaves a signal's default action (stop
/// at once, which is still an end), so it is not checked.
#[cfg(target_os = "linux")]
pub fn install() {
    /// `struct sigaction` as glibc and musl lay it out on Linux (x86_64
    /// and aarch64); see runner/repeat.rs.
    #[repr(C)]
    struct SigAction {
        handler: extern "C" fn(i32),
        mask: [u64; 16],
        flags: i32,
        restorer: usize,
    }
    unsafe extern "C" {
        fn sigaction(signal: i32, action: *const SigAction, old: *mut SigAction) -> i32;
    }
    const SIGHUP: i32 = 1;
    const SIGINT: i32 = 2;
    const SIGTERM: i32 = 15;
    const SA_RESTART: i32 = 0x1000_0000;
    for (signal, handler) in [
        (SIGTERM, on_stop as extern "C" fn(i32)),
        (SIGINT, on_stop),
        (SIGHUP, on_hup),
    ] {
        let action = SigAction {
            handler,
            mask: [0; 16],
            flags: SA_RESTART,
            restorer: 0,
        };
        // SAFETY: a valid, initialised struct sigaction; a null `old` is
        // allowed; the handlers only store to atomics.
        unsafe {
            sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn install() {}
