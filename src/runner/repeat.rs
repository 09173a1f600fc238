//! `--repeat n --interval secs`: rounds one after another, like ping, each
//! with its own deadline and connection, a line printed as each ends; then
//! the statistics. Ctrl-C stops the loop and the statistics of the runs so
//! far are still printed: SIGINT only sets a flag (no new dependency: the
//! crate's `signals` module), which ends the pause, and makes every
//! deadline count as passed so a run in progress ends within
//! `transport::WAKE`; that cut-short run is left out of the statistics.
//! A second Ctrl-C ends the process at once (SA_RESETHAND). Each round
//! fetches its own OAuth token, with the refresh token its file holds then.

use std::time::{Duration, Instant};

use crate::check;
use crate::credentials::Credentials;
use crate::oauth;
use crate::report::Repeated;
use crate::signals;
use crate::transport::{self, TlsSettings};

use super::Runner;

/// The pause between runs is slept in slices this long, so Ctrl-C during
/// a long `--interval` stops the loop at once rather than at its end.
const PAUSE_SLICE: Duration = Duration::from_millis(20);

impl Runner<'_> {
    pub(super) fn repeat(&self, n: u32, credentials: &Credentials, tls: &TlsSettings) -> Repeated {
        catch_sigint();
        // What is checked, once, as ping says what it pings.
        if let Some(header) = self.renderer.start(&check::empty_report(self.cfg)) {
            self.output.line(&header);
        }
        let started = Instant::now();
        let mut rounds = Vec::new();
        let mut credentials = credentials.clone();
        for i in 0..n {
            if i > 0 && !pause(self.cfg.interval) {
                break;
            }
            if i > 0 {
                self.reread_refresh_token(&mut credentials);
            }
            let round = self.round(credentials.clone(), tls.clone(), false);
            if transport::interrupted() {
                // Cut short by Ctrl-C: not a result of the server's.
                break;
            }
            if let Some(line) = self.renderer.run_done(rounds.len() + 1, &round) {
                self.output.line(&line);
            }
            rounds.push(round);
        }
        Repeated {
            host: self.cfg.host.clone(),
            port: self.cfg.port,
            security: self.cfg.security,
            asked: n,
            interrupted: transport::interrupted(),
            elapsed: started.elapsed(),
            rounds,
        }
    }
}

impl Runner<'_> {
    /// Before each round after the first: the refresh token as its file
    /// now holds it, since the round before may have rotated it (the old
    /// one may be revoked by then). When the file cannot be read now, the
    /// token read before is used, and the round's token step reports what
    /// the endpoint makes of it.
    fn reread_refresh_token(&self, credentials: &mut Credentials) {
        let Some(cfg) = self
            .cfg
            .oauth
            .as_ref()
            .filter(|o| o.refresh_token_file.is_some())
        else {
            return;
        };
        match oauth::read_secrets(cfg, std::env::var_os(oauth::CLIENT_SECRET_ENV)) {
            Ok(secrets) => credentials.oauth = Some(secrets),
            Err(msg) => log::warn!("{msg}; the refresh token read before is used"),
        }
    }
}

/// Sleeps `d`; false when Ctrl-C came first.
fn pause(d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if transport::interrupted() {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(PAUSE_SLICE));
    }
}

extern "C" fn on_sigint(_signal: i32) {
    // Only an atomic store: async-signal-safe.
    transport::interrupt();
}

/// Installs the SIGINT handler: restart interrupted calls; a second
/// Ctrl-C gets the default action. Failure leaves Ctrl-C as it was (it
/// ends the process, without the statistics), which is harmless.
fn catch_sigint() {
    signals::install(
        signals::SIGINT,
        on_sigint,
        signals::SA_RESTART | signals::SA_RESETHAND,
    );
}
