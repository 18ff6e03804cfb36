/**
 * Activities of the payment worker, built by factories that receive their dependencies (pool, inference client,
 * business-rule configuration, Kafka producer), so tests and the worker wire real services the same way.
 * Business rejections throw non-retryable ApplicationFailures; every other error propagates to Temporal's retry
 * policy (the original caught persistence errors and reported success).
 */

import {
  type BatchResponse,
  type ChurnInput,
  type ChurnPrediction,
  type FraudScore,
  INFERENCE_PATHS,
  RAW_HEADERS,
  REPRODUCED_HEADERS,
  type RetryStrategy,
  reviewDecisionWorkflowId,
} from '@pep/contracts';
import { redactPayload } from '@pep/contracts/redact';
import type { RecordSender } from '@pep/kafka-wire/serial-producer';
import {
  type DlqRecordRef,
  expireDueReviews,
  mirrorReviewResolution,
  registerRecordReview,
  registerReviewGroup,
  storeReviewDecision,
} from '@pep/pipeline/quarantine/review-store';
import { ApplicationFailure } from '@temporalio/activity';
import type pg from 'pg';
import { ownedPositions, runBatchSteps } from './batch-core.ts';
import {
  claimEvents,
  customerHistory,
  earlierFailures,
  failuresByObject,
  historySummaries,
  persistEnrichedEvent,
  persistEnrichedEvents,
  quarantineReviewColumnsPresent,
  transferClaims,
} from './db.ts';
import type { Outcome, UnifiedEvent } from './event.ts';
import {
  churnFeatures,
  churnFeaturesFromSummary,
  concatSummaries,
  type HistorySummary,
  summarizeHistory,
} from './history.ts';
import type { InferenceClient } from './inference-client.ts';
import { decisionError, originalPayloadOf } from './review-rules.ts';
import { type BusinessRulesConfig, validateBusinessRules } from './rules.ts';
import { churnRequest, churnResult, fraudRequest, fraudResult, retryRequest, retryResult } from './scoring.ts';
import {
  type ChurnFeatures,
  type ChurnResult,
  DEFAULT_REVIEW_TIMEOUT_MS,
  type DlqReviewInput,
  type FraudResult,
  type GroupReviewActivities,
  type PaymentActivities,
  type ReinjectResult,
  type RetryStrategyResult,
  type ReviewActivities,
  type ReviewDecision,
  type ReviewResolution,
  type ScoreItem,
  type ScoreResult,
} from './types.ts';

export interface PaymentActivityDeps {
  readonly pool: pg.Pool;
  readonly inference: InferenceClient;
  readonly rules: BusinessRulesConfig;
  /** Clock used when an event has no provider_created_at. */
  readonly now?: () => Date;
}

function eventTime(e: UnifiedEvent, now: () => Date): Date {
  const ms = e.provider_created_at ? Date.parse(e.provider_created_at) : Number.NaN;
  return Number.isFinite(ms) ? new Date(ms) : now();
}

/**
 * The attempt number of a failed payment: the failures of the same provider object stored before it plus one, or the
 * attempt count the provider declares (`metadata.retry_attempt_count`), whichever is larger.
 */
function retryAttempt(event: UnifiedEvent, earlierFailureCount: number): number {
  const declared = Number(event.metadata.retry_attempt_count);
  return Math.max(earlierFailureCount + 1, Number.isSafeInteger(declared) && declared > 0 ? declared : 1);
}

export function createPaymentActivities(deps: PaymentActivityDeps): PaymentActivities {
  const now = deps.now ?? (() => new Date());
  const activities: PaymentActivities = {
    async validateRules(event) {
      const result = validateBusinessRules(event, deps.rules);
      if (!result.isValid) {
        throw ApplicationFailure.nonRetryable(
          `business rules rejected ${event.event_id}: ${result.errors.map((e) => e.code).join(', ')}`,
          'BusinessRuleViolation',
          result,
        );
      }
      return result;
    },

    async scoreFraud(event): Promise<FraudResult> {
      const r = await deps.inference.post<FraudScore>(INFERENCE_PATHS.fraudScore, fraudRequest(event));
      if (typeof r.fraud_score !== 'number' || typeof r.risk_level !== 'string') {
        throw new Error('fraud response lacks fraud_score or risk_level');
      }
      return fraudResult(r);
    },

    async recommendRetry(event): Promise<RetryStrategyResult> {
      const earlier =
        event.provider && event.object_id
          ? await earlierFailures(deps.pool, event.provider, event.object_id, event.event_id)
          : 0;
      const attempt = retryAttempt(event, earlier);
      const r = await deps.inference.post<RetryStrategy>(INFERENCE_PATHS.retryStrategy, retryRequest(event, attempt));
      if (typeof r.action !== 'string') throw new Error('retry response lacks action');
      return retryResult(r, attempt);
    },

    async predictChurn(event, outcome: Outcome): Promise<ChurnResult | null> {
      if (!event.customer_id) return null;
      const at = eventTime(event, now);
      const [history] = await historySummaries(deps.pool, [{ customerId: event.customer_id, at }], [event.event_id]);
      const features = churnFeaturesFromSummary(history as HistorySummary, { outcome, at });
      const r = await deps.inference.post<ChurnPrediction>(INFERENCE_PATHS.churnPredict, churnRequest(event, features));
      if (typeof r.churn_probability !== 'number') throw new Error('churn response lacks churn_probability');
      return churnResult(r, features);
    },

    async persistEvent(enriched) {
      return persistEnrichedEvent(deps.pool, enriched);
    },

    async claimEvents(eventIds, workflowId) {
      return claimEvents(deps.pool, eventIds, workflowId);
    },

    async transferClaims(fromWorkflowId, to) {
      return transferClaims(deps.pool, fromWorkflowId, to);
    },

    async processEventsBatch(events, workflowId, runId) {
      const ids = events.map((e) => e.event_id);
      const owned = new Set(await claimEvents(deps.pool, ids, workflowId));
      return runBatchSteps(events, ownedPositions(events, owned), activities, { workflowId, runId });
    },

    async validateRulesBatch(events) {
      return events.map((e) => validateBusinessRules(e, deps.rules));
    },

    async scoreEventsBatch(items): Promise<ScoreResult[]> {
      return scoreBatch(deps, now, items);
    },

    async persistEventsBatch(enriched) {
      return persistEnrichedEvents(deps.pool, enriched);
    },
  };
  return activities;
}

// ------------------------------------------------------------------------------------------- batch scoring
//
// scoreEventsBatch in named units: read the batch's stored history and earlier failures (batchReads), build each
// customer's churn features (batchChurnFeatures, itemChurnFeatures), plan the three inference calls (scorePlan), send
// them (postBatch) and put the answers back in item order (assembleScores).

/** A stored-history query: one customer's events before `at`. */
interface HistoryQuery {
  readonly customerId: string;
  readonly at: Date;
}

const historyKey = (customerId: string, at: Date) => `${at.getTime()} ${customerId}`;

/** One stored-history query per distinct (customer, event time) of the batch, by historyKey. */
function historyQueries(items: readonly ScoreItem[], now: () => Date): Map<string, HistoryQuery> {
  const queries = new Map<string, HistoryQuery>();
  for (const i of items) {
    if (!i.event.customer_id) continue;
    const at = eventTime(i.event, now);
    queries.set(historyKey(i.event.customer_id, at), { customerId: i.event.customer_id, at });
  }
  return queries;
}

/** The provider objects of the batch's failed payments (their stored failures count the retry attempt). */
function failedObjects(items: readonly ScoreItem[]): { provider: string; objectId: string }[] {
  return items
    .filter((i) => i.outcome === 'failed' && i.event.provider && i.event.object_id)
    .map((i) => ({ provider: i.event.provider as string, objectId: i.event.object_id as string }));
}

type StoredFailure = Awaited<ReturnType<typeof failuresByObject>>[number];

/** What the batch reads from PostgreSQL, in two parallel queries. */
interface BatchReads {
  /** The batch's event ids: excluded from stored history (a retried batch's rows may already be stored). */
  readonly batchIds: readonly string[];
  /** Stored-history summary per historyKey. */
  readonly summaries: ReadonlyMap<string, HistorySummary>;
  /** Stored failures of the batch's failed provider objects. */
  readonly failures: readonly StoredFailure[];
}

/**
 * Reads for the whole batch: customers' histories and earlier failures of the same provider objects. One stored-history
 * summary per distinct (customer, event time), without the batch's own events (added from memory by
 * itemChurnFeatures, so a retried batch whose rows were already stored does not count them twice).
 */
async function batchReads(pool: pg.Pool, items: readonly ScoreItem[], now: () => Date): Promise<BatchReads> {
  const batchIds = items.map((i) => i.event.event_id);
  const queries = historyQueries(items, now);
  const [summaryList, failures] = await Promise.all([
    historySummaries(pool, [...queries.values()], batchIds),
    failuresByObject(pool, failedObjects(items)),
  ]);
  const summaries = new Map([...queries.keys()].map((k, i) => [k, summaryList[i] as HistorySummary]));
  return { batchIds, summaries, failures };
}

/** Churn features of one item with a customer: its stored history and the batch's own earlier events of the customer. */
async function itemChurnFeatures(
  pool: pg.Pool,
  items: readonly ScoreItem[],
  item: ScoreItem,
  reads: BatchReads,
  now: () => Date,
): Promise<ChurnFeatures> {
  const customerId = item.event.customer_id as string;
  const at = eventTime(item.event, now);
  // The batch's own earlier events of the same customer, newest first (stable: batch order on equal times).
  const inBatch = items
    .filter((o) => o !== item && o.event.customer_id === customerId && o.outcome !== 'other')
    .map((o) => ({ outcome: o.outcome, at: eventTime(o.event, now) }))
    .filter((h) => h.at.getTime() <= at.getTime())
    .sort((a, b) => b.at.getTime() - a.at.getTime());
  const stored = reads.summaries.get(historyKey(customerId, at)) as HistorySummary;
  const newestStored = stored.newestAt?.getTime() ?? Number.NEGATIVE_INFINITY;
  if (inBatch.every((h) => h.at.getTime() > newestStored)) {
    // The batch's events are all newer than the stored ones: the two summaries concatenate exactly.
    return churnFeaturesFromSummary(concatSummaries(summarizeHistory(inBatch), stored), { outcome: item.outcome, at });
  }
  // Interleaved in time (out-of-order events): merge the rows (rare, one extra query for this event).
  const rows = await customerHistory(pool, customerId, reads.batchIds, at);
  const history = [...rows, ...inBatch].sort((a, b) => (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0));
  return churnFeatures(history, { outcome: item.outcome, at });
}

/** Churn features by event id of every item with a customer (in batch order, one at a time). */
async function batchChurnFeatures(
  pool: pg.Pool,
  items: readonly ScoreItem[],
  reads: BatchReads,
  now: () => Date,
): Promise<Map<string, ChurnFeatures>> {
  const byId = new Map<string, ChurnFeatures>();
  for (const item of items) {
    if (item.event.customer_id) byId.set(item.event.event_id, await itemChurnFeatures(pool, items, item, reads, now));
  }
  return byId;
}

/** Which items go to which model: fraud for succeeded payments, retry for failed ones, churn for every customer. */
interface ScorePlan {
  readonly fraudIdx: number[];
  readonly retryIdx: number[];
  /** The retry attempt of each retryIdx entry. */
  readonly retryAttempts: number[];
  readonly churnIdx: number[];
  /** The features and request body of each churnIdx entry. */
  readonly churnFeatures: ChurnFeatures[];
  readonly churnBodies: ChurnInput[];
}

function scorePlan(
  items: readonly ScoreItem[],
  failures: readonly StoredFailure[],
  churnById: ReadonlyMap<string, ChurnFeatures>,
): ScorePlan {
  const plan: ScorePlan = {
    fraudIdx: [],
    retryIdx: [],
    retryAttempts: [],
    churnIdx: [],
    churnFeatures: [],
    churnBodies: [],
  };
  items.forEach((item, i) => {
    const e = item.event;
    if (item.outcome === 'succeeded') plan.fraudIdx.push(i);
    if (item.outcome === 'failed') {
      plan.retryIdx.push(i);
      const earlier = failures.filter(
        (f) => f.provider === e.provider && f.object_id === e.object_id && f.event_id !== e.event_id,
      ).length;
      plan.retryAttempts.push(retryAttempt(e, earlier));
    }
    if (e.customer_id) {
      const features = churnById.get(e.event_id) as ChurnFeatures;
      plan.churnIdx.push(i);
      plan.churnFeatures.push(features);
      plan.churnBodies.push(churnRequest(e, features));
    }
  });
  return plan;
}

/** One batch call to the inference service; fails unless it answers one result per body. */
async function postBatch<T>(inference: InferenceClient, path: string, bodies: readonly unknown[]): Promise<T[]> {
  if (bodies.length === 0) return [];
  const r = await inference.post<BatchResponse<T>>(path, { items: bodies });
  if (!Array.isArray(r.results) || r.results.length !== bodies.length) {
    throw new Error(`${path} answered ${r.results?.length} results for ${bodies.length} items`);
  }
  return r.results;
}

/** The answers of the three calls, back in item order (null where a model was not asked). */
function assembleScores(
  items: readonly ScoreItem[],
  plan: ScorePlan,
  fraud: readonly FraudScore[],
  retry: readonly RetryStrategy[],
  churn: readonly ChurnPrediction[],
): ScoreResult[] {
  type Scores = { fraud: FraudResult | null; retryStrategy: RetryStrategyResult | null; churn: ChurnResult | null };
  const out: Scores[] = items.map(() => ({ fraud: null, retryStrategy: null, churn: null }));
  plan.fraudIdx.forEach((i, k) => {
    (out[i] as Scores).fraud = fraudResult(fraud[k] as FraudScore);
  });
  plan.retryIdx.forEach((i, k) => {
    (out[i] as Scores).retryStrategy = retryResult(retry[k] as RetryStrategy, plan.retryAttempts[k] as number);
  });
  plan.churnIdx.forEach((i, k) => {
    (out[i] as Scores).churn = churnResult(churn[k] as ChurnPrediction, plan.churnFeatures[k] as ChurnFeatures);
  });
  return out;
}

/** scoreEventsBatch: fraud, retry and churn scores of a batch, with one read of history and one call per model. */
async function scoreBatch(
  deps: PaymentActivityDeps,
  now: () => Date,
  items: readonly ScoreItem[],
): Promise<ScoreResult[]> {
  const reads = await batchReads(deps.pool, items, now);
  const churnById = await batchChurnFeatures(deps.pool, items, reads, now);
  const plan = scorePlan(items, reads.failures, churnById);
  const eventOf = (i: number) => (items[i] as ScoreItem).event;
  const [fraud, retry, churn] = await Promise.all([
    postBatch<FraudScore>(
      deps.inference,
      INFERENCE_PATHS.fraudScoreBatch,
      plan.fraudIdx.map((i) => fraudRequest(eventOf(i))),
    ),
    postBatch<RetryStrategy>(
      deps.inference,
      INFERENCE_PATHS.retryStrategyBatch,
      plan.retryIdx.map((i, k) => retryRequest(eventOf(i), plan.retryAttempts[k] as number)),
    ),
    postBatch<ChurnPrediction>(deps.inference, INFERENCE_PATHS.churnPredictBatch, plan.churnBodies),
  ]);
  return assembleScores(items, plan, fraud, retry, churn);
}

// --------------------------------------------------------------------------------------------------- review

export interface ReviewActivityDeps {
  readonly pool: pg.Pool;
  /** Sends with acks=all; the worker passes a SerialIdempotentProducer (kafkajs idempotent, used safely). */
  readonly producer: RecordSender;
  /**
   * Reads one record of a raw topic (read committed), or null when it is gone (retention): an approved record is
   * re-injected with its ORIGINAL bytes, which only the raw topics keep (the DLQ carries a redacted copy).
   */
  readonly readRaw?: (topic: string, partition: number, offset: string) => Promise<RawRecord | null>;
}

/** A record read back from a raw topic. */
export interface RawRecord {
  readonly key: Buffer | null;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

function text(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function int(v: unknown): number | null {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : null;
}

/** The record's ORIGINAL raw-topic coordinates (transformer names first, then the pipeline's column names). */
export function sourceOf(record: Record<string, unknown>) {
  return {
    topic: text(record.source_topic),
    partition: int(record.kafka_partition ?? record.source_partition),
    offset: int(record.kafka_offset ?? record.source_offset),
  };
}

/** What quarantine_reviews keeps of a decision's corrected payload: redacted (card numbers, signatures). */
function storedCorrection(decision: ReviewDecision | null): string | null {
  if (decision?.decision !== 'reprocess' || decision.correctedPayload === undefined) return null;
  return redactPayload(Buffer.from(decision.correctedPayload, 'utf8')).text;
}

/** Produces a re-injected payload to its raw topic with acks=all, headers as the edge writes them. */
async function produceToRaw(
  producer: RecordSender,
  r: { topic: string; provider: string; key: string | null; value: Buffer | string; by: string },
): Promise<ReinjectResult> {
  const [meta] = await producer.send({
    topic: r.topic,
    acks: -1,
    messages: [
      {
        key: r.key,
        value: r.value,
        headers: {
          [RAW_HEADERS.receivedAt]: new Date().toISOString(),
          [RAW_HEADERS.requestId]: `review:${r.by}`,
          [RAW_HEADERS.provider]: r.provider,
          [RAW_HEADERS.contentType]:
            r.provider === 'braintree' ? 'application/x-www-form-urlencoded' : 'application/json',
          ...(r.key ? { [RAW_HEADERS.eventId]: r.key } : {}),
          ...(r.provider === 'braintree' ? { [RAW_HEADERS.bodyEncoding]: 'form' } : {}),
          [REPRODUCED_HEADERS.reprocessedFrom]: r.by,
        },
      },
    ],
  });
  if (!meta) throw new Error(`no produce ack for ${r.topic}`);
  return { topic: r.topic, partition: meta.partition, offset: String(meta.baseOffset ?? meta.offset ?? '') };
}

/** Refusal of a decision that cannot apply (non-retryable; the CLI reports the message). */
const refuse = (message: string) => ApplicationFailure.nonRetryable(message, 'InvalidReviewDecision');

interface ReviewRow {
  readonly status: string;
  readonly provider: string | null;
  readonly event_id: string | null;
  readonly source_topic: string | null;
  readonly source_partition: number | null;
  readonly source_offset: string | null;
  readonly dlq_topic: string | null;
  readonly dlq_partition: number | null;
  readonly dlq_offset: string | null;
}

async function reviewRow(pool: pg.Pool, key: string): Promise<ReviewRow | undefined> {
  const { rows } = await pool.query<ReviewRow>(
    `SELECT status, provider, event_id, source_topic, source_partition, source_offset::text, dlq_topic, dlq_partition,
            dlq_offset::text
       FROM quarantine_reviews WHERE review_key = $1`,
    [key],
  );
  return rows[0];
}

/**
 * Expires pending grouped reviews whose time is up, at most `limit` per call (the review worker calls it on an
 * interval); returns how many expired. Legacy per-record reviews expire through their own workflow.
 */
export async function expireReviews(pool: pg.Pool, limit: number): Promise<number> {
  const rows = await expireDueReviews(pool, limit);
  if (rows.length > 0 && (await quarantineReviewColumnsPresent(pool))) {
    for (const r of rows)
      await mirrorReviewResolution(
        pool,
        { topic: r.dlq_topic, partition: r.dlq_partition, offset: r.dlq_offset, sha256Hex: r.sha },
        'expired',
        null,
        r.workflow_id,
      );
  }
  return rows.length;
}

/** Registers a per-record review (legacy reviews, one workflow per DLQ record); a second registration adds nothing. */
async function insertReview(pool: pg.Pool, workflowId: string, input: DlqReviewInput): Promise<void> {
  const r = input.record;
  const original =
    typeof r.original_payload === 'string'
      ? r.original_payload
      : r.original_payload
        ? JSON.stringify(r.original_payload)
        : null;
  await registerRecordReview(pool, {
    workflowId,
    eventId: text(r.event_id),
    provider: text(r.provider),
    failureReason: text(r.failure_reason),
    validationErrors: Array.isArray(r.validation_errors) ? r.validation_errors : [],
    source: sourceOf(r),
    dlq: input.dlq,
    dlqRecordSha256: input.dlq.sha256Hex ?? null,
    originalPayload: original,
  });
}

/** Stores a decision on the review `key`; undefined when no review has that key. */
function storeDecision(
  pool: pg.Pool,
  key: string,
  resolution: ReviewResolution,
  decision: ReviewDecision | null,
  reinjected: ReinjectResult | null,
) {
  return storeReviewDecision(pool, key, {
    resolution,
    decidedBy: decision?.reviewer ?? null,
    reason: decision?.reason ?? null,
    correctedPayload: storedCorrection(decision),
    reinjected,
  });
}

/**
 * Re-injects a grouped review's record: a reprocess decision's corrected payload, else (approve) the original bytes
 * read back from the raw topic.
 */
async function reinjectReviewed(
  deps: ReviewActivityDeps,
  key: string,
  decision: ReviewDecision,
): Promise<ReinjectResult> {
  const row = await reviewRow(deps.pool, key);
  if (!row?.source_topic || row.source_partition === null || row.source_offset === null)
    throw refuse(`no source coordinates for ${key}`);
  const provider = row.provider ?? row.source_topic.split('.')[1] ?? '';
  if (decision.decision === 'reprocess') {
    const prefix = `${provider}:`;
    const eventKey = row.event_id?.startsWith(prefix) ? row.event_id.slice(prefix.length) : null;
    return produceToRaw(deps.producer, {
      topic: row.source_topic,
      provider,
      key: eventKey,
      value: decision.correctedPayload ?? '',
      by: key,
    });
  }
  if (!deps.readRaw) throw new Error('no raw-topic reader configured');
  const raw = await deps.readRaw(row.source_topic, row.source_partition, row.source_offset);
  if (!raw)
    throw refuse(
      `the original record ${row.source_topic}/${row.source_partition}/${row.source_offset} is no longer in its raw topic (retention); reprocess it with a corrected payload instead`,
    );
  return produceToRaw(deps.producer, {
    topic: row.source_topic,
    provider,
    key: raw.key === null ? null : raw.key.toString('utf8'),
    value: raw.value,
    by: key,
  });
}

export function createReviewActivities(deps: ReviewActivityDeps): ReviewActivities & GroupReviewActivities {
  let reviewColumns: boolean | undefined;
  /** Mirrors the outcome onto the pipeline's quarantine row when that table has the review columns. */
  const mirror = async (
    dlq: DlqRecordRef,
    resolution: ReviewResolution,
    reviewer: string | null,
    workflowId: string,
  ) => {
    reviewColumns ??= await quarantineReviewColumnsPresent(deps.pool);
    if (reviewColumns) await mirrorReviewResolution(deps.pool, dlq, resolution, reviewer, workflowId);
  };
  return {
    async registerReview(workflowId, input) {
      await insertReview(deps.pool, workflowId, input);
    },

    async reinject(workflowId, input, payload): Promise<ReinjectResult> {
      const r = input.record;
      const src = sourceOf(r);
      if (!src.topic) throw ApplicationFailure.nonRetryable('record has no source_topic', 'InvalidReviewDecision');
      // approve passes the record's own original_payload: since issue 13 that is a redacted copy, so the original bytes
      // are read back from the raw topic (which keeps them) when they are still there.
      let value: Buffer | string = payload.encoding === 'base64' ? Buffer.from(payload.data, 'base64') : payload.data;
      if (payload.data === originalPayloadOf(r) && deps.readRaw && src.partition !== null && src.offset !== null) {
        const raw = await deps.readRaw(src.topic, src.partition, String(src.offset));
        if (raw) value = raw.value;
      }
      return produceToRaw(deps.producer, {
        topic: src.topic,
        provider: text(r.provider) ?? src.topic.split('.')[1] ?? '',
        key: text(r.provider_event_id) ?? text(r.event_id),
        value,
        by: workflowId,
      });
    },

    async recordDecision(workflowId, input, resolution: ReviewResolution, decision: ReviewDecision | null, reinjected) {
      const row = await storeDecision(deps.pool, workflowId, resolution, decision, reinjected);
      if (!row) throw new Error(`no quarantine_reviews row for ${workflowId}`);
      await mirror(input.dlq, resolution, decision?.reviewer ?? null, workflowId);
    },

    async registerReviews(groupId, input) {
      return registerReviewGroup(deps.pool, {
        groupId,
        dlq: input.dlq,
        items: input.items,
        timeoutMs: input.reviewTimeoutMs ?? DEFAULT_REVIEW_TIMEOUT_MS,
      });
    },

    async checkDecision(key, decision) {
      const row = await reviewRow(deps.pool, key);
      if (!row) throw refuse(`no quarantined record under review with key ${key}`);
      if (row.status !== 'pending') throw refuse(`the review is already ${row.status}`);
      const error = decisionError(decision, { source_topic: row.source_topic, original_payload: '' });
      if (error) throw refuse(error);
      if (decision.decision !== 'discard' && (row.source_partition === null || row.source_offset === null))
        throw refuse('the record has no source coordinates to re-inject into');
    },

    async reinjectReview(key, decision) {
      return reinjectReviewed(deps, key, decision);
    },

    async recordReviewDecision(key, resolution, decision, reinjected) {
      const row = await storeDecision(deps.pool, key, resolution, decision, reinjected);
      if (!row) throw new Error(`no quarantine_reviews row for ${key}`);
      await mirror(
        { topic: row.dlq_topic, partition: row.dlq_partition, offset: row.dlq_offset, sha256Hex: row.sha },
        resolution,
        decision.reviewer,
        reviewDecisionWorkflowId(key),
      );
    },
  };
}
