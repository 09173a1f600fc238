//! A small DER reader for the few X.509 certificate fields imapcheck reports
//! (subject, issuer, validity period, subjectAltName), plus date helpers.
//!
//! native-tls only hands us the peer certificate as DER bytes and offers no
//! portable way to look inside it, and we do not want to pull in an X.509
//! crate just to print a handful of fields. The certificate comes from a
//! possibly hostile server, so this reader never panics, checks every length
//! against the bytes actually available, does not recurse, and escapes every
//! string it returns so it cannot inject terminal escape sequences.
//!
//! Signatures are not verified here; that is native-tls's job. This module
//! only extracts data for display.

use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{SystemTime, UNIX_EPOCH};

/// Maximum number of length octets accepted in a long-form DER length.
/// Four octets allow contents up to 4 GiB, far beyond any real certificate,
/// while keeping the value well inside `u64`/`usize` so it cannot overflow.
const MAX_LENGTH_OCTETS: usize = 4;

/// Seconds in a day; the validity period is reported in whole days.
const SECS_PER_DAY: i64 = 86_400;

/// Days between 0000-03-01 (the start of the computational era used by
/// `days_from_civil`) and 1970-01-01.
const DAYS_0000_03_01_TO_EPOCH: i64 = 719_468;

/// Days in a 400-year Gregorian cycle.
const DAYS_PER_400_YEARS: i64 = 146_097;

/// The years a message's INTERNALDATE may have. Before 1970 there was
/// neither Unix time nor Internet mail, so such a date is a server's
/// quirk; after 9999 a year no longer has the four digits RFC 3501 gives
/// it. A date outside is a quirk, not a date: no age is judged by it.
/// (A certificate's dates have four digits by their format, so they
/// cannot leave 0000-9999.)
pub const SANE_YEARS: std::ops::RangeInclusive<i64> = 1970..=9999;

// Universal tags (class universal, primitive unless noted).
const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_NUMERIC_STRING: u8 = 0x12;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_TELETEX_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_VISIBLE_STRING: u8 = 0x1a;
const TAG_UNIVERSAL_STRING: u8 = 0x1c;
const TAG_BMP_STRING: u8 = 0x1e;
const TAG_SEQUENCE: u8 = 0x30; // constructed
const TAG_SET: u8 = 0x31; // constructed

// Context-specific tags used in TBSCertificate.
const TAG_VERSION: u8 = 0xa0; // [0] EXPLICIT
const TAG_ISSUER_UID: u8 = 0x81; // [1] IMPLICIT BIT STRING
const TAG_SUBJECT_UID: u8 = 0x82; // [2] IMPLICIT BIT STRING
const TAG_EXTENSIONS: u8 = 0xa3; // [3] EXPLICIT

// GeneralName choices we extract (both IMPLICIT, primitive).
const TAG_GN_DNS_NAME: u8 = 0x82; // [2] IA5String
const TAG_GN_IP_ADDRESS: u8 = 0x87; // [7] OCTET STRING

/// DER encoding of the subjectAltName OID 2.5.29.17 (without tag/length).
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The fields of a certificate that imapcheck reports.
///
/// All strings are sanitised for display: control characters (and Unicode
/// bidi overrides) are escaped as `\xNN` / `\u{NNNN}`, so they are safe to
/// print to a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// RFC 4514-like, in certificate order (most significant RDN first),
    /// e.g. `C=DE, O=Example, CN=mail.example.org`.
    pub subject: String,
    /// Same format as `subject`.
    pub issuer: String,
    /// Start of the validity period, Unix seconds (UTC).
    pub not_before: i64,
    /// End of the validity period, Unix seconds (UTC).
    pub not_after: i64,
    /// subjectAltName dNSName entries, in certificate order.
    pub dns_names: Vec<String>,
    /// subjectAltName iPAddress entries, in certificate order.
    pub ip_addresses: Vec<IpAddr>,
}

/// Why a certificate could not be read. Every variant carries the byte
/// offset (from the start of the DER input) of the element at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DerError {
    /// The input ended where another element was expected.
    UnexpectedEnd {
        offset: usize,
        expected: &'static str,
    },
    /// An element's tag is present but its length octets are cut off.
    TruncatedHeader { offset: usize },
    /// An element's length claims more content bytes than remain in the
    /// enclosing element.
    Truncated {
        offset: usize,
        claimed: u64,
        available: usize,
    },
    /// Length octet 0x80 (indefinite length): allowed in BER, forbidden in DER.
    IndefiniteLength { offset: usize },
    /// A long-form length uses more octets than `MAX_LENGTH_OCTETS`.
    LengthTooLong { offset: usize, octets: usize },
    /// Tag numbers >= 31 (multi-byte tags) never occur in X.509.
    HighTagNumber { offset: usize },
    /// An element had a different tag than the certificate structure requires.
    UnexpectedTag {
        offset: usize,
        expected: &'static str,
        found: u8,
    },
    /// Bytes left over after the last element of a structure.
    TrailingData {
        offset: usize,
        context: &'static str,
    },
    /// A UTCTime/GeneralizedTime that is malformed or out of range.
    InvalidTime { offset: usize, reason: &'static str },
    /// Some other malformed value (OID, INTEGER, IP address, ...).
    InvalidValue { offset: usize, reason: &'static str },
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DerError::UnexpectedEnd { offset, expected } => write!(
                f,
                "unexpected end of data at byte offset {offset}: expected {expected}"
            ),
            DerError::TruncatedHeader { offset } => write!(
                f,
                "truncated DER header at byte offset {offset}: length octets missing"
            ),
            DerError::Truncated {
                offset,
                claimed,
                available,
            } => write!(
                f,
                "truncated DER element at byte offset {offset}: length says {claimed} bytes \
                 but only {available} remain"
            ),
            DerError::IndefiniteLength { offset } => write!(
                f,
                "indefinite length (0x80) at byte offset {offset} is not allowed in DER"
            ),
            DerError::LengthTooLong { offset, octets } => write!(
                f,
                "DER length at byte offset {offset} uses {octets} length octets \
                 (at most {MAX_LENGTH_OCTETS} supported)"
            ),
            DerError::HighTagNumber { offset } => {
                write!(f, "unsupported multi-byte tag at byte offset {offset}")
            }
            DerError::UnexpectedTag {
                offset,
                expected,
                found,
            } => write!(
                f,
                "expected {expected} at byte offset {offset}, found tag 0x{found:02x}"
            ),
            DerError::TrailingData { offset, context } => write!(
                f,
                "unexpected data at byte offset {offset} after the last element of {context}"
            ),
            DerError::InvalidTime { offset, reason } => {
                write!(f, "invalid time at byte offset {offset}: {reason}")
            }
            DerError::InvalidValue { offset, reason } => {
                write!(f, "invalid value at byte offset {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for DerError {}

/// One decoded tag-length-value element.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    /// Absolute offset of the tag octet in the original input.
    offset: usize,
    /// The complete encoding (tag, length and content).
    raw: &'a [u8],
    /// The content octets.
    content: &'a [u8],
    /// Absolute offset of the first content octet.
    content_offset: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over this element's content octets.
    fn reader(&self) -> Reader<'a> {
        Reader {
            data: self.content,
            pos: 0,
            base: self.content_offset,
        }
    }
}

/// Sequential reader over a run of DER elements (the content of one
/// constructed element, or the whole input).
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Absolute offset of `data[0]` in the original input, for error messages.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            base: 0,
        }
    }

    fn abs(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads the next element, whatever its tag.
    fn read_any(&mut self, expected: &'static str) -> Result<Tlv<'a>, DerError> {
        let start = self.pos;
        let offset = self.abs();
        let rest = self.data.get(start..).unwrap_or(&[]);
        let (&tag, after_tag) = rest
            .split_first()
            .ok_or(DerError::UnexpectedEnd { offset, expected })?;
        if tag & 0x1f == 0x1f {
            return Err(DerError::HighTagNumber { offset });
        }
        let (&first, len_and_rest) = after_tag
            .split_first()
            .ok_or(DerError::TruncatedHeader { offset })?;
        let (claimed, after_len): (u64, &[u8]) = if first < 0x80 {
            (u64::from(first), len_and_rest)
        } else if first == 0x80 {
            return Err(DerError::IndefiniteLength { offset });
        } else {
            let octets = usize::from(first & 0x7f);
            if octets > MAX_LENGTH_OCTETS {
                return Err(DerError::LengthTooLong { offset, octets });
            }
            let len_bytes = len_and_rest
                .get(..octets)
                .ok_or(DerError::TruncatedHeader { offset })?;
            // Non-minimal long forms (e.g. 0x81 0x05) are not valid DER, but
            // they are harmless here and OpenSSL, which has already accepted
            // the certificate, tolerates them too.
            let value = len_bytes
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            (value, len_and_rest.get(octets..).unwrap_or(&[]))
        };
        let available = after_len.len();
        let len = match usize::try_from(claimed) {
            Ok(len) if len <= available => len,
            _ => {
                return Err(DerError::Truncated {
                    offset,
                    claimed,
                    available,
                });
            }
        };
        let truncated = DerError::Truncated {
            offset,
            claimed,
            available,
        };
        // `after_len` is a tail of `rest`, and `len` at most its length:
        // none of these can fail, and none is left to chance.
        let header_len = rest.len().checked_sub(available).ok_or(truncated.clone())?;
        let content = after_len.get(..len).ok_or(truncated.clone())?;
        let total = header_len.checked_add(len).ok_or(truncated.clone())?;
        let raw = rest.get(..total).ok_or(truncated.clone())?;
        self.pos = start.checked_add(total).ok_or(truncated)?;
        Ok(Tlv {
            tag,
            offset,
            raw,
            content,
            content_offset: offset.saturating_add(header_len),
        })
    }

    /// Reads the next element and checks its tag.
    fn read_expected(&mut self, tag: u8, expected: &'static str) -> Result<Tlv<'a>, DerError> {
        match self.peek_tag() {
            Some(found) if found != tag => Err(DerError::UnexpectedTag {
                offset: self.abs(),
                expected,
                found,
            }),
            _ => self.read_any(expected),
        }
    }

    /// Reads the next element only if it has the given tag.
    fn optional(&mut self, tag: u8, expected: &'static str) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.read_any(expected).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    fn finish(&self, context: &'static str) -> Result<(), DerError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DerError::TrailingData {
                offset: self.abs(),
                context,
            })
        }
    }
}

/// Parses a DER-encoded X.509 certificate and extracts the fields imapcheck
/// reports. Never panics; any malformation yields a `DerError` naming the
/// byte offset.
/// Checks that `der` is framed as an X.509 certificate: one SEQUENCE of a
/// tbsCertificate SEQUENCE, an AlgorithmIdentifier SEQUENCE and a BIT
/// STRING, every length within the bytes and nothing after. Reads no
/// field and allocates nothing: cheap enough for a 144-certificate CA
/// bundle, whose roots OpenSSL then decodes in full.
pub fn check_certificate_frame(der: &[u8]) -> Result<(), DerError> {
    let mut top = Reader::new(der);
    let cert = top.read_expected(TAG_SEQUENCE, "SEQUENCE (Certificate)")?;
    top.finish("the input")?;
    let mut cert_r = cert.reader();
    cert_r.read_expected(TAG_SEQUENCE, "SEQUENCE (tbsCertificate)")?;
    cert_r.read_expected(TAG_SEQUENCE, "SEQUENCE (signatureAlgorithm)")?;
    cert_r.read_expected(TAG_BIT_STRING, "BIT STRING (signatureValue)")?;
    cert_r.finish("Certificate")
}

pub fn parse_certificate(der: &[u8]) -> Result<CertInfo, DerError> {
    let mut top = Reader::new(der);
    let cert = top.read_expected(TAG_SEQUENCE, "SEQUENCE (Certificate)")?;
    top.finish("the input")?;

    let mut cert_r = cert.reader();
    let tbs = cert_r.read_expected(TAG_SEQUENCE, "SEQUENCE (tbsCertificate)")?;
    cert_r.read_expected(TAG_SEQUENCE, "SEQUENCE (signatureAlgorithm)")?;
    cert_r.read_expected(TAG_BIT_STRING, "BIT STRING (signatureValue)")?;
    cert_r.finish("Certificate")?;

    let mut r = tbs.reader();
    if let Some(version) = r.optional(TAG_VERSION, "[0] version")? {
        let mut vr = version.reader();
        let v = vr.read_expected(TAG_INTEGER, "INTEGER (version)")?;
        check_integer(&v)?;
        vr.finish("version")?;
    }
    let serial = r.read_expected(TAG_INTEGER, "INTEGER (serialNumber)")?;
    check_integer(&serial)?;
    r.read_expected(TAG_SEQUENCE, "SEQUENCE (signature AlgorithmIdentifier)")?;
    let issuer = r.read_expected(TAG_SEQUENCE, "SEQUENCE (issuer Name)")?;
    let validity = r.read_expected(TAG_SEQUENCE, "SEQUENCE (validity)")?;
    let subject = r.read_expected(TAG_SEQUENCE, "SEQUENCE (subject Name)")?;
    r.read_expected(TAG_SEQUENCE, "SEQUENCE (subjectPublicKeyInfo)")?;
    r.optional(TAG_ISSUER_UID, "[1] issuerUniqueID")?;
    r.optional(TAG_SUBJECT_UID, "[2] subjectUniqueID")?;
    let extensions = r.optional(TAG_EXTENSIONS, "[3] extensions")?;
    r.finish("tbsCertificate")?;

    let mut vr = validity.reader();
    let not_before = parse_time(&vr.read_any("notBefore time")?)?;
    let not_after = parse_time(&vr.read_any("notAfter time")?)?;
    vr.finish("validity")?;

    let mut info = CertInfo {
        subject: parse_name(&subject)?,
        issuer: parse_name(&issuer)?,
        not_before,
        not_after,
        dns_names: Vec::new(),
        ip_addresses: Vec::new(),
    };
    if let Some(ext) = extensions {
        parse_extensions(&ext, &mut info)?;
    }
    Ok(info)
}

/// An INTEGER must have at least one content octet.
fn check_integer(tlv: &Tlv<'_>) -> Result<(), DerError> {
    if tlv.content.is_empty() {
        Err(DerError::InvalidValue {
            offset: tlv.offset,
            reason: "empty INTEGER",
        })
    } else {
        Ok(())
    }
}

/// The one SEQUENCE (`expected`) that `wrapper` holds; anything after it
/// is an error in `context`.
fn sole_sequence<'a>(
    wrapper: &Tlv<'a>,
    expected: &'static str,
    context: &'static str,
) -> Result<Tlv<'a>, DerError> {
    let mut r = wrapper.reader();
    let sequence = r.read_expected(TAG_SEQUENCE, expected)?;
    r.finish(context)?;
    Ok(sequence)
}

/// `[3] EXPLICIT Extensions`, where
/// `Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
fn parse_extensions(wrapper: &Tlv<'_>, info: &mut CertInfo) -> Result<(), DerError> {
    let list = sole_sequence(wrapper, "SEQUENCE (Extensions)", "[3] extensions")?;
    let mut lr = list.reader();
    while !lr.is_empty() {
        let ext = lr.read_expected(TAG_SEQUENCE, "SEQUENCE (Extension)")?;
        let mut er = ext.reader();
        let oid = er.read_expected(TAG_OID, "OBJECT IDENTIFIER (extnID)")?;
        er.optional(TAG_BOOLEAN, "BOOLEAN (critical)")?;
        let value = er.read_expected(TAG_OCTET_STRING, "OCTET STRING (extnValue)")?;
        er.finish("Extension")?;
        if oid.content == OID_SUBJECT_ALT_NAME {
            parse_subject_alt_name(&value, info)?;
        }
    }
    Ok(())
}

/// `GeneralNames ::= SEQUENCE OF GeneralName`; keeps dNSName and iPAddress.
fn parse_subject_alt_name(octets: &Tlv<'_>, info: &mut CertInfo) -> Result<(), DerError> {
    let names = sole_sequence(octets, "SEQUENCE (GeneralNames)", "subjectAltName")?;
    let mut r = names.reader();
    while !r.is_empty() {
        let name = r.read_any("GeneralName")?;
        match name.tag {
            TAG_GN_DNS_NAME => info
                .dns_names
                .push(escape_text(&String::from_utf8_lossy(name.content))),
            TAG_GN_IP_ADDRESS => {
                let ip = if let Ok(v4) = <[u8; 4]>::try_from(name.content) {
                    IpAddr::V4(Ipv4Addr::from(v4))
                } else if let Ok(v6) = <[u8; 16]>::try_from(name.content) {
                    IpAddr::V6(Ipv6Addr::from(v6))
                } else {
                    return Err(DerError::InvalidValue {
                        offset: name.offset,
                        reason: "subjectAltName iPAddress must be 4 or 16 bytes",
                    });
                };
                info.ip_addresses.push(ip);
            }
            // Every GeneralName alternative is context-specific; other
            // alternatives (email, URI, otherName, ...) are skipped.
            tag if tag & 0xc0 == 0x80 => {}
            found => {
                return Err(DerError::UnexpectedTag {
                    offset: name.offset,
                    expected: "context-specific GeneralName",
                    found,
                });
            }
        }
    }
    Ok(())
}

/// `Name ::= SEQUENCE OF RelativeDistinguishedName`,
/// `RelativeDistinguishedName ::= SET OF AttributeTypeAndValue`,
/// `AttributeTypeAndValue ::= SEQUENCE { type OID, value ANY }`.
fn parse_name(name: &Tlv<'_>) -> Result<String, DerError> {
    let mut out = String::new();
    let mut rdns = name.reader();
    let mut first_rdn = true;
    while !rdns.is_empty() {
        let rdn = rdns.read_expected(TAG_SET, "SET (RelativeDistinguishedName)")?;
        if rdn.content.is_empty() {
            return Err(DerError::InvalidValue {
                offset: rdn.offset,
                reason: "empty RelativeDistinguishedName",
            });
        }
        if !first_rdn {
            out.push_str(", ");
        }
        first_rdn = false;
        let mut atvs = rdn.reader();
        let mut first_atv = true;
        while !atvs.is_empty() {
            let atv = atvs.read_expected(TAG_SEQUENCE, "SEQUENCE (AttributeTypeAndValue)")?;
            let mut ar = atv.reader();
            let oid = ar.read_expected(TAG_OID, "OBJECT IDENTIFIER (attribute type)")?;
            let value = ar.read_any("attribute value")?;
            ar.finish("AttributeTypeAndValue")?;
            if !first_atv {
                out.push('+');
            }
            first_atv = false;
            let dotted = oid_to_string(&oid)?;
            out.push_str(attribute_short_name(&dotted).unwrap_or(&dotted));
            out.push('=');
            match decode_string(&value) {
                Some(text) => out.push_str(&escape_dn_value(&text)),
                // RFC 4514: values of other types are written as '#' followed
                // by the hex of their complete encoding.
                None => {
                    out.push('#');
                    push_hex(&mut out, value.raw);
                }
            }
        }
    }
    Ok(out)
}

fn attribute_short_name(dotted: &str) -> Option<&'static str> {
    Some(match dotted {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "1.2.840.113549.1.9.1" => "emailAddress",
        _ => return None,
    })
}

/// Dotted-decimal form of an OBJECT IDENTIFIER.
fn oid_to_string(oid: &Tlv<'_>) -> Result<String, DerError> {
    let invalid = |reason| DerError::InvalidValue {
        offset: oid.offset,
        reason,
    };
    if oid.content.is_empty() {
        return Err(invalid("empty OBJECT IDENTIFIER"));
    }
    let mut out = String::new();
    // Arcs are base-128 with a continuation bit; u128 holds even the
    // 128-bit UUID arcs of 2.25.x.
    let mut arc: u128 = 0;
    let mut in_arc = false;
    let mut first = true;
    for &b in oid.content {
        if !in_arc && b == 0x80 {
            return Err(invalid("non-minimal OBJECT IDENTIFIER arc"));
        }
        if arc >> (128 - 7) != 0 {
            return Err(invalid("OBJECT IDENTIFIER arc too large"));
        }
        arc = (arc << 7) | u128::from(b & 0x7f);
        in_arc = true;
        if b & 0x80 == 0 {
            if first {
                // The first subidentifier encodes the first two arcs.
                let (top, second) = match arc {
                    0..40 => (0, arc),
                    40..80 => (1, arc - 40),
                    _ => (2, arc - 80),
                };
                let _ = write!(out, "{top}.{second}");
                first = false;
            } else {
                let _ = write!(out, ".{arc}");
            }
            arc = 0;
            in_arc = false;
        }
    }
    if in_arc {
        return Err(invalid("truncated OBJECT IDENTIFIER"));
    }
    Ok(out)
}

/// Decodes the directory string types; `None` for any other type.
fn decode_string(value: &Tlv<'_>) -> Option<String> {
    let bytes = value.content;
    Some(match value.tag {
        TAG_UTF8_STRING | TAG_PRINTABLE_STRING | TAG_IA5_STRING | TAG_NUMERIC_STRING
        | TAG_VISIBLE_STRING => String::from_utf8_lossy(bytes).into_owned(),
        // T.61 proper is a stateful mess; in practice it carries Latin-1,
        // which is how OpenSSL treats it too.
        TAG_TELETEX_STRING => bytes.iter().map(|&b| char::from(b)).collect(),
        TAG_BMP_STRING => {
            let units = bytes.chunks(2).map(|c| match *c {
                [hi, lo] => u16::from_be_bytes([hi, lo]),
                _ => 0xfffd, // odd trailing byte
            });
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect()
        }
        TAG_UNIVERSAL_STRING => bytes
            .chunks(4)
            .map(|c| match *c {
                [a, b, c, d] => char::from_u32(u32::from_be_bytes([a, b, c, d]))
                    .unwrap_or(char::REPLACEMENT_CHARACTER),
                _ => char::REPLACEMENT_CHARACTER,
            })
            .collect(),
        _ => return None,
    })
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
}

/// Characters that must not reach a terminal raw: C0/C1 controls and DEL
/// (escape sequences, including the 8-bit CSI U+009B), and the bidi
/// embedding/override/isolate marks that can visually reorder text.
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_escaped_char(out: &mut String, c: char) {
    let code = u32::from(c);
    // Writing to a String cannot fail.
    let _ = if code <= 0xff {
        write!(out, "\\x{code:02x}")
    } else {
        write!(out, "\\u{{{code:04x}}}")
    };
}

/// Makes free text safe for a terminal: unsafe characters become `\xNN` or
/// `\u{NNNN}` and a literal backslash becomes `\\`, so the output is
/// unambiguous.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_unsafe_char(c) {
            push_escaped_char(&mut out, c);
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// Like `escape_text`, and additionally escapes the characters RFC 4514
/// reserves in attribute values, so a value such as `x, CN=evil` cannot
/// masquerade as an extra RDN.
fn escape_dn_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let last = s.chars().count().saturating_sub(1);
    for (i, c) in s.chars().enumerate() {
        if is_unsafe_char(c) {
            push_escaped_char(&mut out, c);
        } else if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && c == '#')
            || ((i == 0 || i == last) && c == ' ')
        {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads a UTCTime or GeneralizedTime as Unix seconds.
fn parse_time(tlv: &Tlv<'_>) -> Result<i64, DerError> {
    let invalid = |reason| DerError::InvalidTime {
        offset: tlv.offset,
        reason,
    };
    let s = tlv.content;
    let (year, rest) = match tlv.tag {
        TAG_UTC_TIME => {
            // RFC 5280 4.1.2.5.1: YYMMDDHHMMSSZ, YY >= 50 means 19YY.
            if s.len() != 13 {
                return Err(invalid("UTCTime must have the form YYMMDDHHMMSSZ"));
            }
            let yy = digits(s, 0, 2).ok_or(invalid("non-digit in UTCTime"))?;
            let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
            (year, s.get(2..).unwrap_or(&[]))
        }
        TAG_GENERALIZED_TIME => {
            // RFC 5280 4.1.2.5.2: YYYYMMDDHHMMSSZ; we also accept fractional
            // seconds (YYYYMMDDHHMMSS.fffZ), which are ignored.
            if s.len() < 15 {
                return Err(invalid(
                    "GeneralizedTime must have the form YYYYMMDDHHMMSSZ",
                ));
            }
            let year = digits(s, 0, 4).ok_or(invalid("non-digit in GeneralizedTime"))?;
            (year, s.get(4..).unwrap_or(&[]))
        }
        found => {
            return Err(DerError::UnexpectedTag {
                offset: tlv.offset,
                expected: "UTCTime or GeneralizedTime",
                found,
            });
        }
    };
    // `rest` is MMDDHHMMSS followed by the suffix.
    let field = |pos| digits(rest, pos, 2).ok_or(invalid("non-digit in time"));
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    // What follows the seconds: "Z", or (GeneralizedTime only, as UTCTime
    // has a fixed length) "." + fraction digits + "Z".
    match rest.get(10..).unwrap_or(&[]) {
        b"Z" => {}
        [.., last] if *last != b'Z' => {
            return Err(invalid("time is not in UTC (must end in 'Z')"));
        }
        [b'.', frac @ .., b'Z'] if !frac.is_empty() && frac.iter().all(u8::is_ascii_digit) => {}
        _ => return Err(invalid("malformed time after the seconds")),
    }
    if !(1..=12).contains(&month) {
        return Err(invalid("month out of range"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(invalid("day out of range"));
    }
    if hour > 23 {
        return Err(invalid("hour out of range"));
    }
    if minute > 59 {
        return Err(invalid("minute out of range"));
    }
    if second > 59 {
        return Err(invalid("second out of range"));
    }
    // Four digits at most: no year here can overflow, and one before
    // 1970 (RFC 5280's UTCTime starts in 1950) is still a date to judge a
    // certificate by: a notAfter then has expired, which is what it says.
    days_from_civil(i64::from(year), month, day)
        .and_then(|days| unix_seconds(days, i64::from(hour), i64::from(minute), i64::from(second)))
        .ok_or(invalid("time out of range"))
}

/// `days` since 1970-01-01 plus a time of day as Unix seconds; None
/// where that does not fit in an `i64`.
pub fn unix_seconds(days: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    days.checked_mul(SECS_PER_DAY)?
        .checked_add(hour.checked_mul(3600)?)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)
}

/// Parses `count` ASCII digits at `start`; `None` if any is missing or not a digit.
fn digits(s: &[u8], start: usize, count: usize) -> Option<u32> {
    let end = start.checked_add(count)?;
    s.get(start..end)?.iter().try_fold(0u32, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(i64::from(year)) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12,
/// day 1-31), None when the year is so far out that the days do not fit
/// in an `i64`. Counts in 400-year eras starting on March 1st so the
/// leap day falls at the end of each computational year.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Shift the year to start in March: Jan/Feb belong to the previous year.
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400); // 0..=399
    let month_from_march = (i64::from(month) + 9) % 12; // Mar=0 .. Feb=11
    // Days before this month in a March-based year: 153 days per 5 months.
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era.checked_mul(DAYS_PER_400_YEARS)?
        .checked_add(day_of_era)?
        .checked_sub(DAYS_0000_03_01_TO_EPOCH)
}

/// Inverse of `days_from_civil`: (year, month, day) for days since
/// 1970-01-01. Any `i64` is a day some year holds (the year stays far
/// inside an `i64`), so this cannot fail.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shifting to 0000-03-01 is done on the era and the day within it,
    // so it cannot overflow at the ends of the range.
    let era = days.div_euclid(DAYS_PER_400_YEARS);
    let shifted = days.rem_euclid(DAYS_PER_400_YEARS) + DAYS_0000_03_01_TO_EPOCH;
    let era = era + shifted.div_euclid(DAYS_PER_400_YEARS);
    let day_of_era = shifted.rem_euclid(DAYS_PER_400_YEARS); // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0..=11
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // 1..=31
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    // |era| <= i64::MAX / 146097 + 1, so era * 400 + 399 fits.
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    // month is 1..=12 and day 1..=31 by construction.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Formats Unix seconds as RFC 3339 UTC, e.g. `2027-03-01T12:00:00Z`.
/// Works for any `i64`; years outside 0000-9999 (which RFC 3339 cannot
/// express) are written with an explicit sign, e.g. `+10000-01-01T00:00:00Z`.
pub fn format_rfc3339(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(SECS_PER_DAY);
    let secs_of_day = unix_secs.rem_euclid(SECS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else if year < 0 {
        format!("-{:04}", year.unsigned_abs())
    } else {
        format!("+{year}")
    };
    format!("{year}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// Whole days from `now_unix` until `not_after`, rounded down:
/// 0 on the last day, negative once expired.
pub fn days_left(not_after: i64, now_unix: i64) -> i64 {
    let diff = i128::from(not_after) - i128::from(now_unix);
    // |diff| < 2^64, so the quotient always fits in i64.
    i64::try_from(diff.div_euclid(i128::from(SECS_PER_DAY))).unwrap_or(0)
}

/// The current time as Unix seconds (negative if the clock is before 1970).
pub fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => {
            let d = before.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // Round towards the past, like div_euclid.
            secs.saturating_neg()
                .saturating_sub(i64::from(d.subsec_nanos() > 0))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // ---------------------------------------------------------------------
    // Test helpers
    // ---------------------------------------------------------------------

    /// The embedded PEM bodies as DER (whitespace ignored).
    fn b64(text: &str) -> Vec<u8> {
        let body: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        crate::base64::decode(&body).expect("valid base64")
    }

    /// How `der`, which must not parse, is refused: the error's variant,
    /// what it names (the element expected or the structure with data
    /// left over), and for a wrong tag the tag found.
    fn refusal(der: &[u8]) -> (&'static str, &'static str, Option<u8>) {
        match parse_certificate(der).expect_err("a certificate that must be refused") {
            DerError::UnexpectedEnd { expected, .. } => ("UnexpectedEnd", expected, None),
            DerError::UnexpectedTag {
                expected, found, ..
            } => ("UnexpectedTag", expected, Some(found)),
            DerError::TrailingData { context, .. } => ("TrailingData", context, None),
            other => panic!("refused for another reason: {other:?}"),
        }
    }

    /// DER-encodes one element with a minimal length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = (len as u32).to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (4 - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &cat(parts))
    }

    const CN: &[u8] = &[0x55, 0x04, 0x03];
    const O: &[u8] = &[0x55, 0x04, 0x0a];
    const C: &[u8] = &[0x55, 0x04, 0x06];

    /// AttributeTypeAndValue with an arbitrary value type.
    fn atv(oid: &[u8], tag: u8, value: &[u8]) -> Vec<u8> {
        seq(&[tlv(0x06, oid), tlv(tag, value)])
    }

    /// Name from RDNs, each a list of AttributeTypeAndValues.
    fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let sets: Vec<Vec<u8>> = rdns.iter().map(|r| tlv(0x31, &cat(r))).collect();
        seq(&sets)
    }

    fn cn_name(cn: &str) -> Vec<u8> {
        name(&[vec![atv(CN, 0x0c, cn.as_bytes())]])
    }

    fn utc(s: &str) -> Vec<u8> {
        tlv(0x17, s.as_bytes())
    }

    fn gen_time(s: &str) -> Vec<u8> {
        tlv(0x18, s.as_bytes())
    }

    /// `[3] { SEQUENCE { subjectAltName extension } }` from GeneralNames.
    fn san_extensions(general_names: &[Vec<u8>]) -> Vec<u8> {
        let ext = seq(&[
            tlv(0x06, OID_SUBJECT_ALT_NAME),
            tlv(0x04, &seq(general_names)),
        ]);
        tlv(0xa3, &seq(&[ext]))
    }

    /// A structurally complete (unsigned) certificate built from parts.
    /// `optional_tail` goes after subjectPublicKeyInfo (unique IDs, extensions).
    fn build_cert(
        issuer: Vec<u8>,
        validity: Vec<u8>,
        subject: Vec<u8>,
        optional_tail: &[Vec<u8>],
    ) -> Vec<u8> {
        let alg = seq(&[tlv(0x06, &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])]);
        let spki = seq(&[alg.clone(), tlv(0x03, &[0x00, 0x04, 0x01, 0x02])]);
        let mut tbs_parts = vec![
            tlv(0xa0, &tlv(0x02, &[0x02])),
            tlv(0x02, &[0x01, 0x00]),
            alg.clone(),
            issuer,
            validity,
            subject,
            spki,
        ];
        tbs_parts.extend_from_slice(optional_tail);
        seq(&[seq(&tbs_parts), alg, tlv(0x03, &[0x00, 0x30, 0x00])])
    }

    fn simple_cert(subject: Vec<u8>, optional_tail: &[Vec<u8>]) -> Vec<u8> {
        build_cert(
            cn_name("Test CA"),
            seq(&[utc("260301120000Z"), utc("270301120000Z")]),
            subject,
            optional_tail,
        )
    }

    fn subject_of(subject: Vec<u8>) -> String {
        parse_certificate(&simple_cert(subject, &[]))
            .unwrap()
            .subject
    }

    /// Parses one encoded time element.
    fn time(encoded: &[u8]) -> Result<i64, DerError> {
        let tlv = Reader::new(encoded).read_any("time").unwrap();
        parse_time(&tlv)
    }

    fn all_certs() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("rsa_ca", b64(RSA_CA_V1_PEM)),
            ("ec_leaf", b64(EC_LEAF_PEM)),
            ("rsa_v3", b64(RSA_V3_PEM)),
            ("boundary", b64(UTC_BOUNDARY_PEM)),
            ("extreme", b64(EXTREME_DATES_PEM)),
            ("century", b64(CENTURY_PEM)),
            ("bmp", b64(BMP_PEM)),
            ("t61", b64(T61_PEM)),
            ("misc", b64(MISC_PEM)),
        ]
    }

    /// Byte offset carried by any error variant.
    fn offset_of(err: &DerError) -> usize {
        match *err {
            DerError::UnexpectedEnd { offset, .. }
            | DerError::TruncatedHeader { offset }
            | DerError::Truncated { offset, .. }
            | DerError::IndefiniteLength { offset }
            | DerError::LengthTooLong { offset, .. }
            | DerError::HighTagNumber { offset }
            | DerError::UnexpectedTag { offset, .. }
            | DerError::TrailingData { offset, .. }
            | DerError::InvalidTime { offset, .. }
            | DerError::InvalidValue { offset, .. } => offset,
        }
    }

    /// Deterministic pseudo-random numbers (xorshift64).
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    // ---------------------------------------------------------------------
    // Real certificates generated with the openssl CLI (OpenSSL 3.0).
    // The recorded `openssl x509 -noout -subject -issuer -startdate -enddate`
    // output is quoted above each one; openssl prints non-ASCII bytes as
    // \XX escapes (e.g. Ex\C3\A4mple = "Exämple").
    // ---------------------------------------------------------------------

    // RSA 2048 CA, version 1 (no extensions), fixed validity:
    //   openssl req -new -key ca.key -subj "/C=DE/O=Example CA/CN=Example Root CA"
    //   openssl ca -selfsign -startdate 20250101000000Z -enddate 20350101000000Z
    //
    //   subject=C = DE, O = Example CA, CN = Example Root CA
    //   issuer=C = DE, O = Example CA, CN = Example Root CA
    //   notBefore=Jan  1 00:00:00 2025 GMT
    //   notAfter=Jan  1 00:00:00 2035 GMT
    pub(crate) const RSA_CA_V1_PEM: &str = "
        MIIC7TCCAdUCAhAAMA0GCSqGSIb3DQEBCwUAMDwxCzAJBgNVBAYTAkRFMRMwEQYD
        VQQKDApFeGFtcGxlIENBMRgwFgYDVQQDDA9FeGFtcGxlIFJvb3QgQ0EwHhcNMjUw
        MTAxMDAwMDAwWhcNMzUwMTAxMDAwMDAwWjA8MQswCQYDVQQGEwJERTETMBEGA1UE
        CgwKRXhhbXBsZSBDQTEYMBYGA1UEAwwPRXhhbXBsZSBSb290IENBMIIBIjANBgkq
        hkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqxysfdxRPJFuVYIl30E6dbBp59lVA+3i
        QQ8xZH5XmiAUFmRBE7HadC9vMtZw9cJYej1GHYj88jORZCz1paw5DBhLBtMBaxmk
        MADPxSL4ypuY63YSruKPZJslWrT0LXXFDkEA4UYAvCR7LfTz617khxBJO3st83lC
        E36yPf0zrdJ4fAR9BeGryiP/4FSqm9WInrljMGTlshWnBuLBjC0qxFkPM0KFVlYn
        FUbX8CwXZ/cQdgUNN1K3yLbOhwVRHkBb8VNVmB99/R+H4XbvGZRCSUGlwAPjlqAh
        zBcD32t4m0ETKkLqYPz+/FdPNQQF48lfXRhuN12CgnmqbpsyHzD8AQIDAQABMA0G
        CSqGSIb3DQEBCwUAA4IBAQCkht23Etnc90EWOgBVD/RUF/vy0te/fIFOYlpRceFn
        XCiVkMSiK/ToIbW+svgSm0iVN3ZQ+j8qVyhxx4CUdaQ0qBQYYpF7zZhRrpNF41ue
        r8m63A6JyE3uoF5fRC5I/DdMMdJCSryQjFBtRXZNjf+NdMXp2WClhgpyucodx5v+
        z6/m+iKiFuUH3ZEgHNEDCf8GbVo4I7P6DfLM6OHctnw6noiHzpzJ2i/69sSUGwt1
        o+KiXi7tRUUMsER72Jtny1z0T1ZnYg3oDdh3y14GC4pu2IaaPEn7rqz/6k6L/7gm
        CxV/FJ53Bm5STGMj5wEGF0yBCPcGUb6vKHBfopSPpFEH
    ";

    // P-256 leaf signed by the CA above, fixed validity:
    //   openssl req -new -utf8 -subj "/C=DE/O=Exämple GmbH/CN=mail.example.org"
    //   openssl ca -startdate 20260301120000Z -enddate 20270301120000Z with
    //   subjectAltName = DNS:mail.example.org,DNS:localhost,IP:127.0.0.1,IP:::1
    //
    //   subject=C = DE, O = Ex\C3\A4mple GmbH, CN = mail.example.org
    //   issuer=C = DE, O = Example CA, CN = Example Root CA
    //   notBefore=Mar  1 12:00:00 2026 GMT
    //   notAfter=Mar  1 12:00:00 2027 GMT
    pub(crate) const EC_LEAF_PEM: &str = "
        MIIC7DCCAdSgAwIBAgICEAEwDQYJKoZIhvcNAQELBQAwPDELMAkGA1UEBhMCREUx
        EzARBgNVBAoMCkV4YW1wbGUgQ0ExGDAWBgNVBAMMD0V4YW1wbGUgUm9vdCBDQTAe
        Fw0yNjAzMDExMjAwMDBaFw0yNzAzMDExMjAwMDBaMEAxCzAJBgNVBAYTAkRFMRYw
        FAYDVQQKDA1FeMOkbXBsZSBHbWJIMRkwFwYDVQQDDBBtYWlsLmV4YW1wbGUub3Jn
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwNB5OSZ9Fld7bVrIBA+BY+lPetSj
        3kRC60yaNqH0+nF0qDm78v3F4lXXgoKN1cy8v6E5gx5+cOb+tRK0L7+eg6OBvjCB
        uzAJBgNVHRMEAjAAMD4GA1UdEQQ3MDWCEG1haWwuZXhhbXBsZS5vcmeCCWxvY2Fs
        aG9zdIcEfwAAAYcQAAAAAAAAAAAAAAAAAAAAATAdBgNVHQ4EFgQUW5FkPCg70gLP
        F8BfErGd9b9fIrwwTwYDVR0jBEgwRqFApD4wPDELMAkGA1UEBhMCREUxEzARBgNV
        BAoMCkV4YW1wbGUgQ0ExGDAWBgNVBAMMD0V4YW1wbGUgUm9vdCBDQYICEAAwDQYJ
        KoZIhvcNAQELBQADggEBAHQ22a/iJcwQj+UjOdU+ewRfDHXfH/motI+xQ/RXLQ1G
        5c1vkyrUQuNlMNRYtFp1jgf/vih3qeE8f7uDNQ4HeSrGp/ZeLp7LxhMbCW4pH7vZ
        9GRUd+/ICBuwW0nCuhK1sfoReFEd0GC/fS5fSQIL4YKeURxmBl5yoLOJQTLvC2UQ
        u67dDDniWtPLbU5hRh2ff65uDHgGxGA7HsxhW7caU09T4+Bb33typFiNlWJOUKxz
        l1bbLkaCs2D2x13aazo0jZUP6AvM/ED0TS59P4N7vrrsNAb+I1oV7Lw4Gy0SISQJ
        /K8jir+iFPGa/esvI8XAuY7yGpxZXC3WGNrjj3nGjbw=
    ";

    // RSA 2048 self-signed, version 3:
    //   openssl req -x509 -newkey rsa:2048 -subj "/CN=rsa.example.net" -days 90
    //     -addext "subjectAltName=DNS:rsa.example.net"
    //
    //   subject=CN = rsa.example.net
    //   issuer=CN = rsa.example.net
    //   notBefore=Nov 25 19:05:45 2026 GMT
    //   notAfter=Feb 23 19:05:45 2027 GMT
    const RSA_V3_PEM: &str = "
        MIIDMTCCAhmgAwIBAgIUTz5/kcbWY51YytQ6MdYDmo/BF68wDQYJKoZIhvcNAQEL
        BQAwGjEYMBYGA1UEAwwPcnNhLmV4YW1wbGUubmV0MB4XDTI2MTEyNTE5MDU0NVoX
        DTI3MDIyMzE5MDU0NVowGjEYMBYGA1UEAwwPcnNhLmV4YW1wbGUubmV0MIIBIjAN
        BgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEArYqMRjoFRKlAmq4wfwxyw743vcuI
        fIWkLhVr7iQ3rPOnF+SGErZf/92VNyWiKaHeX3bO4a8A0opnkDWNwLnc2ApsLYzd
        xnbJB035x653MOeQoE/TcBXbs6Q7qslz89z/+Wu+ix7hih348DNXNAYogg15Fkrp
        lyhdti8cj/AjRfososW0/5D5a2R+7AdKX7aItsUBzphnCAXh+nKPU8kspk/VQI/4
        rhXv9JWEIAJes7U31n+h5e2HUPUglxd3F+seeOcigUBPLyKoGdDOdF0pVbsonK59
        k4/hc7605qQEilOYcBvKi1MhcUiYLPaZsK9s0fp9U1Rr48765fYkoDp0pwIDAQAB
        o28wbTAdBgNVHQ4EFgQU0bXJOYndWcDENQ9XZka3rezupdYwHwYDVR0jBBgwFoAU
        0bXJOYndWcDENQ9XZka3rezupdYwDwYDVR0TAQH/BAUwAwEB/zAaBgNVHREEEzAR
        gg9yc2EuZXhhbXBsZS5uZXQwDQYJKoZIhvcNAQELBQADggEBAC2RjGA8RMsS61Ta
        x2J9Wou08+eJApezV0ZNgST/PL4tOMojPeJFN5BWX9f/mfkRJgjUX4TCPbZb/c8e
        4H31SvBe4xD6zDmiTdowj88S9GqGJS3rf4v2hH18ofa04ZpRR1Bj+jLVnr9C3Smw
        TSnUd4cMccR2HWVwDxSXKSgehiO9OOfv4gy0xwi+AhBPNNY9/+jEG4YvgUjpkEX6
        kqmuQXC5WHZm55QgjwBjl6AJZoiunaINsEpKlvAzaN/a6Vkbo8x5JPpp1uwjdYGD
        wN8KdU+l50dKtTFXWFAJGmQ9AUt4BTxxO+5PuW5IwsRblocgPTzqZrJYQOE8hAfi
        Vy8WwwI=
    ";

    // UTCTime at both ends of its RFC 5280 range (500101000000Z, 491231235959Z):
    //   openssl ca -startdate 19500101000000Z -enddate 20491231235959Z
    //
    //   subject=CN = boundary.example
    //   issuer=C = DE, O = Example CA, CN = Example Root CA
    //   notBefore=Jan  1 00:00:00 1950 GMT
    //   notAfter=Dec 31 23:59:59 2049 GMT
    const UTC_BOUNDARY_PEM: &str = "
        MIICADCB6QICEAIwDQYJKoZIhvcNAQELBQAwPDELMAkGA1UEBhMCREUxEzARBgNV
        BAoMCkV4YW1wbGUgQ0ExGDAWBgNVBAMMD0V4YW1wbGUgUm9vdCBDQTAeFw01MDAx
        MDEwMDAwMDBaFw00OTEyMzEyMzU5NTlaMBsxGTAXBgNVBAMMEGJvdW5kYXJ5LmV4
        YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATA0Hk5Jn0WV3ttWsgED4Fj
        6U961KPeRELrTJo2ofT6cXSoObvy/cXiVdeCgo3VzLy/oTmDHn5w5v61ErQvv56D
        MA0GCSqGSIb3DQEBCwUAA4IBAQAJJ/kUPIK5FUtW8qlObxCCrhkp36wDuUvFjpGQ
        DRGdH/1ypfNcbX9jZA4EaC5WML9QNKXD7Gg843n01liFI8V6STOdy5q7zVUEA1wn
        7VKUR7UPur4sPJ/ZZo2E7LvDCcSkJGNK1wwonaM5mF7L+GDXfnkBtIob6C4w+5g5
        R/uPEPqWKy6rT/v1UYm35JSiNUHsJwNG4XN0UT/maOeXZFZRQ4ZXLIpHFbVauUPx
        +S7kXz6c5HDg0OHvditwttlUrfJVArjlJvXQfRNNHmOtbACKTgh5ziRREDNVpGsv
        RyCZdJBzRLZXGGF97LSFrFAygHU69BV1XnQKAT6OYBrMPFah
    ";

    // GeneralizedTime just outside the UTCTime range, and the maximum date:
    //   openssl ca -startdate 19491231235959Z -enddate 99991231235959Z
    //
    //   subject=CN = boundary.example
    //   issuer=C = DE, O = Example CA, CN = Example Root CA
    //   notBefore=Dec 31 23:59:59 1949 GMT
    //   notAfter=Dec 31 23:59:59 9999 GMT
    const EXTREME_DATES_PEM: &str = "
        MIICBDCB7QICEAMwDQYJKoZIhvcNAQELBQAwPDELMAkGA1UEBhMCREUxEzARBgNV
        BAoMCkV4YW1wbGUgQ0ExGDAWBgNVBAMMD0V4YW1wbGUgUm9vdCBDQTAiGA8xOTQ5
        MTIzMTIzNTk1OVoYDzk5OTkxMjMxMjM1OTU5WjAbMRkwFwYDVQQDDBBib3VuZGFy
        eS5leGFtcGxlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwNB5OSZ9Fld7bVrI
        BA+BY+lPetSj3kRC60yaNqH0+nF0qDm78v3F4lXXgoKN1cy8v6E5gx5+cOb+tRK0
        L7+egzANBgkqhkiG9w0BAQsFAAOCAQEAA+3gA1GuDWc7qN+tTha26TL57lwpi0aT
        zKDNdQwRQO75JQri9j0Pu5gl3ayimlSB/9ekuohM1HxmvLZGAZXvPyIO/6dlDQQq
        gtYBgfB80Pdhlvo84WrZFWIMon2oog0BI4/z7s/T0+ivXnGMClVOu9/fz4ZUkvy+
        ozqT18msejSP6GidiR329Sa0VxfYDGw51hXt+o2zRyJv7Ca59Sfj6TIbsVakJn4N
        eI0OCG6qGTzsDQm+e88VHI+jl3UkG10pdOxjmjWdJG+oHZmcrPCpPp0WZ8lb0/qH
        R9vunFgAKKIBQIP86YP8TXZnbcTBR9l6f+P6+amMSFA+JLuXtXZ2eg==
    ";

    // notBefore UTCTime, notAfter GeneralizedTime (beyond 2049):
    //   openssl req -x509 -key leaf.key -subj "/CN=century.example" -days 36500
    //
    //   subject=CN = century.example
    //   issuer=CN = century.example
    //   notBefore=Nov 25 19:03:55 2026 GMT
    //   notAfter=Nov  1 19:03:55 2126 GMT
    const CENTURY_PEM: &str = "
        MIIBizCCATGgAwIBAgIUemAg9TFZKi/ESDw31zHeI08yEtwwCgYIKoZIzj0EAwIw
        GjEYMBYGA1UEAwwPY2VudHVyeS5leGFtcGxlMCAXDTI2MTEyNTE5MDM1NVoYDzIx
        MjYxMTAxMTkwMzU1WjAaMRgwFgYDVQQDDA9jZW50dXJ5LmV4YW1wbGUwWTATBgcq
        hkjOPQIBBggqhkjOPQMBBwNCAATA0Hk5Jn0WV3ttWsgED4Fj6U961KPeRELrTJo2
        ofT6cXSoObvy/cXiVdeCgo3VzLy/oTmDHn5w5v61ErQvv56Do1MwUTAdBgNVHQ4E
        FgQUW5FkPCg70gLPF8BfErGd9b9fIrwwHwYDVR0jBBgwFoAUW5FkPCg70gLPF8Bf
        ErGd9b9fIrwwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAuA4i
        Ogh9gKOKyFcL52SvMy8D5TUHAOAxo4WFjnoeLugCIH8RevYW3rHF1uFJN6Wml2a3
        tp/B/dSHAAi14hIrUjZ2
    ";

    // O and CN as BMPString (req config string_mask = MASK:0x800):
    //   openssl req -x509 -utf8 -subj "/C=DE/O=Exämple GmbH/CN=Straße €" -days 30
    //
    //   subject=C = DE, O = Ex\C3\A4mple GmbH, CN = Stra\C3\9Fe \E2\82\AC
    //   issuer=C = DE, O = Ex\C3\A4mple GmbH, CN = Stra\C3\9Fe \E2\82\AC
    //   notBefore=Nov 25 19:03:57 2026 GMT
    //   notAfter=Dec 25 19:03:57 2026 GMT
    const BMP_PEM: &str = "
        MIIBkDCCATcCFDd9bSXgVZwA1BuLx7FdnYj23JZGMAoGCCqGSM49BAMCMEsxCzAJ
        BgNVBAYTAkRFMSEwHwYDVQQKHhgARQB4AOQAbQBwAGwAZQAgAEcAbQBiAEgxGTAX
        BgNVBAMeEABTAHQAcgBhAN8AZQAgIKwwHhcNMjYxMTI1MTkwMzU3WhcNMjYxMjI1
        MTkwMzU3WjBLMQswCQYDVQQGEwJERTEhMB8GA1UECh4YAEUAeADkAG0AcABsAGUA
        IABHAG0AYgBIMRkwFwYDVQQDHhAAUwB0AHIAYQDfAGUAICCsMFkwEwYHKoZIzj0C
        AQYIKoZIzj0DAQcDQgAEwNB5OSZ9Fld7bVrIBA+BY+lPetSj3kRC60yaNqH0+nF0
        qDm78v3F4lXXgoKN1cy8v6E5gx5+cOb+tRK0L7+egzAKBggqhkjOPQQDAgNHADBE
        AiBeFqnMypAiud0FHRnmi0MGNn/hSP+otQJ1A8kEBFkdlAIgC33DG0xiboH5ViOw
        gw837eswgIDRKhjQa1iiNr2ABWM=
    ";

    // O and CN as TeletexString (string_mask = MASK:0x4, Latin-1 bytes):
    //   openssl req -x509 -utf8 -subj "/C=DE/O=Exämple GmbH/CN=Straße" -days 30
    //
    //   subject=C = DE, O = Ex\C3\A4mple GmbH, CN = Stra\C3\9Fe
    //   issuer=C = DE, O = Ex\C3\A4mple GmbH, CN = Stra\C3\9Fe
    //   notBefore=Nov 25 19:04:10 2026 GMT
    //   notAfter=Dec 25 19:04:10 2026 GMT
    const T61_PEM: &str = "
        MIIBZjCCAQsCFGzbTHbUS6OUpmuQ9W/T9bGEVkoMMAoGCCqGSM49BAMCMDUxCzAJ
        BgNVBAYTAkRFMRUwEwYDVQQKFAxFeORtcGxlIEdtYkgxDzANBgNVBAMUBlN0cmHf
        ZTAeFw0yNjExMjUxOTA0MTBaFw0yNjEyMjUxOTA0MTBaMDUxCzAJBgNVBAYTAkRF
        MRUwEwYDVQQKFAxFeORtcGxlIEdtYkgxDzANBgNVBAMUBlN0cmHfZTBZMBMGByqG
        SM49AgEGCCqGSM49AwEHA0IABMDQeTkmfRZXe21ayAQPgWPpT3rUo95EQutMmjah
        9PpxdKg5u/L9xeJV14KCjdXMvL+hOYMefnDm/rUStC+/noMwCgYIKoZIzj0EAwID
        SQAwRgIhAIyDyKqpmEK4mSswBGwOlwiSySbvWRQ5I2EJibd91mbOAiEA55oPpoOv
        G4VhA7RzfxIndL0zqxpKezKTGDEqTglTtR4=
    ";

    // Many attribute types, a multi-valued RDN, an ESC byte in the CN (<ESC>
    // below, passed as bash $'\x1b'), title (2.5.4.12, not in our short-name
    // table) and several GeneralName types:
    //   openssl req -x509 -utf8 -multivalue-rdn -days 30 -subj \
    //     "/DC=org/DC=example/C=US/ST=New York/L=Brooklyn/O=ACME/OU=Ops+CN=esc<ESC>[31mred\
    //      /serialNumber=42/emailAddress=ops@example.org/title=Admin" \
    //     -addext "subjectAltName=email:ops@example.org,URI:https://example.org/,\
    //      DNS:*.example.org,IP:10.0.0.1,IP:2001:db8::1" -addext "keyUsage=critical,digitalSignature"
    //
    //   subject=DC = org, DC = example, C = US, ST = New York, L = Brooklyn, O = ACME, OU = Ops + CN = esc\1B[31mred, serialNumber = 42, emailAddress = ops@example.org, title = Admin
    //   issuer=DC = org, DC = example, C = US, ST = New York, L = Brooklyn, O = ACME, OU = Ops + CN = esc\1B[31mred, serialNumber = 42, emailAddress = ops@example.org, title = Admin
    //   notBefore=Nov 25 19:04:16 2026 GMT
    //   notAfter=Dec 25 19:04:16 2026 GMT
    const MISC_PEM: &str = "
        MIIDLjCCAtSgAwIBAgIUZ+PuzdVQi9fOku3fOCDtWi27Ct4wCgYIKoZIzj0EAwIw
        gc8xEzARBgoJkiaJk/IsZAEZFgNvcmcxFzAVBgoJkiaJk/IsZAEZFgdleGFtcGxl
        MQswCQYDVQQGEwJVUzERMA8GA1UECAwITmV3IFlvcmsxETAPBgNVBAcMCEJyb29r
        bHluMQ0wCwYDVQQKDARBQ01FMSAwCgYDVQQLDANPcHMwEgYDVQQDDAtlc2MbWzMx
        bXJlZDELMAkGA1UEBRMCNDIxHjAcBgkqhkiG9w0BCQEWD29wc0BleGFtcGxlLm9y
        ZzEOMAwGA1UEDAwFQWRtaW4wHhcNMjYxMTI1MTkwNDE2WhcNMjYxMjI1MTkwNDE2
        WjCBzzETMBEGCgmSJomT8ixkARkWA29yZzEXMBUGCgmSJomT8ixkARkWB2V4YW1w
        bGUxCzAJBgNVBAYTAlVTMREwDwYDVQQIDAhOZXcgWW9yazERMA8GA1UEBwwIQnJv
        b2tseW4xDTALBgNVBAoMBEFDTUUxIDAKBgNVBAsMA09wczASBgNVBAMMC2VzYxtb
        MzFtcmVkMQswCQYDVQQFEwI0MjEeMBwGCSqGSIb3DQEJARYPb3BzQGV4YW1wbGUu
        b3JnMQ4wDAYDVQQMDAVBZG1pbjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABMDQ
        eTkmfRZXe21ayAQPgWPpT3rUo95EQutMmjah9PpxdKg5u/L9xeJV14KCjdXMvL+h
        OYMefnDm/rUStC+/noOjgYswgYgwVwYDVR0RBFAwToEPb3BzQGV4YW1wbGUub3Jn
        hhRodHRwczovL2V4YW1wbGUub3JnL4INKi5leGFtcGxlLm9yZ4cECgAAAYcQIAEN
        uAAAAAAAAAAAAAAAATAOBgNVHQ8BAf8EBAMCB4AwHQYDVR0OBBYEFFuRZDwoO9IC
        zxfAXxKxnfW/XyK8MAoGCCqGSM49BAMCA0gAMEUCIFapY1nDj804i2QKQuSNDy0K
        vtJQP2jeNLIKKryvSCoBAiEAjOdUiFWIW6l1IQV2OnwlbeGh8vY27hckGLkqt0Rs
        j/g=
    ";

    // ---------------------------------------------------------------------
    // Real certificates
    // ---------------------------------------------------------------------

    #[test]
    fn embedded_certs_decode_to_the_openssl_der_sizes() {
        // `openssl x509 -outform der | wc -c`; guards the test base64 decoder.
        let sizes: Vec<usize> = all_certs().iter().map(|(_, der)| der.len()).collect();
        assert_eq!(sizes, [753, 752, 821, 516, 520, 399, 404, 362, 818]);
    }

    #[test]
    fn rsa_ca_version1_without_extensions() {
        let info = parse_certificate(&b64(RSA_CA_V1_PEM)).unwrap();
        assert_eq!(
            info,
            CertInfo {
                subject: "C=DE, O=Example CA, CN=Example Root CA".into(),
                issuer: "C=DE, O=Example CA, CN=Example Root CA".into(),
                not_before: 1_735_689_600,
                not_after: 2_051_222_400,
                dns_names: vec![],
                ip_addresses: vec![],
            }
        );
        assert_eq!(format_rfc3339(info.not_before), "2025-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(info.not_after), "2035-01-01T00:00:00Z");
    }

    #[test]
    fn names_and_validity_of_the_embedded_certificates() {
        // (certificate, subject, issuer; None where the case does not
        // check it, then notBefore and notAfter as Unix seconds and as
        // RFC 3339)
        let example_ca = Some("C=DE, O=Example CA, CN=Example Root CA");
        let cases = [
            (
                "EC leaf, UTF-8 subject",
                EC_LEAF_PEM,
                Some("C=DE, O=Exämple GmbH, CN=mail.example.org"),
                example_ca,
                (1_772_366_400, "2026-03-01T12:00:00Z"),
                (1_803_902_400, "2027-03-01T12:00:00Z"),
            ),
            (
                "RSA version 3, self-signed",
                RSA_V3_PEM,
                Some("CN=rsa.example.net"),
                Some("CN=rsa.example.net"),
                (1_795_633_545, "2026-11-25T19:05:45Z"),
                (1_803_409_545, "2027-02-23T19:05:45Z"),
            ),
            (
                "UTCTime 50 is 1950 and 49 is 2049",
                UTC_BOUNDARY_PEM,
                Some("CN=boundary.example"),
                example_ca,
                (-631_152_000, "1950-01-01T00:00:00Z"),
                (2_524_607_999, "2049-12-31T23:59:59Z"),
            ),
            (
                "GeneralizedTime 1949 and 9999",
                EXTREME_DATES_PEM,
                None,
                None,
                (-631_152_001, "1949-12-31T23:59:59Z"),
                (253_402_300_799, "9999-12-31T23:59:59Z"),
            ),
            (
                "GeneralizedTime beyond 2049",
                CENTURY_PEM,
                Some("CN=century.example"),
                Some("CN=century.example"),
                (1_795_633_435, "2026-11-25T19:03:55Z"),
                (4_949_233_435, "2126-11-01T19:03:55Z"),
            ),
        ];
        for (name, pem, subject, issuer, not_before, not_after) in cases {
            let info = parse_certificate(&b64(pem)).unwrap();
            if let Some(subject) = subject {
                assert_eq!(info.subject, subject, "{name}");
            }
            if let Some(issuer) = issuer {
                assert_eq!(info.issuer, issuer, "{name}");
            }
            for (secs, (want_secs, want_text)) in
                [(info.not_before, not_before), (info.not_after, not_after)]
            {
                assert_eq!(secs, want_secs, "{name}");
                assert_eq!(format_rfc3339(secs), want_text, "{name}");
            }
        }
    }

    #[test]
    fn subject_alt_names_of_the_embedded_certificates() {
        let info = parse_certificate(&b64(EC_LEAF_PEM)).unwrap();
        assert_eq!(info.dns_names, ["mail.example.org", "localhost"]);
        let ips: Vec<String> = info.ip_addresses.iter().map(|ip| ip.to_string()).collect();
        assert_eq!(ips, ["127.0.0.1", "::1"]);
        assert_eq!(
            info.ip_addresses,
            [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            ]
        );
        let info = parse_certificate(&b64(RSA_V3_PEM)).unwrap();
        assert_eq!(info.dns_names, ["rsa.example.net"]);
        assert!(info.ip_addresses.is_empty());
    }

    #[test]
    fn days_left_across_a_century() {
        let info = parse_certificate(&b64(CENTURY_PEM)).unwrap();
        assert_eq!(days_left(info.not_after, info.not_before), 36_500);
    }

    #[test]
    fn bmp_and_teletex_string_names() {
        // (certificate, its subject, which is also its issuer, notBefore,
        // notAfter); T.61 is read as Latin-1.
        for (pem, subject, not_before, not_after) in [
            (
                BMP_PEM,
                "C=DE, O=Exämple GmbH, CN=Straße €",
                1_795_633_437,
                1_798_225_437,
            ),
            (
                T61_PEM,
                "C=DE, O=Exämple GmbH, CN=Straße",
                1_795_633_450,
                1_798_225_450,
            ),
        ] {
            let info = parse_certificate(&b64(pem)).unwrap();
            assert_eq!(info.subject, subject);
            assert_eq!(info.issuer, info.subject);
            assert_eq!((info.not_before, info.not_after), (not_before, not_after));
        }
    }

    #[test]
    fn many_attribute_types_multivalued_rdn_and_escaped_control_char() {
        let info = parse_certificate(&b64(MISC_PEM)).unwrap();
        let expected = "DC=org, DC=example, C=US, ST=New York, L=Brooklyn, O=ACME, \
                        OU=Ops+CN=esc\\x1b[31mred, serialNumber=42, \
                        emailAddress=ops@example.org, 2.5.4.12=Admin";
        assert_eq!(info.subject, expected);
        assert_eq!(info.issuer, expected);
        assert!(!info.subject.contains('\u{1b}'));
        assert_eq!(info.not_before, 1_795_633_456);
        assert_eq!(info.not_after, 1_798_225_456);
        // email and URI entries are skipped; key usage is ignored.
        assert_eq!(info.dns_names, ["*.example.org"]);
        assert_eq!(
            info.ip_addresses,
            [
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))
            ]
        );
    }

    // ---------------------------------------------------------------------
    // Names and strings (synthetic certificates)
    // ---------------------------------------------------------------------

    #[test]
    fn universal_string_utf32() {
        let value = [
            0x00, 0x00, 0x04, 0x16, // Ж
            0x00, 0x00, 0x20, 0xac, // €
            0x00, 0x01, 0xf6, 0x00, // 😀
            0x00, 0x00, 0xd8, 0x00, // lone surrogate: invalid
            0x00, 0x11, 0x00, 0x00, // beyond U+10FFFF: invalid
            0x00, 0x41, // incomplete code unit
        ];
        let subject = subject_of(name(&[vec![atv(CN, 0x1c, &value)]]));
        assert_eq!(subject, "CN=Ж€😀\u{fffd}\u{fffd}\u{fffd}");
    }

    #[test]
    fn bmp_string_surrogates_and_odd_length() {
        let value = [0xd8, 0x3d, 0xde, 0x00, 0xd8, 0x00, 0x00, 0x41, 0x00];
        let subject = subject_of(name(&[vec![atv(CN, 0x1e, &value)]]));
        assert_eq!(subject, "CN=😀\u{fffd}A\u{fffd}");
    }

    #[test]
    fn invalid_utf8_is_shown_lossily() {
        let subject = subject_of(name(&[vec![atv(O, 0x0c, b"Ex\xe4mple\xff")]]));
        assert_eq!(subject, "O=Ex\u{fffd}mple\u{fffd}");
    }

    #[test]
    fn other_string_types() {
        let subject = subject_of(name(&[
            vec![atv(C, 0x13, b"DE")],
            vec![atv(O, 0x16, b"ia5")],
            vec![atv(O, 0x1a, b"visible")],
            vec![atv(O, 0x12, b"123 45")],
        ]));
        assert_eq!(subject, "C=DE, O=ia5, O=visible, O=123 45");
    }

    #[test]
    fn non_string_value_is_hex_encoded() {
        let subject = subject_of(name(&[vec![atv(CN, 0x04, &[0xde, 0xad])]]));
        assert_eq!(subject, "CN=#0402dead");
    }

    #[test]
    fn unknown_attribute_oid_is_dotted() {
        // jurisdictionCountryName 1.3.6.1.4.1.311.60.2.1.3
        let oid = [
            0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x3c, 0x02, 0x01, 0x03,
        ];
        let subject = subject_of(name(&[vec![atv(&oid, 0x13, b"DE")]]));
        assert_eq!(subject, "1.3.6.1.4.1.311.60.2.1.3=DE");
    }

    #[test]
    fn all_short_names() {
        let dc = [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19];
        let email = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01];
        let rdns: Vec<Vec<Vec<u8>>> = [
            &dc[..],
            &email[..],
            &[0x55, 0x04, 0x03],
            &[0x55, 0x04, 0x05],
            &[0x55, 0x04, 0x06],
            &[0x55, 0x04, 0x07],
            &[0x55, 0x04, 0x08],
            &[0x55, 0x04, 0x0a],
            &[0x55, 0x04, 0x0b],
        ]
        .iter()
        .map(|oid| vec![atv(oid, 0x0c, b"v")])
        .collect();
        assert_eq!(
            subject_of(name(&rdns)),
            "DC=v, emailAddress=v, CN=v, serialNumber=v, C=v, L=v, ST=v, O=v, OU=v"
        );
    }

    #[test]
    fn multi_valued_rdn_joined_with_plus() {
        let subject = subject_of(name(&[
            vec![atv(C, 0x13, b"DE")],
            vec![atv(O, 0x0c, b"A"), atv(CN, 0x0c, b"B"), atv(CN, 0x0c, b"C")],
        ]));
        assert_eq!(subject, "C=DE, O=A+CN=B+CN=C");
    }

    #[test]
    fn rfc4514_special_characters_are_escaped() {
        let cases: [(&[u8], &str); 6] = [
            (b"Example, Inc.", "CN=Example\\, Inc."),
            (b"x, CN=evil+O=y", "CN=x\\, CN=evil\\+O=y"),
            (b"#1 a#b", "CN=\\#1 a#b"),
            (b" padded ", "CN=\\ padded\\ "),
            (b"a\\b;c<d>\"e\"", "CN=a\\\\b\\;c\\<d\\>\\\"e\\\""),
            (b" ", "CN=\\ "),
        ];
        for (value, expected) in cases {
            assert_eq!(subject_of(name(&[vec![atv(CN, 0x0c, value)]])), expected);
        }
    }

    #[test]
    fn terminal_control_characters_are_escaped() {
        let cases: [(u8, &[u8], &str); 6] = [
            (0x0c, b"a\x1b[2Jb", "CN=a\\x1b[2Jb"),
            (
                0x0c,
                b"nul\x00del\x7f\r\n\t",
                "CN=nul\\x00del\\x7f\\x0d\\x0a\\x09",
            ),
            // U+009B is the 8-bit CSI.
            (0x0c, "c1\u{9b}31m".as_bytes(), "CN=c1\\x9b31m"),
            (0x14, b"t61\x9b31m", "CN=t61\\x9b31m"),
            // Bidi override would visually reorder the rest of the line.
            (
                0x0c,
                "abc\u{202e}gpj.exe".as_bytes(),
                "CN=abc\\u{202e}gpj.exe",
            ),
            (
                0x1e,
                &[0x00, 0x1b, 0x20, 0x66, 0x00, 0x78],
                "CN=\\x1b\\u{2066}x",
            ),
        ];
        for (tag, value, expected) in cases {
            let subject = subject_of(name(&[vec![atv(CN, tag, value)]]));
            assert_eq!(subject, expected);
            assert!(!subject.chars().any(is_unsafe_char), "{subject:?}");
        }
    }

    #[test]
    fn empty_name_is_empty_string() {
        let info = parse_certificate(&simple_cert(seq(&[]), &[])).unwrap();
        assert_eq!(info.subject, "");
        assert_eq!(info.issuer, "CN=Test CA");
    }

    #[test]
    fn empty_rdn_is_rejected() {
        let der = simple_cert(seq(&[tlv(0x31, &[])]), &[]);
        let at = find(&der, &[0x30, 0x02, 0x31, 0x00]) + 2;
        assert_eq!(
            parse_certificate(&der),
            Err(DerError::InvalidValue {
                offset: at,
                reason: "empty RelativeDistinguishedName"
            })
        );
    }

    #[test]
    fn rdn_must_be_a_set_and_atv_complete() {
        let der = simple_cert(seq(&[seq(&[atv(CN, 0x0c, b"x")])]), &[]);
        assert_eq!(
            refusal(&der),
            (
                "UnexpectedTag",
                "SET (RelativeDistinguishedName)",
                Some(0x30)
            )
        );
        let der = simple_cert(name(&[vec![seq(&[tlv(0x06, CN)])]]), &[]);
        assert_eq!(refusal(&der), ("UnexpectedEnd", "attribute value", None));
        let extra = seq(&[tlv(0x06, CN), tlv(0x0c, b"x"), tlv(0x0c, b"y")]);
        let der = simple_cert(name(&[vec![extra]]), &[]);
        assert_eq!(
            refusal(&der),
            ("TrailingData", "AttributeTypeAndValue", None)
        );
    }

    /// Position of `needle` in `haystack` (test helper; panics if absent).
    fn find(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("needle not found")
    }

    // ---------------------------------------------------------------------
    // OIDs
    // ---------------------------------------------------------------------

    fn oid(content: &[u8]) -> Result<String, DerError> {
        let encoded = tlv(0x06, content);
        let tlv = Reader::new(&encoded).read_any("oid").unwrap();
        oid_to_string(&tlv)
    }

    fn base128(mut v: u128) -> Vec<u8> {
        let mut out = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            out.insert(0, 0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out
    }

    #[test]
    fn oid_decoding() {
        assert_eq!(oid(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(oid(&[0x00]).unwrap(), "0.0");
        assert_eq!(oid(&[0x27]).unwrap(), "0.39");
        assert_eq!(oid(&[0x28]).unwrap(), "1.0");
        assert_eq!(oid(&[0x4f]).unwrap(), "1.39");
        assert_eq!(oid(&[0x50]).unwrap(), "2.0");
        assert_eq!(
            oid(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19]).unwrap(),
            "0.9.2342.19200300.100.1.25"
        );
        // 2.999.3: first subidentifier 999 + 80 = 1079 needs two octets.
        assert_eq!(oid(&[0x88, 0x37, 0x03]).unwrap(), "2.999.3");
        // 2.25.<UUID>: arcs up to 128 bits.
        let mut uuid = vec![0x69];
        uuid.extend(base128(u128::MAX));
        assert_eq!(oid(&uuid).unwrap(), format!("2.25.{}", u128::MAX));
        let mut too_big = vec![0x69, 0x81];
        too_big.extend(base128(u128::MAX));
        assert_eq!(
            oid(&too_big),
            Err(DerError::InvalidValue {
                offset: 0,
                reason: "OBJECT IDENTIFIER arc too large"
            })
        );
    }

    #[test]
    fn malformed_oids_are_rejected() {
        let reason = |content: &[u8]| match oid(content) {
            Err(DerError::InvalidValue { offset: 0, reason }) => reason,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(reason(&[]), "empty OBJECT IDENTIFIER");
        assert_eq!(reason(&[0x55, 0x84]), "truncated OBJECT IDENTIFIER");
        assert_eq!(
            reason(&[0x55, 0x80, 0x01]),
            "non-minimal OBJECT IDENTIFIER arc"
        );
        assert_eq!(reason(&[0x80, 0x01]), "non-minimal OBJECT IDENTIFIER arc");
    }

    // ---------------------------------------------------------------------
    // subjectAltName and extensions
    // ---------------------------------------------------------------------

    #[test]
    fn san_skips_other_general_names() {
        let der = simple_cert(
            cn_name("x"),
            &[san_extensions(&[
                tlv(
                    0xa0,
                    &cat(&[tlv(0x06, &[0x2b, 0x06]), tlv(0xa0, &tlv(0x0c, b"o"))]),
                ),
                tlv(0x81, b"a@example.org"),
                tlv(0x82, b"one.example"),
                tlv(0xa4, &cn_name("dir")),
                tlv(0x86, b"https://example.org/"),
                tlv(0x87, &[192, 0, 2, 7]),
                tlv(0x88, &[0x2b, 0x06]),
                tlv(0x82, b"two.example"),
            ])],
        );
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.dns_names, ["one.example", "two.example"]);
        assert_eq!(info.ip_addresses, [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7))]);
    }

    #[test]
    fn san_dns_names_are_escaped() {
        let der = simple_cert(
            cn_name("x"),
            &[san_extensions(&[tlv(
                0x82,
                b"evil\x1b]0;pwned\x07\\.example",
            )])],
        );
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.dns_names, ["evil\\x1b]0;pwned\\x07\\\\.example"]);
    }

    #[test]
    fn san_ip_address_must_be_4_or_16_bytes() {
        for len in [0usize, 3, 5, 8, 15, 17, 32] {
            let bad = tlv(0x87, &vec![1; len]);
            let der = simple_cert(cn_name("x"), &[san_extensions(std::slice::from_ref(&bad))]);
            assert_eq!(
                parse_certificate(&der),
                Err(DerError::InvalidValue {
                    offset: find(&der, &bad),
                    reason: "subjectAltName iPAddress must be 4 or 16 bytes"
                }),
                "length {len}"
            );
        }
    }

    #[test]
    fn san_rejects_universal_tags_and_trailing_data() {
        let der = simple_cert(cn_name("x"), &[san_extensions(&[tlv(0x16, b"x.example")])]);
        assert_eq!(
            refusal(&der),
            ("UnexpectedTag", "context-specific GeneralName", Some(0x16))
        );
        let ext = seq(&[
            tlv(0x06, OID_SUBJECT_ALT_NAME),
            tlv(0x04, &cat(&[seq(&[tlv(0x82, b"a")]), vec![0x00]])),
        ]);
        let der = simple_cert(cn_name("x"), &[tlv(0xa3, &seq(&[ext]))]);
        assert_eq!(refusal(&der), ("TrailingData", "subjectAltName", None));
    }

    #[test]
    fn critical_flag_other_extensions_and_unique_ids() {
        let key_usage = seq(&[
            tlv(0x06, &[0x55, 0x1d, 0x0f]),
            tlv(0x01, &[0xff]),
            tlv(0x04, &tlv(0x03, &[0x07, 0x80])),
        ]);
        let san = seq(&[
            tlv(0x06, OID_SUBJECT_ALT_NAME),
            tlv(0x01, &[0xff]),
            tlv(0x04, &seq(&[tlv(0x82, b"crit.example")])),
        ]);
        let der = simple_cert(
            cn_name("x"),
            &[
                tlv(0x81, &[0x00, 0xaa]),
                tlv(0x82, &[0x00, 0xbb]),
                tlv(0xa3, &seq(&[key_usage, san])),
            ],
        );
        let info = parse_certificate(&der).unwrap();
        assert_eq!(info.dns_names, ["crit.example"]);
        assert_eq!(info.subject, "CN=x");
    }

    #[test]
    fn malformed_extension_is_rejected() {
        // extnValue missing
        let ext = seq(&[tlv(0x06, OID_SUBJECT_ALT_NAME), tlv(0x01, &[0xff])]);
        let der = simple_cert(cn_name("x"), &[tlv(0xa3, &seq(&[ext]))]);
        assert_eq!(
            refusal(&der),
            ("UnexpectedEnd", "OCTET STRING (extnValue)", None)
        );
        // extensions in the wrong position (before the unique IDs)
        let der = simple_cert(
            cn_name("x"),
            &[san_extensions(&[tlv(0x82, b"a")]), tlv(0x81, &[0x00])],
        );
        assert_eq!(refusal(&der), ("TrailingData", "tbsCertificate", None));
    }

    // ---------------------------------------------------------------------
    // Certificate structure
    // ---------------------------------------------------------------------

    #[test]
    fn synthetic_certificate_round_trip() {
        let der = build_cert(
            name(&[vec![atv(C, 0x13, b"DE")], vec![atv(CN, 0x0c, b"Issuer")]]),
            seq(&[gen_time("20500101000000Z"), utc("491231235959Z")]),
            cn_name("Subject"),
            &[san_extensions(&[
                tlv(0x82, b"a.example"),
                tlv(
                    0x87,
                    &[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
                ),
            ])],
        );
        assert_eq!(
            parse_certificate(&der).unwrap(),
            CertInfo {
                subject: "CN=Subject".into(),
                issuer: "C=DE, CN=Issuer".into(),
                not_before: 2_524_608_000,
                not_after: 2_524_607_999,
                dns_names: vec!["a.example".into()],
                ip_addresses: vec!["2001:db8::2".parse().unwrap()],
            }
        );
    }

    #[test]
    fn trailing_data_after_certificate() {
        let mut der = b64(EC_LEAF_PEM);
        let len = der.len();
        der.push(0);
        assert_eq!(
            parse_certificate(&der),
            Err(DerError::TrailingData {
                offset: len,
                context: "the input"
            })
        );
    }

    #[test]
    fn missing_signature_is_rejected() {
        let der = b64(EC_LEAF_PEM);
        let cert = Reader::new(&der).read_any("cert").unwrap();
        let tbs = Reader::new(cert.content).read_any("tbs").unwrap();
        let without_sig = seq(&[tbs.raw.to_vec()]);
        assert_eq!(
            parse_certificate(&without_sig),
            Err(DerError::UnexpectedEnd {
                offset: without_sig.len(),
                expected: "SEQUENCE (signatureAlgorithm)"
            })
        );
    }

    #[test]
    fn validity_must_hold_exactly_two_times() {
        let der = build_cert(
            cn_name("i"),
            seq(&[
                utc("260301120000Z"),
                utc("270301120000Z"),
                utc("270301120000Z"),
            ]),
            cn_name("s"),
            &[],
        );
        assert_eq!(refusal(&der), ("TrailingData", "validity", None));
        let der = build_cert(
            cn_name("i"),
            seq(&[utc("260301120000Z")]),
            cn_name("s"),
            &[],
        );
        assert_eq!(refusal(&der), ("UnexpectedEnd", "notAfter time", None));
        let not_a_time = tlv(0x02, b"260301120000Z");
        let der = build_cert(
            cn_name("i"),
            seq(&[not_a_time.clone(), utc("270301120000Z")]),
            cn_name("s"),
            &[],
        );
        assert_eq!(
            parse_certificate(&der),
            Err(DerError::UnexpectedTag {
                offset: find(&der, &not_a_time),
                expected: "UTCTime or GeneralizedTime",
                found: 0x02
            })
        );
    }

    #[test]
    fn empty_serial_number_is_rejected() {
        let der = b64(RSA_CA_V1_PEM);
        // v1 certificate: the serial INTEGER 0x1000 follows the tbs header.
        assert_eq!(&der[8..12], &[0x02, 0x02, 0x10, 0x00]);
        // Same size: an empty INTEGER followed by a NULL.
        let mut bad = der[..8].to_vec();
        bad.extend_from_slice(&[0x02, 0x00, 0x05, 0x00]);
        bad.extend_from_slice(&der[12..]);
        assert_eq!(
            parse_certificate(&bad),
            Err(DerError::InvalidValue {
                offset: 8,
                reason: "empty INTEGER"
            })
        );
    }

    // ---------------------------------------------------------------------
    // Times
    // ---------------------------------------------------------------------

    #[test]
    fn utctime_values() {
        assert_eq!(time(&utc("700101000000Z")), Ok(0));
        assert_eq!(time(&utc("500101000000Z")), Ok(-631_152_000));
        assert_eq!(time(&utc("491231235959Z")), Ok(2_524_607_999));
        assert_eq!(time(&utc("991231235959Z")), Ok(946_684_799));
        assert_eq!(time(&utc("000229000000Z")), Ok(951_782_400));
        assert_eq!(time(&utc("380119031408Z")), Ok(2_147_483_648));
    }

    #[test]
    fn generalized_time_values() {
        assert_eq!(time(&gen_time("19700101000000Z")), Ok(0));
        assert_eq!(time(&gen_time("20000229000000Z")), Ok(951_782_400));
        assert_eq!(time(&gen_time("16000229123456Z")), Ok(-11_670_953_104));
        assert_eq!(time(&gen_time("00000101000000Z")), Ok(-62_167_219_200));
        assert_eq!(time(&gen_time("99991231235959Z")), Ok(253_402_300_799));
        // Fractional seconds are accepted and ignored.
        assert_eq!(time(&gen_time("20270301120000.5Z")), Ok(1_803_902_400));
        assert_eq!(time(&gen_time("20270301120000.999999Z")), Ok(1_803_902_400));
    }

    #[test]
    fn malformed_times_are_rejected() {
        let cases: [(Vec<u8>, &str); 24] = [
            (
                utc("2703011200Z"),
                "UTCTime must have the form YYMMDDHHMMSSZ",
            ),
            (
                utc("270301120000"),
                "UTCTime must have the form YYMMDDHHMMSSZ",
            ),
            (
                utc("270301120000+0100"),
                "UTCTime must have the form YYMMDDHHMMSSZ",
            ),
            (utc(""), "UTCTime must have the form YYMMDDHHMMSSZ"),
            (utc("2703011200000"), "time is not in UTC (must end in 'Z')"),
            (utc("270301120000z"), "time is not in UTC (must end in 'Z')"),
            (utc("2O0301120000Z"), "non-digit in UTCTime"),
            (utc("27030112000 Z"), "non-digit in time"),
            (utc("27-301120000Z"), "non-digit in time"),
            (utc("271301120000Z"), "month out of range"),
            (utc("270001120000Z"), "month out of range"),
            (utc("270100120000Z"), "day out of range"),
            (utc("270229120000Z"), "day out of range"),
            (utc("270431120000Z"), "day out of range"),
            (utc("270301240000Z"), "hour out of range"),
            (utc("270301126000Z"), "minute out of range"),
            (utc("270301120060Z"), "second out of range"),
            (gen_time("19000229000000Z"), "day out of range"),
            (
                gen_time("202703011200Z"),
                "GeneralizedTime must have the form YYYYMMDDHHMMSSZ",
            ),
            (
                gen_time("20270301120000"),
                "GeneralizedTime must have the form YYYYMMDDHHMMSSZ",
            ),
            (
                gen_time("20270301120000+0100"),
                "time is not in UTC (must end in 'Z')",
            ),
            (
                gen_time("20270301120000.Z"),
                "malformed time after the seconds",
            ),
            (
                gen_time("20270301120000.1aZ"),
                "malformed time after the seconds",
            ),
            (gen_time("+0270301120000Z"), "non-digit in GeneralizedTime"),
        ];
        for (encoded, reason) in cases {
            assert_eq!(
                time(&encoded),
                Err(DerError::InvalidTime { offset: 0, reason }),
                "{:?}",
                String::from_utf8_lossy(&encoded)
            );
        }
    }

    #[test]
    fn invalid_time_in_certificate_reports_its_offset() {
        let bad = utc("270230120000Z");
        let der = build_cert(
            cn_name("i"),
            seq(&[utc("260301120000Z"), bad.clone()]),
            cn_name("s"),
            &[],
        );
        let err = parse_certificate(&der).unwrap_err();
        let offset = find(&der, &bad);
        assert_eq!(
            err,
            DerError::InvalidTime {
                offset,
                reason: "day out of range"
            }
        );
        assert_eq!(
            err.to_string(),
            format!("invalid time at byte offset {offset}: day out of range")
        );
    }

    #[test]
    fn format_rfc3339_known_values() {
        let cases: [(i64, &str); 14] = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (951_868_799, "2000-02-29T23:59:59Z"),
            (951_868_800, "2000-03-01T00:00:00Z"),
            (2_147_483_647, "2038-01-19T03:14:07Z"),
            (2_147_483_648, "2038-01-19T03:14:08Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (-86_400, "1969-12-31T00:00:00Z"),
            (-86_401, "1969-12-30T23:59:59Z"),
            (-2_203_891_200, "1900-03-01T00:00:00Z"),
            (-62_135_596_800, "0001-01-01T00:00:00Z"),
            (-62_167_219_200, "0000-01-01T00:00:00Z"),
            (1_803_902_400, "2027-03-01T12:00:00Z"),
        ];
        for (secs, text) in cases {
            assert_eq!(format_rfc3339(secs), text, "{secs}");
        }
    }

    #[test]
    fn format_rfc3339_outside_four_digit_years() {
        assert_eq!(format_rfc3339(-62_167_219_201), "-0001-12-31T23:59:59Z");
        assert_eq!(format_rfc3339(253_402_300_800), "+10000-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(i64::MAX), "+292277026596-12-04T15:30:07Z");
        assert_eq!(format_rfc3339(i64::MIN), "-292277022657-01-27T08:29:52Z");
    }

    #[test]
    fn format_rfc3339_round_trips_through_the_time_parser() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for secs in [
            0,
            -1,
            951_782_400,
            2_147_483_648,
            -631_152_000,
            -62_167_219_200,
            253_402_300_799,
        ]
        .into_iter()
        .chain((0..2000).map(|_| (rng.next() % 315_537_897_600) as i64 - 62_167_219_200))
        {
            let text = format_rfc3339(secs);
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(time(&gen_time(&format!("{digits}Z"))), Ok(secs), "{text}");
        }
    }

    #[test]
    fn civil_conversion_matches_naive_day_counting() {
        // Walk every day from 1600-01-01 to 2400-12-31 (covering the 1700,
        // 1800, 1900 non-leap and 2000 leap centuries).
        let mut counter = -135_140; // 1600-01-01, from `date -u -d 1600-01-01 +%s` / 86400
        for year in 1600..=2400i64 {
            for month in 1..=12 {
                let len = days_in_month(year as u32, month);
                for day in 1..=len {
                    assert_eq!(days_from_civil(year, month, day), Some(counter));
                    assert_eq!(civil_from_days(counter), (year, month, day));
                    counter += 1;
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
    }

    #[test]
    fn civil_conversion_round_trips_over_a_wide_range() {
        let mut day = -1_000_000_000i64;
        while day < 1_000_000_000 {
            let (y, m, d) = civil_from_days(day);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d));
            assert_eq!(days_from_civil(y, m, d), Some(day));
            day += 999_983;
        }
        for extreme in [i64::MIN / SECS_PER_DAY - 1, i64::MAX / SECS_PER_DAY] {
            let (y, m, d) = civil_from_days(extreme);
            assert_eq!(days_from_civil(y, m, d), Some(extreme));
        }
    }

    #[test]
    fn every_four_digit_year_converts() {
        // The formats cap the year at 9999: the whole range converts,
        // with no overflow to guard against, 0000 to 9999.
        assert_eq!(time(&gen_time("00000101000000Z")), Ok(-62_167_219_200));
        assert_eq!(time(&gen_time("99991231235959Z")), Ok(253_402_300_799));
        for year in 0..=9999 {
            let t = time(&gen_time(&format!("{year:04}0229235959Z")));
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
            assert_eq!(t.is_ok(), leap, "{year}");
        }
    }

    #[test]
    fn civil_arithmetic_at_the_ends_of_i64_does_not_panic() {
        for year in [
            i64::MIN,
            i64::MIN + 1,
            -3_020_249_310_414_753_600,
            3_020_249_310_414_753_600,
            i64::MAX - 1,
            i64::MAX,
        ] {
            for (month, day) in [(1, 1), (2, 29), (3, 1), (12, 31)] {
                assert_eq!(days_from_civil(year, month, day), None, "{year}");
            }
        }
        for (month, day) in [(0, 1), (13, 1), (1, 0), (1, 32), (u32::MAX, u32::MAX)] {
            assert_eq!(days_from_civil(2024, month, day), None);
        }
        for days in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX] {
            let (_, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && (1..=31).contains(&d), "{days}");
        }
        assert_eq!(unix_seconds(i64::MAX / SECS_PER_DAY + 1, 0, 0, 0), None);
        assert_eq!(unix_seconds(0, i64::MAX, 0, 0), None);
        assert_eq!(unix_seconds(0, 0, i64::MIN, 0), None);
        assert_eq!(
            unix_seconds(i64::MAX / SECS_PER_DAY, 23, 59, i64::MAX),
            None
        );
        assert_eq!(unix_seconds(1, 1, 1, 1), Some(86_400 + 3600 + 60 + 1));
        // More digits than a u32 holds: no number, no overflow.
        assert_eq!(digits(b"4294967295", 0, 10), Some(u32::MAX));
        assert_eq!(digits(b"4294967296", 0, 10), None);
        assert_eq!(digits(&[b'9'; 40], 0, 40), None);
        assert_eq!(digits(b"12", usize::MAX, 2), None);
    }

    #[test]
    fn random_dates_convert_without_panicking_and_round_trip() {
        let mut rng = crate::test_input::Xorshift::new(0x5eed_da7e_0000_0001);
        for _ in 0..20_000 {
            let r = rng.next();
            // Years of every size, small ones more often.
            let year = match r % 4 {
                0 => rng.next() as i64,
                1 => (rng.next() % 1_000_000) as i64 - 500_000,
                _ => (rng.next() % 12_000) as i64 - 1_000,
            };
            let month = (rng.next() % 14) as u32;
            let day = (rng.next() % 33) as u32;
            let (hour, minute, second) = (
                rng.next() as i64 >> (rng.next() % 64),
                (rng.next() % 100) as i64,
                (rng.next() % 100) as i64 - 20,
            );
            let Some(days) = days_from_civil(year, month, day) else {
                continue;
            };
            let (y, m, d) = civil_from_days(days);
            // Day 31 of a 30-day month is the 1st of the next: same day count.
            assert_eq!(days_from_civil(y, m, d), Some(days), "{year}-{month}-{day}");
            if let Some(secs) = unix_seconds(days, hour, minute, second) {
                let shown = format_rfc3339(secs);
                assert!(shown.is_ascii() && shown.ends_with('Z'), "{shown}");
                let _ = days_left(secs, now_unix());
            }
        }
    }

    #[test]
    fn days_left_around_expiry() {
        let expiry = 1_803_902_400;
        assert_eq!(days_left(expiry, expiry), 0);
        assert_eq!(days_left(expiry, expiry - 1), 0);
        assert_eq!(days_left(expiry, expiry - 86_399), 0);
        assert_eq!(days_left(expiry, expiry - 86_400), 1);
        assert_eq!(days_left(expiry, expiry - 86_401), 1);
        assert_eq!(days_left(expiry, expiry - 30 * 86_400), 30);
        assert_eq!(days_left(expiry, expiry + 1), -1);
        assert_eq!(days_left(expiry, expiry + 86_400), -1);
        assert_eq!(days_left(expiry, expiry + 86_401), -2);
        assert_eq!(days_left(i64::MAX, i64::MIN), 213_503_982_334_601);
        assert_eq!(days_left(i64::MIN, i64::MAX), -213_503_982_334_602);
    }

    #[test]
    fn now_unix_is_plausible() {
        let now = now_unix();
        // 2020-01-01 .. 2100-01-01
        assert!((1_577_836_800..4_102_444_800).contains(&now), "{now}");
    }

    // ---------------------------------------------------------------------
    // Hostile input
    // ---------------------------------------------------------------------

    #[test]
    fn empty_input() {
        let err = parse_certificate(&[]).unwrap_err();
        assert_eq!(
            err,
            DerError::UnexpectedEnd {
                offset: 0,
                expected: "SEQUENCE (Certificate)"
            }
        );
        assert_eq!(
            err.to_string(),
            "unexpected end of data at byte offset 0: expected SEQUENCE (Certificate)"
        );
    }

    #[test]
    fn truncated_at_every_offset() {
        for (label, der) in all_certs() {
            // All embedded certificates use a 4-byte header (30 82 hi lo).
            assert_eq!(der[..2], [0x30, 0x82], "{label}");
            for cut in 0..der.len() {
                let expected = match cut {
                    0 => DerError::UnexpectedEnd {
                        offset: 0,
                        expected: "SEQUENCE (Certificate)",
                    },
                    1..=3 => DerError::TruncatedHeader { offset: 0 },
                    _ => DerError::Truncated {
                        offset: 0,
                        claimed: der.len() as u64 - 4,
                        available: cut - 4,
                    },
                };
                assert_eq!(
                    parse_certificate(&der[..cut]),
                    Err(expected),
                    "{label} cut at {cut}"
                );
            }
            assert!(parse_certificate(&der).is_ok(), "{label}");
        }
    }

    #[test]
    fn truncated_inner_elements_with_patched_outer_length() {
        // Cut inside, then fix the outer length so the damage is found deeper.
        for (label, der) in all_certs() {
            for cut in 4..der.len() {
                let mut patched = vec![0x30, 0x82];
                patched.extend_from_slice(&((cut - 4) as u16).to_be_bytes());
                patched.extend_from_slice(&der[4..cut]);
                let err = parse_certificate(&patched).unwrap_err();
                assert!(offset_of(&err) <= patched.len(), "{label} {cut}: {err}");
            }
        }
    }

    #[test]
    fn length_claiming_more_than_available() {
        let der = b64(EC_LEAF_PEM);
        // tbsCertificate header at offset 4: 30 82 hi lo.
        assert_eq!(der[4..6], [0x30, 0x82]);
        let tbs_len = u16::from_be_bytes([der[6], der[7]]);
        // Claiming one byte more just makes the next element misparse...
        let mut bad = der.clone();
        bad[6..8].copy_from_slice(&(tbs_len + 1).to_be_bytes());
        assert!(parse_certificate(&bad).is_err());
        // ...claiming more than the enclosing Certificate holds is caught
        // before anything is read.
        bad[6..8].copy_from_slice(&0xffffu16.to_be_bytes());
        let err = parse_certificate(&bad).unwrap_err();
        assert_eq!(
            err,
            DerError::Truncated {
                offset: 4,
                claimed: 0xffff,
                available: der.len() - 8
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "truncated DER element at byte offset 4: length says 65535 bytes but only {} remain",
                der.len() - 8
            )
        );
        // The signature is the last element: one byte too many is caught.
        let mut cert = Reader::new(&der).read_any("cert").unwrap().reader();
        cert.read_any("tbs").unwrap();
        cert.read_any("alg").unwrap();
        let sig = cert.read_any("sig").unwrap();
        // RSA signature from the CA: 03 82 01 01 <257 bytes>, ends the input.
        assert_eq!(
            der[sig.offset..sig.content_offset],
            [0x03, 0x82, 0x01, 0x01]
        );
        assert_eq!(sig.content_offset + 257, der.len());
        let mut bad = der.clone();
        bad[sig.content_offset - 1] = 0x02;
        assert_eq!(
            parse_certificate(&bad),
            Err(DerError::Truncated {
                offset: sig.offset,
                claimed: 258,
                available: 257
            })
        );
        // Maximum 4-octet length.
        assert_eq!(
            parse_certificate(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00]),
            Err(DerError::Truncated {
                offset: 0,
                claimed: 0xffff_ffff,
                available: 1
            })
        );
        // Short form.
        assert_eq!(
            parse_certificate(&[0x30, 0x03, 0x02, 0x01]),
            Err(DerError::Truncated {
                offset: 0,
                claimed: 3,
                available: 2
            })
        );
    }

    #[test]
    fn indefinite_length_is_rejected() {
        let err = parse_certificate(&[0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00]).unwrap_err();
        assert_eq!(err, DerError::IndefiniteLength { offset: 0 });
        assert_eq!(
            err.to_string(),
            "indefinite length (0x80) at byte offset 0 is not allowed in DER"
        );
        assert_eq!(
            parse_certificate(&[0x30, 0x04, 0x30, 0x80, 0x00, 0x00]),
            Err(DerError::IndefiniteLength { offset: 2 })
        );
    }

    #[test]
    fn overlong_length_fields_are_rejected() {
        assert_eq!(
            parse_certificate(&[0x30, 0x85, 0, 0, 0, 0, 1, 0]),
            Err(DerError::LengthTooLong {
                offset: 0,
                octets: 5
            })
        );
        let err = parse_certificate(&[0x30, 0xff]).unwrap_err();
        assert_eq!(
            err,
            DerError::LengthTooLong {
                offset: 0,
                octets: 127
            }
        );
        assert_eq!(
            err.to_string(),
            "DER length at byte offset 0 uses 127 length octets (at most 4 supported)"
        );
        assert_eq!(
            parse_certificate(&[0x30, 0x82, 0x01]),
            Err(DerError::TruncatedHeader { offset: 0 })
        );
        // Non-minimal but bounded long form is tolerated.
        let der = b64(EC_LEAF_PEM);
        let mut long = vec![0x30, 0x84, 0x00, 0x00];
        long.extend_from_slice(&der[2..]);
        assert_eq!(parse_certificate(&long), parse_certificate(&der));
    }

    #[test]
    fn high_tag_numbers_are_rejected() {
        // Where a specific tag is expected, a multi-byte tag is just wrong.
        assert_eq!(
            parse_certificate(&[0x3f, 0x81, 0x00, 0x00]),
            Err(DerError::UnexpectedTag {
                offset: 0,
                expected: "SEQUENCE (Certificate)",
                found: 0x3f
            })
        );
        // Where any tag is allowed (attribute value), it is rejected as such.
        let value = [0x1f, 0x81, 0x00, 0x00];
        let der = simple_cert(name(&[vec![seq(&[tlv(0x06, CN), value.to_vec()])]]), &[]);
        let err = parse_certificate(&der).unwrap_err();
        let offset = find(&der, &value);
        assert_eq!(err, DerError::HighTagNumber { offset });
        assert_eq!(
            err.to_string(),
            format!("unsupported multi-byte tag at byte offset {offset}")
        );
    }

    #[test]
    fn deeply_nested_sequences() {
        let mut nested = Vec::new();
        for _ in 0..200 {
            nested = tlv(0x30, &nested);
        }
        assert!(matches!(
            parse_certificate(&nested),
            Err(DerError::UnexpectedEnd {
                expected: "SEQUENCE (signatureAlgorithm)",
                ..
            })
        ));
        // As the tbsCertificate content.
        let alg = seq(&[tlv(0x06, &[0x2a, 0x03])]);
        let der = seq(&[seq(&[nested.clone()]), alg, tlv(0x03, &[0x00])]);
        assert_eq!(
            parse_certificate(&der),
            Err(DerError::UnexpectedTag {
                offset: 8,
                expected: "INTEGER (serialNumber)",
                found: 0x30
            })
        );
        // As an RDN: rejected.
        let der = simple_cert(seq(&[nested.clone()]), &[]);
        assert_eq!(
            refusal(&der),
            (
                "UnexpectedTag",
                "SET (RelativeDistinguishedName)",
                Some(0x30)
            )
        );
        // As a GeneralName: rejected.
        let der = simple_cert(cn_name("x"), &[san_extensions(&[nested.clone()])]);
        assert_eq!(
            refusal(&der),
            ("UnexpectedTag", "context-specific GeneralName", Some(0x30))
        );
        // As an attribute value: not descended into, shown as hex.
        let der = simple_cert(name(&[vec![seq(&[tlv(0x06, CN), nested.clone()])]]), &[]);
        let subject = parse_certificate(&der).unwrap().subject;
        assert!(subject.starts_with("CN=#30820271"), "{subject}");
        assert_eq!(subject.len(), "CN=#".len() + 2 * nested.len());
        // As the value of an unknown extension: skipped.
        let ext = seq(&[tlv(0x06, &[0x2a, 0x03]), tlv(0x04, &nested)]);
        let der = simple_cert(cn_name("x"), &[tlv(0xa3, &seq(&[ext]))]);
        assert_eq!(parse_certificate(&der).unwrap().subject, "CN=x");
    }

    #[test]
    fn wrong_outer_tag() {
        let err = parse_certificate(&[0x31, 0x00]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected SEQUENCE (Certificate) at byte offset 0, found tag 0x31"
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for i in 0..5000 {
            let len = (rng.next() % 700) as usize;
            let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if i % 2 == 0 && len >= 4 {
                // Valid outer header so the parser gets past the first element.
                input[0] = 0x30;
                input[1] = 0x82;
                input[2..4].copy_from_slice(&((len - 4) as u16).to_be_bytes());
            }
            match parse_certificate(&input) {
                Ok(info) => panic!("random input {i} parsed: {info:?}"),
                Err(err) => {
                    assert!(offset_of(&err) <= input.len(), "{err}");
                    assert!(err.to_string().contains("byte offset"), "{err}");
                }
            }
        }
    }

    #[test]
    fn mutated_real_certificates_never_panic() {
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        for (label, der) in all_certs() {
            for pos in 0..der.len() {
                let original = der[pos];
                let random = rng.next() as u8;
                for value in [0x00, 0xff, 0x80, 0x30, 0x7f, original ^ 0x01, random] {
                    let mut mutated = der.clone();
                    mutated[pos] = value;
                    if let Err(err) = parse_certificate(&mutated) {
                        assert!(offset_of(&err) <= mutated.len(), "{label} {pos}: {err}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_error_message_names_an_offset() {
        let errors = [
            DerError::UnexpectedEnd {
                offset: 1,
                expected: "x",
            },
            DerError::TruncatedHeader { offset: 2 },
            DerError::Truncated {
                offset: 3,
                claimed: 9,
                available: 1,
            },
            DerError::IndefiniteLength { offset: 4 },
            DerError::LengthTooLong {
                offset: 5,
                octets: 6,
            },
            DerError::HighTagNumber { offset: 6 },
            DerError::UnexpectedTag {
                offset: 7,
                expected: "x",
                found: 1,
            },
            DerError::TrailingData {
                offset: 8,
                context: "x",
            },
            DerError::InvalidTime {
                offset: 9,
                reason: "x",
            },
            DerError::InvalidValue {
                offset: 10,
                reason: "x",
            },
        ];
        for (i, err) in errors.iter().enumerate() {
            assert_eq!(offset_of(err), i + 1);
            assert!(
                err.to_string().contains(&format!("byte offset {}", i + 1)),
                "{err}"
            );
        }
        assert_eq!(
            errors[1].to_string(),
            "truncated DER header at byte offset 2: length octets missing"
        );
        assert_eq!(
            errors[7].to_string(),
            "unexpected data at byte offset 8 after the last element of x"
        );
        let boxed: Box<dyn std::error::Error> = Box::new(errors[0].clone());
        assert_eq!(
            boxed.to_string(),
            "unexpected end of data at byte offset 1: expected x"
        );
    }
}
