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
 * A killed broker is restarted and the test waits for full ISRs before the next fault (the last one ends the test on two
 * brokers, which still meet min.insync.replicas). At the end every record the
 * sink acknowledged is on `in` exactly once and on `out` exactly once (read_committed, by kafkajs, an independent
 * client). Recovery times are printed and written to `.stack/kafka-cluster-failover.json`. ~2.5 minutes (3 on a busy
 * machine), three JVMs of 384 MB heap.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import { KafkaCluster } from '@pep/kafka-wire/cluster';
import { GroupConsumer } from '@pep/kafka-wire/consumer';
import { IdempotentProducer, type OutRecord } from '@pep/kafka-wire/idempotent-producer';
import { decodeRecordBatches, recordsSection } from '@pep/kafka-wire/testing';
import { type OutputBatch, TransactionalProducer, TransactionError } from '@pep/kafka-wire/transaction';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { LocalKafkaCluster } from '../src/index.ts';
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
const RECOVERY_LIMIT_MS = 120_000;

const kafkaCluster = new LocalKafkaCluster({ name: 'kafka-cluster-test', portOffset: 1000 });
const brokers = kafkaCluster.bootstrap;
const kafka = new Kafka({ clientId: 'cluster-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 10 } });
const admin = kafka.admin();
const quiet = { debug() {}, info() {}, warn() {} };

/** Record numbers the sink got an ack for, and how many the copier committed. */
const acked = new Set<number>();
let copied = 0;
/**
 * Records acknowledged / committed by operations that STARTED after `since` (an operation in flight when a fault hits
 * may still succeed; recovery is when new ones do).
 */
const progress = { since: Number.POSITIVE_INFINITY, sink: 0, copier: 0 };
const stop = { sink: false, copier: false };
const errors = { sink: 0, copier: 0 };
/** The last error of each path, for the message of a test that fails. */
const lastError = { sink: '', copier: '' };

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
      const startedAt = Date.now();
      try {
        await sink.send(batch);
        for (const x of numbers) acked.add(x);
        if (startedAt >= progress.since) progress.sink += numbers.length;
      } catch (err) {
        // Not acknowledged: the edge answers 503 and the provider resends; the sink starts new sessions.
        errors.sink++;
        lastError.sink = (err as Error).message;
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
      const startedAt = Date.now();
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
        if (startedAt >= progress.since) progress.copier += count;
      } catch (err) {
        // Fenced or failed for good: the transformer would exit and be restarted; here the test stops with the cause.
        if (producer.status === 'fenced' || producer.status === 'failed') throw err;
        errors.copier++;
        lastError.copier = (err as Error).message;
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
    if (Date.now() - started > timeoutMs)
      throw new Error(`${what}: not within ${timeoutMs} ms (last errors: ${JSON.stringify(lastError)})`);
    await sleep(100);
  }
  return Date.now() - started;
}

const SYNCED = [IN, OUT, '__consumer_offsets', '__transaction_state'];

interface Recovery {
  readonly fault: string;
  readonly detail: string;
  /** From the fault until sends started after it had acknowledged PROGRESS records. */
  readonly sink_ms: number;
  /** From the fault until fetches started after it had committed PROGRESS records. */
  readonly copier_ms: number;
}

async function fault(name: string, inject: () => Promise<string>): Promise<Recovery> {
  const at = Date.now();
  const detail = await inject();
  Object.assign(progress, { since: Date.now(), sink: 0, copier: 0 });
  const [sinkMs, copierMs] = await Promise.all([
    waitFor(`${name}: the sink`, () => progress.sink >= PROGRESS, RECOVERY_LIMIT_MS).then(() => Date.now() - at),
    waitFor(`${name}: the copier`, () => progress.copier >= PROGRESS, RECOVERY_LIMIT_MS).then(() => Date.now() - at),
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
  await createTopicsAndWait(
    admin,
    [IN, OUT].map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 3 })),
  );
  await kafkaCluster.waitInSync([IN, OUT], 60_000);
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
    const t0 = Date.now();
    await kafkaCluster.restart(node, log);
    const up = Date.now() - t0;
    await kafkaCluster.waitInSync(SYNCED);
    log(`node ${node} restarted in ${up} ms, in every ISR after ${Date.now() - t0} ms`);
  };

  recoveries.push(
    await fault('leader moves', async () => {
      const n = await kafkaCluster.moveAllLeaders([IN, OUT]);
      return `${n} partitions: replicas rotated, preferred leaders elected`;
    }),
  );

  const kills = [
    ['leader SIGKILL', busiestLeader],
    ['group coordinator SIGKILL', () => coordinatorOf('group', GROUP)],
    ['transaction coordinator SIGKILL', () => coordinatorOf('transaction', TXN_ID)],
  ] as const;
  for (const [i, [name, pick]] of kills.entries()) {
    const last = i === kills.length - 1;
    let node = 0;
    recoveries.push(
      await fault(name, async () => {
        node = await pick();
        await kafkaCluster.kill(node);
        return `node ${node} killed${last ? ' (the test ends on two brokers)' : ', restarted once both paths recovered'}`;
      }),
    );
    // Two brokers still meet min.insync.replicas=2; the next kill needs the third back in every ISR.
    if (!last) await restart(node);
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
