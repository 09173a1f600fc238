//! Minimal JSON writer for machine-readable output: a small value tree that
//! renders compactly on one line, object keys in insertion order. Strings are
//! escaped so the output is also safe to paste and to show on a terminal
//! (C0 and C1 control characters, DEL, U+2028, U+2029 and the bidi marks
//! of `report::is_unsafe` become `\u` escapes); other non-ASCII stays UTF-8.
//! Reading JSON into the same tree is `read`'s.

pub mod read;

/// A JSON value. Objects keep their fields in insertion order and are not
/// de-duplicated: a repeated key is rendered twice.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    /// Rendered with up to 3 decimals (at least one); non-finite is `null`.
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

/// Builds a [`Json::Obj`] field by field; see [`Json::obj`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ObjBuilder {
    fields: Vec<(String, Json)>,
}

impl ObjBuilder {
    /// Appends a field (after any existing ones).
    pub fn field(mut self, key: impl Into<String>, value: Json) -> Self {
        self.fields.push((key.into(), value));
        self
    }

    /// Finishes the object.
    pub fn build(self) -> Json {
        Json::Obj(self.fields)
    }
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// A string value from bytes that may not be UTF-8 (invalid sequences
    /// become U+FFFD).
    #[must_use]
    pub fn lossy(bytes: &[u8]) -> Json {
        Json::Str(String::from_utf8_lossy(bytes).into_owned())
    }

    /// `None` becomes `null`; `Some(v)` becomes `f(v)`.
    #[must_use]
    pub fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> Json) -> Json {
        v.map_or(Json::Null, f)
    }

    /// Starts an object builder.
    pub fn obj() -> ObjBuilder {
        ObjBuilder::default()
    }

    /// Renders compact JSON on a single line.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::Float(f) => write_float(out, *f),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_to(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, key);
                    out.push(':');
                    value.write_to(out);
                }
                out.push('}');
            }
        }
    }
}

/// Up to 3 decimals, trailing zeros trimmed but at least one decimal kept,
/// no exponent, no negative zero; non-finite values become `null`.
fn write_float(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    // `{:.3}` never uses exponent notation and always has a '.'.
    let mut s = format!("{f:.3}");
    while s.ends_with('0') && !s.ends_with(".0") {
        s.pop();
    }
    if s == "-0.0" {
        s = String::from("0.0");
    }
    out.push_str(&s);
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // Printable ASCII, the bulk of any output, without the test.
            ' '..='~' => out.push(c),
            c if crate::report::is_unsafe(c) => {
                let code = u32::from(c);
                out.push_str("\\u");
                for shift in [12, 8, 4, 0] {
                    // Masked to 0..=15, so from_digit always succeeds.
                    out.push(char::from_digit((code >> shift) & 0xf, 16).unwrap_or('0'));
                }
            }
            _ => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        Json::str(v).render()
    }

    #[test]
    fn scalars() {
        assert_eq!(Json::Null.render(), "null");
        assert_eq!(Json::Bool(true).render(), "true");
        assert_eq!(Json::Bool(false).render(), "false");
        assert_eq!(Json::Int(0).render(), "0");
        assert_eq!(Json::Int(-42).render(), "-42");
        assert_eq!(Json::Int(i64::MAX).render(), "9223372036854775807");
        assert_eq!(Json::Int(i64::MIN).render(), "-9223372036854775808");
        assert_eq!(Json::str("").render(), "\"\"");
        assert_eq!(Json::str(String::from("abc")).render(), "\"abc\"");
    }

    #[test]
    fn string_escapes() {
        // Each character escapes on its own; several go in one string.
        assert_eq!(s("\"\\\n\r\t\u{8}\u{c}"), r#""\"\\\n\r\t\b\f""#);
        assert_eq!(
            s("\0\u{1}\u{b}\u{1b}\u{1f}\u{7f}"),
            r#""\u0000\u0001\u000b\u001b\u001f\u007f""#
        );
        assert_eq!(s("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
        assert_eq!(
            s("\u{80}\u{9b}\u{9f}\u{202e}\u{2066}\u{61c}"),
            r#""\u0080\u009b\u009f\u202e\u2066\u061c""#
        );
        assert_eq!(s("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }

    #[test]
    fn string_passthrough() {
        // C1 controls and bidi marks are escaped (see `escapes`); the
        // rest of Unicode, U+2027 and U+FEFF included, stays as it is.
        let plain = " /'<>&~\u{a0}Entwürfe日本語😀\u{2027}\u{feff}";
        assert_eq!(s(plain), format!("\"{plain}\""));
    }

    #[test]
    fn lossy_and_opt() {
        assert_eq!(Json::lossy(b"ok"), Json::Str(String::from("ok")));
        assert_eq!(Json::lossy(b"a\xffb").render(), "\"a\u{fffd}b\"");
        assert_eq!(Json::opt(None::<i64>, Json::Int), Json::Null);
        assert_eq!(Json::opt(Some(7), Json::Int).render(), "7");
        assert_eq!(Json::opt(Some("x"), Json::str).render(), "\"x\"");
    }

    #[test]
    fn empty_containers() {
        assert_eq!(Json::Arr(vec![]).render(), "[]");
        assert_eq!(Json::Obj(vec![]).render(), "{}");
        assert_eq!(Json::obj().build().render(), "{}");
        assert_eq!(Json::obj().build(), Json::Obj(vec![]));
    }

    #[test]
    fn nested_structures() {
        let v = Json::obj()
            .field("host", Json::str("imap.example.com"))
            .field("port", Json::Int(993))
            .field("tls", Json::Bool(true))
            .field("latency_ms", Json::Float(94.2))
            .field("error", Json::Null)
            .field(
                "mailboxes",
                Json::Arr(vec![
                    Json::obj()
                        .field("name", Json::str("INBOX"))
                        .field("flags", Json::Arr(vec![Json::str("\\HasNoChildren")]))
                        .build(),
                    Json::obj()
                        .field("name", Json::str("Entwürfe"))
                        .field("flags", Json::Arr(vec![]))
                        .field("extra", Json::obj().build())
                        .build(),
                ]),
            )
            .field(
                "matrix",
                Json::Arr(vec![
                    Json::Arr(vec![Json::Int(1), Json::Int(2)]),
                    Json::Arr(vec![]),
                ]),
            )
            .build();
        assert_eq!(
            v.render(),
            "{\"host\":\"imap.example.com\",\"port\":993,\"tls\":true,\"latency_ms\":94.2,\
             \"error\":null,\"mailboxes\":[{\"name\":\"INBOX\",\"flags\":[\"\\\\HasNoChildren\"]},\
             {\"name\":\"Entwürfe\",\"flags\":[],\"extra\":{}}],\"matrix\":[[1,2],[]]}"
        );
    }

    #[test]
    fn keys_in_insertion_order_and_escaped() {
        let v = Json::obj()
            .field("z", Json::Int(1))
            .field("a", Json::Int(2))
            .field("z", Json::Int(3))
            .field("k\"\n", Json::Null)
            .build();
        assert_eq!(v.render(), r#"{"z":1,"a":2,"z":3,"k\"\n":null}"#);
    }

    #[test]
    fn float_formatting() {
        let table: [(f64, &str); 22] = [
            (94.2, "94.2"),
            (1.0, "1.0"),
            (0.0, "0.0"),
            (-0.0, "0.0"),
            (0.123, "0.123"),
            (0.1234, "0.123"),
            (0.1236, "0.124"),
            (0.5, "0.5"),
            (0.05, "0.05"),
            (12.0, "12.0"),
            (12.340, "12.34"),
            (-2.5, "-2.5"),
            (-0.0001, "0.0"),
            (-0.0004, "0.0"),
            (0.0001, "0.0"),
            (1e-7, "0.0"),
            (0.9999, "1.0"),
            (-0.9999, "-1.0"),
            (1e20, "100000000000000000000.0"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
        ];
        for (f, want) in table {
            assert_eq!(Json::Float(f).render(), want, "{f:?}");
        }
        assert_eq!(Json::Float(f64::NEG_INFINITY).render(), "null");
        let max = Json::Float(f64::MAX).render();
        assert!(max.starts_with("17976931348623157"), "{max}");
        assert!(max.ends_with("124858368.0"), "{max}");
        assert_eq!(max.len(), 311);
        assert!(!max.contains(['e', 'E']));
        let min = Json::Float(f64::MIN_POSITIVE).render();
        assert_eq!(min, "0.0");
    }

    #[test]
    fn parses_back_with_serde_json() {
        let nasty = "q\"b\\s/\n\r\t\u{8}\u{c}\0\u{1}\u{1f}\u{7f}\u{2028}\u{2029}é日😀\u{fffd}";
        let v = Json::obj()
            .field(nasty, Json::str(nasty))
            .field(
                "list",
                Json::Arr(vec![
                    Json::Null,
                    Json::Bool(false),
                    Json::Int(i64::MIN),
                    Json::Int(i64::MAX),
                    Json::Float(94.2),
                    Json::Float(-0.0),
                    Json::Float(f64::NAN),
                    Json::lossy(b"\xc3\x28"),
                    Json::Arr(vec![Json::obj().build(), Json::Arr(vec![])]),
                ]),
            )
            .field(
                "nested",
                Json::obj()
                    .field(
                        "deeper",
                        Json::obj().field("x", Json::str("}{][,:")).build(),
                    )
                    .build(),
            )
            .build();
        let text = v.render();
        assert!(!text.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{7f}']));
        assert!(text.bytes().all(|b| b >= 0x20));
        let parsed: serde_json::Value = match serde_json::from_str(&text) {
            Ok(p) => p,
            Err(e) => panic!("{e}: {text}"),
        };
        let expected = serde_json::json!({
            nasty: nasty,
            "list": [null, false, i64::MIN, i64::MAX, 94.2, 0.0, null, "\u{fffd}(", [{}, []]],
            "nested": {"deeper": {"x": "}{][,:"}},
        });
        assert_eq!(parsed, expected);
    }
}
