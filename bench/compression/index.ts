/**
 * Bench target `compression` (issue 17): for each codec a kafka-wire producer may write (none, gzip, lz4, zstd), the
 * producer's CPU per record (compression + Produce with acks=all, this process), the bytes the broker stores per record
 * (the batches as fetched back: Kafka keeps a producer's compressed batches as they are), and the decode CPU per record
 * of the transformer's core on those bytes (core-native's Rust core and its TypeScript twin, transformRecordSets on a
 * fetched partition). Records: Stripe payment_intent.succeeded events of ~1 KiB, 250 per batch, one partition. Codec
 * order alternates between rounds; medians of the rounds. All ratios are information (the issue sets no goal for them).
 */

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serviceAddresses } from '@pep/contracts';
import { type FetchedRecordSet, loadCore, type TransformOptions } from '@pep/core-native';
import { encodeRecord } from '@pep/core-native/testing/recordbatch';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import type { ProducerCodec } from '@pep/kafka-wire/compression';
import { decodeFetchResponse, encodeFetchRequest, ISOLATION } from '@pep/kafka-wire/fetch';
import { TransactionalProducer } from '@pep/kafka-wire/transaction';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { type Metric, median, type Ratio, writeResult } from '../src/result.ts';

const CODECS: ProducerCodec[] = ['none', 'gzip', 'lz4', 'zstd'];
const PER_BATCH = 250;
const OPTS: TransformOptions = {
  normalizedAtMs: 1_767_225_600_000,
  normalizedPartitions: 6,
  dlqPartitions: 3,
  maxRecordBytes: 1_000_000,
};

/** Records sections of PER_BATCH Stripe events each (what the edge writes: body plus headers). */
function sections(n: number): { records: Buffer; count: number; firstTimestampMs: number; maxTimestampMs: number }[] {
  const file = fileURLToPath(
    import.meta.resolve('@pep/core-native/fixtures/payloads/stripe_payment_intent_succeeded.json'),
  );
  const base = JSON.parse(readFileSync(file, 'utf8')) as { id: string; data: { object: Record<string, unknown> } };
  const out = [];
  for (let b = 0; b * PER_BATCH < n; b++) {
    const recs = Array.from({ length: Math.min(PER_BATCH, n - b * PER_BATCH) }, (_, j) => {
      const i = b * PER_BATCH + j;
      const e = structuredClone(base);
      e.id = `evt_bench${i.toString(36)}x`;
      e.data.object.id = `pi_bench${i.toString(36)}`;
      e.data.object.amount = 100 + ((i * 7919) % 100_000);
      e.data.object.customer = `cus_c${i % 500}`;
      return encodeRecord(
        {
          key: e.data.object.id as string,
          value: JSON.stringify(e),
          headers: [
            ['received-at', new Date(OPTS.normalizedAtMs - 1000).toISOString()],
            ['request-id', `req_${i.toString(36).padStart(12, '0')}`],
            ['provider', 'stripe'],
          ],
        },
        j,
      );
    });
    const now = Date.now();
    out.push({ records: Buffer.concat(recs), count: recs.length, firstTimestampMs: now, maxTimestampMs: now });
  }
  return out;
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Everything on partition 0 of `topic`, as the broker returns it (whole batches only). */
async function fetchAll(cluster: KafkaCluster, topic: string, expected: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let offset = 0n;
  while (offset < BigInt(expected)) {
    const node = await cluster.leaderFor(topic, 0);
    const res = await cluster.send(
      node,
      (id) =>
        encodeFetchRequest(id, cluster.clientId, {
          maxWaitMs: 100,
          minBytes: 1,
          maxBytes: 16 << 20,
          isolationLevel: ISOLATION.readUncommitted,
          topics: [{ topic, partitions: [{ partition: 0, fetchOffset: offset, maxBytes: 16 << 20 }] }],
        }),
      decodeFetchResponse,
    );
    const p = res.partitions[0];
    if (p?.errorCode !== 0) throw new Error(`compression bench: fetch error ${p?.errorCode}`);
    // Whole batches only: walk the batch headers.
    let at = 0;
    while (at + 61 <= p.records.length) {
      const total = 12 + p.records.readInt32BE(at + 8);
      if (at + total > p.records.length) break;
      const base = p.records.readBigInt64BE(at);
      const last = base + BigInt(p.records.readInt32BE(at + 23));
      if (last >= offset) chunks.push(Buffer.from(p.records.subarray(at, at + total)));
      offset = last + 1n;
      at += total;
    }
  }
  return chunks;
}

interface CodecRun {
  produceUs: number;
  storedBytes: number;
  nativeDecodeUs: number;
  jsDecodeUs: number;
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const n = opts.quick ? 5_000 : 40_000;
  const rounds = opts.quick ? 1 : 3;
  const brokers = [...serviceAddresses().kafkaBrokers];
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const admin = new Kafka({ clientId: 'bench-compression', brokers, logLevel: logLevel.NOTHING }).admin();
  const cluster = new KafkaCluster({ brokers, clientId: 'bench-compression' });
  const native = await loadCore({ impl: 'native' });
  const js = await loadCore({ impl: 'js' });
  const data = sections(n);
  const valueBytes = data.reduce((s, d) => s + d.records.length, 0) / n;
  const runs: Record<string, CodecRun[]> = {};
  const topics: string[] = [];
  await admin.connect();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const codec of round % 2 === 0 ? CODECS : [...CODECS].reverse()) {
        const topic = `bench.compression.${runId}.${codec}.${round}`;
        topics.push(topic);
        await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }]);
        const producer = new TransactionalProducer({
          cluster,
          transactionalId: null,
          compression: codec,
          ...(native.crc32c ? { crc32c: native.crc32c } : {}),
        });
        await producer.init();
        const t0 = cpuUs();
        for (const d of data) await producer.send([{ topic, partition: 0, ...d }]);
        const produceUs = (cpuUs() - t0) / n;
        producer.close();
        const batches = await fetchAll(cluster, topic, n);
        const stored = Buffer.concat(batches);
        const set: FetchedRecordSet = {
          topic: 'webhooks.stripe.payment_intent',
          provider: 0,
          partition: 0,
          fetchOffset: 0n,
          records: stored,
          abortedTransactions: [],
        };
        const decode = (core: typeof native) => {
          const t = cpuUs();
          const out = core.transformRecordSets([set], OPTS);
          if (out.counters.normalized !== n) throw new Error(`${codec}: ${out.counters.normalized} of ${n} normalized`);
          return (cpuUs() - t) / n;
        };
        const list = runs[codec] ?? [];
        list.push({
          produceUs,
          storedBytes: stored.length / n,
          nativeDecodeUs: decode(native),
          jsDecodeUs: decode(js),
        });
        runs[codec] = list;
        const r = list.at(-1) as CodecRun;
        console.log(
          `round ${round + 1}/${rounds} ${codec}: produce ${r.produceUs.toFixed(2)} µs/record, ${r.storedBytes.toFixed(0)} B/record stored, decode native ${r.nativeDecodeUs.toFixed(2)} / js ${r.jsDecodeUs.toFixed(2)} µs/record`,
        );
      }
    }
  } finally {
    cluster.close();
    await admin.deleteTopics({ topics }).catch((e: Error) => console.error(`compression: cleanup: ${e.message}`));
    await admin.disconnect();
  }

  const r2 = (v: number) => Number(v.toFixed(2));
  const med = (codec: string, k: keyof CodecRun) => median((runs[codec] ?? []).map((r) => r[k]));
  const metrics: Metric[] = [
    { name: 'records_per_round', unit: 'records', value: n },
    { name: 'record_bytes_uncompressed', unit: 'bytes', value: r2(valueBytes) },
  ];
  const ratios: Ratio[] = [];
  for (const codec of CODECS) {
    metrics.push(
      { name: `${codec}_produce_cpu_us_per_record`, unit: 'µs', value: r2(med(codec, 'produceUs')) },
      { name: `${codec}_stored_bytes_per_record`, unit: 'bytes', value: r2(med(codec, 'storedBytes')) },
      { name: `${codec}_native_decode_cpu_us_per_record`, unit: 'µs', value: r2(med(codec, 'nativeDecodeUs')) },
      { name: `${codec}_js_decode_cpu_us_per_record`, unit: 'µs', value: r2(med(codec, 'jsDecodeUs')) },
    );
    if (codec !== 'none')
      ratios.push(
        {
          name: `${codec}_stored_bytes_vs_none`,
          value: r2(med(codec, 'storedBytes') / med('none', 'storedBytes')),
          goal: null,
        },
        {
          name: `${codec}_produce_cpu_vs_none`,
          value: r2(med(codec, 'produceUs') / med('none', 'produceUs')),
          goal: null,
        },
      );
  }
  writeResult('compression', metrics, ratios);
}
