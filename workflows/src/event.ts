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
export function outcomeOf(e: Pick<UnifiedEvent, 'status' | 'event_type'>): Outcome {
  const status = (e.status ?? '').toLowerCase();
  const type = (e.event_type ?? '').toLowerCase();
  const nonPayment = /^(refund|dispute|payout|disbursement|report|merchant|check)\./.test(type);
  if (FAILED_STATUSES.has(status) || FAILED_TYPES.has(type)) return 'failed';
  if (!nonPayment && (SUCCESS_STATUSES.has(status) || SUCCESS_TYPES.has(type))) return 'succeeded';
  return 'other';
}
