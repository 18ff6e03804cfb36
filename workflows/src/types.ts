/**
 * Inputs, results and activity signatures shared by the workflows (type-only imports there), the activities, the
 * bridge and the review CLI. Workflow-safe: types and constants only.
 */
import type {
  ChurnInput,
  ChurnPrediction,
  FraudScore,
  RetryStrategy,
  ReviewDecisionKind,
  ReviewItem,
  ReviewResolution,
  ScoringFields,
  ScoringInfo,
} from '@pep/contracts';

export type { ReviewItem, ReviewResolution };

import type { Outcome, UnifiedEvent } from './event.ts';
import type { PolicyOverrides } from './policies.ts';
import type { RulesResult, RuleViolation } from './rules.ts';

/** `remote`: regular activities (one task each, full history); `local`: local activities (markers, fewer round trips). */
export type ActivityMode = 'remote' | 'local';

export interface PaymentEventWorkflowInput {
  /** The unified event JSON as read from payments.normalized. */
  readonly event: unknown;
  readonly policies?: PolicyOverrides;
  readonly activityMode?: ActivityMode;
  /** Kafka coordinates of the message that started the workflow (kept in the row's lineage). */
  readonly source?: { readonly topic: string; readonly partition: number; readonly offset: string };
}

export interface PaymentBatchWorkflowInput {
  /** Unified events, in offset order (at most MAX_BATCH_EVENTS). */
  readonly events: readonly unknown[];
  readonly policies?: PolicyOverrides;
  readonly activityMode?: ActivityMode;
  readonly source?: BatchSource;
  /** All offset ranges when the bridge pooled partitions into one batch (`source` is the first). */
  readonly sources?: readonly BatchSource[];
}

export interface BatchSource {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: string;
  readonly lastOffset: string;
}

/** Largest batch one PaymentBatchWorkflow takes (bounds its history and the bridge's start payload). */
export const MAX_BATCH_EVENTS = 200;

/** An event another workflow already claimed or stored: not processed again. */
export interface DuplicateEventResult {
  readonly event_id: string;
  readonly status: 'duplicate';
}

export interface PaymentBatchResult {
  readonly results: (PaymentEventResult | DuplicateEventResult)[];
}

/** The inference service's fraud score (@pep/contracts inference API) as the workflow keeps it, with how it was made. */
export type FraudResult = Omit<FraudScore, 'event_id' | keyof ScoringFields> & { readonly scoring?: ScoringInfo };

/** The inference service's retry strategy, with the attempt it was asked about. */
export interface RetryStrategyResult extends Omit<RetryStrategy, 'event_id'> {
  readonly attempt_count: number;
}

/** The churn model's features, computed from the customer's history in PostgreSQL. */
export type ChurnFeatures = Omit<ChurnInput, 'customer_id' | 'merchant_id' | 'event_id' | 'event'>;

export interface ChurnResult
  extends Pick<ChurnPrediction, 'risk_level' | 'risk_factors' | 'days_to_churn_estimate' | 'model_version'> {
  /** ChurnPrediction.churn_probability. */
  readonly churn_score: number;
  readonly features: ChurnFeatures;
  readonly scoring?: ScoringInfo;
}

export interface EnrichedEvent {
  readonly event: UnifiedEvent;
  readonly outcome: Outcome;
  readonly validation: RulesResult;
  readonly fraud: FraudResult | null;
  readonly retryStrategy: RetryStrategyResult | null;
  readonly churn: ChurnResult | null;
  readonly workflowId: string;
  readonly runId: string;
}

export interface PersistResult {
  readonly rowId: string;
  readonly table: 'payment_events';
  /** False when the row already existed (an activity retry after a commit whose ack was lost): same content. */
  readonly inserted: boolean;
}

export type PaymentStage = 'started' | 'rules' | 'fraud' | 'retry_strategy' | 'churn' | 'persist' | 'completed';

export interface PaymentEventResult {
  readonly event_id: string;
  /** `rejected`: business rules failed; the event is stored with validation_status `failed` and not scored. */
  readonly status: 'processed' | 'rejected';
  readonly outcome: Outcome;
  readonly validation_status: 'passed' | 'failed';
  readonly validation_errors: RuleViolation[];
  readonly fraud_score: number | null;
  readonly risk_level: string | null;
  readonly retry_strategy: RetryStrategyResult | null;
  readonly churn_score: number | null;
  readonly churn_risk_level: string | null;
  readonly row_id: string;
  readonly persistence_table: 'payment_events';
}

export interface PaymentActivities {
  validateRules(event: UnifiedEvent): Promise<RulesResult>;
  scoreFraud(event: UnifiedEvent): Promise<FraudResult>;
  recommendRetry(event: UnifiedEvent): Promise<RetryStrategyResult>;
  /** Null when the event has no customer. */
  predictChurn(event: UnifiedEvent, outcome: Outcome): Promise<ChurnResult | null>;
  persistEvent(enriched: EnrichedEvent): Promise<PersistResult>;
  /**
   * Claims event ids for a batch workflow; returns the ids this workflow owns (claimed now or earlier by the same
   * workflow id). An id claimed by another workflow, or stored by another workflow, is not returned.
   */
  claimEvents(eventIds: readonly string[], workflowId: string): Promise<string[]>;
  /**
   * Hands claims held by `fromWorkflowId` over to other workflows (a failed batch's events to their per-event
   * workflows); claims held by anyone else are left alone. Idempotent. Returns the event ids now held by their target.
   */
  transferClaims(fromWorkflowId: string, to: readonly ClaimTransfer[]): Promise<string[]>;
  /**
   * The whole batch in one activity: claims, rules, scoring, persistence (batch-core.ts), so a batch costs one
   * worker round trip. A retry re-claims (same workflow id: owned again) and re-upserts the same rows.
   */
  processEventsBatch(
    events: readonly UnifiedEvent[],
    workflowId: string,
    runId: string,
  ): Promise<PaymentBatchResult['results']>;
  /** Batch forms used by PaymentBatchWorkflow: one activity per step for the whole batch, results in input order. */
  validateRulesBatch(events: readonly UnifiedEvent[]): Promise<RulesResult[]>;
  scoreEventsBatch(items: readonly ScoreItem[]): Promise<ScoreResult[]>;
  persistEventsBatch(enriched: readonly EnrichedEvent[]): Promise<PersistResult[]>;
}

export interface ClaimTransfer {
  readonly eventId: string;
  readonly workflowId: string;
}

/** What became of one event of a batch whose batch step failed and that was re-driven as its own workflow. */
export interface FallbackOutcome {
  readonly event_id: string;
  readonly workflow_id: string;
  /** `running_elsewhere`: a workflow with that id already existed (it owns the event); `failed`: see that workflow. */
  readonly status: 'processed' | 'rejected' | 'duplicate' | 'failed' | 'running_elsewhere';
  readonly error?: string;
}

export interface ScoreItem {
  readonly event: UnifiedEvent;
  readonly outcome: Outcome;
}

export interface ScoreResult {
  readonly fraud: FraudResult | null;
  readonly retryStrategy: RetryStrategyResult | null;
  readonly churn: ChurnResult | null;
}

// ----------------------------------------------------------------------------------------------------- review

/** A `payments.validation.dlq` record plus the coordinates of the DLQ message itself. */
export interface DlqReviewInput {
  readonly record: Record<string, unknown>;
  readonly dlq: {
    readonly topic: string;
    readonly partition: number;
    readonly offset: string;
    /** The DLQ record's fingerprint (hex; validation_quarantine.record_sha256), when read from its quarantine row. */
    readonly sha256Hex?: string | null;
  };
  /** How long to wait for a decision before the review expires (the record then stays quarantined). */
  readonly reviewTimeoutMs?: number;
  readonly policies?: PolicyOverrides;
}

export interface ReviewDecision {
  readonly decision: ReviewDecisionKind;
  readonly reviewer: string;
  readonly reason?: string;
  /** For `reprocess`: the corrected raw payload (the body the provider should have sent), as text. */
  readonly correctedPayload?: string;
}

export interface ReviewState {
  readonly stage: 'registering' | 'awaiting_decision' | 'applying' | 'done';
  readonly decision: ReviewDecision | null;
  readonly rejectedSignals: { readonly decision: unknown; readonly error: string }[];
  readonly resolution: ReviewResolution | null;
}

/** A payload to re-inject: text, or base64 of bytes that were not UTF-8 (`original_payload_encoding`). */
export interface ReinjectPayload {
  readonly data: string;
  readonly encoding: 'utf8' | 'base64';
}

export interface ReinjectResult {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface DlqReviewResult {
  readonly workflow_id: string;
  readonly resolution: ReviewResolution;
  readonly decided_by: string | null;
  readonly reinjected: ReinjectResult | null;
}

export interface ReviewActivities {
  registerReview(workflowId: string, input: DlqReviewInput): Promise<void>;
  /** Produces the payload to the record's original raw topic and waits for the broker's ack. */
  reinject(workflowId: string, input: DlqReviewInput, payload: ReinjectPayload): Promise<ReinjectResult>;
  recordDecision(
    workflowId: string,
    input: DlqReviewInput,
    resolution: ReviewResolution,
    decision: ReviewDecision | null,
    reinjected: ReinjectResult | null,
  ): Promise<void>;
}

export const DEFAULT_REVIEW_TIMEOUT_MS = 7 * 24 * 3600 * 1000;

// ---------------------------------------------------------------------------------------- grouped review (issue 13)

/** Input of a DlqReviewGroupWorkflow: the records of a run of validation-DLQ offsets. */
export interface DlqReviewGroupInput {
  readonly dlq: { readonly topic: string; readonly partition: number };
  readonly items: readonly ReviewItem[];
  /** How long a review waits for a decision before it expires (`expires_at` of its row). */
  readonly reviewTimeoutMs?: number;
  readonly policies?: PolicyOverrides;
}

export interface DlqReviewGroupResult {
  readonly workflow_id: string;
  /** Rows inserted now (a record already registered is not registered again). */
  readonly registered: number;
}

/** Input of a DlqDecisionWorkflow: one reviewer decision for one record. */
export interface DlqDecisionInput {
  readonly key: string;
  readonly decision: ReviewDecision;
  readonly policies?: PolicyOverrides;
}

export interface DlqDecisionResult {
  readonly key: string;
  readonly resolution: ReviewResolution;
  readonly decided_by: string;
  readonly reinjected: ReinjectResult | null;
}

export interface GroupReviewActivities {
  /** Inserts one pending quarantine_reviews row per item (idempotent on the review key); returns how many were new. */
  registerReviews(groupId: string, input: DlqReviewGroupInput): Promise<number>;
  /**
   * Refuses (non-retryable ApplicationFailure `InvalidReviewDecision`) a decision that cannot apply: unknown key, a
   * review no longer pending, reprocess without a payload, a record without source coordinates.
   */
  checkDecision(key: string, decision: ReviewDecision): Promise<void>;
  /**
   * approve: the record's ORIGINAL bytes, read from its raw topic at its source coordinates (the DLQ carries a
   * redacted copy only); reprocess: the corrected payload. Produced to the raw topic with acks=all.
   */
  reinjectReview(key: string, decision: ReviewDecision): Promise<ReinjectResult>;
  recordReviewDecision(
    key: string,
    resolution: ReviewResolution,
    decision: ReviewDecision,
    reinjected: ReinjectResult | null,
  ): Promise<void>;
}

/** Largest corrected payload a reviewer may send (the edge's default body limit). */
export const MAX_CORRECTED_PAYLOAD_CHARS = 512 * 1024;
