//! Name resolution within the check's deadline, limited to the address
//! family `-4`/`-6` asks for, and why no connection could be made.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc;

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
/// timeout, so it runs on a helper thread that we stop waiting for when the
/// deadline passes (the process ends soon after; the thread dies with it).
pub fn resolve(
    host: &str,
    port: u16,
    family: Family,
    deadline: Deadline,
) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        let (tx, rx) = mpsc::channel();
        let name = host.to_string();
        std::thread::spawn(move || {
            let result = (name.as_str(), port)
                .to_socket_addrs()
                .map(Iterator::collect::<Vec<_>>);
            let _ = tx.send(result);
        });
        // Waits in slices of WAKE, to notice Ctrl-C during --repeat.
        let answer = loop {
            let left = deadline
                .remaining()
                .map_err(|_| ConnectError::ResolveTimeout)?;
            match rx.recv_timeout(left.min(WAKE)) {
                Ok(answer) => break answer,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ConnectError::ResolveTimeout);
                }
            }
        };
        match answer {
            Ok(addrs) => addrs,
            Err(e) => return Err(ConnectError::Resolve(e.to_string())),
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
