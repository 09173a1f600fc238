//! The certificate chain as the server sent it, read against the path
//! OpenSSL verified: does it reach a trusted root by itself, which issuer
//! is missing, is it in order, what is sent that is no part of the path.
//! A missing intermediate is the most common TLS fault of mail servers,
//! and the local store hides it when it happens to hold the intermediate.

use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::x509::{X509, X509Ref, X509VerifyResult};

/// Characters of a subject or issuer kept in the report: enough for a CN
/// and an O, short enough for one line of text detail.
const NAME_KEPT: usize = 80;

/// One certificate as sent.
#[derive(Debug, Clone)]
pub struct SentCert {
    pub subject: String,
    pub issuer: String,
}

/// What the chain as sent says.
#[derive(Debug, Clone, Default)]
pub struct Chain {
    /// In the order sent; the leaf first.
    pub sent: Vec<SentCert>,
    /// Whether every certificate of the verified path but its trust anchor
    /// was sent; None when nothing verified (no path to compare with).
    pub complete: Option<bool>,
    /// Path certificates the server did not send but the local store
    /// supplied (subjects): other clients will lack them.
    pub from_store: Vec<String>,
    /// Verification failed because the last certificate sent names an
    /// issuer nobody has: that issuer's name and its caIssuers URL.
    pub missing_issuer: Option<(String, Option<String>)>,
    /// The path's certificates were sent, but not leaf-first up to the root.
    pub wrong_order: bool,
    /// Sent, but no part of the path (subjects).
    pub extra: Vec<String>,
    /// A self-signed root was sent (its subject).
    pub root_sent: Option<String>,
    /// The leaf's SHA-256 fingerprint, hex.
    pub leaf_sha256: Option<String>,
}

/// `X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY` and
/// `X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE`: the path stops at a
/// certificate whose issuer is nowhere.
const ISSUER_NOT_FOUND: [i32; 3] = [2, 20, 21];

fn cut(s: String) -> String {
    if s.chars().count() <= NAME_KEPT {
        return s;
    }
    let mut kept: String = s.chars().take(NAME_KEPT - 3).collect();
    kept.push_str("...");
    kept
}

/// A distinguished name as `CN=x, O=y`, read with our DER reader as the
/// rest of the report is; OpenSSL's view when ours refuses it.
fn names(cert: &X509Ref) -> SentCert {
    let der = cert.to_der().unwrap_or_default();
    match crate::der::parse_certificate(&der) {
        Ok(info) => SentCert {
            subject: cut(info.subject),
            issuer: cut(info.issuer),
        },
        Err(_) => SentCert {
            subject: cut(format!("{:?}", cert.subject_name())),
            issuer: cut(format!("{:?}", cert.issuer_name())),
        },
    }
}

fn self_signed(cert: &X509Ref) -> bool {
    cert.issued(cert) == X509VerifyResult::OK
}

fn same(a: &X509Ref, b: &X509Ref) -> bool {
    matches!((a.to_der(), b.to_der()), (Ok(a), Ok(b)) if a == b)
}

/// The caIssuers URL of a certificate's Authority Information Access.
fn ca_issuers(cert: &X509Ref) -> Option<String> {
    cert.authority_info()?
        .iter()
        .filter(|a| a.method().nid() == Nid::AD_CA_ISSUERS)
        .find_map(|a| a.location().uri().map(str::to_string))
}

/// Reads `sent` (leaf first) against `verified` (the path OpenSSL built,
/// leaf to trust anchor, when verification succeeded) and the verify
/// error code otherwise.
pub fn read(sent: &[X509], verified: Option<&[X509]>, verify_error: Option<i32>) -> Chain {
    let mut chain = Chain {
        sent: sent.iter().map(|c| names(c)).collect(),
        ..Chain::default()
    };
    let Some(leaf) = sent.first() else {
        return chain;
    };
    chain.leaf_sha256 = leaf
        .digest(MessageDigest::sha256())
        .ok()
        .map(|d| d.iter().map(|b| format!("{b:02X}")).collect::<String>());
    chain.root_sent = sent
        .iter()
        .skip(1)
        .find(|c| self_signed(c))
        .map(|c| names(c).subject);
    match verified {
        Some(path) if !path.is_empty() => {
            // The anchor is trusted where it is; everything below it must
            // come from the server.
            let below_anchor = &path[..path.len() - 1];
            let from_store: Vec<String> = below_anchor
                .iter()
                .filter(|p| !sent.iter().any(|s| same(s, p)))
                .map(|p| names(p).subject)
                .collect();
            chain.complete = Some(from_store.is_empty());
            chain.from_store = from_store;
            chain.extra = sent
                .iter()
                .filter(|s| !path.iter().any(|p| same(s, p)))
                .map(|s| names(s).subject)
                .collect();
            // The path's certificates, in the order sent, must be the
            // path's order.
            let positions: Vec<usize> = sent
                .iter()
                .filter_map(|s| path.iter().position(|p| same(s, p)))
                .collect();
            chain.wrong_order =
                positions.first() != Some(&0) || positions.windows(2).any(|w| w[0] > w[1]);
        }
        _ => {
            // Nothing verified: in order when each sent certificate issued
            // the one before it.
            chain.wrong_order = sent
                .windows(2)
                .any(|w| w[1].issued(&w[0]) != X509VerifyResult::OK)
                && sent.len() > 1;
            if verify_error.is_some_and(|e| ISSUER_NOT_FOUND.contains(&e)) {
                // The top of what was sent: the last certificate reached
                // from the leaf by issuer links.
                // (At most one step per certificate: a loop of issuers ends.)
                let mut top = leaf.as_ref();
                for _ in 0..sent.len() {
                    let up = sent
                        .iter()
                        .find(|c| !same(c, top) && c.issued(top) == X509VerifyResult::OK);
                    match up {
                        Some(up) if !self_signed(top) => top = up,
                        _ => break,
                    }
                }
                if !self_signed(top) {
                    chain.missing_issuer = Some((names(top).issuer, ca_issuers(top)));
                }
            }
        }
    }
    chain
}
