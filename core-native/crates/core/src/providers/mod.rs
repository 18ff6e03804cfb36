//! Provider payloads → unified events (reference sections 2.6 and 2.7, with the original's bugs
//! fixed). One module per provider, each split into named units (an event-type rule, one reader per
//! object kind, the assembly); every unit returns values or records its errors, and each provider's
//! entry point returns the event or every error it found. The event-type vocabulary and the fixed
//! mapping tables are in `crate::vocabulary`.
//! `src/providers/` is the TypeScript twin: the same files, units with the same names (camelCase
//! there), in the same order; the differential tests compare their bytes.

mod adyen;
mod braintree;
mod square;
mod stripe;

pub use adyen::{adyen_event_type, adyen_failure_code, adyen_item, adyen_items, MAX_ADYEN_ITEMS};
pub use braintree::{braintree, braintree_event_type, bt_from_xml, BtNote, BtTxn};
pub use square::{square, square_event_type};
pub use stripe::{stripe, stripe_event_type};

use crate::currency::AmountBounds;
use crate::json::Value;
use crate::model::{code, Event, Meta};
use crate::rules::*;
use crate::time;
use std::borrow::Cow;

/// Errors of one event plus the raw id when it could be read (the DLQ key).
pub struct Rejected<'v> {
    pub provider_event_id: Option<Cow<'v, str>>,
    pub errors: Errs,
}

pub type Outcome<'v> = Result<Event<'v>, Rejected<'v>>;

pub(crate) fn reject<'v>(id: Option<Cow<'v, str>>, e: Errs) -> Outcome<'v> {
    Err(Rejected {
        provider_event_id: id,
        errors: e,
    })
}

/// An optional vocabulary value as a token; a value that cannot be a token is an error.
pub(crate) fn opt_token(v: Option<&Value>, field: &str, e: &mut Errs) -> Read<String> {
    match opt_text(v, field, MAX_TEXT_BYTES, e)? {
        None => Ok(None),
        Some(s) => match token(s) {
            Some(t) => Ok(Some(t)),
            None => {
                e.push(
                    field,
                    code::INVALID_FIELD_VALUE,
                    "must be at most 64 characters",
                );
                Err(())
            }
        },
    }
}

/// An optional object: absent or null is `None`; another type is an error.
pub(crate) fn opt_object<'v, 'a>(
    v: Option<&'v Value<'a>>,
    field: &str,
    e: &mut Errs,
) -> Read<&'v Value<'a>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(o @ Value::Obj(_)) => Ok(Some(o)),
        Some(_) => {
            e.push(field, code::INVALID_FIELD_TYPE, "must be an object");
            Err(())
        }
    }
}

pub(crate) fn rfc3339_field(v: Option<&Value>, field: &str, e: &mut Errs) -> Read<i64> {
    match opt_text(v, field, 64, e)? {
        None => Ok(None),
        Some(s) => match time::parse_rfc3339(s) {
            Some(ms) => Ok(Some(ms)),
            None => {
                e.push(
                    field,
                    code::INVALID_TIMESTAMP,
                    "must be an RFC 3339 timestamp with a time zone",
                );
                Err(())
            }
        },
    }
}

pub(crate) fn missing_timestamp(field: &str, e: &mut Errs) {
    e.push(field, code::MISSING_TIMESTAMP, "is required");
}

/// Metadata that is a flat object of strings (Stripe): sorted by key, last duplicate wins.
pub(crate) fn string_metadata<'v>(
    v: Option<&'v Value>,
    field: &str,
    e: &mut Errs,
) -> Vec<(Cow<'v, str>, Meta<'v>)> {
    let members = match v {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Obj(m)) => m,
        Some(_) => {
            e.push(field, code::INVALID_METADATA, "metadata must be an object");
            return Vec::new();
        }
    };
    // Keys as the event carries them (redact::clean_text), unique (the last duplicate wins, as
    // JSON.parse; two raw keys that clean to the same key: the greater raw key wins, whatever their
    // order), sorted, then validated in that order so the first error is the same in both
    // implementations.
    let mut entries: Vec<(Cow<'v, str>, &'v str, &'v Value<'v>)> = members
        .iter()
        .map(|(k, v)| (crate::redact::clean_text(k), *k, v))
        .collect();
    entries.sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    let mut unique: Vec<(Cow<'v, str>, &'v str, &'v Value<'v>)> = Vec::with_capacity(entries.len());
    for item in entries {
        match unique.last_mut() {
            Some(last) if last.0 == item.0 => *last = item,
            _ => unique.push(item),
        }
    }
    if unique.len() > MAX_METADATA_ENTRIES {
        e.push(
            field,
            code::INVALID_METADATA,
            &format!("metadata must have at most {MAX_METADATA_ENTRIES} entries"),
        );
        return Vec::new();
    }
    let mut out: Vec<(Cow<'v, str>, Meta<'v>)> = Vec::with_capacity(unique.len());
    for (k, raw_key, val) in unique {
        if raw_key.len() > MAX_METADATA_KEY_BYTES {
            e.push(
                field,
                code::INVALID_METADATA,
                &format!("metadata keys must be at most {MAX_METADATA_KEY_BYTES} bytes"),
            );
            return Vec::new();
        }
        let m = match val {
            Value::Null => Meta::Null,
            Value::Str(s) if s.len() <= MAX_TEXT_BYTES => Meta::Str(Cow::Borrowed(*s)),
            Value::Str(_) => {
                e.push(
                    field,
                    code::INVALID_METADATA,
                    &format!("metadata values must be at most {MAX_TEXT_BYTES} bytes"),
                );
                return Vec::new();
            }
            _ => {
                e.push(
                    field,
                    code::INVALID_METADATA,
                    "metadata values must be strings",
                );
                return Vec::new();
            }
        };
        out.push((k, m));
    }
    out
}

pub(crate) fn meta_str<'v>(k: &'static str, v: Option<&'v str>) -> (Cow<'v, str>, Meta<'v>) {
    (
        Cow::Borrowed(k),
        v.map(|s| Meta::Str(Cow::Borrowed(s))).unwrap_or(Meta::Null),
    )
}

/// An amount in minor units and its currency, read in that order, and the amount checked against
/// the currency's maximum (reported at `amount_field`).
#[inline]
pub(crate) fn bounded_money(
    amount: Option<&Value>,
    amount_field: &str,
    cur: Option<&Value>,
    cur_field: &str,
    bounds: &AmountBounds,
    e: &mut Errs,
) -> (Option<u64>, Option<(&'static str, u8)>) {
    let amount = amount_minor(amount, amount_field, e);
    let cur = currency(cur, cur_field, e);
    if let (Some(a), Some((c, _))) = (amount, cur) {
        check_max(a, c, bounds, amount_field, e);
    }
    (amount, cur)
}

/// Every provider's payload is a JSON object at the top; anything else is rejected before any field is read.
pub(crate) fn payload_not_object(mut e: Errs) -> Errs {
    e.push(
        "payload",
        code::INVALID_PAYLOAD,
        "payload must be a JSON object",
    );
    e
}

pub(crate) fn ok_or_err<T>(r: Read<T>) -> Option<T> {
    r.ok().flatten()
}

/// Optional text fields of `obj` copied into metadata under their own names; an invalid one is recorded in `e` and
/// becomes null. `field` turns a key into the path reported in errors.
pub(crate) fn text_metadata<'v>(
    obj: &'v Value<'v>,
    field: &dyn Fn(&str) -> String,
    keys: &[&'static str],
    e: &mut Errs,
) -> Vec<(Cow<'v, str>, Meta<'v>)> {
    keys.iter()
        .map(|&k| {
            meta_str(
                k,
                ok_or_err(opt_text(obj.get(k), &field(k), MAX_TEXT_BYTES, e)),
            )
        })
        .collect()
}
