import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Registry, registerProcessMetrics, serveMetrics } from '@pep/contracts/metrics';
import { freeLoopbackPort, mergeExpositions, workerMetrics } from './worker-metrics.ts';

/** What Temporal's runtime exporter answers (shape of its Prometheus text), plus a family our side also has. */
const TEMPORAL_TEXT = [
  '# HELP temporal_workflow_completed_total Count of successfully completed workflows',
  '# TYPE temporal_workflow_completed_total counter',
  'temporal_workflow_completed_total{namespace="default",task_queue="q",workflow_type="PaymentEventWorkflow"} 3',
  '# HELP temporal_activity_execution_latency Histogram of activity execution latencies',
  '# TYPE temporal_activity_execution_latency histogram',
  'temporal_activity_execution_latency_bucket{activity_type="scoreFraud",le="50"} 2',
  'temporal_activity_execution_latency_bucket{activity_type="scoreFraud",le="+Inf"} 3',
  'temporal_activity_execution_latency_sum{activity_type="scoreFraud"} 120',
  'temporal_activity_execution_latency_count{activity_type="scoreFraud"} 3',
  '# HELP process_resident_memory_bytes Resident memory (a duplicate of ours)',
  '# TYPE process_resident_memory_bytes gauge',
  'process_resident_memory_bytes 1',
  '',
].join('\n');

/** A fake Temporal exporter: answers `answer()` (status, body), or never answers when it returns null. */
async function fakeExporter(
  answer: () => { status: number; body: string } | null,
): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    const a = answer();
    if (!a) return; // hangs: the scrape's timeout must cut it
    res.writeHead(a.status, { 'content-type': 'text/plain' });
    res.end(a.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`, server };
}

/** The duplicated family lines of an exposition (HELP or TYPE seen twice for one name). */
function duplicateHeaders(text: string): string[] {
  const seen = new Set<string>();
  const dup: string[] = [];
  for (const m of text.matchAll(/^# (HELP|TYPE) (\S+)/gm)) {
    const key = `${m[1]} ${m[2]}`;
    if (seen.has(key)) dup.push(key);
    seen.add(key);
  }
  return dup;
}

function scorerRegistry(): Registry {
  // The shape of @pep/ml/scoring's registry: the process gauges too, and inference_* metrics.
  const r = new Registry();
  registerProcessMetrics(r);
  r.histogram('inference_batch_size', 'Rows per micro-batch', [1, 8, 64]).observe(64);
  r.counter('inference_fallback_total', 'Answers from the rules fallback, by reason').inc({ reason: 'no_model' });
  return r;
}

const silent = () => {
  const lines: string[] = [];
  return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) } };
};

describe('worker /metrics', () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  });

  it("serves the scorer's metrics and Temporal's, every family once, over HTTP on the worker's port", async () => {
    const exporter = await fakeExporter(() => ({ status: 200, body: TEMPORAL_TEXT }));
    servers.push(exporter.server);
    const own = new Registry();
    registerProcessMetrics(own);
    const { log, lines } = silent();
    const source = workerMetrics({
      own,
      sources: () => [scorerRegistry()],
      temporalUrl: exporter.url,
      timeoutMs: 2000,
      log,
    });
    const port = await freeLoopbackPort();
    const server = await serveMetrics(source, '127.0.0.1', port);
    servers.push(server);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^inference_batch_size_count 1$/m);
    assert.match(text, /^inference_fallback_total\{reason="no_model"\} 1$/m);
    assert.match(text, /^temporal_workflow_completed_total\{[^}]*workflow_type="PaymentEventWorkflow"\} 3$/m);
    assert.match(text, /^temporal_activity_execution_latency_count\{activity_type="scoreFraud"\} 3$/m);
    assert.match(text, /^worker_temporal_metrics_up 1$/m);
    assert.deepEqual(duplicateHeaders(text), []);
    // Ours wins a duplicated family: Temporal's `process_resident_memory_bytes 1` is left out, with its HELP/TYPE.
    assert.equal(text.match(/^process_resident_memory_bytes /gm)?.length, 1);
    assert.doesNotMatch(text, /^process_resident_memory_bytes 1$/m);
    assert.doesNotMatch(text, /a duplicate of ours/);
    assert.deepEqual(lines, []);
  });

  it("still serves ours when Temporal's exporter fails, times out or is gone; says so in a metric and logs once", async () => {
    let mode: 'ok' | 'error' | 'hang' = 'error';
    let started = false;
    const exporter = await fakeExporter(() =>
      mode === 'ok' ? { status: 200, body: TEMPORAL_TEXT } : mode === 'error' ? { status: 500, body: 'boom' } : null,
    );
    servers.push(exporter.server);
    const own = new Registry();
    const { log, lines } = silent();
    const source = workerMetrics({
      own,
      sources: () => [scorerRegistry()],
      temporalUrl: exporter.url,
      timeoutMs: 200,
      temporalStarted: () => started,
      log,
    });

    // Before the worker connects, Temporal's exporter is not bound yet: not a failure, nothing logged.
    const early = await source.scrape();
    assert.match(early, /^inference_batch_size_count 1$/m);
    assert.match(early, /^worker_temporal_metrics_up 0$/m);
    assert.match(early, /^worker_temporal_metrics_failures_total 0$/m);
    assert.deepEqual(lines, []);
    started = true;

    const failed = await source.scrape();
    assert.match(failed, /^inference_batch_size_count 1$/m);
    assert.doesNotMatch(failed, /temporal_workflow_completed_total/);
    assert.match(failed, /^worker_temporal_metrics_up 0$/m);
    assert.match(failed, /^worker_temporal_metrics_failures_total 1$/m);

    mode = 'hang';
    const timedOut = await source.scrape();
    assert.match(timedOut, /^inference_batch_size_count 1$/m);
    assert.match(timedOut, /^worker_temporal_metrics_failures_total 2$/m);
    assert.deepEqual(lines, [
      "warn Temporal's runtime metrics unavailable: serving the worker's own metrics without them",
    ]);

    mode = 'ok';
    const back = await source.scrape();
    assert.match(back, /^worker_temporal_metrics_up 1$/m);
    assert.match(back, /temporal_workflow_completed_total\{/);
    assert.equal(lines.length, 2);
    assert.match(lines.at(1) ?? '', /^info .*answer again/);

    exporter.server.closeAllConnections();
    await new Promise<void>((r) => exporter.server.close(() => r()));
    const gone = await source.scrape();
    assert.match(gone, /^inference_batch_size_count 1$/m);
    assert.match(gone, /^worker_temporal_metrics_up 0$/m);
    assert.equal(lines.length, 3);
    assert.deepEqual(duplicateHeaders(gone), []);
  });

  it('merges expositions: first source wins a family; histogram and _total samples stay with their family', () => {
    const a = '# HELP x_total X\n# TYPE x_total counter\nx_total 1\n';
    const b = [
      '# HELP x_total X again',
      '# TYPE x_total counter',
      'x_total 2',
      '# HELP h H',
      '# TYPE h histogram',
      'h_bucket{le="+Inf"} 1',
      'h_sum 3',
      'h_count 1',
      '# HELP c C',
      '# TYPE c counter',
      'c_total 4',
      '# EOF',
    ].join('\n');
    assert.equal(
      mergeExpositions([a, b]),
      `${['# HELP x_total X', '# TYPE x_total counter', 'x_total 1', ...b.split('\n').slice(3, -1)].join('\n')}\n`,
    );
    assert.equal(mergeExpositions(['', '']), '');
  });
});
