// Ready-made server scripts modelled on a Dovecot 2.3 session
// (shared/reference/dovecot-2.3-imaps-session.txt): the greeting and the
// LOGIN .. LOGOUT happy path, as Steps that tests can splice and vary.

use super::certs::Identity;
use super::server::Step;

/// Dovecot's greeting (implicit TLS, or plain without STARTTLS), with CRLF.
pub const GREETING: &str = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n";

/// Dovecot's greeting on port 143 with `disable_plaintext_auth = yes`.
pub const GREETING_STARTTLS: &str = "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot ready.\r\n";

/// Pre-login capabilities as sent in reply to CAPABILITY (no STARTTLS).
pub const PRELOGIN_CAPS: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ENABLE IDLE LITERAL+ AUTH=PLAIN";

/// Post-login capabilities, sent in the LOGIN OK response code.
pub const POSTLOGIN_CAPS: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE";

/// Mailboxes in the LIST reply of `kb_script_after_greeting`, in order, as
/// sent on the wire (modified UTF-7).
pub const KB_MAILBOXES_WIRE: [&str; 4] = ["INBOX", "Entw&APw-rfe", "Sent", "Deleted Items"];
/// The same names decoded.
pub const KB_MAILBOXES: [&str; 4] = ["INBOX", "Entwürfe", "Sent", "Deleted Items"];
/// The LIST hierarchy delimiter.
pub const KB_DELIMITER: &str = ".";
/// EXAMINE INBOX facts.
pub const KB_EXISTS: u32 = 3;
pub const KB_RECENT: u32 = 0;
pub const KB_UNSEEN: u32 = 2;
pub const KB_UIDVALIDITY: u32 = 1_700_000_001;
pub const KB_UIDNEXT: u32 = 4;
/// The FETCH 3 reply: subject (sent as a literal), size, date, sender.
pub const KB_SUBJECT: &str = "Report \"Q4\" with attachment";
pub const KB_SIZE: u32 = 512;
pub const KB_INTERNALDATE: &str = "03-Jan-2024 10:00:00 +0000";
pub const KB_DATE: &str = "Wed, 03 Jan 2024 12:00:00 +0000";
pub const KB_FROM: &str = "Bob Example <bob@example.com>";

/// An IMAP literal for `s`: "{len}\r\n" followed by `s`.
pub fn literal(s: &str) -> String {
    format!("{{{}}}\r\n{s}", s.len())
}

/// Client CAPABILITY and Dovecot's reply.
pub fn capability_steps() -> Vec<Step> {
    vec![
        Step::Expect("CAPABILITY".into()),
        Step::Send(format!(
            "* CAPABILITY {PRELOGIN_CAPS}\r\n{{tag}} OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
        )),
    ]
}

/// CAPABILITY (advertising STARTTLS), STARTTLS, handshake with `id`, then
/// the CAPABILITY the client must re-issue inside TLS.
pub fn starttls_steps(id: Identity) -> Vec<Step> {
    vec![
        Step::Expect("CAPABILITY".into()),
        Step::Send(
            "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED\r\n{tag} OK Pre-login capabilities listed, post-login capabilities have more.\r\n".into(),
        ),
        Step::Expect("STARTTLS".into()),
        Step::Send("{tag} OK Begin TLS negotiation now.\r\n".into()),
        Step::StartTls(id),
        Step::Expect("CAPABILITY".into()),
        Step::Send(format!(
            "* CAPABILITY {PRELOGIN_CAPS}\r\n{{tag}} OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
        )),
    ]
}

/// The LOGIN reply.
pub fn kb_login_ok() -> String {
    format!("{{tag}} OK [CAPABILITY {POSTLOGIN_CAPS}] Logged in\r\n")
}

/// The whole LIST reply, tagged OK included. "Deleted Items" is a literal.
pub fn kb_list_reply() -> String {
    format!(
        "* LIST (\\HasNoChildren) \".\" INBOX\r\n\
         * LIST (\\HasNoChildren \\Drafts) \".\" Entw&APw-rfe\r\n\
         * LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n\
         * LIST (\\HasNoChildren \\Trash) \".\" {}\r\n\
         {{tag}} OK List completed (0.009 + 0.000 + 0.008 secs).\r\n",
        literal("Deleted Items")
    )
}

/// The whole EXAMINE INBOX reply, tagged OK included.
pub fn kb_examine_reply() -> String {
    format!(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
         * OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n\
         * {KB_EXISTS} EXISTS\r\n\
         * {KB_RECENT} RECENT\r\n\
         * OK [UNSEEN {KB_UNSEEN}] First unseen.\r\n\
         * OK [UIDVALIDITY {KB_UIDVALIDITY}] UIDs valid\r\n\
         * OK [UIDNEXT {KB_UIDNEXT}] Predicted next UID\r\n\
         {{tag}} OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n"
    )
}

/// The whole FETCH 3 reply, tagged OK included; the subject is a literal.
pub fn kb_fetch_reply() -> String {
    let bob = "((\"Bob Example\" NIL \"bob\" \"example.com\"))";
    let alice = "((\"Alice\" NIL \"alice\" \"example.com\"))";
    format!(
        "* 3 FETCH (FLAGS (\\Flagged) INTERNALDATE \"{KB_INTERNALDATE}\" RFC822.SIZE {KB_SIZE} \
         ENVELOPE (\"{KB_DATE}\" {} {bob} {bob} {bob} {alice} NIL NIL NIL \"<msg3@example.com>\"))\r\n\
         {{tag}} OK Fetch completed (0.001 + 0.000 secs).\r\n",
        literal(KB_SUBJECT)
    )
}

/// The LOGOUT reply.
pub const KB_LOGOUT_REPLY: &str =
    "* BYE Logging out\r\n{tag} OK Logout completed (0.001 + 0.000 secs).\r\n";

/// The fetch step's FETCH, pipelined: of `*`, the newest message.
pub const KB_FETCH_NEWEST: &str = "FETCH * (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)";

/// LOGIN .. LOGOUT of the usual happy path, without the greeting (and
/// without CAPABILITY/STARTTLS), ending with `ExpectEof`. After LOGIN,
/// alone, the rest comes in one write: LIST, EXAMINE and FETCH of the
/// newest message; each is answered in turn, and `ExpectQueued` proves
/// each had arrived before the answer to the one before it went out.
/// LOGOUT follows LIST's answer, in a write of its own.
pub fn kb_script_after_greeting() -> Vec<Step> {
    vec![
        Step::ExpectAlone("LOGIN *".into()),
        Step::Send(kb_login_ok()),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectQueued("EXAMINE INBOX".into()),
        Step::Send(kb_examine_reply()),
        Step::ExpectQueued(KB_FETCH_NEWEST.into()),
        Step::Send(kb_fetch_reply()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ]
}

/// `kb_script_after_greeting` for `--no-pipelining`: one command at a
/// time, each alone, FETCH of the message EXISTS names.
pub fn kb_script_one_at_a_time() -> Vec<Step> {
    vec![
        Step::ExpectAlone("LOGIN *".into()),
        Step::Send(kb_login_ok()),
        Step::ExpectAlone("LIST \"\" \"*\"".into()),
        Step::Send(kb_list_reply()),
        Step::ExpectAlone("EXAMINE INBOX".into()),
        Step::Send(kb_examine_reply()),
        Step::ExpectAlone("FETCH 3 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)".into()),
        Step::Send(kb_fetch_reply()),
        Step::Expect("LOGOUT".into()),
        Step::Send(KB_LOGOUT_REPLY.into()),
        Step::ExpectEof,
    ]
}

/// `Send(GREETING)` followed by `kb_script_after_greeting()`.
pub fn kb_script() -> Vec<Step> {
    let mut v = vec![Step::Send(GREETING.into())];
    v.extend(kb_script_after_greeting());
    v
}

/// `script` with every `Send` turned into `SendSplit(text, n)`: the same
/// bytes, written n at a time ("responses split anywhere").
pub fn split_sends(script: Vec<Step>, n: usize) -> Vec<Step> {
    script
        .into_iter()
        .map(|step| match step {
            Step::Send(text) => Step::SendSplit(text, n),
            other => other,
        })
        .collect()
}
