//! What the tls and starttls steps say about the handshake beyond the
//! certificate: version, cipher, group, HelloRetryRequest, the chain as
//! sent and what is wrong with it, and the `--min-tls` floor.

use crate::cli::Config;
use crate::report::TlsSession;
use crate::transport::{Handshake, tls};

/// The report's view of a handshake.
pub(super) fn report(shook: &Handshake) -> TlsSession {
    let n = &shook.negotiated;
    TlsSession {
        version: n.version.clone(),
        cipher: n.cipher.clone(),
        group: n.group.clone(),
        hello_retry: n.retry,
        chain: shook
            .chain
            .sent
            .iter()
            .map(|c| (c.subject.clone(), c.issuer.clone()))
            .collect(),
        chain_complete: shook.chain.complete,
        leaf_sha256: shook.chain.leaf_sha256.clone(),
    }
}

/// Detail parts (notes included) and warnings about the handshake.
/// With `insecure` the chain is described, never relied on.
pub(super) fn describe(shook: &Handshake, insecure: bool) -> (Vec<String>, Vec<String>) {
    let n = &shook.negotiated;
    let chain = &shook.chain;
    let mut detail = Vec::new();
    let mut warnings = Vec::new();
    let mut negotiated = format!("{}, {}", n.version, n.cipher);
    if let Some(group) = &n.group {
        negotiated.push_str(&format!(", {group}"));
    }
    if n.retry {
        negotiated.push_str(" after a HelloRetryRequest (one more round trip)");
    }
    detail.push(negotiated);
    let certs: Vec<String> = chain
        .sent
        .iter()
        .enumerate()
        .map(|(i, c)| format!("[{}] {} (issuer {})", i + 1, c.subject, c.issuer))
        .collect();
    let complete = match (chain.complete, insecure) {
        (Some(true), false) => ", reaches a trusted root by itself",
        (Some(true), true) => ", would reach a trusted root by itself (not relied on: --insecure)",
        (Some(false), _) => ", incomplete",
        (None, _) => "",
    };
    detail.push(format!(
        "chain as sent: {} certificate{}{complete}: {}",
        chain.sent.len(),
        if chain.sent.len() == 1 { "" } else { "s" },
        certs.join(", ")
    ));
    if !chain.from_store.is_empty() {
        warnings.push(format!(
            "the server does not send the intermediate certificate {}: it verified here only because the local store holds it; clients without it (Outlook, iOS, Thunderbird) will fail; the server must send it after its own",
            chain.from_store.join(", ")
        ));
    }
    if chain.wrong_order {
        detail.push(
            "note: the chain is not sent leaf first, each certificate followed by its issuer"
                .into(),
        );
    }
    if !chain.extra.is_empty() {
        detail.push(format!(
            "note: sent but no part of the verified path: {}",
            chain.extra.join(", ")
        ));
    }
    if let Some(root) = &chain.root_sent {
        detail.push(format!(
            "note: the root {root} is sent (needless: clients use their own copy)"
        ));
    }
    (detail, warnings)
}

/// The floor the negotiated version is below, and whether that is
/// critical; None when it is not below `--min-tls` (or there is none).
pub(super) fn below_floor(shook: &Handshake, cfg: &Config) -> Option<(String, bool)> {
    let floor = cfg.min_tls?;
    let wire = shook.negotiated.wire;
    if let Some(crit) = floor.crit
        && wire < crit
    {
        return Some((tls::version_name(crit), true));
    }
    (wire < floor.warn).then(|| (tls::version_name(floor.warn), false))
}

/// The WARNING of a version below `--min-tls`.
pub(super) fn floor_warning(shook: &Handshake, cfg: &Config) -> String {
    let floor = cfg.min_tls.map_or(0, |f| f.warn);
    format!(
        "the server negotiated {}, below --min-tls {}",
        shook.negotiated.version,
        tls::version_name(floor)
    )
}
