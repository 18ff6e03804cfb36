/**
 * `npm run runs [-- --json] [--step <name>] [--partition <key>] [--status <status>] [--limit <n>]`: the run history of
 * the batch graph, newest first: per run the step, partition, status, duration, what it consumed and wrote, and why
 * it failed; above it, every registered step with whether it can run here. Reads PostgreSQL only.
 */
import { parseArgs } from 'node:util';
import { runCli, table, UsageError, workflowLink } from './cli-common.ts';
import { loadConfig } from './config.ts';
import { createPool, listRuns, MAX_RUNS_LISTED, migrate } from './history.ts';
import { stepEnv } from './step-env.ts';
import { defaultGraph } from './steps/index.ts';

const STATUSES = ['running', 'succeeded', 'failed', 'halted', 'blocked', 'unavailable', 'interrupted'];

function brief(v: unknown, max = 60): string {
  const s = v === null || v === undefined ? '-' : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function duration(ms: number | null): string {
  if (ms === null) return '-';
  return ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      step: { type: 'string' },
      partition: { type: 'string' },
      status: { type: 'string' },
      limit: { type: 'string', default: '50' },
    },
  });
  const graph = defaultGraph();
  if (values.step) graph.get(values.step);
  if (values.status && !STATUSES.includes(values.status)) {
    throw new UsageError(`--status must be one of ${STATUSES.join(', ')}`);
  }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_RUNS_LISTED) {
    throw new UsageError(`--limit must be an integer in [1, ${MAX_RUNS_LISTED}]`);
  }
  const config = loadConfig();
  await migrate(config.databaseUrl);
  const pool = createPool(config.databaseUrl, 2);
  try {
    const env = stepEnv(pool);
    const steps = [];
    for (const s of graph.ordered) {
      const why = (await s.available?.(env)) ?? null;
      steps.push({
        step: s.name,
        partitioning: s.partitioning.kind === 'day' ? 'day' : `${s.partitioning.minutes}m window`,
        upstream: s.upstream ?? [],
        available: why === null,
        ...(why ? { not_available: why } : {}),
        owner: s.owner,
      });
    }
    const runs = await listRuns(pool, {
      ...(values.step ? { step: values.step } : {}),
      ...(values.partition ? { partition: values.partition } : {}),
      ...(values.status ? { status: values.status } : {}),
      limit,
    });
    if (values.json) {
      console.log(JSON.stringify({ steps, runs }, null, 2));
      return 0;
    }
    console.log(
      table([
        ['step', 'partitions', 'after', 'state'],
        ...steps.map((s) => [
          s.step,
          s.partitioning,
          s.upstream.join(', ') || '-',
          s.available ? 'available' : `NOT AVAILABLE YET: ${s.not_available}`,
        ]),
      ]),
    );
    console.log('');
    if (runs.length === 0) {
      console.log('no runs yet');
      return 0;
    }
    console.log(
      table([
        ['id', 'step', 'partition', 'status', 'started', 'duration', 'trigger', 'consumed', 'wrote / reason'],
        ...runs.map((r) => [
          r.id,
          r.step,
          r.partition_key,
          r.status + (r.attempts > 1 ? ` (${r.attempts} attempts)` : ''),
          r.started_at.slice(0, 19),
          duration(r.duration_ms),
          r.trigger,
          brief(r.inputs, 50),
          r.status === 'succeeded'
            ? brief(r.outputs, 70)
            : `${r.error_type ?? ''} ${r.reason ?? ''}`.trim().slice(0, 160),
        ]),
      ]),
    );
    const failed = runs.find((r) => r.status === 'failed' && r.workflow_id);
    if (failed?.workflow_id)
      console.log(`\nlatest failure in the Temporal UI: ${workflowLink(config, failed.workflow_id)}`);
    return 0;
  } finally {
    await pool.end();
  }
}

runCli('runs', main);
