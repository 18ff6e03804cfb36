/**
 * GroupConsumer against the real broker: records written by kafkajs are fetched (several partitions per request,
 * records as raw RecordBatch bytes) and every offset is seen once; OffsetCommit lands in the group (read back with
 * kafkajs's admin, which also decodes our group's round-robin assignment); a second member joining triggers a
 * rebalance that splits the partitions, its leaving hands them back; an out-of-range position is reset by policy;
 * read_committed reports the aborted transaction of a kafkajs producer; an idle consumer long-polls (idleMaxWaitMs)
 * and still gets a new record at once.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { KafkaCluster } from '../src/cluster.ts';
import { type FetchBatch, GroupConsumer, type GroupConsumerOptions } from '../src/consumer.ts';
import { decodeListOffsetsResponse } from '../src/fetch.ts';
import { BROKERS, createTopics, kafkajs, unique } from './helpers.ts';

const topic = unique('wire-consumer');
const txTopic = unique('wire-consumer-tx');
const PARTITIONS = 3;
const PER_PARTITION = 200;
const admin = kafkajs().admin();
const clusters: KafkaCluster[] = [];

/** A consumer on a cluster of its own (`prepare` may wrap that cluster's calls before the consumer uses it). */
function newConsumer(
  groupId: string,
  topics: string[],
  extra: Partial<GroupConsumerOptions> = {},
  prepare: (cluster: KafkaCluster) => void = () => {},
): GroupConsumer {
  const cluster = new KafkaCluster({
    brokers: BROKERS,
    clientId: 'wire-consumer-test',
    lanes: { fetch: { requestTimeoutMs: 10_000 }, join: { requestTimeoutMs: 70_000 } },
  });
  clusters.push(cluster);
  prepare(cluster);
  return new GroupConsumer({
    cluster,
    groupId,
    topics,
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 10_000,
    heartbeatIntervalMs: 500,
    maxWaitMs: 50,
    maxBytes: 1 << 20,
    maxBytesPerPartition: 64 << 10,
    resetPolicy: 'earliest',
    ...extra,
  });
}

/** Offsets of the batches in a raw records section: [first, next) per complete RecordBatch. */
function batchRanges(records: Buffer): { first: bigint; next: bigint }[] {
  const out: { first: bigint; next: bigint }[] = [];
  let at = 0;
  while (at + 61 <= records.length) {
    const base = records.readBigInt64BE(at);
    const length = records.readInt32BE(at + 8);
    if (at + 12 + length > records.length) break; // truncated last batch
    const lastDelta = records.readInt32BE(at + 23);
    out.push({ first: base, next: base + BigInt(lastDelta) + 1n });
    at += 12 + length;
  }
  return out;
}

/** Advances positions past every complete batch; returns the offsets consumed per partition. */
function consume(c: GroupConsumer, batch: FetchBatch, seen: Map<string, bigint[]>): number {
  let n = 0;
  for (const s of batch.sets) {
    let pos = s.fetchOffset;
    for (const r of batchRanges(s.records)) {
      for (let o = r.first; o < r.next; o++) {
        if (o < s.fetchOffset) continue;
        const k = `${s.topic}/${s.partition}`;
        seen.set(k, [...(seen.get(k) ?? []), o]);
        n++;
      }
      pos = r.next;
    }
    c.seek(s.topic, s.partition, pos);
  }
  return n;
}

before(async () => {
  await admin.connect();
  await createTopics([
    { topic, partitions: PARTITIONS },
    { topic: txTopic, partitions: 1 },
  ]);
  const producer = kafkajs().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let p = 0; p < PARTITIONS; p++) {
    for (let i = 0; i < PER_PARTITION; i += 50) {
      await producer.send({
        topic,
        acks: -1,
        messages: Array.from({ length: 50 }, (_, j) => ({ partition: p, key: `k${i + j}`, value: 'x'.repeat(500) })),
      });
    }
  }
  await producer.disconnect();
});

after(async () => {
  for (const c of clusters) c.close();
  await admin.deleteTopics({ topics: [topic, txTopic] }).catch(() => undefined);
  await admin.disconnect();
});

test('fetches every offset of every partition once, commits offsets the group tools can read', async () => {
  const groupId = unique('wire-group');
  const c = newConsumer(groupId, [topic]);
  await c.start();
  assert.deepEqual([...(c.assigned.get(topic) ?? [])], [0, 1, 2]);
  const seen = new Map<string, bigint[]>();
  let total = 0;
  let fetches = 0;
  let multiPartition = false;
  let member: FetchBatch['member'] | null = null;
  while (total < PARTITIONS * PER_PARTITION && fetches < 200) {
    const batch = await c.poll();
    fetches++;
    member = batch.member;
    if (batch.sets.length > 1) multiPartition = true;
    total += consume(c, batch, seen);
  }
  assert.equal(total, PARTITIONS * PER_PARTITION);
  assert.ok(multiPartition, 'one fetch returned several partitions');
  for (let p = 0; p < PARTITIONS; p++) {
    const offs = seen.get(`${topic}/${p}`) ?? [];
    assert.deepEqual(
      offs,
      Array.from({ length: PER_PARTITION }, (_, i) => BigInt(i)),
      `partition ${p} in order, once`,
    );
  }
  assert.ok(member && member.generationId > 0 && member.memberId.length > 0);
  await c.commitOffsets(member, [
    {
      topic,
      partitions: [0, 1, 2].map((partition) => ({ partition, offset: c.position(topic, partition) as bigint })),
    },
  ]);
  const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
  assert.deepEqual(committed[0]?.partitions.map((p) => [p.partition, p.offset]).sort(), [
    [0, '200'],
    [1, '200'],
    [2, '200'],
  ]);
  const described = await admin.describeGroups([groupId]);
  const g = described.groups[0];
  assert.equal(g?.protocolType, 'consumer');
  assert.equal(g?.protocol, 'roundrobin');
  assert.equal(g?.members.length, 1);
  await c.close();
  const after = await admin.describeGroups([groupId]);
  assert.equal(after.groups[0]?.members.length, 0, 'LeaveGroup removed the member at once');

  // A new member of the same group starts at the committed offsets: nothing is fetched again.
  const again = newConsumer(groupId, [topic]);
  await again.start();
  assert.equal(again.position(topic, 1), 200n);
  const b = await again.poll();
  assert.equal(b.sets.length, 0);
  await again.close();
  await admin.deleteGroups([groupId]).catch(() => undefined);
});

test('a second member splits the partitions; when it leaves, the first gets them all back', async () => {
  const groupId = unique('wire-group');
  const a = newConsumer(groupId, [topic]);
  await a.start();
  const b = newConsumer(groupId, [topic]);
  const bJoin = b.start();
  // a learns of the rebalance from a heartbeat and rejoins on its next poll.
  const deadline = Date.now() + 20_000;
  while (!a.needsRejoin && Date.now() < deadline) await a.poll();
  assert.ok(a.needsRejoin, 'a heartbeat told the first member to rejoin');
  await Promise.all([a.poll(), bJoin]);
  const pa = a.assigned.get(topic) ?? [];
  const pb = b.assigned.get(topic) ?? [];
  assert.deepEqual([...pa, ...pb].sort(), [0, 1, 2], 'disjoint, complete');
  assert.ok(pa.length > 0 && pb.length > 0, `both got partitions (${pa} / ${pb})`);
  assert.equal(a.member?.generationId, b.member?.generationId);

  await b.close();
  const until = Date.now() + 20_000;
  while ((a.assigned.get(topic) ?? []).length < 3 && Date.now() < until) await a.poll();
  assert.deepEqual([...(a.assigned.get(topic) ?? [])], [0, 1, 2]);
  await a.close();
  await admin.deleteGroups([groupId]).catch(() => undefined);
});

test('an out-of-range position is reset by policy (earliest)', async () => {
  const groupId = unique('wire-group');
  const c = newConsumer(groupId, [topic]);
  await c.start();
  c.seek(topic, 0, 1_000_000n);
  await c.poll(); // OFFSET_OUT_OF_RANGE -> ListOffsets earliest
  assert.equal(c.position(topic, 0), 0n);
  await c.close();
  const none = newConsumer(unique('wire-group'), [topic], { resetPolicy: 'none' });
  await assert.rejects(none.start(), /offset reset policy is none/);
  await none.close();
});

test('read_committed: the aborted transaction of another producer is reported, the committed one is fetched', async () => {
  const producer = kafkajs().producer({ transactionalId: unique('wire-tx'), maxInFlightRequests: 1, idempotent: true });
  await producer.connect();
  const aborted = await producer.transaction();
  await aborted.send({ topic: txTopic, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
  await aborted.abort();
  const ok = await producer.transaction();
  await ok.send({ topic: txTopic, messages: [{ value: 'committed' }] });
  await ok.commit();
  await producer.disconnect();

  const c = newConsumer(unique('wire-group'), [txTopic]);
  await c.start();
  const sets = [];
  for (let i = 0; i < 20 && sets.length === 0; i++) sets.push(...(await c.poll()).sets);
  const s = sets[0];
  assert.ok(s, 'fetched the partition');
  assert.equal(s.abortedTransactions.length, 1, 'one aborted transaction reported');
  assert.equal(s.abortedTransactions[0]?.firstOffset, 0n);
  assert.ok(s.lastStableOffset >= 4n, `LSO past the commit marker (${s.lastStableOffset})`);
  assert.ok(s.records.includes(Buffer.from('committed')), 'committed record bytes present');
  await c.close();
});

test('idle: after an empty round the fetch long-polls, and a new record ends the long poll at once', async () => {
  const groupId = unique('wire-idle');
  const c = newConsumer(groupId, [topic], { resetPolicy: 'latest', maxWaitMs: 50, idleMaxWaitMs: 4000 });
  await c.start();
  assert.equal((await c.poll()).sets.length, 0, 'at the end: nothing to fetch');
  const t0 = Date.now();
  assert.equal((await c.poll()).sets.length, 0);
  const idleMs = Date.now() - t0;
  assert.ok(idleMs >= 3000, `the idle round waited ${idleMs} ms (long poll of 4000 ms, not the 50 ms max wait)`);
  const producer = kafkajs().producer();
  await producer.connect();
  const t1 = Date.now();
  const polled = c.poll();
  await new Promise((r) => setTimeout(r, 300));
  await producer.send({ topic, acks: -1, messages: [{ partition: 1, key: 'idle', value: 'wake up' }] });
  const batch = await polled;
  const wokeMs = Date.now() - t1;
  await producer.disconnect();
  assert.equal(batch.sets.length, 1);
  assert.equal(batch.sets[0]?.partition, 1);
  assert.ok(wokeMs < 2500, `the record ended the long poll after ${wokeMs} ms`);
  await c.close();
  await admin.deleteGroups([groupId]).catch(() => undefined);
});

/** Faults a test turns on and off: each is asked before the request it can fail. */
interface Faults {
  /** The group coordinator cannot be found (its broker was killed): the lookup rejects with a connection error. */
  coordinatorDown?: () => boolean;
  /** The leader a ListOffsets goes to does not answer (it was killed): the request rejects with a connection error. */
  leaderDown?: () => boolean;
}

const injected = (what: string) => new Error(`Kafka 127.0.0.1:1: connect ECONNREFUSED (injected: ${what})`);

/** A consumer on a cluster with `faults` injected where KafkaCluster would reject once its own retries are spent. */
function consumerWithFaults(groupId: string, faults: Faults): GroupConsumer {
  // How long positions may take to load: the failing lookups below outlast it in the second test.
  return newConsumer(groupId, [topic], { stableOffsetsTimeoutMs: 3000 }, (cluster) => {
    const lookup = cluster.coordinator.bind(cluster);
    cluster.coordinator = (type, key) =>
      type === 'group' && faults.coordinatorDown?.() ? Promise.reject(injected('coordinator down')) : lookup(type, key);
    const send = cluster.send.bind(cluster);
    cluster.send = ((node, build, decode, lane) =>
      decode === (decodeListOffsetsResponse as unknown) && faults.leaderDown?.()
        ? Promise.reject(injected('leader down'))
        : send(node, build, decode, lane)) as typeof cluster.send;
  });
}

/** Commits offset 10 on every partition, then moves the positions to 100 (records of a transaction that failed). */
async function committedAt10MovedTo100(c: GroupConsumer): Promise<void> {
  await c.commitOffsets(c.member as NonNullable<GroupConsumer['member']>, [
    { topic, partitions: [0, 1, 2].map((partition) => ({ partition, offset: 10n })) },
  ]);
  for (let p = 0; p < PARTITIONS; p++) c.seek(topic, p, 100n);
  for (let p = 0; p < PARTITIONS; p++) assert.equal(c.position(topic, p), 100n);
}

test('rewind: a group coordinator lookup that fails (its broker died) is retried, positions come back from the committed offsets', async () => {
  const groupId = unique('wire-rewind');
  let failures = 0;
  const c = consumerWithFaults(groupId, { coordinatorDown: () => failures > 0 && failures-- > 0 });
  await c.start();
  await committedAt10MovedTo100(c);
  failures = 2;
  await c.rewind();
  assert.equal(failures, 0, 'the lookup failed twice, then found the coordinator');
  for (let p = 0; p < PARTITIONS; p++) assert.equal(c.position(topic, p), 10n, `partition ${p} rewound`);
  await c.close();
  await admin.deleteGroups([groupId]).catch(() => undefined);
});

test('rewind that failed for good: the next poll loads the positions from the committed offsets and fetches, instead of idling as if nothing were assigned', async () => {
  const groupId = unique('wire-rewind');
  let down = false;
  const c = consumerWithFaults(groupId, { coordinatorDown: () => down });
  await c.start();
  await committedAt10MovedTo100(c);
  down = true;
  await assert.rejects(c.rewind(), /injected: coordinator down/);
  down = false;
  assert.deepEqual([...(c.assigned.get(topic) ?? [])], [0, 1, 2], 'still the owner of every partition');
  const batch = await c.poll();
  for (let p = 0; p < PARTITIONS; p++)
    assert.equal(c.position(topic, p), 10n, `partition ${p} from its committed offset`);
  assert.ok(batch.sets.length > 0, 'records fetched');
  for (const s of batch.sets) assert.equal(s.fetchOffset, 10n, `${s.topic}/${s.partition} fetched from 10`);
  await c.close();
  await admin.deleteGroups([groupId]).catch(() => undefined);
});

test('rewind of partitions without a committed offset while their leader does not answer: ListOffsets is asked again after a metadata refresh', async () => {
  const groupId = unique('wire-rewind');
  let failures = 0;
  const c = consumerWithFaults(groupId, { leaderDown: () => failures > 0 && failures-- > 0 });
  await c.start(); // no committed offset: every position by the reset policy (earliest)
  for (let p = 0; p < PARTITIONS; p++) assert.equal(c.position(topic, p), 0n);
  for (let p = 0; p < PARTITIONS; p++) c.seek(topic, p, 100n);
  failures = 2;
  await c.rewind();
  assert.equal(failures, 0, 'ListOffsets failed twice, then was answered');
  for (let p = 0; p < PARTITIONS; p++) assert.equal(c.position(topic, p), 0n, `partition ${p} reset by policy again`);
  await c.close();
  await admin.deleteGroups([groupId]).catch(() => undefined);
});
