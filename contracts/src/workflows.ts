/**
 * Temporal names shared by the workflow worker (workflows/), the Kafka→Temporal bridge (pipeline/src/bridge) and the
 * review CLI: task queue, workflow type names, signal/query names and the workflow-id scheme (ids come from business
 * keys, so a redelivered event maps to the same workflow). Not for workflow logic or activity types.
 */

/** Task queue of the payment worker (PaymentEventWorkflow and DlqReviewWorkflow). Override with TEMPORAL_TASK_QUEUE. */
export const PAYMENT_TASK_QUEUE = 'payment-processing';

/**
 * Task queue of the batch graph's worker (orchestration/): schedules, steps, backfills. Separate from the payment
 * path so that a long batch step never holds a slot the payment workflows need. Override with ORCH_TASK_QUEUE.
 */
export const ORCHESTRATION_TASK_QUEUE = 'batch-graph';

/**
 * Task queue of the DLQ review work (registering quarantined records for review, applying reviewers' decisions),
 * polled by its own worker with its own small slot budget, so that a flood of invalid events never queues work in
 * front of payments (issue 13). Override with REVIEW_TASK_QUEUE.
 */
export const REVIEW_TASK_QUEUE = 'dlq-review';

export const WORKFLOW_TYPES = {
  paymentEvent: 'PaymentEventWorkflow',
  paymentBatch: 'PaymentBatchWorkflow',
  /** One per quarantined record, waiting for a signal: started by bridges before issue 13; kept for running ones. */
  dlqReview: 'DlqReviewWorkflow',
  /** Registers a group of quarantined records for review (one workflow per group of DLQ records, not per record). */
  dlqReviewGroup: 'DlqReviewGroupWorkflow',
  /** Applies one reviewer decision to one quarantined record. */
  dlqDecision: 'DlqDecisionWorkflow',
} as const;

export const REVIEW_SIGNAL = 'reviewDecision';
export const REVIEW_STATUS_QUERY = 'reviewStatus';
export const PAYMENT_STATUS_QUERY = 'paymentStatus';

/** Decisions a reviewer can send to a DlqReviewWorkflow. */
export const REVIEW_DECISIONS = ['approve', 'reprocess', 'discard'] as const;
export type ReviewDecisionKind = (typeof REVIEW_DECISIONS)[number];
/** How a review ended (quarantine_reviews.status once decided; validation_quarantine.resolution). */
export type ReviewResolution = 'approved' | 'reprocessed' | 'discarded' | 'expired';

/** Workflow id of the PaymentEventWorkflow for one unified event: derived from `event_id` (CONTRACT section 6). */
export function paymentWorkflowId(eventId: string): string {
  return `payment-${eventId}`;
}

/**
 * Workflow id of a PaymentBatchWorkflow: the Kafka offsets it covers (events inside are claimed by event_id) and,
 * when given, a fingerprint of its events (the bridge's: a hash of their event ids). Offsets alone are not unique
 * beyond one incarnation of a topic: a recreated topic or a new cluster starts at offset 0 again, and a batch of new
 * events named like an earlier batch was refused by Temporal as a duplicate (REJECT_DUPLICATE) and never ran. The
 * same records re-consumed after a crash give the same id again, so a redelivered batch still runs once.
 */
export function paymentBatchWorkflowId(
  topic: string,
  partition: number,
  firstOffset: string,
  lastOffset: string,
  fingerprint?: string,
): string {
  return `payment-batch-${topic}-${partition}-${firstOffset}-${lastOffset}${fingerprint ? `-${fingerprint}` : ''}`;
}

/** Workflow id of a DlqReviewGroupWorkflow: the validation-DLQ offsets of the records it registers. */
export function reviewGroupWorkflowId(
  dlqTopic: string,
  partition: number,
  firstOffset: string,
  lastOffset: string,
): string {
  return `dlq-review-group-${dlqTopic}-${partition}-${firstOffset}-${lastOffset}`;
}

/** Workflow id of the DlqDecisionWorkflow of one record (its review key): one applied decision per record. */
export function reviewDecisionWorkflowId(reviewKey: string): string {
  return `dlq-decision-${reviewKey}`;
}

/**
 * Review key of one quarantined record (also the workflow id of a legacy per-record DlqReviewWorkflow), from the
 * record's ORIGINAL raw-topic coordinates (unique per raw message even when the provider event id is unknown) plus the
 * Adyen notification item index when the record is about one item of a multi-item message.
 */
export function reviewWorkflowId(
  sourceTopic: string,
  partition: number,
  offset: string | number,
  itemIndex?: number | null,
): string {
  const item = itemIndex === undefined || itemIndex === null ? '' : `-item${itemIndex}`;
  return `dlq-review-${sourceTopic}-${partition}-${offset}${item}`;
}

/** A validation-DLQ record's ORIGINAL raw-topic coordinates and item index, as far as it names them. */
export function sourceCoordinates(record: Record<string, unknown>): {
  topic: string | null;
  partition: number | null;
  offset: string | null;
  item: number | null;
} {
  const topic = typeof record.source_topic === 'string' ? record.source_topic : null;
  const partition = Number.isInteger(record.kafka_partition) ? (record.kafka_partition as number) : null;
  const offset =
    (typeof record.kafka_offset === 'number' || typeof record.kafka_offset === 'string') &&
    /^\d+$/.test(String(record.kafka_offset))
      ? String(record.kafka_offset)
      : null;
  const item = Number.isInteger(record.item_index) ? (record.item_index as number) : null;
  return { topic, partition, offset, item };
}

/**
 * Review key of a validation-DLQ record (what quarantine_reviews is unique on). Coordinates alone do not name a record:
 * after a topic is re-created or the platform moves to another cluster, offsets start again, and a review keyed by them
 * alone swallowed the new record's review (ON CONFLICT DO NOTHING). So the key is the raw record's coordinates and
 * item index (reviewWorkflowId) plus the raw record's timestamp as the DLQ record names it (`received_at`, epoch ms):
 * the same raw record transformed twice (its DLQ records differ in `quarantined_at`) still has one review. A record
 * naming no coordinates is keyed by the DLQ message's own coordinates plus the first 16 hex digits of its fingerprint
 * (`dlqSha256Hex`, the quarantine row's record_sha256), when known.
 */
export function reviewKeyOfRecord(
  record: Record<string, unknown>,
  dlq: {
    readonly topic: string;
    readonly partition: number;
    readonly offset: string;
    readonly sha256Hex?: string | null;
  },
): string {
  const s = sourceCoordinates(record);
  if (s.topic !== null && s.partition !== null && s.offset !== null) {
    const at = typeof record.received_at === 'string' ? Date.parse(record.received_at) : Number.NaN;
    const base = reviewWorkflowId(s.topic, s.partition, s.offset, s.item);
    return Number.isFinite(at) ? `${base}-at${at}` : base;
  }
  const base = reviewWorkflowId(dlq.topic, dlq.partition, dlq.offset);
  return dlq.sha256Hex ? `${base}-${dlq.sha256Hex.slice(0, 16)}` : base;
}

/**
 * One quarantined record as a DlqReviewGroupWorkflow carries it (the bridge builds it from a validation-DLQ record):
 * a bounded summary; the record itself is in the DLQ topic and the quarantine table, its original bytes in the raw
 * topic at `source`.
 */
export interface ReviewItem {
  /** Review key: reviewKeyOfRecord. */
  readonly key: string;
  readonly dlqOffset: string;
  /** The DLQ record's fingerprint (hex; the quarantine row's record_sha256), which tells records at reused offsets apart. */
  readonly dlqRecordSha256?: string | null;
  readonly eventId: string | null;
  readonly provider: string | null;
  readonly failureReason: string | null;
  /** At most MAX_REVIEW_ITEM_ERRORS errors, each text cut to MAX_REVIEW_ERROR_CHARS. */
  readonly validationErrors: readonly { readonly field: string; readonly code: string; readonly message: string }[];
  readonly source: { readonly topic: string | null; readonly partition: number | null; readonly offset: string | null };
  readonly itemIndex: number | null;
}

/** Bounds of one review group: its workflow input stays far below Temporal's payload limits. */
export const MAX_REVIEW_GROUP_ITEMS = 500;
export const MAX_REVIEW_GROUP_BYTES = 256 * 1024;
export const MAX_REVIEW_ITEM_ERRORS = 10;
export const MAX_REVIEW_ERROR_CHARS = 256;
