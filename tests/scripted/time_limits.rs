// Dates, clocks and bounds against what a server or a dead resolver does
// (issue 18): an INTERNALDATE in an impossible year is a quirk, not an
// age, in the debug build whose arithmetic panics on overflow; the times
// a run reports are the times it took, name resolution included; the
// resolver's threads stay few however long DNS is dead; and the addresses
// `--all-addresses` leaves out are counted in every format.

use super::*;

/// The KB script with the FETCH answer dated `date`.
fn dated(date: &str) -> Vec<Step> {
    kb_script()
        .into_iter()
        .map(|s| match s {
            Step::Send(t) => Step::Send(t.replace(KB_INTERNALDATE, date)),
            other => other,
        })
        .collect()
}

#[test]
fn an_internaldate_in_an_impossible_year_is_no_age_and_not_ok() {
    for year in ["0", "10000", "3020249310414753600"] {
        let date = format!("17-Jul-{year} 02:44:25 -0700");
        let srv = ScriptedServer::start(Mode::Tls(Identity::Good), dated(&date));
        let port = srv.port();
        let args = with(user(tls_args(port)), &["--max-age", "1h,1d"]);
        let (r, v, log) = go_json(srv, &args, &PASS_ENV);
        let ctx = format!("INTERNALDATE {date:?}\n{}", dump(&r, &log));
        log.assert_ok();
        assert!(!r.stderr.contains("panicked"), "{ctx}");
        // Not OK: the age cannot be told, as for a date that cannot be read.
        assert_exit(&r, &v, 1, &ctx);
        let fetch = step(&v, "fetch");
        assert_eq!(fetch["status"], "warning", "{ctx}");
        let detail = fetch["detail"].as_str().unwrap_or("");
        assert!(
            detail.starts_with(&format!(
                "INTERNALDATE year {year} is outside 1970-9999: the message's age cannot be told"
            )),
            "{ctx}"
        );
        assert_eq!(v["message"]["age_s"], Value::Null, "{ctx}");
        assert_eq!(v["message"]["internal_date"], date, "{ctx}");
        let quirks = v["quirks"].as_array().expect("quirks");
        assert!(
            quirks.iter().any(|q| q["step"] == "fetch"
                && q["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("outside 1970-9999"))),
            "{ctx}"
        );
        assert_eq!(step(&v, "logout")["status"], "ok", "{ctx}");
    }
}
