/**
 * Prometheus metrics of the batch graph (prom-client), served by the orchestration worker on ORCH_METRICS_PORT:
 * counters of runs and failures that this worker ended, plus gauges read from the run history at scrape time (so they
 * survive worker restarts and count runs ended elsewhere): partitions whose latest state is failed / halted /
 * blocked, the last success per step, and whether each step is available here.
 */
import { createServer, type Server } from 'node:http';
import type pg from 'pg';
import client from 'prom-client';
import type { ActivityMetrics } from './activities.ts';
import type { StepGraph } from './graph.ts';
import type { StepEnv } from './step.ts';

/** How far back the failure gauges look. */
const STATE_WINDOW_DAYS = 7;

export function createMetrics(graph: StepGraph, env: StepEnv) {
  const registry = new client.Registry();
  const runs = new client.Counter({
    name: 'orchestration_step_runs_total',
    help: 'Runs of a step that ended in this worker, by status (succeeded, halted, failed, blocked, unavailable)',
    labelNames: ['step', 'status'],
    registers: [registry],
  });
  const failures = new client.Counter({
    name: 'orchestration_step_failures_total',
    help: 'Failed runs of a step that ended in this worker, by error type',
    labelNames: ['step', 'error_type'],
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'orchestration_step_duration_seconds',
    help: 'Duration of successful step runs',
    labelNames: ['step'],
    buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
    registers: [registry],
  });
  const problemPartitions = new client.Gauge({
    name: 'orchestration_partitions_not_succeeded',
    help: `Partitions (of the last ${STATE_WINDOW_DAYS} days) whose latest run of the step failed, halted or was blocked`,
    labelNames: ['step', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      const { rows } = await (env.pool as pg.Pool).query<{ step: string; status: string; n: string }>(
        `SELECT step, status, count(*)::text AS n FROM orchestration.partition_state
          WHERE status IN ('failed', 'halted', 'blocked', 'unavailable')
            AND updated_at > now() - make_interval(days => $1)
          GROUP BY 1, 2`,
        [STATE_WINDOW_DAYS],
      );
      for (const r of rows) this.set({ step: r.step, status: r.status }, Number(r.n));
    },
  });
  const lastSuccess = new client.Gauge({
    name: 'orchestration_step_last_success_timestamp_seconds',
    help: 'When the step last succeeded on any partition',
    labelNames: ['step'],
    registers: [registry],
    async collect() {
      this.reset();
      const { rows } = await env.pool.query<{ step: string; t: number }>(
        `SELECT step, extract(epoch FROM max(finished_at))::float8 AS t FROM orchestration.step_runs
          WHERE status = 'succeeded' GROUP BY step`,
      );
      for (const r of rows) this.set({ step: r.step }, r.t);
    },
  });
  const available = new client.Gauge({
    name: 'orchestration_step_available',
    help: '1 when the step can run here, 0 when it is not available yet (its command or table is missing)',
    labelNames: ['step'],
    registers: [registry],
    async collect() {
      for (const s of graph.ordered) this.set({ step: s.name }, (await s.available?.(env)) ? 0 : 1);
    },
  });
  void problemPartitions;
  void lastSuccess;
  void available;

  const hooks: ActivityMetrics = {
    runEnded(step, status, errorType, durationMs) {
      runs.inc({ step, status });
      if (status === 'failed') failures.inc({ step, error_type: errorType ?? 'Error' });
      if (status === 'succeeded' && durationMs !== undefined) duration.observe({ step }, durationMs / 1000);
    },
  };
  return { registry, hooks };
}

export function serveMetrics(registry: client.Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics unavailable: ${(err as Error).message}\n`);
        },
      );
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
