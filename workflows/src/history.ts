/**
 * Churn features from a customer's real payment history (rows of payment_events, newest first) plus the event being
 * processed. Pure, so it is unit-tested without a database; db.ts loads the rows. Replaces the original's hard-coded
 * history (10 payments, 8 successful, …) that made churn risk always "low".
 */
import type { Outcome } from './event.ts';
import type { ChurnFeatures } from './types.ts';

export interface HistoryRow {
  readonly outcome: Outcome;
  /** When the payment happened (provider_created_at), or null when unknown. */
  readonly at: Date | null;
}

const DAY_MS = 86_400_000;

function daysBetween(later: Date, earlier: Date): number {
  return Math.max(0, Math.floor((later.getTime() - earlier.getTime()) / DAY_MS));
}

/** `history` newest first, excluding the current event; `now` is the current event's time. */
export function churnFeatures(history: readonly HistoryRow[], current: { outcome: Outcome; at: Date }): ChurnFeatures {
  const rows = [{ outcome: current.outcome, at: current.at as Date | null }, ...history].filter(
    (r) => r.outcome !== 'other',
  );
  let successful = 0;
  let failed = 0;
  let recovered = 0;
  let seenSuccess = false;
  let consecutive = 0;
  let streakOpen = true;
  let lastSuccessAt: Date | null = null;
  let lastFailureAt: Date | null = null;
  let oldestAt: Date | null = null;
  for (const r of rows) {
    if (r.at) oldestAt = r.at;
    if (r.outcome === 'succeeded') {
      successful++;
      seenSuccess = true;
      streakOpen = false;
      lastSuccessAt ??= r.at;
    } else {
      failed++;
      // Newest first: a failure seen after (older than) some success was recovered by that success.
      if (seenSuccess) recovered++;
      if (streakOpen) consecutive++;
      lastFailureAt ??= r.at;
    }
  }
  const sinceLastPayment =
    current.outcome === 'succeeded'
      ? 0
      : lastSuccessAt
        ? daysBetween(current.at, lastSuccessAt)
        : oldestAt
          ? daysBetween(current.at, oldestAt)
          : 0;
  return {
    total_payments: successful + failed,
    successful_payments: successful,
    failed_payments: failed,
    recovered_payments: recovered,
    days_since_last_payment: sinceLastPayment,
    consecutive_failures: consecutive,
    days_since_last_failure: lastFailureAt ? daysBetween(current.at, lastFailureAt) : null,
  };
}
