/**
 * Server CPU per request under load: starts one server (the edge with the memory sink or Kafka, or the bare hello) on
 * core 0, loads it with wrk from core 1 (64 connections, the benchmark's signed ~1 KiB Stripe event), and reads the
 * server's CPU time from /proc before and after. CPU per request is steadier than req/s on a shared machine, so
 * this is the tool for deciding whether a hot-path change helps. Not part of the product.
 * usage: node --import tsx bench/edge/server-cpu.ts <memsink|full|hello> [seconds=8] [--prof] [--autocannon]
 *   --autocannon: load with autocannon instead (it saturates its own core at ~65k req/s, below the server's)
 *   --prof: run the server under `bun --cpu-prof` (profile in /tmp/edge-prof/, written at exit)
 *   EDGE_MAIN=<path>: another copy of src/main.ts (e.g. an older commit's, for an A/B comparison)
 *   EDGE_MAIN_B=<path>: A/B mode: EDGE_MAIN (or src/main.ts) and this copy both run and are loaded in turns,
 *     AB_ROUNDS (8) rounds of [seconds] each; prints the medians and the per-round B/A ratios of CPU per request
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchWebhookBody, closedLoad, type LoadGeneratorName, stripeSignature } from './load-generator.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BUN = join(ROOT, 'node_modules/.bin/bun');
const SECRET = 'whsec_test_secret_for_dev';
const arm = process.argv[2] ?? 'memsink';
const seconds = Number(process.argv[3] ?? 8);
const prof = process.argv.includes('--prof');
if (!['memsink', 'full', 'hello'].includes(arm)) {
  process.stderr.write('usage: server-cpu.ts <memsink|full|hello> [seconds] [--prof]\n');
  process.exit(2);
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const script =
  arm === 'hello'
    ? join(ROOT, 'bench/edge/hello-bun.ts')
    : resolve(process.env.EDGE_MAIN ?? join(ROOT, 'edge/src/main.ts'));
interface Server {
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}
/** Starts one server pinned to core 0 and waits until it answers. */
async function startServer(script: string): Promise<Server> {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const bunArgs = prof ? ['--cpu-prof', '--cpu-prof-dir=/tmp/edge-prof', script] : [script];
  const child = spawn('taskset', ['-c', '0', BUN, ...bunArgs], {
    cwd: join(ROOT, 'edge'),
    env: {
      ...process.env,
      NODE_ENV: 'development',
      EDGE_PORT: String(port),
      EDGE_HOST: '127.0.0.1',
      LOG_LEVEL: 'error',
      STRIPE_WEBHOOK_SECRET: SECRET,
      ...(arm === 'memsink' ? { EDGE_SINK: 'memory' } : { EDGE_TOPIC_PREFIX: 'bench.edge.' }),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  // A failed run must not leave a server behind on core 0.
  process.once('exit', () => child.kill('SIGKILL'));
  const probe = arm === 'hello' ? '/' : '/readyz';
  for (let i = 0; ; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}${probe}`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* starting */
    }
    if (i > 300) throw new Error('server not ready');
    await sleep(100);
  }
  return {
    pid: child.pid as number,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
    },
  };
}

/** utime + stime of a server process (the Bun child of taskset, which exec's), in µs. */
const cpuMicros = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // clock ticks (USER_HZ 100)
};

/** CPU ticks (1/100 s) per thread name of the server, e.g. the JS thread vs JIT and GC helper threads. */
const threadTicks = (pid: number): Map<string, number> => {
  const m = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : s.slice(s.indexOf('(') + 1, s.lastIndexOf(')'));
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      m.set(name, (m.get(name) ?? 0) + Number(f[11]) + Number(f[12]));
    } catch {
      /* thread exited */
    }
  }
  return m;
};

const body = benchWebhookBody();
const urlOf = (port: number) => `http://127.0.0.1:${port}/webhooks/stripe`;
type LoadResult = { ok: number; durationS: number; p50: number; p99: number; non2xx: number };

// wrk (C) by default: about half autocannon's CPU per request, so it saturates the server core where autocannon
// saturated its own
const generator: LoadGeneratorName = process.argv.includes('--autocannon') ? 'autocannon' : 'wrk';
const load = async (port: number, durationS: number): Promise<LoadResult> => {
  const r = await closedLoad({
    generator,
    url: urlOf(port),
    body,
    signature: stripeSignature(body, SECRET),
    connections: 64,
    durationS,
    core: '1',
  });
  return { ok: r.ok, durationS: r.durationS, p50: r.p50Ms, p99: r.p99Ms, non2xx: r.non2xx + r.errors };
};
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] as number;
const round1 = (x: number) => Math.round(x * 10) / 10;
const mainB = process.env.EDGE_MAIN_B;
if (mainB !== undefined) {
  // A/B mode: both servers stay up (idle while the other is loaded) and take turns in short bursts, so the machine's
  // drift over minutes hits both arms alike; prints each arm's median CPU per request and the per-round B/A ratios.
  const rounds = Number(process.env.AB_ROUNDS ?? 8);
  const a = await startServer(script);
  const b = await startServer(resolve(mainB));
  const us: { a: number[]; b: number[] } = { a: [], b: [] };
  const rps: { a: number[]; b: number[] } = { a: [], b: [] };
  await load(a.port, 2);
  await load(b.port, 2);
  for (let i = 0; i < rounds; i++) {
    const order: ['a' | 'b', Server][] =
      i % 2 === 0
        ? [
            ['a', a],
            ['b', b],
          ]
        : [
            ['b', b],
            ['a', a],
          ];
    for (const [name, srv] of order) {
      const c0 = cpuMicros(srv.pid);
      const r = await load(srv.port, seconds);
      us[name].push((cpuMicros(srv.pid) - c0) / r.ok);
      rps[name].push(r.ok / r.durationS);
    }
  }
  await a.stop();
  await b.stop();
  const ratios = us.b.map((x, i) => Math.round((x / (us.a[i] as number)) * 1000) / 1000);
  console.log(
    JSON.stringify({
      arm,
      a: script,
      b: resolve(mainB),
      a_cpu_us_per_req: us.a.map(round1),
      b_cpu_us_per_req: us.b.map(round1),
      a_median: round1(median(us.a)),
      b_median: round1(median(us.b)),
      b_over_a: ratios,
      b_over_a_median: median(ratios),
      b_lower_in: `${ratios.filter((x) => x < 1).length}/${rounds}`,
      a_req_per_s_median: Math.round(median(rps.a)),
      b_req_per_s_median: Math.round(median(rps.b)),
    }),
  );
  process.exit(0);
}
const server = await startServer(script);
const port = server.port;
await load(port, 2); // warm-up
const cpu0 = cpuMicros(server.pid);
const threads0 = threadTicks(server.pid);
const r = await load(port, seconds);
const cpu = cpuMicros(server.pid) - cpu0;
const threadUs: Record<string, number> = {};
for (const [name, ticks] of threadTicks(server.pid)) {
  const d = ticks - (threads0.get(name) ?? 0);
  if (d > 0) threadUs[name] = Math.round(((d * 1e4) / r.ok) * 10) / 10; // µs per request
}
// Batch shape and Kafka round trip over the whole run (warm-up included), from the edge's own histograms.
let batches: Record<string, number> = {};
if (arm !== 'hello') {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? Number.NaN);
  const count = num(/^edge_batch_messages_count (\S+)$/m);
  batches = {
    batches: count,
    mean_messages: Math.round((num(/^edge_batch_messages_sum (\S+)$/m) / count) * 10) / 10,
    mean_produce_ms: Math.round((num(/^edge_produce_duration_seconds_sum (\S+)$/m) / count) * 1e4) / 10,
  };
}
await server.stop();
console.log(
  JSON.stringify({
    arm,
    req_per_s: Math.round(r.ok / r.durationS),
    cpu_us_per_req: Math.round((cpu / r.ok) * 10) / 10,
    server_cpu_share: Math.round((cpu / (r.durationS * 1e6)) * 100) / 100,
    p50_ms: r.p50,
    p99_ms: r.p99,
    non2xx: r.non2xx,
    cpu_us_per_req_by_thread: threadUs,
    ...batches,
  }),
);
