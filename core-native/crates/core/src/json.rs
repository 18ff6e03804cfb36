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
//!
//! The tree lives in a bump arena that the batch loop resets per message, so parsing does no
//! per-container heap allocation and nothing is freed piecemeal. Not for: serializing (`canon.rs`).

use bumpalo::collections::{String as BumpString, Vec as BumpVec};
pub use bumpalo::Bump;

/// Maximum container nesting accepted in any payload or feature record.
pub const MAX_DEPTH: u32 = 64;

pub type Member<'a> = (&'a str, Value<'a>);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(&'a str),
    Arr(&'a [Value<'a>]),
    Obj(&'a [Member<'a>]),
}

impl<'a> Value<'a> {
    /// Member lookup with JSON.parse semantics: the last duplicate wins.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Obj(members) => members
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Several member lookups in one pass over the object (last duplicate wins, like `get`):
    /// cheaper than N calls to `get` on the large objects real providers send.
    pub fn pick<const N: usize>(&self, keys: [&str; N]) -> [Option<&Value<'a>>; N] {
        let mut out = [None; N];
        if let Value::Obj(members) = self {
            for (k, v) in members.iter() {
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

    pub fn as_str(&self) -> Option<&'a str> {
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

/// Parses one JSON document into `arena`. Any failure (syntax, encoding, depth, infinite number,
/// lone surrogate) is one error: the DLQ reports a fixed message so both implementations agree.
pub fn parse<'a>(text: &'a str, arena: &'a Bump) -> Result<Value<'a>, ParseError> {
    let mut p = Parser {
        s: text,
        b: text.as_bytes(),
        i: 0,
        arena,
        values: BumpVec::with_capacity_in(64, arena),
        members: BumpVec::with_capacity_in(128, arena),
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
pub fn parse_bytes<'a>(bytes: &'a [u8], arena: &'a Bump) -> Result<Value<'a>, ParseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ParseError)?;
    parse(text, arena)
}

/// A single-pass recursive-descent parser: strings without escapes are borrowed from the input,
/// containers are gathered on shared scratch stacks and copied once into the arena, integers up
/// to 15 digits skip float parsing.
struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    arena: &'a Bump,
    /// Shared scratch stacks: a container's children are gathered here, then copied into the arena.
    values: BumpVec<'a, Value<'a>>,
    members: BumpVec<'a, Member<'a>>,
}

type PResult<T> = Result<T, ParseError>;

/// Index of the first byte at or after `i` that is `"`, `\\` or a control character, eight bytes
/// at a time (SWAR; exact for the lowest flagged byte, which is the one returned).
#[inline]
pub fn scan_string(b: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        let q = w ^ (ONES * b'"' as u64);
        let e = w ^ (ONES * b'\\' as u64);
        let m = (q.wrapping_sub(ONES) & !q)
            | (e.wrapping_sub(ONES) & !e)
            | (w.wrapping_sub(ONES * 0x20) & !w);
        let m = m & HIGH;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| STRING_STOP[c as usize])
        .map(|n| i + n)
}

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
        let base = self.members.len();
        self.ws();
        if self.b.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(Value::Obj(&[]));
        }
        loop {
            if self.b.get(self.i) != Some(&b'"') {
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
            self.members.push((k, v));
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    let members = self.arena.alloc_slice_copy(&self.members[base..]);
                    self.members.truncate(base);
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
        let base = self.values.len();
        self.ws();
        if self.b.get(self.i) == Some(&b']') {
            self.i += 1;
            return Ok(Value::Arr(&[]));
        }
        loop {
            let v = self.value(depth)?;
            self.values.push(v);
            self.ws();
            match self.b.get(self.i) {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    let values = self.arena.alloc_slice_copy(&self.values[base..]);
                    self.values.truncate(base);
                    return Ok(Value::Arr(values));
                }
                _ => return Err(ParseError),
            }
        }
    }

    fn string(&mut self) -> PResult<&'a str> {
        self.i += 1; // opening quote
        let start = self.i;
        // Fast path: no escapes. The input is valid UTF-8, and '"' / '\\' never occur inside a
        // multi-byte sequence, so byte scanning is safe.
        self.i = scan_string(self.b, self.i).ok_or(ParseError)?;
        match self.b[self.i] {
            b'"' => {
                let s = &self.s[start..self.i];
                self.i += 1;
                return Ok(s);
            }
            b'\\' => {}
            _ => return Err(ParseError),
        }
        let mut out = BumpString::with_capacity_in(self.i - start + 16, self.arena);
        out.push_str(&self.s[start..self.i]);
        loop {
            let run = self.i;
            self.i = scan_string(self.b, self.i).unwrap_or(self.b.len());
            out.push_str(&self.s[run..self.i]);
            match self.b.get(self.i) {
                None => return Err(ParseError),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out.into_bump_str());
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Compares a parsed tree with serde_json's reading of the same text (used by the tests to
    /// cross-check this parser: same acceptance, same values, last duplicate wins).
    pub fn same_as_serde(ours: &Value, theirs: &serde_json::Value) -> bool {
        use serde_json::Value as S;
        match (ours, theirs) {
            (Value::Null, S::Null) => true,
            (Value::Bool(a), S::Bool(b)) => a == b,
            (Value::Num(a), S::Number(b)) => Some(*a) == b.as_f64(),
            (Value::Str(a), S::String(b)) => a == b,
            (Value::Arr(a), S::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_as_serde(x, y))
            }
            (Value::Obj(a), S::Object(b)) => {
                let mut keys: Vec<&str> = a.iter().map(|(k, _)| *k).collect();
                keys.sort_unstable();
                keys.dedup();
                keys.len() == b.len()
                    && b.iter()
                        .all(|(k, v)| ours.get(k).is_some_and(|x| same_as_serde(x, v)))
            }
            _ => false,
        }
    }

    fn p(text: &str) -> Result<Value<'_>, ParseError> {
        // Leaked arena: fine in tests, keeps the signatures simple.
        let arena: &'static Bump = Box::leak(Box::new(Bump::new()));
        parse(text, arena)
    }

    #[test]
    fn last_duplicate_key_wins() {
        let v = p(r#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(v.get("a"), Some(&Value::Num(2.0)));
        assert_eq!(v.pick(["a", "b"]), [Some(&Value::Num(2.0)), None]);
    }

    #[test]
    fn rejects_what_json_parse_would_not_represent() {
        assert!(p(r#""\ud800""#).is_err(), "lone surrogate");
        assert!(p("1e400").is_err(), "infinite number");
        assert!(p("{} x").is_err(), "trailing characters");
        assert!(p("\u{feff}{}").is_err(), "byte order mark");
        let arena = Bump::new();
        assert!(parse_bytes(b"\"\xff\"", &arena).is_err(), "invalid UTF-8");
    }

    #[test]
    fn depth_limit_is_exact() {
        let ok = "[".repeat(64) + &"]".repeat(64);
        assert!(p(&ok).is_ok());
        let deep = "[".repeat(65) + &"]".repeat(65);
        assert!(p(&deep).is_err());
        let very_deep = "[".repeat(100_000);
        assert!(p(&very_deep).is_err(), "no stack overflow");
    }

    #[test]
    fn agrees_with_serde_json() {
        let docs = [
            r#"{"a":[1,2.5,-0,1e2,"x\n\u00e9\ud83d\ude00"],"b":{"c":null,"d":true,"e":false},"a":3}"#,
            r#"[]"#,
            r#"{}"#,
            r#" [ 1 , { } , [ ] ] "#,
            "0.1",
            "123456789012345678901234567890",
            "-1.5e-7",
            r#""\\\/\b\f""#,
        ];
        for d in docs {
            let theirs: serde_json::Value = serde_json::from_str(d).unwrap();
            assert!(same_as_serde(&p(d).unwrap(), &theirs), "{d}");
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
            assert!(p(bad).is_err(), "{bad}");
            assert!(
                serde_json::from_str::<serde_json::Value>(bad).is_err(),
                "serde {bad}"
            );
        }
    }

    #[test]
    fn numbers_round_like_javascript() {
        assert_eq!(
            p("12345678901234567").unwrap(),
            Value::Num(12345678901234568.0)
        );
        assert_eq!(p("1e-400").unwrap(), Value::Num(0.0));
        assert_eq!(p("100.0").unwrap(), Value::Num(100.0));
        assert_eq!(p("0.1").unwrap(), Value::Num(0.1));
    }
}
