// One case of the scripted suite: a server script, the imapcheck command
// line run against it, and what came out, with assertions that name the
// case in their message. Most tests are a `Case`, a few builder calls, and
// the assertions particular to them.

use super::*;

/// Which `--security` a case runs with, and the arguments that go with it.
#[derive(Clone, Copy)]
enum Security {
    /// `localhost --security tls -p PORT --ca-file CA`
    Tls,
    /// `localhost --security starttls -p PORT --ca-file CA`
    Starttls,
    /// `127.0.0.1 --security none -p PORT`
    None,
}

/// A scripted server and how imapcheck is run against it.
#[derive(Clone)]
pub struct Case {
    name: Option<String>,
    mode: Mode,
    listen: Option<String>,
    hosts: Option<String>,
    script: Vec<Step>,
    security: Security,
    host: Option<String>,
    ca_file: bool,
    user: Option<String>,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    script_may_break: bool,
}

impl Case {
    fn new(mode: Mode, security: Security, script: Vec<Step>) -> Case {
        Case {
            name: None,
            mode,
            listen: None,
            hosts: None,
            script,
            security,
            host: None,
            ca_file: true,
            user: Some(USER.to_string()),
            extra: Vec::new(),
            env: vec![("IMAPCHECK_PASSWORD".into(), PASS.into())],
            stdin: None,
            script_may_break: false,
        }
    }

    /// Implicit TLS with the good certificate; logs in as USER with PASS.
    pub fn tls(script: Vec<Step>) -> Case {
        Case::new(Mode::Tls(Identity::Good), Security::Tls, script)
    }

    /// STARTTLS on a cleartext server (the script does the handshake).
    pub fn starttls(script: Vec<Step>) -> Case {
        Case::new(Mode::Plain, Security::Starttls, script)
    }

    /// `--security none` on a cleartext server.
    pub fn cleartext(script: Vec<Step>) -> Case {
        Case::new(Mode::Plain, Security::None, script)
    }

    /// Said first in every assertion message (for cases run in a loop).
    pub fn named(mut self, name: impl Into<String>) -> Case {
        self.name = Some(name.into());
        self
    }

    /// How the server's connection starts, if not as the security implies.
    pub fn server(mut self, mode: Mode) -> Case {
        self.mode = mode;
        self
    }

    /// The server listens on `addr` (e.g. `[::1]:0`) instead of 127.0.0.1.
    pub fn listen(mut self, addr: impl Into<String>) -> Case {
        self.listen = Some(addr.into());
        self
    }

    /// imapcheck runs with these lines as its /etc/hosts (see
    /// `run_with_hosts`), to give a name chosen loopback addresses.
    pub fn hosts(mut self, lines: &str) -> Case {
        self.hosts = Some(lines.to_string());
        self
    }

    /// The host imapcheck is given.
    pub fn host(mut self, host: &str) -> Case {
        self.host = Some(host.to_string());
        self
    }

    /// No `--ca-file`: only the system's CAs are trusted.
    pub fn no_ca_file(mut self) -> Case {
        self.ca_file = false;
        self
    }

    /// Logs in as `user` instead of USER.
    pub fn user(mut self, user: &str) -> Case {
        self.user = Some(user.to_string());
        self
    }

    /// No `-u` and no password: the check stops before login.
    pub fn anonymous(mut self) -> Case {
        self.user = None;
        self.env.clear();
        self
    }

    /// More arguments, after the usual ones.
    pub fn args(mut self, more: &[&str]) -> Case {
        self.extra.extend(more.iter().map(|s| s.to_string()));
        self
    }

    /// The environment, instead of IMAPCHECK_PASSWORD=PASS.
    pub fn env(mut self, env: &[(&str, &str)]) -> Case {
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    /// Bytes on imapcheck's standard input (otherwise /dev/null).
    pub fn stdin(mut self, bytes: &[u8]) -> Case {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// The client may leave the script broken or unfinished (a refused
    /// handshake, a deadline): the server's log is not asserted clean.
    pub fn script_may_break(mut self) -> Case {
        self.script_may_break = true;
        self
    }

    /// The command line against a server on `port` (with `--format json`
    /// when `json`).
    pub fn command_line(&self, port: u16, json: bool) -> Vec<String> {
        let port = port.to_string();
        let (host, security) = match self.security {
            Security::Tls => ("localhost", "tls"),
            Security::Starttls => ("localhost", "starttls"),
            Security::None => ("127.0.0.1", "none"),
        };
        let host = self.host.as_deref().unwrap_or(host);
        let mut args = strings(&[host, "--security", security, "-p", &port]);
        if self.ca_file && !matches!(self.security, Security::None) {
            args.extend(strings(&["--ca-file", &ca()]));
        }
        if let Some(user) = &self.user {
            args.extend(strings(&["-u", user]));
        }
        args.extend(self.extra.iter().cloned());
        if json {
            args.extend(strings(&["--format", "json"]));
        }
        args
    }

    fn start(&self) -> ScriptedServer {
        match &self.listen {
            Some(addr) => ScriptedServer::start_on(addr, self.mode, self.script.clone()),
            None => ScriptedServer::start(self.mode, self.script.clone()),
        }
    }

    fn finish(&self, srv: ScriptedServer, r: Run) -> Ran {
        let port = srv.port();
        let log = srv.finish();
        let mut ctx = dump(&r, &log);
        if let Some(name) = &self.name {
            ctx = format!("case: {name}\n{ctx}");
        }
        if !self.script_may_break {
            assert!(
                log.completed && log.errors.is_empty(),
                "scripted server did not run its script cleanly\n{ctx}"
            );
        }
        Ran { r, port, log, ctx }
    }

    fn launch(&self, json: bool) -> Ran {
        let srv = self.start();
        let args = self.command_line(srv.port(), json);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = match &self.hosts {
            Some(hosts) => run_with_hosts(hosts, &refs, &env, self.stdin.as_deref()),
            None => run(&refs, &env, self.stdin.as_deref()),
        };
        self.finish(srv, r)
    }

    /// Runs with the arguments as given (text unless they say otherwise).
    pub fn output(self) -> Ran {
        self.launch(false)
    }

    /// Runs with `--format json`; stdout must be exactly one JSON object.
    pub fn json(self) -> Checked {
        self.launch(true).parsed()
    }

    /// Runs with `--format openmetrics`: stdout must be read by both
    /// strict parsers (common/metrics.rs) and keep the labels' contract.
    pub fn openmetrics(self) -> (Ran, Metrics) {
        let host = match self.security {
            Security::None => "127.0.0.1",
            Security::Tls | Security::Starttls => "localhost",
        };
        let host = self.host.clone().unwrap_or(host.to_string());
        let security = match self.security {
            Security::Tls => "tls",
            Security::Starttls => "starttls",
            Security::None => "none",
        };
        let ran = self.args(&["--format", "openmetrics"]).launch(false);
        let m = metrics::read(&ran.r.stdout);
        m.assert_contract(&host, ran.port, security);
        (ran, m)
    }

    /// The case run twice, once in OpenMetrics and once in JSON, against
    /// two servers with the same script: the metrics must say what the
    /// JSON says (one run prints one format).
    pub fn openmetrics_and_json(self) -> (Metrics, Checked) {
        let (_, m) = self.clone().openmetrics();
        let c = self.json();
        m.assert_agrees_with_json(&c.v, 2.0);
        (m, c)
    }

    /// Runs with `--format json` and measures imapcheck's peak memory.
    pub fn json_measured(self) -> (Checked, i64) {
        let srv = self.start();
        let args = self.command_line(srv.port(), true);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (r, rss) = run_measured(&args, &env);
        (self.finish(srv, r).parsed(), rss)
    }
}

/// A finished run: imapcheck's exit, output and time, the server's log,
/// and the context every assertion message carries.
pub struct Ran {
    pub r: Run,
    /// The port the server listened on.
    pub port: u16,
    pub log: ServerLog,
    pub ctx: String,
}

impl Ran {
    fn parsed(self) -> Checked {
        let v = parse_json_stdout(&self.r);
        Checked {
            r: self.r,
            port: self.port,
            v,
            log: self.log,
            ctx: self.ctx,
        }
    }

    pub fn status(&self, code: i32) {
        assert_eq!(self.r.status, code, "exit status\n{}", self.ctx);
    }
}

/// A finished `--format json` run.
pub struct Checked {
    pub r: Run,
    pub port: u16,
    pub v: Value,
    pub log: ServerLog,
    pub ctx: String,
}

impl Checked {
    /// Exit status, JSON status/exit_code agree and are `code`.
    pub fn exit(&self, code: i32) {
        assert_exit(&self.r, &self.v, code, &self.ctx);
    }

    /// A critical run whose first failure is `step`.
    pub fn failed_at(&self, failed: &str) {
        assert_failed_at(&self.r, &self.v, failed, &self.ctx);
    }

    /// The steps are exactly `names`, with `statuses` (space-separated).
    pub fn steps(&self, names: &str, statuses: &str) {
        assert_steps(&self.v, names, statuses, &self.ctx);
    }

    /// The JSON object of one step.
    pub fn step(&self, name: &str) -> &Value {
        step(&self.v, name)
    }

    /// The detail of one step ("" when it is not a string).
    pub fn detail(&self, name: &str) -> &str {
        self.step(name)["detail"].as_str().unwrap_or("")
    }

    /// `name`'s detail starts with `head`.
    pub fn detail_starts_with(&self, name: &str, head: &str) {
        let detail = self.detail(name);
        assert!(detail.starts_with(head), "{name}: {detail}\n{}", self.ctx);
    }

    /// `name`'s detail ends with `tail`.
    pub fn detail_ends_with(&self, name: &str, tail: &str) {
        let detail = self.detail(name);
        assert!(detail.ends_with(tail), "{name}: {detail}\n{}", self.ctx);
    }

    /// `name`'s detail contains `part`.
    pub fn detail_contains(&self, name: &str, part: &str) {
        let detail = self.detail(name);
        assert!(detail.contains(part), "{name}: {detail}\n{}", self.ctx);
    }

    /// One field of the error object, which must be a string.
    pub fn error(&self, field: &str) -> String {
        error_text(&self.v, field)
    }
}

// ---------- scripts ----------

/// The greeting (with capabilities) and LOGIN as USER with PASS.
pub fn logged_in() -> Vec<Step> {
    script(vec![vec![Step::Send(GREETING.into())], login_steps()])
}

/// LIST answered with `reply`.
pub fn listed(reply: String) -> Vec<Step> {
    vec![Step::Expect("LIST \"\" \"*\"".into()), Step::Send(reply)]
}

/// `command` (EXAMINE or SELECT and the folder, as sent) answered with
/// `reply`.
pub fn opened(command: &str, reply: String) -> Vec<Step> {
    vec![Step::Expect(command.into()), Step::Send(reply)]
}

/// The envelope FETCH of the newest message (`*`, sent before EXISTS is
/// known), answered with `reply` about message `seq`.
pub fn fetched(seq: u32, reply: String) -> Vec<Step> {
    assert!(reply.contains(&format!("* {seq} FETCH")) || !reply.contains(" FETCH "));
    vec![Step::Expect(KB_FETCH_NEWEST.into()), Step::Send(reply)]
}

/// The envelope FETCH of `--message seq`, answered with `reply`; queued
/// behind EXAMINE in the batch.
pub fn fetched_message(seq: u32, reply: String) -> Vec<Step> {
    vec![
        Step::ExpectQueued(format!(
            "FETCH {seq} (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"
        )),
        Step::Send(reply),
    ]
}

/// The rest of the batch after login once a step has failed: each of
/// `commands` (sent in the same write) read and refused with BAD, as a
/// server answers what cannot run; then LOGOUT, answered properly.
pub fn batch_refused(commands: &[&str]) -> Vec<Step> {
    let mut steps = Vec::new();
    for c in commands {
        steps.push(Step::ExpectQueued(c.to_string()));
        steps.push(Step::Send("{tag} BAD No mailbox selected.\r\n".into()));
    }
    steps.push(Step::Expect("LOGOUT".into()));
    steps.push(Step::Send(KB_LOGOUT_REPLY.into()));
    steps.push(Step::ExpectEof);
    steps
}

/// Logged in, the KB folders listed and INBOX examined with `examine`.
pub fn kb_examined(examine: String) -> Vec<Step> {
    script(vec![
        logged_in(),
        listed(kb_list_reply()),
        opened("EXAMINE INBOX", examine),
    ])
}

/// The KB path up to LIST, which is answered with `reply` and then
/// nothing more: the case ends at the list step.
pub fn kb_listing(reply: Vec<Step>) -> Vec<Step> {
    script(vec![
        logged_in(),
        vec![Step::Expect("LIST \"\" \"*\"".into())],
        reply,
    ])
}
