//! Provider payloads → unified events (reference sections 2.6 and 2.7, with the original's bugs
//! fixed). One function per provider; each returns the event or every error it found.
//! `src/providers.ts` is the line-by-line TypeScript twin of this file.

use crate::currency::AmountBounds;
use crate::json::{path, Value};
use crate::model::{code, Event, Meta, Provider};
use crate::rules::*;
use crate::time;
use crate::xml;
use std::borrow::Cow;

/// Errors of one event plus the raw id when it could be read (the DLQ key).
pub struct Rejected<'v> {
    pub provider_event_id: Option<Cow<'v, str>>,
    pub errors: Errs,
}

pub type Outcome<'v> = Result<Event<'v>, Rejected<'v>>;

fn reject<'v>(id: Option<Cow<'v, str>>, e: Errs) -> Outcome<'v> {
    Err(Rejected {
        provider_event_id: id,
        errors: e,
    })
}

/// An optional vocabulary value as a token; a value that cannot be a token is an error.
fn opt_token(v: Option<&Value>, field: &str, e: &mut Errs) -> Read<String> {
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
fn opt_object<'v, 'a>(v: Option<&'v Value<'a>>, field: &str, e: &mut Errs) -> Read<&'v Value<'a>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(o @ Value::Obj(_)) => Ok(Some(o)),
        Some(_) => {
            e.push(field, code::INVALID_FIELD_TYPE, "must be an object");
            Err(())
        }
    }
}

fn rfc3339_field(v: Option<&Value>, field: &str, e: &mut Errs) -> Read<i64> {
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

fn missing_timestamp(field: &str, e: &mut Errs) {
    e.push(field, code::MISSING_TIMESTAMP, "is required");
}

/// Metadata that is a flat object of strings (Stripe): sorted by key, last duplicate wins.
fn string_metadata<'v>(
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

fn meta_str<'v>(k: &'static str, v: Option<&'v str>) -> (Cow<'v, str>, Meta<'v>) {
    (
        Cow::Borrowed(k),
        v.map(|s| Meta::Str(Cow::Borrowed(s))).unwrap_or(Meta::Null),
    )
}

/// Every provider's payload is a JSON object at the top; anything else is rejected before any field is read.
fn payload_not_object(mut e: Errs) -> Errs {
    e.push(
        "payload",
        code::INVALID_PAYLOAD,
        "payload must be a JSON object",
    );
    e
}

fn ok_or_err<T>(r: Read<T>) -> Option<T> {
    r.ok().flatten()
}

/// Optional text fields of `obj` copied into metadata under their own names; an invalid one is recorded in `e` and
/// becomes null. `field` turns a key into the path reported in errors.
fn text_metadata<'v>(
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

// ───────────────────────────────────────── Stripe ─────────────────────────────────────────

pub fn stripe_event_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "payment_intent.created" => "payment.created",
        "payment_intent.succeeded" => "payment.succeeded",
        "payment_intent.payment_failed" => "payment.failed",
        "payment_intent.canceled" => "payment.canceled",
        "payment_intent.processing" => "payment.processing",
        "payment_intent.requires_action" => "payment.requires_action",
        "payment_intent.amount_capturable_updated" => "payment.amount_capturable_updated",
        "charge.dispute.created" => "dispute.created",
        "charge.dispute.closed" => "dispute.closed",
        _ => return None,
    })
}

pub fn stripe<'v>(root: &'v Value<'v>, bounds: &AmountBounds) -> Outcome<'v> {
    let mut e = Errs::default();
    if !root.is_object() {
        return reject(None, payload_not_object(e));
    }
    let id = req_id(root.get("id"), "id", code::MISSING_EVENT_ID, &mut e);
    let rid = id.map(Cow::Borrowed);
    let etype = req_type(root.get("type"), "type", code::MISSING_EVENT_TYPE, &mut e);
    let obj = match path(root, &["data", "object"]) {
        Some(o) if o.is_nonempty_object() => o,
        _ => {
            e.push(
                "data.object",
                code::MISSING_DATA_OBJECT,
                "data.object is required",
            );
            return reject(rid, e);
        }
    };
    let [o_id, o_amount, o_currency, o_customer, o_metadata, o_pm_types, o_details, o_object, o_status, o_fcode, o_fmsg, o_lpe, o_freason, o_created] =
        obj.pick([
            "id",
            "amount",
            "currency",
            "customer",
            "metadata",
            "payment_method_types",
            "payment_method_details",
            "object",
            "status",
            "failure_code",
            "failure_message",
            "last_payment_error",
            "failure_reason",
            "created",
        ]);
    let object_id = req_id(o_id, "data.object.id", code::MISSING_OBJECT_ID, &mut e);
    let mut amount_errs = Errs::default();
    let amount = amount_minor(o_amount, "data.object.amount", &mut amount_errs);
    let cur = currency(o_currency, "data.object.currency", &mut amount_errs);
    e.list.append(&mut amount_errs.list);
    if let (Some(a), Some((c, _))) = (amount, cur) {
        check_max(a, c, bounds, "data.object.amount", &mut e);
    }
    let customer = match o_customer {
        // An expanded customer object carries its id.
        Some(c @ Value::Obj(_)) => {
            ok_or_err(opt_id(c.get("id"), "data.object.customer.id", &mut e))
        }
        other => ok_or_err(opt_id(other, "data.object.customer", &mut e)),
    };
    let mut metadata = string_metadata(o_metadata, "data.object.metadata", &mut e);
    // A dispute or refund names the payment it belongs to: kept so later outcomes can be joined to the payment
    // (ml/ learns fraud from disputes of earlier payments).
    if matches!(o_object, Some(Value::Str("dispute" | "refund"))) {
        for (key, field) in [
            ("linked_charge", "charge"),
            ("linked_payment_intent", "payment_intent"),
        ] {
            if let Some(Value::Str(s)) = obj.get(field) {
                if s.len() <= MAX_TEXT_BYTES {
                    metadata.retain(|(k, _)| k.as_ref() != key);
                    metadata.push((Cow::Borrowed(key), Meta::Str(Cow::Borrowed(*s))));
                }
            }
        }
        metadata.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    let merchant = match o_metadata {
        Some(m @ Value::Obj(_)) => ok_or_err(opt_id(
            m.get("merchant_id"),
            "data.object.metadata.merchant_id",
            &mut e,
        )),
        _ => None,
    };

    // Payment method type: declared types, then the charge's details, then "refund" for refunds.
    let mut pm: Option<String> = None;
    match o_pm_types {
        None | Some(Value::Null) => {}
        Some(Value::Arr(items)) => {
            if let Some(first) = items.first() {
                pm = ok_or_err(opt_token(
                    Some(first),
                    "data.object.payment_method_types",
                    &mut e,
                ));
            }
        }
        Some(_) => e.push(
            "data.object.payment_method_types",
            code::INVALID_FIELD_TYPE,
            "must be an array",
        ),
    }
    let details = ok_or_err(opt_object(
        o_details,
        "data.object.payment_method_details",
        &mut e,
    ));
    if pm.is_none() {
        if let Some(d) = details {
            pm = ok_or_err(opt_token(
                d.get("type"),
                "data.object.payment_method_details.type",
                &mut e,
            ));
        }
    }
    let is_refund = o_object.and_then(Value::as_str) == Some("refund")
        || etype.is_some_and(|t| t.starts_with("refund.") || t.starts_with("charge.refund."));
    if pm.is_none() && is_refund {
        pm = Some("refund".to_owned());
    }
    let mut brand = None;
    let mut last4 = None;
    if let Some(d) = details {
        if let Some(card) = ok_or_err(opt_object(
            d.get("card"),
            "data.object.payment_method_details.card",
            &mut e,
        )) {
            brand = ok_or_err(opt_text(
                card.get("brand"),
                "data.object.payment_method_details.card.brand",
                MAX_CODE_BYTES,
                &mut e,
            ))
            .and_then(card_brand);
            last4 = ok_or_err(last_four(
                card.get("last4"),
                "data.object.payment_method_details.card.last4",
                &mut e,
            ));
        }
    }

    let unified: Option<Cow<str>> = etype.map(|t| {
        stripe_event_type(t)
            .map(Cow::Borrowed)
            .unwrap_or(Cow::Borrowed(t))
    });
    let obj_status = ok_or_err(opt_token(o_status, "data.object.status", &mut e));
    let status: Cow<str> = if unified.as_deref() == Some("payment.failed") {
        // A failed PaymentIntent goes back to requires_payment_method; the event says what happened.
        Cow::Borrowed("failed")
    } else if let Some(s) = obj_status {
        Cow::Owned(s)
    } else {
        let t = etype.unwrap_or("");
        Cow::Borrowed(
            ["succeeded", "failed", "canceled", "pending", "processing"]
                .into_iter()
                .find(|k| t.contains(k))
                .unwrap_or("unknown"),
        )
    };

    let fc = ok_or_err(opt_text(
        o_fcode,
        "data.object.failure_code",
        MAX_CODE_BYTES,
        &mut e,
    ));
    let fm = ok_or_err(opt_text(
        o_fmsg,
        "data.object.failure_message",
        MAX_TEXT_BYTES,
        &mut e,
    ));
    let (failure_code, failure_message) = if fc.is_some() || fm.is_some() {
        (fc, fm)
    } else {
        match ok_or_err(opt_object(o_lpe, "data.object.last_payment_error", &mut e)) {
            Some(lpe) if lpe.is_nonempty_object() => (
                ok_or_err(opt_text(
                    lpe.get("code"),
                    "data.object.last_payment_error.code",
                    MAX_CODE_BYTES,
                    &mut e,
                )),
                ok_or_err(opt_text(
                    lpe.get("message"),
                    "data.object.last_payment_error.message",
                    MAX_TEXT_BYTES,
                    &mut e,
                )),
            ),
            _ => (
                ok_or_err(opt_text(
                    o_freason,
                    "data.object.failure_reason",
                    MAX_CODE_BYTES,
                    &mut e,
                )),
                None,
            ),
        }
    };

    let created = match (o_created, root.get("created")) {
        (Some(v), _) if !matches!(v, Value::Null) => unix_field(v, "data.object.created", &mut e),
        (_, Some(v)) if !matches!(v, Value::Null) => unix_field(v, "created", &mut e),
        _ => {
            missing_timestamp("data.object.created", &mut e);
            None
        }
    };

    if !e.is_empty() {
        return reject(rid, e);
    }
    let (currency, _) = cur.expect("checked");
    Ok(Event {
        provider: Provider::Stripe,
        provider_event_id: Cow::Borrowed(id.expect("checked")),
        object_id: object_id.map(Cow::Borrowed),
        event_type: unified.expect("checked"),
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency,
        payment_method_type: pm.map(Cow::Owned),
        card_brand: brand,
        card_last_four: last4.map(Cow::Borrowed),
        status,
        failure_code: failure_code.map(Cow::Borrowed),
        failure_message: failure_message.map(Cow::Borrowed),
        metadata,
        provider_created_at_ms: created.expect("checked"),
    })
}

fn unix_field(v: &Value, field: &str, e: &mut Errs) -> Option<i64> {
    match v {
        Value::Num(n) => match time::unix_seconds_to_ms(*n) {
            Some(ms) => Some(ms),
            None => {
                e.push(
                    field,
                    code::INVALID_TIMESTAMP,
                    "must be whole Unix seconds between years 1 and 9999",
                );
                None
            }
        },
        _ => {
            e.push(
                field,
                code::INVALID_TIMESTAMP,
                "must be whole Unix seconds between years 1 and 9999",
            );
            None
        }
    }
}

// ───────────────────────────────────────── Square ─────────────────────────────────────────

pub fn square_event_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "payment.completed" => "payment.succeeded",
        _ => return None,
    })
}

fn square_source_type(s: &str) -> Option<&'static str> {
    Some(match s {
        "CARD" | "CARD_ON_FILE" => "card",
        "CASH" => "cash",
        "EXTERNAL" => "external",
        "WALLET" => "wallet",
        "BANK_ACCOUNT" => "bank_account",
        "BUY_NOW_PAY_LATER" => "buy_now_pay_later",
        "SQUARE_ACCOUNT" => "square_account",
        _ => return None,
    })
}

fn square_payment_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "APPROVED" => "approved",
        "COMPLETED" => "succeeded",
        "CANCELED" => "canceled",
        "FAILED" => "failed",
        "PENDING" => "pending",
        _ => return None,
    })
}

fn square_refund_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "PENDING" => "pending",
        "COMPLETED" => "succeeded",
        "REJECTED" => "rejected",
        "FAILED" => "failed",
        _ => return None,
    })
}

pub fn square<'v>(root: &'v Value<'v>, bounds: &AmountBounds) -> Outcome<'v> {
    let mut e = Errs::default();
    if !root.is_object() {
        return reject(None, payload_not_object(e));
    }
    let id = req_id(
        root.get("event_id"),
        "event_id",
        code::MISSING_EVENT_ID,
        &mut e,
    );
    let rid = id.map(Cow::Borrowed);
    let etype = req_type(root.get("type"), "type", code::MISSING_EVENT_TYPE, &mut e);
    let data = match root.get("data") {
        Some(d @ Value::Obj(_)) => d,
        _ => {
            e.push("data", code::MISSING_DATA, "data is required");
            return reject(rid, e);
        }
    };
    let dtype = match opt_string(data.get("type"), "data.type", &mut e) {
        Ok(t) => t,
        Err(()) => return reject(rid, e),
    };
    let inner =
        |k: &str| -> Option<&'v Value<'v>> { path(data, &["object", k]).filter(|v| v.is_object()) };
    let (is_payment, obj) = match dtype {
        Some("payment") => match inner("payment") {
            Some(p) => (true, p),
            None => {
                e.push(
                    "data.object.payment",
                    code::MISSING_PAYMENT,
                    "data.object.payment is required",
                );
                return reject(rid, e);
            }
        },
        Some("refund") => match inner("refund") {
            Some(r) => (false, r),
            None => {
                e.push(
                    "data.object.refund",
                    code::MISSING_REFUND,
                    "data.object.refund is required",
                );
                return reject(rid, e);
            }
        },
        _ => match (inner("payment"), inner("refund")) {
            (Some(p), _) => (true, p),
            (None, Some(r)) => (false, r),
            _ => {
                e.push(
                    "data.type",
                    code::UNKNOWN_OBJECT_TYPE,
                    "data.type must be payment or refund",
                );
                return reject(rid, e);
            }
        },
    };
    let p = if is_payment { "payment" } else { "refund" };
    let f = |s: &str| format!("data.object.{p}.{s}");
    let object_id = req_id(obj.get("id"), &f("id"), code::MISSING_OBJECT_ID, &mut e);
    let money = ok_or_err(opt_object(
        obj.get("amount_money"),
        &f("amount_money"),
        &mut e,
    ));
    let mut amount_errs = Errs::default();
    let amount = amount_minor(
        money.and_then(|m| m.get("amount")),
        &f("amount_money.amount"),
        &mut amount_errs,
    );
    let cur = currency(
        money.and_then(|m| m.get("currency")),
        &f("amount_money.currency"),
        &mut amount_errs,
    );
    e.list.append(&mut amount_errs.list);
    if let (Some(a), Some((c, _))) = (amount, cur) {
        check_max(a, c, bounds, &f("amount_money.amount"), &mut e);
    }
    let merchant = ok_or_err(opt_id(root.get("merchant_id"), "merchant_id", &mut e));
    let raw_status = ok_or_err(opt_text(
        obj.get("status"),
        &f("status"),
        MAX_CODE_BYTES,
        &mut e,
    ));

    let (customer, pm, brand, last4, status, failure_code, failure_message, metadata);
    if is_payment {
        customer = ok_or_err(opt_id(obj.get("customer_id"), &f("customer_id"), &mut e));
        let cd = ok_or_err(opt_object(
            obj.get("card_details"),
            &f("card_details"),
            &mut e,
        ));
        let card =
            cd.and_then(|c| ok_or_err(opt_object(c.get("card"), &f("card_details.card"), &mut e)));
        // Real payloads nest the card under card_details.card; the original fixtures put it flat.
        let holder = card.or(cd);
        let hf = if card.is_some() {
            f("card_details.card")
        } else {
            f("card_details")
        };
        brand = holder
            .and_then(|h| {
                ok_or_err(opt_text(
                    h.get("card_brand"),
                    &format!("{hf}.card_brand"),
                    MAX_CODE_BYTES,
                    &mut e,
                ))
            })
            .and_then(card_brand);
        last4 = holder
            .and_then(|h| ok_or_err(last_four(h.get("last_4"), &format!("{hf}.last_4"), &mut e)));
        pm = match ok_or_err(opt_text(
            obj.get("source_type"),
            &f("source_type"),
            MAX_CODE_BYTES,
            &mut e,
        )) {
            Some(s) => or_token(square_source_type(s), s),
            None => Some(Cow::Borrowed("card")),
        };
        status = raw_status
            .and_then(|s| or_token(square_payment_status(s), s))
            .unwrap_or(Cow::Borrowed("unknown"));
        // A failed card payment lists its errors under card_details.errors.
        let mut fc = None;
        let mut fm = None;
        if status == "failed" {
            if let Some(Value::Arr(errs)) = cd.and_then(|c| c.get("errors")) {
                if let Some(first) = errs.first().filter(|v| v.is_object()) {
                    fc = ok_or_err(opt_text(
                        first.get("code"),
                        &f("card_details.errors.0.code"),
                        MAX_CODE_BYTES,
                        &mut e,
                    ))
                    .map(|c| lower(c));
                    fm = ok_or_err(opt_text(
                        first.get("detail"),
                        &f("card_details.errors.0.detail"),
                        MAX_TEXT_BYTES,
                        &mut e,
                    ))
                    .map(Cow::Borrowed);
                }
            }
        }
        failure_code = fc;
        failure_message = fm;
        metadata = text_metadata(
            obj,
            &f,
            &["location_id", "order_id", "reference_id"],
            &mut e,
        );
    } else {
        customer = None;
        pm = Some(Cow::Borrowed("refund"));
        brand = None;
        last4 = None;
        status = raw_status
            .and_then(|s| or_token(square_refund_status(s), s))
            .unwrap_or(Cow::Borrowed("unknown"));
        failure_code = None;
        failure_message = None;
        metadata = text_metadata(obj, &f, &["location_id", "payment_id", "reason"], &mut e);
    }
    let created = match rfc3339_field(obj.get("created_at"), &f("created_at"), &mut e) {
        Ok(Some(ms)) => Some(ms),
        Ok(None) => match rfc3339_field(root.get("created_at"), "created_at", &mut e) {
            Ok(Some(ms)) => Some(ms),
            Ok(None) => {
                missing_timestamp(&f("created_at"), &mut e);
                None
            }
            Err(()) => None,
        },
        Err(()) => None,
    };
    if !e.is_empty() {
        return reject(rid, e);
    }
    let t = etype.expect("checked");
    Ok(Event {
        provider: Provider::Square,
        provider_event_id: Cow::Borrowed(id.expect("checked")),
        object_id: object_id.map(Cow::Borrowed),
        event_type: square_event_type(t)
            .map(Cow::Borrowed)
            .unwrap_or(Cow::Borrowed(t)),
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: pm,
        card_brand: brand,
        card_last_four: last4.map(Cow::Borrowed),
        status,
        failure_code,
        failure_message,
        metadata,
        provider_created_at_ms: created.expect("checked"),
    })
}

// ───────────────────────────────────────── Adyen ──────────────────────────────────────────

pub fn adyen_event_type(c: &str) -> Option<&'static str> {
    Some(match c {
        "AUTHORISATION" => "payment.authorized",
        "CAPTURE" => "payment.captured",
        "CANCELLATION" => "payment.canceled",
        "REFUND" => "refund.created",
        "REFUND_FAILED" => "refund.failed",
        "CHARGEBACK" => "dispute.created",
        "CHARGEBACK_REVERSED" => "dispute.reversed",
        "NOTIFICATION_OF_CHARGEBACK" => "dispute.notification",
        "SECOND_CHARGEBACK" => "dispute.second_chargeback",
        "PENDING" => "payment.pending",
        "REPORT_AVAILABLE" => "report.available",
        "PAYOUT_DECLINE" => "payout.declined",
        "PAYOUT_EXPIRE" => "payout.expired",
        "PAYOUT_THIRDPARTY" => "payout.third_party",
        _ => return None,
    })
}

fn adyen_status(c: &str) -> Option<&'static str> {
    Some(match c {
        "AUTHORISATION" => "authorized",
        "CAPTURE" => "captured",
        "CANCELLATION" => "canceled",
        "REFUND" => "refunded",
        "REFUND_FAILED" => "refund_failed",
        "CHARGEBACK" => "disputed",
        "CHARGEBACK_REVERSED" => "dispute_reversed",
        "PENDING" => "pending",
        _ => return None,
    })
}

fn adyen_method(m: &str) -> Option<&'static str> {
    Some(match m {
        "visa" | "mc" | "amex" | "discover" | "jcb" | "diners" | "cup" | "maestro"
        | "cartebancaire" | "bcmc" => "card",
        "ideal" => "bank_transfer",
        "sepadirectdebit" => "bank_account",
        "paypal" => "paypal",
        "applepay" | "googlepay" | "paywithgoogle" => "wallet",
        "klarna" | "afterpay" | "affirm" => "buy_now_pay_later",
        _ => return None,
    })
}

fn adyen_card_brand(m: &str) -> Option<&'static str> {
    Some(match m {
        "visa" => "visa",
        "mc" => "mastercard",
        "amex" => "amex",
        "discover" => "discover",
        "jcb" => "jcb",
        "diners" => "diners",
        "cup" => "unionpay",
        "maestro" => "maestro",
        "cartebancaire" => "cartes_bancaires",
        "bcmc" => "bancontact",
        _ => return None,
    })
}

/// Failure reason text → failure code (case-insensitive substring rules, in order).
pub fn adyen_failure_code(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    let rules: [(&[&str], &str); 7] = [
        (&["declined", "refused"], "declined"),
        (&["fraud"], "fraud"),
        (&["expired"], "expired_card"),
        (&["insufficient"], "insufficient_funds"),
        (&["invalid"], "invalid_card"),
        (&["blocked"], "blocked"),
        (&["cancelled", "canceled"], "canceled"),
    ];
    for (needles, c) in rules {
        if needles.iter().any(|n| r.contains(n)) {
            return c;
        }
    }
    "unknown"
}

/// Adyen booleans arrive as JSON booleans or the strings "true"/"false".
fn adyen_bool(v: Option<&Value>, field: &str, required: bool, e: &mut Errs) -> Option<bool> {
    match v {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::Str(s)) if *s == "true" => Some(true),
        Some(Value::Str(s)) if *s == "false" => Some(false),
        None | Some(Value::Null) if !required => Some(false),
        None | Some(Value::Null) => {
            e.push(
                field,
                code::INVALID_FIELD_VALUE,
                "is required (true or false)",
            );
            None
        }
        Some(_) => {
            e.push(field, code::INVALID_FIELD_VALUE, "must be true or false");
            None
        }
    }
}

/// Maximum notification items accepted in one Adyen message.
pub const MAX_ADYEN_ITEMS: usize = 100;

/// Splits an Adyen message into items: the full notification `{live, notificationItems}`, a single
/// `{NotificationRequestItem}`, or a flat item (the original gateway's re-serialized form).
/// Returns the items and the envelope's `live` flag, or the message-level errors.
pub fn adyen_items<'v>(
    root: &'v Value<'v>,
) -> Result<(Vec<&'v Value<'v>>, Option<&'v Value<'v>>), Errs> {
    let mut e = Errs::default();
    if !root.is_object() {
        e.push(
            "payload",
            code::INVALID_PAYLOAD,
            "payload must be a JSON object",
        );
        return Err(e);
    }
    if let Some(items) = root.get("notificationItems") {
        let arr = match items {
            Value::Arr(a) => a,
            _ => {
                e.push(
                    "notificationItems",
                    code::INVALID_PAYLOAD,
                    "notificationItems must be an array",
                );
                return Err(e);
            }
        };
        if arr.is_empty() {
            e.push(
                "notificationItems",
                code::INVALID_PAYLOAD,
                "notificationItems is empty",
            );
            return Err(e);
        }
        if arr.len() > MAX_ADYEN_ITEMS {
            e.push(
                "notificationItems",
                code::TOO_MANY_ITEMS,
                &format!("at most {MAX_ADYEN_ITEMS} items per message"),
            );
            return Err(e);
        }
        let out = arr
            .iter()
            .map(|w| w.get("NotificationRequestItem").unwrap_or(w))
            .collect();
        return Ok((out, root.get("live")));
    }
    if let Some(item) = root.get("NotificationRequestItem") {
        return Ok((vec![item], root.get("live")));
    }
    Ok((vec![root], None))
}

pub fn adyen_item<'v>(
    item: &'v Value<'v>,
    live: Option<&'v Value<'v>>,
    bounds: &AmountBounds,
) -> Outcome<'v> {
    let mut e = Errs::default();
    if !item.is_object() {
        e.push(
            "NotificationRequestItem",
            code::INVALID_PAYLOAD,
            "notification item must be an object",
        );
        return reject(None, e);
    }
    let psp = req_id(
        item.get("pspReference"),
        "pspReference",
        code::MISSING_PSP_REFERENCE,
        &mut e,
    );
    let ecode = req_type(
        item.get("eventCode"),
        "eventCode",
        code::MISSING_EVENT_CODE,
        &mut e,
    );
    let rid = match (psp, ecode) {
        (Some(p), Some(c)) => Some(Cow::Owned(format!("{p}_{c}"))),
        (Some(p), None) => Some(Cow::Borrowed(p)),
        _ => None,
    };
    let merchant = req_id(
        item.get("merchantAccountCode"),
        "merchantAccountCode",
        code::MISSING_MERCHANT_ACCOUNT,
        &mut e,
    );
    let money = ok_or_err(opt_object(item.get("amount"), "amount", &mut e));
    let mut amount_errs = Errs::default();
    let amount = amount_minor(
        money.and_then(|m| m.get("value")),
        "amount.value",
        &mut amount_errs,
    );
    let cur = currency(
        money.and_then(|m| m.get("currency")),
        "amount.currency",
        &mut amount_errs,
    );
    e.list.append(&mut amount_errs.list);
    if let (Some(a), Some((c, _))) = (amount, cur) {
        check_max(a, c, bounds, "amount.value", &mut e);
    }
    let success = adyen_bool(item.get("success"), "success", true, &mut e);
    let live_flag = adyen_bool(live.or_else(|| item.get("live")), "live", false, &mut e);
    let reason = ok_or_err(opt_text(
        item.get("reason"),
        "reason",
        MAX_TEXT_BYTES,
        &mut e,
    ));
    let method = ok_or_err(opt_text(
        item.get("paymentMethod"),
        "paymentMethod",
        MAX_CODE_BYTES,
        &mut e,
    ))
    .map(lower);
    let additional = ok_or_err(opt_object(
        item.get("additionalData"),
        "additionalData",
        &mut e,
    ));
    // cardBin is deliberately ignored: a BIN is not a brand (reference gap G14).
    let last4 = additional.and_then(|a| {
        ok_or_err(last_four(
            a.get("cardSummary"),
            "additionalData.cardSummary",
            &mut e,
        ))
    });
    let customer = additional.and_then(|a| {
        ok_or_err(opt_id(
            a.get("shopperReference"),
            "additionalData.shopperReference",
            &mut e,
        ))
    });
    let original_ref = ok_or_err(opt_text(
        item.get("originalReference"),
        "originalReference",
        MAX_TEXT_BYTES,
        &mut e,
    ));
    let merchant_ref = ok_or_err(opt_text(
        item.get("merchantReference"),
        "merchantReference",
        MAX_TEXT_BYTES,
        &mut e,
    ));
    let operations = match item.get("operations") {
        None | Some(Value::Null) => Meta::Null,
        Some(Value::Arr(ops)) => {
            let mut list = Vec::with_capacity(ops.len());
            for op in ops.iter() {
                match op {
                    Value::Str(s) if valid_type(s) => list.push(Cow::Borrowed(*s)),
                    _ => {
                        e.push(
                            "operations",
                            code::INVALID_FIELD_VALUE,
                            "operations must be names like CAPTURE",
                        );
                        break;
                    }
                }
            }
            Meta::List(list)
        }
        Some(_) => {
            e.push("operations", code::INVALID_FIELD_TYPE, "must be an array");
            Meta::Null
        }
    };
    let created = match rfc3339_field(item.get("eventDate"), "eventDate", &mut e) {
        Ok(Some(ms)) => Some(ms),
        Ok(None) => {
            missing_timestamp("eventDate", &mut e);
            None
        }
        Err(()) => None,
    };
    if !e.is_empty() {
        return reject(rid, e);
    }
    let c = ecode.expect("checked");
    let success = success.expect("checked");
    let status: Cow<str> = if !success {
        Cow::Borrowed("failed")
    } else {
        or_token(adyen_status(c), c).expect("a valid type is a valid token")
    };
    let (failure_code, failure_message) = match (success, reason) {
        (false, Some(r)) => (
            Some(Cow::Borrowed(adyen_failure_code(r))),
            Some(Cow::Borrowed(r)),
        ),
        _ => (None, None),
    };
    let pm = method
        .as_deref()
        .and_then(|m| or_token(adyen_method(m), m))
        .map(|c| Cow::Owned(c.into_owned()));
    let brand = method
        .as_deref()
        .and_then(adyen_card_brand)
        .map(Cow::Borrowed);
    let metadata = vec![
        (
            Cow::Borrowed("live"),
            Meta::Bool(live_flag.expect("checked")),
        ),
        meta_str("merchant_reference", merchant_ref),
        (Cow::Borrowed("operations"), operations),
        meta_str("original_reference", original_ref),
    ];
    let event_type = match adyen_event_type(c) {
        Some(t) => Cow::Borrowed(t),
        None => Cow::Owned(c.to_ascii_lowercase()),
    };
    Ok(Event {
        provider: Provider::Adyen,
        provider_event_id: rid.expect("checked"),
        object_id: psp.map(Cow::Borrowed),
        event_type,
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: pm,
        card_brand: brand,
        card_last_four: last4.map(Cow::Borrowed),
        status,
        failure_code,
        failure_message,
        metadata,
        provider_created_at_ms: created.expect("checked"),
    })
}

// ──────────────────────────────────────── Braintree ───────────────────────────────────────

pub fn braintree_event_type(k: &str) -> Option<&'static str> {
    Some(match k {
        "transaction_settled" => "payment.settled",
        "transaction_settlement_declined" => "payment.settlement_declined",
        "transaction_disbursed" => "payment.disbursed",
        "subscription_charged_successfully" => "subscription.charged",
        "subscription_charged_unsuccessfully" => "subscription.charge_failed",
        "subscription_canceled" => "subscription.canceled",
        "subscription_expired" => "subscription.expired",
        "subscription_trial_ended" => "subscription.trial_ended",
        "subscription_went_active" => "subscription.activated",
        "subscription_went_past_due" => "subscription.past_due",
        "dispute_opened" => "dispute.created",
        "dispute_won" => "dispute.won",
        "dispute_lost" => "dispute.lost",
        "dispute_accepted" => "dispute.accepted",
        "dispute_expired" => "dispute.expired",
        "disbursement" => "disbursement.created",
        "disbursement_exception" => "disbursement.exception",
        "sub_merchant_account_approved" => "merchant.approved",
        "sub_merchant_account_declined" => "merchant.declined",
        "check" => "check.verified",
        _ => return None,
    })
}

fn braintree_kind_status(k: &str) -> Option<&'static str> {
    Some(match k {
        "transaction_settled" => "settled",
        "transaction_settlement_declined" => "settlement_declined",
        "transaction_disbursed" => "disbursed",
        "subscription_charged_successfully" => "succeeded",
        "subscription_charged_unsuccessfully" => "failed",
        "subscription_canceled" => "canceled",
        "dispute_opened" => "disputed",
        "dispute_won" => "dispute_won",
        "dispute_lost" => "dispute_lost",
        "disbursement" => "disbursed",
        _ => return None,
    })
}

fn braintree_txn_status(s: &str) -> Option<&'static str> {
    Some(match s {
        "authorized" => "authorized",
        "submitted_for_settlement" | "settling" => "pending",
        "settled" => "settled",
        "voided" => "canceled",
        "processor_declined" | "gateway_rejected" | "failed" => "failed",
        "settlement_declined" => "settlement_declined",
        _ => return None,
    })
}

fn braintree_instrument(s: &str) -> Option<&'static str> {
    Some(match s {
        "credit_card" => "card",
        "paypal_account" => "paypal",
        "venmo_account" => "venmo",
        "apple_pay_card" | "google_pay_card" | "android_pay_card" | "samsung_pay_card"
        | "visa_checkout_card" | "masterpass_card" => "wallet",
        "us_bank_account" | "sepa_debit_account" => "bank_account",
        "local_payment" => "local_payment",
        _ => return None,
    })
}

/// The fields of a Braintree notification this port reads from the SDK's `<notification>` XML.
/// Values are raw strings (`None` when absent or nil).
#[derive(Default, Debug)]
pub struct BtNote<'v> {
    pub kind: Option<Cow<'v, str>>,
    pub timestamp: Option<Cow<'v, str>>,
    pub txn: Option<BtTxn<'v>>,
    pub subscription_id: Option<Cow<'v, str>>,
    pub subscription_status: Option<Cow<'v, str>>,
    pub plan_id: Option<Cow<'v, str>>,
    pub dispute_id: Option<Cow<'v, str>>,
    pub dispute_status: Option<Cow<'v, str>>,
    pub dispute_reason: Option<Cow<'v, str>>,
    pub dispute_amount: Option<Cow<'v, str>>,
    pub dispute_currency: Option<Cow<'v, str>>,
    /// Id of another subject (disbursement, merchant account) for event ids.
    pub subject_id: Option<Cow<'v, str>>,
}

#[derive(Default, Debug)]
pub struct BtTxn<'v> {
    pub id: Option<Cow<'v, str>>,
    pub status: Option<Cow<'v, str>>,
    pub kind: Option<Cow<'v, str>>,
    pub amount: Option<Cow<'v, str>>,
    pub currency: Option<Cow<'v, str>>,
    pub merchant_account_id: Option<Cow<'v, str>>,
    pub customer_id: Option<Cow<'v, str>>,
    pub instrument: Option<Cow<'v, str>>,
    pub card_type: Option<Cow<'v, str>>,
    pub last4: Option<Cow<'v, str>>,
}

static EMPTY_TXN: BtTxn<'static> = BtTxn {
    id: None,
    status: None,
    kind: None,
    amount: None,
    currency: None,
    merchant_account_id: None,
    customer_id: None,
    instrument: None,
    card_type: None,
    last4: None,
};

fn own(s: Option<&str>) -> Option<Cow<'static, str>> {
    s.map(|s| Cow::Owned(s.to_owned()))
}

fn bt_txn_from_xml(t: &xml::Element) -> BtTxn<'static> {
    let card = t.child("credit-card");
    BtTxn {
        id: own(t.child_text("id")),
        status: own(t.child_text("status")),
        kind: own(t.child_text("type")),
        amount: own(t.child_text("amount")),
        currency: own(t.child_raw_text("currency-iso-code")),
        merchant_account_id: own(t.child_text("merchant-account-id")),
        customer_id: own(t
            .child("customer")
            .and_then(|c| c.child_text("id"))
            .or_else(|| t.child_text("customer-id"))),
        instrument: own(t.child_text("payment-instrument-type")),
        card_type: own(card.and_then(|c| c.child_text("card-type"))),
        last4: own(card.and_then(|c| c.child_text("last-4"))),
    }
}

/// Reads the SDK's `<notification>` XML.
pub fn bt_from_xml(root: &xml::Element) -> Option<BtNote<'static>> {
    if root.name != "notification" {
        return None;
    }
    let mut n = BtNote {
        kind: own(root.child_text("kind")),
        timestamp: own(root.child_text("timestamp")),
        ..Default::default()
    };
    let subject = root.child("subject");
    let first = subject.and_then(|s| s.children.first());
    if let Some(s) = first {
        match s.name.as_str() {
            "transaction" => n.txn = Some(bt_txn_from_xml(s)),
            "subscription" => {
                n.subscription_id = own(s.child_text("id"));
                n.subscription_status = own(s.child_text("status"));
                n.plan_id = own(s.child_text("plan-id"));
                n.txn = s
                    .child("transactions")
                    .and_then(|ts| ts.children.first())
                    .map(bt_txn_from_xml);
            }
            "dispute" => {
                n.dispute_id = own(s.child_text("id"));
                n.dispute_status = own(s.child_text("status"));
                n.dispute_reason = own(s.child_text("reason"));
                n.dispute_amount = own(s.child_text("amount"));
                n.dispute_currency = own(s.child_raw_text("currency-iso-code"));
                n.txn = s.child("transaction").map(bt_txn_from_xml);
            }
            _ => n.subject_id = own(s.child_text("id")),
        }
    }
    Some(n)
}

/// Applies the text rules (null tokens, length) to a raw Braintree string.
fn bt_text<'a>(
    v: &'a Option<Cow<'_, str>>,
    field: &str,
    max: usize,
    e: &mut Errs,
) -> Option<&'a str> {
    match v.as_deref() {
        None => None,
        Some(s) if is_null_token(s) => None,
        Some(s) if s.len() > max => {
            e.push(
                field,
                code::FIELD_TOO_LONG,
                &format!("must be at most {max} bytes"),
            );
            None
        }
        Some(s) => Some(s),
    }
}

/// A Braintree currency as sent: absent or nil is `Ok(None)`; anything present must be exactly three
/// uppercase ASCII letters (no padding, no case folding, empty is an error).
fn bt_currency<'a>(v: &'a Option<Cow<'_, str>>, field: &str, e: &mut Errs) -> Read<&'a str> {
    match v.as_deref() {
        None => Ok(None),
        Some("") => {
            e.push(field, code::INVALID_CURRENCY, "currency cannot be empty");
            Err(())
        }
        Some(s) if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) => Ok(Some(s)),
        Some(_) => {
            e.push(
                field,
                code::INVALID_CURRENCY,
                "currency must be exactly 3 uppercase letters (ISO 4217), without spaces",
            );
            Err(())
        }
    }
}

fn bt_id<'a>(v: &'a Option<Cow<'_, str>>, field: &str, e: &mut Errs) -> Read<&'a str> {
    let before = e.list.len();
    match bt_text(v, field, MAX_TEXT_BYTES, e) {
        Some(s) if valid_id(s) => Ok(Some(s)),
        Some(_) => {
            e.push(
                field,
                code::INVALID_FIELD_VALUE,
                "must be 1 to 255 printable ASCII characters without quotes or backslashes",
            );
            Err(())
        }
        None if e.list.len() > before => Err(()),
        None => Ok(None),
    }
}

pub fn braintree<'v>(n: &'v BtNote<'v>, bounds: &AmountBounds, mut e: Errs) -> Outcome<'v> {
    let kind = match bt_text(&n.kind, "kind", MAX_TEXT_BYTES, &mut e) {
        Some(k) if valid_type(k) => Some(k),
        Some(_) => {
            e.push(
                "kind",
                code::INVALID_FIELD_VALUE,
                "must be 1 to 128 characters of [A-Za-z0-9_.]",
            );
            None
        }
        None => {
            e.push("kind", code::MISSING_KIND, "is required");
            None
        }
    };
    let txn = n.txn.as_ref();
    let t = txn.unwrap_or(&EMPTY_TXN);
    let txn_id_r = bt_id(&t.id, "transaction.id", &mut e);
    if kind.is_some_and(|k| k.starts_with("transaction_")) && txn_id_r == Ok(None) {
        e.push(
            "transaction.id",
            code::MISSING_TRANSACTION_ID,
            "is required for transaction notifications",
        );
    }
    let txn_id = ok_or_err(txn_id_r);
    let dispute_id = ok_or_err(bt_id(&n.dispute_id, "dispute.id", &mut e));
    let subscription_id = ok_or_err(bt_id(&n.subscription_id, "subscription.id", &mut e));
    let subject_id = ok_or_err(bt_id(&n.subject_id, "subject.id", &mut e));
    let created = match bt_text(&n.timestamp, "timestamp", 64, &mut e) {
        Some(s) => match time::parse_rfc3339(s) {
            Some(ms) => Some(ms),
            None => {
                e.push(
                    "timestamp",
                    code::INVALID_TIMESTAMP,
                    "must be an RFC 3339 timestamp with a time zone",
                );
                None
            }
        },
        None => {
            missing_timestamp("timestamp", &mut e);
            None
        }
    };
    // Amount: the transaction's, else the dispute's; a notification without a transaction or a
    // dispute amount (check, disbursement, account events) carries no money and is 0.
    let t_amount = bt_text(&t.amount, "transaction.amount", 64, &mut e);
    let d_amount = bt_text(&n.dispute_amount, "dispute.amount", 64, &mut e);
    let (amount_s, af) = match (t_amount, d_amount) {
        (Some(a), _) => (Some(a), "transaction.amount"),
        (None, Some(a)) => (Some(a), "dispute.amount"),
        (None, None) => (None, "transaction.amount"),
    };
    // No default currency for money (issue 13: an empty currency became USD and `usd ` became USD,
    // money the notification never stated): a currency Braintree sends is exactly its 3 uppercase
    // letters, and an amount without one is refused. Only a notification that carries no amount at
    // all (check, disbursement, account events: amount 0) gets USD, where no money is stated.
    let t_cur = bt_currency(&t.currency, "transaction.currency_iso_code", &mut e);
    let d_cur = bt_currency(&n.dispute_currency, "dispute.currency_iso_code", &mut e);
    let cur = match (t_cur, d_cur) {
        (Err(()), _) | (_, Err(())) => None,
        (Ok(Some(c)), _) => currency(
            Some(&Value::Str(c)),
            "transaction.currency_iso_code",
            &mut e,
        ),
        (Ok(None), Ok(Some(c))) => {
            currency(Some(&Value::Str(c)), "dispute.currency_iso_code", &mut e)
        }
        (Ok(None), Ok(None)) if amount_s.is_some() || txn.is_some() => {
            e.push(
                "transaction.currency_iso_code",
                code::INVALID_CURRENCY,
                "currency is required with an amount (no default currency is assumed)",
            );
            None
        }
        (Ok(None), Ok(None)) => crate::currency::lookup("USD"),
    };
    let amount = match (amount_s, cur) {
        (Some(s), Some((_, exp))) => decimal_amount(s, exp, af, &mut e),
        (Some(_), None) => None,
        (None, _) if txn.is_some() => {
            e.push(af, code::INVALID_AMOUNT, "amount is required");
            None
        }
        (None, _) => Some(0),
    };
    if let (Some(a), Some((c, _))) = (amount, cur) {
        check_max(a, c, bounds, af, &mut e);
    }
    let merchant = ok_or_err(bt_id(
        &t.merchant_account_id,
        "transaction.merchant_account_id",
        &mut e,
    ));
    let customer = ok_or_err(bt_id(&t.customer_id, "transaction.customer_id", &mut e));
    let txn_status = bt_text(&t.status, "transaction.status", MAX_CODE_BYTES, &mut e);
    let txn_type = bt_text(&t.kind, "transaction.type", MAX_CODE_BYTES, &mut e);
    let instrument = bt_text(
        &t.instrument,
        "transaction.payment_instrument_type",
        MAX_CODE_BYTES,
        &mut e,
    );
    let card_type = bt_text(
        &t.card_type,
        "transaction.card_details.card_type",
        MAX_CODE_BYTES,
        &mut e,
    );
    let last4 = match bt_text(
        &t.last4,
        "transaction.card_details.last_4",
        MAX_TEXT_BYTES,
        &mut e,
    ) {
        Some(s) if s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()) => Some(s),
        Some(_) => {
            e.push(
                "transaction.card_details.last_4",
                code::INVALID_CARD_LAST_FOUR,
                "must be exactly 4 digits",
            );
            None
        }
        None => None,
    };
    let sub_status = bt_text(
        &n.subscription_status,
        "subscription.status",
        MAX_CODE_BYTES,
        &mut e,
    );
    let plan_id = bt_text(&n.plan_id, "subscription.plan_id", MAX_TEXT_BYTES, &mut e);
    let dispute_status = bt_text(&n.dispute_status, "dispute.status", MAX_CODE_BYTES, &mut e);
    let dispute_reason = bt_text(&n.dispute_reason, "dispute.reason", MAX_TEXT_BYTES, &mut e);

    let subject = txn_id.or(dispute_id).or(subscription_id).or(subject_id);
    let rid: Option<Cow<str>> = match (kind, subject) {
        (Some(k), Some(s)) => Some(Cow::Owned(format!("{k}_{s}"))),
        (Some(k), None) => created.map(|ms| Cow::Owned(format!("{k}_{}", time::iso(ms)))),
        _ => None,
    };
    if !e.is_empty() {
        return reject(rid, e);
    }
    let k = kind.expect("checked");
    let status: Cow<str> = match braintree_kind_status(k) {
        Some(s) => Cow::Borrowed(s),
        None => match txn_status {
            Some(s) => or_token(braintree_txn_status(s), s).unwrap_or(Cow::Borrowed("unknown")),
            None => Cow::Owned(token(k).unwrap_or_else(|| "unknown".to_owned())),
        },
    };
    let (failure_code, failure_message) = if status == "failed" {
        let c = txn_status.unwrap_or("unknown");
        (
            Some(Cow::Borrowed(c)),
            Some(Cow::Owned(format!("Transaction {c}"))),
        )
    } else {
        (None, None)
    };
    let mut event_type: Cow<str> = match braintree_event_type(k) {
        Some(t) => Cow::Borrowed(t),
        None => Cow::Owned(k.replace('_', ".")),
    };
    // A credit is money going back to the customer: report it as a refund, not a sale (gap G12).
    if txn_type == Some("credit") {
        if let Some(rest) = event_type.strip_prefix("payment.") {
            event_type = Cow::Owned(format!("refund.{rest}"));
        }
    }
    let object_id = if k.starts_with("dispute") {
        dispute_id.or(txn_id)
    } else {
        txn_id.or(dispute_id)
    }
    .or(subscription_id)
    .or(subject_id);
    let metadata = vec![
        meta_str("dispute_id", dispute_id),
        meta_str("dispute_reason", dispute_reason),
        meta_str("dispute_status", dispute_status),
        // The disputed payment's transaction id (the dispute's own id is the object id).
        meta_str(
            "dispute_transaction_id",
            if k.starts_with("dispute") {
                txn_id
            } else {
                None
            },
        ),
        meta_str("kind", Some(k)),
        meta_str("plan_id", plan_id),
        meta_str("subscription_id", subscription_id),
        meta_str("subscription_status", sub_status),
        meta_str("transaction_type", txn_type),
    ];
    Ok(Event {
        provider: Provider::Braintree,
        provider_event_id: rid.expect("checked"),
        object_id: object_id.map(Cow::Borrowed),
        event_type,
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: instrument.and_then(|i| or_token(braintree_instrument(i), i)),
        card_brand: card_type.and_then(card_brand),
        card_last_four: last4.map(Cow::Borrowed),
        status,
        failure_code,
        failure_message,
        metadata,
        provider_created_at_ms: created.expect("checked"),
    })
}
