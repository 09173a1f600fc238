//! The check: the KB's manual steps as an explicit sequence of phases.
//!
//! connect → tls → greeting → capability → starttls → login → list →
//! examine/select → fetch → logout. Each step runs against the session,
//! checks every response against what that phase allows, and ends as ok,
//! warning, failed or skipped with its time and a detail line. After a
//! failure the later steps are skipped, but LOGOUT is still sent when the
//! connection can carry it. Nothing here writes to a mailbox: EXAMINE by
//! default, BODY.PEEK for bodies, no STORE/EXPUNGE/CREATE/DELETE at all.

use std::time::Instant;

use crate::cli::{AuthMethod, Config, Secret, Security};
use crate::parser::{self, Code, Status, Untagged, Value};
use crate::report::{
    Failure, MailboxReport, MessageReport, Quirk, QuotaReport, Report, StepResult, StepStatus,
    TlsReport, escape_cut,
};
use crate::session::{Arg, Completion, Session, SessionError, Transcript};
use crate::transport::{
    ConnectError, Deadline, PreparedTls, TlsError, TlsSettings, Transport, describe_io, resolve,
};
use crate::{der, mutf7, rfc2047, sasl};

/// Folder names kept for the report. LIST keeps being counted beyond this,
/// but a server (or a hostile one) with millions of folders must not make
/// the checker's memory grow without bound.
const MAX_FOLDERS_KEPT: usize = 100_000;

/// Bytes of folder names kept, all together. A name may legally be a
/// literal of up to 1 MiB; 100,000 of those must not become 100 GB. Real
/// names average 10 to 40 bytes, so this keeps every name of accounts with
/// 100,000 folders; the report (text or JSON) holds about three copies.
const MAX_FOLDER_BYTES: usize = 4 * 1024 * 1024;

/// FETCH items the check reads; anything else a server volunteers for the
/// message (unsolicited or hostile, under ever new names) is not kept.
const FETCH_ITEMS_KEPT: [&str; 5] = ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY[]"];

/// ALERT texts kept; RFC 3501 says each MUST be shown, but a server that
/// sends thousands is broken and the first ones say it all.
const MAX_ALERTS: usize = 20;

/// QUOTA responses kept: a mailbox has one or two quota roots in practice.
const MAX_QUOTA_ROOTS: usize = 16;

/// Responses not understood that the report keeps. A server that sends a
/// stream of them is broken in a way the first few already show; more
/// would only grow the report.
const MAX_QUIRKS: usize = 20;

/// How much of a response not understood goes into the report.
const QUIRK_CUT: usize = 200;

/// How much server text goes into a detail or an error message.
const TEXT_CUT: usize = 300;

/// A `--body` literal may exceed RFC822.SIZE by this much before it is a
/// protocol error rather than just a size mismatch (which `fetch` reports).
const BODY_SLACK: u64 = 64 * 1024;

/// Something that happened during the run, for live output.
pub enum Event<'a> {
    Step(&'a StepResult),
    Alert(&'a str),
}

/// What a step function returns when it did not fail.
struct Done {
    status: StepStatus,
    detail: String,
    /// For a warning: the reason alone, for the one-line summaries.
    reason: Option<String>,
}

impl Done {
    fn ok(detail: impl Into<String>) -> Result<Done, Failure> {
        Ok(Done {
            status: StepStatus::Ok,
            detail: detail.into(),
            reason: None,
        })
    }
    /// A warning: `reason` leads the detail line and alone goes into the
    /// summary; `info` is the rest of the detail.
    fn warn(reason: impl Into<String>, info: impl Into<String>) -> Result<Done, Failure> {
        let reason = reason.into();
        let info = info.into();
        let detail = if info.is_empty() {
            reason.clone()
        } else {
            format!("{reason}; {info}")
        };
        Ok(Done {
            status: StepStatus::Warning,
            detail,
            reason: Some(reason),
        })
    }
    fn skip(detail: impl Into<String>) -> Result<Done, Failure> {
        Ok(Done {
            status: StepStatus::Skipped,
            detail: detail.into(),
            reason: None,
        })
    }
}

fn failure(
    message: impl Into<String>,
    expected: impl Into<String>,
    got: Option<&[u8]>,
    hint: impl Into<String>,
) -> Failure {
    Failure {
        message: message.into(),
        expected: expected.into(),
        got: got.map(|g| escape_cut(trim_eol(g), TEXT_CUT)),
        hint: hint.into(),
    }
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// The step names for a configuration, in the fixed order.
pub fn step_names(cfg: &Config) -> Vec<&'static str> {
    let mut names = vec!["connect"];
    if cfg.security == Security::Tls {
        names.push("tls");
    }
    names.extend(["greeting", "capability"]);
    if cfg.security == Security::Starttls {
        names.push("starttls");
    }
    names.extend([
        "login",
        "list",
        if cfg.select { "select" } else { "examine" },
        "quota",
        "fetch",
        "logout",
    ]);
    names
}

/// What the untagged responses have told us so far.
#[derive(Default)]
struct Seen {
    capabilities: Vec<String>,
    /// A CAPABILITY arrived since the last reset.
    capabilities_fresh: bool,
    /// Data before TLS under --security starttls is not trusted.
    trusted: bool,
    alerts: Vec<String>,
    new_alerts: Vec<String>,
    referrals: Vec<String>,
    bye: Option<Vec<u8>>,
    folders: Vec<String>,
    folder_count: usize,
    /// Bytes of the names in `folders` (see MAX_FOLDER_BYTES).
    folder_bytes: usize,
    mailbox: MailboxReport,
    fetch_seq: Option<u32>,
    fetched: Vec<(String, Value)>,
    /// The server's RFC 2971 ID answer (empty for `ID NIL`).
    server_id: Option<parser::IdFields>,
    quotas: Vec<(Vec<u8>, Vec<parser::QuotaResource>)>,
    /// Responses not understood since the last step ended: (response,
    /// reason), at most MAX_QUIRKS in a whole run.
    new_quirks: Vec<(String, String)>,
    quirks_kept: usize,
    /// Responses not understood in the current step, kept or not.
    quirks_in_step: usize,
}

impl Seen {
    fn absorb(&mut self, u: &Untagged, raw: &[u8]) {
        match u {
            Untagged::Capability(caps) => self.set_capabilities(caps),
            // Before the STARTTLS handshake anyone on the path can add
            // responses: keep only what decides whether to start TLS.
            Untagged::Condition {
                status: Status::Bye,
                text,
                ..
            } if !self.trusted => self.bye = Some(text.clone()),
            _ if !self.trusted => {}
            Untagged::Condition { status, code, text } => {
                if *status == Status::Bye {
                    self.bye = Some(text.clone());
                }
                if let Some(code) = code {
                    self.absorb_code(code, text);
                }
            }
            Untagged::List { name, .. } => {
                self.folder_count += 1;
                if self.folders.len() < MAX_FOLDERS_KEPT
                    && self.folder_bytes + name.len() <= MAX_FOLDER_BYTES
                {
                    self.folder_bytes += name.len();
                    self.folders.push(mutf7::decode_lossy(name));
                }
            }
            Untagged::Flags(flags) => self.mailbox.flags = flags.clone(),
            Untagged::Exists(n) => self.mailbox.exists = *n,
            Untagged::Recent(n) => self.mailbox.recent = *n,
            Untagged::Expunge(_) => self.mailbox.exists = self.mailbox.exists.saturating_sub(1),
            Untagged::Fetch { seq, items } => {
                if Some(*seq) == self.fetch_seq {
                    for (name, value) in items
                        .iter()
                        .filter(|(n, _)| FETCH_ITEMS_KEPT.contains(&n.as_str()))
                    {
                        // Later data for the same item replaces earlier.
                        self.fetched.retain(|(n, _)| n != name);
                        self.fetched.push((name.clone(), value.clone()));
                    }
                }
            }
            Untagged::Id(pairs) => self.server_id = Some(pairs.clone()),
            Untagged::Quota { root, resources } => {
                if self.quotas.len() < MAX_QUOTA_ROOTS {
                    self.quotas.push((root.clone(), resources.clone()));
                }
            }
            Untagged::Unparsed { why, .. } => {
                self.quirk(escape_cut(trim_eol(raw), QUIRK_CUT), why.to_string());
            }
            // The QUOTA responses name their roots; QUOTAROOT adds nothing.
            Untagged::QuotaRoot { .. } | Untagged::Other { .. } => {}
        }
    }

    /// A response that was complete but not understood: reported, ignored.
    fn quirk(&mut self, response: String, reason: String) {
        self.quirks_in_step += 1;
        if self.quirks_kept < MAX_QUIRKS {
            self.quirks_kept += 1;
            self.new_quirks.push((response, reason));
        }
    }

    fn absorb_code(&mut self, code: &Code, text: &[u8]) {
        match code {
            Code::Alert if self.trusted && self.alerts.len() < MAX_ALERTS => {
                let alert = escape_cut(text, TEXT_CUT);
                self.alerts.push(alert.clone());
                self.new_alerts.push(alert);
            }
            Code::Capability(caps) => self.set_capabilities(caps),
            Code::PermanentFlags(f) => self.mailbox.permanent_flags = f.clone(),
            Code::UidValidity(n) => self.mailbox.uidvalidity = Some(*n),
            Code::UidNext(n) => self.mailbox.uidnext = Some(*n),
            Code::Unseen(n) => self.mailbox.unseen = Some(*n),
            Code::Unparsed { name, data, why } if self.trusted => {
                let mut code = format!("[{name}");
                if !data.is_empty() {
                    code.push(' ');
                    code.push_str(&escape_cut(data, QUIRK_CUT));
                }
                code.push(']');
                self.quirk(code, format!("response code not understood: {why}"));
            }
            // Reported, never followed.
            Code::Other { name, data }
                if name == "REFERRAL" && self.trusted && self.referrals.len() < MAX_ALERTS =>
            {
                self.referrals.push(escape_cut(data, TEXT_CUT));
            }
            _ => {}
        }
    }

    fn set_capabilities(&mut self, caps: &[String]) {
        self.capabilities = caps.to_vec();
        self.capabilities_fresh = true;
    }

    fn has_cap(&self, cap: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(cap))
    }
}

/// The one run of a check.
pub struct Check<'a> {
    cfg: &'a Config,
    password: Option<Secret>,
    /// TLS settings not yet handed to the background builder.
    tls_settings: Option<TlsSettings>,
    tls: Option<PreparedTls>,
    on_event: &'a mut dyn FnMut(Event),
    transcript: Transcript,
    deadline: Deadline,
    session: Option<Session>,
    seen: Seen,
    report: Report,
    authenticated: bool,
    preauth: bool,
    /// The folder opened successfully.
    opened: bool,
    /// GETQUOTAROOT's completion when it was sent along with EXAMINE.
    quota_answer: Option<Result<Completion, SessionError>>,
    /// ID is still to be sent, with LIST (see `id_after_login`).
    id_with_list: bool,
}

impl<'a> Check<'a> {
    pub fn new(
        cfg: &'a Config,
        password: Option<Secret>,
        tls_settings: TlsSettings,
        on_event: &'a mut dyn FnMut(Event),
    ) -> Check<'a> {
        let (tls, tls_settings) = match cfg.security {
            Security::Tls => (Some(tls_settings.prepare()), None),
            Security::Starttls => (None, Some(tls_settings)),
            Security::None => (None, None),
        };
        let mut report = Report::new(&cfg.host, cfg.port, cfg.security.as_str(), &step_names(cfg));
        report.warn_secs = cfg.warning;
        report.crit_secs = cfg.critical;
        report.timeout_secs = cfg.timeout.as_secs_f64();
        Check {
            cfg,
            password,
            // Only a check that will use TLS builds a TLS context. Implicit
            // TLS needs it right after connect, so it starts now and overlaps
            // DNS and the TCP handshake; STARTTLS starts it once connected,
            // so its CPU work never delays the first packet.
            tls,
            tls_settings,
            on_event,
            transcript: Transcript {
                enabled: cfg.verbose,
            },
            deadline: Deadline::after(cfg.timeout),
            session: None,
            // Implicit TLS and cleartext-only checks trust what they get;
            // under STARTTLS, trust starts with the handshake.
            seen: Seen {
                trusted: cfg.security != Security::Starttls,
                ..Seen::default()
            },
            report,
            authenticated: false,
            preauth: false,
            opened: false,
            quota_answer: None,
            id_with_list: false,
        }
    }

    /// Runs every step and returns the report.
    pub fn run(mut self) -> Report {
        let started = Instant::now();
        let names = step_names(self.cfg);
        let mut failed: Option<&'static str> = None;
        for (i, &name) in names.iter().enumerate() {
            let t0 = Instant::now();
            let outcome = if let Some(first) = failed.filter(|_| name != "logout") {
                Done::skip(format!("{first} failed"))
            } else {
                self.step(name)
            };
            let elapsed = t0.elapsed();
            let result = match outcome {
                Ok(done) => StepResult {
                    name,
                    status: done.status,
                    elapsed,
                    detail: done.detail,
                    reason: done.reason,
                    failure: None,
                },
                Err(mut f) => {
                    if let Some(bye) = &self.seen.bye
                        && f.got.is_none()
                    {
                        f.got = Some(format!("* BYE {}", escape_cut(bye, TEXT_CUT)));
                        f.message.push_str(" (the server had said BYE)");
                    }
                    if self.report.error.is_none() {
                        self.report.error = Some((name, f.clone()));
                    }
                    // A full mailbox is a finding about the account, not
                    // a broken session: the message is still worth fetching.
                    // A quota answer that broke the connection stops the
                    // rest like any failure.
                    let broken = self.session.as_ref().is_none_or(|s| !s.usable());
                    if name != "quota" || broken {
                        failed = failed.or(Some(name));
                    }
                    StepResult {
                        name,
                        status: StepStatus::Failed,
                        elapsed,
                        detail: f.message.clone(),
                        reason: None,
                        failure: Some(f),
                    }
                }
            };
            let mut result = result;
            self.note_quirks(name, &mut result);
            for alert in std::mem::take(&mut self.seen.new_alerts) {
                (self.on_event)(Event::Alert(&alert));
            }
            if let Some(slot) = self.report.steps.get_mut(i) {
                *slot = result.clone();
            }
            (self.on_event)(Event::Step(&result));
        }
        if let Some(s) = self.session.as_mut() {
            s.close();
        }
        self.report.server_id = self.seen.server_id.as_ref().map(|pairs| {
            pairs
                .iter()
                .map(|(k, v)| {
                    (
                        escape_cut(k, TEXT_CUT),
                        v.as_ref().map(|v| escape_cut(v, TEXT_CUT)),
                    )
                })
                .collect()
        });
        // EXISTS/EXPUNGE that arrived after EXAMINE keep counting.
        if self.opened {
            self.report.mailbox = Some(self.seen.mailbox.clone());
        }
        self.report.elapsed = started.elapsed();
        self.report.capabilities = self.seen.capabilities.clone();
        self.report.alerts = std::mem::take(&mut self.seen.alerts);
        self.report.folders = std::mem::take(&mut self.seen.folders);
        self.report.folder_count = self.seen.folder_count;
        self.report
    }

    /// Moves the responses not understood during a step into the report,
    /// and says in the step's detail what was ignored.
    fn note_quirks(&mut self, step: &'static str, result: &mut StepResult) {
        let count = std::mem::take(&mut self.seen.quirks_in_step);
        let quirks = std::mem::take(&mut self.seen.new_quirks);
        if count == 0 {
            return;
        }
        let plural = if count == 1 { "" } else { "s" };
        match quirks.first() {
            Some((response, reason)) => result.detail.push_str(&format!(
                "; ignored {count} response{plural} not understood: {response} ({reason})"
            )),
            None => result.detail.push_str(&format!(
                "; ignored {count} response{plural} not understood"
            )),
        }
        for (response, reason) in quirks {
            self.report.quirks.push(Quirk {
                step,
                response,
                reason,
            });
        }
    }

    fn step(&mut self, name: &str) -> Result<Done, Failure> {
        match name {
            "connect" => self.connect(),
            "tls" => self.implicit_tls(),
            "greeting" => self.greeting(),
            "capability" => self.capability(),
            "starttls" => self.starttls(),
            "login" => self.login(),
            "list" => self.list(),
            "examine" | "select" => self.open_folder(),
            "quota" => self.quota(),
            "fetch" => self.fetch(),
            "logout" => self.logout(),
            _ => Done::skip("unknown step"),
        }
    }

    fn session(&mut self) -> Result<&mut Session, Failure> {
        self.session
            .as_mut()
            .ok_or_else(|| failure("no connection", "an open connection", None, ""))
    }

    fn connect(&mut self) -> Result<Done, Failure> {
        let cfg = self.cfg;
        let addrs = resolve(&cfg.host, cfg.port, cfg.family, self.deadline)
            .map_err(|e| connect_failure(&e, cfg))?;
        self.transcript.note(&format!(
            "{} resolves to {}",
            cfg.host,
            addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let transport =
            Transport::connect(&addrs, self.deadline).map_err(|e| connect_failure(&e, cfg))?;
        let peer = transport.peer;
        self.report.address = Some(peer);
        let tried = addrs.iter().position(|a| *a == peer).unwrap_or(0);
        self.transcript.note(&format!("connected to {peer}"));
        self.session = Some(Session::new(transport, self.transcript));
        if let Some(settings) = self.tls_settings.take() {
            self.tls = Some(settings.prepare());
        }
        let mut detail = peer.to_string();
        if tried > 0 {
            detail.push_str(&format!(
                " (after {tried} address{} that failed)",
                if tried == 1 { "" } else { "es" }
            ));
        }
        Done::ok(detail)
    }

    /// The TLS handshake (implicit, or after STARTTLS) and the certificate.
    fn handshake(&mut self, step: &str) -> Result<Done, Failure> {
        let host = self.cfg.host.clone();
        let prepared = self
            .tls
            .as_mut()
            .ok_or_else(|| failure("TLS is not configured", "a TLS context", None, ""))?;
        let (connector, setup_time) = prepared.get();
        if let Some(t) = setup_time {
            self.transcript.note(&format!(
                "TLS context with the CA store ready after {:.1} ms (built in the background)",
                t.as_secs_f64() * 1000.0
            ));
        }
        let connector = connector.map_err(|e| {
            failure(
                e,
                "a usable TLS library and CA store",
                None,
                "check the OpenSSL installation",
            )
        })?;
        let session = self
            .session
            .as_mut()
            .ok_or_else(|| failure("no connection", "an open connection", None, ""))?;
        if let Err(e) = session.transport_mut().start_tls(connector, &host) {
            session.mark_broken();
            return Err(tls_failure(&e, step, self.cfg));
        }
        self.transcript.note("TLS established");
        let der = session.transport().peer_certificate_der();
        let verified = !self.cfg.insecure;
        let mut tls = TlsReport {
            verified,
            subject: None,
            issuer: None,
            not_after: None,
            days_left: None,
        };
        // Unverified is said once, by the warning below.
        let mut detail: Vec<String> = Vec::new();
        if verified {
            detail.push("verified".into());
        }
        let mut warnings = Vec::new();
        if !verified {
            warnings.push("certificate not verified (--insecure)".to_string());
        }
        match der.as_deref().map(der::parse_certificate) {
            Some(Ok(info)) => {
                let days = der::days_left(info.not_after, der::now_unix());
                let not_after = der::format_rfc3339(info.not_after);
                detail.push(format!("subject {}", info.subject));
                detail.push(format!("issuer {}", info.issuer));
                detail.push(format!("expires {not_after} ({days} days)"));
                if days < 0 {
                    warnings.push(format!("certificate expired {} days ago", -days));
                } else if days < self.cfg.cert_warn_days {
                    warnings.push(format!("certificate expires in {days} days ({not_after})"));
                }
                tls.subject = Some(info.subject);
                tls.issuer = Some(info.issuer);
                tls.not_after = Some(not_after);
                tls.days_left = Some(days);
            }
            Some(Err(e)) => detail.push(format!("certificate not readable: {e}")),
            None => detail.push("no certificate received".into()),
        }
        self.report.tls = Some(tls);
        if warnings.is_empty() {
            Done::ok(detail.join("; "))
        } else {
            Done::warn(warnings.join("; "), detail.join("; "))
        }
    }

    fn implicit_tls(&mut self) -> Result<Done, Failure> {
        self.handshake("tls")
    }

    fn greeting(&mut self) -> Result<Done, Failure> {
        let security = self.cfg.security;
        let session = self.session()?;
        let (resp, raw) = match session.read_response() {
            Ok(r) => r,
            Err(e) => return Err(greeting_io_failure(&e, security)),
        };
        let text = escape_cut(trim_eol(&raw), TEXT_CUT);
        self.report.greeting = Some(text.clone());
        let result = match resp {
            parser::Response::Untagged(Untagged::Condition {
                status,
                code,
                text: words,
            }) => {
                if let Some(code) = &code {
                    self.seen.absorb_code(code, &words);
                }
                match status {
                    Status::Ok => Done::ok(text),
                    Status::Preauth => {
                        self.preauth = true;
                        self.authenticated = true;
                        Done::ok(text)
                    }
                    Status::Bye => Err(failure(
                        "the server refused the connection (BYE greeting)",
                        "an untagged OK or PREAUTH greeting",
                        Some(&raw),
                        "the server is refusing clients: too many connections, maintenance, or this address is blocked; the text says which",
                    )),
                    _ => Err(failure(
                        "the greeting is not OK, PREAUTH or BYE",
                        "an untagged OK or PREAUTH greeting",
                        Some(&raw),
                        "this does not look like an IMAP server",
                    )),
                }
            }
            _ => Err(failure(
                "the greeting is not an untagged status",
                "\"* OK ...\"",
                Some(&raw),
                not_imap_hint(&raw, security),
            )),
        };
        if result.is_err() {
            // No LOGOUT to a server that refused us or is not IMAP.
            self.session()?.mark_broken();
        }
        result
    }

    fn run_command(&mut self, args: &[Arg]) -> Result<Completion, SessionError> {
        if !matches!(args.first(), Some(Arg::Raw("LOGOUT"))) {
            self.bye_guard()?;
        }
        let seen = &mut self.seen;
        let session = self.session.as_mut().ok_or(SessionError::Protocol {
            what: "no connection".into(),
            got: vec![],
        })?;
        let done = session.command(args, &mut |u, raw| seen.absorb(u, raw))?;
        if let Some(code) = &done.code {
            seen.absorb_code(code, &done.text);
        }
        Ok(done)
    }

    /// After an untagged BYE the server is closing: another command would
    /// only meet a closed connection.
    fn bye_guard(&self) -> Result<(), SessionError> {
        match &self.seen.bye {
            Some(bye) => {
                let mut got = b"* BYE ".to_vec();
                got.extend_from_slice(bye);
                Err(SessionError::Protocol {
                    what: "the server ended the session (untagged BYE)".into(),
                    got,
                })
            }
            None => Ok(()),
        }
    }

    /// Two independent commands in one write (see `Session::command_pair`).
    fn run_pair(
        &mut self,
        first: &[Arg],
        then: &[Arg],
    ) -> Result<(Completion, Result<Completion, SessionError>), SessionError> {
        self.bye_guard()?;
        let seen = &mut self.seen;
        let session = self.session.as_mut().ok_or(SessionError::Protocol {
            what: "no connection".into(),
            got: vec![],
        })?;
        let (done, second) =
            session.command_pair(first, then, &mut |u, raw| seen.absorb(u, raw))?;
        for c in [Some(&done), second.as_ref().ok()].into_iter().flatten() {
            if let Some(code) = &c.code {
                seen.absorb_code(code, &c.text);
            }
        }
        Ok((done, second))
    }

    fn capability(&mut self) -> Result<Done, Failure> {
        let from_greeting = self.seen.capabilities_fresh;
        if from_greeting {
            self.sync_literal_caps();
        } else {
            self.request_capabilities("capability")?;
        }
        let mut detail = self.seen.capabilities.join(" ");
        if from_greeting {
            detail = format!("from the greeting: {detail}");
        }
        let mut warnings = Vec::new();
        if !self.seen.has_cap("IMAP4rev1") && !self.seen.has_cap("IMAP4rev2") {
            warnings.push("neither IMAP4rev1 nor IMAP4rev2 announced".to_string());
        }
        let cleartext_auth = !self.seen.has_cap("LOGINDISABLED") || self.seen.has_cap("AUTH=PLAIN");
        match self.cfg.security {
            Security::None if cleartext_auth && !self.preauth => {
                let mut w =
                    "the server accepts credentials in cleartext on this port (no LOGINDISABLED)"
                        .to_string();
                if self.seen.has_cap("STARTTLS") {
                    w.push_str("; it offers STARTTLS: check with --security starttls");
                }
                warnings.push(w);
            }
            Security::Starttls if cleartext_auth && self.seen.has_cap("STARTTLS") => {
                // Information only: we never log in before TLS ourselves.
                self.transcript.note(
                    "the server offers authentication before TLS on this port (no LOGINDISABLED); clients without STARTTLS would send passwords in cleartext",
                );
            }
            _ => {}
        }
        if self.cfg.security != Security::Starttls
            && let Some(id) = self.send_id_without_login()
        {
            detail.push_str(&format!("; server ID: {id}"));
        }
        if warnings.is_empty() {
            Done::ok(detail)
        } else {
            Done::warn(warnings.join("; "), detail)
        }
    }

    /// Sends ID before the point where a login would be, when no login will
    /// be done (no --user, or PREAUTH): the server's identity is still worth
    /// reporting.
    fn send_id_without_login(&mut self) -> Option<String> {
        if self.cfg.user.is_some() && !self.preauth {
            return None;
        }
        self.send_id()
    }

    /// RFC 2971 ID: says who we are and reports who the server says it is.
    /// A refusal is not a failure of the check; nothing is reported then.
    fn send_id(&mut self) -> Option<String> {
        if !self.seen.has_cap("ID") {
            return None;
        }
        self.seen.server_id = None;
        let ours = id_arguments();
        let done = self.run_command(&[Arg::Raw("ID"), Arg::Raw(&ours)]);
        self.describe_id(done)
    }

    /// What the server said about itself, from ID's completion.
    fn describe_id(&self, done: Result<Completion, SessionError>) -> Option<String> {
        let done = done.ok()?;
        if done.status != Status::Ok {
            return Some(format!("ID refused ({})", escape_cut(&done.text, TEXT_CUT)));
        }
        let pairs = self.seen.server_id.as_ref()?;
        if pairs.is_empty() {
            return Some("the server answered ID NIL".to_string());
        }
        let get = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
                .and_then(|(_, v)| v.as_deref())
                .map(|v| escape_cut(v, 80))
        };
        let mut parts: Vec<String> = [get("name"), get("version")]
            .into_iter()
            .flatten()
            .collect();
        for key in ["vendor", "os", "os-version"] {
            if let Some(v) = get(key) {
                parts.push(format!("{key} {v}"));
            }
        }
        if parts.is_empty() {
            parts.push(format!("{} fields", pairs.len()));
        }
        Some(parts.join(" "))
    }

    /// After a successful login: the capabilities, when the login's answer
    /// did not carry them, and ID. Nothing is ever pipelined behind LOGIN or
    /// AUTHENTICATE: a server whose login process hands the connection to
    /// another process (Courier) loses what the client had already sent,
    /// and the check would wait out its deadline. ID rides with the next
    /// command instead, so it still costs no round trip of its own: with
    /// the CAPABILITY a login without capabilities needs (whether to send
    /// it is decided by what was announced before login), or else with
    /// LIST. Returns the server's ID when it came now.
    fn id_after_login(&mut self) -> Result<Option<String>, Failure> {
        if self.seen.capabilities_fresh {
            self.id_with_list = self.seen.has_cap("ID");
            return Ok(None);
        }
        if !self.seen.has_cap("ID") {
            self.request_capabilities("login")?;
            return Ok(None);
        }
        self.seen.capabilities_fresh = false;
        self.seen.server_id = None;
        let ours = id_arguments();
        let (done, id) = self
            .run_pair(
                &[Arg::Raw("CAPABILITY")],
                &[Arg::Raw("ID"), Arg::Raw(&ours)],
            )
            .map_err(|e| io_failure(&e, "login", "the CAPABILITY response"))?;
        self.check_capability_answer(&done)?;
        Ok(self.describe_id(id))
    }

    fn request_capabilities(&mut self, step: &str) -> Result<(), Failure> {
        self.seen.capabilities_fresh = false;
        let done = self
            .run_command(&[Arg::Raw("CAPABILITY")])
            .map_err(|e| io_failure(&e, step, "the CAPABILITY response"))?;
        self.check_capability_answer(&done)
    }

    /// CAPABILITY's completion must be OK and must have listed capabilities.
    fn check_capability_answer(&mut self, done: &Completion) -> Result<(), Failure> {
        if done.status != Status::Ok {
            return Err(failure(
                "the server refused CAPABILITY",
                "a tagged OK to CAPABILITY",
                Some(&done.raw),
                "every IMAP server must answer CAPABILITY; this is a broken server or not IMAP",
            ));
        }
        if !self.seen.capabilities_fresh {
            return Err(failure(
                "no capabilities listed",
                "an untagged CAPABILITY response",
                Some(&done.raw),
                "the server answered OK but listed no capabilities",
            ));
        }
        self.sync_literal_caps();
        Ok(())
    }

    fn sync_literal_caps(&mut self) {
        let plus = self.seen.has_cap("LITERAL+");
        let minus = self.seen.has_cap("LITERAL-");
        if let Some(s) = self.session.as_mut() {
            s.literal_plus = plus;
            s.literal_minus = minus;
        }
    }

    fn starttls(&mut self) -> Result<Done, Failure> {
        if self.preauth {
            return Err(failure(
                "PREAUTH greeting: the connection is already authenticated in cleartext, so STARTTLS can no longer be started (the CVE-2020-28896 downgrade)",
                "an OK greeting (not PREAUTH) before STARTTLS",
                self.report.greeting.as_deref().map(str::as_bytes),
                "a PREAUTH greeting on a STARTTLS port is a known downgrade attack (CVE-2020-28896); use --security tls on port 993 or fix the server",
            ));
        }
        if !self.seen.has_cap("STARTTLS") {
            return Err(failure(
                "the server does not offer STARTTLS",
                "STARTTLS in the capabilities",
                Some(self.seen.capabilities.join(" ").as_bytes()),
                "enable STARTTLS on the server, or use --security tls (port 993); imapcheck never falls back to cleartext (--security none checks cleartext on purpose)",
            ));
        }
        let done = self
            .run_command(&[Arg::Raw("STARTTLS")])
            .map_err(|e| io_failure(&e, "starttls", "a tagged OK to STARTTLS"))?;
        if done.status != Status::Ok {
            return Err(failure(
                "the server refused STARTTLS",
                "a tagged OK to STARTTLS",
                Some(&done.raw),
                "the server announced STARTTLS but refused it: check its TLS certificate and key configuration",
            ));
        }
        let leftover = self.session()?.unparsed().to_vec();
        if !leftover.is_empty() {
            self.session()?.mark_broken();
            return Err(failure(
                "data arrived after the STARTTLS OK, before the TLS handshake: a response-injection attempt (CVE-2011-0411 class)",
                "nothing until the TLS handshake",
                Some(&leftover),
                "something between you and the server (or the server itself) is injecting cleartext responses; do not trust this path",
            ));
        }
        let handshake = self.handshake("starttls")?;
        // RFC 9051 6.2.1: forget what was learned in cleartext and ask again.
        self.seen.capabilities.clear();
        self.seen.trusted = true;
        self.request_capabilities("starttls")?;
        let mut detail = format!(
            "{}; capabilities after TLS: {}",
            handshake.detail,
            self.seen.capabilities.join(" ")
        );
        if let Some(id) = self.send_id_without_login() {
            detail.push_str(&format!("; server ID: {id}"));
        }
        Ok(Done {
            status: handshake.status,
            detail,
            reason: handshake.reason,
        })
    }

    fn login(&mut self) -> Result<Done, Failure> {
        if self.preauth {
            return Done::skip("PREAUTH greeting: already authenticated");
        }
        let Some(user) = self.cfg.user.clone() else {
            return Done::skip("no --user given");
        };
        let secret = self.password.take().ok_or_else(|| {
            failure(
                "no password",
                "a password",
                None,
                "set IMAPCHECK_PASSWORD or use --password-file",
            )
        })?;
        let tls = self.session()?.transport().is_tls();
        let auth = self.cfg.auth;
        let method = match auth.mechanism() {
            Some(m) => format!("AUTHENTICATE {m}"),
            None => "LOGIN".to_string(),
        };
        self.check_mechanism_offered(auth, tls)?;
        // Only capabilities announced by the login itself count as fresh.
        self.seen.capabilities_fresh = false;
        let mut oauth_error = None;
        // LOGIN and AUTHENTICATE always go alone: see `id_after_login`.
        let done = match auth.mechanism() {
            None => self.run_command(&[
                Arg::Raw("LOGIN"),
                Arg::Str(user.as_bytes()),
                Arg::Secret(secret.expose()),
            ]),
            Some(mechanism) => {
                let initial = match auth {
                    AuthMethod::XOAuth2 => sasl::xoauth2(&user, secret.expose()),
                    AuthMethod::OAuthBearer => {
                        sasl::oauthbearer(&user, &self.cfg.host, self.cfg.port, secret.expose())
                    }
                    _ => sasl::plain(&user, secret.expose()),
                };
                let sasl_ir = self.seen.has_cap("SASL-IR");
                let oauth = matches!(auth, AuthMethod::XOAuth2 | AuthMethod::OAuthBearer);
                let seen = &mut self.seen;
                let session = self
                    .session
                    .as_mut()
                    .ok_or_else(|| failure("no connection", "an open connection", None, ""))?;
                // A challenge after the initial response is an OAuth server's
                // error report (JSON); PLAIN has no second round, so an
                // empty answer lets the server finish with its NO.
                let mut on_challenge = |challenge: &[u8]| {
                    if oauth {
                        oauth_error =
                            Some(sasl::parse_oauth_error(challenge).unwrap_or_else(|| {
                                sasl::OAuthError {
                                    status: Some(escape_cut(challenge, TEXT_CUT)),
                                    ..sasl::OAuthError::default()
                                }
                            }));
                    }
                    sasl::oauth_failure_ack(auth == AuthMethod::OAuthBearer)
                };
                let result = session.authenticate(
                    mechanism,
                    initial.expose(),
                    sasl_ir,
                    &mut on_challenge,
                    &mut |u, raw| seen.absorb(u, raw),
                );
                if let Ok(done) = &result
                    && let Some(code) = &done.code
                {
                    seen.absorb_code(code, &done.text);
                }
                result
            }
        };
        drop(secret);
        let done = done.map_err(|e| {
            let mut f = io_failure(&e, "login", &format!("a tagged response to {method}"));
            if e.timed_out() {
                f.hint = "servers hold back the answer to a wrong password on purpose (Courier for 5 s, Dovecot's auth_failure_delay 2 s): check the user name and password, and give -t more seconds to see the server's answer".to_string();
            }
            f
        })?;
        if done.status != Status::Ok {
            let mut f = login_failure(&done, &method, tls, &self.seen);
            if let Some(e) = &oauth_error {
                f.message
                    .push_str(&format!("; the OAuth server said: {}", e.describe()));
                f.hint = oauth_hint(e);
            }
            return Err(f);
        }
        self.authenticated = true;
        let id = self.id_after_login()?;
        self.sync_literal_caps();
        let mut detail = format!(
            "{user} via {method}; {} capabilities after login",
            self.seen.capabilities.len()
        );
        if let Some(id) = id {
            detail.push_str(&format!("; server ID: {id}"));
        }
        if !self.seen.referrals.is_empty() {
            detail.push_str(&format!(
                "; referral not followed: {}",
                self.seen.referrals.join(", ")
            ));
        }
        if !tls {
            return Done::warn("credentials sent in cleartext (--security none)", detail);
        }
        Done::ok(detail)
    }

    /// Refuses, before any secret is sent, a login the server has said it
    /// will not take: LOGIN under LOGINDISABLED, or an unadvertised SASL
    /// mechanism.
    fn check_mechanism_offered(&self, auth: AuthMethod, tls: bool) -> Result<(), Failure> {
        let caps = &self.seen;
        let offered: Vec<&str> = caps
            .capabilities
            .iter()
            .filter(|c| c.to_ascii_uppercase().starts_with("AUTH="))
            .map(String::as_str)
            .collect();
        let offered_text = if offered.is_empty() {
            "no AUTH= mechanisms".to_string()
        } else {
            offered.join(" ")
        };
        let oauth_offered = caps.has_cap("AUTH=XOAUTH2") || caps.has_cap("AUTH=OAUTHBEARER");
        match auth.mechanism() {
            None if caps.has_cap("LOGINDISABLED") => {
                let hint = if oauth_offered && !caps.has_cap("AUTH=PLAIN") {
                    "the server takes no passwords here but offers OAuth 2.0: use --auth xoauth2 (or oauthbearer) with an access token"
                } else {
                    "the server requires TLS before login: use --security starttls (port 143) or --security tls (port 993)"
                };
                Err(failure(
                    "the server forbids LOGIN on this connection (LOGINDISABLED); the password was not sent",
                    "a server that allows LOGIN here",
                    Some(caps.capabilities.join(" ").as_bytes()),
                    hint,
                ))
            }
            None => Ok(()),
            Some(m) if caps.has_cap(&format!("AUTH={m}")) => Ok(()),
            Some(m) => {
                let hint = if !tls && matches!(auth, AuthMethod::Plain) {
                    "many servers offer PLAIN only after TLS: use --security starttls or tls"
                        .to_string()
                } else if matches!(auth, AuthMethod::Plain) && oauth_offered {
                    "the server offers OAuth 2.0 only: use --auth xoauth2 (or oauthbearer) with an access token".to_string()
                } else {
                    format!(
                        "use one of the offered mechanisms ({offered_text}); --auth login uses the LOGIN command"
                    )
                };
                Err(failure(
                    format!(
                        "the server does not offer AUTHENTICATE {m} here; the secret was not sent"
                    ),
                    format!("AUTH={m} in the capabilities"),
                    Some(offered_text.as_bytes()),
                    hint,
                ))
            }
        }
    }

    fn list(&mut self) -> Result<Done, Failure> {
        if !self.authenticated {
            return Done::skip("not logged in");
        }
        let list = [Arg::Raw("LIST"), Arg::Raw("\"\""), Arg::Raw("\"*\"")];
        let mut id = None;
        let done = if std::mem::take(&mut self.id_with_list) {
            // See `id_after_login`: ID goes first, in the same write.
            self.seen.server_id = None;
            let ours = id_arguments();
            self.run_pair(&[Arg::Raw("ID"), Arg::Raw(&ours)], &list)
                .and_then(|(id_done, list_done)| {
                    id = Some(id_done);
                    list_done
                })
        } else {
            self.run_command(&list)
        }
        .map_err(|e| io_failure(&e, "list", "a tagged response to LIST"))?;
        let id = id.and_then(|answer| self.describe_id(Ok(answer)));
        if done.status != Status::Ok {
            return Err(failure(
                "the server refused LIST",
                "a tagged OK to LIST",
                Some(&done.raw),
                "the account may be broken on the server (home directory, mail storage permissions)",
            ));
        }
        let n = self.seen.folder_count;
        // A few names, each cut short: the detail is a line, not the list.
        let shown: Vec<String> = self
            .seen
            .folders
            .iter()
            .take(8)
            .map(|f| cut_text(f, 60))
            .collect();
        let more = if n > shown.len() { ", …" } else { "" };
        let mut detail = format!(
            "{n} folder{}: {}{more}",
            if n == 1 { "" } else { "s" },
            shown.join(", ")
        );
        if n > self.seen.folders.len() {
            detail.push_str(&format!(
                " (names beyond {} not kept)",
                self.seen.folders.len()
            ));
        }
        if let Some(id) = id {
            detail.push_str(&format!("; server ID: {id}"));
        }
        Done::ok(detail)
    }

    fn open_folder(&mut self) -> Result<Done, Failure> {
        if !self.authenticated {
            return Done::skip("not logged in");
        }
        let verb = if self.cfg.select { "SELECT" } else { "EXAMINE" };
        let wire_name = mutf7::encode(&self.cfg.folder);
        self.seen.mailbox = MailboxReport {
            name: self.cfg.folder.clone(),
            ..MailboxReport::default()
        };
        // GETQUOTAROOT needs no selected folder, so it rides with
        // EXAMINE/SELECT and the quota step costs no round trip of its own.
        let open = [Arg::Raw(verb), Arg::Str(wire_name.as_bytes())];
        let result = if self.seen.has_cap("QUOTA") {
            self.seen.quotas.clear();
            self.run_pair(
                &open,
                &[Arg::Raw("GETQUOTAROOT"), Arg::Str(wire_name.as_bytes())],
            )
            .map(|(done, quota)| {
                self.quota_answer = Some(quota);
                done
            })
        } else {
            self.run_command(&open)
        };
        let quota_paired = self.seen.has_cap("QUOTA");
        let done = result.map_err(|e| {
            let mut f = io_failure(&e, &verb.to_ascii_lowercase(), &format!("a tagged response to {verb}"));
            if quota_paired && matches!(e, SessionError::Io(_)) {
                // The server may have died computing the quota, taking the
                // folder's answer with it.
                f.hint = format!(
                    "GETQUOTAROOT went out together with {verb}: a server that fails while computing the quota (check its log, e.g. Dovecot running out of memory recalculating a maildir++ quota) drops both answers; {}",
                    f.hint
                );
            }
            f
        })?;
        if done.status != Status::Ok {
            let close = closest_names(&self.cfg.folder, &self.seen.folders);
            let hint = if close.is_empty() {
                "check the folder name (--folder, in UTF-8; case matters except for INBOX)"
                    .to_string()
            } else {
                format!("closest folder names from LIST: {}", close.join(", "))
            };
            return Err(failure(
                format!("the server refused to open folder \"{}\"", self.cfg.folder),
                format!("a tagged OK to {verb}"),
                Some(&done.raw),
                hint,
            ));
        }
        self.opened = true;
        let read_only = match &done.code {
            Some(Code::ReadOnly) => true,
            Some(Code::ReadWrite) => false,
            _ => !self.cfg.select,
        };
        self.seen.mailbox.read_only = read_only;
        let mb = &self.seen.mailbox;
        let mut detail = format!(
            "{}: {} message{}, {} recent",
            mb.name,
            mb.exists,
            if mb.exists == 1 { "" } else { "s" },
            mb.recent
        );
        if let Some(u) = mb.unseen {
            detail.push_str(&format!(", first unseen #{u}"));
        }
        if let Some(v) = mb.uidvalidity {
            detail.push_str(&format!(", UIDVALIDITY {v}"));
        }
        if let Some(n) = mb.uidnext {
            detail.push_str(&format!(", UIDNEXT {n}"));
        }
        detail.push_str(if read_only {
            ", read-only"
        } else {
            ", read-write"
        });
        self.report.mailbox = Some(mb.clone());
        Done::ok(detail)
    }

    /// RFC 9208 GETQUOTAROOT for the open folder: usage against limits.
    fn quota(&mut self) -> Result<Done, Failure> {
        if !self.opened {
            return Done::skip("no folder open");
        }
        if !self.seen.has_cap("QUOTA") {
            return Done::skip("the server does not announce QUOTA");
        }
        let answer = match self.quota_answer.take() {
            Some(answer) => answer,
            None => {
                self.seen.quotas.clear();
                let wire_name = mutf7::encode(&self.cfg.folder);
                self.run_command(&[Arg::Raw("GETQUOTAROOT"), Arg::Str(wire_name.as_bytes())])
            }
        };
        let done =
            answer.map_err(|e| io_failure(&e, "quota", "a tagged response to GETQUOTAROOT"))?;
        if done.status != Status::Ok {
            return Done::warn(
                format!(
                    "the server announces QUOTA but refused GETQUOTAROOT: {}",
                    escape_cut(trim_eol(&done.raw), TEXT_CUT)
                ),
                "",
            );
        }
        let mut rows = Vec::new();
        let mut parts = Vec::new();
        let mut worst: Option<(f64, String)> = None;
        for (root, resources) in &self.seen.quotas {
            let root = escape_cut(root, TEXT_CUT);
            for r in resources {
                let pct = if r.limit == 0 {
                    100.0
                } else {
                    r.usage as f64 * 100.0 / r.limit as f64
                };
                let unit = if r.name == "STORAGE" { " KiB" } else { "" };
                let text = format!("{} {} of {}{unit} ({pct:.1}%)", r.name, r.usage, r.limit);
                if worst.as_ref().is_none_or(|(w, _)| pct > *w) {
                    worst = Some((pct, format!("\"{root}\" {text}")));
                }
                parts.push(text);
                rows.push(QuotaReport {
                    root: root.clone(),
                    resource: r.name.clone(),
                    used: r.usage,
                    limit: r.limit,
                });
            }
        }
        self.report.quota = Some(rows);
        if parts.is_empty() {
            return Done::ok(format!("no limits reported for {}", self.cfg.folder));
        }
        let roots: Vec<String> = self
            .seen
            .quotas
            .iter()
            .map(|(r, _)| format!("\"{}\"", escape_cut(r, TEXT_CUT)))
            .collect();
        let detail = format!("{}: {}", roots.join(", "), parts.join(", "));
        let (pct, which) = worst.unwrap_or((0.0, String::new()));
        if pct >= f64::from(self.cfg.quota_crit) {
            return Err(failure(
                format!("mailbox quota at {pct:.1}%: {which}"),
                format!("usage below {}% of every quota limit", self.cfg.quota_crit),
                None,
                "a full mailbox rejects new mail: free space or raise the quota",
            ));
        }
        if pct >= f64::from(self.cfg.quota_warn) {
            return Done::warn(
                format!("quota at {pct:.1}% (warning at {}%)", self.cfg.quota_warn),
                detail,
            );
        }
        Done::ok(detail)
    }

    fn fetch(&mut self) -> Result<Done, Failure> {
        if self.cfg.no_fetch {
            return Done::skip("--no-fetch");
        }
        if !self.opened {
            return Done::skip("no folder open");
        }
        let exists = self.seen.mailbox.exists;
        if exists == 0 && self.cfg.message.is_none() {
            return Done::skip("the folder is empty");
        }
        let seq = self.cfg.message.unwrap_or(exists);
        if seq > exists {
            return Err(failure(
                format!("message {seq} does not exist: the folder has {exists}"),
                format!("a message number from 1 to {exists}"),
                None,
                "choose --message within the folder's size, or leave it out to fetch the newest",
            ));
        }
        self.seen.fetch_seq = Some(seq);
        self.seen.fetched.clear();
        let seq_s = seq.to_string();
        let done = self
            .run_command(&[
                Arg::Raw("FETCH"),
                Arg::Raw(&seq_s),
                Arg::Raw("(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"),
            ])
            .map_err(|e| io_failure(&e, "fetch", "a tagged response to FETCH"))?;
        if done.status != Status::Ok {
            return Err(failure(
                format!("the server refused to fetch message {seq}"),
                "a tagged OK to FETCH",
                Some(&done.raw),
                "the message may have been expunged meanwhile, or the mail store is damaged",
            ));
        }
        let get = |name: &str| {
            self.seen
                .fetched
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let Some(size) = get("RFC822.SIZE").and_then(|v| v.as_number()) else {
            return Err(failure(
                format!("no RFC822.SIZE for message {seq}"),
                format!("\"* {seq} FETCH (... RFC822.SIZE n ...)\""),
                Some(&done.raw),
                "the server answered OK without the requested data",
            ));
        };
        let flags: Vec<String> = get("FLAGS")
            .and_then(|v| {
                v.as_list().map(|l| {
                    l.iter()
                        .filter_map(|f| {
                            f.as_bytes()
                                .map(|b| String::from_utf8_lossy(b).into_owned())
                        })
                        .collect()
                })
            })
            .unwrap_or_default();
        // RFC 3501's date-day-fixed pads a one-digit day with a space
        // (Cyrus: " 3-Jan-2024 ..."); the padding is not part of the date.
        let internal_date = get("INTERNALDATE").and_then(|v| {
            v.as_bytes()
                .map(|b| String::from_utf8_lossy(b.trim_ascii()).into_owned())
        });
        let envelope = get("ENVELOPE").as_ref().and_then(parser::envelope);
        // Subjects and display names are shown decoded (RFC 2047) with the
        // raw form kept beside them; a broken encoding never fails the check.
        let mut undecoded: Vec<String> = Vec::new();
        let mut decode = |raw: &[u8]| {
            let d = rfc2047::decode(raw);
            for c in d.undecoded_charsets {
                if !undecoded.contains(&c) {
                    undecoded.push(c);
                }
            }
            cut_text(&d.text, TEXT_CUT)
        };
        let subject_raw = envelope.as_ref().and_then(|e| e.subject.as_deref());
        let subject = subject_raw.map(&mut decode);
        let first_from = envelope.as_ref().and_then(|e| e.from.first());
        let from = first_from.map(|a| {
            let name = a.name.as_deref().map(&mut decode);
            a.display_with_name(name.as_deref())
        });
        let mut message = MessageReport {
            seq,
            size,
            flags,
            internal_date,
            subject,
            subject_raw: subject_raw.map(|s| escape_cut(s, TEXT_CUT)),
            from,
            from_raw: first_from.map(|a| escape_cut(a.display().as_bytes(), TEXT_CUT)),
            undecoded_charsets: undecoded,
            body_bytes: None,
        };
        let mut detail = format!("#{seq}: {size} bytes");
        if let Some(d) = &message.internal_date {
            detail.push_str(&format!(", {d}"));
        }
        if let Some(f) = &message.from {
            detail.push_str(&format!(", from {f}"));
        }
        match &message.subject {
            Some(s) => detail.push_str(&format!(", \"{s}\"")),
            None => detail.push_str(", no subject"),
        }
        if !message.undecoded_charsets.is_empty() {
            detail.push_str(&format!(
                " (charset {} shown undecoded)",
                message.undecoded_charsets.join(", ")
            ));
        }
        if self.cfg.body {
            let body = self.fetch_body(seq, size)?;
            message.body_bytes = Some(body);
            detail.push_str(&format!("; body {body} bytes"));
            if body != size {
                self.report.message = Some(message);
                return Err(failure(
                    format!(
                        "message {seq}: the body has {body} bytes but RFC822.SIZE announced {size}"
                    ),
                    format!("BODY[] of exactly {size} bytes"),
                    None,
                    "the server delivered something other than it announced: a damaged mail store or index (on Dovecot, try doveadm force-resync)",
                ));
            }
        }
        self.report.message = Some(message);
        Done::ok(detail)
    }

    /// `FETCH n BODY.PEEK[]`, streamed; returns the body's length.
    fn fetch_body(&mut self, seq: u32, size: u64) -> Result<u64, Failure> {
        self.seen.fetched.clear();
        let session = self.session()?;
        session.stream_literals_up_to = Some(size.saturating_add(BODY_SLACK));
        session.take_streamed();
        let seq_s = seq.to_string();
        let result =
            self.run_command(&[Arg::Raw("FETCH"), Arg::Raw(&seq_s), Arg::Raw("BODY.PEEK[]")]);
        let session = self.session()?;
        session.stream_literals_up_to = None;
        let streamed = session.take_streamed();
        let done = result.map_err(|e| io_failure(&e, "fetch", "the message body"))?;
        if done.status != Status::Ok {
            return Err(failure(
                format!("the server refused to fetch the body of message {seq}"),
                "a tagged OK to FETCH BODY.PEEK[]",
                Some(&done.raw),
                "the mail store may be damaged",
            ));
        }
        match self.seen.fetched.iter().find(|(n, _)| n == "BODY[]") {
            // A streamed literal is left as "{0}" with its length recorded.
            Some((_, Value::String(b))) if b.is_empty() && !streamed.is_empty() => {
                Ok(streamed.iter().sum())
            }
            Some((_, Value::String(b))) => Ok(b.len() as u64),
            Some((_, Value::Nil)) => Ok(0),
            _ => Err(failure(
                format!("no BODY[] for message {seq}"),
                format!("\"* {seq} FETCH (BODY[] {{n}} ...)\""),
                Some(&done.raw),
                "the server answered OK without the body",
            )),
        }
    }

    fn logout(&mut self) -> Result<Done, Failure> {
        let Some(session) = self.session.as_mut() else {
            return Done::skip("not connected");
        };
        if !session.usable() {
            return Done::skip("the connection is not usable");
        }
        if let Some(bye) = &self.seen.bye {
            return Done::skip(format!(
                "the server already ended the session: * BYE {}",
                escape_cut(bye, TEXT_CUT)
            ));
        }
        self.seen.bye = None;
        let result = self.run_command(&[Arg::Raw("LOGOUT")]);
        let bye = self.seen.bye.take();
        if let Some(s) = self.session.as_mut() {
            s.close();
        }
        match (result, bye) {
            (Ok(done), Some(bye)) if done.status == Status::Ok => {
                Done::ok(format!("* BYE {}", escape_cut(&bye, TEXT_CUT)))
            }
            (Ok(done), None) if done.status == Status::Ok => Done::warn(
                "tagged OK without the * BYE that RFC 3501 requires first",
                "",
            ),
            (Ok(done), _) => Err(failure(
                "the server refused LOGOUT",
                "* BYE, then a tagged OK",
                Some(&done.raw),
                "a server that refuses LOGOUT is broken",
            )),
            (Err(e), Some(bye)) if !e.timed_out() => Done::warn(
                format!(
                    "* BYE {}, then the connection closed without a tagged OK ({e})",
                    escape_cut(&bye, TEXT_CUT)
                ),
                "",
            ),
            (Err(e), _) => Err(io_failure(&e, "logout", "* BYE, then a tagged OK")),
        }
    }
}

/// Our side of RFC 2971 ID.
fn id_arguments() -> String {
    format!(
        "(\"name\" \"imapcheck\" \"version\" \"{}\")",
        env!("CARGO_PKG_VERSION")
    )
}

/// Cuts decoded text to about `max` bytes on a character boundary.
fn cut_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// Folder names from LIST that are close to `wanted`, best first.
fn closest_names(wanted: &str, folders: &[String]) -> Vec<String> {
    let w = wanted.to_lowercase();
    let mut scored: Vec<(usize, &String)> = folders
        .iter()
        .map(|f| {
            let fl = f.to_lowercase();
            let last = fl.rsplit(['/', '.']).next().unwrap_or(&fl).to_string();
            let d = edit_distance(&w, &fl).min(edit_distance(&w, &last));
            (d, f)
        })
        .filter(|(d, f)| *d <= (w.chars().count() / 2).max(2) || f.to_lowercase().contains(&w))
        .collect();
    scored.sort_by_key(|(d, f)| (*d, f.len()));
    scored.into_iter().take(5).map(|(_, f)| f.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

fn connect_failure(e: &ConnectError, cfg: &Config) -> Failure {
    let port = cfg.port;
    match e {
        ConnectError::Resolve(msg) => failure(
            format!("cannot resolve {}", cfg.host),
            "an address for the host name",
            Some(msg.as_bytes()),
            "check the host name and the resolver (/etc/resolv.conf, /etc/hosts); -4/-6 limit the address family",
        ),
        ConnectError::ResolveTimeout => failure(
            format!("resolving {} did not finish within the deadline", cfg.host),
            "an address for the host name",
            None,
            "the DNS server is slow or unreachable: check /etc/resolv.conf, or use an IP address",
        ),
        ConnectError::Failed(errors) => {
            let refused = errors
                .iter()
                .all(|(_, e)| e.kind() == std::io::ErrorKind::ConnectionRefused);
            let timed_out = errors
                .iter()
                .any(|(_, e)| e.kind() == std::io::ErrorKind::TimedOut);
            let (message, hint) = if refused {
                (
                    "connection refused".to_string(),
                    format!(
                        "nothing listens on port {port} there, or a firewall rejects it: check the service is running (ss -ltn) and the firewall"
                    ),
                )
            } else if timed_out {
                (
                    "no answer before the deadline".to_string(),
                    format!(
                        "a firewall may drop packets to port {port}, or the host is wrong or down; try -t with more seconds"
                    ),
                )
            } else {
                (
                    "cannot connect".to_string(),
                    "check routing and the address".to_string(),
                )
            };
            failure(
                message,
                format!("a TCP connection to port {port}"),
                Some(e.to_string().as_bytes()),
                hint,
            )
        }
    }
}

/// The server's failed TLS start when its own bytes say more than
/// OpenSSL's error: cleartext where a TLS record must come (every record
/// starts with a content type from 0x14 to 0x17), or a close right after
/// the OK to STARTTLS.
fn tls_not_started(e: &TlsError, step: &str, cfg: &Config) -> Option<Failure> {
    if e.timed_out {
        return None;
    }
    let expected = "a TLS handshake";
    let cleartext = e
        .received
        .first()
        .is_some_and(|b| !(0x14..=0x17).contains(b));
    let m = e.message.to_ascii_lowercase();
    let closed = e.received.is_empty()
        && ["eof", "reset", "closed", "broken pipe"]
            .iter()
            .any(|w| m.contains(w));
    match (step, cleartext, closed) {
        ("starttls", true, _) => Some(failure(
            "the server said OK to STARTTLS, then sent cleartext instead of TLS: its own TLS setup failed",
            expected,
            Some(&e.received),
            "the server accepted STARTTLS but could not start TLS itself: its certificate or key file is missing or unreadable, or its TLS helper failed (Courier's couriertls runs as the courier user); its words above and its log say which",
        )),
        ("starttls", false, true) => Some(failure(
            "the server closed the connection right after its OK to STARTTLS, without starting TLS",
            expected,
            Some(e.message.as_bytes()),
            "the server accepted STARTTLS but could not start TLS itself: check its certificate and key files, their permissions, and its log",
        )),
        (_, true, _) => Some(failure(
            "the server did not answer with TLS",
            expected,
            Some(&e.received),
            format!(
                "port {} answers in cleartext: for port 143 use --security starttls, or --security none to check cleartext on purpose",
                cfg.port
            ),
        )),
        _ => None,
    }
}

fn tls_failure(e: &TlsError, step: &str, cfg: &Config) -> Failure {
    if let Some(f) = tls_not_started(e, step, cfg) {
        return f;
    }
    let (message, timed_out) = (e.message.as_str(), e.timed_out);
    let m = message.to_ascii_lowercase();
    let expected = "a TLS handshake with a certificate that verifies";
    let (what, hint) = if timed_out {
        (
            "the TLS handshake did not finish before the deadline".to_string(),
            if step == "tls" {
                "the server may expect cleartext first on this port: try --security starttls (port 143)".to_string()
            } else {
                "the server accepted STARTTLS but never completed the handshake".to_string()
            },
        )
    } else if m.contains("certificate has expired") {
        (
            "the server certificate has expired".to_string(),
            "renew the server's certificate (--insecure checks the rest anyway)".to_string(),
        )
    } else if m.contains("not yet valid") {
        (
            "the server certificate is not yet valid".to_string(),
            "check the clocks of this host and the server".to_string(),
        )
    } else if m.contains("hostname mismatch") || m.contains("ip address mismatch") {
        (format!("the server certificate is not valid for {}", cfg.host), "connect with the name the certificate was issued for, or fix the certificate's names (subjectAltName)".to_string())
    } else if (m.contains("unable to get local issuer")
        || m.contains("self-signed")
        || m.contains("self signed"))
        && cfg.ca_file.is_none()
        && crate::transport::trust_store_sources().is_empty()
    {
        (
            "no trusted CA certificates on this host: the server certificate cannot be verified"
                .to_string(),
            format!(
                "no CA bundle was found (looked for {} and SSL_CERT_FILE/SSL_CERT_DIR): pass the server's CA with --ca-file, or install ca-certificates",
                crate::transport::CA_BUNDLE_FILES.join(", ")
            ),
        )
    } else if m.contains("self-signed")
        || m.contains("self signed")
        || m.contains("unable to get local issuer")
        || m.contains("unable to get issuer")
        || m.contains("unable to verify the first certificate")
    {
        (
            "the server certificate is not issued by a trusted CA".to_string(),
            "if it is a private CA, pass it with --ca-file; if the chain lacks an intermediate, fix the server's certificate chain; is a CA bundle installed (ca-certificates)?".to_string(),
        )
    } else if m.contains("certificate verify failed") {
        (
            "the server certificate did not verify".to_string(),
            "see the reason above; --ca-file adds a CA, --insecure skips verification".to_string(),
        )
    } else if m.contains("wrong version number")
        || m.contains("packet length too long")
        || m.contains("record layer failure")
        || m.contains("unexpected eof")
        || m.contains("http request")
    {
        (
            "the server did not answer with TLS".to_string(),
            if step == "tls" {
                format!(
                    "port {} may not use implicit TLS: for port 143 use --security starttls",
                    cfg.port
                )
            } else {
                "the server said OK to STARTTLS but did not start TLS".to_string()
            },
        )
    } else {
        ("the TLS handshake failed".to_string(), "check the server's TLS configuration (protocol versions, ciphers); openssl s_client shows more".to_string())
    };
    failure(what, expected, Some(message.as_bytes()), hint)
}

fn not_imap_hint(raw: &[u8], security: Security) -> String {
    if raw.starts_with(b"+OK") {
        "this looks like a POP3 server: IMAP is usually on port 143 (993 with TLS)".into()
    } else if raw.starts_with(b"220") {
        "this looks like an SMTP or FTP server, not IMAP".into()
    } else if raw.starts_with(b"SSH-") {
        "this is an SSH server, not IMAP".into()
    } else if raw.starts_with(b"HTTP/") {
        "this is an HTTP server, not IMAP".into()
    } else if matches!(raw.first(), Some(0x15 | 0x16)) && security != Security::Tls {
        "the server speaks TLS right away: use --security tls".into()
    } else {
        "this does not look like an IMAP server".into()
    }
}

fn greeting_io_failure(e: &SessionError, security: Security) -> Failure {
    if e.timed_out() {
        let hint = if security == Security::Tls {
            "the server accepted TLS but sent no greeting: it may be overloaded, or its authentication backend hangs"
        } else {
            "the port may expect implicit TLS (try --security tls, port 993), or the server is overloaded"
        };
        return failure(
            "no greeting before the deadline",
            "an untagged OK greeting",
            None,
            hint,
        );
    }
    match e {
        SessionError::Protocol { what, got } => failure(
            format!("the greeting is not valid IMAP: {what}"),
            "\"* OK ...\"",
            Some(got),
            not_imap_hint(got, security),
        ),
        SessionError::Io(io) => failure(
            format!("no greeting: {}", describe_io(io)),
            "an untagged OK greeting",
            None,
            if security == Security::Tls {
                "the server closed the connection after TLS without a greeting: it may limit connections per client"
            } else {
                "the server closed the connection without a greeting: the port may expect implicit TLS (try --security tls), the server may limit connections per client, or the port is not IMAP"
            },
        ),
    }
}

fn io_failure(e: &SessionError, step: &str, expected: &str) -> Failure {
    match e {
        SessionError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => failure(
            format!("no answer before the deadline during {step}"),
            expected,
            None,
            "the server is slow or hangs at this step: compare the step times, raise -t if it is only slow",
        ),
        SessionError::Io(io) => failure(
            format!("the connection failed during {step}: {}", describe_io(io)),
            expected,
            None,
            "the server closed or reset the connection; its logs say why",
        ),
        SessionError::Protocol { what, got } => failure(
            format!("protocol error during {step}: {what}"),
            expected,
            if got.is_empty() { None } else { Some(got) },
            "the server sent something no IMAP server should; run with -v for the transcript",
        ),
    }
}

fn login_failure(done: &Completion, method: &str, tls: bool, seen: &Seen) -> Failure {
    let code_name = match &done.code {
        Some(Code::Other { name, .. }) => name.as_str(),
        _ => "",
    };
    let text = String::from_utf8_lossy(&done.text).to_ascii_lowercase();
    let oauth_offered = seen.has_cap("AUTH=XOAUTH2") || seen.has_cap("AUTH=OAUTHBEARER");
    let password_method = method == "LOGIN" || method == "AUTHENTICATE PLAIN";
    let hint = match code_name {
        _ if password_method && (text.contains("basic auth") || text.contains("basicauth")) => {
            "basic authentication (passwords) is disabled on this server: use --auth xoauth2 (or oauthbearer) with an OAuth 2.0 access token".to_string()
        }
        "AUTHENTICATIONFAILED" if password_method && oauth_offered && !seen.has_cap("AUTH=PLAIN") => {
            "wrong credentials, or the server accepts only OAuth 2.0: it offers no PLAIN but does offer OAuth, so try --auth xoauth2 with an access token".to_string()
        }
        "AUTHENTICATIONFAILED" => "wrong user name or password, or the account is locked or disabled".to_string(),
        "AUTHORIZATIONFAILED" => "the credentials are right but this user may not use this mailbox".to_string(),
        "EXPIRED" => "the password or account has expired".to_string(),
        "PRIVACYREQUIRED" => "the server wants TLS before login: use --security starttls or tls".to_string(),
        "UNAVAILABLE" => "the server's authentication or mailbox backend is unavailable; try again later and check the server's logs".to_string(),
        "CONTACTADMIN" => "the server says to contact its administrator".to_string(),
        _ if done.status == Status::Bad => format!("the server did not accept the {method} command itself; it may not support it"),
        _ if !tls && text.contains("plaintext") => "the server refuses passwords in cleartext: use --security starttls or tls".to_string(),
        _ => "check the user name and password; the server's text and logs may say more".to_string(),
    };
    failure(
        format!("the server refused the login ({})", done.status.as_str()),
        format!("a tagged OK to {method}"),
        Some(&done.raw),
        hint,
    )
}

/// What to check after an OAuth rejection, from its JSON status.
fn oauth_hint(e: &sasl::OAuthError) -> String {
    let status = e.status.as_deref().unwrap_or("");
    let mut hint = match status {
        "400" | "invalid_request" => {
            "the server could not read the token request: check the user name".to_string()
        }
        "401" | "invalid_token" => {
            "the access token is invalid or expired: get a fresh one (they usually live one hour)"
                .to_string()
        }
        "403" | "insufficient_scope" => {
            "the token lacks the IMAP scope: request it with the scope the server names".to_string()
        }
        _ => "check the access token, its scope and that it belongs to this user".to_string(),
    };
    if let Some(scope) = &e.scope {
        hint.push_str(&format!(" (required scope: {scope})"));
    }
    hint
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_folder_names() {
        let folders: Vec<String> = ["INBOX", "Sent", "Deleted Items", "Entwürfe", "Archive/2024"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest_names("Deleted Item", &folders), ["Deleted Items"]);
        assert_eq!(closest_names("entwurfe", &folders), ["Entwürfe"]);
        assert_eq!(closest_names("2024", &folders), ["Archive/2024"]);
        assert!(closest_names("Zzzzzzzzzzzz", &folders).is_empty());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ü", "u"), 1);
    }

    #[test]
    fn greeting_hints_name_the_service() {
        assert!(not_imap_hint(b"+OK POP3 ready", Security::Starttls).contains("POP3"));
        assert!(not_imap_hint(b"220 smtp", Security::Starttls).contains("SMTP"));
        assert!(not_imap_hint(b"SSH-2.0-OpenSSH", Security::None).contains("SSH"));
        assert!(not_imap_hint(b"\x16\x03\x01", Security::Starttls).contains("--security tls"));
    }
}
