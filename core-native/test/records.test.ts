/**
 * transformRecordSets: both implementations get the same fetched record sets (built with an independent RecordBatch
 * encoder) and must return identical bytes; the produced records, decoded with kafkajs, must equal what the retired
 * kafkajs transformer's path (packBatch + normalizeBatch + toMessages + oversizeDlqRecord, test/kafkajs-reference.ts)
 * sends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress } from '@pep/kafka-wire/compression';
import fc from 'fast-check';
import type { KafkaMessage, Message } from 'kafkajs';
import {
  type CoreImpl,
  crc32c,
  type FetchedRecordSet,
  partitionForKey,
  type TransformedFetch,
  type TransformOptions,
} from '../src/index.ts';
import { CPU_BOUND, cases, impls, NORMALIZED_AT_MS, payload } from './helpers.ts';
import { oversizeDlqRecord, packBatch, toMessages } from './kafkajs-reference.ts';
import {
  decodeOutput,
  encodeBatch,
  encodeMarker,
  encodeRecord,
  headerStrings,
  type KafkajsRecord,
  type TestRecord,
} from './recordbatch.ts';

const { native, js } = await impls();
const RUNS = Number(process.env.DIFF_RUNS ?? 300);
const OPTS: TransformOptions = {
  normalizedAtMs: NORMALIZED_AT_MS,
  normalizedPartitions: 6,
  dlqPartitions: 3,
  maxRecordBytes: 1 << 20,
};
const RECEIVED = '2025-12-31T23:59:59.123Z';

const edgeHeaders = (i: number, provider: string): [string, string][] => [
  ['received-at', RECEIVED],
  ['request-id', `req-${i}`],
  ['provider', provider],
  ['content-type', 'application/json'],
];

const stripeIntent = (id: string, extra = '') =>
  payload('stripe_payment_intent_succeeded.json')
    .toString()
    .replace(/"id": "evt_[^"]*"/, `"id": "${id}"${extra}`);

const adyenTwoItems = (() => {
  const one = JSON.parse(payload('adyen_notification.json').toString());
  const item = one.notificationItems[0];
  const bad = structuredClone(item);
  bad.NotificationRequestItem.amount.currency = 'XXQ';
  bad.NotificationRequestItem.pspReference = 'PSPBAD0001';
  return JSON.stringify({ ...one, notificationItems: [item, bad] });
})();

/** Stable, comparable form of a result (bytes as base64). */
function shape(r: TransformedFetch) {
  const parts = (ps: TransformedFetch['normalized']) =>
    ps.map((p) => ({ ...p, records: Buffer.from(p.records).toString('base64') }));
  return {
    normalized: parts(r.normalized),
    dlq: parts(r.dlq),
    nextOffsets: Array.from(r.nextOffsets, String),
    consumed: Array.from(r.consumed),
    pendingBatchBytes: Array.from(r.pendingBatchBytes),
    receivedAtMs: Array.from(r.receivedAtMs, (x) => (Number.isNaN(x) ? 'NaN' : x)),
    counters: r.counters,
  };
}

/** Runs both implementations; asserts identical results; returns the twin's. */
function both(sets: FetchedRecordSet[], opts: TransformOptions = OPTS): TransformedFetch {
  const a = native.transformRecordSets(sets, opts);
  const b = js.transformRecordSets(sets, opts);
  assert.deepEqual(shape(a), shape(b));
  return b;
}

const set = (
  records: Buffer,
  o: Partial<FetchedRecordSet> & { topic?: string; provider?: number } = {},
): FetchedRecordSet => ({
  topic: 'webhooks.stripe.payment_intent',
  provider: 0,
  partition: 0,
  abortedTransactions: [],
  fetchOffset: 0n,
  ...o,
  records,
});

interface Decoded {
  topic: 'normalized' | 'dlq';
  partition: number;
  rec: KafkajsRecord;
}

async function decodeAll(r: TransformedFetch): Promise<Decoded[]> {
  const out: Decoded[] = [];
  for (const [topic, ps] of [
    ['normalized', r.normalized],
    ['dlq', r.dlq],
  ] as const) {
    for (const p of ps) {
      assert.equal(p.firstTimestampMs, NORMALIZED_AT_MS);
      const recs = await decodeOutput(p.records, p.count, p.firstTimestampMs);
      assert.equal(recs.length, p.count);
      for (const rec of recs) out.push({ topic, partition: p.partition, rec });
    }
  }
  return out;
}

/** What today's transformer sends for the same messages, keyed by topic + source offset + output ordinal. */
function todaysOutputs(
  core: CoreImpl,
  topic: string,
  providerCode: number,
  partition: number,
  msgs: KafkaMessage[],
  maxRecordBytes: number,
): Map<string, Message> {
  const raw = packBatch(topic, partition, providerCode, msgs);
  const out = core.normalizeBatch(raw, { normalizedAtMs: NORMALIZED_AT_MS });
  const total = new Uint32Array(msgs.length);
  for (const s of out.events.sourceIndex) total[s] = (total[s] as number) + 1;
  for (const s of out.dlq.sourceIndex) total[s] = (total[s] as number) + 1;
  const ordinal = { next: new Uint32Array(msgs.length), total };
  const source = { topic, partition, messages: msgs };
  const result = new Map<string, Message>();
  const size = (m: Message) => {
    let n = (m.value as Buffer).length + (m.key ? Buffer.byteLength(m.key as Buffer) : 0);
    for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + String(v).length;
    return n + 64;
  };
  const put = (t: string, m: Message) =>
    result.set(
      `${t}|${(m.headers as Record<string, string>)['source-offset']}|${(m.headers as Record<string, string>)['source-output']}`,
      m,
    );
  for (const m of toMessages(out.dlq, source, ordinal))
    put('dlq', size(m) > maxRecordBytes ? oversizeDlqRecord(m, 'validation DLQ record') : m);
  for (const m of toMessages(out.events, source, ordinal)) {
    if (size(m) <= maxRecordBytes) put('normalized', m);
    else put('dlq', oversizeDlqRecord(m, 'normalized event'));
  }
  return result;
}

/** Headers as kafkajs decodes them: a repeated name becomes an array (the transformer reads the first). */
function kafkajsHeaders(list: [string, string | Buffer | null][]) {
  const h: Record<string, Buffer | Buffer[]> = {};
  for (const [k, v] of list) {
    if (v === null) continue;
    const b = Buffer.from(v);
    const old = h[k];
    h[k] = old === undefined ? b : Array.isArray(old) ? [...old, b] : [old, b];
  }
  return h;
}

/** kafkajs's view of the records we encode (what its consumer would hand the transformer today). */
function asKafkaMessages(records: TestRecord[], baseOffset: number): KafkaMessage[] {
  return records.map((r, i) => ({
    offset: String(baseOffset + (r.offsetDelta ?? i)),
    timestamp: String(1_767_225_000_000 + (r.timestampDelta ?? 0)),
    key: r.key ? Buffer.from(r.key) : null,
    value: r.value === null ? null : Buffer.from(r.value),
    headers: kafkajsHeaders(r.headers ?? []),
    attributes: 0,
    size: 0,
  })) as unknown as KafkaMessage[];
}

/** Compares our decoded outputs with today's, ignoring quarantined_at of oversize replacements (now vs injected). */
function assertSameAsToday(decoded: Decoded[], today: Map<string, Message>) {
  assert.equal(decoded.length, today.size);
  for (const d of decoded) {
    const h = headerStrings(d.rec.headers);
    const want = today.get(`${d.topic}|${h['source-offset']}|${h['source-output']}`);
    assert.ok(want, `unexpected output ${d.topic} ${h['source-offset']} ${h['source-output']}`);
    assert.deepEqual(h, want.headers);
    assert.equal(d.rec.key?.toString() ?? null, want.key === null ? null : String(want.key));
    let value = String(d.rec.value);
    let wantValue = String(want.value);
    if (h['oversize-replaced']) {
      value = value.replace(/"quarantined_at":"[^"]*"/, '');
      wantValue = wantValue.replace(/"quarantined_at":"[^"]*"/, '');
    }
    assert.equal(value, wantValue);
    // Partitioned like the Java client (murmur2 of the key); keyless records by source partition.
    const parts = d.topic === 'normalized' ? OPTS.normalizedPartitions : OPTS.dlqPartitions;
    const p = d.rec.key ? partitionForKey(d.rec.key, parts) : Number(h['source-partition']) % parts;
    assert.equal(d.partition, p);
  }
}

test('crc32c: both implementations agree with the standard check value', () => {
  const check = Buffer.from('123456789');
  assert.equal(js.crc32c(check), 0xe3069283);
  assert.equal(native.crc32c(check), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  const big = Buffer.alloc(10_000, 7);
  assert.equal(native.crc32c(big), js.crc32c(big));
});

test('edge-shaped records: same bytes in both, and the same records as today’s transformer', async () => {
  const providers: [string, number, string, string][] = [
    ['webhooks.stripe.payment_intent', 0, 'stripe', stripeIntent('evt_a1')],
    ['webhooks.adyen.notification', 2, 'adyen', adyenTwoItems],
    ['webhooks.square.payment', 1, 'square', payload('square_payment_completed.json').toString()],
    ['webhooks.braintree.notification', 3, 'braintree', payload('braintree_check.form').toString()],
  ];
  for (const [topic, code, name, body] of providers) {
    const recs: TestRecord[] = [
      { key: 'k1', value: body, headers: edgeHeaders(1, name) },
      { key: 'k2', value: '{not json', headers: edgeHeaders(2, name) },
      // No received-at: the record timestamp is the receive time.
      { key: null, value: body, headers: [['request-id', 'x'.repeat(300)]], timestampDelta: 5 },
      { key: 'k4', value: body, headers: [...edgeHeaders(4, name), ['received-at', 'second value is ignored']] },
      { key: 'k5', value: null, headers: [] },
    ];
    const first = encodeBatch({ baseOffset: 40, records: recs.slice(0, 2) });
    const second = encodeBatch({ baseOffset: 42, records: recs.slice(2), gzip: true });
    const r = both([set(Buffer.concat([first, second]), { topic, provider: code, partition: 4, fetchOffset: 40n })]);
    assert.deepEqual(Array.from(r.nextOffsets), [45n]);
    assert.deepEqual(Array.from(r.consumed), [5]);
    assert.equal(r.counters.records, 5);
    assert.equal(r.receivedAtMs[0], Date.parse(RECEIVED));
    assert.equal(r.receivedAtMs[2], 1_767_225_000_005);
    const decoded = await decodeAll(r);
    assertSameAsToday(decoded, todaysOutputs(js, topic, code, 4, asKafkaMessages(recs, 40), OPTS.maxRecordBytes));
    assert.equal(r.counters.normalized + r.counters.dlq, decoded.length);
  }
});

test(
  'every conformance case through a fetch gives today’s records (both implementations, kafkajs decoding)',
  CPU_BOUND,
  async () => {
    const topics: Record<string, [string, number]> = {
      stripe: ['webhooks.stripe.payment_intent', 0],
      square: ['webhooks.square.payment', 1],
      adyen: ['webhooks.adyen.notification', 2],
      braintree: ['webhooks.braintree.notification', 3],
    };
    let checked = 0;
    for (const [provider, [topic, code]] of Object.entries(topics)) {
      const recs: TestRecord[] = cases
        .filter((c) => c.provider === provider)
        .map((c, i) => ({
          key: `k${i}`,
          value: c.inputBase64 !== undefined ? Buffer.from(c.inputBase64, 'base64') : Buffer.from(c.input ?? ''),
          headers: edgeHeaders(i, provider),
        }));
      const batches: Buffer[] = [];
      for (let i = 0; i < recs.length; i += 16) {
        batches.push(encodeBatch({ baseOffset: 100 + i, records: recs.slice(i, i + 16), gzip: (i / 16) % 2 === 1 }));
      }
      const r = both([set(Buffer.concat(batches), { topic, provider: code, partition: 1, fetchOffset: 100n })]);
      assert.equal(r.consumed[0], recs.length);
      const decoded = await decodeAll(r);
      assertSameAsToday(decoded, todaysOutputs(js, topic, code, 1, asKafkaMessages(recs, 100), OPTS.maxRecordBytes));
      checked += recs.length;
    }
    assert.ok(checked > 100, `only ${checked} cases checked`);
  },
);

test('read_committed: control batches skipped, aborted transactions dropped, committed ones kept', () => {
  const body = stripeIntent('evt_tx');
  const buf = Buffer.concat([
    encodeBatch({ baseOffset: 0, records: [{ value: body }, { value: body }], transactional: true, producerId: 7n }),
    encodeMarker(2, 7n, 'commit'),
    encodeBatch({ baseOffset: 3, records: [{ value: body }, { value: body }], transactional: true, producerId: 8n }),
    encodeMarker(5, 8n, 'abort'),
    // Producer 8 again after its abort marker: a new transaction, not aborted.
    encodeBatch({ baseOffset: 6, records: [{ value: body }], transactional: true, producerId: 8n }),
    encodeMarker(7, 8n, 'commit'),
  ]);
  const r = both([set(buf, { abortedTransactions: [{ producerId: 8n, firstOffset: 3n }] })]);
  assert.deepEqual(Array.from(r.nextOffsets), [8n]);
  assert.deepEqual(Array.from(r.consumed), [3]);
  assert.equal(r.counters.skippedAborted, 2);
  assert.equal(r.counters.skippedControl, 3);
  // read_uncommitted (no aborted list): the aborted records are delivered.
  const u = both([set(buf)]);
  assert.deepEqual(Array.from(u.consumed), [5]);
});

test('a truncated last batch stays for the next fetch and reports its size', () => {
  const a = encodeBatch({ baseOffset: 0, records: [{ value: stripeIntent('evt_t1') }] });
  const b = encodeBatch({ baseOffset: 1, records: [{ value: stripeIntent('evt_t2') }] });
  const r = both([set(Buffer.concat([a, b.subarray(0, b.length - 10)]))]);
  assert.deepEqual(Array.from(r.nextOffsets), [1n]);
  assert.deepEqual(Array.from(r.consumed), [1]);
  assert.deepEqual(Array.from(r.pendingBatchBytes), [b.length]);
  const tiny = both([set(b.subarray(0, 7), { fetchOffset: 1n })]);
  assert.deepEqual(Array.from(tiny.nextOffsets), [1n]);
  assert.equal(tiny.counters.dlq, 0);
});

test('a corrupt batch becomes one DLQ report naming its offsets, and the fetch moves past it', async () => {
  const good = (o: number, id: string) => encodeBatch({ baseOffset: o, records: [{ value: stripeIntent(id) }] });
  const bad = encodeBatch({
    baseOffset: 1,
    records: [{ value: stripeIntent('evt_c1') }, { value: stripeIntent('evt_c2') }],
    corruptCrc: true,
  });
  const unknownCodec = encodeBatch({ baseOffset: 3, records: [{ value: 'x' }], codec: 5 });
  const r = both([set(Buffer.concat([good(0, 'evt_c0'), bad, unknownCodec, good(4, 'evt_c4')]), { partition: 2 })]);
  assert.deepEqual(Array.from(r.nextOffsets), [5n]);
  assert.deepEqual(Array.from(r.consumed), [2]);
  assert.equal(r.counters.batchReports, 2);
  const reports = (await decodeAll(r)).filter((d) => d.topic === 'dlq');
  assert.equal(reports.length, 2);
  const [crc, codec] = reports.map((d) => JSON.parse(String(d.rec.value)));
  assert.equal(crc.failure_reason, 'CORRUPT_RECORD_BATCH');
  assert.equal(crc.kafka_offset, 1);
  assert.equal(crc.kafka_last_offset, 2);
  assert.equal(crc.kafka_partition, 2);
  assert.match(crc.validation_errors[0].message, /offsets 1\.\.2: CRC-32C mismatch/);
  assert.equal(codec.failure_reason, 'UNSUPPORTED_COMPRESSION');
  assert.match(codec.validation_errors[0].message, /compression codec unknown \(5\) is not supported/);
  assert.equal(headerStrings(reports[0]?.rec.headers ?? {})['source-last-offset'], '2');
});

test('gzip streams: several members and zero padding are read, garbage and damage are reported, as Node’s zlib', () => {
  const r = [encodeRecord({ value: stripeIntent('evt_g0') }, 0), encodeRecord({ value: stripeIntent('evt_g1') }, 1)];
  const whole = gzipSync(Buffer.concat(r));
  const damaged = Buffer.from(whole);
  damaged[damaged.length - 6] = (damaged[damaged.length - 6] as number) ^ 1; // the gzip trailer's CRC-32
  const variants: [string, Buffer, number][] = [
    ['two members', Buffer.concat([gzipSync(r[0] as Buffer), gzipSync(r[1] as Buffer)]), 2],
    ['zero padding', Buffer.concat([whole, Buffer.alloc(8)]), 2],
    ['zero then garbage', Buffer.concat([whole, Buffer.from([0, 1, 2, 3])]), 2],
    ['trailing garbage', Buffer.concat([whole, Buffer.from('garbage!')]), 0],
    ['truncated', whole.subarray(0, 20), 0],
    ['trailer CRC damaged', damaged, 0],
  ];
  for (const [name, section, consumed] of variants) {
    const batch = encodeBatch({
      baseOffset: 0,
      records: [{ value: 'a' }, { value: 'b' }],
      gzip: true,
      rawSection: section,
    });
    const out = both([set(batch)]);
    assert.equal(out.consumed[0], consumed, name);
    assert.equal(out.counters.batchReports, consumed === 0 ? 1 : 0, name);
    assert.equal(out.nextOffsets[0], 2n, name);
  }
});

/** Raw snappy by hand (no JS snappy encoder is a dependency): a literal, then a copy of it (copy-2 element). */
function snappyRaw(data: Buffer): Buffer {
  const lit = data.subarray(0, Math.min(60, data.length));
  const parts = [Buffer.from([0]), Buffer.from([(lit.length - 1) << 2]), lit];
  let at = lit.length;
  while (at < data.length) {
    const n = Math.min(60, data.length - at);
    parts.push(Buffer.from([(n - 1) << 2]), data.subarray(at, at + n));
    at += n;
  }
  // varint of the full length replaces the placeholder
  const len: number[] = [];
  for (let v = data.length; ; v >>>= 7) {
    if (v < 0x80) {
      len.push(v);
      break;
    }
    len.push((v & 0x7f) | 0x80);
  }
  parts[0] = Buffer.from(len);
  return Buffer.concat(parts);
}

test('snappy (raw and xerial), lz4 and zstd batches: both cores read them alike, and report damage alike', () => {
  const r = [0, 1, 2].map((i) => encodeRecord({ value: stripeIntent(`evt_z${i}`) }, i));
  const section = Buffer.concat(r);
  const xerial = (chunks: Buffer[]) =>
    Buffer.concat([
      Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]),
      ...chunks.flatMap((c) => {
        const z = snappyRaw(c);
        const n = Buffer.alloc(4);
        n.writeInt32BE(z.length);
        return [n, z];
      }),
    ]);
  const lz4 = compress('lz4', section);
  const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 1, 2, 3]);
  const zstd = compress('zstd', section);
  const cut = (b: Buffer, n: number) => b.subarray(0, b.length - n);
  const flip = (b: Buffer, at: number) => {
    const c = Buffer.from(b);
    c[at] = (c[at] as number) ^ 0x40;
    return c;
  };
  const variants: [string, number, Buffer, number][] = [
    ['snappy raw', 2, snappyRaw(section), 3],
    ['snappy xerial, two chunks', 2, xerial([section.subarray(0, 100), section.subarray(100)]), 3],
    ['snappy truncated', 2, cut(snappyRaw(section), 5), 0],
    ['lz4 frame', 3, lz4, 3],
    [
      'lz4 two frames',
      3,
      Buffer.concat([
        compress('lz4', section.subarray(0, r[0]?.length)),
        compress('lz4', section.subarray(r[0]?.length)),
      ]),
      3,
    ],
    ['lz4 header checksum damaged', 3, flip(lz4, 6), 0],
    ['lz4 truncated', 3, cut(lz4, 6), 0],
    ['zstd frame', 4, zstd, 3],
    ['zstd truncated', 4, cut(zstd, 4), 0],
    // Node's and Bun's zlib end the data at bytes after a frame that start no other frame; the Rust core does the same.
    ['zstd garbage after the frame', 4, Buffer.concat([zstd, Buffer.from('garbage!')]), 3],
    [
      'zstd two frames',
      4,
      Buffer.concat([compress('zstd', section.subarray(0, 50)), compress('zstd', section.subarray(50))]),
      3,
    ],
    ['zstd not a frame', 4, Buffer.from('garbage, no frame at all'), 0],
    ['zstd skippable frame, then a frame', 4, Buffer.concat([skippable, zstd]), 3],
    ['zstd skippable frame only', 4, skippable, 0],
    ['gzip via kafka-wire', 1, compress('gzip', section), 3],
  ];
  for (const [name, codec, rawSection, consumed] of variants) {
    const batch = encodeBatch({
      baseOffset: 0,
      records: [{ value: 'a' }, { value: 'b' }, { value: 'c' }],
      codec,
      rawSection,
    });
    const out = (() => {
      try {
        return both([set(batch)]);
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message.slice(0, 300)}`);
      }
    })();
    assert.equal(out.consumed[0], consumed, name);
    assert.equal(out.counters.batchReports, consumed === 0 ? 1 : 0, name);
    assert.equal(out.nextOffsets[0], 3n, name);
  }
});

test('records below the fetch offset are skipped; maxRecords stops mid-batch at a record boundary', () => {
  const recs = Array.from({ length: 5 }, (_, i) => ({ value: stripeIntent(`evt_b${i}`) }));
  const buf = encodeBatch({ baseOffset: 10, records: recs });
  const r = both([set(buf, { fetchOffset: 12n })]);
  assert.deepEqual(Array.from(r.consumed), [3]);
  assert.equal(r.counters.skippedBelowFetchOffset, 2);
  assert.deepEqual(Array.from(r.nextOffsets), [15n]);
  const limited = both([set(buf, { fetchOffset: 10n }), set(buf, { partition: 1, fetchOffset: 10n })], {
    ...OPTS,
    maxRecords: 2,
  });
  assert.deepEqual(Array.from(limited.consumed), [2, 0]);
  assert.deepEqual(Array.from(limited.nextOffsets), [12n, 10n]);
});

test('empty record sets and zero sets', () => {
  const r = both([set(Buffer.alloc(0), { fetchOffset: 99n })]);
  assert.deepEqual(Array.from(r.nextOffsets), [99n]);
  assert.equal(r.normalized.length + r.dlq.length, 0);
  const none = both([]);
  assert.equal(none.nextOffsets.length, 0);
});

test('an oversize output is replaced by the RECORD_TOO_LARGE DLQ record today’s transformer sends', async () => {
  const meta = `,"metadata":{"blob":"${'m'.repeat(5000)}"}`;
  const body = payload('stripe_payment_intent_succeeded.json')
    .toString()
    .replace(/"metadata": \{[^}]*\}/, meta.slice(1));
  assert.notEqual(body, payload('stripe_payment_intent_succeeded.json').toString());
  const recs: TestRecord[] = [{ key: 'k', value: body, headers: edgeHeaders(1, 'stripe') }];
  const opts = { ...OPTS, maxRecordBytes: 4096 };
  const r = both([set(encodeBatch({ baseOffset: 0, records: recs }))], opts);
  assert.equal(r.counters.oversizeReplaced, 1);
  assert.equal(r.normalized.length, 0);
  const decoded = await decodeAll(r);
  const today = todaysOutputs(js, 'webhooks.stripe.payment_intent', 0, 0, asKafkaMessages(recs, 0), 4096);
  assertSameAsToday(decoded, today);
  assert.equal(JSON.parse(String(decoded[0]?.rec.value)).quarantined_at, new Date(NORMALIZED_AT_MS).toISOString());
});

test('caller errors throw; limits are checked', () => {
  for (const core of [native, js]) {
    assert.throws(() => core.transformRecordSets([], { ...OPTS, normalizedPartitions: 0 }), RangeError);
    assert.throws(() => core.transformRecordSets([], { ...OPTS, maxRecordBytes: 100 }), RangeError);
    assert.throws(() => core.transformRecordSets([], { ...OPTS, normalizedAtMs: 1.5 }), RangeError);
    assert.throws(() => core.transformRecordSets([set(Buffer.alloc(0), { fetchOffset: -1n })], OPTS), RangeError);
    assert.throws(() => core.transformRecordSets([], { ...OPTS, maxRecords: 10_001 }), RangeError);
    assert.throws(() => core.transformRecordSets([set(Buffer.alloc(0), { topic: 'bad topic' })], OPTS), /topic/);
    const hugeProducer = [{ producerId: 1n << 63n, firstOffset: 0n }];
    assert.throws(
      () => core.transformRecordSets([set(Buffer.alloc(0), { abortedTransactions: hugeProducer })], OPTS),
      /int64/,
    );
  }
});

/** Every fetch either moves forward, reports, or is waiting for the rest of an incomplete batch. */
function assertProgress(r: TransformedFetch, buf: Uint8Array, fetchOffset: bigint) {
  const next = r.nextOffsets[0] as bigint;
  assert.ok(next >= fetchOffset);
  if (buf.length === 0) return;
  const moved = next > fetchOffset || r.counters.batchReports > 0;
  const waiting = (r.pendingBatchBytes[0] as number) > 0 || buf.length < 12;
  const onlyBelow = r.counters.skippedBelowFetchOffset > 0;
  assert.ok(moved || waiting || onlyBelow, `no progress on ${Buffer.from(buf).toString('hex').slice(0, 200)}`);
}

test('property: arbitrary bytes never throw and always advance or report', CPU_BOUND, () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: 1000n }), (bytes, fetchOffset) => {
      const r = both([set(Buffer.from(bytes), { fetchOffset })]);
      assertProgress(r, bytes, fetchOffset);
    }),
    { numRuns: RUNS },
  );
});

test(
  'property: valid batches with random byte flips or cuts never throw and always advance or report',
  CPU_BOUND,
  () => {
    const base = Buffer.concat([
      encodeBatch({ baseOffset: 0, records: [{ value: stripeIntent('evt_p0'), headers: edgeHeaders(0, 'stripe') }] }),
      encodeBatch({ baseOffset: 1, records: [{ value: adyenTwoItems }, { value: '{}' }], gzip: true }),
      encodeMarker(3, 5n, 'abort'),
    ]);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }),
        fc.nat({ max: base.length }),
        (flips, cut) => {
          const b = Buffer.from(base.subarray(0, Math.max(cut, 1)));
          for (const [at, x] of flips) if (at < b.length) b[at] = (b[at] as number) ^ x;
          const r = both([set(b, { abortedTransactions: [{ producerId: 5n, firstOffset: 0n }] })]);
          assertProgress(r, b, 0n);
        },
      ),
      { numRuns: RUNS },
    );
  },
);

test(
  'property: random well-formed fetches (several partitions, gzip, transactions, limits) give identical bytes',
  CPU_BOUND,
  () => {
    const bodies = [
      stripeIntent('evt_r1'),
      adyenTwoItems,
      payload('square_refund_created.json').toString(),
      payload('braintree_transaction_settled.form').toString(),
      '{"broken":',
      '',
      stripeIntent('evt_big', `,"padding":"${'p'.repeat(6000)}"`),
    ];
    const headerArb = fc.array(
      fc.tuple(
        fc.constantFrom('received-at', 'request-id', 'provider', 'content-type', 'x'),
        fc.option(fc.constantFrom(RECEIVED, 'not a date', 'stripe', 'é'.repeat(140), ''), { nil: null }),
      ),
      { maxLength: 5 },
    );
    const recordArb = fc.record({
      value: fc.option(fc.constantFrom(...bodies), { nil: null }),
      key: fc.option(fc.constantFrom('k1', 'k2'), { nil: null }),
      headers: headerArb,
      timestampDelta: fc.integer({ min: -5, max: 5 }),
    });
    const batchArb = fc.record({
      records: fc.array(recordArb, { minLength: 0, maxLength: 4 }),
      gzip: fc.boolean(),
      transactional: fc.boolean(),
      producerId: fc.constantFrom(-1n, 3n, 4n),
      marker: fc.constantFrom(undefined, 'abort' as const, 'commit' as const),
    });
    const setArb = fc.record({
      batches: fc.array(batchArb, { maxLength: 4 }),
      provider: fc.integer({ min: 0, max: 4 }),
      skip: fc.nat({ max: 3 }),
      aborted: fc.array(
        fc.record({ producerId: fc.constantFrom(3n, 4n), firstOffset: fc.bigInt({ min: 0n, max: 12n }) }),
        {
          maxLength: 2,
        },
      ),
    });
    fc.assert(
      fc.property(
        fc.array(setArb, { maxLength: 3 }),
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(4096, 1 << 20),
        (specs, maxRecords, maxRecordBytes) => {
          const sets = specs.map((spec, p) => {
            let offset = 0;
            const parts: Buffer[] = [];
            for (const b of spec.batches) {
              const recs = b.records.map((r) => ({ ...r, headers: r.headers as [string, string | null][] }));
              if (recs.length > 0) {
                parts.push(
                  encodeBatch({
                    baseOffset: offset,
                    records: recs,
                    gzip: b.gzip,
                    transactional: b.transactional && b.producerId >= 0n,
                    producerId: b.producerId,
                  }),
                );
                offset += recs.length;
              }
              if (b.marker && b.producerId >= 0n) parts.push(encodeMarker(offset++, b.producerId, b.marker));
            }
            return set(Buffer.concat(parts), {
              partition: p,
              provider: spec.provider,
              topic: `webhooks.t${p}`,
              fetchOffset: BigInt(Math.min(spec.skip, offset)),
              abortedTransactions: spec.aborted,
            });
          });
          both(sets, { ...OPTS, maxRecords, maxRecordBytes });
        },
      ),
      { numRuns: RUNS },
    );
  },
);
