/**
 * The raw-bytes row path (LAKE_SINK_ROWS=rust, the default) against the TypeScript reference (LAKE_SINK_ROWS=ts)
 * end to end: one topic of payment events, well-formed and not (bad bytes, no value, lone surrogates, dates only
 * JavaScript parses, integer-like metadata keys, odd numbers and headers), read by two sinks into two private
 * catalogs; the two tables, read back through DuckDB, must hold the same rows, column for column. Needs
 * `npm run stack:up` (Kafka, PostgreSQL) and the lake addon. Row-level cases are in lakehouse/src/raw-rows.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { openDuckSession } from '@pep/lakehouse/duckdb';
import { RawRowsBuilder, rawRowsUnavailable } from '@pep/lakehouse/raw-rows';
import type { Message } from 'kafkajs';
import { createTopics, deleteTopics, produce, runPrefix, testKafka, waitFor } from '../helpers.ts';
import { removeSinkEnv, type SinkEnv, sinkEnv, startSink, tableStats } from './sink-harness.ts';

const prefix = runPrefix('lakeraw');
const topic = `${prefix}payments.normalized`;
const sinks: Record<'ts' | 'rust', SinkEnv> = {
  ts: sinkEnv(`${prefix}ts.`, [topic], `${prefix}ts`),
  rust: sinkEnv(`${prefix}rust.`, [topic], `${prefix}rust`),
};
const kafka = testKafka('lake-raw-rows-test');
const admin = kafka.admin();
const table = LAKE_TABLES.payment_events.qualifiedName;

const headers = { 'source-topic': 'webhooks.stripe.charge', 'source-partition': '0', 'source-offset': '7' };

function messages(): Message[] {
  const out: Message[] = [];
  for (let i = 0; i < 300; i++) {
    out.push({
      key: `k${i}`,
      value: JSON.stringify({
        event_id: `stripe:evt_${i}`,
        provider: 'stripe',
        event_type: 'payment.succeeded',
        amount_minor: i % 7 === 0 ? i + 0.5 : 1000 + i,
        currency: 'USD',
        metadata: { b: i, [String(i % 5)]: 'x', a: { '3': 1.25e-7, z: [1e21, -0] } },
        provider_created_at: new Date(Date.UTC(2026, 10, 25) + i * 1000).toISOString(),
        received_at: i % 3 === 0 ? undefined : new Date(Date.UTC(2026, 10, 25) + i * 1001).toISOString(),
        normalized_at: i % 11 === 0 ? 'November 25, 2026 10:00:00 UTC' : '2026-11-25T10:00:00+02:00',
        schema_version: i % 13 === 0 ? 2 ** 31 : 1,
      }),
      headers: { ...headers, 'received-at': i % 2 === 0 ? '2026-11-25T00:00:00.5Z' : '2026-11-25 00:00:00Z' },
    });
  }
  const odd: (string | Buffer | null)[] = [
    null,
    Buffer.from([0xff, 0xfe]),
    'not json',
    '[1]',
    '{"event_id":5}',
    '{"event_id":"lone \\ud800"}',
    '{"event_id":"e","metadata":{"x":"\\udc00"}}',
    '{"event_id":"e","metadata":{"10":1,"9":2,"a":3,"a":4}}',
    '\ufeff{"event_id":"bom"}',
    '{"event_id":"e","amount_minor":9007199254740993,"schema_version":-0}',
  ];
  for (const v of odd) out.push({ key: null, value: v, headers: { 'source-partition': '1234567890' } });
  return out;
}

before(async () => {
  await admin.connect();
  await createTopics(admin, [topic], 2);
  await produce(kafka, topic, messages());
});

after(async () => {
  await deleteTopics(admin, [topic]);
  await admin.deleteGroups([`${prefix}ts`, `${prefix}rust`]).catch(() => undefined);
  await admin.disconnect();
  for (const s of Object.values(sinks)) await removeSinkEnv(s);
});

async function rowsOf(s: SinkEnv): Promise<unknown[]> {
  const d = await openDuckSession(s.cfg);
  try {
    return (await d.query(`SELECT * FROM ${table} ORDER BY kafka_partition, kafka_offset`)).rows;
  } finally {
    d.close();
  }
}

describe('lake sink raw-bytes rows', () => {
  it('writes the same payment_events rows as the TypeScript path', async () => {
    // The sink falls back to rows.ts when the addon has no raw path: that would compare the TypeScript path with itself.
    assert.ok(RawRowsBuilder.create(LAKE_TABLES.payment_events), `no raw path: ${rawRowsUnavailable}`);
    const total = messages().length;
    const running = {
      ts: startSink(sinks.ts, { LAKE_SINK_ROWS: 'ts' }),
      rust: startSink(sinks.rust, { LAKE_SINK_ROWS: 'rust' }),
    };
    try {
      await waitFor(
        'both sinks committed every record',
        async () => {
          const [a, b] = await Promise.all([tableStats(sinks.ts.cfg, table), tableStats(sinks.rust.cfg, table)]);
          return a.n >= total && b.n >= total;
        },
        180_000,
        500,
      );
    } finally {
      running.ts.child.kill('SIGTERM');
      running.rust.child.kill('SIGTERM');
    }
    assert.equal(await running.ts.exited, 0);
    assert.equal(await running.rust.exited, 0);
    const [ts, rust] = [await rowsOf(sinks.ts), await rowsOf(sinks.rust)];
    assert.equal(ts.length, total);
    assert.equal(rust.length, total);
    for (let i = 0; i < total; i++) assert.deepEqual(rust[i], ts[i], `row ${i}`);
    const errors = ts.filter((r) => (r as { lake_error: unknown }).lake_error !== null).length;
    assert.equal(errors, 5, 'the five unreadable records are rows with lake_error on both paths');
  });
});
