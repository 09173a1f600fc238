//! The round trip's test message: a random token in an `X-Imapcheck-Token`
//! header and in the Subject (where header search is slow, a subject search
//! still finds it), a Message-ID, and a short body that says what the
//! message is and that it will be removed. The token's format is fixed so
//! the cleanup can tell a message of ours from anything else.

use std::io::Read;

use crate::der::{format_rfc3339, now_unix};

/// The header that carries the token.
pub const TOKEN_HEADER: &str = "X-Imapcheck-Token";

/// The token's prefix; the rest is [`TOKEN_HEX`] lowercase hex digits.
pub const TOKEN_PREFIX: &str = "imapcheck-";

/// Hex digits of randomness: 128 bits, so no two runs share a token and
/// no one can guess the next one to have it removed.
pub const TOKEN_HEX: usize = 32;

/// A fresh token from the kernel's random source (getrandom(2), else
/// /dev/urandom). `Err` when neither gives randomness: a round trip with a
/// guessable token could be told to remove someone else's message.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; TOKEN_HEX / 2];
    random_bytes(&mut bytes)?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{TOKEN_PREFIX}{hex}"))
}

/// Whether `text` has the form of a token this program writes.
pub fn is_token(text: &str) -> bool {
    text.strip_prefix(TOKEN_PREFIX).is_some_and(|hex| {
        hex.len() == TOKEN_HEX && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    unsafe extern "C" {
        fn getrandom(buf: *mut u8, len: usize, flags: u32) -> isize;
    }
    // SAFETY: the pointer and length describe `buf`, which lives across
    // the call; flags 0 blocks only until the pool is initialised.
    let got = unsafe { getrandom(buf.as_mut_ptr(), buf.len(), 0) };
    if usize::try_from(got).is_ok_and(|n| n == buf.len()) {
        return Ok(());
    }
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| format!("no random source for the round trip's token: {e}"))
}

/// RFC 5322 date-time of `unix` in UTC: `Mon, 07 Dec 2026 03:52:07 +0000`.
fn rfc5322_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // format_rfc3339: `2026-12-07T03:52:07Z`.
    let iso = format_rfc3339(unix);
    let field = |from: usize, to: usize| iso.get(from..to).unwrap_or("00");
    let month = field(5, 7).parse::<usize>().unwrap_or(1);
    let weekday = DAYS[unix.div_euclid(86_400).rem_euclid(7) as usize];
    format!(
        "{weekday}, {} {} {} {} +0000",
        field(8, 10),
        MONTHS[month.clamp(1, 12) - 1],
        field(0, 4),
        field(11, 19)
    )
}

/// The message, CRLF line ends. `domain` is the right side of the
/// Message-ID (the sender's domain).
pub fn build(token: &str, from: &str, to: &str, domain: &str) -> Vec<u8> {
    let now = now_unix();
    let lines = [
        format!("From: <{from}>"),
        format!("To: <{to}>"),
        format!("Subject: imapcheck round trip {token}"),
        format!("Date: {}", rfc5322_date(now)),
        format!("Message-ID: <{token}@{domain}>"),
        format!("{TOKEN_HEADER}: {token}"),
        "MIME-Version: 1.0".to_string(),
        "Content-Type: text/plain; charset=us-ascii".to_string(),
        "Auto-Submitted: auto-generated".to_string(),
        String::new(),
        "This message was sent by imapcheck, a monitoring check, to measure".to_string(),
        "that mail sent by SMTP arrives in this mailbox, and how fast.".to_string(),
        "The check removes it again as soon as it has arrived; if you can".to_string(),
        "read this, it was kept on purpose (--keep) or could not be removed.".to_string(),
    ];
    let mut message = lines.join("\r\n");
    message.push_str("\r\n");
    message.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_have_the_format() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(is_token(&a), "{a}");
        for not in [
            "imapcheck-",
            "imapcheck-0123456789abcdef0123456789ABCDEF",
            "imapcheck-0123456789abcdef0123456789abcde",
            "imapcheck-0123456789abcdef0123456789abcdef0",
            "other-0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_token(not), "{not}");
        }
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_796_615_527),
            "Mon, 07 Dec 2026 03:52:07 +0000"
        );
    }

    #[test]
    fn the_message_carries_the_token_twice_and_says_what_it_is() {
        let token = "imapcheck-0123456789abcdef0123456789abcdef";
        let m = String::from_utf8(build(
            token,
            "a@example.org",
            "a@example.org",
            "example.org",
        ))
        .unwrap();
        assert!(m.contains(&format!("\r\nX-Imapcheck-Token: {token}\r\n")));
        assert!(m.contains(&format!("Subject: imapcheck round trip {token}\r\n")));
        assert!(m.contains(&format!("Message-ID: <{token}@example.org>")));
        assert!(m.contains("\r\n\r\nThis message was sent by imapcheck"));
        assert!(m.lines().all(|l| l.len() < 78));
    }
}
