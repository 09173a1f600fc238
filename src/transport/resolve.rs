//! Name resolution within the check's deadline, limited to the address
//! family `-4`/`-6` asks for, and why no connection could be made.
//!
//! `getaddrinfo` blocks for as long as DNS makes it (with a dead server,
//! the resolver's timeout times its attempts, seconds each), longer than
//! a deadline may last. So lookups run on threads of their own that a
//! caller stops waiting for, and those threads are bounded, since in one
//! process checks follow each other (`--repeat`) or run side by side (an
//! exporter): a lookup still running is shared by every caller that asks
//! for the same name and port, rather than started again, and at most
//! [`MAX_LOOKUP_THREADS`] run at once. Nothing is cached: once a lookup
//! has answered, the next caller asks DNS anew.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use super::connect::Attempt;
use super::{Deadline, WAKE};

/// Address family restriction from `-4` / `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Any,
    V4,
    V6,
}

/// Why no TCP connection could be made.
#[derive(Debug)]
pub enum ConnectError {
    /// The name did not resolve (or resolved to nothing of the asked family).
    Resolve(String),
    /// Resolution did not finish before the deadline.
    ResolveTimeout,
    /// No address connected; each with what became of it.
    Failed(Vec<Attempt>),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve(msg) => write!(f, "cannot resolve the host name: {msg}"),
            ConnectError::ResolveTimeout => {
                write!(f, "name resolution did not finish before the deadline")
            }
            ConnectError::Failed(attempts) => {
                let parts: Vec<String> = attempts.iter().map(ToString::to_string).collect();
                write!(f, "{}", parts.join(", "))
            }
        }
    }
}

/// Resolves `host` within the deadline. `getaddrinfo` cannot be given a
/// timeout, so it runs on a thread of the process-wide [`Resolver`], and
/// we stop waiting for it when the deadline passes.
pub fn resolve(
    host: &str,
    port: u16,
    family: Family,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match system().lookup(host, port, deadline)? {
            Ok(addrs) => addrs,
            Err(msg) => return Err(ConnectError::Resolve(msg)),
        }
    };
    let wanted: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match family {
            Family::Any => true,
            Family::V4 => a.is_ipv4(),
            Family::V6 => a.is_ipv6(),
        })
        .collect();
    if wanted.is_empty() {
        let fam = match family {
            Family::V4 => "IPv4 ",
            Family::V6 => "IPv6 ",
            Family::Any => "",
        };
        return Err(ConnectError::Resolve(format!("{host} has no {fam}address")));
    }
    Ok(wanted)
}

/// At most this many lookups (threads blocked in `getaddrinfo`) run at
/// once in the process. Each is one name and port; when DNS is dead, each
/// stays for the resolver's whole timeout, however many checks ask for
/// that name meanwhile. A caller that needs another name while all are
/// busy waits for one to end, within its deadline. Eight leaves room for
/// an exporter checking several hosts while a few names hang, and keeps
/// a process whose DNS is dead at a handful of threads.
pub const MAX_LOOKUP_THREADS: usize = 8;

/// What a lookup answers: the addresses, or why there are none.
type Answer = Result<Vec<SocketAddr>, String>;

/// How a name is looked up (the system's resolver; a stand-in in tests).
type LookupFn = dyn Fn(&str, u16) -> Answer + Send + Sync;

/// One lookup in progress, shared by everyone waiting for it.
struct Lookup {
    host: String,
    port: u16,
    answer: Mutex<Option<Answer>>,
    answered: Condvar,
}

/// The lookups in progress and the bound on them.
struct Resolver {
    max: usize,
    lookup_fn: Box<LookupFn>,
    running: Mutex<Vec<Arc<Lookup>>>,
    /// Signalled when a lookup ends and frees its place.
    freed: Condvar,
}

/// A lock that a panicking thread left behind still guards valid data
/// here (a list, an optional answer): carry on with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The process's resolver, over `getaddrinfo`.
fn system() -> &'static Resolver {
    static SYSTEM: OnceLock<Resolver> = OnceLock::new();
    SYSTEM.get_or_init(|| {
        Resolver::new(MAX_LOOKUP_THREADS, |host, port| {
            (host, port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .map_err(|e| e.to_string())
        })
    })
}

impl Resolver {
    fn new(max: usize, lookup_fn: impl Fn(&str, u16) -> Answer + Send + Sync + 'static) -> Self {
        Resolver {
            max,
            lookup_fn: Box::new(lookup_fn),
            running: Mutex::new(Vec::new()),
            freed: Condvar::new(),
        }
    }

    /// How many lookups are running now.
    #[cfg(test)]
    fn running(&self) -> usize {
        lock(&self.running).len()
    }

    /// `host`'s addresses for `port`, or the resolver's reason why not;
    /// `ResolveTimeout` when no answer came before the deadline (or no
    /// lookup could start before it, all being busy).
    fn lookup(
        &'static self,
        host: &str,
        port: u16,
        deadline: Deadline,
    ) -> Result<Answer, ConnectError> {
        let lookup = self.join_or_start(host, port, deadline)?;
        let mut answer = lock(&lookup.answer);
        // Waits in slices of WAKE, to notice Ctrl-C during --repeat.
        loop {
            if let Some(answer) = answer.as_ref() {
                return Ok(answer.clone());
            }
            let left = deadline
                .remaining()
                .map_err(|_| ConnectError::ResolveTimeout)?;
            answer = lookup
                .answered
                .wait_timeout(answer, left.min(WAKE))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The running lookup of `host` and `port`, or a new one once there
    /// is room for it.
    fn join_or_start(
        &'static self,
        host: &str,
        port: u16,
        deadline: Deadline,
    ) -> Result<Arc<Lookup>, ConnectError> {
        let mut running = lock(&self.running);
        loop {
            if let Some(l) = running.iter().find(|l| l.host == host && l.port == port) {
                return Ok(Arc::clone(l));
            }
            // No thread for a caller that would not wait for it.
            let left = deadline
                .remaining()
                .map_err(|_| ConnectError::ResolveTimeout)?;
            if running.len() < self.max {
                let lookup = Arc::new(Lookup {
                    host: host.to_string(),
                    port,
                    answer: Mutex::new(None),
                    answered: Condvar::new(),
                });
                let job = Arc::clone(&lookup);
                let started = std::thread::Builder::new()
                    .name("resolver".into())
                    .spawn(move || self.run(&job));
                return match started {
                    Ok(_) => {
                        running.push(Arc::clone(&lookup));
                        Ok(lookup)
                    }
                    Err(e) => Err(ConnectError::Resolve(format!(
                        "cannot start a thread for the lookup: {e}"
                    ))),
                };
            }
            running = self
                .freed
                .wait_timeout(running, left.min(WAKE))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// A lookup's thread: asks, hands the answer to whoever waits, and
    /// frees its place.
    fn run(&self, lookup: &Arc<Lookup>) {
        let answer = (self.lookup_fn)(&lookup.host, lookup.port);
        // Out of the list first: whoever comes after the answer asks anew.
        let mut running = lock(&self.running);
        running.retain(|l| !Arc::ptr_eq(l, lookup));
        drop(running);
        self.freed.notify_all();
        *lock(&lookup.answer) = Some(answer);
        lookup.answered.notify_all();
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
