/**
 * Step `quarantine.review-timeouts`: the quarantine review timeouts as part of the graph. Each DlqReviewWorkflow
 * expires its own review with a durable timer (BRIDGE_REVIEW_TIMEOUT_HOURS); this step, every few minutes, makes
 * the outcome visible and repairs what the timers cannot reach:
 * - reviews that expired in the window (by their workflow's timer) are counted;
 * - a review still `pending` past its deadline whose workflow no longer runs (terminated, failed, lost with the
 *   Temporal state) is expired here, with the workflow's status as the reason, in one transaction per batch;
 * - a review past its deadline plus a grace period whose workflow is still running means the payment worker is not
 *   firing timers: the run fails (ReviewTimersOverdue), visibly.
 * Bounded: at most ORCH_REVIEW_BATCH overdue reviews per run (the rest wait for the next window).
 */
import { envInt } from '@pep/contracts/env';
import { temporalConnectionOptions } from '@pep/contracts/managed';
import { expireOrphanedReviews } from '@pep/pipeline/quarantine/review-store';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { hashOf } from '../history.ts';
import type { StepDefinition, StepEnv } from '../step.ts';
import { StepFailure } from '../step.ts';

const MAX_BATCH = envInt(process.env, 'ORCH_REVIEW_BATCH', 200, 1, 5000);

export function reviewTimeoutMs(env: NodeJS.ProcessEnv): number {
  return envInt(env, 'BRIDGE_REVIEW_TIMEOUT_HOURS', 168, 1, 24 * 365) * 3_600_000;
}

export function reviewGraceMs(env: NodeJS.ProcessEnv): number {
  return envInt(env, 'ORCH_REVIEW_GRACE_MINUTES', 60, 1, 7 * 24 * 60) * 60_000;
}

async function tablesMissing(env: StepEnv): Promise<string | null> {
  const { rows } = await env.pool.query<{ ok: boolean }>(
    `SELECT to_regclass('public.quarantine_reviews') IS NOT NULL AS ok`,
  );
  return rows[0]?.ok ? null : 'table quarantine_reviews is missing (run the pipeline migrations)';
}

/** Status of a workflow by id ('NOT_FOUND' when Temporal has no such workflow). */
async function workflowStatus(client: Client, workflowId: string): Promise<string> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

export const reviewTimeouts: StepDefinition = {
  name: 'quarantine.review-timeouts',
  description: 'expirations of quarantine reviews; expires orphaned reviews, fails when review timers are overdue',
  owner: 'workflows (DlqReviewWorkflow)',
  partitioning: { kind: 'window', minutes: 15 },
  timeoutMs: 5 * 60_000,
  heartbeatTimeoutMs: 60_000,
  available: tablesMissing,
  async run(ctx, p) {
    const timeoutMs = reviewTimeoutMs(ctx.env);
    const graceMs = reviewGraceMs(ctx.env);
    const asOf = p.end;
    const expiredByTimers = await ctx.pool.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM quarantine_reviews
        WHERE status = 'expired' AND decided_at >= $1 AND decided_at < $2 AND decided_by IS NULL`,
      [p.start, p.end],
    );
    const { rows: overdue } = await ctx.pool.query<{ workflow_id: string; requested_at: Date }>(
      `SELECT workflow_id, requested_at FROM quarantine_reviews
        WHERE status = 'pending' AND requested_at < $1::timestamptz - make_interval(secs => $2)
        ORDER BY requested_at LIMIT $3`,
      [asOf, timeoutMs / 1000, MAX_BATCH],
    );
    const connection = await Connection.connect(temporalConnectionOptions(undefined, ctx.env));
    const client = new Client({ connection, namespace: ctx.env.TEMPORAL_NAMESPACE ?? 'default' });
    const orphaned: { workflow_id: string; status: string }[] = [];
    const stuck: string[] = [];
    try {
      for (const r of overdue) {
        ctx.heartbeat();
        const status = await workflowStatus(client, r.workflow_id);
        if (status === 'RUNNING') {
          if (r.requested_at.getTime() + timeoutMs + graceMs < asOf.getTime()) stuck.push(r.workflow_id);
        } else {
          orphaned.push({ workflow_id: r.workflow_id, status });
        }
      }
    } finally {
      await connection.close();
    }
    if (orphaned.length > 0) {
      // Its own committed chunk: orphans are expired even when the run then fails for overdue timers.
      await ctx.chunk(`expire:${hashOf(orphaned)}`, async (tx) => {
        if (!tx) throw new Error('expiring orphaned reviews needs a transaction');
        await expireOrphanedReviews(tx, orphaned, 'orchestration:quarantine.review-timeouts');
        return orphaned.length;
      });
    }
    if (stuck.length > 0) {
      throw new StepFailure(
        'ReviewTimersOverdue',
        `${stuck.length} review(s) past their deadline plus ${graceMs / 60_000} min still wait in running workflows ` +
          `(is the payment worker up?): ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', …' : ''}`,
        { stuck: stuck.slice(0, 100) },
      );
    }
    return {
      outputs: {
        expired_by_timers: Number(expiredByTimers.rows[0]?.n ?? 0),
        overdue_checked: overdue.length,
        expired_orphans: orphaned.length,
        orphans: orphaned.slice(0, 100),
        more_overdue: overdue.length === MAX_BATCH,
      },
    };
  },
};
