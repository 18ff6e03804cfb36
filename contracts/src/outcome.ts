/**
 * Classification of a unified event (CONTRACT section 6) as a successful payment, a failed payment or neither, shared
 * by the workflows (which score and persist by it) and ml/ (whose features and labels count attempts by it), so the
 * two cannot disagree. Pure: no Node built-ins (the Temporal workflow sandbox imports it).
 */

export type Outcome = 'succeeded' | 'failed' | 'other';

/** Statuses of money that moved or is reserved: Stripe succeeded, Adyen authorised/captured, Braintree settled, Square completed/approved. */
const SUCCESS_STATUSES = new Set(['succeeded', 'captured', 'authorized', 'settled', 'completed', 'approved', 'paid']);
const SUCCESS_TYPES = new Set([
  'payment.succeeded',
  'payment.captured',
  'payment.authorized',
  'payment.settled',
  'charge.succeeded',
  'charge.captured',
  'subscription.charged',
]);
const FAILED_STATUSES = new Set(['failed', 'declined', 'settlement_declined', 'refused', 'canceled_by_issuer']);
const FAILED_TYPES = new Set([
  'payment.failed',
  'charge.failed',
  'payment.settlement_declined',
  'subscription.charge_failed',
]);

/**
 * Successful payment: a payment event (not a refund, dispute or payout) whose status or type says money moved or is
 * authorised. Adyen `authorized` and Braintree `settled` count (the original scored neither).
 */
export function outcomeOf(e: { readonly status: string | null; readonly event_type: string | null }): Outcome {
  const status = (e.status ?? '').toLowerCase();
  const type = (e.event_type ?? '').toLowerCase();
  const nonPayment = /^(refund|dispute|payout|disbursement|report|merchant|check)\./.test(type);
  if (FAILED_STATUSES.has(status) || FAILED_TYPES.has(type)) return 'failed';
  if (!nonPayment && (SUCCESS_STATUSES.has(status) || SUCCESS_TYPES.has(type))) return 'succeeded';
  return 'other';
}
