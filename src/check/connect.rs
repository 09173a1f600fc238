//! The connect step (resolve, then TCP to the first address that answers,
//! the addresses raced as RFC 8305 has it)
//! and the TLS handshake with what the certificate says: the `tls` step
//! of implicit TLS, and the handshake the `starttls` step performs.

use std::net::SocketAddr;

use crate::der;
use crate::report::TlsReport;
use crate::session::Session;
use crate::transport::{Transport, probe_old_version, resolve};

use super::diagnosis::{self, NO_CONNECTION, NO_TLS_CONTEXT};
use super::tls_session;
use super::{Check, Done, Step, StepOutcome};

impl Check<'_> {
    pub(super) fn connect(&mut self) -> StepOutcome {
        let cfg = self.cfg;
        let addrs = match cfg.connect_to {
            // One address of --all-addresses: the runner resolved the name.
            // The report names it even when it cannot be reached.
            Some(ip) => {
                let addr = SocketAddr::new(ip, cfg.port);
                self.report.address = Some(addr);
                vec![addr]
            }
            None => {
                let addrs = resolve(&cfg.host, cfg.port, cfg.family, self.deadline)
                    .map_err(|e| diagnosis::connect_failure(&e, cfg))?;
                self.transcript.note(&format!(
                    "{} resolves to {}",
                    cfg.host,
                    addrs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                addrs
            }
        };
        let (transport, others) = Transport::connect(&addrs, self.deadline)
            .map_err(|e| diagnosis::connect_failure(&e, cfg))?;
        let peer = transport.peer;
        self.report.address = Some(peer);
        let tried: Vec<String> = others
            .iter()
            .filter(|a| a.tried())
            .map(ToString::to_string)
            .collect();
        for attempt in &tried {
            self.transcript.note(&format!("tried {attempt}"));
        }
        self.transcript.note(&format!("connected to {peer}"));
        self.session = Some(Session::new(transport, self.transcript));
        if let Some(settings) = self.tls_settings.take() {
            self.tls = Some(settings.prepare());
        }
        let mut detail = peer.to_string();
        if !tried.is_empty() {
            detail.push_str(&format!("; also tried {}", tried.join(", ")));
        }
        Done::ok(detail)
    }

    /// The TLS handshake (implicit, or after STARTTLS) and the certificate.
    pub(super) fn handshake(&mut self, step: Step) -> StepOutcome {
        let host = self.cfg.tls_name().to_string();
        let prepared = self.tls.as_mut().ok_or_else(|| NO_TLS_CONTEXT.with(None))?;
        let (connector, setup_time) = prepared.get();
        if let Some(t) = setup_time {
            self.transcript.note(&format!(
                "TLS context with the CA store ready after {:.1} ms (built in the background)",
                t.as_secs_f64() * 1000.0
            ));
        }
        let connector = connector.map_err(diagnosis::tls_setup)?;
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| NO_CONNECTION.with(None))?;
        let shook = match session.transport_mut().start_tls(connector, &host) {
            Ok(shook) => shook,
            Err(mut e) => {
                session.mark_broken();
                if e.refused_version().is_some_and(|v| v >= 0x0303) {
                    // The alert names no version: ask on a second connection.
                    let peer = session.transport().peer;
                    let starttls = step == Step::Starttls;
                    e.old_version = probe_old_version(peer, &host, starttls, self.deadline);
                }
                return Err(diagnosis::tls_failure(&e, step, self.cfg));
            }
        };
        self.transcript.note("TLS established");
        let der = shook.leaf.clone();
        let verified = !self.cfg.insecure;
        let mut tls = TlsReport {
            name: host.clone(),
            verified,
            subject: None,
            issuer: None,
            not_after: None,
            not_after_unix: None,
            days_left: None,
            session: None,
        };
        // Unverified is said once, by the warning below.
        let mut detail: Vec<String> = Vec::new();
        if verified && self.cfg.sni.is_some() {
            detail.push(format!("verified as {host}"));
        } else if verified {
            detail.push("verified".into());
        }
        let mut warnings = Vec::new();
        if !verified {
            warnings.push("certificate not verified (--insecure)".to_string());
        }
        match der.as_deref().map(der::parse_certificate) {
            Some(Ok(info)) => {
                let days = der::days_left(info.not_after, der::now_unix());
                let not_after = der::format_rfc3339(info.not_after);
                detail.push(format!("subject {}", info.subject));
                detail.push(format!("issuer {}", info.issuer));
                detail.push(format!("expires {not_after} ({days} days)"));
                if days < 0 {
                    warnings.push(format!("certificate expired {} days ago", -days));
                } else if days < self.cfg.cert_warn_days {
                    warnings.push(format!("certificate expires in {days} days ({not_after})"));
                }
                tls.subject = Some(info.subject);
                tls.issuer = Some(info.issuer);
                tls.not_after = Some(not_after);
                tls.not_after_unix = Some(info.not_after);
                tls.days_left = Some(days);
            }
            Some(Err(e)) => detail.push(format!("certificate not readable: {e}")),
            None => detail.push("no certificate received".into()),
        }
        if let (false, Some(why)) = (verified, &shook.unverified) {
            detail.push(format!("the certificate would not verify: {why}"));
        }
        let (session_detail, session_warnings) = tls_session::describe(&shook, self.cfg.insecure);
        detail.extend(session_detail);
        warnings.extend(session_warnings);
        tls.session = Some(tls_session::report(&shook));
        let below_floor = tls_session::below_floor(&shook, self.cfg);
        if let Some((_, false)) = &below_floor {
            warnings.push(tls_session::floor_warning(&shook, self.cfg));
        }
        let crit = tls
            .days_left
            .zip(self.cfg.cert_crit_days)
            .filter(|&(days, crit)| days < crit);
        let not_after = tls.not_after.clone().unwrap_or_default();
        self.report.tls = Some(tls);
        if let Some((floor, true)) = below_floor {
            self.finding = true;
            return Err(diagnosis::tls_version_below(
                &shook.negotiated.version,
                &floor,
            ));
        }
        if let Some((days, crit)) = crit {
            // A finding about the certificate, not a broken session: the
            // later steps still run.
            self.finding = true;
            return Err(diagnosis::cert_expiring(days, crit, &not_after));
        }
        Done::ok_or_warn(warnings, detail.join("; "))
    }
}
