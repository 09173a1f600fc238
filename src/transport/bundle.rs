//! PEM files of CA certificates read with our own PEM (base64) and DER
//! readers: `--ca-file`, and the system bundle of the Once trust plan,
//! whose roots are decoded once on the TLS thread for native-tls.

use std::path::Path;

use native_tls::Certificate;

use super::plan::find;

/// Reads every certificate in a PEM file (a bundle may hold several) and
/// returns them as DER. Decoded and checked with our own base64 and DER
/// readers, not OpenSSL: this runs before connecting, and initialising
/// OpenSSL here would delay the first packet; the TLS context is built on
/// a helper thread instead (see [`TlsSettings::prepare`]).
pub fn load_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for (i, block) in certificate_blocks(&text).enumerate() {
        let n = i + 1;
        let der = block
            .der(crate::der::parse_certificate)
            .map_err(|e| match e {
                BlockError::Pem(e) => {
                    format!("{}: certificate {n} is not valid PEM: {e}", path.display())
                }
                BlockError::Der(e) => format!(
                    "{}: certificate {n} is not a valid X.509 certificate: {e}",
                    path.display()
                ),
            })?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(format!(
            "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The system bundle's roots, for the Once plan (on the TLS thread). Each
/// block is decoded once by our readers (base64, then the DER frame of a
/// certificate), then handed to OpenSSL as DER. A block they refuse goes
/// to OpenSSL's own PEM reader, as OpenSSL's load of the file would; if
/// that refuses it too, OpenSSL's load would add nothing from the file,
/// and neither does this. (Decoding in several threads was tried: OpenSSL
/// 3.0's decoders contend on their locks, so it took longer.)
pub(super) fn system_roots(pem: &[u8]) -> Vec<Certificate> {
    let mut roots = Vec::new();
    for (i, block) in certificate_blocks(pem).enumerate() {
        let ours = block
            .der(crate::der::check_certificate_frame)
            .ok()
            .and_then(|der| Certificate::from_der(&der).ok());
        match ours.map_or_else(|| Certificate::from_pem(block.pem), Ok) {
            Ok(cert) => roots.push(cert),
            Err(e) => {
                log::debug!(
                    "system bundle: certificate {} refused ({e}): none of it trusted",
                    i + 1
                );
                return Vec::new();
            }
        }
    }
    roots
}

enum BlockError {
    Pem(crate::base64::Base64Error),
    Der(crate::der::DerError),
}

/// One `CERTIFICATE` block of a PEM file.
struct Block<'a> {
    /// Its text from BEGIN to END.
    pem: &'a [u8],
    /// The base64 text between the two lines.
    body: &'a [u8],
}

impl Block<'_> {
    /// The DER certificate, when base64 and `check` accept it.
    fn der<T>(
        &self,
        check: fn(&[u8]) -> Result<T, crate::der::DerError>,
    ) -> Result<Vec<u8>, BlockError> {
        // Line by line (64 characters at a time), not byte by byte: this
        // runs over the whole system bundle on every run.
        let mut b64 = Vec::with_capacity(self.body.len());
        for line in self.body.split(u8::is_ascii_whitespace) {
            b64.extend_from_slice(line);
        }
        let der = crate::base64::decode(&b64).map_err(BlockError::Pem)?;
        check(&der).map_err(BlockError::Der)?;
        Ok(der)
    }
}

/// The `-----BEGIN CERTIFICATE-----` blocks of `text`, in order; text
/// between them (comments, as in RHEL's bundle) is skipped, and so is an
/// unterminated last block.
fn certificate_blocks(text: &[u8]) -> impl Iterator<Item = Block<'_>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut rest = text;
    std::iter::from_fn(move || {
        let start = find(rest, BEGIN)?;
        let after = &rest[start + BEGIN.len()..];
        let end = find(after, END)?;
        let pem = &rest[start..start + BEGIN.len() + end + END.len()];
        let body = &after[..end];
        rest = &after[end + END.len()..];
        Some(Block { pem, body })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::tests::{EC_LEAF_PEM, RSA_CA_V1_PEM};

    fn block(body: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    }

    #[test]
    fn a_bundle_of_plain_certificates_gives_every_root() {
        let pem = format!(
            "# a comment, as in RHEL's bundle\n{}\n{}",
            block(RSA_CA_V1_PEM),
            block(EC_LEAF_PEM)
        );
        assert_eq!(system_roots(pem.as_bytes()).len(), 2);
        let blocks: Vec<_> = certificate_blocks(pem.as_bytes()).collect();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(blocks[1].pem.ends_with(b"-----END CERTIFICATE-----"));
        assert!(
            blocks
                .iter()
                .all(|b| b.der(crate::der::check_certificate_frame).is_ok())
        );
    }

    #[test]
    fn a_block_both_readers_refuse_trusts_none_of_the_bundle() {
        // OpenSSL's own load of such a file fails as a whole
        // (X509_load_cert_crl_file: "bad base64 decode"): nothing from it
        // is trusted, here as there.
        for broken in ["MIIBroken!!", "AAAA", ""] {
            let pem = format!(
                "{}{}{}",
                block(RSA_CA_V1_PEM),
                block(broken),
                block(EC_LEAF_PEM)
            );
            assert_eq!(system_roots(pem.as_bytes()).len(), 0, "{broken:?}");
        }
        assert_eq!(system_roots(b"").len(), 0);
    }

    #[test]
    fn ca_file_errors_name_the_certificate() {
        let dir = std::env::temp_dir().join(format!("imapcheck-cafile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ca.pem");
        std::fs::write(&path, format!("{}{}", block(RSA_CA_V1_PEM), block("AAAA"))).unwrap();
        let err = load_ca_file(&path).unwrap_err();
        assert!(
            err.contains("certificate 2 is not a valid X.509 certificate"),
            "{err}"
        );
        std::fs::write(&path, format!("{}{}", block(RSA_CA_V1_PEM), block("A!"))).unwrap();
        let err = load_ca_file(&path).unwrap_err();
        assert!(err.contains("certificate 2 is not valid PEM"), "{err}");
        std::fs::write(&path, block(RSA_CA_V1_PEM)).unwrap();
        assert_eq!(load_ca_file(&path).unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
