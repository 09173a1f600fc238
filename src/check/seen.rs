//! What the server has told us so far: capabilities, the open folder's
//! counters, alerts, referrals, folders, the fetched message's items, ID
//! and quota answers, and the responses it sent that we did not
//! understand. Every untagged response of every command passes through
//! [`Seen::absorb`]; what is kept is bounded, whatever the server sends.

use crate::mutf7;
use crate::parser::{self, Code, Status, Untagged, Value};
use crate::report::{MailboxReport, escape_cut, trim_eol};

use super::{TEXT_CUT, proxy_reuse};

/// Folder names kept for the report. LIST keeps being counted beyond this,
/// but a server (or a hostile one) with millions of folders must not make
/// the checker's memory grow without bound.
const MAX_FOLDERS_KEPT: usize = 100_000;

/// Bytes of folder names kept, all together. A name may legally be a
/// literal of up to 1 MiB; 100,000 of those must not become 100 GB. Real
/// names average 10 to 40 bytes, so this keeps every name of accounts with
/// 100,000 folders; the report (text or JSON) holds about three copies.
const MAX_FOLDER_BYTES: usize = 4 * 1024 * 1024;

/// FETCH items the check reads; anything else a server volunteers for the
/// message (unsolicited or hostile, under ever new names) is not kept.
const FETCH_ITEMS_KEPT: [&str; 5] = ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY[]"];

/// ALERT texts kept; RFC 3501 says each MUST be shown, but a server that
/// sends thousands is broken and the first ones say it all.
const MAX_ALERTS: usize = 20;

/// QUOTA responses kept: a mailbox has one or two quota roots in practice.
const MAX_QUOTA_ROOTS: usize = 16;

/// Resources kept of one QUOTA response: RFC 9208 defines four (STORAGE,
/// MESSAGE, MAILBOX, ANNOTATION-STORAGE) and servers send one or two. A
/// line of thousands would otherwise become a row, a detail part and a
/// metric each, in every format.
const MAX_QUOTA_RESOURCES: usize = 16;

/// One QUOTA response: its root, the first resources, and how many it had.
pub(super) struct QuotaSeen {
    pub root: Vec<u8>,
    pub resources: Vec<parser::QuotaResource>,
    pub total: usize,
}

/// Responses not understood that the report keeps. A server that sends a
/// stream of them is broken in a way the first few already show; more
/// would only grow the report.
const MAX_QUIRKS: usize = 20;

/// How much of a response not understood goes into the report.
const QUIRK_CUT: usize = 200;

/// What the untagged responses have told us so far.
#[derive(Default)]
pub(super) struct Seen {
    pub(super) capabilities: Vec<String>,
    /// A CAPABILITY arrived since the last reset.
    pub(super) capabilities_fresh: bool,
    /// Data before TLS under --security starttls is not trusted.
    pub(super) trusted: bool,
    pub(super) alerts: Vec<String>,
    pub(super) new_alerts: Vec<String>,
    pub(super) referrals: Vec<String>,
    pub(super) bye: Option<Vec<u8>>,
    pub(super) folders: Vec<String>,
    pub(super) folder_count: usize,
    /// Bytes of the names in `folders` (see MAX_FOLDER_BYTES).
    folder_bytes: usize,
    pub(super) mailbox: MailboxReport,
    pub(super) fetch_seq: Option<u32>,
    /// The fetch asked for `*`: the data of the message numbered EXISTS
    /// when it arrives is the one asked for, and `fetch_seq` follows it.
    pub(super) fetch_newest: bool,
    pub(super) fetched: Vec<(String, Value)>,
    /// The server's RFC 2971 ID answer (empty for `ID NIL`).
    pub(super) server_id: Option<parser::IdFields>,
    pub(super) quotas: Vec<QuotaSeen>,
    /// A proxy answered the login from a cached backend session
    /// (`proxy_reuse`).
    pub(super) proxy_reused: bool,
    /// Responses not understood since the last step ended: (response,
    /// reason), at most MAX_QUIRKS in a whole run.
    pub(super) new_quirks: Vec<(String, String)>,
    quirks_kept: usize,
    /// Responses not understood in the current step, kept or not.
    pub(super) quirks_in_step: usize,
}

impl Seen {
    /// Nothing is known yet; `trusted` says whether what arrives before a
    /// TLS handshake counts.
    pub(super) fn new(trusted: bool) -> Seen {
        Seen {
            trusted,
            ..Seen::default()
        }
    }

    pub(super) fn absorb(&mut self, u: &Untagged, raw: &[u8]) {
        match u {
            Untagged::Capability(caps) => self.set_capabilities(caps),
            // Before the STARTTLS handshake anyone on the path can add
            // responses: keep only what decides whether to start TLS.
            Untagged::Condition {
                status: Status::Bye,
                text,
                ..
            } if !self.trusted => self.bye = Some(text.clone()),
            _ if !self.trusted => {}
            Untagged::Condition { status, code, text } => {
                if *status == Status::Bye {
                    self.bye = Some(text.clone());
                }
                if let Some(code) = code {
                    self.absorb_code(code, text);
                }
            }
            Untagged::List { name, .. } => {
                self.folder_count += 1;
                if self.folders.len() < MAX_FOLDERS_KEPT
                    && self.folder_bytes + name.len() <= MAX_FOLDER_BYTES
                {
                    self.folder_bytes += name.len();
                    self.folders.push(mutf7::decode_lossy(name));
                }
            }
            Untagged::Flags(flags) => self.mailbox.flags = flags.clone(),
            Untagged::Exists(n) => self.mailbox.exists = *n,
            Untagged::Recent(n) => self.mailbox.recent = *n,
            Untagged::Expunge(_) => self.mailbox.exists = self.mailbox.exists.saturating_sub(1),
            Untagged::Fetch { seq, items } => {
                if self.fetch_newest && *seq == self.mailbox.exists && Some(*seq) != self.fetch_seq
                {
                    self.fetch_seq = Some(*seq);
                    self.fetched.clear();
                }
                if Some(*seq) == self.fetch_seq {
                    for (name, value) in items
                        .iter()
                        .filter(|(n, _)| FETCH_ITEMS_KEPT.contains(&n.as_str()))
                    {
                        // Later data for the same item replaces earlier.
                        self.fetched.retain(|(n, _)| n != name);
                        self.fetched.push((name.clone(), value.clone()));
                    }
                }
            }
            Untagged::Id(pairs) => self.server_id = Some(pairs.clone()),
            Untagged::Quota { root, resources } => {
                if self.quotas.len() < MAX_QUOTA_ROOTS {
                    self.quotas.push(QuotaSeen {
                        root: root.clone(),
                        resources: resources
                            .iter()
                            .take(MAX_QUOTA_RESOURCES)
                            .cloned()
                            .collect(),
                        total: resources.len(),
                    });
                }
            }
            Untagged::Unparsed { why, .. } => {
                self.quirk(escape_cut(trim_eol(raw), QUIRK_CUT), why.to_string());
            }
            // The QUOTA responses name their roots; QUOTAROOT adds nothing.
            Untagged::QuotaRoot { .. } | Untagged::Other { .. } => {}
        }
    }

    /// A response that was complete but not understood: reported, ignored.
    pub(super) fn quirk(&mut self, response: String, reason: String) {
        self.quirks_in_step += 1;
        if self.quirks_kept < MAX_QUIRKS {
            self.quirks_kept += 1;
            self.new_quirks.push((response, reason));
        }
    }

    pub(super) fn absorb_code(&mut self, code: &Code, text: &[u8]) {
        match code {
            Code::Alert if self.trusted && self.alerts.len() < MAX_ALERTS => {
                let alert = escape_cut(text, TEXT_CUT);
                self.alerts.push(alert.clone());
                self.new_alerts.push(alert);
            }
            Code::Capability(caps) => self.set_capabilities(caps),
            Code::PermanentFlags(f) => self.mailbox.permanent_flags = f.clone(),
            Code::UidValidity(n) => self.mailbox.uidvalidity = Some(*n),
            Code::UidNext(n) => self.mailbox.uidnext = Some(*n),
            Code::Unseen(n) => self.mailbox.unseen = Some(*n),
            Code::Unparsed { name, data, why } if self.trusted => {
                let mut code = format!("[{name}");
                if !data.is_empty() {
                    code.push(' ');
                    code.push_str(&escape_cut(data, QUIRK_CUT));
                }
                code.push(']');
                self.quirk(code, format!("response code not understood: {why}"));
            }
            // Reported, never followed.
            Code::Other { name, data }
                if name == "REFERRAL" && self.trusted && self.referrals.len() < MAX_ALERTS =>
            {
                self.referrals.push(escape_cut(data, TEXT_CUT));
            }
            Code::Other { name, .. } if self.trusted && proxy_reuse::is_reuse_code(name) => {
                self.proxy_reused = true;
            }
            _ => {}
        }
    }

    fn set_capabilities(&mut self, caps: &[String]) {
        self.capabilities = caps.to_vec();
        self.capabilities_fresh = true;
    }

    pub(super) fn has_cap(&self, cap: &str) -> bool {
        self.capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case(cap))
    }

    /// The server offers an OAuth 2.0 mechanism.
    pub(super) fn offers_oauth(&self) -> bool {
        self.has_cap("AUTH=XOAUTH2") || self.has_cap("AUTH=OAUTHBEARER")
    }

    /// The fetched message's item `name`, when the server sent it.
    pub(super) fn fetched_item(&self, name: &str) -> Option<&Value> {
        self.fetched.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}
