/**
 * The decisions of a payment batch, shared by PaymentBatchWorkflow's step-per-activity form (the steps are activity
 * proxies) and its single-activity form (the steps are the activity implementations, called in-process): which events
 * the batch owns, rules for those, scoring for the valid ones, one persistence call, and the per-event results.
 * Deterministic and free of I/O itself (it is part of the workflow bundle).
 */
import { outcomeOf, type UnifiedEvent } from './event.ts';
import type { RulesResult } from './rules.ts';
import type { PaymentActivities, PaymentBatchResult, PaymentEventResult } from './types.ts';

export type BatchSteps = Pick<PaymentActivities, 'validateRulesBatch' | 'scoreEventsBatch' | 'persistEventsBatch'>;

/** Which positions this batch processes: owned events, first occurrence only (a redelivery can sit twice in one). */
export function ownedPositions(events: readonly UnifiedEvent[], owned: ReadonlySet<string>): boolean[] {
  const seen = new Set<string>();
  return events.map((e) => {
    const first = !seen.has(e.event_id);
    seen.add(e.event_id);
    return first && owned.has(e.event_id);
  });
}

export async function runBatchSteps(
  events: readonly UnifiedEvent[],
  mine: readonly boolean[],
  steps: BatchSteps,
  ids: { readonly workflowId: string; readonly runId: string },
): Promise<PaymentBatchResult['results']> {
  const todo = events.filter((_, i) => mine[i]);
  const rules = todo.length > 0 ? await steps.validateRulesBatch(todo) : [];
  const scoreItems = todo
    .map((event, i) => ({ event, outcome: outcomeOf(event), valid: (rules[i] as RulesResult).isValid }))
    .filter((x) => x.valid)
    .map(({ event, outcome }) => ({ event, outcome }));
  const scores = scoreItems.length > 0 ? await steps.scoreEventsBatch(scoreItems) : [];
  const scoreOf = new Map(scoreItems.map((x, i) => [x.event.event_id, scores[i]]));
  const enriched = todo.map((event, i) => {
    const s = scoreOf.get(event.event_id);
    return {
      event,
      outcome: outcomeOf(event),
      validation: rules[i] as RulesResult,
      fraud: s?.fraud ?? null,
      retryStrategy: s?.retryStrategy ?? null,
      churn: s?.churn ?? null,
      workflowId: ids.workflowId,
      runId: ids.runId,
    };
  });
  const persisted = enriched.length > 0 ? await steps.persistEventsBatch(enriched) : [];
  const byId = new Map(
    enriched.map((x, i): [string, PaymentEventResult] => {
      const rejected = !x.validation.isValid;
      const p = persisted[i] as { rowId: string; table: 'payment_events' };
      return [
        x.event.event_id,
        {
          event_id: x.event.event_id,
          status: rejected ? 'rejected' : 'processed',
          outcome: x.outcome,
          validation_status: rejected ? 'failed' : 'passed',
          validation_errors: x.validation.errors,
          fraud_score: x.fraud?.fraud_score ?? null,
          risk_level: x.fraud?.risk_level ?? null,
          retry_strategy: x.retryStrategy,
          churn_score: x.churn?.churn_score ?? null,
          churn_risk_level: x.churn?.risk_level ?? null,
          row_id: p.rowId,
          persistence_table: p.table,
        },
      ];
    }),
  );
  return events.map((e, i) =>
    mine[i] ? (byId.get(e.event_id) as PaymentEventResult) : { event_id: e.event_id, status: 'duplicate' as const },
  );
}
