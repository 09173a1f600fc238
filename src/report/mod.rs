//! The report: what each step found and the overall verdict, and the
//! [`Renderer`] every output format implements. The formats live beside
//! this file, one each: text for people (one line per step as it
//! finishes), one Nagios/Icinga line with performance data, one JSON
//! object, and OpenMetrics for Prometheus; a new format is a new file.

pub mod certificates;
mod escape;
mod json;
mod nagios;
mod openmetrics;
mod rounds;
mod text;

pub use escape::{Lines, escape_cut, is_unsafe, terminal};
pub use json::JsonObject;
pub use nagios::Nagios;
pub use openmetrics::{BUILT_IN_LABELS, OpenMetrics};
pub use rounds::{Repeated, Round, Series, StepStats, address_label};
pub use text::Text;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::cli::Security;

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    Ok,
    Warning,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Warning => "warning",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// A failed step, said the way a KB article would: what happened, what was
/// expected, what came instead, and what to check next.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub message: String,
    pub expected: String,
    /// Server text (escaped, cut short), when the server said something.
    pub got: Option<String>,
    pub hint: String,
}

#[derive(Debug, Clone)]
pub struct StepResult {
    pub name: &'static str,
    pub status: StepStatus,
    pub elapsed: Duration,
    pub detail: String,
    /// Why a step is a warning, in a few words (for summaries).
    pub reason: Option<String>,
    pub failure: Option<Failure>,
}

/// The overall verdict, as monitoring plugins report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Verdict {
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Ok => 0,
            Verdict::Warning => 1,
            Verdict::Critical => 2,
            Verdict::Unknown => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Warning => "warning",
            Verdict::Critical => "critical",
            Verdict::Unknown => "unknown",
        }
    }

    /// The verdict as monitoring plugins print it.
    fn upper(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Critical => "CRITICAL",
            Verdict::Unknown => "UNKNOWN",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TlsReport {
    /// The name sent as SNI and verified (`--sni`, else the host).
    pub name: String,
    pub verified: bool,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub not_after: Option<String>,
    /// notAfter in seconds since the epoch, for OpenMetrics.
    pub not_after_unix: Option<i64>,
    pub days_left: Option<i64>,
    /// What the handshake negotiated and the chain as sent; None when
    /// the handshake did not finish.
    pub session: Option<TlsSession>,
}

/// What a TLS handshake negotiated, and the chain the server sent.
#[derive(Debug, Clone, Default)]
pub struct TlsSession {
    /// `TLS 1.3`.
    pub version: String,
    /// IANA name, `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// Key-exchange group, `X25519`; None when OpenSSL does not say.
    pub group: Option<String>,
    /// Whether the server sent a HelloRetryRequest.
    pub hello_retry: bool,
    /// Subject and issuer of each certificate sent (cut short), leaf first.
    pub chain: Vec<(String, String)>,
    /// Whether the chain as sent reaches a trusted root by itself; None
    /// when nothing verified.
    pub chain_complete: Option<bool>,
    /// The leaf certificate's SHA-256 fingerprint, hex.
    pub leaf_sha256: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MailboxReport {
    pub name: String,
    pub exists: u32,
    pub recent: u32,
    pub unseen: Option<u32>,
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub flags: Vec<String>,
    pub permanent_flags: Vec<String>,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default)]
pub struct MessageReport {
    pub seq: u32,
    pub size: u64,
    pub flags: Vec<String>,
    pub internal_date: Option<String>,
    /// Subject with RFC 2047 encoded words decoded; `subject_raw` as sent.
    pub subject: Option<String>,
    pub subject_raw: Option<String>,
    /// First From address, display name decoded; `from_raw` as sent.
    pub from: Option<String>,
    pub from_raw: Option<String>,
    /// Charsets whose encoded words could not be decoded (left as sent).
    pub undecoded_charsets: Vec<String>,
    /// Seconds since INTERNALDATE by this host's clock (0 when slightly
    /// ahead); None when the date is unreadable or far in the future.
    pub age_s: Option<u64>,
    /// Bytes of BODY[] received with `--body`.
    pub body_bytes: Option<u64>,
}

/// A complete server response the check did not understand and ignored
/// (a server quirk, not a failure).
#[derive(Debug, Clone)]
pub struct Quirk {
    /// The step during which it arrived.
    pub step: &'static str,
    /// The response, escaped and cut short.
    pub response: String,
    /// Why it did not parse.
    pub reason: String,
}

/// What `--search` found.
#[derive(Debug, Clone)]
pub struct SearchReport {
    /// The keys as given (escaped, cut short).
    pub keys: String,
    /// `--search-within` in seconds.
    pub within_s: Option<u64>,
    pub matches: u64,
    /// More messages than were checked by date may match
    /// (`--search-within` without WITHIN, over a thousand candidates).
    pub at_least: bool,
    /// The newest match's sequence number.
    pub newest: Option<u32>,
    /// How the server was asked: ESEARCH with SEARCHRES, ESEARCH, SEARCH.
    pub method: &'static str,
}

/// One quota resource of the open folder's quota roots.
#[derive(Debug, Clone)]
pub struct QuotaReport {
    pub root: String,
    pub resource: String,
    pub used: u64,
    pub limit: u64,
}

/// Everything one run found.
#[derive(Debug, Clone)]
pub struct Report {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub address: Option<SocketAddr>,
    pub elapsed: Duration,
    pub steps: Vec<StepResult>,
    pub greeting: Option<String>,
    pub capabilities: Vec<String>,
    pub tls: Option<TlsReport>,
    pub folders: Vec<String>,
    /// LIST responses counted (may exceed `folders.len()` past the cap).
    pub folder_count: usize,
    pub mailbox: Option<MailboxReport>,
    pub message: Option<MessageReport>,
    /// `--search`: the matches; None without it or when not searched.
    pub search: Option<SearchReport>,
    pub alerts: Vec<String>,
    /// What the server said about itself in reply to ID (RFC 2971).
    pub server_id: Option<Vec<(String, Option<String>)>>,
    /// GETQUOTAROOT results; None when not asked (no QUOTA, no folder).
    pub quota: Option<Vec<QuotaReport>>,
    /// Responses not understood and ignored, in order (bounded).
    pub quirks: Vec<Quirk>,
    /// The first failed step and its failure.
    pub error: Option<(&'static str, Failure)>,
    /// Forces the verdict to unknown (configuration problems).
    pub unknown: bool,
    pub warn_secs: Option<f64>,
    pub crit_secs: Option<f64>,
    pub timeout_secs: f64,
    /// The certificate's days-left thresholds (-D), for perfdata.
    pub cert_warn_days: Option<i64>,
    pub cert_crit_days: Option<i64>,
    /// `--sni`: the name verified, when not the host connected to.
    pub sni: Option<String>,
    /// `--messages` ranges as given, for perfdata.
    pub messages_warn: Option<String>,
    pub messages_crit: Option<String>,
    /// `--max-age` seconds, for perfdata.
    pub max_age: Option<(u64, Option<u64>)>,
    /// `--quota-warn`/`--quota-crit` percent, for perfdata.
    pub quota_warn: u32,
    pub quota_crit: u32,
    /// The folder the check opens once logged in (None without `-u`):
    /// a label of every metric, so that checks of two folders differ.
    pub folder_label: Option<String>,
    /// `--label name=value` pairs every metric carries.
    pub labels: Vec<(String, String)>,
    /// The round trip (`--send-via`), once the arrive step ran.
    pub round_trip: Option<RoundTripReport>,
}

/// What a round trip measured and changed.
#[derive(Debug, Clone, Default)]
pub struct RoundTripReport {
    /// From DATA's 250 to the arrival; None when it did not arrive.
    pub delay_secs: Option<f64>,
    /// The folder it arrived in.
    pub folder: Option<String>,
    /// It arrived in a junk folder.
    pub junk: bool,
    /// The UIDs removed: this run's message, then leftovers.
    pub removed: Vec<u32>,
    /// `--arrival` thresholds.
    pub warn_secs: Option<f64>,
    pub crit_secs: Option<f64>,
}

impl Report {
    pub fn new(host: &str, port: u16, security: Security, step_names: &[&'static str]) -> Report {
        Report {
            host: host.to_string(),
            port,
            security,
            address: None,
            elapsed: Duration::ZERO,
            steps: step_names
                .iter()
                .map(|&name| StepResult {
                    name,
                    status: StepStatus::Skipped,
                    elapsed: Duration::ZERO,
                    detail: String::new(),
                    reason: None,
                    failure: None,
                })
                .collect(),
            greeting: None,
            capabilities: Vec::new(),
            tls: None,
            folders: Vec::new(),
            folder_count: 0,
            mailbox: None,
            message: None,
            search: None,
            alerts: Vec::new(),
            server_id: None,
            quota: None,
            quirks: Vec::new(),
            error: None,
            unknown: false,
            warn_secs: None,
            crit_secs: None,
            timeout_secs: 0.0,
            cert_warn_days: None,
            cert_crit_days: None,
            sni: None,
            messages_warn: None,
            messages_crit: None,
            max_age: None,
            quota_warn: 0,
            quota_crit: 0,
            folder_label: None,
            labels: Vec::new(),
            round_trip: None,
        }
    }

    /// Why the total time passed a threshold, if it did.
    fn threshold(&self) -> Option<(Verdict, f64)> {
        let secs = self.elapsed.as_secs_f64();
        if let Some(c) = self.crit_secs.filter(|&c| secs > c) {
            return Some((Verdict::Critical, c));
        }
        self.warn_secs
            .filter(|&w| secs > w)
            .map(|w| (Verdict::Warning, w))
    }

    pub fn verdict(&self) -> Verdict {
        if self.unknown {
            return Verdict::Unknown;
        }
        let mut v = Verdict::Ok;
        for s in &self.steps {
            match s.status {
                StepStatus::Failed => v = v.max(Verdict::Critical),
                StepStatus::Warning => v = v.max(Verdict::Warning),
                _ => {}
            }
        }
        if let Some((t, _)) = self.threshold() {
            v = v.max(t);
        }
        v
    }

    /// One short sentence for the summary and the Nagios line.
    pub fn summary(&self) -> String {
        let mut target = format!("{}:{}", display_host(&self.host), self.port);
        if let Some(name) = &self.sni {
            target = format!("{name} at {target}");
        }
        let outcome = self.outcome();
        let problem = self.error.is_some()
            || self.threshold().is_some()
            || self.steps.iter().any(|s| s.status == StepStatus::Warning);
        if problem {
            format!("{target}: {outcome}")
        } else {
            format!("{target} {outcome}")
        }
    }

    /// The summary without the server it is about: the first failure, the
    /// warnings, or the steps done and what the folder holds.
    pub fn outcome(&self) -> String {
        if let Some((step, f)) = &self.error {
            return format!("{step} failed: {}", f.message);
        }
        let mut warnings: Vec<String> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Warning)
            .map(|s| format!("{}: {}", s.name, s.reason.as_deref().unwrap_or(&s.detail)))
            .collect();
        if let Some((v, limit)) = self.threshold() {
            warnings.push(format!(
                "took {:.3}s, {} threshold is {limit}s",
                self.elapsed.as_secs_f64(),
                v.as_str()
            ));
        }
        if !warnings.is_empty() {
            return warnings.join("; ");
        }
        let done: Vec<&str> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Ok)
            .map(|s| s.name)
            .collect();
        let mut s = format!("{} in {:.3}s", done.join("/"), self.elapsed.as_secs_f64());
        if let Some(mb) = &self.mailbox {
            let _ = write!(
                s,
                ", {} has {} message{}",
                mb.name,
                mb.exists,
                if mb.exists == 1 { "" } else { "s" }
            );
            if let Some(search) = &self.search {
                let plus = if search.at_least { "at least " } else { "" };
                let _ = write!(s, ", {plus}{} match `{}`", search.matches, search.keys);
            }
        }
        s
    }
}

/// `[::1]` for IPv6 literals, the name otherwise.
pub fn display_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// `b` without its line end (CRLF or LF).
pub fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Milliseconds with one decimal, as every format shows times.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// One output format. The runner hands it each step as it finishes and
/// each ALERT as it arrives, and the report once the run is over; what it
/// returns goes to standard output as it is.
pub trait Renderer {
    /// Printed before the first step of a run (`report` has no results yet).
    fn start(&self, _report: &Report) -> Option<String> {
        None
    }

    /// Printed as soon as `step` has finished.
    fn step(&self, _step: &StepResult) -> Option<String> {
        None
    }

    /// Printed as soon as the server sent an ALERT.
    fn alert(&self, _text: &str) -> Option<String> {
        None
    }

    /// Printed on standard error when the run cannot start at all (no
    /// password, an unreadable CA file); `end` follows.
    fn not_started(&self, _failure: &Failure) -> Option<String> {
        None
    }

    /// Printed once the run is over.
    fn end(&self, report: &Report) -> String;

    /// `--all-addresses`: printed once the name is resolved, with how
    /// many of its addresses the cap left out.
    fn addresses(&self, _addrs: &[SocketAddr], _left_out: usize) -> Option<String> {
        None
    }

    /// `--all-addresses`: printed before an address's step lines, which
    /// come as a block when its check has finished (the checks run side
    /// by side).
    fn address_start(&self, _report: &Report) -> Option<String> {
        None
    }

    /// `--all-addresses`: printed once every address is done.
    fn round(&self, round: &Round) -> String;

    /// `--repeat`: printed as run `n` (from 1) ends.
    fn run_done(&self, _n: usize, _round: &Round) -> Option<String> {
        None
    }

    /// `--repeat`: printed after the last run.
    fn repeated(&self, repeated: &Repeated) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run against [::1]:993 whose connect took 1.2 ms, 45 ms in all.
    pub(super) fn sample() -> Report {
        let mut r = Report::new(
            "::1",
            993,
            Security::Tls,
            &["connect", "tls", "greeting", "logout"],
        );
        r.elapsed = Duration::from_millis(45);
        r.timeout_secs = 10.0;
        r.steps[0].status = StepStatus::Ok;
        r.steps[0].elapsed = Duration::from_micros(1234);
        r.steps[0].detail = "[::1]:993".into();
        r
    }

    #[test]
    fn verdict_from_steps_and_thresholds() {
        let mut r = sample();
        assert_eq!(r.verdict(), Verdict::Ok);
        r.warn_secs = Some(0.01);
        assert_eq!(r.verdict(), Verdict::Warning);
        r.crit_secs = Some(0.04);
        assert_eq!(r.verdict(), Verdict::Critical);
        r.crit_secs = Some(1.0);
        r.warn_secs = Some(0.045);
        assert_eq!(
            r.verdict(),
            Verdict::Ok,
            "a threshold is passed only when exceeded"
        );
        r.steps[1].status = StepStatus::Warning;
        assert_eq!(r.verdict(), Verdict::Warning);
        r.steps[2].status = StepStatus::Failed;
        assert_eq!(r.verdict(), Verdict::Critical);
        r.unknown = true;
        assert_eq!(r.verdict(), Verdict::Unknown);
        assert_eq!(Verdict::Unknown.exit_code(), 3);
    }
}
