/**
 * Temporal workflows of the payment worker. Deterministic code only: no Node built-ins, no I/O, no clock or random
 * (checked by lint-workflow-imports.ts); all effects are activities with explicit timeouts and retry policies.
 *
 * PaymentEventWorkflow: business rules → fraud score (successful payments) → retry strategy (failed payments) → churn
 * from the customer's history → persistence. A business rejection (non-retryable BusinessRuleViolation) is stored
 * with validation_status `failed` and ends the workflow as `rejected`; any other failing step retries with its policy
 * and then fails the workflow: nothing reports success after an error. With local activities (the bridge's default)
 * the claim and these steps run as ONE local activity (the batch's single-activity form for one event).
 *
 * DlqReviewGroupWorkflow (task queue dlq-review): registers a group of quarantined records for review in one activity
 * and ends; a review waits in its quarantine_reviews row, not in an open workflow, and expires by the review worker's
 * sweep. DlqDecisionWorkflow (dlq-review): applies one reviewer's decision to one record (approve re-injects the
 * record's original bytes from its raw topic, reprocess the corrected payload, discard drops it) and records it.
 * Grouping and the separate queue keep a flood of invalid events from queueing work in front of payments (issue 13).
 *
 * DlqReviewWorkflow (legacy, one per record): registers a quarantined record, waits for a reviewer's signal (approve /
 * reprocess / discard) up to a timeout, applies it and records it. Bridges no longer start it; running ones finish.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  metricMeter,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { ownedPositions, runBatchSteps } from './batch-core.ts';
import { outcomeOf, toUnifiedEvent, type UnifiedEvent } from './event.ts';
import { activityOptions, resolvePolicy } from './policies.ts';
import { decisionError, originalPayloadOf } from './review-rules.ts';
import type { RulesResult } from './rules.ts';
import {
  type ChurnResult,
  DEFAULT_REVIEW_TIMEOUT_MS,
  type DlqDecisionInput,
  type DlqDecisionResult,
  type DlqReviewGroupInput,
  type DlqReviewGroupResult,
  type DlqReviewInput,
  type DlqReviewResult,
  type DuplicateEventResult,
  type FallbackOutcome,
  type FraudResult,
  type GroupReviewActivities,
  MAX_BATCH_EVENTS,
  type PaymentActivities,
  type PaymentBatchResult,
  type PaymentBatchWorkflowInput,
  type PaymentEventResult,
  type PaymentEventWorkflowInput,
  type PaymentStage,
  type ReinjectPayload,
  type ReinjectResult,
  type RetryStrategyResult,
  type ReviewActivities,
  type ReviewDecision,
  type ReviewResolution,
  type ReviewState,
} from './types.ts';

// Names duplicated from @pep/contracts on purpose: the workflow bundle stays free of modules that touch `process`.
export const paymentStatusQuery = defineQuery<PaymentStage>('paymentStatus');
export const reviewDecisionSignal = defineSignal<[ReviewDecision]>('reviewDecision');
export const reviewStatusQuery = defineQuery<ReviewState>('reviewStatus');

function payments(input: PaymentEventWorkflowInput) {
  const mode = input.activityMode ?? 'remote';
  const make = (name: 'rules' | 'scoring' | 'persist') => {
    const opts = activityOptions(resolvePolicy(name, input.policies));
    return mode === 'local' ? proxyLocalActivities<PaymentActivities>(opts) : proxyActivities<PaymentActivities>(opts);
  };
  return { rules: make('rules'), scoring: make('scoring'), persist: make('persist') };
}

function businessRejection(err: unknown): RulesResult | null {
  // Remote activities surface as ActivityFailure(cause: ApplicationFailure); local ones may surface unwrapped.
  const failure = err instanceof ActivityFailure ? err.cause : err;
  if (failure instanceof ApplicationFailure && failure.type === 'BusinessRuleViolation') {
    return (failure.details?.[0] as RulesResult) ?? null;
  }
  return null;
}

type PaymentProxies = ReturnType<typeof payments>;

/** The per-event pipeline shared by PaymentEventWorkflow and PaymentBatchWorkflow (same activity order). */
async function processEvent(
  event: UnifiedEvent,
  acts: PaymentProxies,
  setStage: (s: PaymentStage) => void,
): Promise<PaymentEventResult> {
  const outcome = outcomeOf(event);
  const info = workflowInfo();
  setStage('rules');
  let validation: RulesResult;
  let rejected = false;
  try {
    validation = await acts.rules.validateRules(event);
  } catch (err) {
    const rules = businessRejection(err);
    if (!rules) throw err;
    validation = rules;
    rejected = true;
    log.info('event rejected by business rules', { eventId: event.event_id, codes: rules.errors.map((e) => e.code) });
  }

  let fraud: FraudResult | null = null;
  let retryStrategy: RetryStrategyResult | null = null;
  let churn: ChurnResult | null = null;
  if (!rejected) {
    if (outcome === 'succeeded') {
      setStage('fraud');
      fraud = await acts.scoring.scoreFraud(event);
    } else if (outcome === 'failed') {
      setStage('retry_strategy');
      retryStrategy = await acts.scoring.recommendRetry(event);
    }
    setStage('churn');
    churn = await acts.scoring.predictChurn(event, outcome);
  }

  setStage('persist');
  const persisted = await acts.persist.persistEvent({
    event,
    outcome,
    validation,
    fraud,
    retryStrategy,
    churn,
    workflowId: info.workflowId,
    runId: info.runId,
  });
  setStage('completed');
  return {
    event_id: event.event_id,
    status: rejected ? 'rejected' : 'processed',
    outcome,
    validation_status: rejected ? 'failed' : 'passed',
    validation_errors: validation.errors,
    fraud_score: fraud?.fraud_score ?? null,
    risk_level: fraud?.risk_level ?? null,
    retry_strategy: retryStrategy,
    churn_score: churn?.churn_score ?? null,
    churn_risk_level: churn?.risk_level ?? null,
    row_id: persisted.rowId,
    persistence_table: persisted.table,
  };
}

function parseEvent(value: unknown): UnifiedEvent {
  try {
    return toUnifiedEvent(value);
  } catch (err) {
    throw ApplicationFailure.nonRetryable(`not a unified event: ${(err as Error).message}`, 'InvalidEvent');
  }
}

/** Patch id of the claim step of PaymentEventWorkflow (older histories replay without it). */
export const PER_EVENT_CLAIM_PATCH = 'payment-event-claim';

/**
 * Patch id of the single-local-activity form of PaymentEventWorkflow (local activity mode only, the bridge's default;
 * older histories replay the step-per-activity form, and remote mode keeps one activity per step and policy).
 */
export const PER_EVENT_ONE_ACTIVITY_PATCH = 'payment-event-one-activity';

export async function PaymentEventWorkflow(
  input: PaymentEventWorkflowInput,
): Promise<PaymentEventResult | DuplicateEventResult> {
  let stage: PaymentStage = 'started';
  setHandler(paymentStatusQuery, () => stage);
  const event = parseEvent(input.event);
  const acts = payments(input);
  if (input.activityMode === 'local' && patched(PER_EVENT_ONE_ACTIVITY_PATCH)) {
    // Claim, rules, scoring and persistence in ONE local activity (batch-core.ts, the batch's single-activity form for
    // a batch of one): five local activities were five worker round trips (workflow activation → activity → result →
    // activation), each of which waits for the CPU again on a busy machine; during a flood of invalid events they
    // were most of the time between the workflow's first task and its row (issue 13, bench/security). Same
    // decisions, same claim (an event owned elsewhere is `duplicate`), one retry policy (`scoring`) for the whole.
    stage = 'rules';
    const info = workflowInfo();
    const [result] = await acts.scoring.processEventsBatch([event], info.workflowId, info.runId);
    stage = 'completed';
    return result as PaymentEventResult | DuplicateEventResult;
  }
  // The bridge may have handed this event to a batch workflow before (a redelivery cut differently): claim it first.
  if (patched(PER_EVENT_CLAIM_PATCH)) {
    const owned = await acts.persist.claimEvents([event.event_id], workflowInfo().workflowId);
    if (!owned.includes(event.event_id)) {
      stage = 'completed';
      return { event_id: event.event_id, status: 'duplicate' };
    }
  }
  return processEvent(event, acts, (s) => {
    stage = s;
  });
}

/** Patch id of the batched-activities form of PaymentBatchWorkflow (older histories replay the per-event form). */
export const BATCHED_ACTIVITIES_PATCH = 'payment-batch-batched-activities';

/**
 * The batch pipeline with one activity per step for the whole batch (rules, scoring, persistence), so the cost per
 * event is a share of four activities instead of four to five of its own. Same decisions as processEvent
 * (batch-core.ts, shared with the single-activity form).
 */
function processBatched(
  events: readonly UnifiedEvent[],
  mine: readonly boolean[],
  acts: PaymentProxies,
): Promise<PaymentBatchResult['results']> {
  const info = workflowInfo();
  return runBatchSteps(
    events,
    mine,
    {
      validateRulesBatch: (x) => acts.rules.validateRulesBatch(x),
      scoreEventsBatch: (x) => acts.scoring.scoreEventsBatch(x),
      persistEventsBatch: (x) => acts.persist.persistEventsBatch(x),
    },
    { workflowId: info.workflowId, runId: info.runId },
  );
}

/** Patch id of the per-event fallback of a batch whose batch step failed (older histories fail with their claims). */
export const BATCH_FALLBACK_PATCH = 'payment-batch-fallback';

const batchFallbacks = metricMeter.createCounter(
  'payment_batch_fallbacks',
  'batches',
  'PaymentBatchWorkflows whose batch step failed after its retries; their events were re-driven one workflow each',
);

function errorText(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * A batch step failed after its retries, so nothing of the batch was stored (persistence is one statement and the
 * last step). One bad event must not hold 24 good ones: the batch's claims go to per-event workflows
 * `payment-<event_id>` (children that outlive this workflow), each of which claims, processes and stores its event
 * with its own retries, or fails on its own. Waits for them and reports what became of each event.
 */
const perEventId = (e: UnifiedEvent) => `payment-${e.event_id}`;

/** Moves this batch's claims on `events` to their per-event workflows; returns the event ids moved. */
async function handOverClaims(events: readonly UnifiedEvent[], acts: PaymentProxies): Promise<unknown> {
  return acts.persist.transferClaims(
    workflowInfo().workflowId,
    events.map((e) => ({ eventId: e.event_id, workflowId: perEventId(e) })),
  );
}

async function fallBackToEvents(
  own: readonly { e: UnifiedEvent; raw: unknown }[],
  input: PaymentBatchWorkflowInput,
): Promise<FallbackOutcome[]> {
  return Promise.all(
    own.map(async ({ e, raw: event }): Promise<FallbackOutcome> => {
      const workflowId = perEventId(e);
      let result: Promise<PaymentEventResult | DuplicateEventResult>;
      try {
        const child = await startChild(PaymentEventWorkflow, {
          workflowId,
          args: [{ event, policies: input.policies, activityMode: input.activityMode }],
          // The events must be processed even if this batch is terminated or reset meanwhile.
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        result = child.result();
      } catch (err) {
        // WorkflowExecutionAlreadyStartedError (matched by name: its package is not importable in workflow code).
        if (err instanceof Error && err.name === 'WorkflowExecutionAlreadyStartedError') {
          return { event_id: e.event_id, workflow_id: workflowId, status: 'running_elsewhere' };
        }
        throw err;
      }
      try {
        const r = await result;
        return { event_id: e.event_id, workflow_id: workflowId, status: r.status };
      } catch (err) {
        if (isCancellation(err)) throw err;
        return { event_id: e.event_id, workflow_id: workflowId, status: 'failed', error: errorText(err) };
      }
    }),
  );
}

/** The visible failure of a batch whose step failed, after its events were re-driven one workflow each. */
function batchStepFailed(err: unknown, outcomes: FallbackOutcome[]): ApplicationFailure {
  const by = (s: FallbackOutcome['status']) => outcomes.filter((o) => o.status === s);
  const failed = by('failed');
  return ApplicationFailure.create({
    type: 'BatchStepFailed',
    nonRetryable: true,
    message:
      `batch step failed (${errorText(err)}); ${outcomes.length} events re-driven one workflow each: ` +
      `${by('processed').length} processed, ${by('rejected').length} rejected, ${by('duplicate').length} duplicate, ` +
      `${by('running_elsewhere').length} owned by an existing workflow, ${failed.length} failed` +
      (failed.length > 0 ? ` (${failed.map((o) => o.workflow_id).join(', ')})` : ''),
    details: [outcomes],
    cause: err instanceof Error ? err : undefined,
  });
}

/** Patch id of the single-activity form of PaymentBatchWorkflow (claim, rules, scoring, persistence in one). */
export const BATCH_ONE_ACTIVITY_PATCH = 'payment-batch-one-activity';

/**
 * Several events in one workflow (the bridge's batch mode, for throughput on a small Temporal): claims the events
 * first — an event already claimed by another workflow, or already stored by one, is reported as `duplicate` and not
 * processed again — then runs rules, scoring and persistence with one activity per step for the whole batch. A step
 * that fails after its retries stores nothing of the batch; the batch then hands its claims to one
 * PaymentEventWorkflow per event (fallBackToEvents), waits for them, and still fails visibly (type
 * `BatchStepFailed`, a warning log and the `payment_batch_fallbacks` metric) with each event's fate in its details.
 */
export async function PaymentBatchWorkflow(input: PaymentBatchWorkflowInput): Promise<PaymentBatchResult> {
  if (input.events.length > MAX_BATCH_EVENTS) {
    throw ApplicationFailure.nonRetryable(
      `batch of ${input.events.length} events is over ${MAX_BATCH_EVENTS}`,
      'BatchTooLarge',
    );
  }
  const events = input.events.map(parseEvent);
  const acts = payments({ event: null, policies: input.policies, activityMode: input.activityMode });
  if (patched(BATCH_ONE_ACTIVITY_PATCH)) {
    // One activity for the whole batch: each local activity costs a worker round trip (~15–20 ms on the dev box),
    // four of them were most of a batch's latency. Same decisions (batch-core.ts); same fallback on failure.
    const info = workflowInfo();
    try {
      return { results: await acts.scoring.processEventsBatch(events, info.workflowId, info.runId) };
    } catch (err) {
      if (isCancellation(err)) throw err;
      batchFallbacks.add(1);
      log.warn('batch step failed after its retries; re-driving its events one workflow each', {
        error: errorText(err),
        events: events.length,
      });
      const moved = new Set((await handOverClaims(events, acts)) as string[]);
      const seen = new Set<string>();
      const own = events
        .map((e, i) => ({ e, raw: input.events[i] }))
        .filter(({ e }) => moved.has(e.event_id) && !seen.has(e.event_id) && seen.add(e.event_id));
      throw batchStepFailed(err, await fallBackToEvents(own, input));
    }
  }
  const owned = new Set(
    await acts.persist.claimEvents(
      events.map((e) => e.event_id),
      workflowInfo().workflowId,
    ),
  );
  // A redelivered event can sit twice in one batch: the first occurrence is processed, the rest are duplicates.
  const mine = ownedPositions(events, owned);
  if (patched(BATCHED_ACTIVITIES_PATCH)) {
    try {
      return { results: await processBatched(events, mine, acts) };
    } catch (err) {
      if (isCancellation(err) || !patched(BATCH_FALLBACK_PATCH)) throw err;
      // Exported by the worker as payment_batch_fallbacks_total{namespace,taskQueue,workflowType}.
      batchFallbacks.add(1);
      log.warn('batch step failed after its retries; re-driving its events one workflow each', {
        error: errorText(err),
        events: mine.filter(Boolean).length,
      });
      const own = events.map((e, i) => ({ e, raw: input.events[i], mine: mine[i] })).filter((x) => x.mine);
      await handOverClaims(
        own.map((x) => x.e),
        acts,
      );
      throw batchStepFailed(err, await fallBackToEvents(own, input));
    }
  }
  // Histories recorded before the batched activities: one pipeline per event.
  const settled = await Promise.allSettled(
    events.map((e, i) => (mine[i] ? processEvent(e, acts, () => {}) : Promise.resolve(null))),
  );
  const results: PaymentBatchResult['results'] = [];
  const failed: string[] = [];
  settled.forEach((r, i) => {
    const eventId = (events[i] as UnifiedEvent).event_id;
    if (r.status === 'rejected') failed.push(eventId);
    else if (r.value === null) results.push({ event_id: eventId, status: 'duplicate' });
    else results.push(r.value);
  });
  if (failed.length > 0) {
    const first = settled.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    throw ApplicationFailure.create({
      message: `${failed.length} of ${events.length} events failed: ${failed.join(', ')}`,
      type: 'BatchEventsFailed',
      nonRetryable: true,
      details: [failed],
      cause: first.reason instanceof Error ? first.reason : undefined,
    });
  }
  return { results };
}

export { decisionError, originalPayloadOf } from './review-rules.ts';

export async function DlqReviewWorkflow(input: DlqReviewInput): Promise<DlqReviewResult> {
  const acts = proxyActivities<ReviewActivities>(activityOptions(resolvePolicy('review', input.policies)));
  const { workflowId } = workflowInfo();
  let stage: ReviewState['stage'] = 'registering';
  let decision: ReviewDecision | null = null;
  let resolution: ReviewResolution | null = null;
  const rejectedSignals: { decision: unknown; error: string }[] = [];
  // Handlers first, so that a decision sent while the registration activity runs is not lost.
  setHandler(reviewDecisionSignal, (d) => {
    if (decision !== null) {
      rejectedSignals.push({ decision: d, error: 'a decision was already taken' });
      return;
    }
    const error = decisionError(d, input.record);
    if (error) {
      rejectedSignals.push({ decision: d, error });
      log.warn('review decision rejected', { workflowId, error });
      return;
    }
    decision = d;
  });
  setHandler(reviewStatusQuery, () => ({ stage, decision, rejectedSignals, resolution }));

  await acts.registerReview(workflowId, input);
  stage = 'awaiting_decision';
  const decided = await condition(() => decision !== null, input.reviewTimeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS);
  stage = 'applying';
  let reinjected: ReinjectResult | null = null;
  const d = decision as ReviewDecision | null;
  if (!decided || d === null) {
    resolution = 'expired';
  } else if (d.decision === 'discard') {
    resolution = 'discarded';
  } else {
    const payload: ReinjectPayload =
      d.decision === 'reprocess'
        ? { data: d.correctedPayload as string, encoding: 'utf8' }
        : {
            data: originalPayloadOf(input.record) as string,
            encoding: input.record.original_payload_encoding === 'base64' ? 'base64' : 'utf8',
          };
    reinjected = await acts.reinject(workflowId, input, payload);
    resolution = d.decision === 'reprocess' ? 'reprocessed' : 'approved';
  }
  await acts.recordDecision(workflowId, input, resolution, d, reinjected);
  stage = 'done';
  return { workflow_id: workflowId, resolution, decided_by: d?.reviewer ?? null, reinjected };
}

/** Registers a group of quarantined records for review (one activity) and ends; see the module header. */
export async function DlqReviewGroupWorkflow(input: DlqReviewGroupInput): Promise<DlqReviewGroupResult> {
  const acts = proxyActivities<GroupReviewActivities>(activityOptions(resolvePolicy('review', input.policies)));
  const { workflowId } = workflowInfo();
  const registered = await acts.registerReviews(workflowId, input);
  return { workflow_id: workflowId, registered };
}

/**
 * Applies one decision to one quarantined record: checked against its review row (refused, non-retryably, when it
 * cannot apply), re-injected for approve and reprocess, recorded. Its id (`dlq-decision-<review key>`) makes one
 * applied decision per record.
 */
export async function DlqDecisionWorkflow(input: DlqDecisionInput): Promise<DlqDecisionResult> {
  const acts = proxyActivities<GroupReviewActivities>(activityOptions(resolvePolicy('review', input.policies)));
  const { key, decision } = input;
  await acts.checkDecision(key, decision);
  const reinjected = decision.decision === 'discard' ? null : await acts.reinjectReview(key, decision);
  const resolution: ReviewResolution =
    decision.decision === 'discard' ? 'discarded' : decision.decision === 'reprocess' ? 'reprocessed' : 'approved';
  await acts.recordReviewDecision(key, resolution, decision, reinjected);
  return { key, resolution, decided_by: decision.reviewer, reinjected };
}
