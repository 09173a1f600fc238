// OpenMetrics output read by two strict parsers that nobody here wrote:
// `promtool check metrics` (Prometheus's own text parser and linter, as
// node_exporter's textfile collector reads files) and Python
// prometheus_client's OpenMetrics parser (tests/tools/openmetrics-read).
// Both must accept the text; the samples come from the second.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

/// One sample: family name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// What the parsers read: every sample, and each family's type and unit.
#[derive(Debug)]
pub struct Metrics {
    pub samples: Vec<Sample>,
    /// name → (type, unit, help)
    pub families: BTreeMap<String, (String, String, String)>,
    pub text: String,
}

fn piped(mut cmd: Command, input: &str) -> std::process::Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}: run tests/deps metrics"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writing to the parser");
    child.wait_with_output().expect("parser output")
}

/// Parses `text` with both parsers (panicking with their words if either
/// refuses it or promtool's linter has a remark).
pub fn read(text: &str) -> Metrics {
    let lint = piped(
        {
            let mut c = Command::new("promtool");
            c.args(["check", "metrics"]);
            c
        },
        text,
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    assert!(
        lint.status.success() && said.trim().is_empty(),
        "promtool check metrics refused it ({}): {said}\n{text}",
        lint.status
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/openmetrics-read");
    let out = piped(Command::new(script), text);
    assert!(
        out.status.success(),
        "prometheus_client refused it: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("openmetrics-read JSON");
    let mut samples = Vec::new();
    let mut families = BTreeMap::new();
    for f in v["families"].as_array().expect("families") {
        let s = |k: &str| f[k].as_str().unwrap_or("").to_string();
        families.insert(s("name"), (s("type"), s("unit"), s("help")));
        for sample in f["samples"].as_array().expect("samples") {
            let labels = sample["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("label value").to_string()))
                .collect();
            samples.push(Sample {
                name: sample["name"].as_str().expect("name").to_string(),
                labels,
                value: sample["value"].as_f64().expect("value"),
            });
        }
    }
    Metrics {
        samples,
        families,
        text: text.to_string(),
    }
}

impl Metrics {
    /// Every sample of `name` whose labels include all of `with`.
    pub fn all(&self, name: &str, with: &[(&str, &str)]) -> Vec<&Sample> {
        self.samples
            .iter()
            .filter(|s| {
                s.name == name
                    && with
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect()
    }

    /// The one sample of `name` with those labels (panics unless exactly one).
    pub fn get(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        let found = self.all(name, with);
        assert_eq!(
            found.len(),
            1,
            "{name} {with:?}: expected one sample, found {found:?}\n{}",
            self.text
        );
        found[0].value
    }

    /// Whether any sample of `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }

    /// The step statuses as the metrics say them, in order: `step=status`.
    pub fn step_statuses(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in self.all("imapcheck_step_status", &[]) {
            if s.value == 1.0 {
                out.push(format!("{}={}", s.labels["step"], s.labels["status"]));
            }
        }
        out
    }

    /// Checks what every imapcheck OpenMetrics text must be: every sample
    /// has host, port and security equal to these; every family is a gauge
    /// with help, and a unit exactly when its name ends in one; the status
    /// families are one-hot.
    pub fn assert_contract(&self, host: &str, port: u16, security: &str) {
        assert!(
            self.text.ends_with("# EOF\n"),
            "ends with # EOF\n{}",
            self.text
        );
        let port = port.to_string();
        for s in &self.samples {
            for (k, v) in [("host", host), ("port", &port), ("security", security)] {
                assert_eq!(
                    s.labels.get(k).map(String::as_str),
                    Some(v),
                    "{} label {k}\n{}",
                    s.name,
                    self.text
                );
            }
        }
        for (name, (kind, unit, help)) in &self.families {
            assert_eq!(kind, "gauge", "{name}");
            assert!(!help.is_empty(), "{name} has no help");
            let expected_unit = ["seconds", "bytes"]
                .into_iter()
                .find(|u| name.ends_with(&format!("_{u}")))
                .unwrap_or("");
            assert_eq!(unit, expected_unit, "{name}'s unit");
        }
        // One status per check: per address with --all-addresses (whose
        // round-wide families, such as the addresses left out, have none).
        let checks: std::collections::BTreeSet<Option<&String>> = self
            .all("imapcheck_status", &[])
            .iter()
            .map(|s| s.labels.get("address"))
            .collect();
        assert_eq!(
            self.all("imapcheck_status", &[])
                .iter()
                .map(|s| s.value)
                .sum::<f64>(),
            checks.len() as f64,
            "one status per check\n{}",
            self.text
        );
        let mut states: BTreeMap<(Option<&String>, &String), Vec<f64>> = BTreeMap::new();
        for s in self.all("imapcheck_step_status", &[]) {
            let key = (s.labels.get("address"), &s.labels["step"]);
            states.entry(key).or_default().push(s.value);
        }
        for ((address, step), values) in states {
            assert_eq!(values.len(), 4, "{address:?} {step}: four states");
            assert_eq!(
                values.iter().sum::<f64>(),
                1.0,
                "{address:?} {step}: one state"
            );
        }
    }
}

/// Seconds since the epoch of an RFC 3339 UTC time as the JSON gives
/// `tls.not_after` ("2027-11-25T19:46:47Z"); the tests' own conversion.
fn rfc3339_unix(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { t[r].parse().expect("RFC 3339 digits") };
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

impl Metrics {
    /// The metrics say what `v`, the JSON output of a run of the same
    /// check against the same server, says: verdict, every step's status
    /// (a duration exactly for the steps that ran), the certificate, the
    /// folder, the message (its age within `age_slack` seconds, the time
    /// between the two runs), quota and server identity. Durations are
    /// each run's own and are not compared.
    pub fn assert_agrees_with_json(&self, v: &serde_json::Value, age_slack: f64) {
        let t = &self.text;
        let status = v["status"].as_str().expect("status");
        assert_eq!(
            self.get("imapcheck_status", &[("status", status)]),
            1.0,
            "{status}\n{t}"
        );
        let code = v["exit_code"].as_f64().expect("exit_code");
        assert_eq!(self.get("imapcheck_exit_code", &[]), code, "{t}");
        let success = if code <= 1.0 { 1.0 } else { 0.0 };
        assert_eq!(self.get("imapcheck_success", &[]), success, "{t}");
        let mut json_steps = Vec::new();
        for step in v["steps"].as_array().expect("steps") {
            let name = step["step"].as_str().expect("step name");
            let st = step["status"].as_str().expect("step status");
            json_steps.push(format!("{name}={st}"));
            let durations = self.all("imapcheck_step_duration_seconds", &[("step", name)]);
            assert_eq!(
                durations.len(),
                usize::from(st != "skipped"),
                "{name}'s duration\n{t}"
            );
        }
        assert_eq!(self.step_statuses(), json_steps, "{t}");
        match v["tls"].as_object() {
            Some(tls) => {
                let sni = tls["name"].as_str().expect("tls.name");
                let verified = if tls["verified"] == true { 1.0 } else { 0.0 };
                let with = [("sni", sni)];
                assert_eq!(
                    self.get("imapcheck_tls_certificate_verified", &with),
                    verified
                );
                match tls["not_after"].as_str() {
                    Some(na) => assert_eq!(
                        self.get(
                            "imapcheck_tls_certificate_not_after_timestamp_seconds",
                            &with
                        ),
                        rfc3339_unix(na) as f64,
                        "{t}"
                    ),
                    None => {
                        assert!(!self.has("imapcheck_tls_certificate_not_after_timestamp_seconds"))
                    }
                }
            }
            None => assert!(!self.has("imapcheck_tls_certificate_verified"), "{t}"),
        }
        match v["mailbox"].as_object() {
            Some(mb) => {
                let folder = mb["name"].as_str().expect("mailbox.name");
                let exists = mb["exists"].as_f64().expect("exists");
                let with = [("folder", folder)];
                assert_eq!(self.get("imapcheck_mailbox_messages", &with), exists, "{t}");
                assert_eq!(
                    self.get("imapcheck_folders", &[]),
                    v["folder_count"].as_f64().expect("folder_count"),
                    "{t}"
                );
                match v["message"].as_object() {
                    Some(m) => {
                        let size = m["size"].as_f64().expect("size");
                        assert_eq!(self.get("imapcheck_message_size_bytes", &with), size, "{t}");
                        if let Some(age) = m["age_s"].as_f64() {
                            let got = self.get("imapcheck_message_age_seconds", &with);
                            assert!((got - age).abs() <= age_slack, "age {got} vs {age}\n{t}");
                        }
                    }
                    None => assert!(!self.has("imapcheck_message_size_bytes"), "{t}"),
                }
            }
            None => assert!(!self.has("imapcheck_mailbox_messages"), "{t}"),
        }
        let mut quota_seen = 0;
        for q in v["quota"].as_array().into_iter().flatten() {
            let root = q["root"].as_str().expect("root");
            let resource = q["resource"].as_str().expect("resource");
            let (used, limit) = (
                q["used"].as_f64().expect("used"),
                q["limit"].as_f64().expect("limit"),
            );
            if resource.eq_ignore_ascii_case("STORAGE") {
                let with = [("root", root)];
                assert_eq!(
                    self.get("imapcheck_quota_storage_used_bytes", &with),
                    used * 1024.0
                );
                assert_eq!(
                    self.get("imapcheck_quota_storage_limit_bytes", &with),
                    limit * 1024.0
                );
            } else {
                let with = [("root", root), ("resource", resource)];
                assert_eq!(self.get("imapcheck_quota_used", &with), used, "{t}");
                assert_eq!(self.get("imapcheck_quota_limit", &with), limit, "{t}");
            }
            quota_seen += 1;
        }
        let quota_samples = ["storage_used_bytes", "storage_limit_bytes", "used", "limit"]
            .iter()
            .map(|n| self.all(&format!("imapcheck_quota_{n}"), &[]).len())
            .sum::<usize>();
        assert_eq!(quota_samples, quota_seen * 2, "every quota row, twice\n{t}");
        match v["server_id"].as_object() {
            Some(id) => {
                let info = self.all("imapcheck_server_info", &[]);
                assert_eq!(info.len(), 1, "{t}");
                assert_eq!(info[0].value, 1.0);
                for (k, val) in id {
                    let label: String = k
                        .to_ascii_lowercase()
                        .chars()
                        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                        .collect();
                    assert_eq!(
                        info[0].labels.get(&label).map(String::as_str),
                        val.as_str(),
                        "ID {k}\n{t}"
                    );
                }
            }
            None => assert!(!self.has("imapcheck_server_info"), "{t}"),
        }
    }
}
