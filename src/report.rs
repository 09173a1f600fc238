//! The report: what each step found, the overall verdict, and its three
//! renderings — text for people (one line per step as it finishes), one
//! Nagios/Icinga line with performance data, and one JSON object.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use crate::json::Json;

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
    pub verified: bool,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub not_after: Option<String>,
    pub days_left: Option<i64>,
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
    pub security: &'static str,
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
}

impl Report {
    pub fn new(
        host: &str,
        port: u16,
        security: &'static str,
        step_names: &[&'static str],
    ) -> Report {
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
            alerts: Vec::new(),
            server_id: None,
            quota: None,
            quirks: Vec::new(),
            error: None,
            unknown: false,
            warn_secs: None,
            crit_secs: None,
            timeout_secs: 0.0,
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
        let target = format!("{}:{}", display_host(&self.host), self.port);
        if let Some((step, f)) = &self.error {
            return format!("{target}: {step} failed: {}", f.message);
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
            return format!("{target}: {}", warnings.join("; "));
        }
        let done: Vec<&str> = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Ok)
            .map(|s| s.name)
            .collect();
        let mut s = format!(
            "{target} {} in {:.3}s",
            done.join("/"),
            self.elapsed.as_secs_f64()
        );
        if let Some(mb) = &self.mailbox {
            let _ = write!(
                s,
                ", {} has {} message{}",
                mb.name,
                mb.exists,
                if mb.exists == 1 { "" } else { "s" }
            );
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

/// Escapes bytes for a terminal or a log: printable text as is, CR, LF and
/// TAB as `\r \n \t`, other control bytes and invalid UTF-8 as `\xNN`; cut
/// after `max` bytes with a note of how much was left out.
pub fn escape_cut(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut out = String::with_capacity(cut.len());
    for chunk in cut.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\x7f' || ('\u{80}'..'\u{a0}').contains(&c) => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if bytes.len() > max {
        let _ = write!(out, "… ({} more bytes)", bytes.len() - max);
    }
    out
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The text line for one finished step.
pub fn text_step(step: &StepResult) -> String {
    let status = match step.status {
        StepStatus::Ok => "ok",
        StepStatus::Warning => "WARNING",
        StepStatus::Failed => "FAILED",
        StepStatus::Skipped => "skipped",
    };
    let time = if step.status == StepStatus::Skipped {
        String::from("-")
    } else {
        format!("{:.1} ms", ms(step.elapsed))
    };
    let mut line = format!(
        "{:<11} {:<8} {:>10}  {}",
        step.name, status, time, step.detail
    );
    if let Some(f) = &step.failure {
        let pad = " ".repeat(33);
        let _ = write!(line, "\n{pad}expected: {}", f.expected);
        if let Some(got) = &f.got {
            let _ = write!(line, "\n{pad}got:      {got}");
        }
        if !f.hint.is_empty() {
            let _ = write!(line, "\n{pad}hint:     {}", f.hint);
        }
    }
    line.trim_end().to_string()
}

/// The text output's last line.
pub fn text_summary(report: &Report) -> String {
    format!("IMAP {} - {}", report.verdict().upper(), report.summary())
}

/// `IMAP OK - ... | time=0.045123s;1;2;0;10 connect=0.000300s ...`
pub fn nagios(report: &Report) -> String {
    let v = report.verdict();
    let fmt_opt = |x: Option<f64>| x.map(|v| format!("{v}")).unwrap_or_default();
    let mut perf = format!(
        "time={:.6}s;{};{};0;{}",
        report.elapsed.as_secs_f64(),
        fmt_opt(report.warn_secs),
        fmt_opt(report.crit_secs),
        report.timeout_secs
    );
    for s in report
        .steps
        .iter()
        .filter(|s| s.status != StepStatus::Skipped)
    {
        let _ = write!(perf, " {}={:.6}s", s.name, s.elapsed.as_secs_f64());
    }
    if let Some(mb) = &report.mailbox {
        let _ = write!(perf, " messages={}", mb.exists);
    }
    if let Some(days) = report.tls.as_ref().and_then(|t| t.days_left) {
        let _ = write!(perf, " cert_days={days}");
    }
    // '|' starts performance data; keep it out of the human part.
    let text = report.summary().replace('|', "/");
    let mut out = format!("IMAP {} - {} | {perf}", v.upper(), text);
    for alert in &report.alerts {
        let _ = write!(out, "\n[ALERT] {}", alert.replace('|', "/"));
    }
    out
}

fn strings(v: &[String]) -> Json {
    Json::Arr(v.iter().map(|s| Json::str(s.as_str())).collect())
}

fn opt_str(v: &Option<String>) -> Json {
    Json::opt(v.as_deref(), Json::str)
}

/// The one JSON object (`--format json`).
pub fn json(report: &Report) -> String {
    let v = report.verdict();
    let steps = report
        .steps
        .iter()
        .map(|s| {
            Json::obj()
                .field("step", Json::str(s.name))
                .field("status", Json::str(s.status.as_str()))
                .field("elapsed_ms", Json::Float(ms(s.elapsed)))
                .field("detail", Json::str(s.detail.as_str()))
                .build()
        })
        .collect();
    let tls = Json::opt(report.tls.as_ref(), |t| {
        Json::obj()
            .field("verified", Json::Bool(t.verified))
            .field("subject", opt_str(&t.subject))
            .field("issuer", opt_str(&t.issuer))
            .field("not_after", opt_str(&t.not_after))
            .field("days_left", Json::opt(t.days_left, Json::Int))
            .build()
    });
    let mailbox = Json::opt(report.mailbox.as_ref(), |m| {
        Json::obj()
            .field("name", Json::str(m.name.as_str()))
            .field("exists", Json::Int(m.exists.into()))
            .field("recent", Json::Int(m.recent.into()))
            .field("unseen", Json::opt(m.unseen, |n| Json::Int(n.into())))
            .field(
                "uidvalidity",
                Json::opt(m.uidvalidity, |n| Json::Int(n.into())),
            )
            .field("uidnext", Json::opt(m.uidnext, |n| Json::Int(n.into())))
            .field("flags", strings(&m.flags))
            .field("permanent_flags", strings(&m.permanent_flags))
            .field("read_only", Json::Bool(m.read_only))
            .build()
    });
    let message = Json::opt(report.message.as_ref(), |m| {
        Json::obj()
            .field("seq", Json::Int(m.seq.into()))
            .field("size", Json::Int(i64::try_from(m.size).unwrap_or(i64::MAX)))
            .field("flags", strings(&m.flags))
            .field("internal_date", opt_str(&m.internal_date))
            .field("subject", opt_str(&m.subject))
            .field("subject_raw", opt_str(&m.subject_raw))
            .field("from", opt_str(&m.from))
            .field("from_raw", opt_str(&m.from_raw))
            .field("undecoded_charsets", strings(&m.undecoded_charsets))
            .field(
                "body_bytes",
                Json::opt(m.body_bytes, |n| {
                    Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
                }),
            )
            .build()
    });
    let error = Json::opt(report.error.as_ref(), |(step, f)| {
        Json::obj()
            .field("step", Json::str(*step))
            .field("message", Json::str(f.message.as_str()))
            .field("expected", Json::str(f.expected.as_str()))
            .field("got", opt_str(&f.got))
            .field("hint", Json::str(f.hint.as_str()))
            .build()
    });
    Json::obj()
        .field("status", Json::str(v.as_str()))
        .field("exit_code", Json::Int(v.exit_code().into()))
        .field("host", Json::str(report.host.as_str()))
        .field("port", Json::Int(report.port.into()))
        .field("security", Json::str(report.security))
        .field(
            "address",
            Json::opt(report.address, |a| Json::str(a.to_string())),
        )
        .field("elapsed_ms", Json::Float(ms(report.elapsed)))
        .field("steps", Json::Arr(steps))
        .field("greeting", opt_str(&report.greeting))
        .field("capabilities", strings(&report.capabilities))
        .field("tls", tls)
        .field("folders", strings(&report.folders))
        .field(
            "folder_count",
            Json::Int(i64::try_from(report.folder_count).unwrap_or(i64::MAX)),
        )
        .field("mailbox", mailbox)
        .field("message", message)
        .field("alerts", strings(&report.alerts))
        .field(
            "server_id",
            Json::opt(report.server_id.as_ref(), |pairs| {
                Json::Obj(pairs.iter().map(|(k, v)| (k.clone(), opt_str(v))).collect())
            }),
        )
        .field(
            "quota",
            Json::opt(report.quota.as_ref(), |rows| {
                Json::Arr(
                    rows.iter()
                        .map(|q| {
                            Json::obj()
                                .field("root", Json::str(q.root.as_str()))
                                .field("resource", Json::str(q.resource.as_str()))
                                .field("used", Json::Int(i64::try_from(q.used).unwrap_or(i64::MAX)))
                                .field(
                                    "limit",
                                    Json::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)),
                                )
                                .build()
                        })
                        .collect(),
                )
            }),
        )
        .field(
            "quirks",
            Json::Arr(
                report
                    .quirks
                    .iter()
                    .map(|q| {
                        Json::obj()
                            .field("step", Json::str(q.step))
                            .field("response", Json::str(q.response.as_str()))
                            .field("reason", Json::str(q.reason.as_str()))
                            .build()
                    })
                    .collect(),
            ),
        )
        .field("error", error)
        .build()
        .render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::new("::1", 993, "tls", &["connect", "tls", "greeting", "logout"]);
        r.elapsed = Duration::from_millis(45);
        r.timeout_secs = 10.0;
        r.steps[0].status = StepStatus::Ok;
        r.steps[0].elapsed = Duration::from_micros(1234);
        r.steps[0].detail = "[::1]:993".into();
        r
    }

    #[test]
    fn escape_and_cut() {
        assert_eq!(escape_cut(b"a1 OK done", 100), "a1 OK done");
        assert_eq!(
            escape_cut(b"x\r\n\x1b[31m\xff", 100),
            "x\\r\\n\\x1b[31m\\xff"
        );
        assert_eq!(escape_cut("grüße".as_bytes(), 100), "grüße");
        assert_eq!(escape_cut(b"abcdef", 3), "abc… (3 more bytes)");
        assert_eq!(escape_cut("\u{9b}".as_bytes(), 10), "\\x9b");
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

    #[test]
    fn nagios_line_and_perfdata() {
        let mut r = sample();
        r.warn_secs = Some(1.0);
        let line = nagios(&r);
        assert_eq!(
            line,
            "IMAP OK - [::1]:993 connect in 0.045s | time=0.045000s;1;;0;10 connect=0.001234s"
        );
        r.error = Some((
            "greeting",
            Failure {
                message: "a|b".into(),
                ..Failure::default()
            },
        ));
        r.steps[2].status = StepStatus::Failed;
        assert!(nagios(&r).starts_with("IMAP CRITICAL - [::1]:993: greeting failed: a/b | time="));
    }

    #[test]
    fn json_has_the_contract_fields() {
        let r = sample();
        let v: serde_json::Value = serde_json::from_str(&json(&r)).expect("valid JSON");
        assert_eq!(v["status"], "ok");
        assert_eq!(v["exit_code"], 0);
        assert_eq!(v["port"], 993);
        assert_eq!(v["address"], serde_json::Value::Null);
        assert_eq!(v["elapsed_ms"], 45.0);
        assert_eq!(v["steps"][0]["elapsed_ms"], 1.2);
        assert_eq!(v["steps"].as_array().map(Vec::len), Some(4));
        assert_eq!(v["steps"][1]["status"], "skipped");
        for key in ["greeting", "tls", "mailbox", "message", "error"] {
            assert!(v[key].is_null(), "{key}");
        }
        for key in ["capabilities", "folders", "alerts"] {
            assert!(v[key].is_array(), "{key}");
        }
    }

    #[test]
    fn text_step_shows_failure_lines() {
        let s = StepResult {
            name: "login",
            status: StepStatus::Failed,
            elapsed: Duration::from_micros(2500),
            detail: "the server refused the login".into(),
            reason: None,
            failure: Some(Failure {
                message: "m".into(),
                expected: "a tagged OK".into(),
                got: Some("X NO".into()),
                hint: "check".into(),
            }),
        };
        let t = text_step(&s);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "login       FAILED       2.5 ms  the server refused the login"
        );
        assert!(lines[1].ends_with("expected: a tagged OK"));
        assert!(lines[2].ends_with("got:      X NO"));
        assert!(lines[3].ends_with("hint:     check"));
    }
}
