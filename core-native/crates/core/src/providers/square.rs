//! Square events (`event_id`, `type`, `data.{type, id, object.<kind>}`): payments, refunds
//! (including Terminal refunds, whose `data.type` is `refund`), disputes, invoices and payouts.
//! Units: `square_event_type` (the type rule), `square_object` (which object the event carries),
//! `square_money` (an `amount_money`), `square_invoice_amount`, one reader per object kind
//! (`square_payment_parts`, `square_refund_parts`, `square_dispute_parts`, `square_invoice_parts`,
//! `square_payout_parts`), `square_created`, `square_object_id`, `square_amount`, then `square`
//! assembles the event.

use super::*;
use crate::currency::AmountBounds;
use crate::json::path;
use crate::model::Provider;
use crate::vocabulary::{failed_by_type, lookup, OTHER, SQUARE_TYPES};

/// The vocabulary type of a Square event: the fixed table, else by the object's status (payments,
/// refund updates) or state (dispute state changes), else `other`.
pub fn square_event_type(t: &str, status: Option<&str>) -> &'static str {
    if let Some(v) = lookup(SQUARE_TYPES, t) {
        return v;
    }
    if t.starts_with("payment.") {
        return match status {
            Some("APPROVED") => "payment.authorized",
            Some("COMPLETED") => "payment.succeeded",
            Some("CANCELED") => "payment.canceled",
            Some("FAILED") => "payment.failed",
            Some("PENDING") => "payment.pending",
            _ => OTHER,
        };
    }
    match t {
        "refund.updated" | "terminal.refund.updated" => match status {
            Some("COMPLETED") => "refund.succeeded",
            Some("FAILED" | "REJECTED" | "CANCELED") => "refund.failed",
            _ => OTHER,
        },
        "dispute.state.updated" | "dispute.state.changed" => match status {
            Some("WON") => "dispute.won",
            Some("LOST" | "ACCEPTED") => "dispute.lost",
            _ => "dispute.updated",
        },
        _ => OTHER,
    }
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

/// The object kinds a Square event is normalized from (`data.type`, and the key under `data.object`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SquareKind {
    Payment,
    Refund,
    Dispute,
    Invoice,
    Payout,
}

const SQUARE_KINDS: [(&str, SquareKind); 5] = [
    ("payment", SquareKind::Payment),
    ("refund", SquareKind::Refund),
    ("dispute", SquareKind::Dispute),
    ("invoice", SquareKind::Invoice),
    ("payout", SquareKind::Payout),
];

impl SquareKind {
    fn name(self) -> &'static str {
        match self {
            SquareKind::Payment => "payment",
            SquareKind::Refund => "refund",
            SquareKind::Dispute => "dispute",
            SquareKind::Invoice => "invoice",
            SquareKind::Payout => "payout",
        }
    }
    fn missing_code(self) -> &'static str {
        match self {
            SquareKind::Payment => code::MISSING_PAYMENT,
            SquareKind::Refund => code::MISSING_REFUND,
            _ => code::MISSING_DATA_OBJECT,
        }
    }
}

/// The object the event carries: `data.object.<data.type>`; an unknown or absent `data.type` takes
/// the first known kind present. `Err(())` when there is none (the error is recorded).
fn square_object<'v>(
    data: &'v Value<'v>,
    dtype: Option<&str>,
    e: &mut Errs,
) -> Result<(SquareKind, &'v Value<'v>), ()> {
    let inner =
        |k: &str| -> Option<&'v Value<'v>> { path(data, &["object", k]).filter(|v| v.is_object()) };
    if let Some(&(name, kind)) = SQUARE_KINDS.iter().find(|(n, _)| Some(*n) == dtype) {
        return match inner(name) {
            Some(o) => Ok((kind, o)),
            None => {
                let field = format!("data.object.{name}");
                e.push(&field, kind.missing_code(), &format!("{field} is required"));
                Err(())
            }
        };
    }
    for &(name, kind) in SQUARE_KINDS.iter() {
        if let Some(o) = inner(name) {
            return Ok((kind, o));
        }
    }
    e.push(
        "data.type",
        code::UNKNOWN_OBJECT_TYPE,
        "data.type must be payment, refund, dispute, invoice or payout",
    );
    Err(())
}

/// An `amount_money` object: integer minor units and a currency (payouts may name it `currency_code`).
fn square_money(
    m: Option<&Value>,
    field: &str,
    e: &mut Errs,
) -> (Option<u64>, Option<(&'static str, u8)>) {
    let money = ok_or_err(opt_object(m, field, e));
    let mut amount_errs = Errs::default();
    let amount = amount_minor(
        money.and_then(|m| m.get("amount")),
        &format!("{field}.amount"),
        &mut amount_errs,
    );
    let (cv, ck) = match money.and_then(|m| m.get("currency")) {
        Some(v) if !matches!(v, Value::Null) => (Some(v), "currency"),
        _ => match money.and_then(|m| m.get("currency_code")) {
            Some(v) => (Some(v), "currency_code"),
            None => (None, "currency"),
        },
    };
    let cur = currency(cv, &format!("{field}.{ck}"), &mut amount_errs);
    e.list.append(&mut amount_errs.list);
    (amount, cur)
}

/// Most payment requests an invoice may list (Square allows 13).
pub const MAX_SQUARE_PAYMENT_REQUESTS: usize = 64;

/// An invoice's amount for this event: what the failed scheduled charge was for
/// (`next_payment_amount_money`, else requested minus paid), what has been paid (payment made,
/// refunded), else what is requested. Sums over `payment_requests`, which must share one currency.
fn square_invoice_amount(
    inv: &Value,
    t: &str,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> (Option<u64>, Option<(&'static str, u8)>) {
    if t == "invoice.scheduled_charge_failed" {
        if let Some(m @ Value::Obj(_)) = inv.get("next_payment_amount_money") {
            return square_money(Some(m), &f("next_payment_amount_money"), e);
        }
    }
    let requests: &[Value] = match inv.get("payment_requests") {
        Some(Value::Arr(items)) if items.len() <= MAX_SQUARE_PAYMENT_REQUESTS => items,
        Some(Value::Arr(_)) => {
            e.push(
                &f("payment_requests"),
                code::INVALID_FIELD_VALUE,
                &format!("at most {MAX_SQUARE_PAYMENT_REQUESTS} payment requests"),
            );
            return (None, None);
        }
        None | Some(Value::Null) => &[],
        Some(_) => {
            e.push(
                &f("payment_requests"),
                code::INVALID_FIELD_TYPE,
                "must be an array",
            );
            return (None, None);
        }
    };
    let (mut requested, mut paid) = (0u64, 0u64);
    let mut cur: Option<(&'static str, u8)> = None;
    let mut seen = false;
    for (i, r) in requests.iter().enumerate() {
        for (key, sum) in [
            ("computed_amount_money", &mut requested),
            ("total_completed_amount_money", &mut paid),
        ] {
            let m = match r.get(key) {
                None | Some(Value::Null) => continue,
                Some(m) => m,
            };
            let field = f(&format!("payment_requests.{i}.{key}"));
            let (a, c) = square_money(Some(m), &field, e);
            let (Some(a), Some(c)) = (a, c) else {
                return (None, None);
            };
            if cur.is_some_and(|p| p.0 != c.0) {
                e.push(
                    &format!("{field}.currency"),
                    code::INVALID_CURRENCY,
                    "payment requests must share one currency",
                );
                return (None, None);
            }
            cur = Some(c);
            seen = true;
            *sum += a;
            if *sum > crate::currency::MAX_SAFE_INTEGER {
                e.push(
                    &format!("{field}.amount"),
                    code::INVALID_AMOUNT_TOO_LARGE,
                    "amount exceeds 2^53-1",
                );
                return (None, None);
            }
        }
    }
    if !seen {
        e.push(
            &f("payment_requests"),
            code::INVALID_AMOUNT,
            "amount is required (no payment request carries one)",
        );
        return (None, None);
    }
    let amount = match t {
        "invoice.scheduled_charge_failed" => requested.saturating_sub(paid),
        "invoice.payment_made" | "invoice.refunded" => paid,
        _ => requested,
    };
    (Some(amount), cur)
}

/// The fields that differ by object kind.
struct SquareParts<'v> {
    customer: Option<&'v str>,
    pm: Option<Cow<'v, str>>,
    brand: Option<Cow<'static, str>>,
    last4: Option<&'v str>,
    status: Cow<'v, str>,
    failure_code: Option<Cow<'v, str>>,
    failure_message: Option<Cow<'v, str>>,
    metadata: Vec<(Cow<'v, str>, Meta<'v>)>,
}

fn raw_status<'v>(
    obj: &'v Value<'v>,
    key: &str,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> Option<&'v str> {
    ok_or_err(opt_text(obj.get(key), &f(key), MAX_CODE_BYTES, e))
}

fn token_status<'v>(s: Option<&str>) -> Cow<'v, str> {
    Cow::Owned(s.and_then(token).unwrap_or_else(|| "unknown".to_owned()))
}

fn square_payment_parts<'v>(
    obj: &'v Value<'v>,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> SquareParts<'v> {
    let raw = raw_status(obj, "status", f, e);
    let customer = ok_or_err(opt_id(obj.get("customer_id"), &f("customer_id"), e));
    let cd = ok_or_err(opt_object(obj.get("card_details"), &f("card_details"), e));
    let card = cd.and_then(|c| ok_or_err(opt_object(c.get("card"), &f("card_details.card"), e)));
    // Real payloads nest the card under card_details.card; the original fixtures put it flat.
    let holder = card.or(cd);
    let hf = if card.is_some() {
        f("card_details.card")
    } else {
        f("card_details")
    };
    let brand = holder
        .and_then(|h| {
            ok_or_err(opt_text(
                h.get("card_brand"),
                &format!("{hf}.card_brand"),
                MAX_CODE_BYTES,
                e,
            ))
        })
        .and_then(card_brand);
    let last4 =
        holder.and_then(|h| ok_or_err(last_four(h.get("last_4"), &format!("{hf}.last_4"), e)));
    let pm = match ok_or_err(opt_text(
        obj.get("source_type"),
        &f("source_type"),
        MAX_CODE_BYTES,
        e,
    )) {
        Some(s) => or_token(square_source_type(s), s),
        None => Some(Cow::Borrowed("card")),
    };
    let status = raw
        .and_then(|s| or_token(square_payment_status(s), s))
        .unwrap_or(Cow::Borrowed("unknown"));
    // A failed card payment lists its errors under card_details.errors.
    let mut failure_code = None;
    let mut failure_message = None;
    if status == "failed" {
        if let Some(Value::Arr(errs)) = cd.and_then(|c| c.get("errors")) {
            if let Some(first) = errs.first().filter(|v| v.is_object()) {
                failure_code = ok_or_err(opt_text(
                    first.get("code"),
                    &f("card_details.errors.0.code"),
                    MAX_CODE_BYTES,
                    e,
                ))
                .map(lower);
                failure_message = ok_or_err(opt_text(
                    first.get("detail"),
                    &f("card_details.errors.0.detail"),
                    MAX_TEXT_BYTES,
                    e,
                ))
                .map(Cow::Borrowed);
            }
        }
    }
    let metadata = text_metadata(obj, f, &["location_id", "order_id", "reference_id"], e);
    SquareParts {
        customer,
        pm,
        brand,
        last4,
        status,
        failure_code,
        failure_message,
        metadata,
    }
}

fn square_refund_parts<'v>(
    obj: &'v Value<'v>,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> SquareParts<'v> {
    let raw = raw_status(obj, "status", f, e);
    SquareParts {
        customer: None,
        pm: Some(Cow::Borrowed("refund")),
        brand: None,
        last4: None,
        status: raw
            .and_then(|s| or_token(square_refund_status(s), s))
            .unwrap_or(Cow::Borrowed("unknown")),
        failure_code: None,
        failure_message: None,
        metadata: text_metadata(obj, f, &["location_id", "payment_id", "reason"], e),
    }
}

fn square_dispute_parts<'v>(
    obj: &'v Value<'v>,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> SquareParts<'v> {
    let raw = raw_status(obj, "state", f, e);
    let brand = ok_or_err(opt_text(
        obj.get("card_brand"),
        &f("card_brand"),
        MAX_CODE_BYTES,
        e,
    ))
    .and_then(card_brand);
    let disputed = ok_or_err(opt_object(
        obj.get("disputed_payment"),
        &f("disputed_payment"),
        e,
    ));
    let payment_id = disputed.and_then(|d| {
        ok_or_err(opt_text(
            d.get("payment_id"),
            &f("disputed_payment.payment_id"),
            MAX_TEXT_BYTES,
            e,
        ))
    });
    let location = ok_or_err(opt_text(
        obj.get("location_id"),
        &f("location_id"),
        MAX_TEXT_BYTES,
        e,
    ));
    let reason = ok_or_err(opt_text(obj.get("reason"), &f("reason"), MAX_TEXT_BYTES, e));
    SquareParts {
        customer: None,
        pm: None,
        brand,
        last4: None,
        status: token_status(raw),
        failure_code: None,
        failure_message: None,
        metadata: vec![
            meta_str("location_id", location),
            meta_str("payment_id", payment_id),
            meta_str("reason", reason),
        ],
    }
}

fn square_invoice_parts<'v>(
    obj: &'v Value<'v>,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> SquareParts<'v> {
    let raw = raw_status(obj, "status", f, e);
    let recipient = ok_or_err(opt_object(
        obj.get("primary_recipient"),
        &f("primary_recipient"),
        e,
    ));
    let customer = recipient.and_then(|r| {
        ok_or_err(opt_id(
            r.get("customer_id"),
            &f("primary_recipient.customer_id"),
            e,
        ))
    });
    SquareParts {
        customer,
        pm: None,
        brand: None,
        last4: None,
        status: token_status(raw),
        failure_code: None,
        failure_message: None,
        metadata: text_metadata(obj, f, &["invoice_number", "location_id", "order_id"], e),
    }
}

fn square_payout_parts<'v>(
    obj: &'v Value<'v>,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> SquareParts<'v> {
    let raw = raw_status(obj, "status", f, e);
    SquareParts {
        customer: None,
        pm: None,
        brand: None,
        last4: None,
        status: token_status(raw),
        failure_code: None,
        failure_message: None,
        metadata: text_metadata(obj, f, &["arrival_date", "location_id"], e),
    }
}

/// When the object was created, else when the event was (RFC 3339).
fn square_created(
    obj: &Value,
    root: &Value,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> Option<i64> {
    match rfc3339_field(obj.get("created_at"), &f("created_at"), e) {
        Ok(Some(ms)) => Some(ms),
        Ok(None) => match rfc3339_field(root.get("created_at"), "created_at", e) {
            Ok(Some(ms)) => Some(ms),
            Ok(None) => {
                missing_timestamp(&f("created_at"), e);
                None
            }
            Err(()) => None,
        },
        Err(()) => None,
    }
}

/// The object's id (disputes of older versions name it `dispute_id`).
fn square_object_id<'v>(
    kind: SquareKind,
    obj: &'v Value<'v>,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> Option<&'v str> {
    let v = match (kind, obj.get("id")) {
        (SquareKind::Dispute, None | Some(Value::Null)) => obj.get("dispute_id"),
        (_, v) => v,
    };
    req_id(v, &f("id"), code::MISSING_OBJECT_ID, e)
}

/// The event's money: an invoice's amount for this event, else the object's `amount_money`; checked
/// against the currency's maximum.
fn square_amount(
    kind: SquareKind,
    obj: &Value,
    t: &str,
    bounds: &AmountBounds,
    f: &dyn Fn(&str) -> String,
    e: &mut Errs,
) -> (Option<u64>, Option<(&'static str, u8)>) {
    let (amount, cur) = match kind {
        SquareKind::Invoice => square_invoice_amount(obj, t, f, e),
        _ => square_money(obj.get("amount_money"), &f("amount_money"), e),
    };
    if let (Some(a), Some((c, _))) = (amount, cur) {
        let field = match kind {
            SquareKind::Invoice => f("payment_requests"),
            _ => f("amount_money.amount"),
        };
        check_max(a, c, bounds, &field, e);
    }
    (amount, cur)
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
    let Ok((kind, obj)) = square_object(data, dtype, &mut e) else {
        return reject(rid, e);
    };
    let p = kind.name();
    let f = |s: &str| format!("data.object.{p}.{s}");
    let object_id = square_object_id(kind, obj, &f, &mut e);
    let (amount, cur) = square_amount(kind, obj, etype.unwrap_or(""), bounds, &f, &mut e);
    let merchant = ok_or_err(opt_id(root.get("merchant_id"), "merchant_id", &mut e));
    let parts = match kind {
        SquareKind::Payment => square_payment_parts(obj, &f, &mut e),
        SquareKind::Refund => square_refund_parts(obj, &f, &mut e),
        SquareKind::Dispute => square_dispute_parts(obj, &f, &mut e),
        SquareKind::Invoice => square_invoice_parts(obj, &f, &mut e),
        SquareKind::Payout => square_payout_parts(obj, &f, &mut e),
    };
    let created = square_created(obj, root, &f, &mut e);
    if !e.is_empty() {
        return reject(rid, e);
    }
    let t = etype.expect("checked");
    let state_key = if kind == SquareKind::Dispute {
        "state"
    } else {
        "status"
    };
    let event_type = square_event_type(t, obj.get(state_key).and_then(Value::as_str));
    Ok(Event {
        provider: Provider::Square,
        provider_event_id: Cow::Borrowed(id.expect("checked")),
        object_id: object_id.map(Cow::Borrowed),
        event_type: Cow::Borrowed(event_type),
        provider_event_type: Cow::Borrowed(t),
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: parts.customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: parts.pm,
        card_brand: parts.brand,
        card_last_four: parts.last4.map(Cow::Borrowed),
        status: if failed_by_type(event_type) {
            Cow::Borrowed("failed")
        } else {
            parts.status
        },
        failure_code: parts.failure_code,
        failure_message: parts.failure_message,
        metadata: parts.metadata,
        provider_created_at_ms: created.expect("checked"),
    })
}
