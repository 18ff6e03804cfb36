import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { tableFromIPC } from 'apache-arrow';
import { ColumnError, TableBatchBuilder } from './arrow.ts';
import { paymentEventRow, webhookEventRow } from './rows.ts';

const rec = (over: Partial<Parameters<typeof webhookEventRow>[0]> = {}) => ({
  topic: 'webhooks.stripe.charge',
  partition: 1,
  offset: 41n,
  timestampMs: 1_764_000_000_123,
  key: Buffer.from('ch_1'),
  value: Buffer.from('{"id":"evt_1"}'),
  headers: { 'received-at': '2026-11-26T13:31:47.123Z', 'request-id': 'r1', provider: 'stripe' },
  ...over,
});

describe('TableBatchBuilder', () => {
  it('builds an Arrow IPC stream with the contract columns, values, nulls and UTC microsecond timestamps', () => {
    const b = new TableBatchBuilder(LAKE_TABLES.webhook_events);
    b.append(webhookEventRow(rec()));
    b.append(webhookEventRow(rec({ offset: 42n, key: null, headers: {} })));
    assert.equal(b.rows, 2);
    assert.ok(b.bytes() > 0);
    const t = tableFromIPC(b.finishIpc());
    assert.equal(t.numRows, 2);
    assert.deepEqual(
      t.schema.fields.map((f) => f.name),
      LAKE_TABLES.webhook_events.columns.map((c) => c.name),
    );
    const row0 = t.get(0)?.toJSON() as Record<string, unknown>;
    assert.equal(row0.kafka_offset, 41n);
    assert.equal(row0.record_key, 'ch_1');
    assert.equal(row0.provider, 'stripe');
    assert.equal(Buffer.from(row0.body as Uint8Array).toString(), '{"id":"evt_1"}');
    assert.equal(row0.is_dlq, false);
    assert.equal(t.getChild('received_at')?.type.toString(), 'Timestamp<MICROSECOND, UTC>');
    assert.equal(Number(t.getChild('received_at')?.get(0)), Date.parse('2026-11-26T13:31:47.123Z'));
    const row1 = t.get(1)?.toJSON() as Record<string, unknown>;
    assert.equal(row1.record_key, null);
    assert.equal(Number(t.getChild('received_at')?.get(1)), 1_764_000_000_123);
    assert.equal(b.rows, 0, 'finish resets the builder');
  });

  it('refuses a row with a null in a required column or a wrong type and keeps the rows before it intact', () => {
    const b = new TableBatchBuilder(LAKE_TABLES.payment_events);
    const good = paymentEventRow({
      ...rec({ topic: 'payments.normalized' }),
      value: Buffer.from(
        JSON.stringify({
          event_id: 'stripe:evt_1',
          provider: 'stripe',
          amount_minor: 1250,
          received_at: '2026-11-26T13:31:47.123Z',
        }),
      ),
    });
    b.append(good);
    assert.throws(() => b.append({ ...good, kafka_offset: null }), ColumnError);
    assert.throws(() => b.append({ ...good, amount_minor: 'twelve' }), /expected an integer/);
    assert.throws(() => b.append({ ...good, kafka_partition: 2 ** 40 }), /32-bit/);
    b.append({ ...good, kafka_offset: 42n });
    const t = tableFromIPC(b.finishIpc());
    assert.equal(t.numRows, 2);
    assert.deepEqual([...(t.getChild('kafka_offset') ?? [])].map(Number), [41, 42]);
    assert.deepEqual([...(t.getChild('amount_minor') ?? [])].map(Number), [1250, 1250]);
  });

  it('stores 64-bit integers and timestamps exactly (negative, above 2^32, beyond 2^53 as bigint) and any text as UTF-8', () => {
    const b = new TableBatchBuilder(LAKE_TABLES.payment_events);
    const base = paymentEventRow({
      ...rec({ topic: 'payments.normalized' }),
      value: Buffer.from(JSON.stringify({ event_id: 'e', received_at: '2026-11-26T13:31:47.123Z' })),
    });
    const longs = [-1, 2 ** 40 + 7, -(2 ** 32) - 5, 2 ** 53 - 1, 9_007_199_254_740_993n, -9_223_372_036_854_775_808n];
    const texts = ['plain', 'é at the start', 'ascii then ünïcödé 😀', 'x'.repeat(70), `${'y'.repeat(80)}ß`, ''];
    longs.forEach((amount, i) => {
      b.append({
        ...base,
        amount_minor: amount,
        // Unix ms with a microsecond fraction; the last one is before 1970.
        provider_created_at: i === 5 ? -1.5 : 1_764_000_000_123.456 + i,
        merchant_id: texts[i],
      });
    });
    const t = tableFromIPC(b.finishIpc());
    const raw = (name: string) => {
      const values = t.getChild(name)?.data[0]?.values as BigInt64Array | undefined;
      assert.ok(values, name);
      return [...values];
    };
    assert.deepEqual(
      raw('amount_minor'),
      longs.map((v) => BigInt(v)),
    );
    assert.deepEqual(raw('provider_created_at'), [
      1_764_000_000_123_456n,
      1_764_000_000_124_456n,
      1_764_000_000_125_456n,
      1_764_000_000_126_456n,
      1_764_000_000_127_456n,
      -1500n,
    ]);
    assert.deepEqual([...(t.getChild('merchant_id') ?? [])], texts);
  });
});
