// The connect of RFC 8305 (Happy Eyeballs) against addresses that drop
// SYNs, refuse, or answer: a host name is given several loopback addresses
// through a private /etc/hosts (`Case::hosts`, run as root in a mount
// namespace), and the connect step must reach the live one within about
// the attempt delay (250 ms) per dead address before it, naming the ones
// it gave up on.
//
// A dead address: a listener with backlog 0 that never accepts, whose
// accept queue the test fills first; Linux then drops further SYNs, so a
// connect there gets no answer at all, as behind a firewall that drops.

use super::*;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;

/// The name the private /etc/hosts gives the addresses.
const NAME: &str = "eyeballs.test";

// glibc sorts a name's addresses (RFC 6724). Among IPv4 addresses rule 9
// prefers the longest prefix shared with the source, 127.0.0.1: 127.0.0.2
// and .3 tie (30 bits), so /etc/hosts's order stands, while .5 would come
// after .3. Each test asserts the resolver's order it builds on (-v note).

/// A listener that drops SYNs (see the file's comment), while it lives.
struct BlackHole {
    _listener: TcpListener,
    _queued: Vec<TcpStream>,
}

/// A black hole on `addr`, or None when that port is taken there.
fn black_hole(addr: SocketAddr) -> Option<BlackHole> {
    let listener = TcpListener::bind(addr).ok()?;
    // SAFETY: the descriptor is the listener's, open while it lives; a
    // second listen() only changes the backlog.
    assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
    let mut queued = Vec::new();
    // Connect until one gets no answer: the queue is full.
    for _ in 0..4 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            Ok(s) => queued.push(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Some(BlackHole {
                    _listener: listener,
                    _queued: queued,
                });
            }
            Err(e) => panic!("filling the queue of {addr}: {e}"),
        }
    }
    panic!("{addr} still accepted connections after 4: not a black hole");
}

/// A port on which `live` is free and every one of `dead` is a black
/// hole (all addresses of a name share the check's port).
fn port_with_black_holes(live: &str, dead: &[&str]) -> (u16, Vec<BlackHole>) {
    for _ in 0..20 {
        let probe = TcpListener::bind(format!("{live}:0")).expect("binding a probe");
        let port = probe.local_addr().expect("local_addr").port();
        let holes: Option<Vec<BlackHole>> = dead
            .iter()
            .map(|ip| {
                let ip: std::net::IpAddr = ip.parse().expect("test address");
                black_hole(SocketAddr::new(ip, port))
            })
            .collect();
        if let Some(holes) = holes {
            return (port, holes);
        }
    }
    panic!("no port free on {live} and {dead:?} after 20 tries");
}

/// A server that refuses cleartext logins (so the check is OK in
/// `--security none`) and is logged out of.
fn greeting_and_logout() -> Vec<Step> {
    vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] ready\r\n".into()),
        Step::Expect("LOGOUT".into()),
        Step::Send("* BYE bye\r\n{tag} OK done\r\n".into()),
        Step::ExpectEof,
    ]
}

/// `--security none` against NAME on `port`, with the given /etc/hosts,
/// the server on `live`, `-v` for the resolver's order.
fn check_name(hosts: &str, live: &str, port: u16) -> Checked {
    Case::cleartext(greeting_and_logout())
        .anonymous()
        .hosts(hosts)
        .host(NAME)
        .listen(format!("{live}:{port}"))
        .args(&["-v"])
        .json()
}

/// The connect step's time in milliseconds.
fn connect_ms(c: &Checked) -> f64 {
    c.step("connect")["elapsed_ms"]
        .as_f64()
        .expect("elapsed_ms is a number")
}

/// The addresses NAME resolved to, in the resolver's order (-v note).
fn resolved(c: &Checked) -> String {
    let head = format!("-- {NAME} resolves to ");
    c.r.stderr
        .lines()
        .find_map(|l| l.strip_prefix(&head))
        .unwrap_or_else(|| panic!("no resolution note\n{}", c.ctx))
        .to_string()
}

#[test]
fn a_dead_first_address_costs_about_the_attempt_delay() {
    let (port, _holes) = port_with_black_holes("127.0.0.3", &["127.0.0.2"]);
    let c = check_name(
        &format!("127.0.0.2 {NAME}\n127.0.0.3 {NAME}\n"),
        "127.0.0.3",
        port,
    );
    assert_eq!(
        resolved(&c),
        format!("127.0.0.2:{port}, 127.0.0.3:{port}"),
        "{}",
        c.ctx
    );
    c.exit(0);
    assert_eq!(c.v["address"], format!("127.0.0.3:{port}"), "{}", c.ctx);
    c.detail_starts_with(
        "connect",
        &format!("127.0.0.3:{port}; also tried 127.0.0.2:{port} (abandoned after 2"),
    );
    c.detail_ends_with("connect", " ms: no answer)");
    let ms = connect_ms(&c);
    assert!(
        (240.0..2000.0).contains(&ms),
        "connect took {ms} ms\n{}",
        c.ctx
    );
}

#[test]
fn a_refused_first_address_moves_on_at_once() {
    // Nothing listens on 127.0.0.2 at the port: refused at once.
    let (port, _none) = port_with_black_holes("127.0.0.3", &[]);
    let c = check_name(
        &format!("127.0.0.2 {NAME}\n127.0.0.3 {NAME}\n"),
        "127.0.0.3",
        port,
    );
    c.exit(0);
    assert_eq!(
        c.detail("connect"),
        format!("127.0.0.3:{port}; also tried 127.0.0.2:{port} (connection refused)"),
        "{}",
        c.ctx
    );
    let ms = connect_ms(&c);
    assert!(ms < 200.0, "connect took {ms} ms: it waited\n{}", c.ctx);
}

#[test]
fn only_a_dead_address_fails_by_the_deadline_naming_it() {
    let (port, _holes) = port_with_black_holes("127.0.0.1", &["127.0.0.2"]);
    let p = port.to_string();
    let args = [
        "127.0.0.2",
        "--security",
        "none",
        "-p",
        &p,
        "-t",
        "1",
        "--format",
        "json",
    ];
    let (r, v) = run_json(&args, &[], None);
    let ctx = format!("{r:?}");
    assert_failed_at(&r, &v, "connect", &ctx);
    assert_eq!(error_text(&v, "message"), "no answer before the deadline");
    assert_eq!(
        error_text(&v, "got"),
        format!("127.0.0.2:{port} (no answer before the deadline)")
    );
    assert!(
        r.elapsed >= Duration::from_millis(950) && r.elapsed < Duration::from_secs(3),
        "{ctx}"
    );
}

#[test]
fn families_are_interleaved_and_dead_ones_abandoned_in_turn() {
    // ::1 and the IPv4-mapped ::ffff:127.0.0.4 are IPv6, the others IPv4.
    // glibc sorts ::1 first (RFC 6724) and the mapped address last; the
    // race alternates families: ::1, 127.0.0.2, ::ffff:127.0.0.4, then
    // the live 127.0.0.3 (which in the resolver's order came third).
    let (port, _holes) = port_with_black_holes("127.0.0.3", &["::1", "127.0.0.2", "127.0.0.4"]);
    let c = check_name(
        &format!("127.0.0.2 {NAME}\n127.0.0.3 {NAME}\n::ffff:127.0.0.4 {NAME}\n::1 {NAME}\n"),
        "127.0.0.3",
        port,
    );
    assert_eq!(
        resolved(&c),
        format!("[::1]:{port}, 127.0.0.2:{port}, 127.0.0.3:{port}, [::ffff:127.0.0.4]:{port}"),
        "{}",
        c.ctx
    );
    c.exit(0);
    let detail = c.detail("connect");
    let tried: Vec<&str> = detail
        .split(", ")
        .map(|a| a.split(" (abandoned after ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        tried,
        [
            format!("127.0.0.3:{port}; also tried [::1]:{port}"),
            format!("127.0.0.2:{port}"),
            format!("[::ffff:127.0.0.4]:{port}"),
        ],
        "{}",
        c.ctx
    );
    let ms = connect_ms(&c);
    assert!(
        (740.0..3000.0).contains(&ms),
        "connect took {ms} ms\n{}",
        c.ctx
    );
}
