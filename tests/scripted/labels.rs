// `--label name=value` and the `folder` label (issue 19): two checks of
// one host:port:security written to two textfiles must not give the same
// series, or node_exporter keeps one and drops the other without a word.
// Every text here is read by promtool and prometheus_client (Case's
// `openmetrics`), and every sample must carry the labels.

use super::*;
use std::collections::{BTreeMap, BTreeSet};

/// The KB check with `folder` opened instead of INBOX.
fn kb_in(folder: &str) -> Vec<Step> {
    script(vec![
        logged_in(),
        listed(kb_list_reply()),
        opened(&format!("EXAMINE {folder}"), kb_examine_reply()),
        fetched(3, kb_fetch_reply()),
        logout_steps(),
    ])
}

/// Every series of a text: its name and all its labels but the port,
/// which differs only because each case has a server of its own; in the
/// field both checks go to one host:port.
fn series(m: &Metrics) -> BTreeSet<(String, BTreeMap<String, String>)> {
    m.samples
        .iter()
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.remove("port");
            (s.name.clone(), labels)
        })
        .collect()
}

#[test]
fn every_sample_carries_the_given_labels_and_the_folder() {
    let odd = "Mail \"Ops\" C:\\x\nÄ";
    let (ran, m) = Case::tls(kb_in("Sent"))
        .args(&[
            "--folder",
            "Sent",
            "--label",
            "check=sent",
            "--label",
            &format!("team={odd}"),
        ])
        .openmetrics();
    ran.status(0);
    assert!(m.samples.len() > 20, "{}", m.text);
    for s in &m.samples {
        for (k, v) in [("check", "sent"), ("team", odd), ("folder", "Sent")] {
            assert_eq!(
                s.labels.get(k).map(String::as_str),
                Some(v),
                "{} label {k}\n{}",
                s.name,
                m.text
            );
        }
    }
    assert_eq!(
        m.get("imapcheck_mailbox_messages", &[("folder", "Sent")]),
        3.0
    );
}

#[test]
fn a_check_without_login_has_no_folder_label() {
    let (ran, m) = Case::tls(script(vec![
        vec![Step::Send(GREETING.into())],
        logout_steps(),
    ]))
    .anonymous()
    .args(&["--label", "check=banner"])
    .openmetrics();
    ran.status(0);
    for s in &m.samples {
        assert!(!s.labels.contains_key("folder"), "{s:?}");
        assert_eq!(s.labels.get("check").map(String::as_str), Some("banner"));
    }
}

#[test]
fn two_checks_of_one_server_give_distinct_series() {
    let run = |script: Vec<Step>, args: &[&str]| Case::tls(script).args(args).openmetrics().1;
    // The clash the labels are for: the same server checked twice, as two
    // users would be, gives the same series.
    let a = run(kb_in("INBOX"), &[]);
    let b = run(kb_in("INBOX"), &[]);
    assert!(series(&a) == series(&b), "the same check, the same series");
    // Told apart by --label ...
    let a = run(kb_in("INBOX"), &["--label", "check=alice"]);
    let b = run(kb_in("INBOX"), &["--label", "check=bob"]);
    assert!(
        series(&a).is_disjoint(&series(&b)),
        "{}\n{}",
        a.text,
        b.text
    );
    // ... and two folders by the folder label alone.
    let inbox = run(kb_in("INBOX"), &[]);
    let sent = run(kb_in("Sent"), &["--folder", "Sent"]);
    assert!(
        series(&inbox).is_disjoint(&series(&sent)),
        "{}\n{}",
        inbox.text,
        sent.text
    );
}

#[test]
fn bad_labels_are_usage_errors() {
    for (label, says) in [
        ("host=x", "imapcheck sets the label host itself"),
        ("folder=x", "imapcheck sets the label folder itself"),
        ("__name__=x", "reserved for Prometheus"),
        ("9lives=x", "a label name is letters"),
        ("a-b=x", "a label name is letters"),
        ("check", "takes name=value"),
        ("check=", "the value is empty"),
    ] {
        let r = run(&["127.0.0.1", "--label", label], &[], None);
        assert_eq!(r.status, 3, "{label}: {r:?}");
        assert!(r.stderr.contains(says), "{label}: {}", r.stderr);
        assert_eq!(r.stdout, "", "{label}");
    }
    let r = run(
        &["127.0.0.1", "--label", "a=1", "--label", "a=2"],
        &[],
        None,
    );
    assert_eq!(r.status, 3, "{r:?}");
    assert!(
        r.stderr.contains("--label a is given twice"),
        "{}",
        r.stderr
    );
}
