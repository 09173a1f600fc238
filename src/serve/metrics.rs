//! The exporter's own metrics (`/metrics`): probes by module and result,
//! probes in flight, refused requests by reason, module reloads, and the
//! process's resident memory, CPU time, open fds, threads and start time
//! as `/proc/self` tells them (the names Prometheus's client libraries
//! use, so the usual process dashboards work). In the Prometheus text
//! format; no label value comes from a client but the module name, which
//! the modules directory restricts to `[A-Za-z0-9_.-]`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Why a request was refused, as the `reason` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refused {
    BadRequest,
    UnknownModule,
    NotAllowed,
    TooManyProbes,
    TooManyConnections,
    HeadTimeout,
    Unauthorized,
    NotFound,
}

impl Refused {
    fn as_str(self) -> &'static str {
        match self {
            Refused::BadRequest => "bad_request",
            Refused::UnknownModule => "unknown_module",
            Refused::NotAllowed => "target_not_allowed",
            Refused::TooManyProbes => "too_many_probes",
            Refused::TooManyConnections => "too_many_connections",
            Refused::HeadTimeout => "request_timeout",
            Refused::Unauthorized => "unauthorized",
            Refused::NotFound => "not_found",
        }
    }
}

/// The counters, shared by every connection.
#[derive(Default)]
pub struct Stats {
    /// (module, success) → probes.
    probes: Mutex<BTreeMap<(String, bool), u64>>,
    refused: Mutex<BTreeMap<Refused, u64>>,
    pub in_flight: AtomicUsize,
    pub connections: AtomicUsize,
    reload_errors: AtomicU64,
    /// Unix time of the last successful (re)load, in milliseconds.
    last_reload_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Stats {
    pub fn probe_done(&self, module: &str, success: bool) {
        *lock(&self.probes)
            .entry((module.to_string(), success))
            .or_default() += 1;
    }

    pub fn refused(&self, why: Refused) {
        *lock(&self.refused).entry(why).or_default() += 1;
    }

    pub fn reload_failed(&self) {
        self.reload_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reloaded(&self) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_reload_ms.store(ms, Ordering::Relaxed);
    }

    /// `/metrics`: every family, in the Prometheus text format.
    pub fn render(&self, modules: &[String]) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "imapcheck_exporter_probes_total",
            "counter",
            "Probes run, by module and result.",
        );
        let probes = lock(&self.probes);
        for name in modules {
            for success in [true, false] {
                let n = probes.get(&(name.clone(), success)).copied().unwrap_or(0);
                let result = if success { "success" } else { "failure" };
                let _ = writeln!(
                    out,
                    "imapcheck_exporter_probes_total{{module=\"{name}\",result=\"{result}\"}} {n}"
                );
            }
        }
        // Modules no longer loaded keep their counts: a counter never goes down.
        for ((name, success), n) in probes.iter().filter(|((m, _), _)| !modules.contains(m)) {
            let result = if *success { "success" } else { "failure" };
            let _ = writeln!(
                out,
                "imapcheck_exporter_probes_total{{module=\"{name}\",result=\"{result}\"}} {n}"
            );
        }
        drop(probes);
        gauge(
            &mut out,
            "imapcheck_exporter_probes_in_flight",
            "Probes running now.",
            self.in_flight.load(Ordering::Relaxed) as f64,
        );
        gauge(
            &mut out,
            "imapcheck_exporter_connections_open",
            "HTTP connections open now.",
            self.connections.load(Ordering::Relaxed) as f64,
        );
        family(
            &mut out,
            "imapcheck_exporter_refused_requests_total",
            "counter",
            "Requests answered with an error status (or connections closed), by reason.",
        );
        let refused = lock(&self.refused);
        for why in [
            Refused::BadRequest,
            Refused::UnknownModule,
            Refused::NotAllowed,
            Refused::TooManyProbes,
            Refused::TooManyConnections,
            Refused::HeadTimeout,
            Refused::Unauthorized,
            Refused::NotFound,
        ] {
            let n = refused.get(&why).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "imapcheck_exporter_refused_requests_total{{reason=\"{}\"}} {n}",
                why.as_str()
            );
        }
        drop(refused);
        family(
            &mut out,
            "imapcheck_exporter_module_load_errors_total",
            "counter",
            "Reloads (SIGHUP) that failed on a broken module file or users file; what was loaded before stays in use.",
        );
        let _ = writeln!(
            out,
            "imapcheck_exporter_module_load_errors_total {}",
            self.reload_errors.load(Ordering::Relaxed)
        );
        gauge(
            &mut out,
            "imapcheck_exporter_last_reload_success_timestamp_seconds",
            "When the modules (and the users file) were last loaded successfully.",
            self.last_reload_ms.load(Ordering::Relaxed) as f64 / 1000.0,
        );
        gauge(
            &mut out,
            "imapcheck_exporter_modules",
            "Modules loaded.",
            modules.len() as f64,
        );
        process_metrics(&mut out);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf` names on Linux.
const SC_CLK_TCK: i32 = 2;
const SC_PAGESIZE: i32 = 30;

/// The process families, from /proc/self; one left out when /proc cannot
/// say (no /proc mounted): a missing series is honest, a zero is not.
fn process_metrics(out: &mut String) {
    // SAFETY: sysconf only reads a system constant.
    let (ticks, page) = unsafe { (sysconf(SC_CLK_TCK), sysconf(SC_PAGESIZE)) };
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses and may
    // hold spaces; field 3 (state) is the first after it.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    if let (Some(utime), Some(stime)) = (field(14), field(15))
        && ticks > 0
    {
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "User and system CPU time spent, in seconds.",
        );
        let _ = writeln!(
            out,
            "process_cpu_seconds_total {}",
            (utime + stime) / ticks as f64
        );
    }
    if let Some(rss_pages) = field(24).filter(|_| page > 0) {
        gauge(
            out,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss_pages * page as f64,
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time())
        && ticks > 0
    {
        gauge(
            out,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, in seconds.",
            boot + start / ticks as f64,
        );
    }
    if let Some(threads) = field(20) {
        gauge(out, "process_threads", "Threads of the process.", threads);
    }
    if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
        // One of them is the directory read now.
        let fds = dir.count().saturating_sub(1);
        gauge(
            out,
            "process_open_fds",
            "Open file descriptors.",
            fds as f64,
        );
    }
}

/// The system's boot time (Unix seconds), from /proc/stat's `btime`.
fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_process() {
        let s = Stats::default();
        s.probe_done("imap", true);
        s.probe_done("imap", true);
        s.probe_done("gone", false);
        s.refused(Refused::NotAllowed);
        let text = s.render(&["imap".to_string()]);
        assert!(
            text.contains(
                "imapcheck_exporter_probes_total{module=\"imap\",result=\"success\"} 2\n"
            )
        );
        assert!(
            text.contains(
                "imapcheck_exporter_probes_total{module=\"imap\",result=\"failure\"} 0\n"
            )
        );
        assert!(
            text.contains(
                "imapcheck_exporter_probes_total{module=\"gone\",result=\"failure\"} 1\n"
            )
        );
        assert!(text.contains(
            "imapcheck_exporter_refused_requests_total{reason=\"target_not_allowed\"} 1\n"
        ));
        for name in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(
                text.contains(&format!("\n{name} ")),
                "{name} missing:\n{text}"
            );
        }
    }
}
