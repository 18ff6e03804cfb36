//! Canonical JSON writer shared (byte for byte) with the TypeScript twin's `src/canon.ts`.
//!
//! Canonical form (documented in the package README):
//! - compact: no whitespace; keys in a fixed order decided by the caller (never re-sorted here);
//! - strings: `"` and `\` escaped, U+0008/0009/000A/000C/000D as `\b \t \n \f \r`, every other
//!   code point below U+0020 as `\u00xx` (lowercase hex), everything else written raw as UTF-8
//!   (this is exactly what `JSON.stringify` does for well-formed strings);
//! - numbers: only integers within ±(2^53−1), written in plain decimal (no exponent, no `.0`);
//! - absent optional values are `null`, never omitted;
//! - timestamps: `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC, milliseconds; `Date.prototype.toISOString`).

pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// The escaped content of a string without the quotes.
pub fn write_str_body(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    // The bytes that need escaping are exactly the ones that stop the parser's string scan.
    while let Some(i) = crate::json::scan_string(bytes, start) {
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x09 => out.extend_from_slice(b"\\t"),
            0x0a => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            0x0d => out.extend_from_slice(b"\\r"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

pub fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

pub fn write_int(out: &mut Vec<u8>, n: i64) {
    let mut buf = [0u8; 24];
    let mut i = buf.len();
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    out.extend_from_slice(&buf[i..]);
}

/// Writes a key (already a safe ASCII literal) followed by `:`; `first` decides the comma.
#[inline]
pub fn key(out: &mut Vec<u8>, k: &str, first: bool) {
    if !first {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

pub fn write_iso_ms(out: &mut Vec<u8>, ms: i64) {
    out.push(b'"');
    crate::time::push_iso(out, ms);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut v = Vec::new();
        write_str(&mut v, x);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_like_json_stringify() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("\u{8}\t\n\u{c}\r"), r#""\b\t\n\f\r""#);
        assert_eq!(s("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
        assert_eq!(s("é\u{2028}😀/"), "\"é\u{2028}😀/\"");
    }

    #[test]
    fn integers() {
        let mut v = Vec::new();
        write_int(&mut v, -9007199254740991);
        v.push(b' ');
        write_int(&mut v, 0);
        assert_eq!(String::from_utf8(v).unwrap(), "-9007199254740991 0");
    }
}
