//! Secrets a server might echo in a reply (a refusal quoting the password
//! or the SASL message) replaced by `***` before any line is shown.

use crate::password::Secret;

/// The shortest secret masked: shorter ones would hide ordinary words.
const MIN_MASKED: usize = 4;

/// `bytes` with every occurrence of each of `secrets` as `***`.
pub fn mask(bytes: &[u8], secrets: &[Secret]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    // Longest first: a secret inside a longer one (the password's base64
    // inside the SASL message's) must not break the longer one's match.
    let mut by_length: Vec<&[u8]> = secrets.iter().map(Secret::expose).collect();
    by_length.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in by_length {
        if secret.len() < MIN_MASKED {
            continue;
        }
        let mut masked = Vec::with_capacity(out.len());
        let mut rest = &out[..];
        while !rest.is_empty() {
            if rest.starts_with(secret) {
                masked.extend_from_slice(b"***");
                rest = &rest[secret.len()..];
            } else {
                masked.push(rest[0]);
                rest = &rest[1..];
            }
        }
        out = masked;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_secrets_are_masked() {
        let secrets = [
            Secret::new(b"s3cret".to_vec()),
            Secret::new(b"abc".to_vec()),
        ];
        assert_eq!(
            mask(b"535 bad s3cret, s3cret!", &secrets),
            b"535 bad ***, ***!"
        );
        // Too short to mask without hiding ordinary text.
        assert_eq!(mask(b"abc", &secrets), b"abc");
    }
}
