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
  type RetryStrategy,
} from '@pep/contracts';
import type { RecordSender } from '@pep/kafka-wire/serial-producer';
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
import { type BusinessRulesConfig, validateBusinessRules } from './rules.ts';
import { churnRequest, churnResult, fraudRequest, fraudResult, retryRequest, retryResult } from './scoring.ts';
import type {
  ChurnFeatures,
  ChurnResult,
  FraudResult,
  PaymentActivities,
  ReinjectResult,
  RetryStrategyResult,
  ReviewActivities,
  ReviewDecision,
  ReviewResolution,
  ScoreItem,
  ScoreResult,
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
      const declared = Number(event.metadata.retry_attempt_count);
      const seen =
        event.provider && event.object_id
          ? (await earlierFailures(deps.pool, event.provider, event.object_id, event.event_id)) + 1
          : 1;
      const attempt = Math.max(seen, Number.isSafeInteger(declared) && declared > 0 ? declared : 1);
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
      const owned = new Set(
        await claimEvents(
          deps.pool,
          events.map((e) => e.event_id),
          workflowId,
        ),
      );
      return runBatchSteps(events, ownedPositions(events, owned), activities, { workflowId, runId });
    },

    async validateRulesBatch(events) {
      return events.map((e) => validateBusinessRules(e, deps.rules));
    },

    async scoreEventsBatch(items): Promise<ScoreResult[]> {
      // Reads for the whole batch: customers' histories and earlier failures of the same provider objects.
      // One stored-history summary per distinct (customer, event time), without the batch's own events (added below
      // from memory, so a retried batch whose rows were already stored does not count them twice).
      const batchIds = items.map((i) => i.event.event_id);
      const keyOf = (customerId: string, at: Date) => `${at.getTime()} ${customerId}`;
      const queries = new Map<string, { customerId: string; at: Date }>();
      for (const i of items) {
        if (!i.event.customer_id) continue;
        const at = eventTime(i.event, now);
        queries.set(keyOf(i.event.customer_id, at), { customerId: i.event.customer_id, at });
      }
      const failedObjects = items
        .filter((i) => i.outcome === 'failed' && i.event.provider && i.event.object_id)
        .map((i) => ({ provider: i.event.provider as string, objectId: i.event.object_id as string }));
      const [summaryList, failures] = await Promise.all([
        historySummaries(deps.pool, [...queries.values()], batchIds),
        failuresByObject(deps.pool, failedObjects),
      ]);
      const fraudIdx: number[] = [];
      const retryIdx: number[] = [];
      const churnIdx: number[] = [];
      const retryAttempts: number[] = [];
      const churnBodies: ChurnInput[] = [];
      const churnFeaturesList: ChurnFeatures[] = [];
      const summaries = new Map([...queries.keys()].map((k, i) => [k, summaryList[i] as HistorySummary]));
      const churnOf = async (item: ScoreItem): Promise<ChurnFeatures> => {
        const e = item.event;
        const customerId = e.customer_id as string;
        const at = eventTime(e, now);
        // The batch's own earlier events of the same customer, newest first (stable: batch order on equal times).
        const inBatch = items
          .filter((o) => o !== item && o.event.customer_id === customerId && o.outcome !== 'other')
          .map((o) => ({ outcome: o.outcome, at: eventTime(o.event, now) }))
          .filter((h) => h.at.getTime() <= at.getTime())
          .sort((a, b) => b.at.getTime() - a.at.getTime());
        const stored = summaries.get(keyOf(customerId, at)) as HistorySummary;
        const newestStored = stored.newestAt?.getTime() ?? Number.NEGATIVE_INFINITY;
        if (inBatch.every((h) => h.at.getTime() > newestStored)) {
          // The batch's events are all newer than the stored ones: the two summaries concatenate exactly.
          return churnFeaturesFromSummary(concatSummaries(summarizeHistory(inBatch), stored), {
            outcome: item.outcome,
            at,
          });
        }
        // Interleaved in time (out-of-order events): merge the rows (rare, one extra query for this event).
        const rows = await customerHistory(deps.pool, customerId, batchIds, at);
        const history = [...rows, ...inBatch].sort((a, b) => (b.at?.getTime() ?? 0) - (a.at?.getTime() ?? 0));
        return churnFeatures(history, { outcome: item.outcome, at });
      };
      const churnById = new Map<string, ChurnFeatures>();
      for (const item of items) if (item.event.customer_id) churnById.set(item.event.event_id, await churnOf(item));
      items.forEach((item, i) => {
        const e = item.event;
        if (item.outcome === 'succeeded') fraudIdx.push(i);
        if (item.outcome === 'failed') {
          retryIdx.push(i);
          const seen = failures.filter(
            (f) => f.provider === e.provider && f.object_id === e.object_id && f.event_id !== e.event_id,
          ).length;
          const declared = Number(e.metadata.retry_attempt_count);
          retryAttempts.push(Math.max(seen + 1, Number.isSafeInteger(declared) && declared > 0 ? declared : 1));
        }
        if (e.customer_id) {
          const features = churnById.get(e.event_id) as ChurnFeatures;
          churnIdx.push(i);
          churnFeaturesList.push(features);
          churnBodies.push(churnRequest(e, features));
        }
      });
      const post = async <T>(path: string, bodies: unknown[]): Promise<T[]> => {
        if (bodies.length === 0) return [];
        const r = await deps.inference.post<BatchResponse<T>>(path, { items: bodies });
        if (!Array.isArray(r.results) || r.results.length !== bodies.length) {
          throw new Error(`${path} answered ${r.results?.length} results for ${bodies.length} items`);
        }
        return r.results;
      };
      const [fraud, retry, churn] = await Promise.all([
        post<FraudScore>(
          INFERENCE_PATHS.fraudScoreBatch,
          fraudIdx.map((i) => fraudRequest((items[i] as ScoreItem).event)),
        ),
        post<RetryStrategy>(
          INFERENCE_PATHS.retryStrategyBatch,
          retryIdx.map((i, k) => retryRequest((items[i] as ScoreItem).event, retryAttempts[k] as number)),
        ),
        post<ChurnPrediction>(INFERENCE_PATHS.churnPredictBatch, churnBodies),
      ]);
      type Scores = { fraud: FraudResult | null; retryStrategy: RetryStrategyResult | null; churn: ChurnResult | null };
      const out: Scores[] = items.map(() => ({ fraud: null, retryStrategy: null, churn: null }));
      fraudIdx.forEach((i, k) => {
        (out[i] as Scores).fraud = fraudResult(fraud[k] as FraudScore);
      });
      retryIdx.forEach((i, k) => {
        (out[i] as Scores).retryStrategy = retryResult(retry[k] as RetryStrategy, retryAttempts[k] as number);
      });
      churnIdx.forEach((i, k) => {
        (out[i] as Scores).churn = churnResult(churn[k] as ChurnPrediction, churnFeaturesList[k] as ChurnFeatures);
      });
      return out;
    },

    async persistEventsBatch(enriched) {
      return persistEnrichedEvents(deps.pool, enriched);
    },
  };
  return activities;
}

// --------------------------------------------------------------------------------------------------- review

export interface ReviewActivityDeps {
  readonly pool: pg.Pool;
  /** Sends with acks=all; the worker passes a SerialIdempotentProducer (kafkajs idempotent, used safely). */
  readonly producer: RecordSender;
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

export function createReviewActivities(deps: ReviewActivityDeps): ReviewActivities {
  let reviewColumns: boolean | undefined;
  return {
    async registerReview(workflowId, input) {
      const r = input.record;
      const src = sourceOf(r);
      const original =
        typeof r.original_payload === 'string'
          ? r.original_payload
          : r.original_payload
            ? JSON.stringify(r.original_payload)
            : null;
      await deps.pool.query(
        `INSERT INTO quarantine_reviews (workflow_id, event_id, provider, failure_reason, validation_errors,
            source_topic, source_partition, source_offset, dlq_topic, dlq_partition, dlq_offset, original_payload)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (workflow_id) DO NOTHING`,
        [
          workflowId,
          text(r.event_id),
          text(r.provider),
          text(r.failure_reason),
          JSON.stringify(Array.isArray(r.validation_errors) ? r.validation_errors : []),
          src.topic,
          src.partition,
          src.offset,
          input.dlq.topic,
          input.dlq.partition,
          input.dlq.offset,
          original,
        ],
      );
    },

    async reinject(workflowId, input, payload): Promise<ReinjectResult> {
      const r = input.record;
      const src = sourceOf(r);
      if (!src.topic) throw ApplicationFailure.nonRetryable('record has no source_topic', 'InvalidReviewDecision');
      const provider = text(r.provider) ?? src.topic.split('.')[1] ?? '';
      const key = text(r.provider_event_id) ?? text(r.event_id);
      const [meta] = await deps.producer.send({
        topic: src.topic,
        acks: -1,
        messages: [
          {
            key,
            value: payload.encoding === 'base64' ? Buffer.from(payload.data, 'base64') : payload.data,
            headers: {
              'received-at': new Date().toISOString(),
              'request-id': `review:${workflowId}`,
              provider,
              'content-type': provider === 'braintree' ? 'application/x-www-form-urlencoded' : 'application/json',
              ...(key ? { 'event-id': key } : {}),
              'reprocessed-from': workflowId,
            },
          },
        ],
      });
      if (!meta) throw new Error(`no produce ack for ${src.topic}`);
      return { topic: src.topic, partition: meta.partition, offset: String(meta.baseOffset ?? meta.offset ?? '') };
    },

    async recordDecision(workflowId, input, resolution: ReviewResolution, decision: ReviewDecision | null, reinjected) {
      const res = await deps.pool.query(
        `UPDATE quarantine_reviews SET status = $2, decided_by = $3, decision_reason = $4, corrected_payload = $5,
            reinjected_topic = $6, reinjected_partition = $7, reinjected_offset = $8, decided_at = now()
          WHERE workflow_id = $1`,
        [
          workflowId,
          resolution,
          decision?.reviewer ?? null,
          decision?.reason ?? null,
          decision?.decision === 'reprocess' ? (decision.correctedPayload ?? null) : null,
          reinjected?.topic ?? null,
          reinjected?.partition ?? null,
          reinjected?.offset ?? null,
        ],
      );
      if (res.rowCount !== 1) throw new Error(`no quarantine_reviews row for ${workflowId}`);
      // Mirror the outcome onto the pipeline's quarantine row when that table exists (matched by DLQ coordinates).
      reviewColumns ??= await quarantineReviewColumnsPresent(deps.pool);
      if (reviewColumns && resolution !== 'expired') {
        await deps.pool.query(
          `UPDATE validation_quarantine SET reviewed = true, reviewed_at = now(), reviewed_by = $4, resolution = $5,
              review_workflow_id = $6
            WHERE kafka_topic = $1 AND kafka_partition = $2 AND kafka_offset = $3`,
          [input.dlq.topic, input.dlq.partition, input.dlq.offset, decision?.reviewer ?? null, resolution, workflowId],
        );
      } else if (reviewColumns) {
        await deps.pool.query(
          `UPDATE validation_quarantine SET resolution = 'expired', review_workflow_id = $4
            WHERE kafka_topic = $1 AND kafka_partition = $2 AND kafka_offset = $3`,
          [input.dlq.topic, input.dlq.partition, input.dlq.offset, workflowId],
        );
      }
    },
  };
}
