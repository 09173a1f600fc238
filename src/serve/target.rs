//! The `target` parameter of `/probe`: a name or an address, with or
//! without a port, an IPv6 address in brackets when a port follows. Only
//! the framing is judged here; whether the module may probe the target
//! is the allow-list's question (allow.rs).

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
pub fn split_target(target: &str) -> Result<(String, Option<u16>), String> {
    let bad = || {
        format!(
            "target '{}' is not host[:port] or [address]:port",
            target.escape_default()
        )
    };
    let port = |p: &str| -> Result<Option<u16>, String> {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(n)),
            _ => Err(bad()),
        }
    };
    if let Some(rest) = target.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        return match after {
            "" => Ok((host.to_string(), None)),
            _ => Ok((
                host.to_string(),
                port(after.strip_prefix(':').ok_or_else(bad)?)?,
            )),
        };
    }
    if target.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok((target.to_string(), None));
    }
    let (host, p) = match target.rsplit_once(':') {
        Some((h, p)) => (h, port(p)?),
        None => (target, None),
    };
    if host.is_empty() || host.contains(':') {
        return Err(bad());
    }
    Ok((host.to_string(), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ok = |t: &str| split_target(t).expect(t);
        assert_eq!(ok("mail.example.org"), ("mail.example.org".into(), None));
        assert_eq!(ok("mail:993"), ("mail".into(), Some(993)));
        assert_eq!(ok("[::1]:143"), ("::1".into(), Some(143)));
        assert_eq!(ok("[::1]"), ("::1".into(), None));
        assert_eq!(ok("::1"), ("::1".into(), None));
        assert_eq!(ok("127.0.0.1:10143"), ("127.0.0.1".into(), Some(10143)));
        for bad in [
            "", ":143", "h:", "h:0", "h:65536", "h:+1", "[::1]x", "[h]:1", "[::1", "a:b:c",
        ] {
            assert!(split_target(bad).is_err(), "{bad:?} accepted");
        }
    }
}
