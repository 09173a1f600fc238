//! The secrets this session has sent, in every form they took on the wire,
//! masked in whatever the server sends back before anyone sees it.
//!
//! A server that echoes the command it refuses (`a1 BAD LOGIN alice
//! "s3cret" not understood`) would otherwise put the password into the
//! `-v` transcript, into `got:` and into error messages. So each secret
//! argument is remembered as sent (raw, as a quoted string's inner
//! form, and base64), and each SASL message as raw bytes and base64;
//! every response is then shown, and its status texts handed on, with
//! each occurrence replaced by `***`. The response is parsed from the
//! bytes as received, so masking never changes what the check decides
//! about the protocol.

use std::borrow::Cow;

use crate::base64;
use crate::parser::{Code, Response, Untagged};

use super::encode::{Encoding, encode_astring};

/// What replaces a secret.
const MASKED: &[u8] = b"***";

#[derive(Default)]
pub(super) struct Mask {
    /// Longest first, so that a secret inside another is masked whole.
    forms: Vec<Vec<u8>>,
}

impl Mask {
    /// Remembers `secret` as an astring argument: its bytes (a literal, an
    /// atom, or what a server shows after unquoting), its quoted form
    /// without the quotes, and its base64.
    pub(super) fn astring(&mut self, secret: &[u8]) {
        self.add(secret.to_vec());
        if let Encoding::Quoted(q) = encode_astring(secret)
            && q.len() >= 2
        {
            self.add(q[1..q.len() - 1].to_vec());
        }
        self.add(base64::encode(secret).into_bytes());
    }

    /// Remembers a SASL message: its bytes and its base64 as sent.
    pub(super) fn sasl(&mut self, message: &[u8]) {
        self.add(message.to_vec());
        self.add(base64::encode(message).into_bytes());
    }

    /// Remembers one secret as it is (a password inside a SASL message,
    /// which a server could echo after decoding it).
    pub(super) fn raw(&mut self, secret: &[u8]) {
        self.add(secret.to_vec());
    }

    fn add(&mut self, form: Vec<u8>) {
        if form.is_empty() || self.forms.contains(&form) {
            return;
        }
        self.forms.push(form);
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// `text` with every secret replaced by `***`.
    pub(super) fn apply<'a>(&self, text: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.forms.iter().any(|f| contains(text, f)) {
            return Cow::Borrowed(text);
        }
        let mut out = Vec::with_capacity(text.len());
        let mut i = 0;
        'next: while i < text.len() {
            for f in &self.forms {
                if text[i..].starts_with(f) {
                    out.extend_from_slice(MASKED);
                    i += f.len();
                    continue 'next;
                }
            }
            out.push(text[i]);
            i += 1;
        }
        Cow::Owned(out)
    }

    /// The texts of a parsed response (status text, response code data,
    /// a continuation's text) masked: what the check quotes from them.
    pub(super) fn response(&self, resp: Response) -> Response {
        if self.forms.is_empty() {
            return resp;
        }
        let text = |t: Vec<u8>| self.apply(&t).into_owned();
        match resp {
            Response::Tagged {
                tag,
                status,
                code,
                text: t,
            } => Response::Tagged {
                tag,
                status,
                code: code.map(|c| self.code(c)),
                text: text(t),
            },
            Response::Untagged(Untagged::Condition {
                status,
                code,
                text: t,
            }) => Response::Untagged(Untagged::Condition {
                status,
                code: code.map(|c| self.code(c)),
                text: text(t),
            }),
            Response::Continuation(t) => Response::Continuation(text(t)),
            other => other,
        }
    }

    fn code(&self, code: Code) -> Code {
        match code {
            Code::Other { name, data } => Code::Other {
                name,
                data: self.apply(&data).into_owned(),
            },
            Code::Unparsed { name, data, why } => Code::Unparsed {
                name,
                data: self.apply(&data).into_owned(),
                why,
            },
            other => other,
        }
    }
}

impl Drop for Mask {
    fn drop(&mut self) {
        for f in &mut self.forms {
            f.fill(0);
        }
    }
}

/// Whether `part` (not empty) occurs in `text`. The first byte is looked
/// for first (`[u8]::contains` is memchr): most responses, and the large
/// literals of a LIST or a body, never hold it and are passed over at
/// memory speed. A response is at most `parser::MAX_RESPONSE` bytes, so
/// even one made of that byte costs one bounded scan per form.
fn contains(text: &[u8], part: &[u8]) -> bool {
    match part.first() {
        Some(first) if text.contains(first) => text.windows(part.len()).any(|w| w == part),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_form_of_a_password_is_masked() {
        let mut m = Mask::default();
        m.astring(br#"pa"ss\w"#);
        let echo = br#"a1 BAD LOGIN alice "pa\"ss\\w" / pa"ss\w / cGEic3Ncdw=="#;
        assert_eq!(
            m.apply(echo).as_ref(),
            b"a1 BAD LOGIN alice \"***\" / *** / ***"
        );
        assert!(matches!(m.apply(b"a1 OK fine"), Cow::Borrowed(_)));
    }

    #[test]
    fn sasl_plain_is_masked_encoded_and_decoded() {
        let mut m = Mask::default();
        m.sasl(b"\0alice\0Zebra7-pw");
        m.raw(b"Zebra7-pw");
        let echo = b"a2 NO AGFsaWNlAFplYnJhNy1wdw== means \0alice\0Zebra7-pw or Zebra7-pw";
        assert_eq!(
            m.apply(echo).as_ref(),
            b"a2 NO *** means *** or ***".as_slice()
        );
    }

    #[test]
    fn status_texts_and_codes_are_masked_in_parsed_responses() {
        let mut m = Mask::default();
        m.astring(b"s3cret");
        let resp =
            crate::parser::parse_response(b"a1 NO [X-ECHO s3cret] bad s3cret\r\n").expect("parses");
        match m.response(resp) {
            Response::Tagged { code, text, .. } => {
                assert_eq!(text, b"bad ***");
                assert!(matches!(code, Some(Code::Other { data, .. }) if data == b"***"));
            }
            other => panic!("{other:?}"),
        }
    }
}
