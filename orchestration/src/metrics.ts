/**
 * Prometheus metrics of the batch graph (@pep/contracts/metrics), served by the orchestration worker on ORCH_METRICS_PORT:
 * counters of runs and failures that this worker ended, plus gauges read from the run history at scrape time (so they
 * survive worker restarts and count runs ended elsewhere): partitions whose latest state is failed / halted /
 * blocked, the last success per step, and whether each step is available here.
 */
import { Registry } from '@pep/contracts/metrics';
import type { ActivityMetrics } from './activities.ts';
import type { StepGraph } from './graph.ts';
import type { StepEnv } from './step.ts';

/** How far back the failure gauges look. */
const STATE_WINDOW_DAYS = 7;

export function createMetrics(graph: StepGraph, env: StepEnv) {
  const registry = new Registry();
  const runs = registry.counter(
    'orchestration_step_runs_total',
    'Runs of a step that ended in this worker, by status (succeeded, halted, failed, blocked, unavailable)',
  );
  const failures = registry.counter(
    'orchestration_step_failures_total',
    'Failed runs of a step that ended in this worker, by error type',
  );
  const duration = registry.histogram(
    'orchestration_step_duration_seconds',
    'Duration of successful step runs',
    [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
  );
  const problemPartitions = registry.gauge(
    'orchestration_partitions_not_succeeded',
    `Partitions (of the last ${STATE_WINDOW_DAYS} days) whose latest run of the step failed, halted or was blocked`,
  );
  const lastSuccess = registry.gauge(
    'orchestration_step_last_success_timestamp_seconds',
    'When the step last succeeded on any partition',
  );
  const available = registry.gauge(
    'orchestration_step_available',
    '1 when the step can run here, 0 when it is not available yet (its command or table is missing)',
  );
  registry.collect(async () => {
    const { rows } = await env.pool.query<{ step: string; status: string; n: string }>(
      `SELECT step, status, count(*)::text AS n FROM orchestration.partition_state
        WHERE status IN ('failed', 'halted', 'blocked', 'unavailable')
          AND updated_at > now() - make_interval(days => $1)
        GROUP BY 1, 2`,
      [STATE_WINDOW_DAYS],
    );
    problemPartitions.clear();
    for (const r of rows) problemPartitions.set({ step: r.step, status: r.status }, Number(r.n));
  });
  registry.collect(async () => {
    const { rows } = await env.pool.query<{ step: string; t: number }>(
      `SELECT step, extract(epoch FROM max(finished_at))::float8 AS t FROM orchestration.step_runs
        WHERE status = 'succeeded' GROUP BY step`,
    );
    lastSuccess.clear();
    for (const r of rows) lastSuccess.set({ step: r.step }, r.t);
  });
  registry.collect(async () => {
    for (const s of graph.ordered) available.set({ step: s.name }, (await s.available?.(env)) ? 0 : 1);
  });

  const hooks: ActivityMetrics = {
    runEnded(step, status, errorType, durationMs) {
      runs.inc({ step, status });
      if (status === 'failed') failures.inc({ step, error_type: errorType ?? 'Error' });
      if (status === 'succeeded' && durationMs !== undefined) duration.observe(durationMs / 1000, { step });
    },
  };
  return { registry, hooks };
}
