//! Field rules shared by the four providers: typed reads with error collection, null tokens, ids,
//! amounts, currencies, card data and the vocabulary maps. `src/rules.ts` mirrors every function
//! here; keep them in the same order when editing.

// `Read<T>` errors carry no data on purpose: the error itself has already been recorded in `Errs`.
#![allow(clippy::result_unit_err)]

use crate::currency::{self, AmountBounds};
use crate::json::Value;
use crate::model::{code, FieldError};
use std::borrow::Cow;

/// Strings treated as null (exact match, no trimming): reference section 2.2.
pub const NULL_TOKENS: &[&str] = &["", "null", "NULL", "Null", "none", "None", "NONE"];

pub const MAX_ID_BYTES: usize = 255;
pub const MAX_CODE_BYTES: usize = 255;
pub const MAX_TEXT_BYTES: usize = 2048;
pub const MAX_TOKEN_CHARS: usize = 64;
pub const MAX_METADATA_ENTRIES: usize = 64;
pub const MAX_METADATA_KEY_BYTES: usize = 256;

pub fn is_null_token(s: &str) -> bool {
    NULL_TOKENS.contains(&s)
}

/// Errors collected while normalizing one event, in the order the checks run.
#[derive(Default, Debug)]
pub struct Errs {
    pub list: Vec<FieldError>,
}

impl Errs {
    pub fn push(&mut self, field: &str, code: &'static str, message: &str) {
        self.list.push(FieldError::new(field, code, message));
    }
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Result of reading an optional field: `Err(())` means an error was recorded.
pub type Read<T> = Result<Option<T>, ()>;

/// A string field; absent or JSON null is `None`; any other type is an error.
pub fn opt_string<'v>(v: Option<&'v Value>, field: &str, e: &mut Errs) -> Read<&'v str> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        Some(_) => {
            e.push(field, code::INVALID_FIELD_TYPE, "must be a string");
            Err(())
        }
    }
}

/// A free-text field: null tokens become `None`; bounded length (UTF-8 bytes).
pub fn opt_text<'v>(v: Option<&'v Value>, field: &str, max: usize, e: &mut Errs) -> Read<&'v str> {
    match opt_string(v, field, e)? {
        Some(s) if is_null_token(s) => Ok(None),
        Some(s) if s.len() > max => {
            e.push(
                field,
                code::FIELD_TOO_LONG,
                &format!("must be at most {max} bytes"),
            );
            Err(())
        }
        other => Ok(other),
    }
}

/// Ids are keys (Kafka, Redis, workflow ids): 1..=255 bytes of printable ASCII without `"` or `\`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_BYTES
        && s.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// An optional id (customer, merchant): null tokens are `None`.
pub fn opt_id<'v>(v: Option<&'v Value>, field: &str, e: &mut Errs) -> Read<&'v str> {
    match opt_text(v, field, MAX_TEXT_BYTES, e)? {
        Some(s) if !valid_id(s) => {
            e.push(
                field,
                code::INVALID_FIELD_VALUE,
                "must be 1 to 255 printable ASCII characters without quotes or backslashes",
            );
            Err(())
        }
        other => Ok(other),
    }
}

/// A required id: absent or a null token records `missing_code`.
pub fn req_id<'v>(
    v: Option<&'v Value>,
    field: &str,
    missing_code: &'static str,
    e: &mut Errs,
) -> Option<&'v str> {
    match opt_id(v, field, e) {
        Ok(Some(s)) => Some(s),
        Ok(None) => {
            e.push(field, missing_code, "is required");
            None
        }
        Err(()) => None,
    }
}

/// Provider event types / codes / kinds: 1..=128 of `[A-Za-z0-9_.]`.
pub fn valid_type(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

pub fn req_type<'v>(
    v: Option<&'v Value>,
    field: &str,
    missing_code: &'static str,
    e: &mut Errs,
) -> Option<&'v str> {
    match opt_text(v, field, MAX_TEXT_BYTES, e) {
        Ok(Some(s)) if valid_type(s) => Some(s),
        Ok(Some(_)) => {
            e.push(
                field,
                code::INVALID_FIELD_VALUE,
                "must be 1 to 128 characters of [A-Za-z0-9_.]",
            );
            None
        }
        Ok(None) => {
            e.push(field, missing_code, "is required");
            None
        }
        Err(()) => None,
    }
}

pub fn ascii_trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// Currency: trimmed, uppercased (ASCII), and a known ISO 4217 code.
pub fn currency(v: Option<&Value>, field: &str, e: &mut Errs) -> Option<(&'static str, u8)> {
    let raw = match v {
        None | Some(Value::Null) => {
            e.push(field, code::INVALID_CURRENCY, "currency is required");
            return None;
        }
        Some(Value::Str(s)) => ascii_trim(s),
        Some(_) => {
            e.push(field, code::INVALID_CURRENCY, "currency must be a string");
            return None;
        }
    };
    if raw.is_empty() {
        e.push(field, code::INVALID_CURRENCY, "currency cannot be empty");
        return None;
    }
    if raw.len() != 3 || !raw.bytes().all(|b| b.is_ascii_alphabetic()) {
        e.push(
            field,
            code::INVALID_CURRENCY,
            "currency must be a 3-letter ISO 4217 code",
        );
        return None;
    }
    let up = raw.to_ascii_uppercase();
    match currency::lookup(&up) {
        Some(c) => Some(c),
        None => {
            e.push(
                field,
                code::INVALID_CURRENCY,
                &format!("unsupported currency {up}"),
            );
            None
        }
    }
}

/// Integer minor units: a JSON number with an integral value, or a string of ASCII digits
/// (optionally `-`). Returns the non-negative amount; bounds are checked by [`check_max`].
pub fn amount_minor(v: Option<&Value>, field: &str, e: &mut Errs) -> Option<u64> {
    match v {
        None | Some(Value::Null) => {
            e.push(field, code::INVALID_AMOUNT, "amount is required");
            None
        }
        Some(Value::Num(n)) => {
            let n = *n;
            if n.fract() != 0.0 {
                e.push(
                    field,
                    code::INVALID_AMOUNT,
                    "amount must be an integer number of minor units",
                );
                None
            } else if n < 0.0 {
                e.push(field, code::INVALID_AMOUNT_NEGATIVE, "amount must be >= 0");
                None
            } else if n > currency::MAX_SAFE_INTEGER as f64 {
                e.push(
                    field,
                    code::INVALID_AMOUNT_TOO_LARGE,
                    "amount exceeds 2^53-1",
                );
                None
            } else {
                Some(n as u64)
            }
        }
        Some(Value::Str(s)) => digits_amount(s, field, e),
        Some(_) => {
            e.push(
                field,
                code::INVALID_AMOUNT,
                "amount must be an integer number of minor units",
            );
            None
        }
    }
}

fn digits_amount(s: &str, field: &str, e: &mut Errs) -> Option<u64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        e.push(
            field,
            code::INVALID_AMOUNT,
            "amount must be an integer number of minor units",
        );
        return None;
    }
    let sig = digits.trim_start_matches('0');
    if neg && !sig.is_empty() {
        e.push(field, code::INVALID_AMOUNT_NEGATIVE, "amount must be >= 0");
        return None;
    }
    if sig.len() > 16 {
        e.push(
            field,
            code::INVALID_AMOUNT_TOO_LARGE,
            "amount exceeds 2^53-1",
        );
        return None;
    }
    let v: u64 = if sig.is_empty() { 0 } else { sig.parse().ok()? };
    if v > currency::MAX_SAFE_INTEGER {
        e.push(
            field,
            code::INVALID_AMOUNT_TOO_LARGE,
            "amount exceeds 2^53-1",
        );
        return None;
    }
    Some(v)
}

/// A decimal major-unit amount (Braintree `"10.50"`) converted exactly with the currency exponent.
/// More significant fraction digits than the exponent allows is an error; trailing zeros are fine.
pub fn decimal_amount(s: &str, exponent: u8, field: &str, e: &mut Errs) -> Option<u64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    let (int_part, frac_part) = match body.find('.') {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let ok = !int_part.is_empty()
        && int_part.bytes().all(|b| b.is_ascii_digit())
        && frac_part.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        e.push(
            field,
            code::INVALID_AMOUNT,
            "amount must be a decimal number like 10.50",
        );
        return None;
    }
    let frac = frac_part.unwrap_or("");
    let frac_sig = frac.trim_end_matches('0');
    let int_sig = int_part.trim_start_matches('0');
    if neg && !(int_sig.is_empty() && frac_sig.is_empty()) {
        e.push(field, code::INVALID_AMOUNT_NEGATIVE, "amount must be >= 0");
        return None;
    }
    if frac_sig.len() > exponent as usize {
        e.push(
            field,
            code::INVALID_AMOUNT_PRECISION,
            &format!("amount has more than {exponent} decimal places for its currency"),
        );
        return None;
    }
    if int_sig.len() + exponent as usize > 16 {
        e.push(
            field,
            code::INVALID_AMOUNT_TOO_LARGE,
            "amount exceeds 2^53-1",
        );
        return None;
    }
    let mut v: u64 = 0;
    for b in int_sig.bytes() {
        v = v * 10 + (b - b'0') as u64;
    }
    let fb = frac_sig.as_bytes();
    for k in 0..exponent as usize {
        v = v * 10 + fb.get(k).map(|b| (b - b'0') as u64).unwrap_or(0);
    }
    if v > currency::MAX_SAFE_INTEGER {
        e.push(
            field,
            code::INVALID_AMOUNT_TOO_LARGE,
            "amount exceeds 2^53-1",
        );
        return None;
    }
    Some(v)
}

/// Per-currency upper bound (configurable); only checked once amount and currency are both valid.
pub fn check_max(amount: u64, cur: &str, bounds: &AmountBounds, field: &str, e: &mut Errs) -> bool {
    let max = bounds.max_for(cur);
    if amount > max {
        e.push(
            field,
            code::INVALID_AMOUNT_TOO_LARGE,
            &format!("amount exceeds the maximum {max} for {cur}"),
        );
        false
    } else {
        true
    }
}

/// Last four digits of a card: exactly 4 ASCII digits. The message never echoes the value (it
/// could be a full card number sent by mistake).
pub fn last_four<'v>(v: Option<&'v Value>, field: &str, e: &mut Errs) -> Read<&'v str> {
    match opt_text(v, field, MAX_TEXT_BYTES, e)? {
        Some(s) if s.len() != 4 || !s.bytes().all(|b| b.is_ascii_digit()) => {
            e.push(
                field,
                code::INVALID_CARD_LAST_FOUR,
                "must be exactly 4 digits",
            );
            Err(())
        }
        other => Ok(other),
    }
}

/// Lowercase `[a-z0-9_]` token of an unmapped vocabulary value: ASCII letters lowercased, digits
/// and `_` kept, every other code point becomes `_`. `None` if empty or longer than 64 code points.
pub fn token(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut n = 0;
    for c in s.chars() {
        n += 1;
        if n > MAX_TOKEN_CHARS {
            return None;
        }
        out.push(if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        });
    }
    if n == 0 {
        None
    } else {
        Some(out)
    }
}

/// Lowercase ASCII letters only (never locale or Unicode case mapping, so both twins agree).
pub fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Card brand names: one vocabulary for every provider. A digits-only value (a BIN) is never a brand.
pub fn card_brand(raw: &str) -> Option<Cow<'static, str>> {
    let key: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let known = match key.as_str() {
        "visa" => "visa",
        "mastercard" | "mc" => "mastercard",
        "amex" | "americanexpress" => "amex",
        "discover" => "discover",
        "discoverdiners" | "diners" | "dinersclub" => "diners",
        "jcb" => "jcb",
        "unionpay" | "chinaunionpay" | "cup" => "unionpay",
        "maestro" | "ukmaestro" => "maestro",
        "cartesbancaires" | "cartebancaire" | "cb" => "cartes_bancaires",
        "eftpos" | "eftposau" => "eftpos",
        "interac" => "interac",
        "elo" => "elo",
        "bcmc" | "bancontact" => "bancontact",
        "" | "unknown" | "other" | "otherbrand" => return None,
        _ => {
            if key.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            return token(raw).map(Cow::Owned);
        }
    };
    Some(Cow::Borrowed(known))
}

/// Unmapped values pass through as tokens; an empty or over-long one becomes `None`.
pub fn or_token<'a>(mapped: Option<&'static str>, raw: &'a str) -> Option<Cow<'a, str>> {
    match mapped {
        Some(m) => Some(Cow::Borrowed(m)),
        None => token(raw).map(Cow::Owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{Bump, Value};

    fn parse(text: &str) -> Result<Value<'_>, crate::json::ParseError> {
        let arena: &'static Bump = Box::leak(Box::new(Bump::new()));
        crate::json::parse(text, arena)
    }

    fn amt(json: &str) -> Result<u64, &'static str> {
        let v = parse(json).unwrap();
        let mut e = Errs::default();
        amount_minor(Some(&v), "a", &mut e).ok_or_else(|| e.list[0].code)
    }

    #[test]
    fn null_tokens_exact() {
        for t in ["", "null", "NULL", "Null", "none", "None", "NONE"] {
            assert!(is_null_token(t));
        }
        for t in ["   ", "0", "false", "undefined", "nil"] {
            assert!(!is_null_token(t));
        }
    }

    #[test]
    fn amounts_like_the_original_cases() {
        assert_eq!(amt("0"), Ok(0));
        assert_eq!(amt("100000000"), Ok(100_000_000));
        assert_eq!(amt("\"1000\""), Ok(1000));
        assert_eq!(amt("100.0"), Ok(100));
        assert_eq!(amt("-1"), Err(code::INVALID_AMOUNT_NEGATIVE));
        assert_eq!(amt("\"-5\""), Err(code::INVALID_AMOUNT_NEGATIVE));
        assert_eq!(amt("\"abc\""), Err(code::INVALID_AMOUNT), "crash input 2.9");
        assert_eq!(amt("10.9"), Err(code::INVALID_AMOUNT), "no truncation");
        assert_eq!(amt("true"), Err(code::INVALID_AMOUNT));
        assert_eq!(amt("null"), Err(code::INVALID_AMOUNT));
        assert_eq!(amt("1e300"), Err(code::INVALID_AMOUNT_TOO_LARGE));
        assert_eq!(
            amt("\"99999999999999999999\""),
            Err(code::INVALID_AMOUNT_TOO_LARGE)
        );
        let mut e = Errs::default();
        assert!(!check_max(
            100_000_001,
            "USD",
            &AmountBounds::default(),
            "a",
            &mut e
        ));
        assert_eq!(e.list[0].code, code::INVALID_AMOUNT_TOO_LARGE);
    }

    #[test]
    fn decimals_are_exact() {
        let d = |s: &str, x: u8| {
            let mut e = Errs::default();
            decimal_amount(s, x, "a", &mut e).ok_or_else(|| e.list[0].code)
        };
        assert_eq!(d("20.00", 2), Ok(2000));
        assert_eq!(d("9.99", 2), Ok(999));
        assert_eq!(d("100", 2), Ok(10000));
        assert_eq!(d("250.0", 2), Ok(25000));
        assert_eq!(d("10.500", 2), Ok(1050));
        assert_eq!(d("1.234", 3), Ok(1234));
        assert_eq!(d("1000", 0), Ok(1000));
        assert_eq!(d("10.555", 2), Err(code::INVALID_AMOUNT_PRECISION));
        assert_eq!(d("10.5", 0), Err(code::INVALID_AMOUNT_PRECISION));
        assert_eq!(
            d("-5.00", 2),
            Err(code::INVALID_AMOUNT_NEGATIVE),
            "crash input 2.9"
        );
        assert_eq!(d("-0.00", 2), Ok(0));
        for bad in [
            "not_a_number",
            "",
            ".5",
            "5.",
            "+5",
            "1e3",
            " 5",
            "5 ",
            "0x10",
            "1,000.00",
        ] {
            assert_eq!(d(bad, 2), Err(code::INVALID_AMOUNT), "{bad}");
        }
        assert_eq!(
            d("99999999999999999", 2),
            Err(code::INVALID_AMOUNT_TOO_LARGE)
        );
    }

    #[test]
    fn currencies() {
        let c = |j: &str| {
            let v = parse(j).unwrap();
            let mut e = Errs::default();
            currency(Some(&v), "c", &mut e)
                .map(|c| c.0)
                .ok_or_else(|| e.list[0].message.clone())
        };
        assert_eq!(c("\"usd\""), Ok("USD"));
        assert_eq!(c("\" eUr \""), Ok("EUR"));
        assert!(c("null").unwrap_err().contains("required"));
        assert!(c("\"\"").unwrap_err().contains("empty"));
        assert!(c("\"US\"").unwrap_err().contains("3-letter"));
        assert!(c("\"XYZ\"").unwrap_err().contains("unsupported"));
    }

    #[test]
    fn brands_are_names_never_bins() {
        assert_eq!(card_brand("VISA").as_deref(), Some("visa"));
        assert_eq!(card_brand("MasterCard").as_deref(), Some("mastercard"));
        assert_eq!(card_brand("American Express").as_deref(), Some("amex"));
        assert_eq!(card_brand("AMERICAN_EXPRESS").as_deref(), Some("amex"));
        assert_eq!(card_brand("Diners Club").as_deref(), Some("diners"));
        assert_eq!(card_brand("411111"), None);
        assert_eq!(
            card_brand("Carte Blanche").as_deref(),
            Some("carte_blanche")
        );
    }
}
