/**
 * Where the tail of the ml bench's 64-event scoring call comes from (a diagnostic, not a target): reuses the state a
 * previous `npm run bench -- ml` left (its Redis db 15 features and its MLflow model, named by ML_DIAG_PREFIX, e.g.
 * `bench-mxashy4t-`), serves it in this process and runs the bench's paced client (paced-client.ts, own process)
 * against it. Prints the client latencies (p50/p99/max), the service's own time per call (request in → answer
 * written), this process's CPU per call, GC pauses (count, total, longest) and event-loop delay, and which of those
 * overlapped the slowest calls. `ML_DIAG_CALLS` (300), `ML_DIAG_RATE` calls/s (15), `ML_DIAG_TRANSPORT` workflows | fetch (paced-client.ts). Run:
 *   ML_DIAG_PREFIX=bench-xxxx- ns3 node --import tsx bench/ml/score64-diag.ts
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { loadMlConfig, startInferenceServer, startScoring } from '@pep/ml';
import { diagRequests, pacedClient, pct } from './paced.ts';

const prefix = process.env.ML_DIAG_PREFIX;
if (!prefix) throw new Error('ML_DIAG_PREFIX (the registry prefix of a previous bench run) is required');
const calls = Number(process.env.ML_DIAG_CALLS ?? 300);
const rate = Number(process.env.ML_DIAG_RATE ?? 15);
const transport = process.env.ML_DIAG_TRANSPORT ?? 'workflows';
const base = loadMlConfig();
const redisUrl = `${base.redisUrl.replace(/\/\d+$/, '')}/15`;
const next64 = await diagRequests();

const env = { ...process.env, REDIS_URL: redisUrl, MLFLOW_TRACKING_URI: base.mlflowUrl, ML_REGISTRY_PREFIX: prefix };
const config = { host: '127.0.0.1', port: 0, reloadIntervalMs: 60_000, maxBatch: 64, maxWaitMs: 0 };
const scoring = await startScoring(config, env, () => {});
const srv = await startInferenceServer(config, { scoring });

const gcs: { start: number; ms: number; kind: number }[] = [];
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcs.push({ start: e.startTime, ms: e.duration, kind: (e as unknown as { detail: { kind: number } }).detail.kind });
});
obs.observe({ entryTypes: ['gc'] });
const eld = monitorEventLoopDelay({ resolution: 1 });
eld.enable();
const stateDir = mkdtempSync(join(tmpdir(), 'pep-ml-diag-'));
const planFile = join(stateDir, 'plan.json');
writeFileSync(
  planFile,
  JSON.stringify({
    port: srv.port,
    callsPerS: rate,
    warmup: 30,
    total: calls,
    transport,
    bodies: Array.from({ length: 50 }, () => JSON.stringify({ items: next64() })),
  }),
);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const r = await pacedClient(planFile, { ...process.env, ML_PACED_TIMES: '1' });
const cpu = process.cpuUsage(cpu0);
eld.disable();
obs.disconnect();
await srv.close();
await scoring.close();
const starts = r.starts_epoch_ms ?? [];
// The slowest 1 % of calls: how many overlapped a GC pause of this (the service's) process, and by how much.
const slowest = r.latencies_ms
  .map((ms, i) => ({ ms, start: (starts[i] as number) - performance.timeOrigin }))
  .sort((a, b) => b.ms - a.ms)
  .slice(0, Math.max(1, Math.ceil(r.latencies_ms.length / 100)));
const gcIn = (c: { ms: number; start: number }) =>
  gcs
    .filter((g) => g.start < c.start + c.ms && g.start + g.ms > c.start)
    .reduce((a, g) => a + Math.min(g.start + g.ms, c.start + c.ms) - Math.max(g.start, c.start), 0);
const lat = r.latencies_ms;
const inRun = gcs.filter((g) => g.start >= t0);
console.log(
  JSON.stringify({
    transport,
    calls: lat.length,
    p50_ms: pct(lat, 50),
    p90_ms: pct(lat, 90),
    p99_ms: pct(lat, 99),
    max_ms: Math.max(...lat),
    server_cpu_ms_per_call: (cpu.user + cpu.system) / 1000 / (lat.length + 30),
    client_cpu_ms_per_call: r.client_cpu_ms_per_call,
    gc_count: inRun.length,
    gc_total_ms: inRun.reduce((a, g) => a + g.ms, 0),
    gc_max_ms: Math.max(0, ...inRun.map((g) => g.ms)),
    gc_major: inRun.filter((g) => g.kind !== 1).length,
    eld_p99_ms: eld.percentile(99) / 1e6,
    eld_max_ms: eld.max / 1e6,
    slowest_1pct: slowest.map((c) => ({ ms: Number(c.ms.toFixed(2)), service_gc_ms: Number(gcIn(c).toFixed(2)) })),
    calls_with_service_gc: r.latencies_ms.filter(
      (ms, i) => gcIn({ ms, start: (starts[i] as number) - performance.timeOrigin }) > 0,
    ).length,
  }),
);
