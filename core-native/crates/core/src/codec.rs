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

/// Why a body is not a Braintree webhook form. The edge and the transformer both parse with
/// [`braintree_form`] (the edge through the TypeScript twin in `src/codec.ts`), so the bytes
/// the edge verified are the only bytes the transformer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BtFormError {
    /// A `%` escape that is not two hex digits.
    Malformed,
    /// A field other than `bt_signature` and `bt_payload`.
    UnknownField,
    /// `bt_signature` or `bt_payload` given twice.
    DuplicateField,
    MissingSignature,
    MissingPayload,
    /// `bt_signature` holds bytes outside printable ASCII.
    SignatureChars,
    /// `bt_payload` holds bytes outside base64 (`A-Z a-z 0-9 + / =`) and line feeds.
    PayloadChars,
}

impl BtFormError {
    /// The field the error is about (validation DLQ records name it).
    pub fn field(self) -> &'static str {
        match self {
            Self::MissingSignature | Self::SignatureChars => "bt_signature",
            Self::MissingPayload | Self::PayloadChars => "bt_payload",
            Self::Malformed | Self::UnknownField | Self::DuplicateField => "payload",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Self::Malformed => "body is not a urlencoded form (bad % escape)",
            Self::UnknownField => "a Braintree webhook form holds only bt_signature and bt_payload",
            Self::DuplicateField => "bt_signature and bt_payload must each appear once",
            Self::MissingSignature => "bt_signature is required",
            Self::MissingPayload => "bt_payload is required",
            Self::SignatureChars => "bt_signature must be printable ASCII",
            Self::PayloadChars => "bt_payload must be base64 (A-Z a-z 0-9 + / =, line feeds)",
        }
    }
}

/// The two fields of a Braintree webhook, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtForm {
    pub signature: Vec<u8>,
    pub payload: Vec<u8>,
}

/// Parses a Braintree webhook body (CONTRACT section 4): an `application/x-www-form-urlencoded`
/// form of exactly the fields `bt_signature` and `bt_payload`, each once and non-empty. Pairs are
/// split on `&` (empty pairs skipped), names and values percent-decoded strictly (`+` is a
/// space). A Braintree webhook is a form, never JSON: a body that is anything else, or that
/// carries other fields next to a signed pair, is refused, so no second reading of the same bytes
/// can find a different payload.
pub fn braintree_form(body: &[u8]) -> Result<BtForm, BtFormError> {
    let mut signature: Option<Vec<u8>> = None;
    let mut payload: Option<Vec<u8>> = None;
    for pair in body.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let k = form_component(k).ok_or(BtFormError::Malformed)?;
        let v = form_component(v).ok_or(BtFormError::Malformed)?;
        let slot = match k.as_slice() {
            b"bt_signature" => &mut signature,
            b"bt_payload" => &mut payload,
            _ => return Err(BtFormError::UnknownField),
        };
        if slot.is_some() {
            return Err(BtFormError::DuplicateField);
        }
        *slot = Some(v);
    }
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or(BtFormError::MissingSignature)?;
    let payload = payload
        .filter(|p| !p.is_empty())
        .ok_or(BtFormError::MissingPayload)?;
    if !signature.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(BtFormError::SignatureChars);
    }
    if !payload
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\n'))
    {
        return Err(BtFormError::PayloadChars);
    }
    Ok(BtForm { signature, payload })
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
    fn braintree_forms() {
        let f = braintree_form(b"bt_signature=a%7Cb&&bt_payload=PG5v%2BdA%3D%3D%0A").unwrap();
        assert_eq!(f.signature, b"a|b");
        assert_eq!(f.payload, b"PG5v+dA==\n");
        assert_eq!(
            braintree_form(b"%62t_payload=QQ%3D%3D&bt_signature=k%7C0").map(|f| f.payload),
            Ok(b"QQ==".to_vec())
        );
        let err = |b: &[u8]| braintree_form(b).unwrap_err();
        // The forged-payment shape: a JSON body whose form reading holds a signed pair.
        assert_eq!(
            err(br#"{"x":"&bt_signature=k|0&bt_payload=QQ==&","bt_payload":"Zm9v"}"#),
            BtFormError::UnknownField
        );
        assert_eq!(
            err(b"bt_signature=a&bt_payload=QQ&bt_payload=Zg"),
            BtFormError::DuplicateField
        );
        assert_eq!(
            err(b"bt_signature=a&bt_signature=a&bt_payload=QQ"),
            BtFormError::DuplicateField
        );
        assert_eq!(
            err(b"bt_signature=a&bt_payload=%zz"),
            BtFormError::Malformed
        );
        assert_eq!(err(b"bt_payload=QQ"), BtFormError::MissingSignature);
        assert_eq!(
            err(b"bt_signature=a&bt_payload="),
            BtFormError::MissingPayload
        );
        assert_eq!(
            err(b"bt_signature=a&bt_payload=PG5v+dA"),
            BtFormError::PayloadChars
        );
        assert_eq!(
            err(b"bt_signature=a%00&bt_payload=QQ"),
            BtFormError::SignatureChars
        );
        assert_eq!(
            err(b"BT_PAYLOAD=QQ&bt_signature=a"),
            BtFormError::UnknownField
        );
        assert_eq!(err(b""), BtFormError::MissingSignature);
    }
}
