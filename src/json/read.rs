//! A small JSON reader (RFC 8259) for what servers send as JSON: the
//! token endpoint's answer and the OAuth error challenge of a SASL login.
//! The whole value into a [`Json`] tree, or an error saying where the
//! text stopped being JSON. The callers bound the text's size; nesting is
//! bounded here, so a hostile `[[[[...` cannot exhaust the stack.

use super::Json;

/// Deepest nesting of arrays and objects read. A token answer is one flat
/// object (Azure's `error_codes` is an array inside it); 32 levels is far
/// beyond any real answer and far below what the stack can take.
const MAX_DEPTH: usize = 32;

/// Reads `text` as exactly one JSON value (whitespace around it allowed).
/// `Err` says what was wrong and at which byte.
pub fn parse(text: &[u8]) -> Result<Json, String> {
    let mut r = Reader { s: text, i: 0 };
    r.ws();
    let value = r.value(0)?;
    r.ws();
    if r.i != text.len() {
        return Err(r.error("text after the JSON value"));
    }
    Ok(value)
}

/// The string member `key` of an object.
pub fn get_str<'a>(obj: &'a Json, key: &str) -> Option<&'a str> {
    match member(obj, key)? {
        Json::Str(s) => Some(s),
        _ => None,
    }
}

/// The member `key` of an object (the first, if repeated).
pub fn member<'a>(obj: &'a Json, key: &str) -> Option<&'a Json> {
    match obj {
        Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        _ => None,
    }
}

/// Takes the string member `key` out of an object, leaving `null`: the
/// caller then owns the only copy (for a secret, to wipe it).
pub fn take_str(obj: &mut Json, key: &str) -> Option<String> {
    let Json::Obj(fields) = obj else { return None };
    let (_, value) = fields.iter_mut().find(|(k, _)| k == key)?;
    match std::mem::replace(value, Json::Null) {
        Json::Str(s) => Some(s),
        other => {
            *value = other;
            None
        }
    }
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn error(&self, what: &str) -> String {
        format!("not JSON at byte {}: {what}", self.i)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", b as char)))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.s[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(self.error("not a JSON value"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("nested deeper than {MAX_DEPTH} levels")));
        }
        match self.peek() {
            None => Err(self.error("the text ended where a value should be")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("not a JSON value")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.eat(b'{')?;
        let mut fields = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Obj(fields));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a member name"));
            }
            let key = self.string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = self.value(depth + 1)?;
            fields.push((key, value));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.eat(b'[')?;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or_else(|| self.error("\\u needs four hex digits"))?;
        self.i += 4;
        Ok(digits)
    }

    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(self.error("the text ended inside a string"));
            };
            self.i += 1;
            match b {
                b'"' => {
                    return String::from_utf8(out).map_err(|_| self.error("a string is not UTF-8"));
                }
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.error("the text ended inside an escape"));
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("unknown escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.error("a control character inside a string")),
                _ => out.push(b),
            }
        }
    }

    /// After `\u`: one code point, or a surrogate pair; a lone surrogate
    /// becomes U+FFFD.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first) && self.s[self.i..].starts_with(b"\\u") {
            let save = self.i;
            self.i += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            self.i = save;
        }
        Ok(char::from_u32(first).unwrap_or('\u{fffd}'))
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |r: &mut Self| {
            let from = r.i;
            while matches!(r.peek(), Some(b'0'..=b'9')) {
                r.i += 1;
            }
            r.i > from
        };
        if !digits(self) {
            return Err(self.error("a number needs digits"));
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integer = false;
            if !digits(self) {
                return Err(self.error("a number needs digits after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            integer = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return Err(self.error("a number needs digits in its exponent"));
            }
        }
        // The bytes are ASCII digits and signs, checked above.
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("0");
        if integer && let Ok(n) = text.parse::<i64>() {
            return Ok(Json::Int(n));
        }
        text.parse::<f64>()
            .map(Json::Float)
            .map_err(|_| self.error("a number out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_token_answer() {
        let v = parse(
            br#" {"token_type":"Bearer","expires_in":3599,"ext_expires_in":3.5e3,
                "access_token":"eyJ0\u00e9\/x","error_codes":[7000215, -1],"ok":true,"n":null} "#,
        )
        .expect("valid");
        assert_eq!(get_str(&v, "token_type"), Some("Bearer"));
        assert_eq!(member(&v, "expires_in"), Some(&Json::Int(3599)));
        assert_eq!(member(&v, "ext_expires_in"), Some(&Json::Float(3500.0)));
        assert_eq!(get_str(&v, "access_token"), Some("eyJ0é/x"));
        assert_eq!(
            member(&v, "error_codes"),
            Some(&Json::Arr(vec![Json::Int(7_000_215), Json::Int(-1)]))
        );
        assert_eq!(member(&v, "ok"), Some(&Json::Bool(true)));
        assert_eq!(member(&v, "n"), Some(&Json::Null));
    }

    #[test]
    fn take_str_leaves_null() {
        let mut v = parse(br#"{"a":"x","b":1}"#).expect("valid");
        assert_eq!(take_str(&mut v, "a").as_deref(), Some("x"));
        assert_eq!(take_str(&mut v, "a"), None);
        assert_eq!(take_str(&mut v, "b"), None);
        assert_eq!(member(&v, "b"), Some(&Json::Int(1)));
    }

    #[test]
    fn escapes_and_surrogates() {
        let v = parse(br#""\ud83d\ude00 \ud800 \"\\\b\f\n\r\t""#).expect("valid");
        assert_eq!(
            v,
            Json::Str("\u{1F600} \u{fffd} \"\\\u{8}\u{c}\n\r\t".into())
        );
    }

    #[test]
    fn rejects_what_is_not_json() {
        for bad in [
            &b""[..],
            b"<html>",
            b"{",
            b"{\"a\"}",
            b"{\"a\":1,}",
            b"[1,]",
            b"\"open",
            b"\"\x01\"",
            b"\"\\x\"",
            b"01x",
            b"1.",
            b"-",
            b"1e",
            b"tru",
            b"{} {}",
            b"{'a':1}",
            b"\"\xff\"",
        ] {
            assert!(
                parse(bad).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert!(
            parse(deep.as_bytes())
                .unwrap_err()
                .contains("nested deeper")
        );
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let hostile = "[".repeat(1_000_000);
        assert!(parse(hostile.as_bytes()).is_err());
    }

    #[test]
    fn a_number_too_big_for_i64_is_a_float() {
        assert_eq!(parse(b"1e400").ok(), Some(Json::Float(f64::INFINITY)));
        assert_eq!(parse(b"99999999999999999999").ok(), Some(Json::Float(1e20)));
    }
}
