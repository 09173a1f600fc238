//! PEM files of CA certificates read with our own PEM (base64) and DER
//! readers: `--ca-file`, and the system bundle of the Once trust plan,
//! whose roots are decoded once on the TLS thread for OpenSSL.

use std::path::Path;

use openssl::x509::X509;

/// The largest `--ca-file` read. A system's whole CA bundle in PEM is
/// about 220 KiB; 4 MiB leaves room for bundles with every intermediate
/// and still bounds the memory a wrong file name can take.
pub const MAX_CA_FILE: u64 = 4 * 1024 * 1024;

/// Reads every certificate in a PEM file (a bundle may hold several) and
/// returns them as DER. Decoded and checked with our own base64 and DER
/// readers, not OpenSSL: this runs before connecting, and initialising
/// OpenSSL here would delay the first packet; the TLS context is built on
/// a helper thread instead (see [`TlsSettings::prepare`]).
///
/// At most [`MAX_CA_FILE`] bytes are read: `--ca-file /dev/zero` (or a
/// huge file named by mistake) is refused without filling memory.
pub fn load_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut text = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_CA_FILE + 1)
        .read_to_end(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_CA_FILE {
        return Err(format!(
            "{} is larger than {} MiB, far more than a CA bundle (the whole Mozilla store is about 220 KiB in PEM): name the CA's certificate file",
            path.display(),
            MAX_CA_FILE >> 20
        ));
    }
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

/// Base64 characters per line of a PEM body, as OpenSSL and the CA bundle
/// tools (update-ca-certificates, update-ca-trust) write them. Only a
/// bundle laid out exactly so is decoded by our readers; see
/// [`system_roots`].
const PEM_LINE: usize = 64;

/// The system bundle's roots, for the Once plan (on the TLS thread).
///
/// A bundle laid out exactly as OpenSSL writes PEM (each block a BEGIN
/// line, full 64-character base64 lines and a shorter last one, an END
/// line; other lines free of `-----`) is decoded by our readers (base64,
/// then the DER frame of a certificate) and each certificate handed to
/// OpenSSL as DER: one parse. Anything else — a marker off the start of a
/// line, an unterminated block, odd line lengths, a block our readers
/// refuse — goes whole to OpenSSL's own PEM reader, which then trusts what
/// its load of the file would: every certificate, or nothing when one
/// block is broken. Our readers never decide to trust more than OpenSSL.
/// (Decoding in several threads was tried: OpenSSL 3.0's decoders contend
/// on their locks, so it took longer.)
pub(super) fn system_roots(pem: &[u8]) -> Vec<X509> {
    if let Some(roots) = regular_bodies(pem).and_then(|bodies| decode_bodies(&bodies)) {
        log::debug!("system bundle: {} roots, read by imapcheck", roots.len());
        return roots;
    }
    match X509::stack_from_pem(pem) {
        Ok(roots) => {
            log::debug!("system bundle: {} roots, read by OpenSSL", roots.len());
            roots
        }
        Err(e) => {
            log::debug!("system bundle refused by OpenSSL ({e}): none of it trusted");
            Vec::new()
        }
    }
}

/// The base64 text of each block, or None unless the file is laid out as
/// OpenSSL writes PEM (see [`system_roots`]).
fn regular_bodies(text: &[u8]) -> Option<Vec<Vec<u8>>> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    const END: &[u8] = b"-----END CERTIFICATE-----";
    let mut bodies = Vec::new();
    // The block being read, and whether its last line was short.
    let mut open: Option<(Vec<u8>, bool)> = None;
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match open.as_mut() {
            None if line == BEGIN => open = Some((Vec::with_capacity(2048), false)),
            None if find(line, b"-----").is_some() => return None,
            None => {}
            Some(_) if line == END => bodies.push(open.take()?.0),
            // (A byte outside base64 is for `decode_bodies` to refuse.)
            Some((body, short)) => {
                if *short || line.is_empty() || line.len() > PEM_LINE {
                    return None;
                }
                *short = line.len() < PEM_LINE;
                body.extend_from_slice(line);
            }
        }
    }
    open.is_none().then_some(bodies)
}

/// Each body as an OpenSSL certificate, or None when our readers or
/// OpenSSL's DER decoder refuse one.
fn decode_bodies(bodies: &[Vec<u8>]) -> Option<Vec<X509>> {
    let mut roots = Vec::with_capacity(bodies.len());
    for body in bodies {
        let der = crate::base64::decode(body).ok()?;
        crate::der::check_certificate_frame(&der).ok()?;
        roots.push(X509::from_der(&der).ok()?);
    }
    Some(roots)
}

enum BlockError {
    Pem(crate::base64::Base64Error),
    Der(crate::der::DerError),
}

/// One `CERTIFICATE` block of a `--ca-file`.
struct Block<'a> {
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
        let body = &after[..end];
        rest = &after[end + END.len()..];
        Some(Block { body })
    })
}

/// The label of the first PEM block that is not a plain `CERTIFICATE`
/// (`TRUSTED CERTIFICATE`, `X509 CRL`, a key...), if any.
pub fn first_other_block(pem: &[u8]) -> Option<String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut rest = pem;
    while let Some(at) = find(rest, BEGIN) {
        rest = &rest[at + BEGIN.len()..];
        let end = find(rest, b"-----").unwrap_or(rest.len());
        let label = &rest[..end];
        if label != b"CERTIFICATE" {
            return Some(String::from_utf8_lossy(label).into_owned());
        }
    }
    None
}

/// Where `needle` first occurs in `hay`: a scan for its first byte, then
/// a comparison (a bundle is read for `-----` markers only).
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut from = 0;
    loop {
        let at = from + hay.get(from..)?.iter().position(|&b| b == first)?;
        if hay.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::der::tests::{EC_LEAF_PEM, RSA_CA_V1_PEM};

    fn block(body: &str) -> String {
        format!("-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n")
    }

    fn der(indented: &str) -> Vec<u8> {
        let b64: Vec<u8> = indented
            .bytes()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        crate::base64::decode(&b64).unwrap()
    }

    /// `der` as OpenSSL writes PEM, with `width` characters a line.
    fn pem(der: &[u8], width: usize, eol: &str) -> String {
        let b64 = crate::base64::encode(der);
        let mut out = format!("-----BEGIN CERTIFICATE-----{eol}");
        for line in b64.as_bytes().chunks(width) {
            out.push_str(std::str::from_utf8(line).unwrap());
            out.push_str(eol);
        }
        out.push_str(&format!("-----END CERTIFICATE-----{eol}"));
        out
    }

    /// What OpenSSL's own PEM reader makes of `text`: how many roots.
    fn openssl_count(text: &str) -> usize {
        X509::stack_from_pem(text.as_bytes()).map_or(0, |c| c.len())
    }

    #[test]
    fn a_regular_bundle_is_decoded_by_our_readers() {
        let (a, b) = (der(RSA_CA_V1_PEM), der(EC_LEAF_PEM));
        for eol in ["\n", "\r\n"] {
            let text = format!(
                "# ACCVRAIZ1, a comment as in RHEL's bundle{eol}{}{eol}{}",
                pem(&a, 64, eol),
                pem(&b, 64, eol)
            );
            let bodies = regular_bodies(text.as_bytes()).expect("regular");
            assert_eq!(bodies.len(), 2);
            assert_eq!(decode_bodies(&bodies).map(|r| r.len()), Some(2));
            assert_eq!(system_roots(text.as_bytes()).len(), 2);
        }
        assert_eq!(regular_bodies(b"").map(|b| b.len()), Some(0));
        assert_eq!(system_roots(b"").len(), 0);
    }

    #[test]
    fn anything_irregular_goes_whole_to_openssl() {
        let (a, b) = (der(RSA_CA_V1_PEM), der(EC_LEAF_PEM));
        let (pa, pb) = (pem(&a, 64, "\n"), pem(&b, 64, "\n"));
        let mut trailing = a.clone();
        trailing.extend_from_slice(&[0, 0]);
        let cases = [
            ("76-character lines", format!("{}{pb}", pem(&a, 76, "\n"))),
            ("a marker off the line start", format!("junk {pa}{pb}")),
            (
                "a stray END line",
                format!("-----END CERTIFICATE-----\n{pa}{pb}"),
            ),
            (
                "an unterminated block",
                format!("{pa}{}", pb.replace("-----END CERTIFICATE-----\n", "")),
            ),
            (
                "a broken block",
                format!("{pa}{}{pb}", block("MIIBroken!!")),
            ),
            ("an empty block", format!("{pa}{}{pb}", block(""))),
            ("not a certificate", format!("{pa}{}{pb}", block("AAAA"))),
            (
                "bytes after the DER",
                format!("{}{pb}", pem(&trailing, 64, "\n")),
            ),
        ];
        for (what, text) in cases {
            let ours = regular_bodies(text.as_bytes()).and_then(|b| decode_bodies(&b));
            assert!(ours.is_none(), "{what}: decoded by our readers");
            // Whatever OpenSSL's reader makes of it, and nothing more.
            assert_eq!(
                system_roots(text.as_bytes()).len(),
                openssl_count(&text),
                "{what}"
            );
        }
        // OpenSSL refuses a file with a broken block as a whole, as its
        // X509_load_cert_crl_file does ("bad base64 decode").
        assert_eq!(
            openssl_count(&format!("{pa}{}{pb}", block("MIIBroken!!"))),
            0
        );
        // ... and reads a certificate followed by stray bytes.
        assert_eq!(
            openssl_count(&format!("{}{pb}", pem(&trailing, 64, "\n"))),
            2
        );
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

    #[test]
    fn ca_files_have_a_limit() {
        let err = load_ca_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("larger than 4 MiB"), "{err}");
    }
}
