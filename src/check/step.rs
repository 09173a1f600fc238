//! The steps of a check and the plan of one run: which steps a
//! configuration runs, in the contract's fixed order, and the name each
//! step has in every output format.

use crate::cli::{Config, Security};

/// One step of the check. The names (`as_str`) are part of the output
/// contract: scripts and monitoring read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The OAuth access token from `--oauth-token-url`, fetched on a
    /// thread of its own beside the steps up to login.
    Token,
    Connect,
    /// Implicit TLS (`--security tls`).
    Tls,
    Greeting,
    Capability,
    Starttls,
    Login,
    List,
    /// The folder opened read-only (the default).
    Examine,
    /// The folder opened read-write (`--select`).
    Select,
    Quota,
    /// `--search`: the matches, of which the newest is fetched.
    Search,
    Fetch,
    /// The round trip's message sent by SMTP (`--send-via`).
    Send,
    /// The round trip's message waited for, and removed again.
    Arrive,
    Logout,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Token => "token",
            Step::Connect => "connect",
            Step::Tls => "tls",
            Step::Greeting => "greeting",
            Step::Capability => "capability",
            Step::Starttls => "starttls",
            Step::Login => "login",
            Step::List => "list",
            Step::Examine => "examine",
            Step::Select => "select",
            Step::Quota => "quota",
            Step::Search => "search",
            Step::Fetch => "fetch",
            Step::Send => "send",
            Step::Arrive => "arrive",
            Step::Logout => "logout",
        }
    }
}

/// The steps of a run with `cfg`, in the fixed order. Every step is
/// reported, also when it is skipped.
pub fn plan(cfg: &Config) -> Vec<Step> {
    let mut steps = Vec::with_capacity(13);
    if cfg.oauth.is_some() {
        steps.push(Step::Token);
    }
    steps.push(Step::Connect);
    if cfg.security == Security::Tls {
        steps.push(Step::Tls);
    }
    steps.extend([Step::Greeting, Step::Capability]);
    if cfg.security == Security::Starttls {
        steps.push(Step::Starttls);
    }
    steps.extend([
        Step::Login,
        Step::List,
        // A round trip removes its message: read-write.
        if cfg.select || cfg.round_trip.is_some() {
            Step::Select
        } else {
            Step::Examine
        },
        Step::Quota,
    ]);
    if cfg.search.is_some() {
        steps.push(Step::Search);
    }
    steps.push(Step::Fetch);
    if cfg.round_trip.is_some() {
        steps.extend([Step::Send, Step::Arrive]);
    }
    steps.push(Step::Logout);
    steps
}

/// The step whose TLS a `--ca-file` is for: where a run that cannot load
/// it reports the problem.
pub fn tls_step(security: Security) -> Step {
    match security {
        Security::Starttls => Step::Starttls,
        Security::Tls => Step::Tls,
        Security::None => Step::Connect,
    }
}
