/**
 * Quarantine review CLI (`npm run review -w @pep/workflows -- <command>`):
 *   list [--status pending|approved|reprocessed|discarded|expired|no_review|all] [--limit N] [--json]
 *   decide <quarantine id | review workflow id> --decision approve|reprocess|discard --by <reviewer>
 *          [--reason <text>] [--payload-file <corrected raw payload>]
 *   status <quarantine id | review workflow id>
 * approve re-injects the original payload into its raw topic, reprocess re-injects the corrected payload, discard
 * drops the record; every decision is recorded in quarantine_reviews (and on the pipeline's quarantine row).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PAYMENT_TASK_QUEUE, REVIEW_STATUS_QUERY, serviceAddresses } from '@pep/contracts';
import { Client, Connection } from '@temporalio/client';
import { createPool } from './db.ts';
import { buildDecision, listQuarantined, resolveWorkflowId, reviewInputOfRow, sendDecision } from './review.ts';
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
    const workflowId = await resolveWorkflowId(pool, target);
    const connection = await Connection.connect({ address: addr.temporalAddress });
    try {
      const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
      if (command === 'status') {
        const state = await client.workflow.getHandle(workflowId).query<ReviewState>(REVIEW_STATUS_QUERY);
        console.log(JSON.stringify({ workflowId, ...state }, null, 2));
        return 0;
      }
      if (command === 'decide') {
        const decision = buildDecision({
          decision: values.decision ?? '',
          reviewer: values.by ?? '',
          ...(values.reason ? { reason: values.reason } : {}),
          ...(values['payload-file'] ? { correctedPayload: readFileSync(values['payload-file'], 'utf8') } : {}),
        });
        // A review the bridge never started (reviews off, record older than the bridge) starts with the decision.
        const startWith = /^\d+$/.test(target)
          ? {
              input: await reviewInputOfRow(pool, target),
              taskQueue: process.env.TEMPORAL_TASK_QUEUE ?? PAYMENT_TASK_QUEUE,
            }
          : undefined;
        const state = await sendDecision(client, workflowId, decision, startWith);
        const rejected = state.rejectedSignals.at(-1);
        if (state.decision === null && rejected) {
          console.error(`review ${workflowId}: decision rejected: ${rejected.error}`);
          return 1;
        }
        console.log(`review ${workflowId}: ${decision.decision} accepted (stage ${state.stage})`);
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
