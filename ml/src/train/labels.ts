/**
 * Labels from outcomes only, never from our own scores (the original trained on labels drawn from its mock scores):
 * - fraud: a successful payment is positive when a dispute that names it arrives later (within the horizon). A
 *   dispute names its payment through what the provider sends: Stripe's `charge`/`payment_intent`
 *   (metadata.linked_*), Adyen's `originalReference`, Braintree's disputed transaction id. Square sends no dispute
 *   notification we can see, so Square payments are left out of fraud training and evaluation.
 * - churn: a failed payment of a customer is positive when that customer makes no successful payment within the
 *   horizon after it (failed, then abandoned).
 * Payments too recent for their horizon to have passed are left out (their label is not known yet).
 * The simulator's ground-truth side file is never read here (only by evaluation scripts).
 */
import { outcomeOf } from '@pep/contracts/outcome';

export interface LoggedEvent {
  readonly event_id: string;
  readonly atMs: number;
  readonly json: string;
  readonly ev: Record<string, unknown>;
  /**
   * Per entity, the time (epoch µs) of the feature row serving saw for this event, as the processor logged it
   * (null: the event has no such entity). Training asks Feast as of these times.
   */
  readonly featureTimesUs?: Readonly<Partial<Record<'customer' | 'merchant' | 'payment_method', number | null>>>;
}

export interface Example {
  readonly event: LoggedEvent;
  readonly label: 0 | 1;
}

const DAY_MS = 86_400_000;
export const FRAUD_HORIZON_MS = 30 * DAY_MS;
export const CHURN_HORIZON_MS = 14 * DAY_MS;
/** Providers whose dispute notifications name the disputed payment. */
export const FRAUD_LABEL_PROVIDERS: ReadonlySet<string> = new Set(['stripe', 'adyen', 'braintree']);

const s = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const isDispute = (ev: Record<string, unknown>) => (s(ev.event_type) ?? '').startsWith('dispute.');
const outcome = (ev: Record<string, unknown>) => outcomeOf({ status: s(ev.status), event_type: s(ev.event_type) });

/** The payment object ids a dispute names, as `<provider>:<object id>`. */
export function disputedPayments(ev: Record<string, unknown>): string[] {
  const m = (ev.metadata ?? {}) as Record<string, unknown>;
  const p = s(ev.provider);
  return [m.linked_charge, m.linked_payment_intent, m.original_reference, m.dispute_transaction_id]
    .map(s)
    .filter((x): x is string => x !== null)
    .map((id) => `${p}:${id}`);
}

/** The payments the fraud model is trained and evaluated on (and whose drift `npm run drift` watches). */
export function isFraudCandidate(ev: Record<string, unknown>): boolean {
  const provider = s(ev.provider);
  return provider !== null && FRAUD_LABEL_PROVIDERS.has(provider) && outcome(ev) === 'succeeded';
}

/** The failed payments the churn model is trained and evaluated on. */
export function isChurnCandidate(ev: Record<string, unknown>): boolean {
  return s(ev.customer_id) !== null && outcome(ev) === 'failed';
}

export function fraudExamples(events: readonly LoggedEvent[], endMs: number, horizonMs = FRAUD_HORIZON_MS): Example[] {
  const disputedAt = new Map<string, number>();
  for (const e of events) {
    if (!isDispute(e.ev)) continue;
    for (const ref of disputedPayments(e.ev)) disputedAt.set(ref, Math.min(disputedAt.get(ref) ?? Infinity, e.atMs));
  }
  const out: Example[] = [];
  for (const e of events) {
    if (!isFraudCandidate(e.ev) || e.atMs + horizonMs > endMs) continue;
    const d = disputedAt.get(`${s(e.ev.provider)}:${s(e.ev.object_id)}`);
    out.push({ event: e, label: d !== undefined && d > e.atMs && d <= e.atMs + horizonMs ? 1 : 0 });
  }
  return out;
}

export function churnExamples(events: readonly LoggedEvent[], endMs: number, horizonMs = CHURN_HORIZON_MS): Example[] {
  const successes = new Map<string, number[]>();
  for (const e of events) {
    const c = s(e.ev.customer_id);
    if (c && outcome(e.ev) === 'succeeded') (successes.get(c) ?? successes.set(c, []).get(c))?.push(e.atMs);
  }
  const out: Example[] = [];
  for (const e of events) {
    if (!isChurnCandidate(e.ev) || e.atMs + horizonMs > endMs) continue;
    const later = (successes.get(s(e.ev.customer_id) as string) ?? []).some(
      (t) => t > e.atMs && t <= e.atMs + horizonMs,
    );
    out.push({ event: e, label: later ? 0 : 1 });
  }
  return out;
}
