/**
 * bronze.payment_outcomes from PostgreSQL, exactly once per row version: a private database (the workflows'
 * migrations applied by their own script), a private catalog and warehouse. Loads pick up new rows and upserts once,
 * a restarted loader resumes from the table's horizon, and a row whose transaction commits after a later one has
 * committed (the case an id cursor would skip for ever) is loaded once its transaction ends. Needs PostgreSQL and the
 * lake addon (`npm run test:integration -w @pep/pipeline` builds it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { Registry } from '@pep/contracts/metrics';
import { loadLakeConfig } from '@pep/lakehouse/config';
import { openDuckSession } from '@pep/lakehouse/duckdb';
import { LakeWriter } from '@pep/lakehouse/writer';
import pg from 'pg';
import { OutcomesLoader } from '../../src/lake-sink/outcomes.ts';
import { addr, waitFor } from '../helpers.ts';

const tag = randomBytes(4).toString('hex');
const dbName = `lake_outcomes_${tag}`;
const dbUrl = (() => {
  const u = new URL(addr.databaseUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();
const warehouse = join(tmpdir(), `pep-lake-outcomes-${tag}`);
const cfg = { ...loadLakeConfig({ ...process.env, LAKE_WAREHOUSE: warehouse }), catalogName: `outcomes_${tag}` };
const admin = new pg.Client({ connectionString: addr.databaseUrl });
const db = new pg.Pool({ connectionString: dbUrl, max: 3 });
db.on('error', () => undefined);
const log = createLogger('warn', { service: 'outcomes-test' });
let writer: LakeWriter;

function loader(): OutcomesLoader {
  return new OutcomesLoader(
    { databaseUrl: dbUrl, intervalMs: 3_600_000, batchRows: 1000, writerId: `outcomes-test-${tag}` },
    writer,
    new Registry(),
    log,
  );
}

async function insert(client: pg.Pool | pg.PoolClient, i: number, amount: number): Promise<void> {
  await client.query(
    `INSERT INTO payment_events (event_id, provider, amount_minor, currency, outcome, metadata, schema_version,
       validation_status, validation_errors, validation_warnings, workflow_id, workflow_run_id, persisted_at,
       fraud_score, fraud_model_version)
     VALUES ($1, 'stripe', $2, 'USD', 'succeeded', '{}', 1, 'passed', '[]', '[]', $3, 'run', now(), 0.25, 'fraud-v1')`,
    [`stripe:evt_${i}`, amount, `wf-${i}`],
  );
}

async function lakeRows(): Promise<{ n: number; sum: number; events: number }> {
  const s = await openDuckSession(cfg);
  try {
    if (!s.tables.some((t) => t.name === 'payment_outcomes')) return { n: 0, sum: 0, events: 0 };
    const r = await s.query(
      `SELECT count(*) AS n, coalesce(sum(amount_minor), 0) AS s, count(DISTINCT event_id) AS e FROM ${LAKE_TABLES.payment_outcomes.qualifiedName}`,
    );
    const row = r.rows[0] as Record<string, bigint>;
    return { n: Number(row.n), sum: Number(row.s), events: Number(row.e) };
  } finally {
    s.close();
  }
}

before(async () => {
  mkdirSync(warehouse, { recursive: true });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const m = spawnSync('npm', ['run', 'migrate', '-w', '@pep/workflows'], {
    cwd: join(import.meta.dirname, '..', '..', '..'),
    env: { ...process.env, DATABASE_URL: dbUrl },
    encoding: 'utf8',
  });
  assert.equal(m.status, 0, `workflows migration failed: ${m.stderr}`);
  writer = await LakeWriter.open(cfg);
});

after(async () => {
  await db.end();
  // Every pool above has ended; wait until the server has seen their connections go, then drop.
  await waitFor('no connection to the test database', async () => {
    const r = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [dbName]);
    return r.rows[0]?.n === 0;
  });
  await admin.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await admin.query('DELETE FROM iceberg_tables WHERE catalog_name = $1', [cfg.catalogName]);
  await admin.query('DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1', [cfg.catalogName]);
  await admin.end();
  rmSync(warehouse, { recursive: true, force: true });
});

describe('outcomes loader', () => {
  it('loads every row version once, resumes from the table, and waits for transactions that commit out of order', async () => {
    const a = loader();
    await a.start();
    await insert(db, 1, 1000);
    await insert(db, 2, 2000);
    assert.equal(await a.loadOnce(), 2);
    assert.equal(await a.loadOnce(), 0, 'nothing new: nothing loaded');

    // An upsert (a retried persist) is a new row version.
    await db.query(`UPDATE payment_events SET fraud_score = 0.5, persisted_at = now() WHERE event_id = 'stripe:evt_1'`);
    assert.equal(await a.loadOnce(), 1);
    await a.stop();

    // Out of order: T1 inserts first and commits last; T2's row must wait for T1, then both land.
    const t1 = await db.connect();
    try {
      await t1.query('BEGIN');
      await insert(t1, 3, 3000);
      await insert(db, 4, 4000);
      const b = loader(); // a restart: the horizon comes from the table
      await b.start();
      assert.equal(await b.loadOnce(), 0, 'a row above an open transaction waits for it');
      await t1.query('COMMIT');
      assert.equal(await b.loadOnce(), 2);
      assert.equal(await b.loadOnce(), 0);
      await b.stop();
    } finally {
      t1.release();
    }

    // Four events, five row versions, each exactly once; amounts to the minor unit.
    assert.deepEqual(await lakeRows(), { n: 5, sum: 1000 * 2 + 2000 + 3000 + 4000, events: 4 });
    const info = await writer.tableInfo(LAKE_TABLES.payment_outcomes.qualifiedName, 'pep.pg.xid-horizon');
    assert.ok(info.cursors.xid && BigInt(info.cursors.xid) > 0n, JSON.stringify(info.cursors));
  });
});
