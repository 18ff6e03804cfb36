//! Borrowed JSON tree with the exact semantics of JavaScript's `JSON.parse`, so that the TypeScript
//! twin and this crate accept and reject the same documents and read the same values.
//!
//! Why not typed serde structs: derived structs reject duplicate keys (JS keeps the last one), cannot
//! be told apart from a missing field when a value has the wrong type, and lose object key order.
//! Rules shared with the twin (see `src/json.ts`):
//! - strict RFC 8259 grammar, UTF-8 input; a lone surrogate escape is rejected;
//! - every number is an IEEE-754 double (correctly rounded, as `JSON.parse`); a literal that
//!   overflows to infinity is rejected;
//! - nesting deeper than [`MAX_DEPTH`] containers is rejected;
//! - a duplicate key: the last occurrence wins.
//!   Not for: serializing (see `canon.rs`).

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Maximum container nesting accepted in any payload or feature record.
pub const MAX_DEPTH: u32 = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Value<'a>>),
    Obj(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    /// Member lookup with JSON.parse semantics: the last duplicate wins.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Obj(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Several member lookups in one pass over the object (last duplicate wins, like `get`):
    /// cheaper than N calls to `get` on the large objects real providers send.
    pub fn pick<const N: usize>(&self, keys: [&str; N]) -> [Option<&Value<'a>>; N] {
        let mut out = [None; N];
        if let Value::Obj(members) = self {
            for (k, v) in members {
                let k = k.as_bytes();
                for (j, want) in keys.iter().enumerate() {
                    if want.len() == k.len() && want.as_bytes() == k {
                        out[j] = Some(v);
                        break;
                    }
                }
            }
        }
        out
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Obj(_))
    }

    /// JS truthiness of an object value used by the original rules ("a non-empty object").
    pub fn is_nonempty_object(&self) -> bool {
        matches!(self, Value::Obj(m) if !m.is_empty())
    }
}

/// Follows a dotted path of object keys.
pub fn path<'v, 'a>(root: &'v Value<'a>, keys: &[&str]) -> Option<&'v Value<'a>> {
    let mut cur = root;
    for k in keys {
        cur = cur.get(k)?;
    }
    Some(cur)
}

#[derive(Debug)]
pub struct ParseError;

/// Parses one JSON document. Any failure (syntax, encoding, depth, infinite number, lone surrogate)
/// is one error: the DLQ reports a fixed message so both implementations agree byte for byte.
pub fn parse(text: &str) -> Result<Value<'_>, ParseError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        scratch: Vec::new(),
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(ParseError);
    }
    Ok(v)
}

/// Parses bytes that must be UTF-8 JSON.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value<'_>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError)?;
    parse(text)
}

/// Reference parser built on serde_json (kept to cross-check the hand-written one in tests).
pub fn parse_serde(text: &str) -> Result<Value<'_>, ParseError> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let v = ValueSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|_| ParseError)?;
    de.end().map_err(|_| ParseError)?;
    Ok(v)
}

/// A single-pass recursive-descent parser: strings without escapes are borrowed, each object's
/// members are gathered on one shared scratch stack and moved into an exactly-sized Vec (one
/// allocation per container), integers up to 15 digits skip float parsing.
struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    scratch: Vec<(Cow<'a, str>, Value<'a>)>,
}

type PResult<T> = Result<T, ParseError>;

/// Bytes that end the fast scan of a string: the closing quote, an escape, or a control character.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

impl<'a> Parser<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\n' || c == b'\r' || c == b'\t' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn lit(&mut self, word: &[u8], v: Value<'a>) -> PResult<Value<'a>> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(ParseError)
        }
    }

    fn value(&mut self, depth: u32) -> PResult<Value<'a>> {
        match *self.b.get(self.i).ok_or(ParseError)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => Ok(Value::Str(self.string()?)),
            b't' => self.lit(b"true", Value::Bool(true)),
            b'f' => self.lit(b"false", Value::Bool(false)),
            b'n' => self.lit(b"null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(ParseError),
        }
    }

    fn object(&mut self, depth: u32) -> PResult<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err(ParseError);
        }
        self.i += 1;
        let base = self.scratch.len();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Obj(Vec::new()));
        }
        loop {
            if self.b.get(self.i) != Some(&b'"') {
                self.scratch.truncate(base);
                return Err(ParseError);
            }
            let k = self.string()?;
            self.ws();
            if self.b.get(self.i) != Some(&b':') {
                return Err(ParseError);
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth)?;
            self.scratch.push((k, v));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    let members: Vec<_> = self.scratch.drain(base..).collect();
                    return Ok(Value::Obj(members));
                }
                _ => return Err(ParseError),
            }
        }
    }

    fn array(&mut self, depth: u32) -> PResult<Value<'a>> {
        if depth > MAX_DEPTH {
            return Err(ParseError);
        }
        self.i += 1;
        let mut out = Vec::new();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Arr(out));
        }
        loop {
            out.push(self.value(depth)?);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Arr(out));
                }
                _ => return Err(ParseError),
            }
        }
    }

    fn string(&mut self) -> PResult<Cow<'a, str>> {
        self.i += 1; // opening quote
        let start = self.i;
        // Fast path: no escapes. The input is valid UTF-8, and '"' / '\\' never occur inside a
        // multi-byte sequence, so byte scanning is safe.
        match self.b[self.i..]
            .iter()
            .position(|&c| STRING_STOP[c as usize])
        {
            None => return Err(ParseError),
            Some(n) => self.i += n,
        }
        match self.b[self.i] {
            b'"' => {
                let s = &self.s[start..self.i];
                self.i += 1;
                return Ok(Cow::Borrowed(s));
            }
            b'\\' => {}
            _ => return Err(ParseError),
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.s[start..self.i]);
        loop {
            let run = self.i;
            self.i += self.b[self.i..]
                .iter()
                .position(|&c| STRING_STOP[c as usize])
                .unwrap_or(self.b.len() - self.i);
            out.push_str(&self.s[run..self.i]);
            match self.b.get(self.i) {
                None => return Err(ParseError),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = *self.b.get(self.i).ok_or(ParseError)?;
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xd800..0xdc00).contains(&hi) {
                                // A high surrogate must be followed by an escaped low surrogate.
                                if self.b.get(self.i) != Some(&b'\\')
                                    || self.b.get(self.i + 1) != Some(&b'u')
                                {
                                    return Err(ParseError);
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(ParseError);
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else if (0xdc00..0xe000).contains(&hi) {
                                return Err(ParseError);
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or(ParseError)?);
                        }
                        _ => return Err(ParseError),
                    }
                }
                Some(_) => return Err(ParseError), // raw control character
            }
        }
    }

    fn hex4(&mut self) -> PResult<u32> {
        let h = self.b.get(self.i..self.i + 4).ok_or(ParseError)?;
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(ParseError),
            };
            v = v << 4 | d as u32;
        }
        self.i += 4;
        Ok(v)
    }

    fn number(&mut self) -> PResult<Value<'a>> {
        let start = self.i;
        let b = self.b;
        let neg = b[self.i] == b'-';
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        match b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while b.get(self.i).is_some_and(u8::is_ascii_digit) {
                    self.i += 1;
                }
            }
            _ => return Err(ParseError),
        }
        let int_end = self.i;
        let mut simple = true;
        if b.get(self.i) == Some(&b'.') {
            simple = false;
            self.i += 1;
            let f = self.i;
            while b.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
            if self.i == f {
                return Err(ParseError);
            }
        }
        if matches!(b.get(self.i), Some(b'e' | b'E')) {
            simple = false;
            self.i += 1;
            if matches!(b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let e = self.i;
            while b.get(self.i).is_some_and(u8::is_ascii_digit) {
                self.i += 1;
            }
            if self.i == e {
                return Err(ParseError);
            }
        }
        if simple && int_end - int_start <= 15 {
            // Exact in an f64: no rounding question.
            let mut v: u64 = 0;
            for &c in &b[int_start..int_end] {
                v = v * 10 + (c - b'0') as u64;
            }
            let f = v as f64;
            return Ok(Value::Num(if neg { -f } else { f }));
        }
        // Correctly rounded (like JSON.parse); the grammar was checked above.
        let f: f64 = self.s[start..self.i].parse().map_err(|_| ParseError)?;
        if f.is_finite() {
            Ok(Value::Num(f))
        } else {
            Err(ParseError)
        }
    }
}

struct ValueSeed {
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        d.deserialize_any(ValueVisitor { depth: self.depth })
    }
}

struct ValueVisitor {
    depth: u32,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value<'de>, E> {
        // `as` rounds to nearest even, exactly like JS parsing the same integer literal.
        Ok(Value::Num(v as f64))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(Value::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<'de>, E> {
        if v.is_finite() {
            Ok(Value::Num(v))
        } else {
            Err(E::custom("number out of range"))
        }
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed { depth })? {
            out.push(v);
        }
        Ok(Value::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(de::Error::custom("nesting too deep"));
        }
        let mut out = Vec::new();
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let v = map.next_value_seed(ValueSeed { depth })?;
            out.push((k, v));
        }
        Ok(Value::Obj(out))
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_duplicate_key_wins() {
        let v = parse(r#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(v.get("a"), Some(&Value::Num(2.0)));
    }

    #[test]
    fn rejects_what_json_parse_would_not_represent() {
        assert!(parse(r#""\ud800""#).is_err(), "lone surrogate");
        assert!(parse("1e400").is_err(), "infinite number");
        assert!(parse("{} x").is_err(), "trailing characters");
        assert!(parse("\u{feff}{}").is_err(), "byte order mark");
        assert!(parse_bytes(b"\"\xff\"").is_err(), "invalid UTF-8");
    }

    #[test]
    fn depth_limit_is_exact() {
        let ok = "[".repeat(64) + &"]".repeat(64);
        assert!(parse(&ok).is_ok());
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(parse(&deep).is_err());
        let very_deep = "[".repeat(100_000);
        assert!(parse(&very_deep).is_err(), "no stack overflow");
    }

    #[test]
    fn hand_written_parser_agrees_with_serde_json() {
        let docs = [
            r#"{"a":[1,2.5,-0,1e2,"x\\n\\u00e9\\ud83d\\ude00"],"b":{"c":null,"d":true,"e":false},"a":3}"#,
            r#"[]"#,
            r#"{}"#,
            r#" [ 1 , { } , [ ] ] "#,
            "0.1",
            "123456789012345678901234567890",
            "-1.5e-7",
            r#""\\/\\b\\f""#,
        ];
        for d in docs {
            assert_eq!(parse(d).ok(), parse_serde(d).ok(), "{d}");
        }
        for bad in [
            "",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "[1,]",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "tru",
            "\"\\x\"",
            "\"\\ud800\\u0041\"",
            "\"\\udc00\"",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
            assert!(parse_serde(bad).is_err(), "serde {bad}");
        }
    }

    #[test]
    fn numbers_round_like_javascript() {
        assert_eq!(
            parse("12345678901234567").unwrap(),
            Value::Num(12345678901234568.0)
        );
        assert_eq!(parse("1e-400").unwrap(), Value::Num(0.0));
        assert_eq!(parse("100.0").unwrap(), Value::Num(100.0));
    }
}
