/**
 * The raw-bytes path (raw-rows.ts, the lake addon's rawrows.rs) against the TypeScript reference (rows.ts +
 * arrow.ts): the same records both ways, every column of every row compared, and how many records the Rust side left
 * to the TypeScript path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { tableFromIPC } from 'apache-arrow';
import { TableBatchBuilder } from './arrow.ts';
import { RawBatch, RawRowsBuilder, rawRowsUnavailable } from './raw-rows.ts';
import { type KafkaRecord, paymentEventRow } from './rows.ts';

const table = LAKE_TABLES.payment_events;
const TOPIC = 'payments.normalized';
const PARTITION = 3;

interface In {
  value: Uint8Array | null;
  headers: Record<string, string | Uint8Array | undefined>;
  offset: number;
  timestampMs: number;
}

const hText = (v: string | Uint8Array | undefined) =>
  v === undefined ? undefined : typeof v === 'string' ? v : Buffer.from(v).toString('utf8');

function kafkaRecord(r: In): KafkaRecord {
  const headers: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined) headers[k] = hText(v);
  return {
    topic: TOPIC,
    partition: PARTITION,
    offset: BigInt(r.offset),
    timestampMs: r.timestampMs,
    key: null,
    value: r.value,
    headers,
  };
}

/** Rows as plain values, column by column (bigints as strings). */
function rowsOf(ipc: Uint8Array): unknown[][] {
  const t = tableFromIPC(ipc);
  const cols = table.columns.map((c) => t.getChild(c.name));
  const out: unknown[][] = [];
  for (let i = 0; i < t.numRows; i++) {
    out.push(
      cols.map((c) => {
        const v = c?.get(i);
        return typeof v === 'bigint' ? v.toString() : v;
      }),
    );
  }
  return out;
}

async function both(records: In[]): Promise<{ ts: unknown[][]; rust: unknown[][]; fallbacks: number }> {
  const ref = new TableBatchBuilder(table);
  for (const r of records) ref.append(paymentEventRow(kafkaRecord(r)));
  const raw = RawRowsBuilder.create(table);
  assert.ok(raw, `the raw path is unavailable: ${rawRowsUnavailable}`);
  const batch = new RawBatch();
  for (const r of records) {
    const h = r.headers;
    batch.add(
      r.value,
      h['source-topic'],
      h['source-partition'],
      h['source-offset'],
      h['received-at'],
      r.offset,
      r.timestampMs,
    );
  }
  const fallback = raw.append(TOPIC, PARTITION, batch, (i) => kafkaRecord(records[i] as In));
  assert.equal(raw.rows, records.length);
  // The sink's path: the IPC stream written off the JS thread (finishIpc, the synchronous one, is the same stream).
  const ipc = await raw.finishIpcAsync();
  assert.equal(raw.rows, 0, 'the builder is empty once the rows are taken');
  return { ts: rowsOf(ref.finishIpc()), rust: rowsOf(ipc), fallbacks: fallback.length };
}

async function assertSame(records: In[]): Promise<number> {
  const { ts, rust, fallbacks } = await both(records);
  assert.equal(rust.length, ts.length);
  for (let i = 0; i < ts.length; i++) {
    for (let c = 0; c < table.columns.length; c++) {
      assert.deepEqual(
        rust[i]?.[c],
        ts[i]?.[c],
        `record ${i} (${String(records[i]?.value && Buffer.from(records[i]?.value as Uint8Array))}), column ${table.columns[c]?.name}`,
      );
    }
  }
  return fallbacks;
}

const headers = { 'source-topic': 'webhooks.stripe.charge', 'source-partition': '2', 'source-offset': '99' };
const event = (extra: Record<string, unknown> = {}) => ({
  event_id: 'stripe:evt_1',
  provider: 'stripe',
  provider_event_id: 'evt_1',
  object_id: 'ch_1',
  event_type: 'payment.succeeded',
  provider_event_type: 'charge.succeeded',
  merchant_id: 'm_1',
  customer_id: 'c_1',
  amount_minor: 1999,
  currency: 'USD',
  payment_method_type: 'card',
  card_brand: 'visa',
  card_last_four: '4242',
  status: 'succeeded',
  failure_code: null,
  failure_message: null,
  metadata: { order: 'o_1', '2': 'two', '1': 1.5 },
  provider_created_at: '2026-12-06T10:00:00Z',
  received_at: '2026-12-06T10:00:01.234Z',
  normalized_at: '2026-12-06T10:00:01.240Z',
  schema_version: 1,
  ...extra,
});
const rec = (value: string | Uint8Array | null, i: number, h: In['headers'] = headers): In => ({
  value: typeof value === 'string' ? Buffer.from(value) : value,
  headers: h,
  offset: 1000 + i,
  timestampMs: 1_765_000_000_000 + i,
});
const json = (v: unknown) => JSON.stringify(v);

describe('raw-bytes rows (Rust) against rows.ts + arrow.ts', { skip: !RawRowsBuilder.create(table) }, () => {
  it('builds well-formed events entirely in Rust, identical to the TypeScript rows', async () => {
    const records = Array.from({ length: 50 }, (_, i) =>
      rec(json(event({ event_id: `stripe:evt_${i}`, amount_minor: i * 7, customer_id: `c_${i % 3}` })), i),
    );
    assert.equal(await assertSame(records), 0, 'no record needed the TypeScript path');
  });

  it('dates: the forms Date.parse accepts beyond strict ISO go to the TypeScript path, with the same values', async () => {
    const dates = [
      '2026-12-06T10:00:00Z',
      '2026-12-06T10:00:00.1Z',
      '2026-12-06T10:00:00.123456789Z',
      '2026-12-06T10:00:00.1234567891Z',
      '2026-12-06T10:00Z',
      '2026-12-06',
      '2026-12-06T10:00:00+05:30',
      '2026-12-06T10:00:00-23:59',
      '2026-12-06T10:00:00',
      '2026-12-06 10:00:00Z',
      '2026-12-06t10:00:00z',
      '2023-02-29T00:00:00Z',
      '2024-02-29T00:00:00Z',
      '2026-12-06T24:00:00Z',
      '2026-12-06T10:00:60Z',
      '2026-13-01',
      '0000-01-01T00:00:00Z',
      '+002026-12-06T10:00:00Z',
      'Sun Dec 06 2026 10:00:00 GMT+0000',
      'December 6, 2026',
      '1765000000000',
      'nonsense',
      '',
      'x'.repeat(65),
      `2026-12-06T10:00:00Z${' '.repeat(60)}`,
    ];
    const values: unknown[] = [...dates, 5, null, true, {}];
    const records = values.flatMap((d, i) => [
      rec(json(event({ provider_created_at: d, normalized_at: d, received_at: d })), 3 * i),
      rec(json(event({ received_at: undefined })), 3 * i + 1, { ...headers, 'received-at': String(d) }),
      rec(json(event({ received_at: d })), 3 * i + 2, { ...headers, 'received-at': '2026-01-01T00:00:00Z' }),
    ]);
    const fallbacks = await assertSame(records);
    assert.ok(fallbacks > 0 && fallbacks < records.length, `${fallbacks} of ${records.length} on the TypeScript path`);
  });

  it('metadata: integer-like keys first, duplicate keys, JavaScript number formatting, escapes, nesting', async () => {
    const metas = [
      '{"b":1,"10":1,"2":2,"a":{"9":0,"x":[1.0,-0,1e21,1e-7,0.000001,123456789012345678,1.7976931348623157e308]}}',
      '{"a":1,"a":2,"b":3,"a":4}',
      '{"01":1,"4294967295":2,"4294967294":3,"-1":4,"1.0":5}',
      '[1e400,-1e400,5e-324,0.1,100,1E2,-0.0,2.5e-7,123e-20]',
      '{"s":"\\u0001\\u001f\\"\\\\\\/\\b\\f\\n\\r\\t\\u2028\\u00e9 é \\ud83d\\ude00","__proto__":{"x":1}}',
      '"just a string"',
      '12.50',
      'true',
      'null',
      '{}',
      '[]',
      `${'['.repeat(70)}${']'.repeat(70)}`,
      '{"lone":"\\ud800"}',
      '{"lone":"\\udc00x"}',
      '{"pair_reversed":"\\ude00\\ud83d"}',
    ];
    const records = metas.map((m, i) =>
      rec(`{"event_id":"e${i}","metadata":${m},"amount_minor":1,"received_at":"2026-12-06T10:00:00Z"}`, i),
    );
    records.push(rec('{"event_id":"no-metadata"}', metas.length));
    const fallbacks = await assertSame(records);
    assert.equal(fallbacks, 4, 'the three lone-surrogate records and the 70-deep one took the TypeScript path');
  });

  it('lone surrogates in any string, and unusual but valid JSON', async () => {
    const values = [
      '{"event_id":"e\\ud800"}',
      '{"event_id":"e","provider":"\\udfff"}',
      '{"event_id":"e","merchant_id":"a\\ud83d\\ude00b"}',
      ' \t\r\n{"event_id" : "e" , "event_id":"e2"}\n ',
      '\ufeff{"event_id":"bom"}',
      '{"event_id":"e","provider":"\\u0000"}',
      '{"event_id":"é","provider":"日本","customer_id":"𝄞"}',
    ];
    await assertSame(values.map((v, i) => rec(v, i)));
  });

  it('numbers: amount_minor and schema_version edge values', async () => {
    const nums = [
      '0',
      '-0',
      '1.0',
      '1e2',
      '1.5',
      '9007199254740991',
      '9007199254740992',
      '-9007199254740991',
      '-9007199254740992',
      '1e400',
      '2147483647',
      '2147483648',
      '-2147483648',
      '-2147483649',
      '"12"',
      'null',
      'true',
      '[1]',
      '123456789012345678901234567890',
      '0.1e1',
    ];
    await assertSame(nums.map((n, i) => rec(`{"event_id":"e","amount_minor":${n},"schema_version":${n}}`, i)));
  });

  it('timestamps and offsets at the edges: far-future dates, extreme Kafka timestamps, offsets near 2^53', async () => {
    const dates = [
      '9999-12-31T23:59:59.999Z',
      '4253-01-01T00:00:00.001Z',
      '5000-06-15T12:34:56.789+13:45',
      '0000-01-01',
    ];
    const records: In[] = dates.map((d, i) => rec(json(event({ provider_created_at: d, received_at: d })), i));
    const edge = [
      { offset: 2 ** 53 - 1, timestampMs: 2 ** 53 - 1 },
      { offset: 2 ** 53, timestampMs: 0 },
      { offset: 5, timestampMs: -1 },
      { offset: 6, timestampMs: 8.64e15 },
      { offset: 7, timestampMs: -8.64e15 },
      { offset: 8, timestampMs: 9_999_999_999_999 },
    ];
    for (const e of edge) records.push({ ...rec(json(event({ received_at: undefined })), 0, {}), ...e });
    await assertSame(records);
  });

  it('bad bytes, missing values and odd headers become the same rows (lake_error) or the same values', async () => {
    const records: In[] = [
      rec(null, 0),
      rec(new Uint8Array([0xff, 0xfe, 0x00]), 1),
      rec('', 2),
      rec('not json', 3),
      rec('{"event_id":1}', 4),
      rec('[{"event_id":"e"}]', 5),
      rec('{"event_id":"e",}', 6),
      rec('{"event_id":"e"} x', 7),
      rec('{"event_id":"e"', 8),
      rec(new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), 9),
      rec('{"event_id":"e"}', 10, {
        'source-topic': new Uint8Array([0xff, 0x41]),
        'source-partition': '0123456789',
        'source-offset': '1234567890123456789',
      }),
      rec('{"event_id":"e"}', 11, { 'source-partition': '123456789', 'source-offset': '123456789012345678' }),
      rec('{"event_id":"e"}', 12, { 'source-partition': ' 1', 'source-offset': '-1', 'source-topic': '' }),
      rec('{"event_id":"e"}', 13, { 'source-topic': '\ufeffbom' }),
      rec('{"event_id":"e"}', 14, {}),
    ];
    await assertSame(records);
  });

  it('takes the next rows while the previous ones are being written off the thread', async () => {
    const raw = RawRowsBuilder.create(table) as RawRowsBuilder;
    const batchOf = (from: number) => {
      const b = new RawBatch();
      for (let i = from; i < from + 10; i++)
        b.add(Buffer.from(json(event())), undefined, undefined, undefined, undefined, i, 1);
      return b;
    };
    const fail = () => assert.fail('no record needs the TypeScript path');
    raw.append(TOPIC, PARTITION, batchOf(0), fail);
    const first = raw.finishIpcAsync();
    raw.append(TOPIC, PARTITION, batchOf(10), fail);
    const second = raw.finishIpcAsync();
    const offsets = async (p: Promise<Uint8Array>) =>
      [
        ...(tableFromIPC(await p)
          .getChild('kafka_offset')
          ?.toArray() ?? []),
      ].map(Number);
    assert.deepEqual(await offsets(first), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(await offsets(second), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
  });

  it('counts the Arrow bytes it holds as the TypeScript builder does, not the Kafka values they came from', () => {
    // The sink's chunk, commit and backpressure thresholds read bytes(): a large value with few stored fields (a
    // provider payload the row does not keep) must count as its row, or a 64 MiB commit would hold 2 MiB of rows.
    const padding = 'x'.repeat(20_000);
    const records = Array.from({ length: 200 }, (_, i) => rec(json(event({ ignored_payload: padding })), i));
    const ref = new TableBatchBuilder(table);
    for (const r of records) ref.append(paymentEventRow(kafkaRecord(r)));
    const raw = RawRowsBuilder.create(table) as RawRowsBuilder;
    const batch = new RawBatch();
    for (const r of records)
      batch.add(
        r.value,
        r.headers['source-topic'],
        r.headers['source-partition'],
        r.headers['source-offset'],
        r.headers['received-at'],
        r.offset,
        r.timestampMs,
      );
    raw.append(TOPIC, PARTITION, batch, () => assert.fail('no record needs the TypeScript path'));
    const values = records.reduce((n, r) => n + (r.value?.byteLength ?? 0), 0);
    const [ts, rust] = [ref.bytes(), raw.bytes()];
    assert.ok(rust < values / 20, `raw bytes ${rust} against ${values} bytes of values`);
    assert.ok(rust > ts / 2 && rust < ts * 2, `raw bytes ${rust} against the TypeScript builder's ${ts}`);
    // A row left to the TypeScript path counts too, and taking the rows empties the count.
    const before = raw.bytes();
    raw.append(
      TOPIC,
      PARTITION,
      (() => {
        const b = new RawBatch();
        b.add(Buffer.from('not json'), undefined, undefined, undefined, undefined, 9_999, 1);
        return b;
      })(),
      (i) => kafkaRecord(rec(Buffer.from('not json'), i)),
    );
    assert.ok(raw.bytes() > before, 'the fallback row is counted');
    raw.finishIpc();
    assert.equal(raw.bytes(), 0);
  });

  it('random events: metadata of random shape and numbers, random dates, agree with the TypeScript rows', async () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)] as T;
    const number = () =>
      pick([
        () => Math.floor(rnd() * 1e6),
        () => (rnd() - 0.5) * 10 ** Math.floor(rnd() * 60 - 30),
        () => Math.floor((rnd() - 0.5) * 2 ** 62),
        () => rnd() * 1e21,
        () => 1 / (rnd() * 1e7 + 1),
      ])();
    const value = (depth: number): unknown => {
      const k = Math.floor(rnd() * (depth > 3 ? 4 : 6));
      if (k === 0) return number();
      if (k === 1) return pick(['a', 'é', '"q"', '\n', '\u0007', '日本', '', 'x\\y', '😀']);
      if (k === 2) return pick([true, false, null]);
      if (k === 3) return `${number()}`;
      if (k === 4) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(rnd() * 5); i > 0; i--)
        o[pick(['a', 'b', '0', '7', '42', '007', '-1', 'z'])] = value(depth + 1);
      return o;
    };
    const date = () => {
      const ms = Math.floor(rnd() * 4e12);
      const iso = new Date(ms).toISOString();
      return pick([iso, iso.slice(0, 10), iso.replace('Z', '+01:00'), iso.slice(0, 19), new Date(ms).toString()]);
    };
    // Number literals written as JavaScript would not (exponents, trailing zeros) reach the writer too.
    const literal = () => pick(['1.50', '1e3', '-0.0', '12345678901234567890', '1E-7', '0.1e-5']);
    const records = Array.from({ length: 400 }, (_, i) => {
      const ev = event({
        event_id: `e${i}`,
        amount_minor: number(),
        schema_version: pick([1, 2, 2 ** 31, -1, 1.5]),
        metadata: value(0),
        provider_created_at: date(),
        normalized_at: date(),
        received_at: pick([date(), undefined]),
      });
      const text = json(ev)
        .replace('"metadata":', `"metadata":{"lit":${literal()},"m":`)
        .replace(/,"provider_created_at"/, '},"provider_created_at"');
      return rec(text, i, { ...headers, 'received-at': date() });
    });
    await assertSame(records);
  });
});
