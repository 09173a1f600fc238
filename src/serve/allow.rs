//! `--allow-target`: which targets a module may probe, decided before any
//! connection. This is what keeps `/probe` from sending a module's password
//! to a host of the caller's choosing: a target given as an address must
//! fall in an address pattern; a name must match a name pattern (or, with
//! no name patterns, is judged by its addresses alone); and when there are
//! address patterns, every address the name resolves to must fall in them.

use std::net::IpAddr;

/// One `--allow-target` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// A host name, matched without regard to case (and a trailing dot).
    Name(String),
    /// `*.example.org`: names ending in `.example.org`, not the name itself.
    Suffix(String),
    /// An address or a CIDR range: the address and the prefix length.
    Net(IpAddr, u8),
}

impl Pattern {
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let bad = || {
            format!(
                "--allow-target takes a host name, *.domain, an address or a CIDR range, not '{}'",
                text.escape_default()
            )
        };
        if let Some((addr, len)) = text.split_once('/') {
            let ip: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let len: u8 = len.parse().ok().filter(|&l| l <= max).ok_or_else(bad)?;
            return Ok(Pattern::Net(ip, len));
        }
        if let Ok(ip) = text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Pattern::Net(ip, if ip.is_ipv4() { 32 } else { 128 }));
        }
        let (suffix, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let name = normalize(name);
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if name.is_empty() || !name.split('.').all(label_ok) {
            return Err(bad());
        }
        Ok(if suffix {
            Pattern::Suffix(name)
        } else {
            Pattern::Name(name)
        })
    }
}

fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    // An IPv4-mapped IPv6 address is the IPv4 address it maps.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A module's allow-list.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    pub patterns: Vec<Pattern>,
}

/// What the allow-list says about a target before its name is resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Allowed if every address the name resolves to is in an address
    /// pattern (`addresses_allowed`).
    ResolveFirst,
    Refused(String),
}

impl AllowList {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    fn has_names(&self) -> bool {
        self.patterns.iter().any(|p| !matches!(p, Pattern::Net(..)))
    }

    fn has_nets(&self) -> bool {
        self.patterns.iter().any(|p| matches!(p, Pattern::Net(..)))
    }

    /// The first step: `host` as given in the target (an address, or a name).
    pub fn judge(&self, host: &str) -> Verdict {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return if self.addresses_allowed(&[ip]) {
                Verdict::Allowed
            } else {
                Verdict::Refused(format!(
                    "{host} is in no address range of the module's --allow-target"
                ))
            };
        }
        let name = normalize(host);
        if self.has_names() {
            let matched = self.patterns.iter().any(|p| match p {
                Pattern::Name(n) => *n == name,
                Pattern::Suffix(s) => {
                    name.len() > s.len() + 1
                        && name.ends_with(s.as_str())
                        && name.as_bytes()[name.len() - s.len() - 1] == b'.'
                }
                Pattern::Net(..) => false,
            });
            if !matched {
                return Verdict::Refused(format!(
                    "{host} matches no name of the module's --allow-target"
                ));
            }
        }
        if self.has_nets() {
            Verdict::ResolveFirst
        } else if self.has_names() {
            Verdict::Allowed
        } else {
            Verdict::Refused("the module sends credentials and has no --allow-target".into())
        }
    }

    /// Every one of `addrs` falls in an address pattern.
    pub fn addresses_allowed(&self, addrs: &[IpAddr]) -> bool {
        !addrs.is_empty()
            && addrs.iter().all(|&a| {
                self.patterns
                    .iter()
                    .any(|p| matches!(*p, Pattern::Net(n, len) if in_net(a, n, len)))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(patterns: &[&str]) -> AllowList {
        AllowList {
            patterns: patterns
                .iter()
                .map(|p| Pattern::parse(p).expect(p))
                .collect(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect(s)
    }

    #[test]
    fn patterns_parse() {
        assert_eq!(
            Pattern::parse("Mail.Example.org."),
            Ok(Pattern::Name("mail.example.org".into()))
        );
        assert_eq!(
            Pattern::parse("*.example.org"),
            Ok(Pattern::Suffix("example.org".into()))
        );
        assert_eq!(
            Pattern::parse("10.0.0.0/8"),
            Ok(Pattern::Net(ip("10.0.0.0"), 8))
        );
        assert_eq!(Pattern::parse("::1"), Ok(Pattern::Net(ip("::1"), 128)));
        assert_eq!(Pattern::parse("[::1]"), Ok(Pattern::Net(ip("::1"), 128)));
        for bad in [
            "",
            "*",
            "*.",
            "a..b",
            "10.0.0.0/33",
            "::/129",
            "a b",
            "x/8",
            "*.*.org",
            "a/b/c",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_and_suffixes() {
        let l = list(&["mail.example.org", "*.example.net"]);
        assert_eq!(l.judge("MAIL.example.org"), Verdict::Allowed);
        assert_eq!(l.judge("a.b.example.net"), Verdict::Allowed);
        assert!(matches!(l.judge("example.net"), Verdict::Refused(_)));
        assert!(matches!(l.judge("evilexample.net"), Verdict::Refused(_)));
        assert!(matches!(l.judge("other.example.org"), Verdict::Refused(_)));
        // An address needs an address pattern, even if a name would match.
        assert!(matches!(l.judge("127.0.0.1"), Verdict::Refused(_)));
    }

    #[test]
    fn addresses_and_names_resolved() {
        let l = list(&["127.0.0.0/8", "::1"]);
        assert_eq!(l.judge("127.1.2.3"), Verdict::Allowed);
        assert_eq!(l.judge("::1"), Verdict::Allowed);
        assert!(matches!(l.judge("128.0.0.1"), Verdict::Refused(_)));
        assert!(matches!(l.judge("::2"), Verdict::Refused(_)));
        assert_eq!(l.judge("localhost"), Verdict::ResolveFirst);
        assert!(l.addresses_allowed(&[ip("127.0.0.1"), ip("::1"), ip("::ffff:127.0.0.9")]));
        // Every address, not just one: an allowed name pointing elsewhere.
        assert!(!l.addresses_allowed(&[ip("127.0.0.1"), ip("192.0.2.1")]));
        assert!(!l.addresses_allowed(&[]));
        let both = list(&["mail.example.org", "192.0.2.0/24"]);
        assert_eq!(both.judge("mail.example.org"), Verdict::ResolveFirst);
        assert!(matches!(
            both.judge("other.example.org"),
            Verdict::Refused(_)
        ));
        assert!(list(&["0.0.0.0/0"]).addresses_allowed(&[ip("203.0.113.5")]));
    }

    #[test]
    fn empty_list_refuses() {
        assert!(matches!(
            AllowList::default().judge("localhost"),
            Verdict::Refused(_)
        ));
        assert!(matches!(
            AllowList::default().judge("127.0.0.1"),
            Verdict::Refused(_)
        ));
    }
}
