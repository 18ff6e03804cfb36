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
  reviewWorkflowId,
  WORKFLOW_TYPES,
} from '@pep/contracts';
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import type pg from 'pg';
import { type DlqReviewInput, MAX_CORRECTED_PAYLOAD_CHARS, type ReviewDecision, type ReviewState } from './types.ts';

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

/** The review workflow id of a validation_quarantine row (numeric id), or the argument itself when it is an id. */
export async function resolveWorkflowId(pool: pg.Pool, idOrWorkflowId: string): Promise<string> {
  if (!/^\d+$/.test(idOrWorkflowId)) return idOrWorkflowId;
  const { rows } = await pool.query<{
    source_topic: string | null;
    source_partition: number | null;
    source_offset: string | null;
    kafka_topic: string;
    kafka_partition: number;
    kafka_offset: string;
    item_index: number | null;
  }>(
    `SELECT source_topic, source_partition, source_offset::text, kafka_topic, kafka_partition, kafka_offset::text,
            CASE WHEN jsonb_typeof(record->'item_index') = 'number' THEN (record->>'item_index')::int END AS item_index
       FROM validation_quarantine WHERE id = $1`,
    [idOrWorkflowId],
  );
  const r = rows[0];
  if (!r) throw new Error(`no validation_quarantine row with id ${idOrWorkflowId}`);
  return r.source_topic !== null && r.source_partition !== null && r.source_offset !== null
    ? reviewWorkflowId(r.source_topic, r.source_partition, r.source_offset, r.item_index)
    : reviewWorkflowId(r.kafka_topic, r.kafka_partition, r.kafka_offset);
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
  }>('SELECT record, kafka_topic, kafka_partition, kafka_offset::text FROM validation_quarantine WHERE id = $1', [
    quarantineId,
  ]);
  const r = rows[0];
  if (!r) throw new Error(`no validation_quarantine row with id ${quarantineId}`);
  return {
    record: r.record ?? {},
    dlq: { topic: r.kafka_topic, partition: r.kafka_partition, offset: r.kafka_offset },
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
