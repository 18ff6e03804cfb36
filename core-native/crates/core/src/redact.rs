//! What may not be stored is taken out of the unified event and the DLQ records (issue 13),
//! byte for byte as the TypeScript side does it (`contracts/src/redact.ts`, which the twin uses).
//! The raw topics keep the original bytes for replay; nothing here touches them.
//!
//! - NUL: U+0000 in a free-text value of the event becomes U+FFFD. A NUL carries no meaning in
//!   text, and PostgreSQL's `text` and `jsonb` cannot hold it: an event carrying one was refused by
//!   the database and lost. It is replaced where the unified event is made, so every store reading
//!   `payments.normalized` (rows, the lake, features) gets the same storable value.
//! - Card numbers: 13 to 19 digits whose leading digits and length are a card brand's (the IIN
//!   table [`CARD_BRANDS`], as PAN scanners read them) and that pass the Luhn check are masked
//!   digit by digit with `*`, also when split into groups by spaces, dashes,
//!   underscores or `+`, and also when the digits are written as escapes (JSON `\u0034`, percent
//!   `%34`, XML `&#52;` / `&#x34;`). Within a longer run of groups every span from a group start to
//!   a group end is tried. Identifiers are not masked (that would merge different events): an id
//!   holding a card number makes its event a DLQ record instead ([`has_card_number`]). Adyen's
//!   16-digit pspReferences start with 7, 8 or 9 (no brand's range) and are never taken for cards;
//!   nor is any other Luhn-valid digit run outside the table (about 1 random 16-digit string in 10
//!   passes Luhn alone).
//! - Signatures: values of the keys `hmacSignature`, `bt_signature` and `signature` (any case)
//!   become `[redacted]`, as JSON members and as form fields; a Braintree `bt_payload` form field
//!   is decoded (base64 XML), masked and re-encoded, so card numbers cannot hide in it.

use crate::codec;
use std::borrow::Cow;

pub const REDACTED_VALUE: &str = "[redacted]";
const MIN_PAN_DIGITS: usize = 13;
const MAX_PAN_DIGITS: usize = 19;
const SIGNATURE_KEYS: [&[u8]; 3] = [b"hmacsignature", b"bt_signature", b"signature"];

/// The lengths `from..=to` as a bit set (bit `n` for `n` digits).
const fn lengths(from: u32, to: u32) -> u32 {
    (u32::MAX >> (31 - to)) & !((1 << from) - 1)
}

/// Card brands as PAN scanners recognise them: (prefix digits, lowest prefix, highest prefix,
/// lengths). A digit run is a card number only when one row holds its leading digits and its
/// length, and it passes Luhn. Identical to `CARD_BRANDS` in `contracts/src/redact.ts`.
/// Maestro is included (its ranges hold debit cards still issued), from 13 digits: its rare
/// 12-digit numbers are left out because 12-digit runs are common in other data (phone numbers
/// with country codes 56–69, order numbers); nothing starting with 0, 1, 7, 8 or 9 is a card here
/// (Adyen's pspReferences start with 7, 8 or 9).
pub const CARD_BRANDS: [(u32, u32, u32, u32); 17] = [
    (1, 4, 4, 1 << 13 | 1 << 16 | 1 << 19), // Visa
    (2, 51, 55, 1 << 16),                   // Mastercard
    (4, 2221, 2720, 1 << 16),               // Mastercard 2-series
    (4, 2200, 2204, lengths(16, 19)),       // Mir
    (2, 34, 34, 1 << 15),                   // American Express
    (2, 37, 37, 1 << 15),                   // American Express
    (4, 6011, 6011, lengths(16, 19)),       // Discover
    (3, 644, 649, lengths(16, 19)),         // Discover
    (2, 65, 65, lengths(16, 19)),           // Discover
    (4, 3528, 3589, lengths(16, 19)),       // JCB
    (3, 300, 305, lengths(14, 19)),         // Diners Club (Carte Blanche)
    (4, 3095, 3095, lengths(14, 19)),       // Diners Club International
    (2, 36, 36, lengths(14, 19)),           // Diners Club International
    (2, 38, 39, lengths(14, 19)),           // Diners Club International
    (2, 62, 62, lengths(16, 19)),           // UnionPay
    (2, 50, 50, lengths(13, 19)),           // Maestro
    (2, 56, 69, lengths(13, 19)),           // Maestro (with the 6-series above)
];

/// True when the digits (13 to 19 of them) have a card brand's leading digits and length.
fn is_card_shape(d: &[u8]) -> bool {
    CARD_BRANDS.iter().any(|&(k, lo, hi, lens)| {
        let prefix = d[..k as usize].iter().fold(0, |p, &x| p * 10 + x as u32);
        (lo..=hi).contains(&prefix) && lens & (1 << d.len()) != 0
    })
}

fn hex_val(c: Option<&u8>) -> Option<u32> {
    match c? {
        c @ b'0'..=b'9' => Some((c - b'0') as u32),
        c @ b'a'..=b'f' => Some((c - b'a' + 10) as u32),
        c @ b'A'..=b'F' => Some((c - b'A' + 10) as u32),
        _ => None,
    }
}

fn is_sep_code(v: u32) -> bool {
    matches!(v, 32 | 45 | 95 | 43)
}

/// What the text at `i` is for the card scan: a digit (0–9), a separator, or neither; and its length.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    Digit(u8),
    Sep,
    Other,
}

fn unit_at(s: &[u8], i: usize) -> (Unit, usize) {
    let Some(&c) = s.get(i) else {
        return (Unit::Other, 1);
    };
    if c.is_ascii_digit() {
        return (Unit::Digit(c - b'0'), 1);
    }
    if is_sep_code(c as u32) {
        return (Unit::Sep, 1);
    }
    let mut code: Option<u32> = None;
    let mut len = 0;
    if c == b'%' {
        if let (Some(h), Some(l)) = (hex_val(s.get(i + 1)), hex_val(s.get(i + 2))) {
            code = Some(h * 16 + l);
            len = 3;
        }
    } else if c == b'\\' && s.get(i + 1) == Some(&b'u') {
        let mut v = 0u32;
        let mut ok = true;
        for k in 2..6 {
            match hex_val(s.get(i + k)) {
                Some(h) => v = v * 16 + h,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            code = Some(v);
            len = 6;
        }
    } else if c == b'&' && s.get(i + 1) == Some(&b'#') {
        let hex = matches!(s.get(i + 2), Some(b'x') | Some(b'X'));
        let start = i + if hex { 3 } else { 2 };
        let max_digits = if hex { 6 } else { 7 };
        let mut k = start;
        let mut v = 0u32;
        while k - start < max_digits {
            let d = if hex {
                hex_val(s.get(k))
            } else {
                match s.get(k) {
                    Some(b) if b.is_ascii_digit() => Some((b - b'0') as u32),
                    _ => None,
                }
            };
            let Some(d) = d else { break };
            v = v * if hex { 16 } else { 10 } + d;
            k += 1;
        }
        if k > start && s.get(k) == Some(&b';') {
            code = Some(v);
            len = k + 1 - i;
        }
    }
    match code {
        Some(v @ 48..=57) => (Unit::Digit((v - 48) as u8), len),
        Some(v) if is_sep_code(v) => (Unit::Sep, len),
        _ => (Unit::Other, 1),
    }
}

fn doubled(d: u8) -> i32 {
    let x = d as i32 * 2;
    if x > 9 {
        x - 9
    } else {
        x
    }
}

/// Marks the digits of every card-number window of a run: 13–19 digits from the start of a group
/// to the end of a group (groups are split by separators), with a card brand's leading digits and
/// length ([`CARD_BRANDS`]), passing the Luhn check. Returns whether one was found.
fn luhn_windows(
    digits: &[u8],
    group_start: &[bool],
    mut marks: Option<&mut [bool]>,
    one_end: bool,
) -> bool {
    let n = digits.len();
    if n < MIN_PAN_DIGITS {
        return false;
    }
    let mut plain = [vec![0i32; n + 1], vec![0i32; n + 1]];
    let mut dbl = [vec![0i32; n + 1], vec![0i32; n + 1]];
    for (k, &d) in digits.iter().enumerate() {
        for p in 0..2 {
            let here = k % 2 == p;
            plain[p][k + 1] = plain[p][k] + if here { d as i32 } else { 0 };
            dbl[p][k + 1] = dbl[p][k] + if here { doubled(d) } else { 0 };
        }
    }
    let mut found = false;
    for j in MIN_PAN_DIGITS..=n {
        let ends_group = j == n || group_start[j];
        if !ends_group && !one_end {
            continue; // a window ends where a group ends
        }
        let p = (j - 1) % 2;
        for len in MIN_PAN_DIGITS..=MAX_PAN_DIGITS.min(j) {
            let i = j - len;
            // A window starts where a group starts (one_end: or at least ends where one ends).
            if !(group_start[i] || (one_end && ends_group)) {
                continue;
            }
            // Every brand's numbers start with 2 to 6: the table is only read for those.
            if !(2..=6).contains(&digits[i]) {
                continue;
            }
            let sum = plain[p][j] - plain[p][i] + dbl[1 - p][j] - dbl[1 - p][i];
            if sum % 10 != 0 || !is_card_shape(&digits[i..j]) {
                continue;
            }
            found = true;
            match marks.as_deref_mut() {
                None => return true,
                Some(m) => m[i..j].iter_mut().for_each(|x| *x = true),
            }
        }
    }
    found
}

/// Calls `on_run(digits, group_start, positions, lengths)` for every run of digit units
/// (separators allowed between digits; a digit after a separator starts a group); `true` stops.
fn for_each_run(s: &[u8], mut on_run: impl FnMut(&[u8], &[bool], &[usize], &[usize]) -> bool) {
    let mut i = 0;
    let mut digits = Vec::new();
    let mut group_start = Vec::new();
    let mut at = Vec::new();
    let mut lens = Vec::new();
    while i < s.len() {
        let (u, len) = unit_at(s, i);
        let Unit::Digit(d) = u else {
            i += len;
            continue;
        };
        digits.clear();
        group_start.clear();
        at.clear();
        lens.clear();
        digits.push(d);
        group_start.push(true);
        at.push(i);
        lens.push(len);
        let mut next = i + len;
        loop {
            let mut k = next;
            let (mut w, mut wl) = unit_at(s, k);
            while k < s.len() && w == Unit::Sep {
                k += wl;
                (w, wl) = unit_at(s, k);
            }
            let Unit::Digit(d) = w else { break };
            if k >= s.len() {
                break;
            }
            digits.push(d);
            group_start.push(k > next);
            at.push(k);
            lens.push(wl);
            next = k + wl;
        }
        if on_run(&digits, &group_start, &at, &lens) {
            return;
        }
        i = next;
    }
}

/// `s` with every card number masked (digits replaced by `*`); borrowed when there is none.
pub fn mask_cards(s: &str) -> Cow<'_, str> {
    match mask_card_bytes(s.as_bytes(), false) {
        None => Cow::Borrowed(s),
        // Only ASCII units were replaced by ASCII, at unit boundaries: still UTF-8.
        Some(o) => Cow::Owned(String::from_utf8(o).expect("masking keeps UTF-8")),
    }
}

/// The bytes with every card number masked, or `None` when there is none. `one_end`: a 13–19
/// digit window needs only one of its ends at a group's edge (payloads, failing closed: a card
/// number glued to other digits on one side is still masked); otherwise both (events' free text
/// and identifiers). The same rules as `maskCardsInPayload` and `maskCards` in contracts.
fn mask_card_bytes(b: &[u8], one_end: bool) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    for_each_run(b, |digits, group_start, at, lens| {
        if digits.len() < MIN_PAN_DIGITS {
            return false;
        }
        let mut marks = vec![false; digits.len()];
        if !luhn_windows(digits, group_start, Some(&mut marks), one_end) {
            return false;
        }
        let o = out.get_or_insert_with(|| Vec::with_capacity(b.len()));
        for k in 0..digits.len() {
            if marks[k] {
                o.extend_from_slice(&b[copied..at[k]]);
                o.push(b'*');
                copied = at[k] + lens[k];
            }
        }
        false
    });
    let mut o = out?;
    o.extend_from_slice(&b[copied..]);
    Some(o)
}

/// True when an identifier holds a card number (the windows of [`mask_cards`]).
pub fn has_card_number(id: &str) -> bool {
    let mut found = false;
    for_each_run(id.as_bytes(), |digits, group_start, _, _| {
        if digits.len() >= MIN_PAN_DIGITS && luhn_windows(digits, group_start, None, false) {
            found = true;
        }
        found
    });
    found
}

/// A free-text value as the unified event carries it: card numbers masked, NUL as U+FFFD.
pub fn clean_text(s: &str) -> Cow<'_, str> {
    let masked = mask_cards(s);
    if masked.contains('\0') {
        Cow::Owned(masked.replace('\0', "\u{fffd}"))
    } else {
        masked
    }
}

fn ascii_lower_eq_key(decoded: &[u8], keys: &[&[u8]]) -> bool {
    keys.iter().any(|k| decoded.eq_ignore_ascii_case(k))
}

/// Lenient percent-decoding of a form key (`+` is a space, a bad escape stays as it is).
fn form_key(k: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(k.len());
    let mut i = 0;
    while i < k.len() {
        match k[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex_val(k.get(i + 1)), hex_val(k.get(i + 2))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The end (index after the closing quote) of the JSON string token at `i` (a `"`).
fn string_end(s: &[u8], i: usize) -> Option<usize> {
    let mut k = i + 1;
    while k < s.len() {
        match s[k] {
            b'\\' => k += 1,
            b'"' => return Some(k + 1),
            _ => {}
        }
        k += 1;
    }
    None
}

/// The decoded value of a JSON string token as code points (escapes resolved; invalid ones kept
/// as written), for comparison with ASCII key names.
fn token_key(tok: &[u8]) -> Vec<u32> {
    let inner = &tok[1..tok.len() - 1];
    let text = String::from_utf8_lossy(inner);
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut out = Vec::with_capacity(units.len());
    let mut k = 0;
    let hex16 = |u: Option<&u16>| {
        u.and_then(|&c| {
            if c < 128 {
                hex_val(Some(&(c as u8)))
            } else {
                None
            }
        })
    };
    while k < units.len() {
        let c = units[k];
        if c != b'\\' as u16 {
            out.push(c as u32);
            k += 1;
            continue;
        }
        let e = units.get(k + 1).copied();
        if e == Some(b'u' as u16) {
            let mut v = 0u32;
            let mut ok = true;
            for m in 2..6 {
                match hex16(units.get(k + m)) {
                    Some(h) => v = v * 16 + h,
                    None => ok = false,
                }
            }
            if ok {
                out.push(v);
                k += 6;
                continue;
            }
        }
        if let Some(e) = e {
            out.push(e as u32);
        }
        k += 2;
    }
    out
}

fn is_json_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_signature_token(tok: &[u8]) -> bool {
    let key = token_key(tok);
    if key.iter().any(|&c| c >= 128) {
        return false;
    }
    let bytes: Vec<u8> = key.iter().map(|&c| c as u8).collect();
    ascii_lower_eq_key(&bytes, &SIGNATURE_KEYS)
}

/// JSON members `"<signature key>": "<value>"`: the value's characters become `[redacted]`.
fn redact_json_signatures(s: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = s.iter().position(|&c| c == b'"');
    while let Some(start) = i {
        let Some(end) = string_end(s, start) else {
            break;
        };
        let mut next = end;
        if is_signature_token(&s[start..end]) {
            let mut k = end;
            while k < s.len() && is_json_ws(s[k]) {
                k += 1;
            }
            if s.get(k) == Some(&b':') {
                k += 1;
                while k < s.len() && is_json_ws(s[k]) {
                    k += 1;
                }
                if s.get(k) == Some(&b'"') {
                    if let Some(v_end) = string_end(s, k) {
                        let o = out.get_or_insert_with(|| Vec::with_capacity(s.len()));
                        o.extend_from_slice(&s[copied..k + 1]);
                        o.extend_from_slice(REDACTED_VALUE.as_bytes());
                        copied = v_end - 1;
                        next = v_end;
                    }
                }
            }
        }
        i = s[next..].iter().position(|&c| c == b'"').map(|p| next + p);
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.extend_from_slice(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

fn find(s: &[u8], pat: &[u8], from: usize) -> Option<usize> {
    if from > s.len() {
        return None;
    }
    s[from..]
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| from + p)
}

const ESC_QUOTE: &[u8] = b"\\\"";

/// The same as [`redact_json_signatures`] one level down: JSON held in a JSON string (a DLQ
/// record's `original_payload`, a metadata value), where members read `\"hmacSignature\":\"…\"`.
/// Keys are compared as written (ASCII case-insensitive).
fn redact_nested_json_signatures(s: &[u8]) -> Cow<'_, [u8]> {
    let Some(mut i) = find(s, ESC_QUOTE, 0) else {
        return Cow::Borrowed(s);
    };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    while let Some(close) = find(s, ESC_QUOTE, i + 2) {
        let mut next = close + 2;
        if close - i - 2 <= 13 && ascii_lower_eq_key(&s[i + 2..close], &SIGNATURE_KEYS) {
            let mut k = next;
            while s.get(k) == Some(&b' ') {
                k += 1;
            }
            if s.get(k) == Some(&b':') {
                k += 1;
                while s.get(k) == Some(&b' ') {
                    k += 1;
                }
                if s[k.min(s.len())..].starts_with(ESC_QUOTE) {
                    if let Some(v_close) = find(s, ESC_QUOTE, k + 2) {
                        let o = out.get_or_insert_with(|| Vec::with_capacity(s.len()));
                        o.extend_from_slice(&s[copied..k + 2]);
                        o.extend_from_slice(REDACTED_VALUE.as_bytes());
                        copied = v_close;
                        next = v_close + 2;
                    }
                }
            }
        }
        match find(s, ESC_QUOTE, next) {
            Some(n) => i = n,
            None => break,
        }
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.extend_from_slice(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

/// `encodeURIComponent` of base64 text.
fn percent_encode_base64(b64: &[u8], out: &mut Vec<u8>) {
    for &c in b64 {
        match c {
            b'+' => out.extend_from_slice(b"%2B"),
            b'/' => out.extend_from_slice(b"%2F"),
            b'=' => out.extend_from_slice(b"%3D"),
            c => out.push(c),
        }
    }
}

/// The bytes of a damaged base64 value's alphabet characters from `from` on, whole quads only.
fn base64_quads(kept: &[u8], from: usize) -> Vec<u8> {
    let s = &kept[from.min(kept.len())..];
    codec::base64_decode(&s[..s.len() - s.len() % 4]).unwrap_or_default()
}

/// A bt_payload value with the card numbers of its notification masked and re-encoded; `None`
/// when there is none. The bytes are scanned as they are (masking only touches ASCII). A payload
/// that is not strictly percent- and base64-encoded (a refused request's) is read leniently at
/// each of the four base64 alignments (damage can shift it): when one of them shows a card number,
/// the whole value becomes `[redacted]`.
fn redact_bt_payload(value: &[u8]) -> Option<Vec<u8>> {
    let Some(bytes) = codec::form_component(value).and_then(|d| codec::base64_decode(&d)) else {
        let kept: Vec<u8> = form_key(value)
            .into_iter()
            .filter(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
            .collect();
        return (0..4)
            .any(|from| mask_card_bytes(&base64_quads(&kept, from), false).is_some())
            .then(|| REDACTED_VALUE.as_bytes().to_vec());
    };
    let masked = mask_card_bytes(&bytes, false)?;
    let mut b64 = Vec::new();
    codec::base64_encode_into(&masked, &mut b64);
    let mut out = Vec::with_capacity(b64.len() + 16);
    percent_encode_base64(&b64, &mut out);
    Some(out)
}

/// Form fields `<signature key>=<value>`: the value becomes `[redacted]`; `bt_payload` values are
/// redacted inside.
fn redact_form_fields(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'=') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut changed = false;
    for (n, part) in s.split(|&c| c == b'&').enumerate() {
        if n > 0 {
            out.push(b'&');
        }
        let Some(eq) = part.iter().position(|&c| c == b'=') else {
            out.extend_from_slice(part);
            continue;
        };
        let key = form_key(&part[..eq]);
        if ascii_lower_eq_key(&key, &SIGNATURE_KEYS) {
            out.extend_from_slice(&part[..eq + 1]);
            out.extend_from_slice(REDACTED_VALUE.as_bytes());
            changed = true;
        } else if key.eq_ignore_ascii_case(b"bt_payload") {
            match redact_bt_payload(&part[eq + 1..]) {
                Some(v) => {
                    out.extend_from_slice(&part[..eq + 1]);
                    out.extend_from_slice(&v);
                    changed = true;
                }
                None => out.extend_from_slice(part),
            }
        } else {
            out.extend_from_slice(part);
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

fn is_loose_skip(c: u8) -> bool {
    matches!(
        c,
        b' ' | b'"' | b'\'' | b'\\' | b':' | b'=' | b'\t' | b'\r' | b'\n'
    )
}

fn is_sig_value_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'|' | b'%' | b'_' | b'.' | b'-')
}

/// The last word on signatures, for text no parser can read (damaged JSON, quotes out of place):
/// after any spelling of `signature` (which ends each key name), up to 8 quote, colon, equals,
/// backslash or blank characters, a run of 16 or more base64, hex or `key|hex` characters becomes
/// `[redacted]`.
fn redact_loose_signatures(s: &[u8]) -> Cow<'_, [u8]> {
    const WORD: &[u8] = b"signature";
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut i = 0;
    while i + WORD.len() <= s.len() {
        if !s[i..i + WORD.len()].eq_ignore_ascii_case(WORD) {
            i += 1;
            continue;
        }
        let mut j = i + WORD.len();
        while j < s.len() && j - (i + WORD.len()) < 8 && is_loose_skip(s[j]) {
            j += 1;
        }
        let mut k = j;
        while k < s.len() && is_sig_value_char(s[k]) {
            k += 1;
        }
        if k - j >= 16 {
            let o = out.get_or_insert_with(|| Vec::with_capacity(s.len()));
            o.extend_from_slice(&s[copied..j]);
            o.extend_from_slice(REDACTED_VALUE.as_bytes());
            copied = k;
            i = k;
        } else {
            i += WORD.len();
        }
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.extend_from_slice(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

fn is_b64_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
}

/// Base64 characters of a 32-byte digest before its one `=`.
const B64_SHA256_LEN: usize = 43;

/// Fail-closed signature redaction by the value's shape, whatever key (or no key) it sits under:
/// a key name damaged by one byte (`hmacSinature`, `bt_signatrue`) hides a signature from every
/// key-based pass (issue 13). Becomes `[redacted]`: a base64 SHA-256 digest (Adyen's
/// `hmacSignature`: exactly 43 base64 characters and one `=`, no base64 character or `=` on either
/// side); a hex SHA-1 or SHA-256 digest after a `|` (as is or `%7C`: Braintree's `public_key|hex`
/// pairs; exactly 40 or 64 hex digits with no letter or digit after them).
fn redact_digest_shapes(s: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let n = s.len();
    let mut i = 0;
    while i < n {
        let c = s[i];
        let pipe = c == b'|'
            || (c == b'%'
                && s.get(i + 1) == Some(&b'7')
                && s.get(i + 2).map(|b| b | 32) == Some(b'c'));
        if pipe {
            let from = if c == b'|' { i + 1 } else { i + 3 };
            let mut k = from;
            while k < n && s[k].is_ascii_hexdigit() {
                k += 1;
            }
            let bounded = k >= n || !s[k].is_ascii_alphanumeric();
            if (k - from == 40 || k - from == 64) && bounded {
                let o = out.get_or_insert_with(|| Vec::with_capacity(n));
                o.extend_from_slice(&s[copied..from]);
                o.extend_from_slice(REDACTED_VALUE.as_bytes());
                copied = k;
                i = k;
            } else {
                i = from;
            }
            continue;
        }
        if !is_b64_char(c) {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && is_b64_char(s[i]) {
            i += 1;
        }
        let b64_end = i;
        while i < n && s[i] == b'=' {
            i += 1;
        }
        let before_ok = start == 0 || !(is_b64_char(s[start - 1]) || s[start - 1] == b'=');
        if b64_end - start == B64_SHA256_LEN && i - b64_end == 1 && before_ok {
            let o = out.get_or_insert_with(|| Vec::with_capacity(n));
            o.extend_from_slice(&s[copied..start]);
            o.extend_from_slice(REDACTED_VALUE.as_bytes());
            copied = i;
        }
    }
    match out {
        None => Cow::Borrowed(s),
        Some(mut o) => {
            o.extend_from_slice(&s[copied..]);
            Cow::Owned(o)
        }
    }
}

/// A raw payload's text with signatures and card numbers taken out (JSON, form and XML alike).
/// Works on bytes so that Latin-1-read binary goes through the same rules.
fn redact_bytes(s: &[u8]) -> Vec<u8> {
    let a = redact_json_signatures(s);
    let nested = redact_nested_json_signatures(&a);
    let f = redact_form_fields(&nested);
    let l = redact_loose_signatures(&f);
    let b = redact_digest_shapes(&l);
    // Bytes that are not UTF-8 are read one character per byte (Latin-1), as the TypeScript side
    // does: the scan only looks at ASCII, so it runs on the bytes directly.
    mask_card_bytes(&b, true).unwrap_or_else(|| b.into_owned())
}

/// A raw message as a DLQ record carries it: UTF-8 text redacted (`false`: not base64), or, for
/// bytes that are not UTF-8, the bytes redacted one per character (Latin-1) and base64-encoded.
pub fn redact_payload(raw: &[u8]) -> (String, bool) {
    match std::str::from_utf8(raw) {
        Ok(_) => {
            let out = redact_bytes(raw);
            (
                String::from_utf8(out).expect("redaction keeps UTF-8"),
                false,
            )
        }
        Err(_) => {
            let out = redact_bytes(raw);
            let mut b64 = Vec::new();
            codec::base64_encode_into(&out, &mut b64);
            (String::from_utf8(b64).expect("base64 is ASCII"), true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_becomes_the_replacement_character() {
        assert_eq!(clean_text("a\0b\0"), "a\u{fffd}b\u{fffd}");
        assert!(matches!(clean_text("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn card_numbers_are_masked_in_every_spelling() {
        for (input, want) in [
            ("card 4111111111111111 end", "card **************** end"),
            ("4111 1111 1111 1111", "**** **** **** ****"),
            ("4111-1111-1111-1111", "****-****-****-****"),
            ("4111_1111_1111_1111", "****_****_****_****"),
            ("x\\u0034\\u0031\\u00311111111111111", "x****************"),
            ("%34%31%311111111111111", "****************"),
            ("&#52;&#x31;11111111111111", "****************"),
            ("378282246310005", "***************"),
            ("2024-01-15T12:00:00Z", "2024-01-15T12:00:00Z"),
            ("+1 415-555-0100", "+1 415-555-0100"),
            ("ref 12 4111 1111 1111 1111", "ref 12 **** **** **** ****"),
            // Not a card: an Adyen pspReference (starts with 7) and a Luhn-valid run inside digits.
            ("7914073381342284", "7914073381342284"),
            ("94111111111111111", "94111111111111111"),
        ] {
            assert_eq!(mask_cards(input), want, "{input}");
        }
    }

    #[test]
    fn identifiers_with_a_card_number() {
        assert!(has_card_number("4111111111111111"));
        assert!(has_card_number("cus_4111111111111111"));
        // Adyen pspReferences are 16 digits starting 8 or 9: never taken for a card.
        assert!(!has_card_number("8535296650153317"));
        assert!(!has_card_number("9914739163310051"));
        assert!(!has_card_number("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
    }

    /// `n` digits starting with `prefix`, made Luhn-valid by the last digit.
    fn luhn_valid(prefix: &str, n: usize) -> String {
        let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
        d.resize(n - 1, 7);
        let sum: i32 = d
            .iter()
            .rev()
            .enumerate()
            .map(|(k, &x)| if k % 2 == 0 { doubled(x) } else { x as i32 })
            .sum();
        d.push(((10 - sum % 10) % 10) as u8);
        d.iter().map(|x| (x + b'0') as char).collect()
    }

    #[test]
    fn only_a_brand_s_leading_digits_and_length_make_a_card() {
        let cards = [
            ("4", 13),
            ("4", 16),
            ("4", 19),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("2720", 16),
            ("2200", 17),
            ("34", 15),
            ("37", 15),
            ("6011", 19),
            ("644", 16),
            ("65", 17),
            ("3528", 16),
            ("3589", 19),
            ("300", 14),
            ("305", 14),
            ("3095", 14),
            ("36", 14),
            ("38", 15),
            ("39", 19),
            ("62", 18),
            ("50", 13),
            ("56", 13),
            ("69", 19),
        ];
        for (prefix, n) in cards {
            let pan = luhn_valid(prefix, n);
            assert!(has_card_number(&pan), "{pan} is a card");
            assert_eq!(mask_cards(&pan), "*".repeat(n), "{pan}");
        }
        // Luhn-valid, but no brand has these leading digits at this length.
        let not_cards = [
            ("8", 16),
            ("9", 16),
            ("7", 16),
            ("1", 16),
            ("0", 16),
            ("4", 14),
            ("4", 15),
            ("4", 17),
            ("4", 18),
            ("51", 15),
            ("55", 17),
            ("2220", 16),
            ("2721", 16),
            ("2205", 16),
            ("21", 16),
            ("34", 16),
            ("37", 14),
            ("3527", 16),
            ("3590", 16),
            ("306", 14),
            ("31", 16),
            ("33", 16),
            ("36", 13),
            ("3500", 16),
            ("3095", 13),
        ];
        for (prefix, n) in not_cards {
            let id = luhn_valid(prefix, n);
            assert!(!has_card_number(&id), "{id} is not a card");
            assert_eq!(mask_cards(&id), id);
        }
    }

    #[test]
    fn payloads_mask_a_card_number_glued_to_other_digits() {
        for (input, want) in [
            (
                r#""reason":"Refused51051051051051000,"#,
                r#""reason":"Refused****************0,"#,
            ),
            (
                r#""order":"o1","51051051051051006:"k""#,
                r#""order":"o1","****************6:"k""#,
            ),
            ("ref 994111111111111111", "ref 99****************"),
        ] {
            assert_eq!(redact_payload(input.as_bytes()).0, want, "{input}");
            // events' free text keeps the group rule: the 17-digit run is no card's length
            assert_eq!(mask_cards(input), input);
        }
        assert_eq!(
            redact_payload(b"99410000000000000061").0,
            "99410000000000000061"
        );
        for s in [
            "9181716151413121110",
            "psp 8817101071087190",
            "order 412345678901",
        ] {
            assert_eq!(redact_payload(s.as_bytes()).0, s, "{s}");
        }
    }

    #[test]
    fn brand_lengths_are_bit_sets() {
        assert_eq!(lengths(16, 19), 1 << 16 | 1 << 17 | 1 << 18 | 1 << 19);
        assert_eq!(lengths(13, 13), 1 << 13);
    }

    #[test]
    fn signatures_and_braintree_payloads() {
        let (t, b64) = redact_payload(
            br#"{"additionalData":{"hmacSignature":"abc+/=="},"x":"4242424242424242"}"#,
        );
        assert!(!b64);
        assert_eq!(
            t,
            r#"{"additionalData":{"hmacSignature":"[redacted]"},"x":"****************"}"#
        );
        let (t, _) = redact_payload(
            br#"{"x":"&bt_signature=test_public_key%7Cabc&bt_payload=QQ%3D%3D&","bt_payload":"zz"}"#,
        );
        assert_eq!(
            t,
            r#"{"x":"&bt_signature=[redacted]&bt_payload=QQ%3D%3D&","bt_payload":"zz"}"#
        );
        let (t, _) = redact_payload(br#"{"original_payload":"{\"hmacSignature\" : \"abc\"}"}"#);
        assert_eq!(
            t,
            r#"{"original_payload":"{\"hmacSignature\" : \"[redacted]\"}"}"#
        );
        let (t, b64) = redact_payload(b"\xff4111111111111111");
        assert!(b64);
        assert_eq!(t, "/yoqKioqKioqKioqKioqKio=");
    }
    #[test]
    fn signatures_in_text_no_parser_reads() {
        for (input, want) in [
            (
                r#"{"additionalData":{"hmacSignature": coqCmt/IZ4E3C+zPabcdef== ,"x":1}"#,
                r#"{"additionalData":{"hmacSignature": [redacted] ,"x":1}"#,
            ),
            (
                r#"{"hmacSignature""coqCmt/IZ4E3C+zPabcdef==""#,
                r#"{"hmacSignature""[redacted]""#,
            ),
            (
                "x-signature:  pk|0a1b2c3d4e5f60718293 end",
                "x-signature:  [redacted] end",
            ),
            (
                "signature: ok, signature=short",
                "signature: ok, signature=short",
            ),
        ] {
            assert_eq!(redact_payload(input.as_bytes()).0, want, "{input}");
        }
    }

    #[test]
    fn signature_digests_under_damaged_key_names() {
        let sig = "coqCmt/IZ4E3C+zPVKbMwQ9dGx9Mqj7Y2PyDKmYlnWw=";
        let hex = "0123456789abcdef0123456789abcdef01234567";
        for (input, want) in [
            (
                format!(r#"{{"additionalData":{{"hmacSinature":"{sig}"}}}}"#),
                r#"{"additionalData":{"hmacSinature":"[redacted]"}}"#.to_string(),
            ),
            (
                format!(r#"{{"p":"{{\"hmacSignatu\u0000e\":\"{sig}\"}}"}}"#),
                r#"{"p":"{\"hmacSignatu\u0000e\":\"[redacted]\"}"}"#.to_string(),
            ),
            (
                format!("bt_signatrue=pk%7C{hex}&bt_payload=QQ%3D%3D"),
                "bt_signatrue=pk%7C[redacted]&bt_payload=QQ%3D%3D".to_string(),
            ),
            (format!("x pk|{hex} y"), "x pk|[redacted] y".to_string()),
            // Not a digest's shape: longer runs, two `=`, 39 hex digits, hex followed by a letter.
            (format!("a{sig}"), format!("a{sig}")),
            (format!("{sig}="), format!("{sig}=")),
            (
                "pk|0123456789abcdef0123456789abcdef0123456".to_string(),
                "pk|0123456789abcdef0123456789abcdef0123456".to_string(),
            ),
            (format!("pk|{hex}g"), format!("pk|{hex}g")),
        ] {
            assert_eq!(redact_payload(input.as_bytes()).0, want, "{input}");
        }
    }

    #[test]
    fn damaged_braintree_payloads_with_a_card_are_redacted_whole() {
        let b64 =
            "PG5vdGlmaWNhdGlvbj48bm90ZT40MTExIDExMTEgMTExMSAxMTExPC9ub3RlPjwvbm90aWZpY2F0aW9uPg==";
        for cut in 8..12 {
            let damaged = format!(
                "bt_signature=pk%7Cdeadbeef&bt_payload={}%ZZ!{}",
                &b64[..cut],
                &b64[cut..]
            );
            assert_eq!(
                redact_payload(damaged.as_bytes()).0,
                "bt_signature=[redacted]&bt_payload=[redacted]",
                "cut at {cut}"
            );
        }
        // Nothing to hide: kept as it is (`<n>no card</n>` after the damage).
        let clean = "bt_payload=PG5vdGlmaW%ZZPG4+bm8gY2FyZDwvbj4=";
        assert_eq!(redact_payload(clean.as_bytes()).0, clean);
        // Not UTF-8 inside (`<n>\xe9 4111111111111111</n>`): masked byte for byte.
        let (t, _) = redact_payload(b"bt_payload=PG4%2B6SA0MTExMTExMTExMTExMTExPC9uPg%3D%3D");
        assert_eq!(t, "bt_payload=PG4%2B6SAqKioqKioqKioqKioqKioqPC9uPg%3D%3D");
    }
}
