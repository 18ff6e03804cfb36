//! Braintree notifications (the SDK's `<notification>` XML in the signed form body). Units:
//! `braintree_event_type` (the type rule), `bt_from_xml` (the XML into a `BtNote`), `bt_amount` (which amount and currency the
//! notification carries), `braintree_status`, `braintree_kind`, `bt_ids`, `bt_created`, `bt_last_four`, `bt_fields`,
//! `braintree_event_id`, `braintree_failure`, `bt_object_id`, `braintree_metadata`, then `braintree` assembles the event.

use super::*;
use crate::currency::AmountBounds;
use crate::model::Provider;
use crate::vocabulary::{failed_by_type, lookup, BRAINTREE_TYPES, CREDIT_TYPES, OTHER};
use crate::xml;

/// The vocabulary type of a Braintree notification: BRAINTREE_TYPES by kind, else `other`; a
/// `credit` transaction (money back to the customer) turns a payment type into a refund type.
pub fn braintree_event_type(kind: &str, txn_type: Option<&str>) -> &'static str {
    let t = lookup(BRAINTREE_TYPES, kind).unwrap_or(OTHER);
    if txn_type == Some("credit") {
        if let Some(r) = lookup(CREDIT_TYPES, t) {
            return r;
        }
    }
    t
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
    /// Id of another subject (disbursement, local payment, merchant account) for event ids.
    pub subject_id: Option<Cow<'v, str>>,
    /// A subject's own amount and currency (a disbursement's total).
    pub subject_amount: Option<Cow<'v, str>>,
    pub subject_currency: Option<Cow<'v, str>>,
    /// `transaction_reviewed`: the reviewed transaction and the decision (the review carries no amount).
    pub review_txn_id: Option<Cow<'v, str>>,
    pub review_decision: Option<Cow<'v, str>>,
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
            "transaction-review" => {
                n.review_txn_id = own(s.child_text("transaction-id"));
                n.review_decision = own(s.child_text("decision"));
            }
            "disbursement" => {
                n.subject_id = own(s.child_text("id"));
                n.subject_amount = own(s.child_text("amount"));
                n.subject_currency = own(s
                    .child("merchant-account")
                    .and_then(|m| m.child_raw_text("currency-iso-code")));
            }
            name if name.starts_with("local-payment") => {
                n.subject_id = own(s.child_text("payment-id"));
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

/// The notification's money: the transaction's amount, else the dispute's, else the subject's own
/// (a disbursement's total, in its merchant account's currency); a notification with none of them
/// (a review, an expired local payment) carries no money and is 0.
fn bt_amount(
    n: &BtNote,
    t: &BtTxn,
    has_txn: bool,
    bounds: &AmountBounds,
    e: &mut Errs,
) -> (Option<u64>, Option<(&'static str, u8)>) {
    let t_amount = bt_text(&t.amount, "transaction.amount", 64, e);
    let d_amount = bt_text(&n.dispute_amount, "dispute.amount", 64, e);
    let s_amount = bt_text(&n.subject_amount, "subject.amount", 64, e);
    let (amount_s, af) = match (t_amount, d_amount, s_amount) {
        (Some(a), _, _) => (Some(a), "transaction.amount"),
        (None, Some(a), _) => (Some(a), "dispute.amount"),
        (None, None, Some(a)) => (Some(a), "subject.amount"),
        (None, None, None) => (None, "transaction.amount"),
    };
    // No default currency for money (issue 13: an empty currency became USD and `usd ` became USD,
    // money the notification never stated): a currency Braintree sends is exactly its 3 uppercase
    // letters, and an amount without one is refused. Only a notification that carries no amount at
    // all (a check, a review, an expired local payment: amount 0) gets USD, where no money is stated.
    let t_cur = bt_currency(&t.currency, "transaction.currency_iso_code", e);
    let d_cur = bt_currency(&n.dispute_currency, "dispute.currency_iso_code", e);
    let s_cur = bt_currency(&n.subject_currency, "subject.currency_iso_code", e);
    let cur = match (t_cur, d_cur, s_cur) {
        (Err(()), _, _) | (_, Err(()), _) | (_, _, Err(())) => None,
        (Ok(Some(c)), _, _) => currency(Some(&Value::Str(c)), "transaction.currency_iso_code", e),
        (Ok(None), Ok(Some(c)), _) => {
            currency(Some(&Value::Str(c)), "dispute.currency_iso_code", e)
        }
        (Ok(None), Ok(None), Ok(Some(c))) => {
            currency(Some(&Value::Str(c)), "subject.currency_iso_code", e)
        }
        (Ok(None), Ok(None), Ok(None)) if amount_s.is_some() || has_txn => {
            e.push(
                "transaction.currency_iso_code",
                code::INVALID_CURRENCY,
                "currency is required with an amount (no default currency is assumed)",
            );
            None
        }
        (Ok(None), Ok(None), Ok(None)) => crate::currency::lookup("USD"),
    };
    let amount = match (amount_s, cur) {
        (Some(s), Some((_, exp))) => decimal_amount(s, exp, af, e),
        (Some(_), None) => None,
        (None, _) if has_txn => {
            e.push(af, code::INVALID_AMOUNT, "amount is required");
            None
        }
        (None, _) => Some(0),
    };
    if let (Some(a), Some((c, _))) = (amount, cur) {
        check_max(a, c, bounds, af, e);
    }
    (amount, cur)
}

/// The event's status: by kind where the kind says it, else by the transaction's status, else the
/// kind itself; `failed` whenever the type is a failed payment.
fn braintree_status<'a>(k: &str, txn_status: Option<&'a str>, event_type: &str) -> Cow<'a, str> {
    if failed_by_type(event_type) {
        return Cow::Borrowed("failed");
    }
    match braintree_kind_status(k) {
        Some(s) => Cow::Borrowed(s),
        None => match txn_status {
            Some(s) => or_token(braintree_txn_status(s), s).unwrap_or(Cow::Borrowed("unknown")),
            None => Cow::Owned(token(k).unwrap_or_else(|| "unknown".to_owned())),
        },
    }
}

/// The notification's kind: required, and a valid type.
fn braintree_kind<'a>(n: &'a BtNote, e: &mut Errs) -> Option<&'a str> {
    match bt_text(&n.kind, "kind", MAX_TEXT_BYTES, e) {
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
    }
}

/// The ids a notification can carry.
struct BtIds<'a> {
    /// The transaction's, else the reviewed transaction's.
    txn: Option<&'a str>,
    dispute: Option<&'a str>,
    subscription: Option<&'a str>,
    /// Any other subject's (a disbursement, an account updater report, a local payment).
    subject: Option<&'a str>,
}

/// Reads the ids; a `transaction_*` notification needs a transaction id.
fn bt_ids<'a>(n: &'a BtNote, t: &'a BtTxn, kind: Option<&str>, e: &mut Errs) -> BtIds<'a> {
    let txn_id = bt_id(&t.id, "transaction.id", e);
    let review_id = ok_or_err(bt_id(
        &n.review_txn_id,
        "transaction_review.transaction_id",
        e,
    ));
    if kind.is_some_and(|k| k.starts_with("transaction_"))
        && txn_id == Ok(None)
        && review_id.is_none()
    {
        e.push(
            "transaction.id",
            code::MISSING_TRANSACTION_ID,
            "is required for transaction notifications",
        );
    }
    BtIds {
        txn: ok_or_err(txn_id).or(review_id),
        dispute: ok_or_err(bt_id(&n.dispute_id, "dispute.id", e)),
        subscription: ok_or_err(bt_id(&n.subscription_id, "subscription.id", e)),
        subject: ok_or_err(bt_id(&n.subject_id, "subject.id", e)),
    }
}

/// When the notification was sent: `timestamp` (RFC 3339), required.
fn bt_created(n: &BtNote, e: &mut Errs) -> Option<i64> {
    match bt_text(&n.timestamp, "timestamp", 64, e) {
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
            missing_timestamp("timestamp", e);
            None
        }
    }
}

/// The card's last four digits: exactly 4 digits when present.
fn bt_last_four<'a>(t: &'a BtTxn, e: &mut Errs) -> Option<&'a str> {
    match bt_text(
        &t.last4,
        "transaction.card_details.last_4",
        MAX_TEXT_BYTES,
        e,
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
    }
}

/// The transaction's and the subject's other fields.
struct BtFields<'a> {
    merchant: Option<&'a str>,
    customer: Option<&'a str>,
    txn_status: Option<&'a str>,
    txn_type: Option<&'a str>,
    instrument: Option<&'a str>,
    card_type: Option<&'a str>,
    last4: Option<&'a str>,
    sub_status: Option<&'a str>,
    plan_id: Option<&'a str>,
    dispute_status: Option<&'a str>,
    dispute_reason: Option<&'a str>,
    review_decision: Option<&'a str>,
}

/// Reads the other fields, in the order their errors are reported.
#[inline]
fn bt_fields<'a>(n: &'a BtNote, t: &'a BtTxn, e: &mut Errs) -> BtFields<'a> {
    BtFields {
        merchant: ok_or_err(bt_id(
            &t.merchant_account_id,
            "transaction.merchant_account_id",
            e,
        )),
        customer: ok_or_err(bt_id(&t.customer_id, "transaction.customer_id", e)),
        txn_status: bt_text(&t.status, "transaction.status", MAX_CODE_BYTES, e),
        txn_type: bt_text(&t.kind, "transaction.type", MAX_CODE_BYTES, e),
        instrument: bt_text(
            &t.instrument,
            "transaction.payment_instrument_type",
            MAX_CODE_BYTES,
            e,
        ),
        card_type: bt_text(
            &t.card_type,
            "transaction.card_details.card_type",
            MAX_CODE_BYTES,
            e,
        ),
        last4: bt_last_four(t, e),
        sub_status: bt_text(
            &n.subscription_status,
            "subscription.status",
            MAX_CODE_BYTES,
            e,
        ),
        plan_id: bt_text(&n.plan_id, "subscription.plan_id", MAX_TEXT_BYTES, e),
        dispute_status: bt_text(&n.dispute_status, "dispute.status", MAX_CODE_BYTES, e),
        dispute_reason: bt_text(&n.dispute_reason, "dispute.reason", MAX_TEXT_BYTES, e),
        review_decision: bt_text(
            &n.review_decision,
            "transaction_review.decision",
            MAX_TEXT_BYTES,
            e,
        ),
    }
}

/// The event id: `<kind>_<subject id>`, else `<kind>_<timestamp>` for a notification without one.
fn braintree_event_id<'a>(
    kind: Option<&str>,
    ids: &BtIds,
    created: Option<i64>,
) -> Option<Cow<'a, str>> {
    let subject = ids.txn.or(ids.dispute).or(ids.subscription).or(ids.subject);
    match (kind, subject) {
        (Some(k), Some(s)) => Some(Cow::Owned(format!("{k}_{s}"))),
        (Some(k), None) => created.map(|ms| Cow::Owned(format!("{k}_{}", time::iso(ms)))),
        _ => None,
    }
}

/// Failure code and message of a failed event: the transaction's status.
fn braintree_failure<'a>(
    status: &str,
    txn_status: Option<&'a str>,
) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>) {
    if status != "failed" {
        return (None, None);
    }
    let c = txn_status.unwrap_or("unknown");
    (
        Some(Cow::Borrowed(c)),
        Some(Cow::Owned(format!("Transaction {c}"))),
    )
}

/// A dispute is its own object; a subscription charge belongs to the subscription (the retry
/// strategy counts a subscription's failed charges); else the transaction.
fn bt_object_id<'a>(k: &str, ids: &BtIds<'a>) -> Option<&'a str> {
    if k.starts_with("dispute") {
        ids.dispute.or(ids.txn)
    } else if k.starts_with("subscription") {
        ids.subscription.or(ids.txn)
    } else {
        ids.txn.or(ids.dispute)
    }
    .or(ids.subscription)
    .or(ids.subject)
}

/// The notification's metadata, sorted by key.
fn braintree_metadata<'a>(
    k: &'a str,
    ids: &BtIds<'a>,
    f: &BtFields<'a>,
) -> Vec<(Cow<'a, str>, Meta<'a>)> {
    vec![
        meta_str("dispute_id", ids.dispute),
        meta_str("dispute_reason", f.dispute_reason),
        meta_str("dispute_status", f.dispute_status),
        // The disputed payment's transaction id (the dispute's own id is the object id).
        meta_str(
            "dispute_transaction_id",
            if k.starts_with("dispute") {
                ids.txn
            } else {
                None
            },
        ),
        meta_str("kind", Some(k)),
        meta_str("plan_id", f.plan_id),
        meta_str("review_decision", f.review_decision),
        meta_str("subscription_id", ids.subscription),
        meta_str("subscription_status", f.sub_status),
        meta_str("transaction_type", f.txn_type),
    ]
}

pub fn braintree<'v>(n: &'v BtNote<'v>, bounds: &AmountBounds, mut e: Errs) -> Outcome<'v> {
    let kind = braintree_kind(n, &mut e);
    let txn = n.txn.as_ref();
    let t = txn.unwrap_or(&EMPTY_TXN);
    let ids = bt_ids(n, t, kind, &mut e);
    let created = bt_created(n, &mut e);
    let (amount, cur) = bt_amount(n, t, txn.is_some(), bounds, &mut e);
    let f = bt_fields(n, t, &mut e);
    let rid = braintree_event_id(kind, &ids, created);
    if !e.is_empty() {
        return reject(rid, e);
    }
    let k = kind.expect("checked");
    let event_type = braintree_event_type(k, f.txn_type);
    let status = braintree_status(k, f.txn_status, event_type);
    let (failure_code, failure_message) = braintree_failure(&status, f.txn_status);
    Ok(Event {
        provider: Provider::Braintree,
        provider_event_id: rid.expect("checked"),
        object_id: bt_object_id(k, &ids).map(Cow::Borrowed),
        event_type: Cow::Borrowed(event_type),
        provider_event_type: Cow::Borrowed(k),
        merchant_id: f.merchant.map(Cow::Borrowed),
        customer_id: f.customer.map(Cow::Borrowed),
        amount_minor: amount.expect("checked"),
        currency: cur.expect("checked").0,
        payment_method_type: f
            .instrument
            .and_then(|i| or_token(braintree_instrument(i), i)),
        card_brand: f.card_type.and_then(card_brand),
        card_last_four: f.last4.map(Cow::Borrowed),
        status,
        failure_code,
        failure_message,
        metadata: braintree_metadata(k, &ids, &f),
        provider_created_at_ms: created.expect("checked"),
    })
}
