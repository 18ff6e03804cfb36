/**
 * Operations behind the quarantine review CLI: list quarantined records with their review state (the pipeline's
 * validation_quarantine joined with quarantine_reviews), resolve a row id to its review workflow, and send a
 * decision signal after checking it the same way the workflow will. Not the workflow itself (workflows.ts).
 */
import {
  REVIEW_DECISIONS,
  REVIEW_SIGNAL,
  REVIEW_STATUS_QUERY,
  type ReviewDecisionKind,
  type ReviewItem,
  reviewDecisionWorkflowId,
  reviewGroupWorkflowId,
  reviewKeyOfRecord,
  sourceCoordinates,
  WORKFLOW_TYPES,
} from '@pep/contracts';
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type pg from 'pg';
import {
  type DlqDecisionResult,
  type DlqReviewGroupInput,
  type DlqReviewInput,
  MAX_CORRECTED_PAYLOAD_CHARS,
  type ReviewDecision,
  type ReviewState,
} from './types.ts';

export interface QuarantinedRow {
  readonly quarantine_id: string | null;
  readonly event_id: string | null;
  readonly provider: string | null;
  readonly failure_reason: string | null;
  readonly source: string | null;
  readonly quarantined_at: string | null;
  readonly review_workflow_id: string | null;
  readonly review_status: string;
  readonly decided_by: string | null;
}

/** Rows listed at most per call. */
export const MAX_LIST_ROWS = 1000;

async function hasQuarantineTable(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>(
    `SELECT to_regclass('public.validation_quarantine') IS NOT NULL AS ok`,
  );
  return rows[0]?.ok === true;
}

export async function listQuarantined(
  pool: pg.Pool,
  opts: { status?: string; limit?: number } = {},
): Promise<QuarantinedRow[]> {
  const limit = Math.min(Math.max(1, opts.limit ?? 50), MAX_LIST_ROWS);
  const status = opts.status ?? 'pending';
  if (await hasQuarantineTable(pool)) {
    const { rows } = await pool.query<QuarantinedRow>(
      `SELECT q.id::text AS quarantine_id, q.event_id, q.provider, q.failure_reason,
              CASE WHEN q.source_topic IS NULL THEN NULL
                   ELSE q.source_topic || '/' || q.source_partition || '/' || q.source_offset END AS source,
              q.quarantined_at::text AS quarantined_at, r.workflow_id AS review_workflow_id,
              COALESCE(r.status, 'no_review') AS review_status, r.decided_by
         FROM validation_quarantine q
         LEFT JOIN quarantine_reviews r
           ON r.dlq_topic = q.kafka_topic AND r.dlq_partition = q.kafka_partition AND r.dlq_offset = q.kafka_offset
          -- DLQ coordinates are reused after a topic is re-created: the fingerprint names the record (null: a
          -- review registered before it was kept, joined by coordinates alone).
          AND (r.dlq_record_sha256 IS NULL OR r.dlq_record_sha256 = q.record_sha256)
        WHERE $1 = 'all' OR COALESCE(r.status, 'no_review') = $1
           OR ($1 = 'pending' AND r.status IS NULL)
        ORDER BY q.quarantined_at DESC
        LIMIT $2`,
      [status, limit],
    );
    return rows;
  }
  const { rows } = await pool.query<QuarantinedRow>(
    `SELECT NULL AS quarantine_id, event_id, provider, failure_reason,
            source_topic || '/' || source_partition || '/' || source_offset AS source,
            requested_at::text AS quarantined_at, workflow_id AS review_workflow_id, status AS review_status, decided_by
       FROM quarantine_reviews WHERE $1 = 'all' OR status = $1 ORDER BY requested_at DESC LIMIT $2`,
    [status, limit],
  );
  return rows;
}

/** The review key of a validation_quarantine row (numeric id), or the argument itself when it is a key. */
export async function resolveWorkflowId(pool: pg.Pool, idOrWorkflowId: string): Promise<string> {
  if (!/^\d+$/.test(idOrWorkflowId)) return idOrWorkflowId;
  const input = await reviewInputOfRow(pool, idOrWorkflowId);
  return reviewKeyOfRecord(input.record, input.dlq);
}

export function buildDecision(opts: {
  decision: string;
  reviewer: string;
  reason?: string;
  correctedPayload?: string;
}): ReviewDecision {
  if (!(REVIEW_DECISIONS as readonly string[]).includes(opts.decision)) {
    throw new Error(`decision must be one of ${REVIEW_DECISIONS.join(', ')}, got ${JSON.stringify(opts.decision)}`);
  }
  if (!opts.reviewer.trim()) throw new Error('a reviewer name is required (--by)');
  if (opts.decision === 'reprocess' && !opts.correctedPayload?.trim()) {
    throw new Error('reprocess needs the corrected payload (--payload-file)');
  }
  if ((opts.correctedPayload?.length ?? 0) > MAX_CORRECTED_PAYLOAD_CHARS) {
    throw new Error(`the corrected payload is over ${MAX_CORRECTED_PAYLOAD_CHARS} characters`);
  }
  return {
    decision: opts.decision as ReviewDecisionKind,
    reviewer: opts.reviewer.trim(),
    ...(opts.reason ? { reason: opts.reason } : {}),
    ...(opts.decision === 'reprocess' ? { correctedPayload: opts.correctedPayload } : {}),
  };
}

/** The review input of a validation_quarantine row (for a review the bridge never started). */
export async function reviewInputOfRow(pool: pg.Pool, quarantineId: string): Promise<DlqReviewInput> {
  const { rows } = await pool.query<{
    record: Record<string, unknown> | null;
    kafka_topic: string;
    kafka_partition: number;
    kafka_offset: string;
    sha: string;
  }>(
    `SELECT record, kafka_topic, kafka_partition, kafka_offset::text, encode(record_sha256, 'hex') AS sha
       FROM validation_quarantine WHERE id = $1`,
    [quarantineId],
  );
  const r = rows[0];
  if (!r) throw new Error(`no validation_quarantine row with id ${quarantineId}`);
  return {
    record: r.record ?? {},
    dlq: { topic: r.kafka_topic, partition: r.kafka_partition, offset: r.kafka_offset, sha256Hex: r.sha },
  };
}

/**
 * Signals the decision, then reads the workflow's state back so that a refused decision is reported. When no review
 * workflow exists yet and `startWith` is given (the record's input), the review is started with the signal.
 */
export async function sendDecision(
  client: Client,
  workflowId: string,
  decision: ReviewDecision,
  startWith?: { input: DlqReviewInput; taskQueue: string },
): Promise<ReviewState> {
  const handle = client.workflow.getHandle(workflowId);
  let status: string | null = null;
  try {
    status = (await handle.describe()).status.name;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError) || !startWith) throw err;
  }
  if (status === null && startWith) {
    await client.workflow.signalWithStart(WORKFLOW_TYPES.dlqReview, {
      workflowId,
      taskQueue: startWith.taskQueue,
      args: [startWith.input],
      signal: REVIEW_SIGNAL,
      signalArgs: [decision],
    });
  } else if (status !== 'RUNNING') {
    throw new Error(`review workflow ${workflowId} is ${status}, not waiting for a decision`);
  } else {
    await handle.signal(REVIEW_SIGNAL, decision);
  }
  return handle.query<ReviewState>(REVIEW_STATUS_QUERY);
}

// ---------------------------------------------------------------------------------------- grouped review (issue 13)

/** A review as its quarantine_reviews row tells it. */
export interface ReviewRowState {
  readonly review_key: string;
  readonly workflow_id: string;
  readonly status: string;
  readonly decided_by: string | null;
  readonly decision_reason: string | null;
  readonly reinjected_topic: string | null;
  readonly reinjected_partition: number | null;
  readonly reinjected_offset: string | null;
  readonly requested_at: string;
  readonly expires_at: string | null;
  readonly decided_at: string | null;
}

export async function reviewState(pool: pg.Pool, key: string): Promise<ReviewRowState | undefined> {
  const { rows } = await pool.query<ReviewRowState>(
    `SELECT review_key, workflow_id, status, decided_by, decision_reason, reinjected_topic, reinjected_partition,
            reinjected_offset::text, requested_at::text, expires_at::text, decided_at::text
       FROM quarantine_reviews WHERE review_key = $1`,
    [key],
  );
  return rows[0];
}

/** True when the review was registered by a legacy per-record DlqReviewWorkflow (its id is the review key). */
export const isLegacyReview = (row: ReviewRowState) => row.workflow_id === row.review_key;

/** The deepest message of a workflow failure (an activity's ApplicationFailure refusing the decision). */
function failureMessage(err: unknown): string {
  let e = err as { cause?: unknown; message?: string } | undefined;
  let msg = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause as { cause?: unknown; message?: string };
    if (e.message) msg = e.message;
  }
  return msg;
}

/**
 * Applies a decision to a grouped review: one DlqDecisionWorkflow on the review task queue (its id makes one applied
 * decision per record; a refused attempt may be followed by another), awaited for its outcome.
 */
export async function decideGrouped(
  client: Client,
  key: string,
  decision: ReviewDecision,
  taskQueue: string,
): Promise<{ ok: true; result: DlqDecisionResult } | { ok: false; error: string }> {
  try {
    const handle = await client.workflow.start(WORKFLOW_TYPES.dlqDecision, {
      taskQueue,
      workflowId: reviewDecisionWorkflowId(key),
      args: [{ key, decision }],
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      workflowIdConflictPolicy: 'FAIL',
    });
    return { ok: true, result: (await handle.result()) as DlqDecisionResult };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      return { ok: false, error: 'a decision for this record was already applied (or is being applied)' };
    if (err instanceof WorkflowFailedError) return { ok: false, error: failureMessage(err) };
    throw err;
  }
}

/**
 * Registers a quarantined row that no review group covers (reviews were off, or the record predates the bridge) with a
 * one-record DlqReviewGroupWorkflow, so it can be decided; returns its review key.
 */
export async function registerRowForReview(
  client: Client,
  pool: pg.Pool,
  quarantineId: string,
  taskQueue: string,
): Promise<string> {
  const { input } = { input: await reviewInputOfRow(pool, quarantineId) };
  const r = input.record;
  const { item, ...src } = sourceCoordinates(r);
  const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 512) : null);
  const key = reviewKeyOfRecord(r, input.dlq);
  const reviewItem: ReviewItem = {
    key,
    dlqOffset: input.dlq.offset,
    dlqRecordSha256: input.dlq.sha256Hex ?? null,
    eventId: text(r.event_id),
    provider: text(r.provider),
    failureReason: text(r.failure_reason),
    validationErrors: [],
    source: src,
    itemIndex: item,
  };
  const groupInput: DlqReviewGroupInput = {
    dlq: { topic: input.dlq.topic, partition: input.dlq.partition },
    items: [reviewItem],
  };
  const handle = await client.workflow.start(WORKFLOW_TYPES.dlqReviewGroup, {
    taskQueue,
    workflowId: reviewGroupWorkflowId(input.dlq.topic, input.dlq.partition, input.dlq.offset, input.dlq.offset),
    args: [groupInput],
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  await handle.result();
  return key;
}
