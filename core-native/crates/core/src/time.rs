//! Timestamp parsing and formatting without a date library (and identical to `src/time.ts`).
//!
//! Accepted input: RFC 3339 `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` (`T`/`Z` in either case,
//! 1 to 9 fraction digits, truncated to milliseconds; no leap second 60), or Unix seconds as an
//! integer. Years 0001..9999 only. Output: `Date.prototype.toISOString` form with milliseconds.

/// Milliseconds of 9999-12-31T23:59:59.999Z: the largest instant we format.
pub const MAX_MS: i64 = 253_402_300_799_999;
/// 0001-01-01T00:00:00.000Z.
pub const MIN_MS: i64 = -62_135_596_800_000;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    // Howard Hinnant's algorithm: exact for the proleptic Gregorian calendar.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    Some(v)
}

/// Parses an RFC 3339 timestamp into Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > 40 {
        return None;
    }
    let y = digits(b, 0, 4)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let mo = digits(b, 5, 2)?;
    let d = digits(b, 8, 2)?;
    let h = digits(b, 11, 2)?;
    let mi = digits(b, 14, 2)?;
    let se = digits(b, 17, 2)?;
    if y < 1
        || !(1..=12).contains(&mo)
        || d < 1
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || se > 59
    {
        return None;
    }
    let mut i = 19;
    let mut frac_ms = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n = i - start;
        if n == 0 || n > 9 {
            return None;
        }
        for k in 0..3 {
            frac_ms = frac_ms * 10
                + if k < n {
                    (b[start + k] - b'0') as i64
                } else {
                    0
                };
        }
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = oh * 60 + om;
            if *c == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let ms = (((days * 24 + h) * 60 + mi - offset_min) * 60 + se) * 1000 + frac_ms;
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return None;
    }
    Some(ms)
}

/// Unix seconds (a JSON number) into milliseconds; must be an integer within the formattable range.
pub fn unix_seconds_to_ms(secs: f64) -> Option<i64> {
    if secs.fract() != 0.0 || secs < (MIN_MS / 1000) as f64 || secs > (MAX_MS / 1000) as f64 {
        return None;
    }
    Some(secs as i64 * 1000)
}

/// Appends `YYYY-MM-DDTHH:MM:SS.sssZ`; `ms` must be within [MIN_MS, MAX_MS].
pub fn push_iso(out: &mut Vec<u8>, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    fn put(out: &mut Vec<u8>, v: i64, n: usize) {
        let mut buf = [b'0'; 4];
        let mut v = v;
        for k in (0..n).rev() {
            buf[k] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.extend_from_slice(&buf[..n]);
    }
    put(out, y, 4);
    out.push(b'-');
    put(out, m, 2);
    out.push(b'-');
    put(out, d, 2);
    out.push(b'T');
    put(out, rem / 3_600_000, 2);
    out.push(b':');
    put(out, rem / 60_000 % 60, 2);
    out.push(b':');
    put(out, rem / 1000 % 60, 2);
    out.push(b'.');
    put(out, rem % 1000, 3);
    out.push(b'Z');
}

pub fn iso(ms: i64) -> String {
    let mut v = Vec::with_capacity(24);
    push_iso(&mut v, ms);
    String::from_utf8(v).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_to_iso_string() {
        assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso(1_700_000_000_000), "2023-11-14T22:13:20.000Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(iso(MAX_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso(MIN_MS), "0001-01-01T00:00:00.000Z");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2024-01-15T12:00:00Z"),
            Some(1_705_320_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-15T13:00:00+01:00"),
            Some(1_705_320_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-01-15t12:00:00.1239z"),
            Some(1_705_320_000_123)
        );
        assert_eq!(
            parse_rfc3339("2020-11-22T21:16:51.086Z"),
            Some(1_606_079_811_086)
        );
        for bad in [
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-15T24:00:00Z",
            "2024-01-15T12:00:60Z",
            "2024-01-15 12:00:00Z",
            "2024-01-15T12:00:00",
            "2024-01-15T12:00:00.Z",
            "2024-01-15T12:00:00.1234567890Z",
            "2024-01-15T12:00:00+0100",
            "not a date",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00+00:01",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(unix_seconds_to_ms(1_700_000_000.0), Some(1_700_000_000_000));
        assert_eq!(unix_seconds_to_ms(1.5), None);
        assert_eq!(unix_seconds_to_ms(1e13), None);
    }
}
