// What IMAP proxies in front of a backend do to a check: up-imapproxy's
// connection cache answers a LOGIN without asking the backend.

use super::*;

/// The KB path where the login's answer is preceded by `before_ok`.
fn kb_with_login_prefix(before_ok: &str) -> Vec<Step> {
    script(vec![
        vec![
            Step::Send(GREETING.into()),
            Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
            Step::Send(format!("{before_ok}{}", kb_login_ok())),
        ],
        kb_after_login(),
    ])
}

const REUSED: &str = "* OK [XPROXYREUSE] IMAP connection reused by imapproxy\r\n";

#[test]
fn a_login_from_imapproxys_cache_warns_that_the_backend_was_not_asked() {
    let c = Case::tls(kb_with_login_prefix(REUSED)).json();
    c.exit(1);
    c.steps(TLS_STEPS, "ok ok ok ok warning ok ok skipped ok ok");
    c.detail_starts_with(
        "login",
        "the backend login was not tested: the proxy reused a cached connection",
    );
    c.detail_contains("login", "cache_expiration_time");
    c.detail_contains("login", "check the backend directly");
    c.detail_contains("login", "its own uncached path");
    assert_eq!(c.v["quirks"], serde_json::json!([]), "{}", c.ctx);
}

#[test]
fn the_same_login_without_the_reuse_code_is_ok() {
    // The control: only the response code makes the difference.
    let c = Case::tls(kb_with_login_prefix("* OK a proxy says hello\r\n")).json();
    c.exit(0);
    c.steps(TLS_STEPS, "ok ok ok ok ok ok ok skipped ok ok");
}

#[test]
fn in_cleartext_the_reuse_warning_comes_first_and_the_cleartext_one_stays() {
    let c = Case::cleartext(kb_with_login_prefix(REUSED)).json();
    c.exit(1);
    c.detail_starts_with("login", "the backend login was not tested");
    c.detail_contains("login", "credentials sent in cleartext (--security none)");
}
