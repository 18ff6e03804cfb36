/**
 * The unified payment event (CONTRACT section 6, schema_version 1; its shape is @pep/contracts' UnifiedEvent) as the
 * workflow reads it, and the classification of an event as a successful payment, a failed payment or neither.
 * Workflow-safe: pure functions and a type-only import, no Node built-ins, no I/O (imported by workflows.ts, which
 * runs in Temporal's deterministic sandbox).
 */
import type { UnifiedEvent as NormalizedEvent } from '@pep/contracts';

/**
 * A unified event as read from Kafka without trusting it: the contract's fields, each null when absent or of the wrong
 * type (the business rules report those), except `event_id`, which every later step keys on.
 */
export type UnifiedEvent = {
  readonly [K in keyof NormalizedEvent]: K extends 'event_id'
    ? string
    : K extends 'metadata'
      ? Record<string, unknown>
      : K extends 'schema_version'
        ? number
        : K extends 'provider'
          ? string | null
          : NormalizedEvent[K] | null;
};

export type Outcome = 'succeeded' | 'failed' | 'other';

function s(v: unknown): string | null {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
}

/**
 * Reads a unified event from an untrusted JSON value without throwing: unknown fields are ignored, wrong types become
 * null (the business rules then report them). Throws only when there is no string `event_id`, the one field every
 * later step keys on; the bridge never starts a workflow without it.
 */
export function toUnifiedEvent(value: unknown): UnifiedEvent {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new TypeError('event must be a JSON object');
  const v = value as Record<string, unknown>;
  if (typeof v.event_id !== 'string' || v.event_id.trim() === '') throw new TypeError('event_id must be a string');
  const amount = v.amount_minor;
  const metadata = v.metadata;
  return {
    event_id: v.event_id,
    provider: s(v.provider),
    provider_event_id: s(v.provider_event_id),
    object_id: s(v.object_id),
    event_type: s(v.event_type),
    provider_event_type: s(v.provider_event_type),
    merchant_id: s(v.merchant_id),
    customer_id: s(v.customer_id),
    amount_minor: typeof amount === 'number' && Number.isFinite(amount) ? amount : null,
    currency: s(v.currency),
    payment_method_type: s(v.payment_method_type),
    card_brand: s(v.card_brand),
    card_last_four: s(v.card_last_four),
    status: s(v.status),
    failure_code: s(v.failure_code),
    failure_message: s(v.failure_message),
    metadata:
      metadata && typeof metadata === 'object' && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : {},
    provider_created_at: s(v.provider_created_at),
    received_at: s(v.received_at),
    normalized_at: s(v.normalized_at),
    schema_version: typeof v.schema_version === 'number' ? v.schema_version : 1,
  };
}

/**
 * Event types of the vocabulary (CONTRACT section 6, contracts EVENT_TYPES) that take the successful-payment path (fraud
 * score) and the failed-payment path (retry strategy). An invoice or subscription charge is a payment: its failure is
 * what the retry strategy and churn logic exist for. Refunds, disputes (of every provider alike), payouts and `other`
 * take neither. Names repeated from @pep/contracts on purpose: this file runs in the workflow sandbox, which must stay
 * free of modules that touch `process`; workflows/src/event.test.ts holds them equal to the contract.
 */
export const SUCCEEDED_TYPES: ReadonlySet<string> = new Set([
  'payment.succeeded',
  'payment.captured',
  'payment.authorized',
  'payment.settled',
  'invoice.paid',
]);
export const FAILED_TYPES: ReadonlySet<string> = new Set(['payment.failed', 'invoice.payment_failed']);
/** The whole vocabulary (contracts EVENT_TYPES). */
export const VOCABULARY: ReadonlySet<string> = new Set([
  'payment.authorized',
  'payment.captured',
  'payment.succeeded',
  'payment.failed',
  'payment.canceled',
  'payment.pending',
  'payment.requires_action',
  'payment.settled',
  'refund.created',
  'refund.succeeded',
  'refund.failed',
  'dispute.opened',
  'dispute.updated',
  'dispute.evidence_submitted',
  'dispute.won',
  'dispute.lost',
  'dispute.funds_withdrawn',
  'dispute.funds_reinstated',
  'invoice.paid',
  'invoice.payment_failed',
  'payout.paid',
  'payout.failed',
  'other',
]);

/** Statuses of a payment whose money did not move, whatever its type says (an event normalized before the vocabulary). */
const FAILED_STATUSES = new Set(['failed', 'declined', 'settlement_declined', 'refused', 'canceled_by_issuer']);

/** The rules for events normalized before the vocabulary (their types are the providers' own names). */
const LEGACY_SUCCESS_STATUSES = new Set([
  'succeeded',
  'captured',
  'authorized',
  'settled',
  'completed',
  'approved',
  'paid',
]);
const LEGACY_SUCCESS_TYPES = new Set(['charge.succeeded', 'charge.captured', 'subscription.charged']);
const LEGACY_FAILED_TYPES = new Set(['charge.failed', 'payment.settlement_declined', 'subscription.charge_failed']);

/**
 * Successful payment, failed payment or neither, by the event type; a payment type whose status says it failed is a
 * failure. Events of types outside the vocabulary (normalized before it) keep the earlier status-based rules, so
 * histories recorded before it replay unchanged.
 */
export function outcomeOf(e: Pick<UnifiedEvent, 'status' | 'event_type'>): Outcome {
  const status = (e.status ?? '').toLowerCase();
  const type = (e.event_type ?? '').toLowerCase();
  if (VOCABULARY.has(type)) {
    const isPayment = type.startsWith('payment.') || type.startsWith('invoice.');
    if (FAILED_TYPES.has(type) || (isPayment && FAILED_STATUSES.has(status))) return 'failed';
    return SUCCEEDED_TYPES.has(type) ? 'succeeded' : 'other';
  }
  // Before the vocabulary: status first, and only payment-like types can succeed.
  const nonPayment = /^(refund|dispute|payout|disbursement|report|merchant|check)\./.test(type);
  if (FAILED_STATUSES.has(status) || LEGACY_FAILED_TYPES.has(type)) return 'failed';
  if (!nonPayment && (LEGACY_SUCCESS_STATUSES.has(status) || LEGACY_SUCCESS_TYPES.has(type))) return 'succeeded';
  return 'other';
}
