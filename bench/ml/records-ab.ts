/**
 * A/B of how a 64-event in-process scoring call hands the online features to core-native (a diagnostic, not a
 * target): `numbers` (readValues + vectorizeValues, the default) against `json` (a record object per entity and row,
 * written as JSON and parsed again in the addon; INFERENCE_RECORDS=json), in alternating rounds of the bench's paced
 * in-process client (paced-client.ts, own process, @pep/ml/scoring behind the worker's client), against the state a
 * previous `npm run bench -- ml` left (its Redis db 15 and its MLflow model, named by ML_DIAG_PREFIX). Per round: the
 * client's CPU per call (the whole scoring cost), p50 / p99 / mean and the scorer's stage means; then per arm the
 * median CPU and the pooled p50 / p99. `ML_AB_ROUNDS` (3 per arm), `ML_AB_CALLS` (400), `ML_AB_RATE` calls/s (20). Run:
 *   ML_DIAG_PREFIX=bench-xxxx- ns4 node --import tsx bench/ml/records-ab.ts
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMlConfig } from '@pep/ml';
import { diagRequests, type PacedRun, pacedInProcess, pct } from './paced.ts';

const prefix = process.env.ML_DIAG_PREFIX ?? '';
if (!prefix) throw new Error('ML_DIAG_PREFIX (the registry prefix of a previous bench run) is required');
const rounds = Number(process.env.ML_AB_ROUNDS ?? 3);
const calls = Number(process.env.ML_AB_CALLS ?? 400);
const rate = Number(process.env.ML_AB_RATE ?? 20);
const base = loadMlConfig();
const redisUrl = `${base.redisUrl.replace(/\/\d+$/, '')}/${process.env.ML_BENCH_REDIS_DB ?? 15}`;
const next64 = await diagRequests();
const bodies = Array.from({ length: 50 }, () => JSON.stringify({ items: next64() }));
const dir = mkdtempSync(join(tmpdir(), 'pep-ml-ab-'));

function round(arm: 'numbers' | 'json'): Promise<PacedRun> {
  return pacedInProcess(join(dir, `plan-${arm}.json`), {
    callsPerS: rate,
    total: calls,
    bodies,
    env: {
      REDIS_URL: redisUrl,
      MLFLOW_TRACKING_URI: base.mlflowUrl,
      ML_REGISTRY_PREFIX: prefix,
      INFERENCE_RECORDS: arm,
    },
  });
}

const arms = {
  numbers: { cpu: [] as number[], lat: [] as number[] },
  json: { cpu: [] as number[], lat: [] as number[] },
};
const fmt = (x: number) => Number(x.toFixed(3));
for (let r = 0; r < rounds; r++) {
  for (const arm of r % 2 === 0 ? (['json', 'numbers'] as const) : (['numbers', 'json'] as const)) {
    const x = await round(arm);
    arms[arm].cpu.push(x.client_cpu_ms_per_call);
    arms[arm].lat.push(...x.latencies_ms);
    const mean = x.latencies_ms.reduce((a, b) => a + b, 0) / x.latencies_ms.length;
    console.log(
      JSON.stringify({
        round: r,
        arm,
        cpu_ms_per_call: fmt(x.client_cpu_ms_per_call),
        p50_ms: fmt(pct(x.latencies_ms, 50)),
        p99_ms: fmt(pct(x.latencies_ms, 99)),
        mean_ms: fmt(mean),
        stages_ms: Object.fromEntries(Object.entries(x.stages_ms ?? {}).map(([s, v]) => [s, fmt(v)])),
      }),
    );
  }
}
for (const [arm, a] of Object.entries(arms))
  console.log(
    JSON.stringify({
      arm,
      cpu_ms_per_call_median: fmt(pct(a.cpu, 50)),
      cpu_ms_per_call_rounds: a.cpu.map(fmt),
      p50_ms: fmt(pct(a.lat, 50)),
      p99_ms: fmt(pct(a.lat, 99)),
      calls: a.lat.length,
    }),
  );
