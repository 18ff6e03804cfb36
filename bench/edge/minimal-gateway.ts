/**
 * Benchmark reference: the least a Stripe webhook gateway with a memory sink can do per request, written as tightly as
 * possible on Bun.serve, on EDGE_PORT. It reads the body, checks the Stripe-Signature (timestamp tolerance, HMAC-SHA256
 * through Bun.CryptoHasher, constant-time compare), parses the JSON for the event id and type, appends a record to a
 * batch, and answers 200 once the batch is "stored" in a later event-loop turn (as any gateway that waits for a write
 * must). No metrics, logs, request ids, DLQ, limits or other providers. It is the floor under the edge's memory-sink
 * arm: `edge_memsink_vs_minimal_gateway` says how much the edge's own code costs over the work itself. Not part of the
 * product.
 */
import { timingSafeEqual } from 'node:crypto';

interface Hasher {
  update(data: string | Uint8Array): Hasher;
  digest(): Buffer;
  copy(): Hasher;
}
// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here (no bun-types in this workspace)
const Bun = (globalThis as any).Bun;
const secret = process.env.STRIPE_WEBHOOK_SECRET ?? 'whsec_test_secret_for_dev';
const keyed: Hasher = new Bun.CryptoHasher('sha256', secret);
const utf8 = new TextDecoder();
const TOLERANCE_S = 300;

let batch: { key: string; value: Uint8Array; done: () => void }[] = [];
const stored: Uint8Array[] = [];
let flushScheduled = false;
const flush = () => {
  flushScheduled = false;
  const b = batch;
  batch = [];
  for (const r of b) stored.push(r.value);
  if (stored.length > 20_000) stored.splice(0, 10_000);
  for (const r of b) r.done();
};

const bad = (status: number) => new Response(null, { status });

async function stripe(req: Request): Promise<Response> {
  // Bun's Request.bytes() (not in the DOM typings this workspace uses)
  const body = await (req as unknown as { bytes(): Promise<Uint8Array> }).bytes();
  const header = req.headers.get('stripe-signature') ?? '';
  let t = '';
  let v1 = '';
  for (const part of header.split(',')) {
    if (part.startsWith('t=')) t = part.slice(2);
    else if (part.startsWith('v1=') && v1 === '') v1 = part.slice(3);
  }
  const ts = Number(t);
  if (!t || !Number.isFinite(ts) || Math.abs(Date.now() / 1000 - ts) > TOLERANCE_S || v1.length !== 64) return bad(401);
  const mac = keyed.copy().update(t).update('.').update(body).digest();
  if (!timingSafeEqual(mac, Buffer.from(v1, 'hex'))) return bad(401);
  let event: { id?: unknown; type?: unknown };
  try {
    event = JSON.parse(utf8.decode(body));
  } catch {
    return bad(400);
  }
  if (typeof event.id !== 'string' || typeof event.type !== 'string') return bad(400);
  const id = event.id;
  await new Promise<void>((done) => {
    batch.push({ key: id, value: body, done });
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  });
  return new Response(`{"status":"accepted","event_id":${JSON.stringify(id)}}`, {
    headers: { 'content-type': 'application/json' },
  });
}

const server = Bun.serve({
  port: Number(process.env.EDGE_PORT ?? 8080),
  hostname: '127.0.0.1',
  routes: { '/webhooks/stripe': { POST: stripe } },
  fetch: (req: Request) => (new URL(req.url).pathname === '/readyz' ? new Response('ready') : bad(404)),
  development: false,
});
process.stdout.write(`minimal gateway listening on ${server.port}\n`);
process.on('SIGTERM', () => {
  server.stop(true);
  process.exit(0);
});
