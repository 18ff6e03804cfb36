//! Stripe events (`evt_…` with `data.object`): payment intents, charges and their disputes and
//! refunds, refunds, invoices and Checkout Sessions. Units: `stripe_event_type` (the type rule),
//! `stripe_amount_field` (which amount the object kind carries), `stripe_payment_method`,
//! `stripe_card`, `stripe_status`, `stripe_failure`, `stripe_created`, `stripe_customer`,
//! `stripe_metadata`, `stripe_merchant`, `stripe_is_refund`, then `stripe` assembles the event.

use super::*;
use crate::currency::AmountBounds;
use crate::json::path;
use crate::model::Provider;
use crate::vocabulary::{failed_by_type, lookup, OTHER, STRIPE_TYPES};

/// The vocabulary type of a Stripe event: the fixed table, else the rules that read the object
/// (`status`, and a Checkout Session's `payment_status`), else `other`.
pub fn stripe_event_type(
    t: &str,
    status: Option<&str>,
    payment_status: Option<&str>,
) -> &'static str {
    if let Some(v) = lookup(STRIPE_TYPES, t) {
        return v;
    }
    match t {
        "charge.dispute.closed" => match status {
            Some("won" | "warning_closed") => "dispute.won",
            Some("lost") => "dispute.lost",
            _ => "dispute.updated",
        },
        "refund.updated" | "charge.refund.updated" => match status {
            Some("succeeded") => "refund.succeeded",
            Some("failed" | "canceled") => "refund.failed",
            _ => OTHER,
        },
        "checkout.session.completed" => match payment_status {
            Some("paid") => "payment.succeeded",
            Some("unpaid") => "payment.pending",
            _ => OTHER,
        },
        _ => OTHER,
    }
}

/// The amount a Stripe object carries for this event, as (key in `data.object`, field path for
/// errors): an invoice's amount paid (or due, for a failed payment), a Checkout Session's total,
/// what a refunded charge has refunded, else `amount`.
pub fn stripe_amount_field(object_kind: Option<&str>, t: &str) -> (&'static str, &'static str) {
    match object_kind {
        Some("invoice") if t == "invoice.payment_failed" => {
            ("amount_due", "data.object.amount_due")
        }
        Some("invoice") => ("amount_paid", "data.object.amount_paid"),
        Some("checkout.session") => ("amount_total", "data.object.amount_total"),
        Some("charge") if t == "charge.refunded" => {
            ("amount_refunded", "data.object.amount_refunded")
        }
        _ => ("amount", "data.object.amount"),
    }
}

/// Payment method type: the declared types, then the charge's details, then `refund` for refunds.
fn stripe_payment_method(
    pm_types: Option<&Value>,
    details: Option<&Value>,
    is_refund: bool,
    e: &mut Errs,
) -> Option<String> {
    let mut pm: Option<String> = None;
    match pm_types {
        None | Some(Value::Null) => {}
        Some(Value::Arr(items)) => {
            if let Some(first) = items.first() {
                pm = ok_or_err(opt_token(
                    Some(first),
                    "data.object.payment_method_types",
                    e,
                ));
            }
        }
        Some(_) => e.push(
            "data.object.payment_method_types",
            code::INVALID_FIELD_TYPE,
            "must be an array",
        ),
    }
    if pm.is_none() {
        if let Some(d) = details {
            pm = ok_or_err(opt_token(
                d.get("type"),
                "data.object.payment_method_details.type",
                e,
            ));
        }
    }
    if pm.is_none() && is_refund {
        pm = Some("refund".to_owned());
    }
    pm
}

/// Card brand and last four digits from `payment_method_details.card`.
fn stripe_card<'v>(
    details: Option<&'v Value<'v>>,
    e: &mut Errs,
) -> (Option<Cow<'static, str>>, Option<&'v str>) {
    let Some(d) = details else {
        return (None, None);
    };
    let Some(card) = ok_or_err(opt_object(
        d.get("card"),
        "data.object.payment_method_details.card",
        e,
    )) else {
        return (None, None);
    };
    let brand = ok_or_err(opt_text(
        card.get("brand"),
        "data.object.payment_method_details.card.brand",
        MAX_CODE_BYTES,
        e,
    ))
    .and_then(card_brand);
    let last4 = ok_or_err(last_four(
        card.get("last4"),
        "data.object.payment_method_details.card.last4",
        e,
    ));
    (brand, last4)
}

/// The event's status: `failed` for a failed payment whatever the object says, else the object's
/// status, else a word of the provider type.
fn stripe_status(event_type: &str, obj_status: Option<String>, t: &str) -> Cow<'static, str> {
    if failed_by_type(event_type) {
        Cow::Borrowed("failed")
    } else if let Some(s) = obj_status {
        Cow::Owned(s)
    } else {
        Cow::Borrowed(
            ["succeeded", "failed", "canceled", "pending", "processing"]
                .into_iter()
                .find(|k| t.contains(k))
                .unwrap_or("unknown"),
        )
    }
}

/// Failure code and message: the object's own, else `last_payment_error`'s, else `failure_reason`.
fn stripe_failure<'v>(obj: &'v Value<'v>, e: &mut Errs) -> (Option<&'v str>, Option<&'v str>) {
    let [o_fcode, o_fmsg, o_lpe, o_freason] = obj.pick([
        "failure_code",
        "failure_message",
        "last_payment_error",
        "failure_reason",
    ]);
    let fc = ok_or_err(opt_text(
        o_fcode,
        "data.object.failure_code",
        MAX_CODE_BYTES,
        e,
    ));
    let fm = ok_or_err(opt_text(
        o_fmsg,
        "data.object.failure_message",
        MAX_TEXT_BYTES,
        e,
    ));
    if fc.is_some() || fm.is_some() {
        return (fc, fm);
    }
    match ok_or_err(opt_object(o_lpe, "data.object.last_payment_error", e)) {
        Some(lpe) if lpe.is_nonempty_object() => (
            ok_or_err(opt_text(
                lpe.get("code"),
                "data.object.last_payment_error.code",
                MAX_CODE_BYTES,
                e,
            )),
            ok_or_err(opt_text(
                lpe.get("message"),
                "data.object.last_payment_error.message",
                MAX_TEXT_BYTES,
                e,
            )),
        ),
        _ => (
            ok_or_err(opt_text(
                o_freason,
                "data.object.failure_reason",
                MAX_CODE_BYTES,
                e,
            )),
            None,
        ),
    }
}

/// When the object was created (Unix seconds), else when the event was.
fn stripe_created(
    obj_created: Option<&Value>,
    event_created: Option<&Value>,
    e: &mut Errs,
) -> Option<i64> {
    match (obj_created, event_created) {
        (Some(v), _) if !matches!(v, Value::Null) => unix_field(v, "data.object.created", e),
        (_, Some(v)) if !matches!(v, Value::Null) => unix_field(v, "created", e),
        _ => {
            missing_timestamp("data.object.created", e);
            None
        }
    }
}

/// The customer id: a string, or an expanded customer object's `id`.
fn stripe_customer<'v>(v: Option<&'v Value<'v>>, e: &mut Errs) -> Option<&'v str> {
    match v {
        Some(c @ Value::Obj(_)) => ok_or_err(opt_id(c.get("id"), "data.object.customer.id", e)),
        other => ok_or_err(opt_id(other, "data.object.customer", e)),
    }
}

/// The object's metadata; a dispute or refund adds the payment it belongs to (`linked_charge`,
/// `linked_payment_intent`), so later outcomes can be joined to the payment (ml/ learns fraud from
/// disputes of earlier payments).
fn stripe_metadata<'v>(
    obj: &'v Value<'v>,
    kind: Option<&str>,
    v: Option<&'v Value<'v>>,
    e: &mut Errs,
) -> Vec<(Cow<'v, str>, Meta<'v>)> {
    let mut metadata = string_metadata(v, "data.object.metadata", e);
    if matches!(kind, Some("dispute" | "refund")) {
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
    metadata
}

/// The merchant id, from `metadata.merchant_id`.
fn stripe_merchant<'v>(metadata: Option<&'v Value<'v>>, e: &mut Errs) -> Option<&'v str> {
    match metadata {
        Some(m @ Value::Obj(_)) => ok_or_err(opt_id(
            m.get("merchant_id"),
            "data.object.metadata.merchant_id",
            e,
        )),
        _ => None,
    }
}

/// A refund object, or an event about one.
fn stripe_is_refund(kind: Option<&str>, t: Option<&str>) -> bool {
    kind == Some("refund")
        || t.is_some_and(|t| t.starts_with("refund.") || t.starts_with("charge.refund."))
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
    let [o_id, o_currency, o_customer, o_metadata, o_pm_types, o_details, o_object, o_status, o_payment_status, o_created] =
        obj.pick([
            "id",
            "currency",
            "customer",
            "metadata",
            "payment_method_types",
            "payment_method_details",
            "object",
            "status",
            "payment_status",
            "created",
        ]);
    let object_id = req_id(o_id, "data.object.id", code::MISSING_OBJECT_ID, &mut e);
    let kind = o_object.and_then(Value::as_str);
    let (amount_key, amount_path) = stripe_amount_field(kind, etype.unwrap_or(""));
    let (amount, cur) = bounded_money(
        obj.get(amount_key),
        amount_path,
        o_currency,
        "data.object.currency",
        bounds,
        &mut e,
    );
    let customer = stripe_customer(o_customer, &mut e);
    let metadata = stripe_metadata(obj, kind, o_metadata, &mut e);
    let merchant = stripe_merchant(o_metadata, &mut e);
    let details = ok_or_err(opt_object(
        o_details,
        "data.object.payment_method_details",
        &mut e,
    ));
    let pm = stripe_payment_method(o_pm_types, details, stripe_is_refund(kind, etype), &mut e);
    let (brand, last4) = stripe_card(details, &mut e);
    let event_type = etype.map(|t| {
        stripe_event_type(
            t,
            o_status.and_then(Value::as_str),
            o_payment_status.and_then(Value::as_str),
        )
    });
    let obj_status = ok_or_err(opt_token(o_status, "data.object.status", &mut e));
    let (failure_code, failure_message) = stripe_failure(obj, &mut e);
    let created = stripe_created(o_created, root.get("created"), &mut e);

    if !e.is_empty() {
        return reject(rid, e);
    }
    let t = etype.expect("checked");
    let event_type = event_type.expect("checked");
    Ok(Event {
        provider: Provider::Stripe,
        provider_event_id: Cow::Borrowed(id.expect("checked")),
        object_id: object_id.map(Cow::Borrowed),
        event_type: Cow::Borrowed(event_type),
        provider_event_type: Cow::Borrowed(t),
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: pm.map(Cow::Owned),
        card_brand: brand,
        card_last_four: last4.map(Cow::Borrowed),
        status: stripe_status(event_type, obj_status, t),
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
