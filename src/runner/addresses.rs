//! `--all-addresses`: the name is resolved once, and every address that
//! `-4`/`-6` leaves gets the whole check, each on a thread of its own and
//! all within the one deadline. A check of one address is an ordinary
//! check whose configuration names the address to connect to; TLS still
//! verifies the host name (or `--sni`). Each address's steps are printed
//! as a block when its check has finished, so parallel checks never
//! interleave their lines.

use std::net::SocketAddr;
use std::sync::mpsc;

use crate::check::{Check, Event};
use crate::credentials::Credentials;
use crate::report::{Report, StepResult};
use crate::transport::{Deadline, TlsSettings, resolve};

use super::Runner;

/// At most this many addresses are checked, each with a thread, a
/// connection and a TLS context of its own: a name with more is a pool
/// whose first few tell enough, and one answer with a thousand records
/// must not start a thousand threads. How many were left out is said in
/// every format.
pub const MAX_CHECKED: usize = 32;

/// What one address's check sent back while it ran, in order.
enum Happened {
    Step(StepResult),
    Alert(String),
}

impl Runner<'_> {
    /// One report per address, in the resolver's order, and how many
    /// addresses the cap left out. A name that does not resolve gets one
    /// plain check, whose connect step says why. `deadline` is the one
    /// deadline (and clock) of resolving and every address's check.
    pub(super) fn every_address(
        &self,
        credentials: &Credentials,
        tls: &TlsSettings,
        deadline: Deadline,
        live: bool,
    ) -> (Vec<Report>, usize) {
        let cfg = self.cfg;
        let addrs = match resolve(&cfg.host, cfg.port, cfg.family, deadline) {
            Ok(addrs) => addrs,
            Err(_) => {
                // One plain check, whose connect step says why, within
                // what is left of the deadline: a resolver that took all
                // of it must not get all of it again.
                let (credentials, tls) = (credentials.clone(), tls.clone());
                return (
                    vec![self.run_check(cfg, credentials, tls, deadline, live)],
                    0,
                );
            }
        };
        let mut addrs = dedup(addrs);
        let left_out = addrs.len().saturating_sub(MAX_CHECKED);
        addrs.truncate(MAX_CHECKED);
        if live {
            if let Some(header) = self.renderer.start(&crate::check::empty_report(cfg)) {
                self.output.line(&header);
            }
            if let Some(line) = self.renderer.addresses(&addrs, left_out) {
                self.output.line(&line);
            }
        }
        let (tx, rx) = mpsc::channel::<(usize, Report, Vec<Happened>)>();
        let mut reports: Vec<Option<Report>> = addrs.iter().map(|_| None).collect();
        std::thread::scope(|scope| {
            for (i, addr) in addrs.iter().enumerate() {
                let mut one = cfg.clone();
                one.connect_to = Some(addr.ip());
                let (credentials, tls, tx) = (credentials.clone(), tls.clone(), tx.clone());
                scope.spawn(move || {
                    let mut happened = Vec::new();
                    let mut on_event = |event: Event| {
                        happened.push(match event {
                            Event::Step(s) => Happened::Step(s.clone()),
                            Event::Alert(a) => Happened::Alert(a.to_string()),
                        });
                    };
                    let report = Check::new(&one, credentials, tls, deadline, &mut on_event).run();
                    let _ = tx.send((i, report, happened));
                });
            }
            drop(tx);
            // Each block as its address finishes.
            for (i, report, happened) in rx {
                if live {
                    self.print_block(&report, &happened);
                }
                if let Some(slot) = reports.get_mut(i) {
                    *slot = Some(report);
                }
            }
        });
        (reports.into_iter().flatten().collect(), left_out)
    }

    fn print_block(&self, report: &Report, happened: &[Happened]) {
        let lines =
            std::iter::once(self.renderer.address_start(report)).chain(happened.iter().map(|h| {
                match h {
                    Happened::Step(s) => self.renderer.step(s),
                    Happened::Alert(a) => self.renderer.alert(a),
                }
            }));
        for line in lines.flatten() {
            self.output.line(&line);
        }
    }
}

/// The addresses once each (a resolver may list one per socket type).
fn dedup(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let mut out: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}
