/**
 * The load generator of the ml bench's latency figure, in its own process (as the workflow worker that calls the
 * inference service is): the service's event loop then does only the service's work, and the client's JSON encoding,
 * HTTP parsing and timers do not queue in front of it. Reads `{port, callsPerS, warmup, total, bodies}` from the file
 * named by argv[2]; sends `warmup` unmeasured calls one after another (connections, the Redis script, ORT's first run
 * at this shape), then `total` POST /fraud/score/batch calls paced open-loop at callsPerS (a late call is not
 * skipped), cycling through `bodies`. Prints `{latencies_ms}` as one JSON line.
 */
import { readFileSync } from 'node:fs';

interface Plan {
  readonly port: number;
  readonly callsPerS: number;
  readonly warmup: number;
  readonly total: number;
  readonly bodies: readonly string[];
}

const plan = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as Plan;
const url = `http://127.0.0.1:${plan.port}/fraud/score/batch`;
let k = 0;
const call = async (): Promise<number> => {
  const body = plan.bodies[k++ % plan.bodies.length] as string;
  const s = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const j = (await res.json()) as { results?: { model_version: string | null }[] };
  const ms = performance.now() - s;
  if (!res.ok || !j.results || j.results.some((r) => !r.model_version?.startsWith('fraud@')))
    throw new Error(`unexpected answer ${res.status} ${JSON.stringify(j).slice(0, 300)}`);
  return ms;
};

for (let i = 0; i < plan.warmup; i++) await call();
const latencies: number[] = [];
const inFlight: Promise<void>[] = [];
const start = performance.now();
for (let i = 0; i < plan.total; i++) {
  const wait = start + (i / plan.callsPerS) * 1000 - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  inFlight.push(call().then((ms) => void latencies.push(ms)));
}
await Promise.all(inFlight);
process.stdout.write(`${JSON.stringify({ latencies_ms: latencies })}\n`);
