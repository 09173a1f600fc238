//! `--all-addresses`: does every address present the same certificate?
//! After a renewal one backend of a pool can go on presenting last year's
//! certificate; each address verifies on its own, so only comparing the
//! leaves' fingerprints finds it.

use super::Report;
use super::rounds::address_label;

/// Hex digits of a fingerprint shown in a sentence; the JSON has it all.
const FINGERPRINT_SHOWN: usize = 16;

/// One address's leaf certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressCertificate {
    pub address: String,
    /// SHA-256 of the leaf, hex.
    pub sha256: String,
    pub not_after: Option<String>,
}

/// The leaf of every address whose handshake finished, in report order.
pub fn per_address(reports: &[Report]) -> Vec<AddressCertificate> {
    reports
        .iter()
        .filter_map(|r| {
            let tls = r.tls.as_ref()?;
            let sha256 = tls.session.as_ref()?.leaf_sha256.clone()?;
            Some(AddressCertificate {
                address: address_label(r),
                sha256,
                not_after: tls.not_after.clone(),
            })
        })
        .collect()
}

/// `the addresses present different certificates: 127.0.2.1:993 one
/// expiring 2027-…, 127.0.2.2:993 another expiring 2026-…`; None when
/// they all agree (or fewer than two handshakes finished).
pub fn differences(reports: &[Report]) -> Option<String> {
    let certs = per_address(reports);
    let mut groups: Vec<(&AddressCertificate, Vec<&str>)> = Vec::new();
    for c in &certs {
        match groups
            .iter_mut()
            .find(|(first, _)| first.sha256 == c.sha256)
        {
            Some((_, addrs)) => addrs.push(&c.address),
            None => groups.push((c, vec![&c.address])),
        }
    }
    if groups.len() < 2 {
        return None;
    }
    let same_date = groups
        .windows(2)
        .all(|w| w[0].0.not_after == w[1].0.not_after);
    let parts: Vec<String> = groups
        .iter()
        .map(|(cert, addrs)| {
            let fp: String = cert.sha256.chars().take(FINGERPRINT_SHOWN).collect();
            let until = cert.not_after.as_deref().unwrap_or("an unreadable date");
            let verb = if addrs.len() == 1 {
                "presents"
            } else {
                "present"
            };
            format!(
                "{} {verb} SHA-256 {fp}... (notAfter {until})",
                addrs.join(", ")
            )
        })
        .collect();
    let how = if same_date {
        "the same notAfter, different certificates"
    } else {
        "a different notAfter: one may still present the certificate from before a renewal"
    };
    Some(format!(
        "the addresses present different certificates ({how}): {}",
        parts.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{TlsReport, TlsSession};

    fn with_cert(addr: &str, sha: &str, not_after: &str) -> Report {
        let mut r = super::super::tests::sample();
        r.address = Some(addr.parse().expect("address"));
        r.tls = Some(TlsReport {
            name: "imap.example.org".into(),
            verified: true,
            subject: None,
            issuer: None,
            not_after: Some(not_after.into()),
            not_after_unix: None,
            days_left: None,
            session: Some(TlsSession {
                leaf_sha256: Some(sha.into()),
                ..TlsSession::default()
            }),
        });
        r
    }

    #[test]
    fn different_leaves_are_named_with_their_addresses() {
        let a = with_cert(
            "127.0.2.1:993",
            "AAAA1111AAAA1111AAAA",
            "2027-01-01T00:00:00Z",
        );
        let b = with_cert(
            "127.0.2.2:993",
            "BBBB2222BBBB2222BBBB",
            "2026-01-01T00:00:00Z",
        );
        let c = with_cert(
            "127.0.2.3:993",
            "AAAA1111AAAA1111AAAA",
            "2027-01-01T00:00:00Z",
        );
        assert_eq!(differences(&[a.clone(), c.clone()]), None);
        let said = differences(&[a, b, c]).expect("a difference");
        assert!(said.contains("a different notAfter"), "{said}");
        assert!(
            said.contains("127.0.2.1:993, 127.0.2.3:993 present SHA-256 AAAA1111AAAA1111... (notAfter 2027-01-01T00:00:00Z)"),
            "{said}"
        );
        assert!(
            said.contains("127.0.2.2:993 presents SHA-256 BBBB2222BBBB2222..."),
            "{said}"
        );
    }

    #[test]
    fn a_round_whose_addresses_differ_warns() {
        use crate::report::{Round, Verdict};
        let a = with_cert("127.0.2.1:993", "AAAA", "2027-01-01T00:00:00Z");
        let b = with_cert("127.0.2.2:993", "BBBB", "2027-01-01T00:00:00Z");
        assert_eq!(a.verdict(), Verdict::Ok);
        let mut round = Round {
            host: "imap.example.org".into(),
            port: 993,
            security: crate::cli::Security::Tls,
            elapsed: std::time::Duration::ZERO,
            reports: vec![a, b],
            all_addresses: true,
            left_out: 0,
        };
        assert_eq!(round.verdict(), Verdict::Warning);
        assert!(
            round
                .summary()
                .contains("the same notAfter, different certificates")
        );
        round.all_addresses = false;
        assert_eq!(round.verdict(), Verdict::Ok);
    }
}
