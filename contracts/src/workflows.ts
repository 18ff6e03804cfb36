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

export const WORKFLOW_TYPES = {
  paymentEvent: 'PaymentEventWorkflow',
  paymentBatch: 'PaymentBatchWorkflow',
  dlqReview: 'DlqReviewWorkflow',
} as const;

export const REVIEW_SIGNAL = 'reviewDecision';
export const REVIEW_STATUS_QUERY = 'reviewStatus';
export const PAYMENT_STATUS_QUERY = 'paymentStatus';

/** Decisions a reviewer can send to a DlqReviewWorkflow. */
export const REVIEW_DECISIONS = ['approve', 'reprocess', 'discard'] as const;
export type ReviewDecisionKind = (typeof REVIEW_DECISIONS)[number];

/** Workflow id of the PaymentEventWorkflow for one unified event: derived from `event_id` (CONTRACT section 6). */
export function paymentWorkflowId(eventId: string): string {
  return `payment-${eventId}`;
}

/** Workflow id of a PaymentBatchWorkflow: the Kafka offsets it covers (events inside are claimed by event_id). */
export function paymentBatchWorkflowId(
  topic: string,
  partition: number,
  firstOffset: string,
  lastOffset: string,
): string {
  return `payment-batch-${topic}-${partition}-${firstOffset}-${lastOffset}`;
}

/**
 * Workflow id of the review of one quarantined record, from the record's ORIGINAL raw-topic coordinates (unique per
 * raw message even when the provider event id is unknown) plus the Adyen notification item index when the record is
 * about one item of a multi-item message.
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
