//! The TCP connect, after RFC 8305 (Happy Eyeballs): the addresses of a
//! name are tried interleaved by family, a new attempt starts in parallel
//! whenever the last one has had no answer for ATTEMPT_DELAY (or at once
//! when one fails), and the first connection to complete wins. A dead
//! address (one that drops SYNs, broken IPv6) so costs a quarter of a
//! second instead of the whole deadline.
//!
//! Each attempt is a blocking `connect_timeout` on a thread of its own,
//! bounded by the check's deadline, that sends its result over a channel.
//! The losers' connections are closed: a result that arrives after the
//! winner is dropped with the channel, or by its thread when the channel
//! is gone. An attempt still waiting for an answer keeps its half-open
//! socket until the kernel gives up or the deadline passes; it is never
//! used.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{Deadline, WAKE, describe_io, timeout_kind};

/// How long an attempt may go unanswered before the next one starts
/// beside it: RFC 8305's recommended Connection Attempt Delay. On a
/// working path a TCP handshake takes one round trip, far less than this
/// almost everywhere, so a healthy first address nearly always wins alone;
/// a dead one costs this much.
pub const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// At most this many addresses are tried (so at most this many connect
/// threads): with ATTEMPT_DELAY between them the last starts after 1.75 s,
/// and a name with more addresses than this is a pool whose first few
/// tell enough.
pub const MAX_ADDRESSES: usize = 8;

/// What became of one address.
#[derive(Debug)]
pub enum Outcome {
    /// The attempt failed: refused, unreachable, or no answer before the
    /// deadline (`TimedOut`).
    Failed(io::Error),
    /// Still unanswered after this long, when another address connected:
    /// given up.
    Abandoned(Duration),
    /// Never started: another address connected first, the deadline
    /// passed, or it was beyond MAX_ADDRESSES.
    NotTried,
}

/// One address and what became of it.
#[derive(Debug)]
pub struct Attempt {
    pub addr: SocketAddr,
    pub outcome: Outcome,
}

impl Attempt {
    /// Whether the address was really tried (failed or abandoned).
    pub fn tried(&self) -> bool {
        !matches!(self.outcome, Outcome::NotTried)
    }
}

impl fmt::Display for Attempt {
    /// `127.0.0.2:993 (abandoned after 250 ms: no answer)`,
    /// `[::1]:993 (connection refused)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addr = self.addr;
        match &self.outcome {
            Outcome::Failed(e) if e.kind() == io::ErrorKind::TimedOut => {
                write!(f, "{addr} (no answer before the deadline)")
            }
            Outcome::Failed(e) => write!(f, "{addr} ({})", describe_io(e)),
            Outcome::Abandoned(after) => write!(
                f,
                "{addr} (abandoned after {} ms: no answer)",
                after.as_millis()
            ),
            Outcome::NotTried => write!(f, "{addr} (not tried)"),
        }
    }
}

/// The order of RFC 8305 section 4: the family of the first address
/// first, then alternating between the families, each family in the
/// resolver's order (which already sorted them, RFC 6724). Duplicates go.
pub fn interleave(addrs: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return Vec::new();
    };
    let mut unique: Vec<SocketAddr> = Vec::with_capacity(addrs.len());
    for a in addrs {
        if !unique.contains(a) {
            unique.push(*a);
        }
    }
    let (mut lead, mut other): (VecDeque<_>, VecDeque<_>) = unique
        .into_iter()
        .partition(|a| a.is_ipv6() == first.is_ipv6());
    let mut order = Vec::with_capacity(lead.len() + other.len());
    loop {
        match (lead.pop_front(), other.pop_front()) {
            (None, None) => return order,
            (a, b) => order.extend(a.into_iter().chain(b)),
        }
    }
}

/// Where one address stands while the race runs.
enum State {
    Waiting,
    Running(Instant),
    Done(Outcome),
}

/// The winning connection, its address, and what became of the others
/// (in the order tried).
pub struct Won {
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    pub others: Vec<Attempt>,
}

type Report = (usize, io::Result<TcpStream>);

/// Starts the attempt at `addr` on a thread of its own, which reports as
/// `index`. A connection that completes after the race is over finds the
/// channel gone and is dropped, which closes it.
fn start(index: usize, addr: SocketAddr, left: Duration, tx: &mpsc::Sender<Report>) -> State {
    let tx = tx.clone();
    let spawned = thread::Builder::new()
        .name(format!("connect {addr}"))
        .spawn(move || {
            let result = TcpStream::connect_timeout(&addr, left).map_err(timeout_kind);
            let _ = tx.send((index, result));
        });
    match spawned {
        Ok(_) => State::Running(Instant::now()),
        Err(e) => State::Done(Outcome::Failed(e)),
    }
}

/// Races the addresses (see the module comment). On failure, every
/// address with what became of it.
pub fn race(addrs: &[SocketAddr], deadline: Deadline) -> Result<Won, Vec<Attempt>> {
    let order = interleave(addrs);
    let mut states: Vec<State> = order.iter().map(|_| State::Waiting).collect();
    let tried = order.len().min(MAX_ADDRESSES);
    let (tx, rx) = mpsc::channel::<Report>();
    let mut next = 0;
    let mut running = 0;
    // When the latest attempt started; None: the next may start at once.
    let mut last_start: Option<Instant> = None;
    let mut winner: Option<(usize, TcpStream)> = None;
    while let Ok(left) = deadline.remaining() {
        let due = last_start.is_none_or(|t| t.elapsed() >= ATTEMPT_DELAY);
        if next < tried && (running == 0 || due) {
            states[next] = start(next, order[next], left, &tx);
            if matches!(states[next], State::Running(_)) {
                running += 1;
                last_start = Some(Instant::now());
            }
            next += 1;
            continue;
        }
        if running == 0 {
            break;
        }
        let wait = match last_start {
            Some(t) if next < tried => ATTEMPT_DELAY.saturating_sub(t.elapsed()).min(left),
            _ => left,
        }
        .min(WAKE);
        match rx.recv_timeout(wait) {
            Ok((i, Ok(tcp))) => {
                winner = Some((i, tcp));
                break;
            }
            Ok((i, Err(e))) => {
                states[i] = State::Done(Outcome::Failed(e));
                running -= 1;
                // A fast failure (refused) moves on without waiting.
                last_start = None;
            }
            Err(_) => {}
        }
    }
    // Dropping the receiver closes any connection that completed too late.
    drop(rx);
    let now = Instant::now();
    let won_at = winner.as_ref().map(|(i, _)| *i);
    let peer = won_at.map(|i| order[i]);
    let attempts = order.into_iter().zip(states).enumerate();
    let others = attempts
        .filter(|(i, _)| Some(*i) != won_at)
        .map(|(_, (addr, state))| Attempt {
            addr,
            outcome: match state {
                State::Waiting => Outcome::NotTried,
                State::Running(t) if winner.is_some() => Outcome::Abandoned(now - t),
                State::Running(_) => Outcome::Failed(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no answer before the deadline",
                )),
                State::Done(outcome) => outcome,
            },
        })
        .collect();
    match (winner, peer) {
        (Some((_, tcp)), Some(peer)) => Ok(Won { tcp, peer, others }),
        _ => Err(others),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter()
            .map(|a| a.parse().expect("test address"))
            .collect()
    }

    #[test]
    fn interleaving_starts_with_the_first_family_and_alternates() {
        for (resolved, want) in [
            (vec![], vec![]),
            (vec!["[::1]:1"], vec!["[::1]:1"]),
            (
                vec!["[::1]:1", "[::2]:1", "[::3]:1", "10.0.0.1:1", "10.0.0.2:1"],
                vec!["[::1]:1", "10.0.0.1:1", "[::2]:1", "10.0.0.2:1", "[::3]:1"],
            ),
            (
                vec!["10.0.0.1:1", "10.0.0.2:1", "[::1]:1", "[::2]:1"],
                vec!["10.0.0.1:1", "[::1]:1", "10.0.0.2:1", "[::2]:1"],
            ),
            // Each family keeps the resolver's order, wherever it stood.
            (
                vec!["[::1]:1", "10.0.0.2:1", "10.0.0.1:1", "[::2]:1"],
                vec!["[::1]:1", "10.0.0.2:1", "[::2]:1", "10.0.0.1:1"],
            ),
            // One family only: unchanged; duplicates go.
            (
                vec!["10.0.0.3:1", "10.0.0.1:1", "10.0.0.3:1", "10.0.0.2:1"],
                vec!["10.0.0.3:1", "10.0.0.1:1", "10.0.0.2:1"],
            ),
        ] {
            assert_eq!(interleave(&addrs(&resolved)), addrs(&want), "{resolved:?}");
        }
    }

    fn refused_addr() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("local_addr")
    }

    /// A loopback address that drops SYNs: a listener with backlog 0 that
    /// never accepts, its queue filled by the returned connection.
    fn black_hole() -> (TcpListener, TcpStream, SocketAddr) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        // SAFETY: the descriptor is the listener's, open while `l` lives.
        assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 0) }, 0);
        let addr = l.local_addr().expect("local_addr");
        let filler = TcpStream::connect(addr).expect("filling the queue");
        (l, filler, addr)
    }

    #[test]
    fn a_refused_address_moves_on_at_once() {
        let live = TcpListener::bind("127.0.0.1:0").expect("bind");
        let list = [refused_addr(), live.local_addr().expect("local_addr")];
        let t = Instant::now();
        let won = race(&list, Deadline::after(Duration::from_secs(5))).expect("connects");
        assert!(t.elapsed() < ATTEMPT_DELAY / 2, "{:?}", t.elapsed());
        assert_eq!(won.peer, list[1]);
        assert!(
            matches!(&won.others[..], [Attempt { outcome: Outcome::Failed(e), .. }]
                if e.kind() == io::ErrorKind::ConnectionRefused),
            "{:?}",
            won.others
        );
    }

    #[test]
    fn a_dead_address_is_abandoned_after_the_attempt_delay() {
        let (_hole, _filler, dead) = black_hole();
        let live = TcpListener::bind("127.0.0.1:0").expect("bind");
        let list = [dead, live.local_addr().expect("local_addr")];
        let t = Instant::now();
        let won = race(&list, Deadline::after(Duration::from_secs(5))).expect("connects");
        let took = t.elapsed();
        assert!(
            took >= ATTEMPT_DELAY && took < 4 * ATTEMPT_DELAY,
            "{took:?}"
        );
        assert_eq!(won.peer, list[1]);
        let [abandoned] = &won.others[..] else {
            panic!("{:?}", won.others)
        };
        assert!(matches!(abandoned.outcome, Outcome::Abandoned(d) if d >= ATTEMPT_DELAY));
        let shown = abandoned.to_string();
        assert!(
            shown.starts_with(&format!("{dead} (abandoned after 25")),
            "{shown}"
        );
    }

    #[test]
    fn only_dead_addresses_fail_by_the_deadline() {
        let (_hole, _filler, dead) = black_hole();
        let never = refused_addr();
        let t = Instant::now();
        let Err(attempts) = race(&[dead, never], Deadline::after(Duration::from_millis(600)))
        else {
            panic!("connected to a black hole")
        };
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(590) && took < Duration::from_secs(2));
        let shown: Vec<String> = attempts.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                format!("{dead} (no answer before the deadline)"),
                format!("{never} (connection refused)")
            ]
        );
    }

    #[test]
    fn at_most_max_addresses_are_tried() {
        // Distinct refused addresses: as many loopback ports as needed.
        let list: Vec<SocketAddr> = (0..MAX_ADDRESSES + 2).map(|_| refused_addr()).collect();
        let Err(attempts) = race(&list, Deadline::after(Duration::from_secs(5))) else {
            panic!("connected to a closed port")
        };
        let tried = attempts.iter().filter(|a| a.tried()).count();
        assert_eq!(tried, MAX_ADDRESSES, "{attempts:?}");
        assert_eq!(attempts.len(), MAX_ADDRESSES + 2);
        assert_eq!(
            attempts[MAX_ADDRESSES].to_string(),
            format!("{} (not tried)", list[MAX_ADDRESSES])
        );
    }

    #[test]
    fn a_connection_completed_after_the_race_is_closed_not_kept() {
        let (hole, filler, dead) = black_hole();
        let live = TcpListener::bind("127.0.0.1:0").expect("bind");
        let list = [dead, live.local_addr().expect("local_addr")];
        let won = race(&list, Deadline::after(Duration::from_secs(5))).expect("connects");
        assert_eq!(won.peer, list[1]);
        // Make room in the dead address's queue: the abandoned attempt's
        // SYN, sent again after about a second, now completes.
        let (queued, _) = hole.accept().expect("the filler");
        drop((queued, filler));
        hole.set_nonblocking(true).expect("nonblocking");
        let until = Instant::now() + Duration::from_secs(4);
        let mut late = loop {
            match hole.accept() {
                Ok((late, _)) => break late,
                Err(_) if Instant::now() < until => thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("the abandoned attempt never completed: {e}"),
            }
        };
        // Its thread found the race over and dropped it: end of stream.
        late.set_nonblocking(false).expect("blocking");
        late.set_read_timeout(Some(Duration::from_secs(2)))
            .expect("timeout");
        let mut buf = [0u8; 1];
        assert_eq!(
            io::Read::read(&mut late, &mut buf).expect("EOF, not a timeout"),
            0
        );
    }
}
