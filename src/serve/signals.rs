//! SIGTERM/SIGINT (stop) and SIGHUP (reload the modules) for `serve`,
//! installed through the crate's `signals` module as `--repeat`'s Ctrl-C
//! is. The handlers only store to atomics; the accept loop
//! looks at them at least every `server::POLL`. Stopping also makes every
//! check's deadline count as passed (`transport::interrupt`), so probes
//! in flight end within `transport::WAKE`.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::signals;
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
pub fn install() {
    for (signal, handler) in [
        (signals::SIGTERM, on_stop as extern "C" fn(i32)),
        (signals::SIGINT, on_stop),
        (signals::SIGHUP, on_hup),
    ] {
        signals::install(signal, handler, signals::SA_RESTART);
    }
}
