/**
 * CPU per request of the edge's handler without the HTTP server: `app.fetch` on an in-process Request (memory sink),
 * next to a bare "verify + parse + answer" handler, so JS overhead on the hot path can be measured without the noise
 * of a shared machine. Usage: bun bench/edge/handler-cpu.ts [requests=200000] [rounds=2]
 *   EDGE_APP_BASE=<path to another copy of src/app.ts> (e.g. an older commit's): also measures that app, interleaved
 *   with this one in the same process, and prints the medians (an in-process A/B of a hot-path change).
 */
import { createHmac } from 'node:crypto';
import { createLogger } from '@pep/contracts/log';
import { createApp } from '@pep/edge/app';
import { loadConfig } from '@pep/edge/config';
import { EdgeMetrics } from '@pep/edge/metrics';
import { GroupCommitProducer } from '@pep/edge/producer';
import { MemorySink } from '@pep/edge/sink';
import { benchWebhookBody, stripeSignature } from './load-generator.ts';

const n = Number(process.argv[2] ?? 200_000);
const rounds = Number(process.argv[3] ?? 2);
const secret = 'whsec_test_secret_for_dev';
const config = loadConfig({ EDGE_SINK: 'memory', STRIPE_WEBHOOK_SECRET: secret, LOG_LEVEL: 'error' });
const log = createLogger('error', {}, () => undefined);
const metrics = new EdgeMetrics();
const producer = new GroupCommitProducer(new MemorySink(), config.limits, metrics, log);
const app = createApp({ config, producer, metrics, log, ready: async () => true });
const basePath = process.env.EDGE_APP_BASE;
const baseApp = basePath
  ? ((await import(basePath)) as { createApp: typeof createApp }).createApp({
      config,
      producer,
      metrics,
      log,
      ready: async () => true,
    })
  : null;
const body = benchWebhookBody(1_790_000_000);
const t = Math.floor(Date.now() / 1000);
const signature = stripeSignature(body, secret, t);
const request = () =>
  new Request('http://127.0.0.1:8080/webhooks/stripe', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature, 'content-length': '1' },
  });
const key = Buffer.from(secret);
const td = new TextDecoder();
const bare = async (req: Request) => {
  const h = req.headers;
  h.get('stripe-signature');
  h.get('content-type');
  h.get('x-request-id');
  const b = new Uint8Array(await req.arrayBuffer());
  createHmac('sha256', key).update(`${t}.`).update(b).digest();
  const j = JSON.parse(td.decode(b)) as { id: string };
  return new Response(JSON.stringify({ status: 'accepted', event_id: j.id }), {
    headers: { 'content-type': 'application/json', 'x-request-id': crypto.randomUUID() },
  });
};

async function measure(label: string, handle: (r: Request) => Promise<Response> | Response): Promise<number> {
  // 64 requests in flight at a time, like the benchmark's connections
  const round = async (count: number) => {
    for (let i = 0; i < count; i += 64) {
      await Promise.all(Array.from({ length: 64 }, () => Promise.resolve(handle(request())).then((r) => r.text())));
    }
  };
  await round(20_000);
  const c0 = process.cpuUsage();
  await round(n);
  const c = process.cpuUsage(c0);
  const us = (c.user + c.system) / n;
  console.log(`${label}: ${us.toFixed(2)} µs CPU per request`);
  return us;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const results = new Map<string, number[]>();
const arms: [string, (r: Request) => Promise<Response> | Response][] = [
  ['bare verify+parse+answer', bare],
  ['edge app.fetch (memory sink)', (r) => app.fetch(r)],
];
// What Bun.serve's native route calls (server.ts), where the app has it.
const webhook = (a: { fetch: typeof app.fetch; handleWebhook?: typeof app.handleWebhook }) => (r: Request) =>
  a.handleWebhook ? a.handleWebhook('stripe', r) : a.fetch(r);
arms.push(['edge handleWebhook (Bun route)', webhook(app)]);
if (baseApp) {
  arms.push([`base app.fetch (${basePath})`, (r) => baseApp.fetch(r)]);
  arms.push([`base handleWebhook (${basePath})`, webhook(baseApp)]);
}
for (let i = 0; i < rounds; i++) {
  for (const [label, handle] of arms) {
    const us = await measure(label, handle);
    results.set(label, [...(results.get(label) ?? []), us]);
  }
}
if (rounds > 1) for (const [label, xs] of results) console.log(`median ${label}: ${median(xs).toFixed(2)} µs`);
process.exit(0);
