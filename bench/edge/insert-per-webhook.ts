/**
 * Benchmark baseline for `edge_vs_insert_per_webhook`: the common pattern of one PostgreSQL INSERT (autocommit, so
 * one COMMIT with synchronous_commit) per webhook before answering 200 — the same Hono app shape, the same Stripe
 * verification, but no batching and no Kafka. Runs on Bun or Node (@hono/node-server). Not part of the product.
 * BENCH_PG_CLIENT=pg (default: node-postgres, the client most Node/TypeScript services use) or bun (Bun's built-in
 * `SQL` client, native, about 15-50 % more inserts per second here: the stronger variant of the same pattern).
 */

import { serviceAddresses } from '@pep/contracts';
import { checkStripe } from '@pep/edge/providers/stripe';
import { Hono } from 'hono';
import pg from 'pg';

const addresses = serviceAddresses();
const poolSize = Number(process.env.BENCH_PG_POOL ?? 16);
const client = process.env.BENCH_PG_CLIENT ?? 'pg';
if (client !== 'pg' && client !== 'bun') throw new Error(`BENCH_PG_CLIENT must be pg or bun, got ${client}`);
const TABLE = 'bench_edge_insert_per_webhook';
const INSERT = `INSERT INTO ${TABLE} (event_id, body, received_at) VALUES ($1, $2, now())`;

/** One parameterised statement in autocommit (one COMMIT each), through the chosen client. */
interface Db {
  query(text: string, params?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}
async function openDb(): Promise<Db> {
  if (client === 'pg') return new pg.Pool({ connectionString: addresses.databaseUrl, max: poolSize });
  // biome-ignore lint/suspicious/noExplicitAny: Bun's SQL client is untyped here (no bun-types in this workspace)
  const { SQL } = (await import('bun' as string)) as any;
  const sql = new SQL({ url: addresses.databaseUrl, max: poolSize });
  return { query: (text, params = []) => sql.unsafe(text, params), end: () => sql.close() };
}
const pool = await openDb();
await pool.query(
  `CREATE TABLE IF NOT EXISTS ${TABLE} (id bigserial PRIMARY KEY, event_id text NOT NULL, body bytea NOT NULL, received_at timestamptz NOT NULL)`,
);
const opts = {
  secrets: [Buffer.from(process.env.STRIPE_WEBHOOK_SECRET ?? 'whsec_test_secret_for_dev')],
  toleranceSeconds: 300,
};

const app = new Hono({ strict: false });
app.post('/webhooks/stripe', async (c) => {
  const body = new Uint8Array(await c.req.raw.arrayBuffer());
  const v = checkStripe(c.req.raw.headers, body, opts, Math.floor(Date.now() / 1000));
  if (!v.ok) return c.json({ error: { code: v.code, message: v.message } }, v.status);
  try {
    await pool.query(INSERT, [v.eventId, Buffer.from(body)]);
  } catch {
    return c.json({ error: { code: 'db_unavailable', message: 'retry later' } }, 503);
  }
  return c.json({ status: 'accepted', event_id: v.eventId });
});

const port = addresses.edgePort;
// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here
const BunGlobal = (globalThis as any).Bun;
if (BunGlobal) {
  BunGlobal.serve({ port, hostname: '127.0.0.1', fetch: app.fetch, development: false }); // as the edge runs it
} else {
  const { serve } = await import('@hono/node-server');
  serve({ fetch: app.fetch, port, hostname: '127.0.0.1' });
}
process.stdout.write(`insert-per-webhook listening on ${port}\n`);
process.on('SIGTERM', async () => {
  await pool.end().catch(() => undefined);
  process.exit(0);
});
