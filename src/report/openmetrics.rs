//! `--format openmetrics`: the report in the OpenMetrics text format, for
//! Prometheus (node_exporter's textfile collector, or a scrape of a file
//! written with `--output`). Every family is a gauge with `# TYPE`,
//! `# HELP` and, where it has one, `# UNIT`; units are in the names; every
//! sample carries `host`, `port` and `security`, the `folder` of a check
//! that logs in, and the `--label` pairs; the text ends with
//! `# EOF`. Only gauges are used, so Prometheus's own text parser
//! (promtool, the textfile collector) reads it as well as an OpenMetrics
//! parser does; the server's identity is therefore a gauge named `_info`
//! with the value 1, the Prometheus convention for info metrics. Nothing
//! secret is ever a label or a value: no user name, no password, no token.

use std::fmt::Write as _;

use super::{Repeated, Report, Round, StepStatus, Verdict, address_label};

pub struct OpenMetrics;

impl super::Renderer for OpenMetrics {
    /// The metrics carry no words, so why the run could not start is said
    /// on standard error, as in text.
    fn not_started(&self, failure: &super::Failure) -> Option<String> {
        super::Text.not_started(failure)
    }

    fn end(&self, report: &Report) -> String {
        render(&families(report, None))
    }

    /// Every address's families, each sample with an `address` label.
    fn round(&self, round: &Round) -> String {
        let mut merged: Vec<Family> = Vec::new();
        for r in &round.reports {
            let address = round.all_addresses.then(|| address_label(r));
            for f in families(r, address) {
                match merged.iter_mut().find(|m| m.name == f.name) {
                    Some(m) => m.samples.extend(f.samples),
                    None => merged.push(f),
                }
            }
        }
        if round.all_addresses {
            let mut extra = Families {
                base: vec![
                    label("host", round.host.as_str()),
                    label("port", round.port.to_string()),
                    label("security", round.security.as_str()),
                ],
                list: Vec::new(),
            };
            extra.push(
                "imapcheck_addresses_left_out",
                None,
                "Addresses of the name that --all-addresses did not check, being beyond its cap.",
                vec![(vec![], round.left_out.to_string())],
            );
            merged.extend(extra.list);
        }
        render(&merged)
    }

    /// Not reached: `--repeat` with OpenMetrics is a usage error, since
    /// the format holds one result. Should it be, the newest round is the
    /// one result there is.
    fn repeated(&self, rep: &Repeated) -> String {
        match rep.rounds.last() {
            Some(round) => self.round(round),
            None => render(&[]),
        }
    }
}

/// The label names the families here set themselves: a `--label` of one
/// of these would give a sample one name twice, so the CLI refuses them.
pub const BUILT_IN_LABELS: [&str; 11] = [
    "host",
    "port",
    "security",
    "address",
    "folder",
    "step",
    "status",
    "sni",
    "root",
    "resource",
    "arrived_in",
];

/// Longest label value taken from what a server sent (ID fields, quota
/// root names): RFC 2971 allows 1024-byte ID values, and a label that long
/// only bloats every time series that carries it.
const MAX_SERVER_LABEL: usize = 128;

/// ID fields kept as labels of the info metric: RFC 2971 allows 30 pairs;
/// the first 30 distinct label names are kept.
const MAX_ID_LABELS: usize = 30;

/// One metric family: a gauge, its unit (the name's suffix), help text and
/// samples; OpenMetrics wants each family's samples together.
struct Family {
    name: &'static str,
    unit: Option<&'static str>,
    help: &'static str,
    samples: Vec<Sample>,
}

struct Sample {
    /// Label pairs, the common ones first; values unescaped.
    labels: Labels,
    value: String,
}

/// The families for one report; with `address`, every sample also has
/// an `address` label (one address of `--all-addresses`).
fn families(report: &Report, address: Option<String>) -> Vec<Family> {
    let mut base = vec![
        label("host", report.host.as_str()),
        label("port", report.port.to_string()),
        label("security", report.security.as_str()),
    ];
    base.extend(address.map(|a| label("address", a)));
    base.extend(report.folder_label.clone().map(|f| label("folder", f)));
    base.extend(report.labels.iter().cloned());
    let mut out = Families {
        base,
        list: Vec::new(),
    };
    let verdict = report.verdict();
    out.push(
        "imapcheck_success",
        None,
        "1 when every step that ran worked (OK or WARNING), 0 when CRITICAL or UNKNOWN.",
        vec![(vec![], bool_value(verdict <= Verdict::Warning))],
    );
    out.push(
        "imapcheck_status",
        None,
        "The check's verdict: 1 for the status it has, 0 for the others.",
        [
            Verdict::Ok,
            Verdict::Warning,
            Verdict::Critical,
            Verdict::Unknown,
        ]
        .iter()
        .map(|&v| {
            (
                vec![label("status", v.as_str().to_string())],
                bool_value(v == verdict),
            )
        })
        .collect(),
    );
    out.push(
        "imapcheck_exit_code",
        None,
        "The exit status: 0 ok, 1 warning, 2 critical, 3 unknown.",
        vec![(vec![], verdict.exit_code().to_string())],
    );
    out.push(
        "imapcheck_duration_seconds",
        Some("seconds"),
        "How long the whole check took.",
        vec![(vec![], seconds(report.elapsed))],
    );
    out.push(
        "imapcheck_step_duration_seconds",
        Some("seconds"),
        "How long each step that ran took.",
        report
            .steps
            .iter()
            .filter(|s| s.status != StepStatus::Skipped)
            .map(|s| (vec![label("step", s.name.to_string())], seconds(s.elapsed)))
            .collect(),
    );
    let states = [
        StepStatus::Ok,
        StepStatus::Warning,
        StepStatus::Failed,
        StepStatus::Skipped,
    ];
    out.push(
        "imapcheck_step_status",
        None,
        "Each step's outcome: 1 for the status it has (ok, warning, failed, skipped), 0 for the others.",
        report
            .steps
            .iter()
            .flat_map(|s| {
                states.iter().map(move |&st| {
                    (
                        vec![
                            label("step", s.name.to_string()),
                            label("status", st.as_str().to_string()),
                        ],
                        bool_value(s.status == st),
                    )
                })
            })
            .collect(),
    );
    tls_families(&mut out, report);
    mailbox_families(&mut out, report);
    quota_families(&mut out, report);
    round_trip_families(&mut out, report);
    if let Some(pairs) = &report.server_id {
        out.push(
            "imapcheck_server_info",
            None,
            "The server's identity as it answered IMAP ID (RFC 2971); always 1.",
            vec![(id_labels(pairs, &out.base), "1".to_string())],
        );
    }
    out.list
}

/// The round trip (`--send-via`): the delivery delay, labelled with the
/// folder it arrived in (`arrived_in`: the checked folder, or a junk
/// folder; `folder` is the checked one on every sample), and how many
/// messages the cleanup removed.
fn round_trip_families(out: &mut Families, report: &Report) {
    let Some(rt) = &report.round_trip else { return };
    if let Some(delay) = rt.delay_secs {
        let folder = rt.folder.clone().unwrap_or_default();
        out.push(
            "imapcheck_arrival_seconds",
            Some("seconds"),
            "The round trip's delivery delay: from the SMTP server's 250 to DATA to the message's arrival in the folder.",
            vec![(vec![label("arrived_in", folder)], format!("{delay:.6}"))],
        );
    }
    out.push(
        "imapcheck_round_trip_removed_messages",
        None,
        "Messages the round trip's cleanup removed (its own, and any left behind by earlier runs).",
        vec![(vec![], rt.removed.len().to_string())],
    );
}

fn tls_families(out: &mut Families, report: &Report) {
    let Some(tls) = &report.tls else { return };
    out.push(
        "imapcheck_tls_certificate_verified",
        None,
        "1 when the server's certificate chain and name were verified, 0 with --insecure.",
        vec![(
            vec![label("sni", tls.name.clone())],
            bool_value(tls.verified),
        )],
    );
    if let Some(t) = tls.not_after_unix {
        out.push(
            "imapcheck_tls_certificate_not_after_timestamp_seconds",
            Some("seconds"),
            "When the server's certificate expires (notAfter), in seconds since the epoch.",
            vec![(vec![label("sni", tls.name.clone())], t.to_string())],
        );
    }
    tls_session_families(out, tls);
}

/// The negotiated version and cipher, and the length of the chain as sent.
fn tls_session_families(out: &mut Families, tls: &crate::report::TlsReport) {
    let Some(s) = &tls.session else { return };
    let mut labels = vec![
        label("sni", tls.name.clone()),
        label("version", s.version.clone()),
        label("cipher", s.cipher.clone()),
    ];
    if let Some(group) = &s.group {
        labels.push(label("group", group.clone()));
    }
    out.push(
        "imapcheck_tls_info",
        None,
        "The TLS version, cipher suite and key-exchange group negotiated; always 1.",
        vec![(labels, "1".to_string())],
    );
    out.push(
        "imapcheck_tls_chain_certificates",
        None,
        "Certificates the server sent in its chain, the leaf included.",
        vec![(
            vec![label("sni", tls.name.clone())],
            s.chain.len().to_string(),
        )],
    );
}

fn mailbox_families(out: &mut Families, report: &Report) {
    if report
        .steps
        .iter()
        .any(|s| s.name == "list" && s.status != StepStatus::Skipped)
    {
        out.push(
            "imapcheck_folders",
            None,
            "Folders LIST returned.",
            vec![(vec![], report.folder_count.to_string())],
        );
    }
    let Some(mb) = &report.mailbox else { return };
    // The folder is a label of every sample of a check that logs in (the
    // base labels); one opened without it is not possible, but would
    // still say which folder it is.
    let folder = || match report.folder_label {
        Some(_) => vec![],
        None => vec![label("folder", mb.name.clone())],
    };
    out.push(
        "imapcheck_mailbox_messages",
        None,
        "Messages in the folder checked (EXISTS).",
        vec![(folder(), mb.exists.to_string())],
    );
    if let Some(s) = &report.search {
        out.push(
            "imapcheck_search_matches",
            None,
            "Messages in the folder that match --search (and --search-within).",
            vec![(folder(), s.matches.to_string())],
        );
    }
    let Some(msg) = &report.message else { return };
    out.push(
        "imapcheck_message_size_bytes",
        Some("bytes"),
        "Size of the fetched message (RFC822.SIZE).",
        vec![(folder(), msg.size.to_string())],
    );
    if let Some(age) = msg.age_s {
        out.push(
            "imapcheck_message_age_seconds",
            Some("seconds"),
            "Age of the fetched message by its INTERNALDATE and this host's clock.",
            vec![(folder(), age.to_string())],
        );
        if report.search.is_some() {
            out.push(
                "imapcheck_search_newest_age_seconds",
                Some("seconds"),
                "Age of the newest message matching --search, by its INTERNALDATE.",
                vec![(folder(), age.to_string())],
            );
        }
    }
}

/// STORAGE is counted in KiB by IMAP (RFC 9208) and given here in bytes;
/// other resources (MESSAGE, …) are counts, labelled by resource.
fn quota_families(out: &mut Families, report: &Report) {
    let Some(rows) = &report.quota else { return };
    let (storage, other): (Vec<_>, Vec<_>) = rows
        .iter()
        .partition(|q| q.resource.eq_ignore_ascii_case("STORAGE"));
    let root = |root: &str| label("root", server_text(root));
    let kib = |n: u64| n.saturating_mul(1024).to_string();
    for (name, help, used) in [
        (
            "imapcheck_quota_storage_used_bytes",
            "Storage used under the folder's quota root.",
            true,
        ),
        (
            "imapcheck_quota_storage_limit_bytes",
            "Storage limit of the folder's quota root.",
            false,
        ),
    ] {
        out.push(
            name,
            Some("bytes"),
            help,
            storage
                .iter()
                .map(|q| {
                    (
                        vec![root(&q.root)],
                        kib(if used { q.used } else { q.limit }),
                    )
                })
                .collect(),
        );
    }
    for (name, help, used) in [
        (
            "imapcheck_quota_used",
            "Usage of each quota resource other than STORAGE (MESSAGE: messages).",
            true,
        ),
        (
            "imapcheck_quota_limit",
            "Limit of each quota resource other than STORAGE.",
            false,
        ),
    ] {
        out.push(
            name,
            None,
            help,
            other
                .iter()
                .map(|q| {
                    let labels = vec![root(&q.root), label("resource", server_text(&q.resource))];
                    (labels, (if used { q.used } else { q.limit }).to_string())
                })
                .collect(),
        );
    }
}

/// ID fields as labels: names lower-cased and made valid (`os-version`
/// → `os_version`), the first of each name kept, NIL values and names
/// the common labels already use left out.
fn id_labels(pairs: &[(String, Option<String>)], taken: &[(String, String)]) -> Labels {
    let mut labels: Labels = Vec::new();
    for (key, value) in pairs {
        let Some(value) = value else { continue };
        let mut name: String = key
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '_',
            })
            .collect();
        // A name may not start with a digit, and `__` is Prometheus's own.
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, '_');
        }
        let taken_already = taken.iter().chain(&labels).any(|(k, _)| *k == name);
        if name.is_empty() || name.starts_with("__") || taken_already {
            continue;
        }
        labels.push((name, server_text(value)));
        if labels.len() == MAX_ID_LABELS {
            break;
        }
    }
    labels
}

type Labels = Vec<(String, String)>;

fn label(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

struct Families {
    base: Labels,
    list: Vec<Family>,
}

impl Families {
    /// Adds a family with its samples; one without samples is left out.
    fn push(
        &mut self,
        name: &'static str,
        unit: Option<&'static str>,
        help: &'static str,
        samples: Vec<(Labels, String)>,
    ) {
        let mut kept: Vec<Sample> = Vec::with_capacity(samples.len());
        for (labels, value) in samples {
            let mut all = self.base.clone();
            all.extend(labels);
            // A label set twice (a server naming one quota root twice, two
            // roots alike in their first 128 characters) would make the
            // whole text invalid for Prometheus: the first one stands.
            if !kept.iter().any(|k| k.labels == all) {
                kept.push(Sample { labels: all, value });
            }
        }
        let samples = kept;
        if !samples.is_empty() {
            self.list.push(Family {
                name,
                unit,
                help,
                samples,
            });
        }
    }
}

/// The exposition text, ending with `# EOF`.
fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        let _ = writeln!(out, "# TYPE {} gauge", f.name);
        if let Some(unit) = f.unit {
            let _ = writeln!(out, "# UNIT {} {unit}", f.name);
        }
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        for s in &f.samples {
            out.push_str(f.name);
            out.push('{');
            for (i, (k, v)) in s.labels.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{k}=\"{}\"", escape_label(v));
            }
            let _ = writeln!(out, "}} {}", s.value);
        }
    }
    out.push_str("# EOF");
    out
}

/// A label value as OpenMetrics writes it: `\`, `"` and line feed
/// escaped. Other control characters (and the bidi marks a terminal
/// would act on, see `escape.rs`) have no escape in the format and some
/// parsers stop at a carriage return, so they become U+FFFD.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c if super::is_unsafe(c) => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Text a server chose, cut to [`MAX_SERVER_LABEL`] characters.
fn server_text(s: &str) -> String {
    s.chars().take(MAX_SERVER_LABEL).collect()
}

fn seconds(d: std::time::Duration) -> String {
    format!("{:.6}", d.as_secs_f64())
}

fn bool_value(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::super::{QuotaReport, Renderer};
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
        assert_eq!(
            escape_label("x\ry\u{1b}z\u{7f}"),
            "x\u{fffd}y\u{fffd}z\u{fffd}"
        );
        assert_eq!(escape_label("Entwürfe"), "Entwürfe");
        assert_eq!(
            escape_label("a\u{9b}b\u{202e}c\u{2066}"),
            "a\u{fffd}b\u{fffd}c\u{fffd}"
        );
    }

    #[test]
    fn id_fields_become_valid_label_names() {
        let taken = vec![label("host", "h")];
        let pairs: Vec<(String, Option<String>)> = [
            ("name", Some("Dovecot")),
            ("OS-Version", Some("12")),
            ("vendor", None),
            ("host", Some("clash")),
            ("__x", Some("reserved")),
            ("9lives", Some("cat")),
            ("name", Some("second")),
            ("", Some("empty")),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
        assert_eq!(
            id_labels(&pairs, &taken),
            vec![
                label("name", "Dovecot"),
                label("os_version", "12"),
                label("_9lives", "cat")
            ]
        );
        let many: Vec<(String, Option<String>)> = (0..40)
            .map(|i| (format!("k{i}"), Some("x".repeat(500))))
            .collect();
        let labels = id_labels(&many, &taken);
        assert_eq!(labels.len(), MAX_ID_LABELS);
        assert!(
            labels
                .iter()
                .all(|(_, v)| v.chars().count() == MAX_SERVER_LABEL)
        );
    }

    #[test]
    fn a_label_set_twice_is_one_sample() {
        // A server naming one quota root twice must not make the text
        // invalid for Prometheus (a duplicate series).
        let mut r = sample();
        let row = |used| QuotaReport {
            root: "User quota".into(),
            resource: "STORAGE".into(),
            used,
            limit: 10,
        };
        r.quota = Some(vec![row(1), row(2)]);
        let text = OpenMetrics.end(&r);
        let used: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("imapcheck_quota_storage_used_bytes{"))
            .collect();
        assert_eq!(used.len(), 1, "{text}");
        assert!(used[0].ends_with("} 1024"), "the first one stands: {text}");
    }

    #[test]
    fn folder_and_given_labels_are_on_every_sample() {
        let mut r = sample();
        r.folder_label = Some("Sent".into());
        r.labels = vec![label("check", "a\"b"), label("team", "mail")];
        r.mailbox = Some(super::super::MailboxReport {
            name: "Sent".into(),
            exists: 3,
            ..Default::default()
        });
        r.server_id = Some(vec![("team".into(), Some("server's".into()))]);
        let text = OpenMetrics.end(&r);
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert!(samples.len() > 10, "{text}");
        for s in samples {
            assert!(
                s.contains(",folder=\"Sent\",check=\"a\\\"b\",team=\"mail\""),
                "{s}"
            );
            assert_eq!(s.matches("folder=").count(), 1, "{s}");
            assert_eq!(s.matches("team=").count(), 1, "ID does not override: {s}");
        }
    }

    #[test]
    fn every_label_name_set_here_is_built_in() {
        // --label refuses BUILT_IN_LABELS; a family with a label name not
        // in the list would let a --label clash with it.
        let mut r = sample();
        r.folder_label = Some("INBOX".into());
        r.mailbox = Some(super::super::MailboxReport {
            name: "INBOX".into(),
            exists: 1,
            ..Default::default()
        });
        r.tls = Some(super::super::TlsReport {
            name: "mail.example.org".into(),
            verified: true,
            subject: None,
            issuer: None,
            not_after: None,
            not_after_unix: Some(1),
            days_left: None,
            session: None,
        });
        r.quota = Some(vec![QuotaReport {
            root: "r".into(),
            resource: "MESSAGE".into(),
            used: 1,
            limit: 2,
        }]);
        r.round_trip = Some(super::super::RoundTripReport {
            delay_secs: Some(0.5),
            folder: Some("Junk".into()),
            ..Default::default()
        });
        let mut names: Vec<String> = families(&r, Some("192.0.2.1:993".into()))
            .iter()
            .flat_map(|f| f.samples.iter())
            .flat_map(|s| s.labels.iter().map(|(k, _)| k.clone()))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), BUILT_IN_LABELS.len(), "{names:?}");
        for name in names {
            assert!(BUILT_IN_LABELS.contains(&name.as_str()), "{name}");
        }
    }

    #[test]
    fn exposition_shape() {
        let mut r = sample();
        r.quota = Some(vec![QuotaReport {
            root: "".into(),
            resource: "STORAGE".into(),
            used: 1,
            limit: u64::MAX,
        }]);
        let text = OpenMetrics.end(&r);
        assert!(text.ends_with("\n# EOF"), "{text}");
        assert!(text.starts_with("# TYPE imapcheck_success gauge\n# HELP imapcheck_success "));
        assert!(text.contains(
            "\nimapcheck_step_duration_seconds{host=\"::1\",port=\"993\",security=\"tls\",step=\"connect\"} 0.001234\n"
        ));
        // Skipped steps have a status but no duration.
        assert!(text.contains("step=\"tls\",status=\"skipped\"} 1\n"));
        assert!(!text.contains(
            "step_duration_seconds{host=\"::1\",port=\"993\",security=\"tls\",step=\"tls\"}"
        ));
        assert!(text.contains("# UNIT imapcheck_duration_seconds seconds\n"));
        // KiB to bytes saturates instead of overflowing.
        assert!(
            text.contains(&format!("root=\"\"}} {}\n", u64::MAX)),
            "{text}"
        );
        // No mailbox, no TLS, no ID: those families are absent, not empty.
        for absent in [
            "imapcheck_mailbox_messages",
            "imapcheck_tls_",
            "imapcheck_server_info",
        ] {
            assert!(!text.contains(absent), "{absent}");
        }
    }
}
