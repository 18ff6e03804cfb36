/**
 * Measurement kernel for transformRecordSets (part of the `core` bench target): events per CPU-second of one fetch's
 * work on ~1 KiB edge-shaped records (raw Fetch record bytes in, encoded output records out), for the native call,
 * the TypeScript twin, and today's transformer path (kafkajs's RecordBatch decoder + the retired kafkajs transformer's packBatch + native
 * normalizeBatch + toMessages + the oversize checks; optionally plus kafkajs's Record encoding of the outputs, which
 * today happens inside kafkajs's producer). Single-threaded, so events/s is per core.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type CoreImpl, type FetchedRecordSet, loadCore, type TransformOptions } from '@pep/core-native';
import { messageBytes, packBatch, toMessages } from '@pep/core-native/testing/kafkajs-reference';
import { encodeBatch, type TestRecord } from '@pep/core-native/testing/recordbatch';
import type { KafkaMessage, Message } from 'kafkajs';

const require = createRequire(import.meta.url);
const KafkajsDecoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => { canReadInt64(): boolean };
const decodeKafkajsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  d: unknown,
) => Promise<{ records: KafkaMessage[] }>;
const KafkajsRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (r: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
}) => { buffer: Buffer };

const NORMALIZED_AT_MS = 1_767_225_600_000;
const TOPIC = 'webhooks.stripe.payment_intent';
const SETS_PER_FETCH = 4;
const BATCHES_PER_SET = 4;
const RECORDS_PER_BATCH = 64;
const PER_FETCH = SETS_PER_FETCH * BATCHES_PER_SET * RECORDS_PER_BATCH;
const OPTS: TransformOptions = {
  normalizedAtMs: NORMALIZED_AT_MS,
  normalizedPartitions: 6,
  dlqPartitions: 3,
  maxRecordBytes: 1_000_000,
};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** A Stripe payment_intent.succeeded event trimmed to ~1 KiB, as the edge writes it (body + headers). */
function edgeRecord(i: number, base: Record<string, unknown>): TestRecord {
  const e = structuredClone(base) as { id: string; data: { object: Record<string, unknown> } };
  const o = e.data.object;
  for (const k of [
    'payment_method_options',
    'payment_method_configuration_details',
    'client_secret',
    'automatic_payment_methods',
    'amount_details',
    'application',
    'application_fee_amount',
    'canceled_at',
    'cancellation_reason',
    'invoice',
    'next_action',
    'on_behalf_of',
    'processing',
    'review',
    'setup_future_usage',
    'source',
    'statement_descriptor',
    'statement_descriptor_suffix',
    'transfer_data',
    'transfer_group',
  ]) {
    delete o[k];
  }
  e.id = `evt_bench${i.toString(36)}x`;
  o.id = `pi_bench${i.toString(36)}`;
  o.amount = 100 + ((i * 7919) % 100_000);
  o.customer = `cus_c${i % 500}`;
  return {
    key: o.id as string,
    value: JSON.stringify(e),
    timestampDelta: 0,
    headers: [
      ['received-at', new Date(NORMALIZED_AT_MS - 1000 + (i % 1000)).toISOString()],
      ['request-id', `req_${i.toString(36).padStart(12, '0')}`],
      ['provider', 'stripe'],
      ['content-type', 'application/json'],
    ],
  };
}

/** Fetches of SETS_PER_FETCH partitions, each BATCHES_PER_SET uncompressed batches, as the edge produces them. */
function fetches(total: number): { sets: FetchedRecordSet[]; valueBytes: number }[] {
  const file = fileURLToPath(
    import.meta.resolve('@pep/core-native/fixtures/payloads/stripe_payment_intent_succeeded.json'),
  );
  const base = JSON.parse(readFileSync(file, 'utf8'));
  const out: { sets: FetchedRecordSet[]; valueBytes: number }[] = [];
  let i = 0;
  for (let f = 0; f < total / PER_FETCH; f++) {
    const sets: FetchedRecordSet[] = [];
    let valueBytes = 0;
    for (let p = 0; p < SETS_PER_FETCH; p++) {
      const batches: Buffer[] = [];
      const first = f * BATCHES_PER_SET * RECORDS_PER_BATCH;
      for (let b = 0; b < BATCHES_PER_SET; b++) {
        const recs = Array.from({ length: RECORDS_PER_BATCH }, () => edgeRecord(i++, base));
        for (const r of recs) valueBytes += Buffer.byteLength(r.value as string);
        batches.push(
          encodeBatch({ baseOffset: first + b * RECORDS_PER_BATCH, records: recs, producerId: 1000n + BigInt(p) }),
        );
      }
      sets.push({
        topic: TOPIC,
        provider: 0,
        partition: p,
        records: Buffer.concat(batches),
        abortedTransactions: [],
        fetchOffset: BigInt(first),
      });
    }
    out.push({ sets, valueBytes });
  }
  return out;
}

/** Today's transformer path for one fetch; returns the number of output records. */
async function todaysPath(core: CoreImpl, sets: readonly FetchedRecordSet[], encode: boolean): Promise<number> {
  let outputs = 0;
  for (const s of sets) {
    // kafkajs's consumer decodes the fetch response batch by batch with the same decoder.
    const messages: KafkaMessage[] = [];
    const d = new KafkajsDecoder(Buffer.from(s.records.buffer, s.records.byteOffset, s.records.length));
    while (d.canReadInt64()) {
      const batch = await decodeKafkajsBatch(d);
      for (const m of batch.records) messages.push(m);
    }
    const raw = packBatch(s.topic, s.partition, s.provider, messages);
    const out = core.normalizeBatch(raw, { normalizedAtMs: NORMALIZED_AT_MS });
    const total = new Uint32Array(messages.length);
    for (const x of out.events.sourceIndex) total[x] = (total[x] as number) + 1;
    for (const x of out.dlq.sourceIndex) total[x] = (total[x] as number) + 1;
    const ordinal = { next: new Uint32Array(messages.length), total };
    const source = { topic: s.topic, partition: s.partition, messages };
    const dlq = toMessages(out.dlq, source, ordinal);
    const events: Message[] = [];
    for (const m of toMessages(out.events, source, ordinal)) {
      if (messageBytes(m) <= OPTS.maxRecordBytes) events.push(m);
    }
    for (const m of dlq) messageBytes(m);
    if (encode) {
      events.forEach((m, i) => {
        KafkajsRecord({
          offsetDelta: i,
          timestampDelta: 0,
          key: m.key as Buffer,
          value: m.value as Buffer,
          headers: m.headers as Record<string, string>,
        });
      });
    }
    outputs += events.length + dlq.length;
  }
  return outputs;
}

const cpuSeconds = (t0: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
};

export interface TransformMeasured {
  avgValueBytes: number;
  eventsPerS: Record<string, number>;
  /** Median over runs of native ÷ other, measured back to back. */
  pairedRatios: Record<string, number>;
  nativeUsPerEvent: number;
}

export async function measureTransform(opts: { quick: boolean }): Promise<TransformMeasured> {
  const native = await loadCore({ impl: 'native' });
  const js = await loadCore({ impl: 'js' });
  const total = opts.quick ? 2 * PER_FETCH : 16 * PER_FETCH;
  const runs = opts.quick ? 3 : 7;
  const work = fetches(total);
  const avgValueBytes = work.reduce((n, w) => n + w.valueBytes, 0) / total;
  // Same outputs from both (a benchmark of a wrong answer is worthless).
  for (const w of work.slice(0, 1)) {
    const a = native.transformRecordSets(w.sets, OPTS);
    const b = js.transformRecordSets(w.sets, OPTS);
    if (
      a.counters.normalized !== PER_FETCH ||
      Buffer.compare(a.normalized[0]?.records ?? Buffer.alloc(0), b.normalized[0]?.records ?? Buffer.alloc(1)) !== 0
    )
      throw new Error('transform bench: native and twin outputs differ or events were not all normalized');
  }
  const impls: [string, () => Promise<void> | void][] = [
    [
      'native',
      () => {
        for (const w of work) native.transformRecordSets(w.sets, OPTS);
      },
    ],
    [
      'js',
      () => {
        for (const w of work) js.transformRecordSets(w.sets, OPTS);
      },
    ],
    [
      'today',
      async () => {
        for (const w of work) await todaysPath(native, w.sets, false);
      },
    ],
    [
      'today_encoded',
      async () => {
        for (const w of work) await todaysPath(native, w.sets, true);
      },
    ],
  ];
  const samples: Record<string, number[]> = Object.fromEntries(impls.map(([k]) => [k, []]));
  for (const [, fn] of impls) await fn(); // warm-up
  for (let r = 0; r < runs; r++) {
    const order = r % 2 ? [...impls].reverse() : impls;
    for (const [name, fn] of order) {
      const t0 = process.cpuUsage();
      await fn();
      (samples[name] as number[]).push(total / cpuSeconds(t0));
    }
  }
  const eventsPerS: Record<string, number> = {};
  for (const [k, xs] of Object.entries(samples)) eventsPerS[k] = median(xs);
  const pairedRatios: Record<string, number> = {};
  const nat = samples.native as number[];
  for (const k of ['js', 'today', 'today_encoded']) {
    const xs = samples[k] as number[];
    pairedRatios[`native_vs_${k}`] = median(nat.map((x, i) => x / (xs[i] as number)));
  }
  return { avgValueBytes, eventsPerS, pairedRatios, nativeUsPerEvent: 1e6 / (eventsPerS.native as number) };
}

// Standalone: `node --import tsx bench/core/transform.ts [--quick]`
if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await measureTransform({ quick: process.argv.includes('--quick') }), null, 2));
}
