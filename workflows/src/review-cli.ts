/**
 * Quarantine review CLI (`npm run review -w @pep/workflows -- <command>`):
 *   list [--status pending|approved|reprocessed|discarded|expired|no_review|all] [--limit N] [--json]
 *   decide <quarantine id | review workflow id> --decision approve|reprocess|discard --by <reviewer>
 *          [--reason <text>] [--payload-file <corrected raw payload>]
 *   status <quarantine id | review workflow id>
 * approve re-injects the original bytes (read back from the raw topic: DLQ records are redacted), reprocess re-injects
 * the corrected payload, discard drops the record; every decision is recorded in quarantine_reviews (and on the
 * pipeline's quarantine row). Grouped reviews (issue 13) are decided by a DlqDecisionWorkflow on the review task queue,
 * legacy per-record reviews by their signal.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { REVIEW_STATUS_QUERY, REVIEW_TASK_QUEUE, serviceAddresses } from '@pep/contracts';
import { temporalConnectionOptions } from '@pep/contracts/managed';
import { Client, Connection } from '@temporalio/client';
import { createPool } from './db.ts';
import {
  buildDecision,
  decideGrouped,
  isLegacyReview,
  listQuarantined,
  registerRowForReview,
  resolveWorkflowId,
  reviewState,
  sendDecision,
} from './review.ts';
import type { ReviewState } from './types.ts';

const USAGE = `usage:
  review list [--status pending|approved|reprocessed|discarded|expired|no_review|all] [--limit N] [--json]
  review decide <quarantine id|workflow id> --decision approve|reprocess|discard --by <reviewer> [--reason text] [--payload-file file]
  review status <quarantine id|workflow id>`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      decision: { type: 'string' },
      by: { type: 'string' },
      reason: { type: 'string' },
      'payload-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, target] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const addr = serviceAddresses();
  const pool = createPool(addr.databaseUrl, 2);
  try {
    if (command === 'list') {
      const rows = await listQuarantined(pool, {
        ...(values.status ? { status: values.status } : {}),
        ...(values.limit ? { limit: Number(values.limit) } : {}),
      });
      if (values.json) console.log(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) console.log('no quarantined records match');
      else console.table(rows);
      return 0;
    }
    if (!target) {
      console.error(USAGE);
      return 2;
    }
    const key = await resolveWorkflowId(pool, target);
    const connection = await Connection.connect(temporalConnectionOptions(addr.temporalAddress));
    try {
      const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
      const reviewQueue = process.env.REVIEW_TASK_QUEUE ?? REVIEW_TASK_QUEUE;
      let row = await reviewState(pool, key);
      if (command === 'status') {
        if (row && !isLegacyReview(row)) {
          console.log(JSON.stringify(row, null, 2));
          return 0;
        }
        const state = await client.workflow.getHandle(key).query<ReviewState>(REVIEW_STATUS_QUERY);
        console.log(JSON.stringify({ workflowId: key, ...state }, null, 2));
        return 0;
      }
      if (command === 'decide') {
        const decision = buildDecision({
          decision: values.decision ?? '',
          reviewer: values.by ?? '',
          ...(values.reason ? { reason: values.reason } : {}),
          ...(values['payload-file'] ? { correctedPayload: readFileSync(values['payload-file'], 'utf8') } : {}),
        });
        // A review started before issue 13 (one workflow per record, waiting for a signal) is decided by its signal.
        if (row && isLegacyReview(row)) {
          const state = await sendDecision(client, key, decision);
          const rejected = state.rejectedSignals.at(-1);
          if (state.decision === null && rejected) {
            console.error(`review ${key}: decision rejected: ${rejected.error}`);
            return 1;
          }
          console.log(`review ${key}: ${decision.decision} accepted (stage ${state.stage})`);
          return 0;
        }
        // A record no review group registered (reviews off, record older than the bridge) is registered first.
        if (!row && /^\d+$/.test(target)) {
          await registerRowForReview(client, pool, target, reviewQueue);
          row = await reviewState(pool, key);
        }
        const out = await decideGrouped(client, key, decision, reviewQueue);
        if (!out.ok) {
          console.error(`review ${key}: decision refused: ${out.error}`);
          return 1;
        }
        console.log(`review ${key}: ${out.result.resolution} by ${out.result.decided_by}`);
        return 0;
      }
    } finally {
      await connection.close();
    }
    console.error(USAGE);
    return 2;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`review: ${(err as Error).message}`);
    process.exit(1);
  },
);
