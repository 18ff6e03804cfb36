/**
 * Three brokers (the `KAFKA_NODES=3` layout, run by `LocalKafkaCluster` on ports of its own: replication factor 3,
 * min.insync.replicas 2) with kafka-wire's clients under load, as the platform uses them: the edge's sink
 * (IdempotentProducer, acks=all) writes numbered records to `in` without pause, and a consume-transform-produce loop
 * (GroupConsumer + TransactionalProducer with the offsets inside the transaction, the transformer's shape) copies them
 * to `out`. Faults in turn, each measured until both paths move again:
 *   1. every leader moved: the replica lists rotated (ReassignPartitionsCommand) and preferred leaders elected;
 *   2. SIGKILL of the broker leading most partitions;
 *   3. SIGKILL of the group's coordinator;
 *   4. SIGKILL of the transaction coordinator of the loop's transactional id.
 * A killed broker is restarted and the test waits for full ISRs before the next fault. At the end every record the
 * sink acknowledged is on `in` exactly once and on `out` exactly once (read_committed, by kafkajs, an independent
 * client). Recovery times are printed and written to `.stack/kafka-cluster-failover.json`. ~2 minutes, ~1.2 GB.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { GroupConsumer } from '@pep/kafka-wire/consumer';
import { IdempotentProducer, type OutRecord } from '@pep/kafka-wire/idempotent-producer';
import { decodeRecordBatches, recordsSection } from '@pep/kafka-wire/testing';
import { type OutputBatch, TransactionalProducer, TransactionError } from '@pep/kafka-wire/transaction';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaTool, LocalKafkaCluster } from '../src/index.ts';
import { STATE_DIR } from '../src/paths.ts';

const log = (m: string) => console.log(`# ${m}`);
const IN = 'failover.in';
const OUT = 'failover.out';
const PARTITIONS = 6;
const GROUP = 'failover-copier';
const TXN_ID = 'failover-copier-0';
/** Records per sink batch and the pause between batches: ~200 records/s. */
const BATCH = 10;
const PAUSE_MS = 50;
/** A fault counts as recovered when both paths have moved this many records past the fault. */
const PROGRESS = 50;
const RECOVERY_LIMIT_MS = 60_000;

const kafkaCluster = new LocalKafkaCluster({ name: 'kafka-cluster-test', portOffset: 1000 });
const brokers = kafkaCluster.bootstrap;
const kafka = new Kafka({ clientId: 'cluster-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
const admin = kafka.admin();
const quiet = { debug() {}, info() {}, warn() {} };

/** Record numbers the sink got an ack for, and how many the copier committed. */
const acked = new Set<number>();
let copied = 0;
const stop = { sink: false, copier: false };
const errors = { sink: 0, copier: 0 };

async function runSink(): Promise<void> {
  const sink = new IdempotentProducer({
    brokers,
    clientId: 'cluster-test-sink',
    requestTimeoutMs: 10_000,
    producers: 1,
    log: quiet,
  });
  let n = 0;
  try {
    while (!stop.sink) {
      const batch: OutRecord[] = [];
      const numbers: number[] = [];
      for (let i = 0; i < BATCH; i++, n++) {
        numbers.push(n);
        batch.push({ topic: IN, key: `k-${n % 97}`, value: Buffer.from(String(n)), headers: { n: String(n) } });
      }
      try {
        await sink.send(batch);
        for (const x of numbers) acked.add(x);
      } catch {
        // Not acknowledged: the edge answers 503 and the provider resends; the sink starts new sessions.
        errors.sink++;
        sink.reset();
        await sleep(100);
      }
      await sleep(PAUSE_MS);
    }
  } finally {
    await sink.close();
  }
}

/** The transformer's loop in miniature: fetch, copy, commit outputs and offsets in one transaction; rewind on failure. */
async function runCopier(): Promise<void> {
  const cluster = new KafkaCluster({
    brokers,
    clientId: 'cluster-test-copier',
    retry: { maxAttempts: 30, maxBackoffMs: 1000 },
    lanes: { fetch: { requestTimeoutMs: 30_000 }, join: { requestTimeoutMs: 60_000 } },
  });
  const producer = new TransactionalProducer({ cluster, transactionalId: TXN_ID, transactionTimeoutMs: 15_000 });
  await producer.init();
  const consumer = new GroupConsumer({
    cluster,
    groupId: GROUP,
    topics: [IN],
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 20_000,
    heartbeatIntervalMs: 1000,
    maxWaitMs: 200,
    maxBytes: 1 << 20,
    maxBytesPerPartition: 256 << 10,
    resetPolicy: 'earliest',
    log: quiet,
  });
  await consumer.start();
  try {
    while (!stop.copier) {
      try {
        const fetched = await consumer.poll();
        const batches: OutputBatch[] = [];
        const offsets: { topic: string; partition: number; offset: bigint }[] = [];
        let count = 0;
        for (const set of fetched.sets) {
          const records = decodeRecordBatches(set.partition, set.records).filter((r) => r.offset >= set.fetchOffset);
          const last = records.at(-1);
          if (!last) continue;
          batches.push({
            topic: OUT,
            partition: set.partition,
            ...recordsSection(
              records.map((r) => ({
                key: r.key?.toString() ?? null,
                value: r.value?.toString() ?? '',
                headers: Object.fromEntries(r.headers.map(([k, v]) => [k, v.toString()])),
              })),
            ),
          });
          offsets.push({ topic: IN, partition: set.partition, offset: last.offset + 1n });
          count += records.length;
        }
        if (offsets.length === 0) continue;
        if (producer.status === 'needs_init') await producer.init();
        await producer.commit({ batches, offsets: { ...fetched.member, partitions: offsets } });
        for (const o of offsets) consumer.seek(o.topic, o.partition, o.offset);
        copied += count;
      } catch (err) {
        if (err instanceof TransactionError && err.fenced) throw err;
        errors.copier++;
        if (err instanceof TransactionError && err.groupFenced) consumer.requestRejoin();
        await sleep(200);
        await consumer.rewind().catch(() => {});
      }
    }
  } finally {
    await consumer.close().catch(() => {});
    producer.close();
    cluster.close();
  }
}

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await ok())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - started;
}

/** Every partition of the test and internal topics has three in-sync replicas again. */
async function fullIsr(): Promise<boolean> {
  try {
    const topics = [IN, OUT, '__consumer_offsets', '__transaction_state'];
    const meta = await admin.fetchTopicMetadata({ topics });
    return meta.topics.every((t) => t.partitions.every((p) => p.isr.length === 3 && p.leader >= 0));
  } catch {
    return false;
  }
}

interface Recovery {
  readonly fault: string;
  readonly detail: string;
  /** From the fault until the sink had acknowledged PROGRESS more records. */
  readonly sink_ms: number;
  /** From the fault until the copier had committed PROGRESS more records. */
  readonly copier_ms: number;
}

async function fault(name: string, inject: () => Promise<string>): Promise<Recovery> {
  const at = Date.now();
  const [ackedAt, copiedAt] = [acked.size, copied];
  const detail = await inject();
  const [sinkMs, copierMs] = await Promise.all([
    waitFor(`${name}: the sink`, () => acked.size >= ackedAt + PROGRESS, RECOVERY_LIMIT_MS).then(() => Date.now() - at),
    waitFor(`${name}: the copier`, () => copied >= copiedAt + PROGRESS, RECOVERY_LIMIT_MS).then(() => Date.now() - at),
  ]);
  const r = { fault: name, detail, sink_ms: sinkMs, copier_ms: copierMs };
  log(`recovered: ${JSON.stringify(r)}`);
  return r;
}

/** The node id (1-based) leading most partitions of the test topics. */
async function busiestLeader(): Promise<number> {
  const meta = await admin.fetchTopicMetadata({ topics: [IN, OUT] });
  const count = new Map<number, number>();
  for (const t of meta.topics) for (const p of t.partitions) count.set(p.leader, (count.get(p.leader) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1])[0]?.[0] as number;
}

async function coordinatorOf(type: 'group' | 'transaction', key: string): Promise<number> {
  const wire = new KafkaCluster({ brokers, clientId: 'cluster-test-lookup' });
  try {
    return await wire.coordinator(type, key);
  } finally {
    wire.close();
  }
}

before(async () => {
  const t0 = Date.now();
  await kafkaCluster.start(log, { fresh: true, contractTopics: false });
  await admin.connect();
  await admin.createTopics({
    topics: [IN, OUT].map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 3 })),
    waitForLeaders: true,
  });
  await waitFor('test topics usable', fullIsr, 60_000).catch(() => {});
  log(`three brokers up and topics created in ${Date.now() - t0} ms`);
});

after(async () => {
  stop.sink = true;
  stop.copier = true;
  await admin.disconnect().catch(() => {});
  await kafkaCluster.stop();
});

test('leader moves and SIGKILL of a leader, the group coordinator and the transaction coordinator: nothing acknowledged lost, nothing copied twice', async () => {
  let sinkDone = false;
  const loops = Promise.all([runSink().finally(() => (sinkDone = true)), runCopier()]);
  let loopError: unknown = null;
  loops.catch((err: unknown) => {
    loopError = err;
  });
  await waitFor('traffic flowing', () => copied >= 200 || loopError !== null, 60_000);
  assert.equal(loopError, null);

  const recoveries: Recovery[] = [];
  const restart = async (node: number) => {
    await kafkaCluster.restart(node, log);
    await waitFor(`node ${node} back in every ISR`, fullIsr, 120_000);
  };

  recoveries.push(
    await fault('leader moves', async () => {
      const meta = await admin.fetchTopicMetadata({ topics: [IN, OUT] });
      const partitions = meta.topics.flatMap((t) =>
        t.partitions.map((p) => ({
          topic: t.name,
          partition: p.partitionId,
          replicas: [...p.replicas.slice(1), p.replicas[0] as number],
        })),
      );
      const file = join(STATE_DIR, 'kafka-cluster-test-reassignment.json');
      writeFileSync(file, JSON.stringify({ version: 1, partitions }));
      const bootstrap = brokers.join(',');
      kafkaTool('org.apache.kafka.tools.reassign.ReassignPartitionsCommand', [
        '--bootstrap-server',
        bootstrap,
        '--reassignment-json-file',
        file,
        '--execute',
      ]);
      kafkaTool('org.apache.kafka.tools.LeaderElectionCommand', [
        '--bootstrap-server',
        bootstrap,
        '--election-type',
        'PREFERRED',
        '--all-topic-partitions',
      ]);
      return `${partitions.length} partitions: replicas rotated, preferred leaders elected`;
    }),
  );

  for (const [name, pick] of [
    ['leader SIGKILL', busiestLeader],
    ['group coordinator SIGKILL', () => coordinatorOf('group', GROUP)],
    ['transaction coordinator SIGKILL', () => coordinatorOf('transaction', TXN_ID)],
  ] as const) {
    let node = 0;
    recoveries.push(
      await fault(name, async () => {
        node = await pick();
        await kafkaCluster.kill(node);
        return `node ${node} killed (restarted once both paths recovered)`;
      }),
    );
    await restart(node);
  }

  // Stop the sink, let the copier commit up to the end of `in`, then stop it.
  stop.sink = true;
  const inEnd = await waitFor('the sink stopped', () => loopError !== null || sinkDone, 30_000).then(async () =>
    (await admin.fetchTopicOffsets(IN)).reduce((sum, p) => sum + Number(p.high), 0),
  );
  await waitFor(
    'the copier committed up to the end of in',
    async () => {
      const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [IN] });
      return (committed?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0) === inEnd;
    },
    60_000,
  );
  stop.copier = true;
  await loops;
  assert.equal(loopError, null);
  const ackedCount = acked.size;

  // Both topics read back by kafkajs (read_committed) until `in`'s records are all seen on each, then a second more.
  const seen = new Map([
    [IN, new Map<number, number>()],
    [OUT, new Map<number, number>()],
  ]);
  const total = (topic: string) => [...(seen.get(topic) as Map<number, number>).values()].reduce((a, b) => a + b, 0);
  const reader = kafka.consumer({ groupId: `cluster-test-reader-${Date.now()}`, maxWaitTimeInMs: 100 });
  await reader.connect();
  try {
    await reader.subscribe({ topics: [IN, OUT], fromBeginning: true });
    await reader.run({
      eachMessage: async ({ topic, message }) => {
        const n = Number(message.value?.toString());
        const m = seen.get(topic) as Map<number, number>;
        m.set(n, (m.get(n) ?? 0) + 1);
      },
    });
    await waitFor('the reader saw in and out', () => total(IN) >= inEnd && total(OUT) >= inEnd, 60_000);
    await sleep(1000); // a duplicate arriving late would show here
  } finally {
    await reader.disconnect();
  }

  const inSeen = seen.get(IN) as Map<number, number>;
  const outSeen = seen.get(OUT) as Map<number, number>;
  const lost = [...acked].filter((n) => !inSeen.has(n));
  const inDuplicates = [...inSeen].filter(([, c]) => c > 1);
  const notCopied = [...inSeen.keys()].filter((n) => !outSeen.has(n));
  const outDuplicates = [...outSeen].filter(([, c]) => c > 1);
  const report = {
    acknowledged: ackedCount,
    in_records: inEnd,
    on_in: inSeen.size,
    on_out: outSeen.size,
    sink_errors: errors.sink,
    copier_errors: errors.copier,
    recoveries,
  };
  log(`failover: ${JSON.stringify(report)}`);
  writeFileSync(join(STATE_DIR, 'kafka-cluster-failover.json'), `${JSON.stringify(report, null, 2)}\n`);
  assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged records are not on ${IN}`);
  assert.deepEqual(inDuplicates.slice(0, 10), [], `${inDuplicates.length} records are on ${IN} more than once`);
  assert.deepEqual(notCopied.slice(0, 10), [], `${notCopied.length} records of ${IN} are not on ${OUT}`);
  assert.deepEqual(outDuplicates.slice(0, 10), [], `${outDuplicates.length} records are on ${OUT} more than once`);
  assert.ok(ackedCount > 1000, `only ${ackedCount} records acknowledged`);
});
