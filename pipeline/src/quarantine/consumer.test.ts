import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '@pep/contracts/log';
import type pg from 'pg';
import { loadQuarantineConfig } from '../lib/config.ts';
import { QuarantineConsumer } from './consumer.ts';
import { toRow } from './rows.ts';

/** A stand-in for pg.Pool that refuses statements according to `refuse` (PostgreSQL's own errors are tested live). */
function fakePool(refuse: (text: string, values: unknown[]) => { code: string } | null) {
  const statements: { rows: number; rawOnly: boolean }[] = [];
  return {
    statements,
    pool: {
      query: async ({ text, values }: { text: string; values: unknown[] }) => {
        const err = refuse(text, values);
        if (err) throw Object.assign(new Error(`refused ${err.code}`), err);
        const rows = (text.match(/\),\(/g)?.length ?? 0) + 1;
        statements.push({
          rows,
          rawOnly: values.some((v) => typeof v === 'string' && v.startsWith('stored raw only')),
        });
        return { rowCount: rows };
      },
      end: async () => undefined,
    } as unknown as pg.Pool,
  };
}

const row = (offset: string, value: string) =>
  toRow('webhook_quarantine', {
    topic: 'webhooks.dlq',
    partition: 0,
    offset,
    key: null,
    value: Buffer.from(value),
    timestamp: '0',
    headers: {},
  });

test('a data error splits the batch, and a row PostgreSQL still refuses is stored raw-only', async () => {
  const { pool, statements } = fakePool((_text, values) =>
    // Refuse any statement holding the "poison" record in parsed form.
    values.some((v) => typeof v === 'string' && v.includes('poison')) ? { code: '22P05' } : null,
  );
  const c = new QuarantineConsumer(loadQuarantineConfig({}), silentLogger, pool);
  const rows = [row('1', '{"message":"ok"}'), row('2', '{"message":"poison"}'), row('3', '{"message":"ok"}')];
  await (c as unknown as { writeRows: (t: string, r: unknown[]) => Promise<void> }).writeRows(
    'webhook_quarantine',
    rows,
  );
  assert.deepEqual(statements, [
    { rows: 1, rawOnly: false },
    { rows: 1, rawOnly: true },
    { rows: 1, rawOnly: false },
  ]);
  assert.equal(c.metrics.rawOnly.get({ table: 'webhook_quarantine' }), 1);
  assert.equal(c.metrics.rows.get({ table: 'webhook_quarantine', result: 'inserted' }), 3);
});

test('a connection error is not swallowed: the batch fails and its offsets stay uncommitted', async () => {
  const { pool } = fakePool(() => ({ code: '08006' }));
  const c = new QuarantineConsumer(loadQuarantineConfig({}), silentLogger, pool);
  await assert.rejects(
    (c as unknown as { writeRows: (t: string, r: unknown[]) => Promise<void> }).writeRows('webhook_quarantine', [
      row('1', '{}'),
    ]),
    /refused 08006/,
  );
});
