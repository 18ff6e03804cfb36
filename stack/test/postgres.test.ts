/**
 * PostgreSQL smoke test: the `pg` client the workflows will use, as the `payments` role on the contract
 * DATABASE_URL — connect, a temp table round trip with integer minor units, and a rolled-back transaction.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import pg from 'pg';
import { ensureServices } from './support.ts';

describe('postgres', { timeout: 120_000 }, () => {
  let client: pg.Client;

  before(async () => {
    await ensureServices(['postgres']);
    client = new pg.Client({
      connectionString: serviceAddresses().databaseUrl,
      connectionTimeoutMillis: 10_000,
      statement_timeout: 10_000,
    });
    await client.connect();
  });

  after(async () => {
    await client?.end();
  });

  test('connects as the payments role to the payments database', async () => {
    const { rows } = await client.query<{ user: string; db: string; version: string }>(
      'SELECT current_user AS user, current_database() AS db, version() AS version',
    );
    assert.equal(rows[0]?.user, SERVICE_DEFAULTS.postgres.user);
    assert.equal(rows[0]?.db, SERVICE_DEFAULTS.postgres.database);
    assert.match(rows[0]?.version ?? '', /^PostgreSQL \d+/);
  });

  test('round-trips rows through a temp table, keeping bigint minor units exact', async () => {
    await client.query(
      'CREATE TEMP TABLE smoke_payments (event_id text PRIMARY KEY, amount_minor bigint NOT NULL, currency char(3) NOT NULL)',
    );
    // Above 2^53: the value must come back as the exact string, not a rounded JS number.
    const big = '9007199254740993';
    await client.query('INSERT INTO smoke_payments VALUES ($1, $2, $3), ($4, $5, $6)', [
      'stripe:evt_1',
      1999,
      'USD',
      'adyen:psp_2',
      big,
      'JPY',
    ]);
    const { rows } = await client.query<{ event_id: string; amount_minor: string; currency: string }>(
      'SELECT event_id, amount_minor, currency FROM smoke_payments ORDER BY event_id',
    );
    assert.deepEqual(rows, [
      { event_id: 'adyen:psp_2', amount_minor: big, currency: 'JPY' },
      { event_id: 'stripe:evt_1', amount_minor: '1999', currency: 'USD' },
    ]);
    await assert.rejects(
      client.query('INSERT INTO smoke_payments VALUES ($1, $2, $3)', ['stripe:evt_1', 1, 'USD']),
      (err: Error & { code?: string }) => err.code === '23505', // unique_violation
    );
  });

  test('a rolled-back transaction leaves no trace', async () => {
    await client.query('CREATE TEMP TABLE smoke_tx (id int PRIMARY KEY)');
    await client.query('INSERT INTO smoke_tx VALUES (1)');
    await client.query('BEGIN');
    await client.query('INSERT INTO smoke_tx VALUES (2), (3)');
    const inside = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM smoke_tx');
    assert.equal(inside.rows[0]?.n, 3);
    await client.query('ROLLBACK');
    const { rows } = await client.query<{ id: number }>('SELECT id FROM smoke_tx ORDER BY id');
    assert.deepEqual(rows, [{ id: 1 }]);
  });

  test('rejects a wrong password', async () => {
    const url = new URL(serviceAddresses().databaseUrl);
    url.password = 'not-the-password';
    const bad = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 10_000 });
    await assert.rejects(bad.connect(), /password authentication failed/);
    await bad.end().catch(() => {});
  });
});
