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
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let v = ValueSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|_| ParseError)?;
    de.end().map_err(|_| ParseError)?;
    Ok(v)
}

/// Parses bytes that must be UTF-8 JSON.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value<'_>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError)?;
    parse(text)
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
    fn numbers_round_like_javascript() {
        assert_eq!(
            parse("12345678901234567").unwrap(),
            Value::Num(12345678901234568.0)
        );
        assert_eq!(parse("1e-400").unwrap(), Value::Num(0.0));
        assert_eq!(parse("100.0").unwrap(), Value::Num(100.0));
    }
}
