//! `imapcheck serve`: a Prometheus probe exporter in the manner of
//! blackbox_exporter. Prometheus scrapes `/probe?module=…&target=…`; the
//! check runs then, through the same runner as the command line, with the
//! options of a module file (`modules`) and only against targets the
//! module's allow-list permits (`allow`). Around it: a hand-written
//! HTTP/1.1 server (`http` parses, `server` serves, `respond` writes),
//! the exporter's own metrics (`metrics`), the landing page with the last
//! probes (`landing`), the signals (`signals`), and Basic auth for the
//! endpoint (`webauth`, with `--web-auth-file`).

mod allow;
pub mod http;
mod landing;
mod metrics;
mod modules;
mod probe;
mod respond;
mod server;
mod signals;
mod target;
pub mod webauth;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use argh::FromArgs;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

use metrics::Refused;
use modules::Module;
use respond::Answer;
use webauth::Users;

/// Where `serve` listens unless `--listen` says otherwise: loopback only,
/// since `/probe` makes the exporter log in to mail servers.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9143";

/// Probes at once unless `--max-probes` says otherwise: a Prometheus
/// scraping a few dozen targets every 15 s has a handful in flight.
const DEFAULT_MAX_PROBES: usize = 32;

#[derive(FromArgs, Debug)]
#[argh(help_triggers("-h", "--help", "help"))]
/// Run imapcheck as a Prometheus exporter: GET /probe?module=<name>&target=<host>[:<port>]
/// runs a check with the options of <modules>/<name>.conf and answers with its
/// metrics. See the SERVE section of imapcheck(1).
pub struct ServeArgs {
    /// the address and port to listen on (default 127.0.0.1:9143)
    #[argh(option)]
    pub listen: Option<String>,

    /// the directory of module files, <name>.conf each
    #[argh(option)]
    pub modules: PathBuf,

    /// the most probes that run at once; more are refused with 503
    /// (default 32)
    #[argh(option)]
    pub max_probes: Option<usize>,

    /// serve HTTPS with this certificate (PEM; with --web-tls-key)
    #[argh(option)]
    pub web_tls_cert: Option<PathBuf>,

    /// the private key for --web-tls-cert (PEM, PKCS#8)
    #[argh(option)]
    pub web_tls_key: Option<PathBuf>,

    /// require HTTP Basic auth of the users in this file (user:hash lines,
    /// SHA-512 crypt); /-/healthy stays open
    #[argh(option)]
    pub web_auth_file: Option<PathBuf>,
}

/// The endpoint's TLS (`--web-tls-cert`, `--web-tls-key`): Mozilla's
/// "intermediate" settings (TLS 1.2 and 1.3), the certificate file's
/// chain sent as it is, and the key checked against the certificate now
/// rather than at the first client.
fn web_tls(cert: &Path, key: &Path) -> Result<SslAcceptor, String> {
    let at = |what: &str, e: openssl::error::ErrorStack| format!("{what}: {e}");
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())
        .map_err(|e| at("cannot set up TLS", e))?;
    builder
        .set_certificate_chain_file(cert)
        .map_err(|e| at(&format!("--web-tls-cert {}", cert.display()), e))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .map_err(|e| at(&format!("--web-tls-key {}", key.display()), e))?;
    builder
        .check_private_key()
        .map_err(|e| at("--web-tls-key does not belong to --web-tls-cert", e))?;
    Ok(builder.build())
}

/// What every connection shares.
pub struct State {
    modules_dir: PathBuf,
    modules: RwLock<Arc<Vec<Module>>>,
    max_probes: usize,
    stats: metrics::Stats,
    history: landing::History,
    /// With `--web-auth-file`: the file and the users read from it.
    web_auth: Option<WebAuth>,
}

/// The users file and the users it held when last read without error.
struct WebAuth {
    file: PathBuf,
    users: RwLock<Arc<Users>>,
}

impl WebAuth {
    fn load(file: &Path) -> Result<WebAuth, String> {
        let users = Users::load(file)?;
        log::info!("{} users may log in, from {}", users.len(), file.display());
        Ok(WebAuth {
            file: file.to_path_buf(),
            users: RwLock::new(Arc::new(users)),
        })
    }

    fn users(&self) -> Arc<Users> {
        Arc::clone(
            &self
                .users
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Reads the file anew; a broken one keeps the users before.
    fn reload(&self) -> Result<(), String> {
        let users = Users::load(&self.file)?;
        log::info!(
            "reloaded {} users from {}",
            users.len(),
            self.file.display()
        );
        *self
            .users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(users);
        Ok(())
    }
}

impl State {
    /// The modules loaded now (a reload swaps them; a probe keeps its own).
    fn modules(&self) -> Arc<Vec<Module>> {
        Arc::clone(
            &self
                .modules
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    fn module_names(&self) -> Vec<String> {
        self.modules().iter().map(|m| m.name.clone()).collect()
    }

    /// SIGHUP: the modules and the users file read anew. Each is kept
    /// as it was when its file is broken, and counts a reload error; the
    /// reload succeeded when both read well.
    fn reload(&self) {
        let mut ok = true;
        match modules::load_dir(&self.modules_dir) {
            Ok((loaded, warnings)) => {
                for w in warnings {
                    log::warn!("{w}");
                }
                log::info!("reloaded {} modules", loaded.len());
                *self
                    .modules
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(loaded);
            }
            Err(e) => {
                log::error!("reload failed, the modules before stay in use: {e}");
                self.stats.reload_failed();
                ok = false;
            }
        }
        if let Some(auth) = &self.web_auth
            && let Err(e) = auth.reload()
        {
            log::error!("reload failed, the users before stay in use: {e}");
            self.stats.reload_failed();
            ok = false;
        }
        if ok {
            self.stats.reloaded();
        }
    }

    /// An error answer, counted by reason.
    fn refuse(&self, why: Refused, status: u16, reason: &str) -> Answer {
        self.stats.refused(why);
        Answer::error(status, reason)
    }
}

/// `imapcheck serve …`: the exit status.
pub fn main(args: &[&str]) -> i32 {
    crate::transcript::init_log("info");
    let args = match ServeArgs::from_args(&["imapcheck serve"], args) {
        Ok(a) => a,
        Err(exit) => {
            return if exit.status.is_ok() {
                println!("{}", exit.output);
                0
            } else {
                eprintln!("{}\nRun imapcheck serve --help for usage.", exit.output);
                3
            };
        }
    };
    match start(args) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("imapcheck serve: {msg}");
            3
        }
    }
}

fn start(args: ServeArgs) -> Result<i32, String> {
    let listen = args.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let addr: SocketAddr = listen.parse().map_err(|_| {
        format!(
            "--listen takes address:port ([v6]:port), not '{}'",
            listen.escape_default()
        )
    })?;
    let max_probes = args.max_probes.unwrap_or(DEFAULT_MAX_PROBES);
    if max_probes == 0 {
        return Err("--max-probes must be 1 or more".into());
    }
    let tls = match (&args.web_tls_cert, &args.web_tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(web_tls(cert, key)?)),
        (None, None) => None,
        _ => return Err("--web-tls-cert and --web-tls-key go together".into()),
    };
    let (loaded, warnings) = modules::load_dir(&args.modules)?;
    for w in warnings {
        log::warn!("{w}");
    }
    let web_auth = args
        .web_auth_file
        .as_deref()
        .map(WebAuth::load)
        .transpose()?;
    let state = Arc::new(State {
        modules_dir: args.modules.clone(),
        modules: RwLock::new(Arc::new(loaded)),
        max_probes,
        stats: metrics::Stats::default(),
        history: landing::History::default(),
        web_auth,
    });
    state.stats.reloaded();
    signals::install();
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    log::info!(
        "listening on {}://{bound} with {} modules from {}",
        if tls.is_some() { "https" } else { "http" },
        state.module_names().len(),
        args.modules.display()
    );
    Ok(server::run(state, listener, tls))
}

/// The answer to one request.
fn handle(state: &Arc<State>, req: &http::Request) -> Answer {
    if req.path == "/-/healthy" {
        return Answer::text(200, "Healthy\n".into());
    }
    // Basic auth guards every endpoint but /-/healthy (above), which stays
    // open for a load balancer's health check. Only the path is logged:
    // the header holds the password.
    if let Some(auth) = &state.web_auth
        && !auth.users().allows(req.authorization.as_deref())
    {
        return unauthorized(state, req);
    }
    match req.path.as_str() {
        "/-/ready" => Answer::text(200, "Ready\n".into()),
        "/probe" => probe::probe(state, req),
        "/metrics" => Answer::metrics(
            respond::Format::Prometheus,
            state.stats.render(&state.module_names()),
        ),
        "/" => Answer::html(state.history.page(&state.module_names())),
        "/logs" => {
            let id = req.param("id").and_then(|v| v.parse::<u64>().ok());
            match id.and_then(|id| state.history.text(id)) {
                Some(text) => Answer::text(200, text),
                None => state.refuse(
                    Refused::NotFound,
                    404,
                    "no such probe (only the last ones are kept)",
                ),
            }
        }
        _ => state.refuse(Refused::NotFound, 404, "not found: try /, /probe, /metrics"),
    }
}

/// 401 for a request that Basic auth refused. The log names the path only,
/// never the header: it holds the password.
fn unauthorized(state: &State, req: &http::Request) -> Answer {
    let reason = if req.authorization.is_some() {
        "authentication failed: unknown user or wrong password"
    } else {
        "authentication required"
    };
    log::info!("401 for {}: {reason}", req.path.escape_default());
    let mut answer = state.refuse(Refused::Unauthorized, 401, reason);
    answer
        .headers
        .push("WWW-Authenticate: Basic realm=\"imapcheck\"".into());
    answer
}
