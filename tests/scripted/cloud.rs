// Issue 14: the cloud providers' IMAP-side failures, each against a
// scripted server that answers as the provider does: Office 365's
// "authenticated but not connected", Exchange's BYE AccessTokenExpired,
// 163.com's "Unsafe Login" without ID, and mail.de's BAD to ID, which must
// not fail the check.

use super::*;

/// An access token for `--auth xoauth2` from IMAPCHECK_PASSWORD.
const TOKEN: &str = "eyJ0eXAi.cloud-Token_Q";

fn xoauth2_b64() -> String {
    base64(format!("user={USER}\x01auth=Bearer {TOKEN}\x01\x01").as_bytes())
}

/// Office 365's greeting and an XOAUTH2 login answered with a bare OK.
fn office365_logged_in() -> Vec<Step> {
    vec![
        Step::Send(
            "* OK [CAPABILITY IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE UNSELECT CHILDREN IDLE NAMESPACE LITERAL+] The Microsoft Exchange IMAP4 service is ready. [TQBXADIAUABSADAA]\r\n".into(),
        ),
        Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_b64())),
        Step::Send("{tag} OK AUTHENTICATE completed.\r\n".into()),
    ]
}

#[test]
fn office365_authenticated_but_not_connected() {
    let s = script(vec![
        office365_logged_in(),
        vec![
            Step::Expect("CAPABILITY".into()),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(
                "{prevtag} BAD User is authenticated but not connected.\r\n{tag} BAD User is authenticated but not connected.\r\n".into(),
            ),
        ],
        // The login answer carried no capabilities: GETQUOTAROOT goes
        // along in case the fresh ones have QUOTA.
        batch_refused(&["EXAMINE INBOX", "GETQUOTAROOT INBOX", KB_FETCH_NEWEST]),
    ]);
    let c = Case::tls(s)
        .args(&["--auth", "xoauth2"])
        .env(&[("IMAPCHECK_PASSWORD", TOKEN)])
        .json();
    c.failed_at("list");
    assert_eq!(c.step("login")["status"], "ok", "{}", c.ctx);
    let message = c.error("message");
    assert!(
        message.contains("took the login, then refused list: \"User is authenticated but not connected\" (Office 365)"),
        "{message}\n{}",
        c.ctx
    );
    assert!(
        c.error("got")
            .contains("BAD User is authenticated but not connected."),
        "{}",
        c.ctx
    );
    let hint = c.error("hint");
    assert!(
        hint.contains("Add-MailboxPermission") && hint.contains("the user name (-u)"),
        "{hint}\n{}",
        c.ctx
    );
}

#[test]
fn exchange_bye_access_token_expired() {
    let s = script(vec![vec![
        Step::Send("* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n".into()),
        Step::ExpectAlone(format!("AUTHENTICATE XOAUTH2 {}", xoauth2_b64())),
        Step::Send(kb_login_ok()),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send("* BYE Session invalidated - AccessTokenExpired\r\n".into()),
        Step::Close,
    ]]);
    let c = Case::tls(s)
        .args(&["--auth", "xoauth2"])
        .env(&[("IMAPCHECK_PASSWORD", TOKEN)])
        .script_may_break()
        .json();
    c.failed_at("list");
    assert_eq!(
        c.error("message"),
        "the server ended the session during list: the access token expired (AccessTokenExpired)",
        "{}",
        c.ctx
    );
    assert_eq!(
        c.error("got"),
        "* BYE Session invalidated - AccessTokenExpired",
        "{}",
        c.ctx
    );
    assert!(
        c.error("hint")
            .contains("fetch a fresh token for each check"),
        "{}",
        c.ctx
    );
}

/// 163.com's greeting with `caps`, CAPABILITY-less LOGIN answer.
fn netease_logged_in(caps: &str) -> Vec<Step> {
    vec![
        Step::Send(format!(
            "* OK [CAPABILITY {caps}] Coremail System IMap Server Ready(163com[10.0.0.1])\r\n"
        )),
        Step::ExpectAlone(format!("LOGIN {USER} {PASS}")),
        Step::Send(format!(
            "{{tag}} OK [CAPABILITY {caps}] LOGIN completed\r\n"
        )),
    ]
}

#[test]
fn netease_gets_id_before_select_and_opens_the_folder() {
    let caps = "IMAP4rev1 XLIST SPECIAL-USE ID LITERAL+ UIDPLUS X-CM-EXT-1";
    let s = script(vec![
        netease_logged_in(caps),
        vec![
            Step::Expect("ID (\"name\" \"imapcheck\" *)".into()),
            Step::Expect("LIST \"\" \"*\"".into()),
            Step::Send(format!(
                "* ID (\"name\" \"Coremail Imap\" \"vendor\" \"Mailtech\")\r\n{{prevtag}} OK ID completed\r\n{}",
                kb_list_reply()
            )),
        ],
        kb_after_login().split_off(2),
    ]);
    let c = Case::tls(s).json();
    c.exit(0);
    let at = |word: &str| {
        c.log
            .lines
            .iter()
            .position(|l| l.split(' ').nth(1) == Some(word))
            .unwrap_or_else(|| panic!("no {word}\n{}", c.ctx))
    };
    assert!(at("ID") < at("EXAMINE"), "ID before EXAMINE\n{}", c.ctx);
    c.detail_ends_with("list", "server ID: Coremail Imap vendor Mailtech");
}

#[test]
fn netease_unsafe_login_without_id_is_explained() {
    let caps = "IMAP4rev1 XLIST SPECIAL-USE LITERAL+ UIDPLUS X-CM-EXT-1";
    let s = script(vec![
        netease_logged_in(caps),
        listed(kb_list_reply()),
        opened(
            "EXAMINE INBOX",
            "{tag} NO SELECT Unsafe Login. Please contact kefu@188.com for help\r\n".into(),
        ),
        batch_refused(&[KB_FETCH_NEWEST]),
    ]);
    let c = Case::tls(s).json();
    c.failed_at("examine");
    assert!(
        c.error("message").contains("\"Unsafe Login\" (163.com, 126.com): it wants the client to identify itself with ID (RFC 2971) before EXAMINE"),
        "{}",
        c.ctx
    );
    assert!(
        c.error("got").contains("NO SELECT Unsafe Login."),
        "{}",
        c.ctx
    );
    assert!(
        c.error("hint")
            .starts_with("the server did not announce ID, so imapcheck sent none"),
        "{}",
        c.ctx
    );
}

#[test]
fn id_answered_bad_does_not_fail_the_check() {
    // mail.de announces ID and answers it BAD (Wino-Mail #263).
    let mut s = modern::logged_in_with("IMAP4rev1 ID LITERAL+ CHILDREN");
    s.extend([
        Step::Expect("ID (*)".into()),
        Step::Expect("LIST \"\" \"*\"".into()),
        Step::Send(format!(
            "{{prevtag}} BAD Error in IMAP command ID: Unknown command\r\n{}",
            kb_list_reply()
        )),
    ]);
    s.extend(kb_after_login().split_off(2));
    let c = Case::tls(s).json();
    c.exit(0);
    c.detail_ends_with(
        "list",
        "server ID: ID refused (Error in IMAP command ID: Unknown command)",
    );
    assert!(c.v["server_id"].is_null(), "{}", c.ctx);
}
