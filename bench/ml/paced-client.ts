/**
 * The load generator of the ml bench's latency figure, in its own process (as the workflow worker that calls the
 * inference service is): the service's event loop then does only the service's work, and the client's JSON encoding,
 * HTTP parsing and timers do not queue in front of it. Reads `{port, callsPerS, warmup, total, bodies, transport}`
 * from the file named by argv[2]; sends `warmup` unmeasured calls one after another (connections, the Redis script,
 * ORT's first run at this shape), then `total` POST /fraud/score/batch calls paced open-loop at callsPerS (a late
 * call is not skipped), cycling through `bodies` (each `{items}` encoded per call, as the workflow's activity does).
 * `transport`: `workflows` (default) is the client the workflows' scoring activity uses (@pep/workflows'
 * createInferenceClient); `fetch` is the global-fetch client it replaced (the same-run baseline); `in-process` scores
 * in this process as the worker does by default: @pep/ml/scoring behind the worker's local-fraud client (@pep/workflows'
 * withInProcessFraud, the InferenceClient the payment activity gets; same Redis, models and answers as the service, no
 * HTTP; `env` holds its REDIS_URL, MLFLOW_TRACKING_URI and ML_REGISTRY_PREFIX), so its CPU per call is the whole
 * scoring cost. Prints
 * `{latencies_ms, starts_epoch_ms, client_cpu_ms_per_call, stages_ms, gc, fetches_epoch_ms}` (in call order;
 * `stages_ms`: in-process, the scorer's mean wall time per call by stage, else null; `gc`: this process's GC pauses,
 * `fetches_epoch_ms`: its outgoing HTTP requests' starts, in-process the scorer's alias checks; `new_space_mb`: V8's young
 * generation at the end) as one JSON line.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { isInvalidRequest, startLocalScoring } from '@pep/ml/scoring';
import { createInferenceClient } from '@pep/workflows/inference-client';
import { withInProcessFraud } from '@pep/workflows/local-fraud';

interface Plan {
  readonly port: number;
  readonly callsPerS: number;
  readonly warmup: number;
  readonly total: number;
  readonly bodies: readonly string[];
  readonly transport?: 'workflows' | 'fetch' | 'in-process';
  readonly env?: Record<string, string>;
}

type Answer = { results?: { model_version: string | null }[] };
const plan = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as Plan;
const base = `http://127.0.0.1:${plan.port}`;
const path = '/fraud/score/batch';
const bodies = plan.bodies.map((b) => JSON.parse(b) as { items: unknown[] });
const workflows = createInferenceClient({ baseUrl: base, timeoutMs: 10_000 });
/** The workflows' client before this change: global fetch, the body encoded per call, the answer read as text. */
const viaFetch = async (body: unknown): Promise<Answer> => {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`unexpected answer ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Answer;
};
const local = plan.transport === 'in-process' ? await startLocalScoring({ ...process.env, ...plan.env }) : null;
const worker = local ? withInProcessFraud(workflows, local, isInvalidRequest) : null;
const inProcess = (body: { items: unknown[] }): Promise<Answer> =>
  (worker as NonNullable<typeof worker>).post<Answer>(path, body);
const send =
  plan.transport === 'fetch'
    ? viaFetch
    : plan.transport === 'in-process'
      ? inProcess
      : (body: { items: unknown[] }) => workflows.post<Answer>(path, body);
let k = 0;
/** This process's GC pauses and outgoing HTTP requests (in-process: the scorer's alias checks), epoch ms. */
const gcs: { start: number; ms: number; kind: number }[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    gcs.push({
      start: performance.timeOrigin + e.startTime,
      ms: e.duration,
      kind: (e as unknown as { detail: { kind: number } }).detail.kind,
    });
}).observe({ entryTypes: ['gc'] });
const fetches: number[] = [];
const fetched = () => {
  fetches.push(performance.timeOrigin + performance.now());
};
// global fetch (undici) and node:http (the registry's alias checks)
diagnostics_channel.subscribe('undici:request:create', fetched);
diagnostics_channel.subscribe('http.client.request.start', fetched);
/** Epoch ms at which each measured call started (for lining calls up with the service's GC and stalls). */
const starts: number[] = [];
const call = async (): Promise<number> => {
  const body = bodies[k++ % bodies.length] as { items: unknown[] };
  const s = performance.now();
  starts.push(performance.timeOrigin + s);
  const j = await send(body);
  const ms = performance.now() - s;
  if (!j.results || j.results.some((r) => !r.model_version?.startsWith('fraud@')))
    throw new Error(`unexpected answer ${JSON.stringify(j).slice(0, 300)}`);
  return ms;
};

for (let i = 0; i < plan.warmup; i++) await call();
starts.length = 0;
const stages0 = local?.stages();
const cpu0 = process.cpuUsage();
const latencies: number[] = [];
const inFlight: Promise<void>[] = [];
const start = performance.now();
for (let i = 0; i < plan.total; i++) {
  const wait = start + (i / plan.callsPerS) * 1000 - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const n = i;
  inFlight.push(
    call().then((ms) => {
      latencies[n] = ms;
    }),
  );
}
await Promise.all(inFlight);
const cpu = process.cpuUsage(cpu0);
// The young generation's size at the end (V8 grows it from 1 MB up to --max-semi-space-size as calls allocate).
const newSpaceMb = (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20;
// In-process: the scorer's wall time per stage per measured call (ms), from its own clocks.
const stages1 = local?.stages();
const stagesMs =
  stages0 && stages1
    ? Object.fromEntries(
        Object.entries(stages1)
          .filter(([k]) => k !== 'batches')
          .map(([k, v]) => [k, (v - (stages0[k as keyof typeof stages0] as number)) / plan.total]),
      )
    : null;
workflows.close();
await local?.close();
process.stdout.write(
  `${JSON.stringify({
    latencies_ms: latencies,
    starts_epoch_ms: starts,
    client_cpu_ms_per_call: (cpu.user + cpu.system) / 1000 / plan.total,
    stages_ms: stagesMs,
    gc: gcs,
    fetches_epoch_ms: fetches,
    new_space_mb: newSpaceMb,
  })}\n`,
);
