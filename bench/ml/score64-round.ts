/**
 * One round of the ml bench's paced in-process 64-event call (a diagnostic, not a target), for A/B runs across code
 * versions (a shell loop alternating checkouts between rounds: each round loads the code afresh in its own process).
 * Against the state a previous `npm run bench -- ml` left (its Redis db 15 and its MLflow model, named by
 * ML_DIAG_PREFIX), the bench's paced client (paced-client.ts, own process, @pep/ml/scoring behind the worker's
 * client) runs `ML_AB_CALLS` (400) calls at `ML_AB_RATE` calls/s (20). Prints the client's CPU per call (the whole
 * scoring cost), p50 / p90 / p99 / mean and the scorer's stage means, then the client process's GC pauses in the run
 * (count, per 1,000 calls, total, longest, longest minor, major: kind other than a scavenge, V8's young generation at the
 * end) and its fetch requests (the scorer's alias checks), and the slowest 2 % of calls,
 * each with the GC pause it overlapped (`/gc<ms>`) and `/F` when a fetch started during it or up to 15 ms before.
 * `ML_AB_ARM` labels the output; `ML_AB_PLAN` keeps the plan file; `ML_SCORING_NODE_FLAGS` sets the client process's
 * node flags (as `npm start` gives the worker; an empty value: none), e.g. one arm per V8 setting. Run:
 *   ML_DIAG_PREFIX=bench-xxxx- ML_AB_ARM=a ns4 node --import tsx bench/ml/score64-round.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMlConfig } from '@pep/ml';
import { diagRequests, pacedInProcess, pct } from './paced.ts';

const prefix = process.env.ML_DIAG_PREFIX ?? '';
if (!prefix) throw new Error('ML_DIAG_PREFIX (the registry prefix of a previous bench run) is required');
const calls = Number(process.env.ML_AB_CALLS ?? 400);
const rate = Number(process.env.ML_AB_RATE ?? 20);
const arm = process.env.ML_AB_ARM ?? '-';
const base = loadMlConfig();
const redisUrl = `${base.redisUrl.replace(/\/\d+$/, '')}/${process.env.ML_BENCH_REDIS_DB ?? 15}`;
const next64 = await diagRequests();
const bodies = Array.from({ length: 50 }, () => JSON.stringify({ items: next64() }));
const planFile = process.env.ML_AB_PLAN ?? join(mkdtempSync(join(tmpdir(), 'pep-ml-round-')), 'plan.json');
const x = await pacedInProcess(planFile, {
  callsPerS: rate,
  total: calls,
  bodies,
  env: { REDIS_URL: redisUrl, MLFLOW_TRACKING_URI: base.mlflowUrl, ML_REGISTRY_PREFIX: prefix },
});
const f = (v: number) => Number(v.toFixed(3));
const lat = x.latencies_ms;
console.log(
  JSON.stringify({
    arm,
    cpu_ms_per_call: f(x.client_cpu_ms_per_call),
    p50_ms: f(pct(lat, 50)),
    p90_ms: f(pct(lat, 90)),
    p99_ms: f(pct(lat, 99)),
    mean_ms: f(lat.reduce((a, b) => a + b, 0) / lat.length),
    stages_ms: Object.fromEntries(Object.entries(x.stages_ms ?? {}).map(([s, v]) => [s, f(v)])),
  }),
);
const starts = x.starts_epoch_ms ?? [];
const gcs = x.gc ?? [];
const fetches = x.fetches_epoch_ms ?? [];
const timed = lat.map((ms, i) => ({ ms, start: starts[i] as number }));
const overlap = (c: { ms: number; start: number }) =>
  gcs
    .filter((g) => g.start < c.start + c.ms && g.start + g.ms > c.start)
    .reduce((a, g) => a + Math.min(g.start + g.ms, c.start + c.ms) - Math.max(g.start, c.start), 0);
const fetchNear = (c: { ms: number; start: number }) => fetches.some((t) => t > c.start - 15 && t < c.start + c.ms);
const t0 = starts[0] as number;
const t1 = (starts.at(-1) as number) + 50;
const inRun = gcs.filter((g) => g.start >= t0 && g.start <= t1);
console.log(
  JSON.stringify({
    gc_count: inRun.length,
    gc_total_ms: f(inRun.reduce((a, g) => a + g.ms, 0)),
    gc_max_ms: f(Math.max(0, ...inRun.map((g) => g.ms))),
    gc_major: inRun.filter((g) => g.kind !== 1).length,
    gc_per_1000_calls: f((inRun.length * 1000) / lat.length),
    gc_minor_max_ms: f(Math.max(0, ...inRun.filter((g) => g.kind === 1).map((g) => g.ms))),
    new_space_mb: x.new_space_mb ?? null,
    fetches: fetches.filter((t) => t >= t0 && t <= t1).length,
    slowest_2pct: [...timed]
      .sort((a, b) => b.ms - a.ms)
      .slice(0, Math.ceil(timed.length / 50))
      .map((c) => `${c.ms.toFixed(1)}${overlap(c) > 0 ? `/gc${overlap(c).toFixed(1)}` : ''}${fetchNear(c) ? '/F' : ''}`)
      .join(' '),
  }),
);
