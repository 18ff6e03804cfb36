//! Adyen standard notifications (`{live, notificationItems:[{NotificationRequestItem}]}`), one
//! event per item. Units: `adyen_event_type` (the type rule), `adyen_items` (the envelope),
//! `adyen_failure_code`, `adyen_operations`, then `adyen_item` assembles one item's event.
//! Whole-body notifications (`{type, data}`, e.g. ACH notification of change) carry no payment and
//! are kept in `webhooks.adyen.other` by the edge; they never reach this module.

use super::*;
use crate::currency::AmountBounds;
use crate::model::Provider;
use crate::vocabulary::{failed_by_type, ADYEN_TYPES, OTHER};

/// The vocabulary type of an Adyen item: ADYEN_TYPES by code and `success`; a CANCEL_OR_REFUND that
/// refunded (`additionalData.modification.action` = `refund`) is a refund; an unmapped code is `other`.
pub fn adyen_event_type(c: &str, success: bool, modification_action: Option<&str>) -> &'static str {
    if c == "CANCEL_OR_REFUND" && success && modification_action == Some("refund") {
        return "refund.succeeded";
    }
    match ADYEN_TYPES.iter().find(|(k, _, _)| *k == c) {
        Some((_, ok, _)) if success => ok,
        Some((_, _, failed)) => failed,
        None => OTHER,
    }
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

/// The item's `operations` (names like CAPTURE) as a metadata list.
fn adyen_operations<'v>(v: Option<&'v Value<'v>>, e: &mut Errs) -> Meta<'v> {
    match v {
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
    }
}

/// The event id of an item: `<pspReference>_<eventCode>` (one payment has an item per event code).
fn adyen_event_id<'v>(psp: Option<&'v str>, ecode: Option<&'v str>) -> Option<Cow<'v, str>> {
    match (psp, ecode) {
        (Some(p), Some(c)) => Some(Cow::Owned(format!("{p}_{c}"))),
        (Some(p), None) => Some(Cow::Borrowed(p)),
        _ => None,
    }
}

/// What an item says besides its ids and money, read in the order its errors are reported.
struct AdyenFields<'v> {
    success: Option<bool>,
    live: Option<bool>,
    reason: Option<&'v str>,
    /// `paymentMethod`, lowercased.
    method: Option<Cow<'v, str>>,
    additional: Option<&'v Value<'v>>,
    last4: Option<&'v str>,
    customer: Option<&'v str>,
    original_ref: Option<&'v str>,
    merchant_ref: Option<&'v str>,
    operations: Meta<'v>,
}

/// Reads an item's flags, reason, payment method, `additionalData`, references and operations.
#[inline]
fn adyen_fields<'v>(
    item: &'v Value<'v>,
    live: Option<&'v Value<'v>>,
    e: &mut Errs,
) -> AdyenFields<'v> {
    let success = adyen_bool(item.get("success"), "success", true, e);
    let live = adyen_bool(live.or_else(|| item.get("live")), "live", false, e);
    let reason = ok_or_err(opt_text(item.get("reason"), "reason", MAX_TEXT_BYTES, e));
    let method = ok_or_err(opt_text(
        item.get("paymentMethod"),
        "paymentMethod",
        MAX_CODE_BYTES,
        e,
    ))
    .map(lower);
    let additional = ok_or_err(opt_object(item.get("additionalData"), "additionalData", e));
    // cardBin is deliberately ignored: a BIN is not a brand (reference gap G14).
    let last4 = additional.and_then(|a| {
        ok_or_err(last_four(
            a.get("cardSummary"),
            "additionalData.cardSummary",
            e,
        ))
    });
    let customer = additional.and_then(|a| {
        ok_or_err(opt_id(
            a.get("shopperReference"),
            "additionalData.shopperReference",
            e,
        ))
    });
    let original_ref = ok_or_err(opt_text(
        item.get("originalReference"),
        "originalReference",
        MAX_TEXT_BYTES,
        e,
    ));
    let merchant_ref = ok_or_err(opt_text(
        item.get("merchantReference"),
        "merchantReference",
        MAX_TEXT_BYTES,
        e,
    ));
    let operations = adyen_operations(item.get("operations"), e);
    AdyenFields {
        success,
        live,
        reason,
        method,
        additional,
        last4,
        customer,
        original_ref,
        merchant_ref,
        operations,
    }
}

/// When the event happened: `eventDate` (RFC 3339), required.
fn adyen_created(item: &Value, e: &mut Errs) -> Option<i64> {
    match rfc3339_field(item.get("eventDate"), "eventDate", e) {
        Ok(Some(ms)) => Some(ms),
        Ok(None) => {
            missing_timestamp("eventDate", e);
            None
        }
        Err(()) => None,
    }
}

/// The item's status: `failed` when it did not succeed or its type is a failed payment, else a word
/// of its event code.
fn adyen_item_status<'a>(c: &'a str, success: bool, event_type: &str) -> Cow<'a, str> {
    if !success || failed_by_type(event_type) {
        Cow::Borrowed("failed")
    } else {
        or_token(adyen_status(c), c).expect("a valid type is a valid token")
    }
}

/// Failure code and message of an unsuccessful item with a reason.
fn adyen_failure(
    success: bool,
    reason: Option<&str>,
) -> (Option<Cow<'static, str>>, Option<Cow<'_, str>>) {
    match (success, reason) {
        (false, Some(r)) => (
            Some(Cow::Borrowed(adyen_failure_code(r))),
            Some(Cow::Borrowed(r)),
        ),
        _ => (None, None),
    }
}

/// Payment method type and card brand of a (lowercased) `paymentMethod`.
fn adyen_payment_method(
    method: Option<&str>,
) -> (Option<Cow<'static, str>>, Option<Cow<'static, str>>) {
    let pm = method
        .and_then(|m| or_token(adyen_method(m), m))
        .map(|c| Cow::Owned(c.into_owned()));
    let brand = method.and_then(adyen_card_brand).map(Cow::Borrowed);
    (pm, brand)
}

/// The item's metadata, sorted by key.
fn adyen_metadata<'v>(f: AdyenFields<'v>) -> Vec<(Cow<'v, str>, Meta<'v>)> {
    vec![
        (Cow::Borrowed("live"), Meta::Bool(f.live.expect("checked"))),
        meta_str("merchant_reference", f.merchant_ref),
        (Cow::Borrowed("operations"), f.operations),
        meta_str("original_reference", f.original_ref),
    ]
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
    let rid = adyen_event_id(psp, ecode);
    let merchant = req_id(
        item.get("merchantAccountCode"),
        "merchantAccountCode",
        code::MISSING_MERCHANT_ACCOUNT,
        &mut e,
    );
    let money = ok_or_err(opt_object(item.get("amount"), "amount", &mut e));
    let (amount, cur) = bounded_money(
        money.and_then(|m| m.get("value")),
        "amount.value",
        money.and_then(|m| m.get("currency")),
        "amount.currency",
        bounds,
        &mut e,
    );
    let f = adyen_fields(item, live, &mut e);
    let created = adyen_created(item, &mut e);
    if !e.is_empty() {
        return reject(rid, e);
    }
    let c = ecode.expect("checked");
    let success = f.success.expect("checked");
    let action = f
        .additional
        .and_then(|a| a.get("modification.action"))
        .and_then(Value::as_str);
    let event_type = adyen_event_type(c, success, action);
    let (failure_code, failure_message) = adyen_failure(success, f.reason);
    let (pm, brand) = adyen_payment_method(f.method.as_deref());
    Ok(Event {
        provider: Provider::Adyen,
        provider_event_id: rid.expect("checked"),
        object_id: psp.map(Cow::Borrowed),
        event_type: Cow::Borrowed(event_type),
        provider_event_type: Cow::Borrowed(c),
        merchant_id: merchant.map(Cow::Borrowed),
        customer_id: f.customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: pm,
        card_brand: brand,
        card_last_four: f.last4.map(Cow::Borrowed),
        status: adyen_item_status(c, success, event_type),
        failure_code,
        failure_message,
        metadata: adyen_metadata(f),
        provider_created_at_ms: created.expect("checked"),
    })
}
