/**
 * `npm run backfill -- --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--steps a,b] [--concurrency n] [--force] [--json]
 * [--no-wait]`: runs day steps of the graph over past partitions, at most `concurrency` partitions at once, as one
 * BackfillWorkflow (durable: it goes on if this command stops; running the same command again attaches to it).
 * Each step runs only where its inputs changed, so a second identical backfill changes nothing. Checked before
 * anything starts (exit 2): unknown step, inverted or oversized range, a day in the future, a window-partitioned
 * step, a step that is not available here. Without --steps, every available day step runs and the unavailable ones
 * are listed. Exit 0 when no step failed, 1 otherwise.
 */
import { parseArgs } from 'node:util';
import { WorkflowFailedError } from '@temporalio/client';
import { planBackfill } from './activities.ts';
import { hasWorker, openCli, runCli, table, UsageError, workflowLink } from './cli-common.ts';
import { hashOf } from './history.ts';
import {
  type BackfillProgress,
  type BackfillRequest,
  MAX_BACKFILL_CONCURRENCY,
  type PartitionResult,
} from './types.ts';

const USAGE =
  'usage: npm run backfill -- --from <YYYY-MM-DD> --to <YYYY-MM-DD> [--steps a,b] [--concurrency n] [--force] [--json] [--no-wait]';

function report(results: readonly PartitionResult[], steps: readonly string[]): string {
  const rows = [['partition', ...steps]];
  for (const p of results) {
    rows.push([p.partition, ...steps.map((s) => p.steps.find((r) => r.step === s)?.status ?? '-')]);
  }
  const problems = results.flatMap((p) =>
    p.steps
      .filter((s) => ['failed', 'blocked', 'halted', 'waiting'].includes(s.status))
      .map((s) => `  ${p.partition} ${s.step}: ${s.status}: ${s.reason ?? ''}`),
  );
  return `${table(rows)}${problems.length ? `\n\n${problems.join('\n')}` : ''}`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      steps: { type: 'string' },
      concurrency: { type: 'string', default: '2' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
    },
  });
  if (!values.from || !values.to) throw new UsageError(USAGE);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_BACKFILL_CONCURRENCY) {
    throw new UsageError(`--concurrency must be an integer in [1, ${MAX_BACKFILL_CONCURRENCY}]`);
  }
  const requested = values.steps
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const ctx = await openCli();
  try {
    const { graph, env, config, client } = ctx;
    let plan: ReturnType<typeof planBackfill>;
    try {
      plan = planBackfill(
        graph,
        { from: values.from, to: values.to, ...(requested ? { steps: requested } : {}) },
        new Date(),
      );
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const steps: string[] = [];
    const skipped: string[] = [];
    for (const s of plan.steps) {
      const why = (await graph.get(s).available?.(env)) ?? null;
      if (!why) steps.push(s);
      else if (requested) throw new UsageError(`${s} is not available yet: ${why}`);
      else skipped.push(`${s} (${why})`);
    }
    if (steps.length === 0) throw new UsageError(`no day step is available here; not available: ${skipped.join('; ')}`);
    if (skipped.length > 0) console.error(`backfill: not available yet, not run: ${skipped.join('; ')}`);
    if (!(await hasWorker(ctx))) {
      throw new UsageError(
        `no orchestration worker polls task queue ${config.taskQueue}: start it (npm start does, or npm run worker -w @pep/orchestration)`,
      );
    }
    const req: BackfillRequest = { from: values.from, to: values.to, steps, concurrency, force: values.force };
    const workflowId = `orch-backfill-${values.from}_${values.to}-${hashOf({ steps, force: values.force }, 10)}`;
    const handle = await client.workflow.start('BackfillWorkflow', {
      workflowId,
      taskQueue: config.taskQueue,
      args: [req],
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    console.error(
      `backfill: ${plan.partitions.length} day(s) ${values.from}..${values.to}, steps ${steps.join(' → ')}, ` +
        `concurrency ${concurrency}\n  ${workflowLink(config, workflowId)}`,
    );
    if (values['no-wait']) return 0;
    let lastDone = -1;
    const progress = setInterval(() => {
      handle.query<BackfillProgress>('backfillProgress').then(
        (p) => {
          if (p.done === lastDone) return;
          lastDone = p.done;
          console.error(
            `backfill: ${p.done}/${p.total} partitions done${p.running.length ? `, running ${p.running.join(', ')}` : ''}`,
          );
        },
        () => {},
      );
    }, 2000);
    let result: BackfillProgress;
    let failed = false;
    try {
      result = (await handle.result()) as BackfillProgress;
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      failed = true;
      const details = (err.cause as { details?: unknown[] } | undefined)?.details?.[0] as PartitionResult[] | undefined;
      result = { total: plan.partitions.length, done: details?.length ?? 0, running: [], results: details ?? [] };
      console.error(`backfill: failed: ${err.cause?.message ?? err.message}`);
    } finally {
      clearInterval(progress);
    }
    if (values.json) console.log(JSON.stringify({ workflow_id: workflowId, failed, ...result }, null, 2));
    else console.log(report(result.results, steps));
    return failed ? 1 : 0;
  } finally {
    await ctx.close();
  }
}

runCli('backfill', main);
