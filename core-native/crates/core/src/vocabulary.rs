//! The event-type vocabulary (CONTRACT section 6) and each provider's fixed mapping table: the data half of the
//! mapping. The status-dependent rules (a Square payment by its status, a dispute closing won or lost, an Adyen code
//! that failed) are the `*_event_type` functions of each provider module, which fall back to these tables.
//! `src/vocabulary.ts` is the twin; `contracts/src/event-types.ts` holds the same vocabulary and the edge routing
//! derived from the tables' keys; `test/vocabulary.test.ts` reads this file and fails when any of them drift.

/// Every `event_type` a unified event can carry (the order of CONTRACT section 6).
pub const EVENT_TYPES: [&str; 23] = [
    "payment.authorized",
    "payment.captured",
    "payment.succeeded",
    "payment.failed",
    "payment.canceled",
    "payment.pending",
    "payment.requires_action",
    "payment.settled",
    "refund.created",
    "refund.succeeded",
    "refund.failed",
    "dispute.opened",
    "dispute.updated",
    "dispute.evidence_submitted",
    "dispute.won",
    "dispute.lost",
    "dispute.funds_withdrawn",
    "dispute.funds_reinstated",
    "invoice.paid",
    "invoice.payment_failed",
    "payout.paid",
    "payout.failed",
    "other",
];

/// A routed event whose type maps to no vocabulary name (the original stays in `provider_event_type`).
pub const OTHER: &str = "other";

/// Stripe types with one fixed vocabulary name. `charge.dispute.closed`, `refund.updated`,
/// `charge.refund.updated` and `checkout.session.completed` depend on the object (stripe_event_type).
pub const STRIPE_TYPES: &[(&str, &str)] = &[
    ("payment_intent.succeeded", "payment.succeeded"),
    ("payment_intent.payment_failed", "payment.failed"),
    ("payment_intent.canceled", "payment.canceled"),
    ("payment_intent.processing", "payment.pending"),
    ("payment_intent.partially_funded", "payment.pending"),
    ("payment_intent.requires_action", "payment.requires_action"),
    (
        "payment_intent.amount_capturable_updated",
        "payment.authorized",
    ),
    ("charge.succeeded", "payment.succeeded"),
    ("charge.failed", "payment.failed"),
    ("charge.pending", "payment.pending"),
    ("charge.captured", "payment.captured"),
    ("charge.expired", "payment.canceled"),
    ("charge.refunded", "refund.succeeded"),
    ("charge.dispute.created", "dispute.opened"),
    ("charge.dispute.updated", "dispute.updated"),
    ("charge.dispute.funds_withdrawn", "dispute.funds_withdrawn"),
    (
        "charge.dispute.funds_reinstated",
        "dispute.funds_reinstated",
    ),
    ("refund.created", "refund.created"),
    ("refund.failed", "refund.failed"),
    ("invoice.paid", "invoice.paid"),
    ("invoice.payment_succeeded", "invoice.paid"),
    ("invoice.payment_failed", "invoice.payment_failed"),
    (
        "checkout.session.async_payment_succeeded",
        "payment.succeeded",
    ),
    ("checkout.session.async_payment_failed", "payment.failed"),
    ("checkout.session.expired", "payment.canceled"),
];

/// Square types with one fixed vocabulary name. Payments, refund updates and dispute state changes depend on the
/// object's status (square_event_type).
pub const SQUARE_TYPES: &[(&str, &str)] = &[
    ("refund.created", "refund.created"),
    ("terminal.refund.created", "refund.created"),
    ("dispute.created", "dispute.opened"),
    ("dispute.evidence.created", "dispute.evidence_submitted"),
    ("dispute.evidence.added", "dispute.evidence_submitted"),
    (
        "dispute.evidence.file.created",
        "dispute.evidence_submitted",
    ),
    ("dispute.evidence.deleted", "dispute.updated"),
    ("dispute.evidence.removed", "dispute.updated"),
    ("invoice.payment_made", "invoice.paid"),
    ("invoice.scheduled_charge_failed", "invoice.payment_failed"),
    ("payout.paid", "payout.paid"),
    ("payout.failed", "payout.failed"),
];

/// Adyen eventCode → (type when `success` is true, type when it is false). `CANCEL_OR_REFUND` is a refund when
/// `additionalData.modification.action` says so (adyen_event_type). The codes are the edge's routed codes.
pub const ADYEN_TYPES: &[(&str, &str, &str)] = &[
    ("AUTHORISATION", "payment.authorized", "payment.failed"),
    ("AUTHORISATION_ADJUSTMENT", "payment.authorized", "other"),
    ("CAPTURE", "payment.captured", "payment.failed"),
    ("CAPTURE_FAILED", "payment.failed", "payment.failed"),
    ("CANCELLATION", "payment.canceled", "other"),
    ("TECHNICAL_CANCEL", "payment.canceled", "other"),
    ("CANCEL_OR_REFUND", "payment.canceled", "other"),
    ("EXPIRE", "payment.canceled", "other"),
    ("OFFER_CLOSED", "payment.canceled", "other"),
    ("PENDING", "payment.pending", "payment.failed"),
    ("REFUND", "refund.succeeded", "refund.failed"),
    ("REFUND_WITH_DATA", "refund.succeeded", "refund.failed"),
    ("POSTPONED_REFUND", "refund.created", "refund.failed"),
    ("REFUND_FAILED", "refund.failed", "refund.failed"),
    ("REFUNDED_REVERSED", "refund.failed", "refund.failed"),
    ("VOID_PENDING_REFUND", "refund.failed", "other"),
    (
        "REQUEST_FOR_INFORMATION",
        "dispute.opened",
        "dispute.opened",
    ),
    (
        "NOTIFICATION_OF_CHARGEBACK",
        "dispute.opened",
        "dispute.opened",
    ),
    (
        "CHARGEBACK",
        "dispute.funds_withdrawn",
        "dispute.funds_withdrawn",
    ),
    (
        "SECOND_CHARGEBACK",
        "dispute.funds_withdrawn",
        "dispute.funds_withdrawn",
    ),
    (
        "CHARGEBACK_REVERSED",
        "dispute.funds_reinstated",
        "dispute.funds_reinstated",
    ),
    ("PREARBITRATION_WON", "dispute.won", "dispute.won"),
    ("PREARBITRATION_LOST", "dispute.lost", "dispute.lost"),
    (
        "INFORMATION_SUPPLIED",
        "dispute.evidence_submitted",
        "dispute.evidence_submitted",
    ),
    (
        "DISPUTE_DEFENSE_PERIOD_ENDED",
        "dispute.updated",
        "dispute.updated",
    ),
    ("ISSUER_COMMENTS", "dispute.updated", "dispute.updated"),
    (
        "ISSUER_RESPONSE_TIMEFRAME_EXPIRED",
        "dispute.updated",
        "dispute.updated",
    ),
    ("PAYOUT_THIRDPARTY", "payout.paid", "payout.failed"),
    ("PAYOUT_DECLINE", "payout.failed", "payout.failed"),
    ("PAYOUT_EXPIRE", "payout.failed", "payout.failed"),
    ("PAIDOUT_REVERSED", "payout.failed", "payout.failed"),
];

/// Braintree kind → type. A `credit` transaction turns payment types into refund types (braintree_event_type).
/// The kinds are the edge's routed kinds.
pub const BRAINTREE_TYPES: &[(&str, &str)] = &[
    ("transaction_settled", "payment.settled"),
    ("transaction_settlement_declined", "payment.failed"),
    ("transaction_disbursed", "other"),
    ("transaction_reviewed", "other"),
    ("transaction_retried", "payment.pending"),
    ("refund_failed", "refund.failed"),
    ("subscription_charged_successfully", "invoice.paid"),
    (
        "subscription_charged_unsuccessfully",
        "invoice.payment_failed",
    ),
    ("dispute_opened", "dispute.opened"),
    ("dispute_under_review", "dispute.updated"),
    ("dispute_disputed", "dispute.evidence_submitted"),
    ("dispute_won", "dispute.won"),
    ("dispute_lost", "dispute.lost"),
    ("dispute_accepted", "dispute.lost"),
    ("dispute_auto_accepted", "dispute.lost"),
    ("dispute_expired", "dispute.lost"),
    ("local_payment_completed", "payment.succeeded"),
    ("local_payment_funded", "payment.settled"),
    ("local_payment_expired", "payment.canceled"),
    ("local_payment_reversed", "payment.canceled"),
    ("disbursement", "payout.paid"),
    ("disbursement_exception", "payout.failed"),
];

/// The payment types a `credit` (money back to the customer) turns into.
pub const CREDIT_TYPES: &[(&str, &str)] = &[
    ("payment.settled", "refund.succeeded"),
    ("payment.succeeded", "refund.succeeded"),
    ("payment.failed", "refund.failed"),
    ("payment.pending", "refund.created"),
];

/// The value of `key` in a two-column table.
pub fn lookup(table: &[(&str, &'static str)], key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Types whose status is `failed` whatever the object's own status says (a failed PaymentIntent goes back to
/// `requires_payment_method`, an invoice whose charge failed stays `open`/`unpaid`): the event says what happened.
pub fn failed_by_type(event_type: &str) -> bool {
    matches!(event_type, "payment.failed" | "invoice.payment_failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_maps_into_the_vocabulary() {
        let known = |t: &str| EVENT_TYPES.contains(&t);
        for (k, v) in STRIPE_TYPES
            .iter()
            .chain(SQUARE_TYPES)
            .chain(BRAINTREE_TYPES)
            .chain(CREDIT_TYPES)
        {
            assert!(known(v), "{k} → {v}");
        }
        for (k, ok, failed) in ADYEN_TYPES {
            assert!(known(ok) && known(failed), "{k}");
        }
        for t in CREDIT_TYPES.iter().flat_map(|(a, b)| [a, b]) {
            assert!(known(t), "{t}");
        }
    }

    #[test]
    fn keys_are_unique() {
        for table in [STRIPE_TYPES, SQUARE_TYPES, BRAINTREE_TYPES, CREDIT_TYPES] {
            let mut keys: Vec<&str> = table.iter().map(|(k, _)| *k).collect();
            keys.sort_unstable();
            keys.dedup();
            assert_eq!(keys.len(), table.len());
        }
        let mut codes: Vec<&str> = ADYEN_TYPES.iter().map(|(k, _, _)| *k).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ADYEN_TYPES.len());
    }
}
