/**
 * A focused A/B run of the transactional producer against the local broker (the README's "controlled A/B"): N records
 * of VALUE_BYTES each, TXN_RECORDS per transaction with offsets, committed back to back by one or more alternating
 * transactional ids (PRODUCERS), records sections encoded before the timed loop (as core-native hands them over),
 * core-native's crc32c. Prints one JSON line: client CPU per record (user, system), wall time and step latencies per
 * transaction, retries. Set PROFILE=1 for the top self/inclusive functions of the timed loop (inspector sampling).
 *
 *   node --import tsx bench/kafka-wire-txn/txn-ab.ts                 # defaults: N=40000 TXN_RECORDS=250 PRODUCERS=1
 *   PRODUCERS=2 VALUE_BYTES=10 node --import tsx bench/kafka-wire-txn/txn-ab.ts
 *
 * Not part of the bench report (bench/kafka-wire-txn/index.ts is); its private topics are deleted at the end.
 */

import { Session } from 'node:inspector/promises';
import { loadCore } from '@pep/core-native';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { encodeProduceRequest } from '@pep/kafka-wire/protocol';
import { BROKERS, createTopics, deleteCreatedTopics, unique } from '@pep/kafka-wire/testing';
import { type OutputBatch, TransactionalProducer } from '@pep/kafka-wire/transaction';

const env = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
};
const N = env('N', 40_000);
const TXN_RECORDS = env('TXN_RECORDS', 250);
const PRODUCERS = env('PRODUCERS', 1);
const VALUE_BYTES = env('VALUE_BYTES', 986);

const core = await loadCore({ impl: 'native' });
const out = unique('kw-ab-out');
const src = unique('kw-ab-src');
await createTopics([
  { topic: out, partitions: 1 },
  { topic: src, partitions: 1 },
]);
const cluster = new KafkaCluster({ brokers: BROKERS, clientId: 'kw-ab' });
const CLIENT = Buffer.from('kw-ab');

/** A records section encoded by the edge's encoder (the request around it is dropped). */
function section(n: number): OutputBatch {
  const now = Date.now();
  const records = Array.from({ length: n }, (_, i) => ({
    key: `evt_${i}`,
    value: Buffer.alloc(VALUE_BYTES, 97),
    headers: { provider: 'stripe', source_topic: 'webhooks.stripe.payment_intent' },
  }));
  const req = encodeProduceRequest(
    1,
    CLIENT,
    -1,
    1000,
    { producerId: 0n, producerEpoch: 0 },
    [{ topic: out, partitions: [{ partition: 0, baseSequence: 0, records }] }],
    now,
  );
  const batchStart = 14 + CLIENT.length + 2 + 2 + 4 + 4 + 2 + Buffer.byteLength(out) + 4 + 4 + 4;
  return {
    topic: out,
    partition: 0,
    records: req.subarray(batchStart + 61),
    count: n,
    firstTimestampMs: now,
    maxTimestampMs: now,
  };
}

const batches: OutputBatch[] = [];
for (let i = 0; i < N; i += TXN_RECORDS) batches.push(section(Math.min(TXN_RECORDS, N - i)));
const producers = Array.from(
  { length: PRODUCERS },
  () => new TransactionalProducer({ cluster, transactionalId: unique('kw-ab-tid'), crc32c: (b) => core.crc32c(b) }),
);
for (const p of producers) await p.init();

const session = new Session();
if (process.env.PROFILE) {
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
const adds: number[] = [];
const totals: number[] = [];
let retries = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let t = 0; t < batches.length; t++) {
  const res = await (producers[t % PRODUCERS] as TransactionalProducer).commit({
    batches: [batches[t] as OutputBatch],
    offsets: {
      groupId: 'kw-ab',
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      partitions: [{ topic: src, partition: 0, offset: BigInt(t + 1) }],
    },
  });
  retries += res.retries;
  adds.push(res.timings.addMs);
  totals.push(res.timings.totalMs);
}
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const q = (a: number[], f: number) =>
  Number(([...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * f))] as number).toFixed(2));
console.log(
  JSON.stringify({
    records: N,
    transactions: batches.length,
    producers: PRODUCERS,
    value_bytes: VALUE_BYTES,
    user_us_per_record: Number((cpu.user / N).toFixed(2)),
    system_us_per_record: Number((cpu.system / N).toFixed(2)),
    wall_ms_per_txn: Number((wallMs / batches.length).toFixed(2)),
    txn_ms_p50: q(totals, 0.5),
    txn_ms_p99: q(totals, 0.99),
    add_step_ms_p50: q(adds, 0.5),
    retries_per_txn: Number((retries / batches.length).toFixed(2)),
  }),
);

if (process.env.PROFILE) {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }
  const { profile } = (await session.post('Profiler.stop')) as {
    profile: { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n: Node) =>
    `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.split('/').at(-1)}:${n.callFrame.lineNumber}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id) as Node;
    if (n.callFrame.functionName === '(idle)') return;
    const dt = profile.timeDeltas[i] as number;
    busyUs += dt;
    self.set(name(n), (self.get(name(n)) ?? 0) + dt);
    const seen = new Set<string>();
    for (let cur: Node | undefined = n; cur; cur = byId.get(parent.get(cur.id) ?? -1)) {
      if (seen.has(name(cur))) continue;
      seen.add(name(cur));
      inclusive.set(name(cur), (inclusive.get(name(cur)) ?? 0) + dt);
    }
  });
  const top = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(([k, v]) => `${(v / 1000).toFixed(1)} ms  ${k}`);
  console.log(
    `busy ${(busyUs / 1000).toFixed(0)} ms\n--- self\n${top(self).join('\n')}\n--- inclusive\n${top(inclusive).join('\n')}`,
  );
}
for (const p of producers) p.close();
cluster.close();
await deleteCreatedTopics();
