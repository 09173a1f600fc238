//! What the cloud providers' failures mean, in the words only someone who
//! has met them knows. The steps report a failure as any server's; this
//! file recognises the provider behind it and rewrites message and hint:
//! Office 365's OK to the login followed by `BAD User is authenticated but
//! not connected`, Exchange's `BYE ... AccessTokenExpired`, and 163.com's
//! (and 126.com's) `NO ... Unsafe Login` to a client that sent no ID.

use crate::report::{Failure, escape_cut};

use super::seen::Seen;
use super::{Step, TEXT_CUT};

/// Whether `text` holds `needle`, ignoring ASCII case.
fn holds(text: &str, needle: &str) -> bool {
    text.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// What the check knows when a step fails.
pub(super) struct Context<'a> {
    pub step: Step,
    pub seen: &'a Seen,
    pub authenticated: bool,
    /// ID went to the server (with LIST, or before the point of login).
    pub id_sent: bool,
}

/// Rewrites `f` when a cloud provider's known failure is behind it.
pub(super) fn refine(f: &mut Failure, cx: &Context) {
    let got = f.got.clone().unwrap_or_default();
    let step = cx.step.as_str();
    if let Some(bye) = &cx.seen.bye
        && holds(&String::from_utf8_lossy(bye), "AccessTokenExpired")
    {
        f.message = format!(
            "the server ended the session during {step}: the access token expired (AccessTokenExpired)"
        );
        f.got = Some(format!("* BYE {}", escape_cut(bye, TEXT_CUT)));
        f.hint = "the token ran out while the session was open: fetch a fresh token for each check (--oauth-token-url does), and check this host's clock; a token taken from a cache just before its expiry lapses mid-session".into();
        return;
    }
    if cx.authenticated && holds(&got, "User is authenticated but not connected") {
        f.message = format!(
            "the server took the login, then refused {step}: \"User is authenticated but not connected\" (Office 365)"
        );
        f.hint = "Exchange Online accepted the token but will not open this mailbox for it: the app's service principal (or the signed-in user) has no access to the mailbox, or the user name (-u) is not the mailbox the token's account may open; for app-only access register the service principal (New-ServicePrincipal) and grant it the mailbox (Add-MailboxPermission -Identity <mailbox> -User <service principal ID> -AccessRights FullAccess)".into();
        return;
    }
    if matches!(cx.step, Step::Examine | Step::Select) && holds(&got, "Unsafe Login") {
        f.message = format!(
            "the server refused to open the folder as an \"Unsafe Login\" (163.com, 126.com): it wants the client to identify itself with ID (RFC 2971) before {}",
            step.to_ascii_uppercase()
        );
        f.hint = if cx.id_sent {
            "imapcheck sent ID before opening the folder and the server still refused: the account's IMAP access decides; enable IMAP/SMTP in the mailbox's web settings and log in with the authorization code it issues, not the web password".into()
        } else {
            "the server did not announce ID, so imapcheck sent none; NetEase servers want ID before SELECT anyway: enable IMAP in the mailbox's web settings and log in with its authorization code, or ask the provider to allow this client".into()
        };
    }
}
