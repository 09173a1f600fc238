//! The resolver's bound, with a stand-in lookup that blocks until a test
//! lets it answer: callers of one name share one lookup, a caller whose
//! deadline passed leaves no thread behind for the next, and no more than
//! the bound run at once however many callers ask from however many
//! threads.

use super::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A stand-in DNS: each lookup counts itself and blocks until its name
/// is released (`release`), then answers 127.0.0.1.
struct StuckDns {
    started: AtomicUsize,
    released: Mutex<HashMap<String, bool>>,
    changed: Condvar,
}

impl StuckDns {
    fn new() -> &'static StuckDns {
        Box::leak(Box::new(StuckDns {
            started: AtomicUsize::new(0),
            released: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        }))
    }

    fn answer(&self, host: &str, port: u16) -> Answer {
        self.started.fetch_add(1, Ordering::SeqCst);
        let mut released = lock(&self.released);
        while !released.get(host).copied().unwrap_or(false) {
            released = self
                .changed
                .wait(released)
                .unwrap_or_else(PoisonError::into_inner);
        }
        Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
    }

    fn release(&self, host: &str) {
        lock(&self.released).insert(host.to_string(), true);
        self.changed.notify_all();
    }

    fn started(&self) -> usize {
        self.started.load(Ordering::SeqCst)
    }
}

/// A resolver of at most `max` lookups over `dns`, for the test's life.
fn resolver(max: usize, dns: &'static StuckDns) -> &'static Resolver {
    Box::leak(Box::new(Resolver::new(max, move |h, p| dns.answer(h, p))))
}

fn soon() -> Deadline {
    Deadline::after(Duration::from_millis(30))
}

/// Waits until `cond` holds, for at most two seconds.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(2);
    while !cond() {
        assert!(Instant::now() < until, "never: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_stuck_lookup_is_shared_not_started_again() {
    let dns = StuckDns::new();
    let r = resolver(4, dns);
    // Caller after caller gives up at its deadline; one lookup serves all.
    for _ in 0..20 {
        assert!(matches!(
            r.lookup("dead.test", 993, soon()),
            Err(ConnectError::ResolveTimeout)
        ));
    }
    assert_eq!(dns.started(), 1);
    assert_eq!(r.running(), 1);
    // Once it answers, a waiting caller gets the answer, and the place is free.
    let waiter = std::thread::spawn(move || {
        r.lookup("dead.test", 993, Deadline::after(Duration::from_secs(5)))
    });
    std::thread::sleep(Duration::from_millis(20));
    dns.release("dead.test");
    let answer = waiter.join().expect("no panic");
    assert!(
        matches!(answer, Ok(Ok(ref a)) if a.len() == 1),
        "{answer:?}"
    );
    eventually("the lookup's place is freed", || r.running() == 0);
    assert_eq!(dns.started(), 1);
    // Nothing is cached: the next caller asks anew.
    assert!(matches!(r.lookup("dead.test", 993, soon()), Ok(Ok(_))));
    assert_eq!(dns.started(), 2);
}

#[test]
fn other_ports_and_names_are_other_lookups_up_to_the_bound() {
    let dns = StuckDns::new();
    let r = resolver(3, dns);
    for (host, port) in [("a.test", 1), ("a.test", 2), ("b.test", 1)] {
        assert!(r.lookup(host, port, soon()).is_err());
    }
    assert_eq!((dns.started(), r.running()), (3, 3));
    // Full: a fourth name waits for a place until its deadline, and no
    // thread is started for it.
    let t = Instant::now();
    assert!(matches!(
        r.lookup("c.test", 1, Deadline::after(Duration::from_millis(150))),
        Err(ConnectError::ResolveTimeout)
    ));
    assert!(
        t.elapsed() >= Duration::from_millis(140),
        "{:?}",
        t.elapsed()
    );
    assert_eq!((dns.started(), r.running()), (3, 3));
    // A place freed while it waits is taken at once.
    let waiter =
        std::thread::spawn(move || r.lookup("c.test", 1, Deadline::after(Duration::from_secs(5))));
    std::thread::sleep(Duration::from_millis(30));
    dns.release("b.test");
    eventually("c.test's lookup starts", || dns.started() == 4);
    dns.release("c.test");
    assert!(matches!(waiter.join().expect("no panic"), Ok(Ok(_))));
    dns.release("a.test");
    eventually("every place is freed", || r.running() == 0);
}

#[test]
fn many_threads_asking_at_once_never_pass_the_bound() {
    let dns = StuckDns::new();
    let r = resolver(MAX_LOOKUP_THREADS, dns);
    let callers: Vec<_> = (0..64)
        .map(|i| {
            std::thread::spawn(move || {
                let host = format!("host{}.test", i % 20);
                for _ in 0..5 {
                    let _ = r.lookup(&host, 993, soon());
                    assert!(r.running() <= MAX_LOOKUP_THREADS);
                }
            })
        })
        .collect();
    for c in callers {
        c.join().expect("no caller panics");
    }
    assert!(dns.started() <= MAX_LOOKUP_THREADS, "{}", dns.started());
    assert_eq!(r.running(), MAX_LOOKUP_THREADS);
    for i in 0..20 {
        dns.release(&format!("host{i}.test"));
    }
    eventually("every place is freed", || r.running() == 0);
}

#[test]
fn an_ip_address_needs_no_lookup_and_a_deadline_already_passed_starts_none() {
    let passed = Deadline::after(Duration::ZERO);
    assert_eq!(
        resolve("127.0.0.1", 7, Family::Any, passed).ok(),
        Some(vec![SocketAddr::from(([127, 0, 0, 1], 7))])
    );
    let dns = StuckDns::new();
    let r = resolver(2, dns);
    for _ in 0..3 {
        assert!(matches!(
            r.lookup("x.test", 1, passed),
            Err(ConnectError::ResolveTimeout)
        ));
    }
    assert_eq!((dns.started(), r.running()), (0, 0));
}
