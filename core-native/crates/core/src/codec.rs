//! Byte codecs used by the Braintree path and the DLQ: base64 (standard alphabet) and
//! `application/x-www-form-urlencoded` decoding. Mirrored in `src/codec.ts`.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with `=` padding (what `Buffer.toString('base64')` writes).
pub fn base64_encode_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63]);
        out.push(B64[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63]
        } else {
            b'='
        });
    }
}

fn b64_value(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes standard base64. Line breaks (`\r`, `\n`) are skipped, as the Braintree SDKs wrap their
/// payloads; padding is optional but, when present, must be complete and final. Anything else fails.
pub fn base64_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut n = 0u32;
    let mut pad = 0usize;
    for &c in input {
        if c == b'\n' || c == b'\r' {
            continue;
        }
        if c == b'=' {
            pad += 1;
            continue;
        }
        if pad > 0 {
            return None;
        }
        acc = acc << 6 | b64_value(c)?;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 if pad == 0 => {}
        2 if pad == 0 || pad == 2 => {
            if acc & 0xf != 0 {
                return None;
            }
            out.push((acc >> 4) as u8);
        }
        3 if pad == 0 || pad == 1 => {
            if acc & 0x3 != 0 {
                return None;
            }
            out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]);
        }
        _ => return None,
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one form component (`+` is a space). A malformed escape fails.
pub fn form_component(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = hex_value(*s.get(i + 1)?)?;
                let l = hex_value(*s.get(i + 2)?)?;
                out.push(h << 4 | l);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    Some(out)
}

/// Finds the single value of `name` in a form body. `Err(())` when the body is malformed or the
/// field repeats; `Ok(None)` when it is absent.
#[allow(clippy::result_unit_err)]
pub fn form_field(body: &[u8], name: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    let mut found = None;
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = form_component(k).ok_or(())?;
        if k == name {
            if found.is_some() {
                return Err(());
            }
            found = Some(form_component(v).ok_or(())?);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut enc = Vec::new();
            base64_encode_into(&data, &mut enc);
            assert_eq!(base64_decode(&enc).unwrap(), data);
        }
        assert_eq!(base64_decode(b"aGk").unwrap(), b"hi");
        assert_eq!(base64_decode(b"aG\nk=\n").unwrap(), b"hi");
        assert!(base64_decode(b"aGk==").is_none());
        assert!(base64_decode(b"a=Gk").is_none());
        assert!(
            base64_decode(b"aGl").is_none(),
            "non-canonical trailing bits"
        );
        assert!(base64_decode(b"a").is_none());
        assert!(base64_decode(b"a b=").is_none());
    }

    #[test]
    fn form_fields() {
        let body = b"bt_signature=a%7Cb&bt_payload=PG5v+dA%3D%3D";
        assert_eq!(
            form_field(body, b"bt_payload").unwrap().unwrap(),
            b"PG5v dA=="
        );
        assert_eq!(form_field(body, b"x").unwrap(), None);
        assert!(form_field(b"a=1&a=2", b"a").is_err());
        assert!(form_field(b"a=%zz", b"a").is_err());
    }
}
