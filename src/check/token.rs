//! The token step: the OAuth access token fetched from the token endpoint
//! (`--oauth-token-url`), on a thread of its own that starts with the
//! check, so that the HTTPS request runs beside DNS, connect, TLS and the
//! greeting instead of before them. It is first in the plan; its result is
//! reported as soon as a step boundary finds it finished, and the login
//! step waits for it. Its time is the thread's, from start to answer.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cli::Config;
use crate::oauth::token::{self, Rotation, Token};
use crate::oauth::{OAuthConfig, OAuthSecrets};
use crate::password::Secret;
use crate::report::Failure;
use crate::transcript::Transcript;
use crate::transport::{Deadline, TlsSettings};

use super::token_diagnosis;
use super::{Check, Done, Event, Step, StepOutcome};

/// What the token thread ends with, and how long it took.
pub(super) type TokenJob = JoinHandle<(Result<(Secret, Done), Failure>, Duration)>;

/// Starts the token request of `cfg`, when it has one. `tls` is the
/// check's trust: the same CAs (`--ca-file` too), but always verified,
/// even with `--insecure`: the request carries the client's secrets.
pub(super) fn start(
    cfg: &Config,
    secrets: Option<OAuthSecrets>,
    tls: &TlsSettings,
    deadline: Deadline,
    transcript: Transcript,
) -> Option<TokenJob> {
    let oauth = cfg.oauth.clone()?;
    let secrets = secrets.unwrap_or_default();
    let settings = TlsSettings {
        insecure: false,
        ..tls.clone()
    };
    let started = Instant::now();
    Some(std::thread::spawn(move || {
        let outcome = fetch(&oauth, &secrets, &settings, deadline, transcript);
        (outcome, started.elapsed())
    }))
}

fn fetch(
    cfg: &OAuthConfig,
    secrets: &OAuthSecrets,
    settings: &TlsSettings,
    deadline: Deadline,
    transcript: Transcript,
) -> Result<(Secret, Done), Failure> {
    let connector = settings
        .connector()
        .map_err(|e| token_diagnosis::failure_of(&token::TokenError::Setup(e.to_string()), cfg))?;
    let token = token::fetch(cfg, secrets, &connector, deadline, transcript)
        .map_err(|e| token_diagnosis::failure_of(&e, cfg))?;
    let done = describe(cfg, &token)?;
    Ok((token.access_token, done))
}

/// The step's detail, and its warnings: a new refresh token that could
/// not be saved, a token that is not a Bearer token.
fn describe(cfg: &OAuthConfig, token: &Token) -> StepOutcome {
    let mut detail = format!(
        "{} grant at {}",
        cfg.grant().as_str(),
        cfg.url.host_header()
    );
    let kind = token.token_type.as_deref().unwrap_or("no token_type");
    detail.push_str(&format!(": {kind} token"));
    if let Some(secs) = token.expires_in {
        detail.push_str(&format!(", expires in {secs} s"));
    }
    let mut warnings = Vec::new();
    if !kind.eq_ignore_ascii_case("bearer") {
        warnings.push(format!(
            "the token_type is {kind}, not Bearer: XOAUTH2 and OAUTHBEARER send it as a Bearer token"
        ));
    }
    match &token.rotation {
        Rotation::None => {}
        Rotation::Same => detail.push_str("; the refresh token is unchanged"),
        Rotation::Saved(path) => detail.push_str(&format!(
            "; the endpoint rotated the refresh token: {} replaced",
            path.display()
        )),
        Rotation::NotSaved { path, error } => warnings.push(format!(
            "the endpoint rotated the refresh token but it was not saved to {} ({error}): the file still holds the old token, which the provider may revoke",
            path.display()
        )),
    }
    Done::ok_or_warn(warnings, detail)
}

impl Check<'_> {
    /// Reports the token step once its thread has finished (or, with
    /// `wait`, when it has), into its place in the report; the access
    /// token becomes the secret the login step sends.
    pub(super) fn collect_token(&mut self, wait: bool) {
        let Some(job) = self.token_job.take_if(|job| wait || job.is_finished()) else {
            return;
        };
        let (outcome, elapsed) = job.join().unwrap_or_else(|_| {
            let failure = token_diagnosis::thread_failed();
            (Err(failure), Duration::ZERO)
        });
        let outcome = outcome.map(|(secret, done)| {
            self.credentials.password = Some(secret);
            done
        });
        let mut failed = None;
        let result = self.step_result(Step::Token, outcome, elapsed, &mut failed);
        self.token_failed = failed.is_some();
        if let Some(slot) = self.report.steps.iter_mut().find(|s| s.name == "token") {
            *slot = result.clone();
        }
        (self.on_event)(Event::Step(&result));
    }
}
