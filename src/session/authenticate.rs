//! AUTHENTICATE on the wire (RFC 3501 6.2.2, RFC 4959): the initial
//! response on the command line or after the first `+`, each further
//! challenge answered by the caller, every client line kept out of the
//! transcript.

use crate::base64;
use crate::report::trim_eol;

use super::{Completion, OnUntagged, Session, SessionError, missing_completion};

impl Session {
    /// AUTHENTICATE with a SASL mechanism. `initial` is the client's first
    /// message (raw, not yet base64); with `sasl_ir` it rides on the command
    /// line (RFC 4959). `on_challenge` answers each further server challenge
    /// (decoded bytes in, raw bytes out). All client data is secret.
    pub fn authenticate(
        &mut self,
        mechanism: &str,
        initial: &[u8],
        sasl_ir: bool,
        on_challenge: &mut dyn FnMut(&[u8]) -> Vec<u8>,
        on_untagged: &mut OnUntagged,
    ) -> Result<Completion, SessionError> {
        self.ensure_usable()?;
        self.mask.sasl(initial);
        let tag = self.next_tag();
        let encoded = sasl_encode(initial);
        let mut wire = format!("{tag} AUTHENTICATE {mechanism}").into_bytes();
        let mut shown = format!("{tag} AUTHENTICATE {mechanism}");
        if sasl_ir {
            wire.push(b' ');
            wire.extend_from_slice(encoded.as_bytes());
            shown.push_str(" ***");
        }
        wire.extend_from_slice(b"\r\n");
        self.send(&wire, &shown)?;
        let mut initial_pending = !sasl_ir;
        let mut on_plus = |session: &mut Session, data: &[u8], _: &[u8]| {
            // In a continuation an empty response is an empty line;
            // "=" stands for empty only on the command line (RFC 4959).
            let reply = if initial_pending {
                initial_pending = false;
                base64::encode(initial)
            } else {
                let challenge = base64::decode(trim_eol(data)).unwrap_or_else(|_| data.to_vec());
                // A challenge that echoes the secret, base64 inside, is
                // masked once decoded too.
                let challenge = session.mask.apply(&challenge).into_owned();
                let answer = on_challenge(&challenge);
                session.mask.sasl(&answer);
                base64::encode(&answer)
            };
            let mut line = reply.into_bytes();
            line.extend_from_slice(b"\r\n");
            session.send(&line, "***").map(|()| true)
        };
        let done = self.await_tag(&tag, &mut on_plus, on_untagged)?;
        // Every continuation is answered: only a completion ends the wait.
        done.ok_or_else(missing_completion)
    }
}

/// SASL data is base64; an empty message is "=" (RFC 4959) on the line.
fn sasl_encode(data: &[u8]) -> String {
    if data.is_empty() {
        "=".to_string()
    } else {
        base64::encode(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_empty_is_equals_sign() {
        assert_eq!(sasl_encode(b""), "=");
        assert_eq!(sasl_encode(b"\0u\0p"), "AHUAcA==");
    }
}
