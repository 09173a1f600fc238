//! `/probe?module=…&target=…`: one check of the target with the module's
//! configuration, run by the runner as the command line runs it, on a
//! thread of its own, answered with the check's OpenMetrics families plus
//! blackbox's `probe_success` and `probe_duration_seconds`. In order:
//! the parameters (400), the module (404), the allow-list for what the
//! target says by itself (403), a free probe slot (503), then on the probe
//! thread the name's addresses against the allow-list (403, and still no
//! connection), and the check. A check that fails is a 200 with
//! `probe_success 0`, as in blackbox.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cli::Config;
use crate::credentials::Credentials;
use crate::report::{OpenMetrics, Renderer, Round, Text, Verdict};
use crate::runner::Runner;
use crate::transcript::Capture;
use crate::transport::{self, Deadline};
use crate::{oauth, password};

use super::State;
use super::allow::Verdict as Allow;
use super::http::Request;
use super::metrics::Refused;
use super::modules::Module;
use super::respond::{Answer, Format};
use super::target::split_target;

/// Taken off Prometheus's scrape timeout, so the answer is on its way
/// before Prometheus gives up (blackbox's `timeout_offset`).
const SCRAPE_OFFSET: Duration = Duration::from_millis(500);

/// The shortest deadline a probe is given, however short the scrape
/// timeout: enough for a loopback check, and an answer in time anyway.
const MIN_DEADLINE: Duration = Duration::from_millis(100);

/// How long the answer waits beyond the deadline for the check to end:
/// it ends within `transport::WAKE` of it; a check that does not is
/// answered as failed, and its thread still holds its slot until it ends.
const DEADLINE_GRACE: Duration = Duration::from_millis(300);

/// The probe's answer.
pub fn probe(state: &Arc<State>, req: &Request) -> Answer {
    let (Some(module_name), Some(target)) = (req.param("module"), req.param("target")) else {
        return state.refuse(
            Refused::BadRequest,
            400,
            "/probe needs the parameters module and target",
        );
    };
    let debug = match req.param("debug") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return state.refuse(Refused::BadRequest, 400, "debug is true or false"),
    };
    let modules = state.modules();
    let Some(index) = modules.iter().position(|m| m.name == module_name) else {
        return state.refuse(
            Refused::UnknownModule,
            404,
            &format!("no module named '{}'", module_name.escape_default()),
        );
    };
    let module = &modules[index];
    let (host, port) = match split_target(target) {
        Ok(hp) => hp,
        Err(why) => return state.refuse(Refused::BadRequest, 400, &why),
    };
    let mut cfg = match module.configure(&host, port) {
        Ok(c) => c,
        Err(why) => {
            return state.refuse(
                Refused::BadRequest,
                400,
                &format!("target: {}", first_line(&why)),
            );
        }
    };
    let resolve_first = if module.sends_credentials() {
        match module.allow.judge(&cfg.host) {
            Allow::Allowed => false,
            Allow::ResolveFirst => true,
            Allow::Refused(why) => return state.refuse(Refused::NotAllowed, 403, &why),
        }
    } else {
        false
    };
    let budget = match req.scrape_timeout {
        // try_: a header of 1e300 seconds must not panic the conversion.
        Some(s) => cfg.timeout.min(
            Duration::try_from_secs_f64(s)
                .unwrap_or(Duration::MAX)
                .saturating_sub(SCRAPE_OFFSET),
        ),
        None => cfg.timeout,
    }
    .max(MIN_DEADLINE);
    let Some(slot) = Slot::take(state) else {
        return state.refuse(
            Refused::TooManyProbes,
            503,
            &format!(
                "{} probes are running, the most --max-probes allows",
                state.max_probes
            ),
        );
    };
    cfg.timeout = budget;
    let started = Instant::now();
    let (tx, rx) = mpsc::channel();
    let thread_modules = Arc::clone(&modules);
    let spawned = std::thread::Builder::new()
        .name("probe".into())
        .spawn(move || {
            let _slot = slot;
            let module = &thread_modules[index];
            let _ = tx.send(run(module, cfg, resolve_first, debug));
        });
    let outcome = match spawned {
        Ok(_) => rx
            .recv_timeout(budget + DEADLINE_GRACE)
            .unwrap_or_else(|_| Outcome::Failed("the check did not end by its deadline".into())),
        Err(e) => Outcome::Failed(format!("cannot start the probe's thread: {e}")),
    };
    let elapsed = started.elapsed();
    let format = if req.openmetrics {
        Format::OpenMetrics
    } else {
        Format::Prometheus
    };
    let (round, text) = match outcome {
        Outcome::Refused(why) => return state.refuse(Refused::NotAllowed, 403, &why),
        Outcome::Failed(why) => {
            log::info!(
                "probe module={module_name} target={}: {why}",
                target.escape_default()
            );
            (None, format!("probe failed: {why}\n"))
        }
        Outcome::Checked { round, transcript } => {
            let report = text_report(&round);
            let text = match transcript {
                Some(t) => format!("{t}\n{report}"),
                None => report,
            };
            (Some(round), text)
        }
    };
    finish(
        state,
        module_name,
        target,
        debug,
        format,
        round.as_ref(),
        elapsed,
        text,
    )
}

/// Counts the probe, keeps its report for the landing page, and answers.
#[allow(clippy::too_many_arguments)]
fn finish(
    state: &State,
    module: &str,
    target: &str,
    debug: bool,
    format: Format,
    round: Option<&Round>,
    elapsed: Duration,
    text: String,
) -> Answer {
    let success = round.is_some_and(|r| r.verdict() <= Verdict::Warning);
    state.stats.probe_done(module, success);
    log::debug!(
        "probe module={module} target={}: {} in {:.3} s",
        target.escape_default(),
        if success { "success" } else { "failure" },
        elapsed.as_secs_f64()
    );
    let metrics = metrics(round, success, elapsed, format);
    let answer = if debug {
        Answer::text(
            200,
            format!(
                "Probe of {} with module {module}\n\n{text}\n\nMetrics that would have been returned:\n{metrics}",
                target.escape_default()
            ),
        )
    } else {
        Answer::metrics(format, metrics)
    };
    state.history.add(module, target, success, text);
    answer
}

/// The check's families, then `probe_success` and
/// `probe_duration_seconds`; OpenMetrics ends with `# EOF`, the
/// Prometheus text format has no `# UNIT` (a comment to it anyway).
fn metrics(round: Option<&Round>, success: bool, elapsed: Duration, format: Format) -> String {
    let mut text = round.map(|r| OpenMetrics.round(r)).unwrap_or_default();
    if let Some(body) = text.trim_end().strip_suffix("# EOF") {
        text.truncate(body.len());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if format == Format::Prometheus {
        text = text
            .lines()
            .filter(|l| !l.starts_with("# UNIT "))
            .flat_map(|l| [l, "\n"])
            .collect();
    }
    text.push_str("# HELP probe_success Whether the probe succeeded (1) or failed (0).\n# TYPE probe_success gauge\n");
    text.push_str(&format!("probe_success {}\n", u8::from(success)));
    text.push_str("# HELP probe_duration_seconds How long the probe took, in seconds.\n# TYPE probe_duration_seconds gauge\n");
    if format == Format::OpenMetrics {
        text.push_str("# UNIT probe_duration_seconds seconds\n");
    }
    text.push_str(&format!(
        "probe_duration_seconds {:.6}\n",
        elapsed.as_secs_f64()
    ));
    if format == Format::OpenMetrics {
        text.push_str("# EOF\n");
    }
    text
}

/// The text report, as `imapcheck` prints it: header, steps, verdict.
fn text_report(round: &Round) -> String {
    let mut lines = Vec::new();
    for report in &round.reports {
        lines.extend(Text.start(report));
        lines.extend(report.steps.iter().filter_map(|s| Text.step(s)));
        lines.push(Text.end(report));
    }
    lines.join("\n") + "\n"
}

enum Outcome {
    Checked {
        round: Round,
        transcript: Option<String>,
    },
    /// The target's name resolves to an address the module may not probe.
    Refused(String),
    /// No check ran (the name did not resolve, a secret cannot be read).
    Failed(String),
}

/// On the probe's thread: the addresses (when the allow-list needs
/// them), the secrets, and the check.
fn run(module: &Module, mut cfg: Config, resolve_first: bool, debug: bool) -> Outcome {
    let deadline = Deadline::after(cfg.timeout);
    if resolve_first {
        let addrs = match transport::resolve(&cfg.host, cfg.port, cfg.family, deadline) {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(e.to_string()),
        };
        let ips: Vec<_> = addrs.iter().map(|a| a.ip()).collect();
        if !module.allow.addresses_allowed(&ips) {
            return Outcome::Refused(format!(
                "{} resolves to an address outside the module's --allow-target",
                cfg.host
            ));
        }
        // Connect to the address checked, not to what the name resolves
        // to a moment later (DNS rebinding).
        cfg.connect_to = ips.first().copied();
    }
    let credentials = match read_credentials(&cfg) {
        Ok(c) => c,
        Err(why) => return Outcome::Failed(why),
    };
    cfg.timeout = match deadline.remaining() {
        Ok(left) => left,
        Err(_) => return Outcome::Failed("the deadline passed before the check began".into()),
    };
    let capture = debug.then(Capture::open);
    cfg.verbose = debug;
    cfg.capture = capture.as_ref().map(Capture::id);
    let round = Runner::new(&cfg).quiet_round(credentials, module.tls.clone());
    Outcome::Checked {
        round,
        transcript: capture.map(Capture::finish),
    }
}

/// The password or the OAuth secrets, read for each probe as the command
/// line reads them for each run (a rotated file is read anew).
fn read_credentials(cfg: &Config) -> Result<Credentials, String> {
    let mut credentials = Credentials::default();
    if let Some(o) = &cfg.oauth {
        credentials.oauth = Some(oauth::read_secrets(
            o,
            std::env::var_os(oauth::CLIENT_SECRET_ENV),
        )?);
    } else if cfg.user.is_some() {
        credentials.password = Some(password::read_password(
            &cfg.password_source,
            std::env::var_os("IMAPCHECK_PASSWORD"),
            cfg.auth.secret_line_limit(),
        )?);
    }
    Ok(credentials)
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text).trim()
}

/// A probe slot: taken only while fewer than `--max-probes` run; given
/// back when the probe's thread ends.
struct Slot(Arc<State>);

impl Slot {
    fn take(state: &Arc<State>) -> Option<Slot> {
        let taken = state
            .stats
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < state.max_probes).then_some(n + 1)
            });
        taken.ok().map(|_| Slot(Arc::clone(state)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.stats.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
