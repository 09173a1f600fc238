//! A login that a proxy answered from its connection cache. up-imapproxy
//! keeps a backend session open after LOGOUT (`cache_expiration_time`, 300 s
//! by default) and hands it to the next LOGIN of the same user with the
//! same password, without asking the backend: a password changed or an
//! authentication service broken there stays hidden until the cache
//! expires. Its only trace is an untagged `OK [XPROXYREUSE]` before the
//! login's tagged OK, which turns the login step into a WARNING here.

/// The response code with which up-imapproxy announces a reused session.
const REUSE_CODE: &str = "XPROXYREUSE";

/// Whether a response code (its name, upper-cased by the parser) says that
/// the proxy reused a cached backend session for this login.
pub(super) fn is_reuse_code(name: &str) -> bool {
    name.eq_ignore_ascii_case(REUSE_CODE)
}

/// The login step's warning for a reused session: what was not tested,
/// why, and what to do about it.
pub(super) fn reuse_warning() -> String {
    "the backend login was not tested: the proxy reused a cached connection \
     ([XPROXYREUSE], up-imapproxy's cache_expiration_time keeps a logged-out \
     session for the same user and password); check the backend directly, \
     or give the monitoring user its own uncached path"
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_reuse_code_counts() {
        assert!(is_reuse_code("XPROXYREUSE"));
        assert!(is_reuse_code("xproxyreuse"));
        assert!(!is_reuse_code("XPROXY"));
        assert!(!is_reuse_code("REFERRAL"));
    }

    #[test]
    fn the_warning_names_cause_and_fix() {
        let w = reuse_warning();
        assert!(w.contains("cache_expiration_time"), "{w}");
        assert!(w.contains("check the backend directly"), "{w}");
        assert!(w.contains("uncached path"), "{w}");
    }
}
