/**
 * Each provider's fixed mapping table onto the event-type vocabulary: the twin of `crates/core/src/vocabulary.rs`.
 * The vocabulary itself is contracts' EVENT_TYPES (the twin has no copy); test/vocabulary.test.ts checks that the Rust
 * literals, these tables, contracts' EVENT_TYPES and the edge routing hold the same names.
 */

export const OTHER = 'other';

export const STRIPE_TYPES: readonly (readonly [string, string])[] = [
  ['payment_intent.succeeded', 'payment.succeeded'],
  ['payment_intent.payment_failed', 'payment.failed'],
  ['payment_intent.canceled', 'payment.canceled'],
  ['payment_intent.processing', 'payment.pending'],
  ['payment_intent.partially_funded', 'payment.pending'],
  ['payment_intent.requires_action', 'payment.requires_action'],
  ['payment_intent.amount_capturable_updated', 'payment.authorized'],
  ['charge.succeeded', 'payment.succeeded'],
  ['charge.failed', 'payment.failed'],
  ['charge.pending', 'payment.pending'],
  ['charge.captured', 'payment.captured'],
  ['charge.expired', 'payment.canceled'],
  ['charge.refunded', 'refund.succeeded'],
  ['charge.dispute.created', 'dispute.opened'],
  ['charge.dispute.updated', 'dispute.updated'],
  ['charge.dispute.funds_withdrawn', 'dispute.funds_withdrawn'],
  ['charge.dispute.funds_reinstated', 'dispute.funds_reinstated'],
  ['refund.created', 'refund.created'],
  ['refund.failed', 'refund.failed'],
  ['invoice.paid', 'invoice.paid'],
  ['invoice.payment_succeeded', 'invoice.paid'],
  ['invoice.payment_failed', 'invoice.payment_failed'],
  ['checkout.session.async_payment_succeeded', 'payment.succeeded'],
  ['checkout.session.async_payment_failed', 'payment.failed'],
  ['checkout.session.expired', 'payment.canceled'],
];

export const SQUARE_TYPES: readonly (readonly [string, string])[] = [
  ['refund.created', 'refund.created'],
  ['terminal.refund.created', 'refund.created'],
  ['dispute.created', 'dispute.opened'],
  ['dispute.evidence.created', 'dispute.evidence_submitted'],
  ['dispute.evidence.added', 'dispute.evidence_submitted'],
  ['dispute.evidence.file.created', 'dispute.evidence_submitted'],
  ['dispute.evidence.deleted', 'dispute.updated'],
  ['dispute.evidence.removed', 'dispute.updated'],
  ['invoice.payment_made', 'invoice.paid'],
  ['invoice.scheduled_charge_failed', 'invoice.payment_failed'],
  ['payout.paid', 'payout.paid'],
  ['payout.failed', 'payout.failed'],
];

export const ADYEN_TYPES: readonly (readonly [string, string, string])[] = [
  ['AUTHORISATION', 'payment.authorized', 'payment.failed'],
  ['AUTHORISATION_ADJUSTMENT', 'payment.authorized', 'other'],
  ['CAPTURE', 'payment.captured', 'payment.failed'],
  ['CAPTURE_FAILED', 'payment.failed', 'payment.failed'],
  ['CANCELLATION', 'payment.canceled', 'other'],
  ['TECHNICAL_CANCEL', 'payment.canceled', 'other'],
  ['CANCEL_OR_REFUND', 'payment.canceled', 'other'],
  ['EXPIRE', 'payment.canceled', 'other'],
  ['OFFER_CLOSED', 'payment.canceled', 'other'],
  ['PENDING', 'payment.pending', 'payment.failed'],
  ['REFUND', 'refund.succeeded', 'refund.failed'],
  ['REFUND_WITH_DATA', 'refund.succeeded', 'refund.failed'],
  ['POSTPONED_REFUND', 'refund.created', 'refund.failed'],
  ['REFUND_FAILED', 'refund.failed', 'refund.failed'],
  ['REFUNDED_REVERSED', 'refund.failed', 'refund.failed'],
  ['VOID_PENDING_REFUND', 'refund.failed', 'other'],
  ['REQUEST_FOR_INFORMATION', 'dispute.opened', 'dispute.opened'],
  ['NOTIFICATION_OF_CHARGEBACK', 'dispute.opened', 'dispute.opened'],
  ['CHARGEBACK', 'dispute.funds_withdrawn', 'dispute.funds_withdrawn'],
  ['SECOND_CHARGEBACK', 'dispute.funds_withdrawn', 'dispute.funds_withdrawn'],
  ['CHARGEBACK_REVERSED', 'dispute.funds_reinstated', 'dispute.funds_reinstated'],
  ['PREARBITRATION_WON', 'dispute.won', 'dispute.won'],
  ['PREARBITRATION_LOST', 'dispute.lost', 'dispute.lost'],
  ['INFORMATION_SUPPLIED', 'dispute.evidence_submitted', 'dispute.evidence_submitted'],
  ['DISPUTE_DEFENSE_PERIOD_ENDED', 'dispute.updated', 'dispute.updated'],
  ['ISSUER_COMMENTS', 'dispute.updated', 'dispute.updated'],
  ['ISSUER_RESPONSE_TIMEFRAME_EXPIRED', 'dispute.updated', 'dispute.updated'],
  ['PAYOUT_THIRDPARTY', 'payout.paid', 'payout.failed'],
  ['PAYOUT_DECLINE', 'payout.failed', 'payout.failed'],
  ['PAYOUT_EXPIRE', 'payout.failed', 'payout.failed'],
  ['PAIDOUT_REVERSED', 'payout.failed', 'payout.failed'],
];

export const BRAINTREE_TYPES: readonly (readonly [string, string])[] = [
  ['transaction_settled', 'payment.settled'],
  ['transaction_settlement_declined', 'payment.failed'],
  ['transaction_disbursed', 'other'],
  ['transaction_reviewed', 'other'],
  ['transaction_retried', 'payment.pending'],
  ['refund_failed', 'refund.failed'],
  ['subscription_charged_successfully', 'invoice.paid'],
  ['subscription_charged_unsuccessfully', 'invoice.payment_failed'],
  ['dispute_opened', 'dispute.opened'],
  ['dispute_under_review', 'dispute.updated'],
  ['dispute_disputed', 'dispute.evidence_submitted'],
  ['dispute_won', 'dispute.won'],
  ['dispute_lost', 'dispute.lost'],
  ['dispute_accepted', 'dispute.lost'],
  ['dispute_auto_accepted', 'dispute.lost'],
  ['dispute_expired', 'dispute.lost'],
  ['local_payment_completed', 'payment.succeeded'],
  ['local_payment_funded', 'payment.settled'],
  ['local_payment_expired', 'payment.canceled'],
  ['local_payment_reversed', 'payment.canceled'],
  ['disbursement', 'payout.paid'],
  ['disbursement_exception', 'payout.failed'],
];

export const CREDIT_TYPES: readonly (readonly [string, string])[] = [
  ['payment.settled', 'refund.succeeded'],
  ['payment.succeeded', 'refund.succeeded'],
  ['payment.failed', 'refund.failed'],
  ['payment.pending', 'refund.created'],
];

export function lookup(table: readonly (readonly [string, string])[], key: string): string | undefined {
  for (const [k, v] of table) if (k === key) return v;
  return undefined;
}

export function failedByType(eventType: string): boolean {
  return eventType === 'payment.failed' || eventType === 'invoice.payment_failed';
}
