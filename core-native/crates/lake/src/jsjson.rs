//! A JSON reader with the semantics of JavaScript's `JSON.parse` and a writer with those of `JSON.stringify`, for the
//! values the lake sink's rows take from a record (lakehouse/src/rows.ts). Only what the raw-bytes path can reproduce
//! exactly is accepted: anything else (a lone surrogate escape, nesting deeper than `MAX_DEPTH`, very wide objects,
//! invalid JSON) is `Unsure`, and the caller hands that record to the TypeScript path, which is the reference.
use std::borrow::Cow;

/// Deeper values are left to the TypeScript path (JSON.stringify's recursion is its own business).
pub const MAX_DEPTH: usize = 64;
/// Wider objects are left to the TypeScript path (duplicate keys are found by a linear scan).
const MAX_KEYS: usize = 512;

/// Not reproduced here: the record goes to the TypeScript path.
#[derive(Debug, PartialEq, Eq)]
pub struct Unsure;

#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// The number's literal as written (valid JSON number grammar).
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<Value<'a>>),
    /// Keys in JSON.parse's insertion order; a repeated key keeps its first position and takes the last value.
    Obj(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl Value<'_> {
    /// The number as JavaScript holds it (a double, correctly rounded; overflow is ±Infinity).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(lit) => lit.parse::<f64>().ok(),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

struct P<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Parses a whole document (JSON.parse: surrounding whitespace allowed, nothing else).
pub fn parse(s: &str) -> Result<Value<'_>, Unsure> {
    let mut p = P {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(Unsure);
    }
    Ok(v)
}

/// Parses a document that must be an object and keeps only the values of the keys `slot` knows, in `out[slot]`
/// (a repeated key: the last value, as JSON.parse). Every other value is still checked. `Ok(false)`: valid JSON but
/// not an object (JSON.parse accepts it; the caller decides).
pub fn parse_fields<'a>(
    s: &'a str,
    slot: impl Fn(&str) -> Option<usize>,
    out: &mut [Option<Value<'a>>],
) -> Result<bool, Unsure> {
    let mut p = P {
        s,
        b: s.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.b.get(p.i) != Some(&b'{') {
        p.value(0)?;
        p.ws();
        return if p.i == p.b.len() {
            Ok(false)
        } else {
            Err(Unsure)
        };
    }
    p.i += 1;
    p.ws();
    if p.b.get(p.i) == Some(&b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            if p.b.get(p.i) != Some(&b'"') {
                return Err(Unsure);
            }
            let k = p.string()?;
            p.ws();
            if p.b.get(p.i) != Some(&b':') {
                return Err(Unsure);
            }
            p.i += 1;
            p.ws();
            let v = p.value(1)?;
            if let Some(i) = slot(&k) {
                out[i] = Some(v);
            }
            p.ws();
            match p.b.get(p.i) {
                Some(b',') => p.i += 1,
                Some(b'}') => {
                    p.i += 1;
                    break;
                }
                _ => return Err(Unsure),
            }
        }
    }
    p.ws();
    if p.i != p.b.len() {
        return Err(Unsure);
    }
    Ok(true)
}

/// Bytes that end the plain run of a JSON string: the quote, the backslash and control characters.
static STOP: [bool; 256] = {
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

impl<'a> P<'a> {
    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn lit(&mut self, word: &[u8]) -> Result<(), Unsure> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Unsure)
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Unsure> {
        if depth > MAX_DEPTH {
            return Err(Unsure);
        }
        match self.b.get(self.i).copied().ok_or(Unsure)? {
            b'{' => {
                self.i += 1;
                let mut fields: Vec<(Cow<'a, str>, Value<'a>)> = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Value::Obj(fields));
                }
                loop {
                    self.ws();
                    if self.b.get(self.i) != Some(&b'"') {
                        return Err(Unsure);
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.b.get(self.i) != Some(&b':') {
                        return Err(Unsure);
                    }
                    self.i += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    if let Some(slot) = fields.iter_mut().find(|(name, _)| *name == k) {
                        slot.1 = v;
                    } else {
                        if fields.len() >= MAX_KEYS {
                            return Err(Unsure);
                        }
                        fields.push((k, v));
                    }
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Obj(fields));
                        }
                        _ => return Err(Unsure),
                    }
                }
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.b.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Value::Arr(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Arr(items));
                        }
                        _ => return Err(Unsure),
                    }
                }
            }
            b'"' => Ok(Value::Str(self.string()?)),
            b't' => self.lit(b"true").map(|_| Value::Bool(true)),
            b'f' => self.lit(b"false").map(|_| Value::Bool(false)),
            b'n' => self.lit(b"null").map(|_| Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Unsure),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.b.get(self.i), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Value<'a>, Unsure> {
        let start = self.i;
        if self.b[self.i] == b'-' {
            self.i += 1;
        }
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Unsure),
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Unsure);
            }
        }
        Ok(Value::Num(&self.s[start..self.i]))
    }

    fn hex4(&mut self) -> Result<u32, Unsure> {
        let h = self.b.get(self.i..self.i + 4).ok_or(Unsure)?;
        let mut n = 0u32;
        for &c in h {
            n = n * 16 + (c as char).to_digit(16).ok_or(Unsure)?;
        }
        self.i += 4;
        Ok(n)
    }

    /// At the opening quote. A lone surrogate escape is `Unsure` (JavaScript keeps it in the string).
    fn string(&mut self) -> Result<Cow<'a, str>, Unsure> {
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes.
        let run = self.b[self.i..]
            .iter()
            .position(|&c| STOP[c as usize])
            .ok_or(Unsure)?;
        self.i += run;
        match self.b[self.i] {
            b'"' => {
                let s = &self.s[start..self.i];
                self.i += 1;
                return Ok(Cow::Borrowed(s));
            }
            b'\\' => {}
            _ => return Err(Unsure),
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(&self.s[start..self.i]);
        loop {
            let c = self.b.get(self.i).copied().ok_or(Unsure)?;
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(Cow::Owned(out));
                }
                b'\\' => {
                    self.i += 1;
                    let e = self.b.get(self.i).copied().ok_or(Unsure)?;
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
                            let u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u) {
                                if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return Err(Unsure);
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(Unsure);
                                }
                                let cp = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                out.push(char::from_u32(cp).ok_or(Unsure)?);
                            } else if (0xDC00..0xE000).contains(&u) {
                                return Err(Unsure);
                            } else {
                                out.push(char::from_u32(u).ok_or(Unsure)?);
                            }
                        }
                        _ => return Err(Unsure),
                    }
                }
                c if c < 0x20 => return Err(Unsure),
                _ => {
                    // Copy up to the next quote or backslash (the input is valid UTF-8: never splits a character).
                    let from = self.i;
                    let run = self.b[self.i..]
                        .iter()
                        .position(|&c| STOP[c as usize])
                        .ok_or(Unsure)?;
                    self.i += run;
                    out.push_str(&self.s[from..self.i]);
                }
            }
        }
    }
}

/// JavaScript's Number::toString for a finite double (shortest round-trip digits; exponent form below 1e-6 and from
/// 1e21 on). Not for NaN or infinities (JSON.stringify writes `null`).
pub fn js_number(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    // Rust's `{:e}` is the shortest round-trip form, as JavaScript's: `d[.ddd]e<exp>`.
    let e = format!("{:e}", x.abs());
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent");
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let k = digits.len() as i32;
    let n = exp + 1; // position of the decimal point relative to the digits
    let mut out = String::with_capacity(k as usize + 8);
    if x < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        for _ in 0..(n - k) {
            out.push('0');
        }
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        for _ in 0..(-n) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        out.push_str(&(n - 1).abs().to_string());
    }
    out
}

/// A canonical array index (JavaScript lists those keys of an ordinary object first, in ascending order).
fn array_index(k: &str) -> Option<u32> {
    let b = k.as_bytes();
    if b.is_empty()
        || b.len() > 10
        || (b.len() > 1 && b[0] == b'0')
        || !b.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let n: u64 = k.parse().ok()?;
    (n < u32::MAX as u64).then_some(n as u32)
}

fn quote(s: &str, out: &mut String) {
    out.push('"');
    let b = s.as_bytes();
    let mut from = 0;
    // Only ASCII bytes are escaped (JSON.stringify writes every other character as is): copy the runs between them.
    while let Some(run) = b[from..].iter().position(|&c| STOP[c as usize]) {
        let i = from + run;
        out.push_str(&s[from..i]);
        match b[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            8 => out.push_str("\\b"),
            12 => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[usize::from(c >> 4)] as char);
                out.push(HEX[usize::from(c & 15)] as char);
            }
        }
        from = i + 1;
    }
    out.push_str(&s[from..]);
    out.push('"');
}

/// JSON.stringify(v) of a value JSON.parse produced.
pub fn stringify(v: &Value<'_>, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Num(lit) => {
            // Plain integers up to 15 digits print as written (no leading zeros in JSON), except -0.
            let digits = lit.strip_prefix('-').unwrap_or(lit);
            if digits.len() <= 15 && digits.bytes().all(|c| c.is_ascii_digit()) {
                out.push_str(if *lit == "-0" { "0" } else { lit });
            } else {
                let x: f64 = lit.parse().unwrap_or(f64::NAN);
                if x.is_finite() {
                    out.push_str(&js_number(x));
                } else {
                    out.push_str("null");
                }
            }
        }
        Value::Str(s) => quote(s, out),
        Value::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                stringify(item, out);
            }
            out.push(']');
        }
        Value::Obj(fields) => {
            out.push('{');
            let mut first = true;
            let mut field = |k: &str, v: &Value<'_>, out: &mut String| {
                if !first {
                    out.push(',');
                }
                first = false;
                quote(k, out);
                out.push(':');
                stringify(v, out);
            };
            let mut indexed: Vec<(u32, usize)> = fields
                .iter()
                .enumerate()
                .filter_map(|(i, (k, _))| array_index(k).map(|n| (n, i)))
                .collect();
            if indexed.is_empty() {
                for (k, v) in fields {
                    field(k, v, out);
                }
            } else {
                indexed.sort_unstable();
                for &(_, i) in &indexed {
                    field(&fields[i].0, &fields[i].1, out);
                }
                for (k, v) in fields {
                    if array_index(k).is_none() {
                        field(k, v, out);
                    }
                }
            }
            out.push('}');
        }
    }
}

/// `Date.parse(s)` for the forms reproduced exactly here: `YYYY-MM-DD` (UTC) and
/// `YYYY-MM-DDTHH:mm[:ss[.f{1,9}]](Z|±HH:mm)`, every field in its calendar range. `None`: another form (JavaScript
/// may still accept it: a date-time without a zone is local time, for one), left to the TypeScript path.
pub fn iso_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, n: usize| -> Option<i64> {
        let d = b.get(from..from + n)?;
        d.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b[10] != b'T' || b.len() < 17 || b[13] != b':' {
        return None;
    }
    let (h, mi) = (num(11, 2)?, num(14, 2)?);
    let mut i = 16;
    let (mut sec, mut ms) = (0, 0);
    if b.get(i) == Some(&b':') {
        sec = num(i + 1, 2)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = i - start;
            if !(1..=9).contains(&n) {
                return None;
            }
            // JavaScript keeps milliseconds: the first three digits, truncated.
            let mut f = num(start, n.min(3))?;
            for _ in n..3 {
                f *= 10;
            }
            ms = f;
        }
    }
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let offset_min = match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if sign == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    Some(days * 86_400_000 + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + ms)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(s: &str) -> String {
        let mut out = String::new();
        stringify(&parse(s).unwrap(), &mut out);
        out
    }

    #[test]
    fn stringify_orders_index_keys_first_and_formats_numbers_as_javascript() {
        assert_eq!(
            js(
                r#"{"b":1,"2":2,"a":[1.0,-0,1e21,1e-7,0.000001,123456789012345678,"\u0001\/"],"1":3,"b":4}"#
            ),
            r#"{"1":3,"2":2,"b":4,"a":[1,0,1e+21,1e-7,0.000001,123456789012345680,"\u0001/"]}"#
        );
        assert_eq!(
            js(r#"{"01":1,"4294967295":2,"4294967294":3}"#),
            r#"{"4294967294":3,"01":1,"4294967295":2}"#
        );
        assert_eq!(
            js("[1e400,-1e400,5e-324,0.1,100]"),
            "[null,null,5e-324,0.1,100]"
        );
        assert_eq!(js(r#""\ud83d\ude00 é \u2028""#), "\"\u{1F600} é \u{2028}\"");
    }

    #[test]
    fn unsure_on_what_javascript_does_differently_or_rejects() {
        for s in [
            r#""\ud800""#,
            r#""\udc00x""#,
            "{\"a\":1,}",
            "01",
            "[1,]",
            "\u{feff}{}",
            "\"a\nb\"",
            "1.",
            "-",
        ] {
            assert_eq!(parse(s), Err(Unsure), "{s}");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        assert_eq!(parse(&deep), Err(Unsure));
    }

    #[test]
    fn iso_ms_matches_date_parse_on_its_forms() {
        // Values from node 24's Date.parse.
        assert_eq!(iso_ms("2024-01-01T00:00:00.1239Z"), Some(1704067200123));
        assert_eq!(iso_ms("2024-01-01T00:00:00.12Z"), Some(1704067200120));
        assert_eq!(iso_ms("2024-01-01T00:00Z"), Some(1704067200000));
        assert_eq!(iso_ms("2024-01-01"), Some(1704067200000));
        assert_eq!(iso_ms("2024-01-01T00:00:00+05:30"), Some(1704047400000));
        assert_eq!(iso_ms("2024-01-01T00:00:00+23:59"), Some(1703980860000));
        assert_eq!(iso_ms("0000-01-01T00:00:00Z"), Some(-62167219200000));
        for s in [
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01t00:00:00z",
            "2024-01-01T00:00:00",
        ] {
            assert_eq!(iso_ms(s), None, "{s}");
        }
    }
}
