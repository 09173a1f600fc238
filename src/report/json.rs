//! `--format json`: the whole report as one JSON object on one line, the
//! same fields in every run (null or empty where a step did not get that
//! far). The field names are a contract, documented in the man page.

use crate::cli::Security;
use crate::json::{Json, ObjBuilder};

use super::{
    MailboxReport, MessageReport, Quirk, QuotaReport, Renderer, Repeated, Report, Round,
    SearchReport, Series, StepResult, StepStats, TlsReport, TlsSession, Verdict, ms,
};

pub struct JsonObject;

impl Renderer for JsonObject {
    fn end(&self, report: &Report) -> String {
        report_object(report).render()
    }

    fn round(&self, round: &Round) -> String {
        round_object(round).render()
    }

    /// `runs` (each as a check's or a round's object) and `stats`: per
    /// step (and `total`), or with `--all-addresses` per address.
    fn repeated(&self, rep: &Repeated) -> String {
        let series = rep.series();
        let stats = match series.as_slice() {
            [one] if one.address.is_none() => series_object(one),
            _ => Json::Obj(
                series
                    .iter()
                    .map(|s| (s.address.clone().unwrap_or_default(), series_object(s)))
                    .collect(),
            ),
        };
        head(
            rep.verdict(),
            &rep.host,
            rep.port,
            rep.security,
            rep.elapsed,
        )
        .field("asked", Json::Int(rep.asked.into()))
        .field("interrupted", Json::Bool(rep.interrupted))
        .field(
            "runs",
            Json::Arr(rep.rounds.iter().map(round_object).collect()),
        )
        .field("stats", stats)
        .build()
        .render()
    }
}

/// A plain check's object, or with `--all-addresses` the round's: the
/// overall verdict and each address's object in `addresses`.
fn round_object(round: &Round) -> Json {
    match (round.all_addresses, round.reports.as_slice()) {
        (false, [one]) => report_object(one),
        _ => {
            let (host, port, security) = (&round.host, round.port, round.security);
            head(round.verdict(), host, port, security, round.elapsed)
                .field(
                    "addresses",
                    Json::Arr(round.reports.iter().map(report_object).collect()),
                )
                .field("addresses_left_out", int(round.left_out as u64))
                .field("certificates", address_certificates(round))
                .build()
        }
    }
}

/// `--all-addresses`: each address's leaf (SHA-256, notAfter), and
/// whether they differ.
fn address_certificates(round: &Round) -> Json {
    let per = super::certificates::per_address(&round.reports);
    let list = per.iter().map(|c| {
        Json::obj()
            .field("address", Json::str(c.address.as_str()))
            .field("leaf_sha256", Json::str(c.sha256.as_str()))
            .field("not_after", opt_str(&c.not_after))
            .build()
    });
    Json::obj()
        .field(
            "differ",
            Json::opt(round.certificate_differences(), Json::Str),
        )
        .field("leaves", Json::Arr(list.collect()))
        .build()
}

/// The fields a round's and a repetition's objects open with, as a
/// single check's do (which has `address` before `elapsed_ms`).
fn head(
    v: Verdict,
    host: &str,
    port: u16,
    security: Security,
    elapsed: std::time::Duration,
) -> ObjBuilder {
    Json::obj()
        .field("status", Json::str(v.as_str()))
        .field("exit_code", Json::Int(v.exit_code().into()))
        .field("host", Json::str(host))
        .field("port", Json::Int(port.into()))
        .field("security", Json::str(security.as_str()))
        .field("elapsed_ms", Json::Float(ms(elapsed)))
}

fn series_object(series: &Series) -> Json {
    let one = |s: &StepStats| {
        let t = |d| Json::opt((s.runs > 0).then_some(d), |d| Json::Float(ms(d)));
        Json::obj()
            .field("runs", int(s.runs as u64))
            .field("failed", int(s.failed as u64))
            .field("min_ms", t(s.min))
            .field("median_ms", t(s.median))
            .field("max_ms", t(s.max))
            .build()
    };
    Json::Obj(
        series
            .steps
            .iter()
            .chain([&series.total])
            .map(|s| (s.name.to_string(), one(s)))
            .collect(),
    )
}

/// The round trip (`--send-via`): the delay, where it arrived, what the
/// cleanup removed.
fn round_trip(rt: &crate::report::RoundTripReport) -> Json {
    Json::obj()
        .field("arrival_s", Json::opt(rt.delay_secs, Json::Float))
        .field("folder", opt_str(&rt.folder))
        .field("junk", Json::Bool(rt.junk))
        .field(
            "removed_uids",
            Json::Arr(rt.removed.iter().map(|&u| int(u64::from(u))).collect()),
        )
        .field("arrival_warn_s", Json::opt(rt.warn_secs, Json::Float))
        .field("arrival_crit_s", Json::opt(rt.crit_secs, Json::Float))
        .build()
}

fn report_object(report: &Report) -> Json {
    let v = report.verdict();
    Json::obj()
        .field("status", Json::str(v.as_str()))
        .field("exit_code", Json::Int(v.exit_code().into()))
        .field("host", Json::str(report.host.as_str()))
        .field("port", Json::Int(report.port.into()))
        .field("security", Json::str(report.security.as_str()))
        .field(
            "address",
            Json::opt(report.address, |a| Json::str(a.to_string())),
        )
        .field("elapsed_ms", Json::Float(ms(report.elapsed)))
        .field("steps", Json::Arr(report.steps.iter().map(step).collect()))
        .field("greeting", opt_str(&report.greeting))
        .field("capabilities", strings(&report.capabilities))
        .field("tls", Json::opt(report.tls.as_ref(), tls))
        .field("folders", strings(&report.folders))
        .field("folder_count", int(report.folder_count as u64))
        .field("mailbox", Json::opt(report.mailbox.as_ref(), mailbox))
        .field("message", Json::opt(report.message.as_ref(), message))
        .field("search", Json::opt(report.search.as_ref(), search))
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
                Json::Arr(rows.iter().map(quota).collect())
            }),
        )
        .field(
            "quirks",
            Json::Arr(report.quirks.iter().map(quirk).collect()),
        )
        .field(
            "round_trip",
            Json::opt(report.round_trip.as_ref(), round_trip),
        )
        .field(
            "error",
            Json::opt(report.error.as_ref(), |(step, f)| {
                Json::obj()
                    .field("step", Json::str(*step))
                    .field("message", Json::str(f.message.as_str()))
                    .field("expected", Json::str(f.expected.as_str()))
                    .field("got", opt_str(&f.got))
                    .field("hint", Json::str(f.hint.as_str()))
                    .build()
            }),
        )
        .build()
}

fn step(s: &StepResult) -> Json {
    Json::obj()
        .field("step", Json::str(s.name))
        .field("status", Json::str(s.status.as_str()))
        .field("elapsed_ms", Json::Float(ms(s.elapsed)))
        .field("detail", Json::str(s.detail.as_str()))
        .build()
}

fn tls(t: &TlsReport) -> Json {
    Json::obj()
        .field("name", Json::str(t.name.as_str()))
        .field("verified", Json::Bool(t.verified))
        .field("subject", opt_str(&t.subject))
        .field("issuer", opt_str(&t.issuer))
        .field("not_after", opt_str(&t.not_after))
        .field("days_left", Json::opt(t.days_left, Json::Int))
        .field("session", Json::opt(t.session.as_ref(), tls_session))
        .build()
}

/// What the handshake negotiated and the chain as sent (see the man page).
fn tls_session(s: &TlsSession) -> Json {
    let chain = s.chain.iter().map(|(subject, issuer)| {
        Json::obj()
            .field("subject", Json::str(subject.as_str()))
            .field("issuer", Json::str(issuer.as_str()))
            .build()
    });
    Json::obj()
        .field("version", Json::str(s.version.as_str()))
        .field("cipher", Json::str(s.cipher.as_str()))
        .field("group", opt_str(&s.group))
        .field("hello_retry", Json::Bool(s.hello_retry))
        .field("chain", Json::Arr(chain.collect()))
        .field("chain_complete", Json::opt(s.chain_complete, Json::Bool))
        .field("leaf_sha256", opt_str(&s.leaf_sha256))
        .build()
}

fn mailbox(m: &MailboxReport) -> Json {
    let number = |n: Option<u32>| Json::opt(n, |n| Json::Int(n.into()));
    Json::obj()
        .field("name", Json::str(m.name.as_str()))
        .field("exists", Json::Int(m.exists.into()))
        .field("recent", Json::Int(m.recent.into()))
        .field("unseen", number(m.unseen))
        .field("uidvalidity", number(m.uidvalidity))
        .field("uidnext", number(m.uidnext))
        .field("flags", strings(&m.flags))
        .field("permanent_flags", strings(&m.permanent_flags))
        .field("read_only", Json::Bool(m.read_only))
        .build()
}

fn message(m: &MessageReport) -> Json {
    Json::obj()
        .field("seq", Json::Int(m.seq.into()))
        .field("size", int(m.size))
        .field("flags", strings(&m.flags))
        .field("internal_date", opt_str(&m.internal_date))
        .field("age_s", Json::opt(m.age_s, |a| Json::Int(a as i64)))
        .field("subject", opt_str(&m.subject))
        .field("subject_raw", opt_str(&m.subject_raw))
        .field("from", opt_str(&m.from))
        .field("from_raw", opt_str(&m.from_raw))
        .field("undecoded_charsets", strings(&m.undecoded_charsets))
        .field("body_bytes", Json::opt(m.body_bytes, int))
        .build()
}

fn search(s: &SearchReport) -> Json {
    Json::obj()
        .field("keys", Json::str(s.keys.as_str()))
        .field("within_s", Json::opt(s.within_s, int))
        .field("matches", int(s.matches))
        .field("matches_at_least", Json::Bool(s.at_least))
        .field("newest", Json::opt(s.newest, |n| Json::Int(n.into())))
        .field("method", Json::str(s.method))
        .build()
}

fn quota(q: &QuotaReport) -> Json {
    Json::obj()
        .field("root", Json::str(q.root.as_str()))
        .field("resource", Json::str(q.resource.as_str()))
        .field("used", int(q.used))
        .field("limit", int(q.limit))
        .build()
}

fn quirk(q: &Quirk) -> Json {
    Json::obj()
        .field("step", Json::str(q.step))
        .field("response", Json::str(q.response.as_str()))
        .field("reason", Json::str(q.reason.as_str()))
        .build()
}

/// A count or size; JSON integers stop at i64::MAX.
fn int(n: u64) -> Json {
    Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn strings(v: &[String]) -> Json {
    Json::Arr(v.iter().map(|s| Json::str(s.as_str())).collect())
}

fn opt_str(v: &Option<String>) -> Json {
    Json::opt(v.as_deref(), Json::str)
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn json_has_the_contract_fields() {
        let r = sample();
        let v: serde_json::Value = serde_json::from_str(&JsonObject.end(&r)).expect("valid JSON");
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
}
