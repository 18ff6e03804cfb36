/**
 * TransactionalProducer against the real broker, checked with an independent client (kafkajs): a committed
 * transaction is read exactly once by read_committed readers with keys, values and headers intact and its offsets are
 * committed to the group; an aborted transaction (a stale group generation) and a transaction left open by a killed
 * process are invisible and commit no offsets; a second producer with the same transactional id fences the first;
 * back-to-back transactions ride out CONCURRENT_TRANSACTIONS; oversized batches are split; idempotent mode.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KafkaCluster } from '../src/cluster.ts';
import { ProducerRotation, TransactionalProducer, TransactionError } from '../src/transaction.ts';
import {
  BROKERS,
  committedOffsets,
  createTopics,
  deleteCreatedTopics,
  joinAsOnlyMember,
  readTopics,
  recordsSection,
  type TestRecord,
  unique,
} from './helpers.ts';

const records = (prefix: string, n: number): TestRecord[] =>
  Array.from({ length: n }, (_, i) => ({
    key: `${prefix}-k${i}`,
    value: JSON.stringify({ n: i, prefix, pad: 'x'.repeat(i % 50) }),
    headers: { 'source-topic': 'webhooks.stripe.payment', 'source-offset': String(i), 'request-id': `req-${i}` },
  }));

describe('TransactionalProducer (real broker)', () => {
  const out = unique('kw-txn-out');
  const input = unique('kw-txn-in');
  let cluster: KafkaCluster;

  before(async () => {
    await createTopics([
      { topic: out, partitions: 3 },
      { topic: input, partitions: 1 },
    ]);
    cluster = new KafkaCluster({ brokers: BROKERS, clientId: 'kafka-wire-test', requestTimeoutMs: 15_000 });
  });
  after(async () => {
    cluster.close();
    await deleteCreatedTopics();
  });

  it('commits records and offsets together; read_committed reads each record once, intact', async () => {
    const groupId = unique('kw-txn-group');
    const member = await joinAsOnlyMember(cluster, groupId, [input]);
    const producer = new TransactionalProducer({ cluster, transactionalId: unique('kw-tid') });
    await producer.init();
    const p0 = records('a', 40);
    const p2 = records('b', 25);
    const res = await producer.commit({
      batches: [
        { topic: out, partition: 0, ...recordsSection(p0) },
        { topic: out, partition: 2, ...recordsSection(p2) },
      ],
      offsets: { groupId, ...member, groupInstanceId: null, partitions: [{ topic: input, partition: 0, offset: 65n }] },
    });
    assert.equal(res.records, 65);
    assert.ok(res.timings.totalMs > 0 && res.timings.endMs > 0 && res.timings.offsetsMs > 0);
    // A second transaction right away: the coordinator may still be writing the first one's markers
    // (CONCURRENT_TRANSACTIONS), which the producer retries.
    const again = records('c', 5);
    const res2 = await producer.commit({
      batches: [{ topic: out, partition: 1, ...recordsSection(again) }],
      offsets: { groupId, ...member, groupInstanceId: null, partitions: [{ topic: input, partition: 0, offset: 70n }] },
    });
    assert.equal(res2.records, 5);

    const read = await readTopics([out], (r) => r.length >= 70);
    assert.equal(read.length, 70, 'every record exactly once');
    const byPartition = (p: number) => read.filter((r) => r.partition === p);
    assert.deepEqual(
      byPartition(0).map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
      p0.map((r) => ({ key: r.key, value: r.value, headers: r.headers })),
    );
    assert.deepEqual(
      byPartition(2).map((r) => r.key),
      p2.map((r) => r.key),
    );
    assert.deepEqual(
      byPartition(1).map((r) => r.value),
      again.map((r) => r.value),
    );
    const offsets = await committedOffsets(groupId, [input]);
    assert.equal(offsets.get(`${input}/0`), '70');
    producer.close();
  });

  it('rejects a commit from a stale generation, aborts, and nothing becomes visible', async () => {
    const topic = unique('kw-txn-stale');
    await createTopics([{ topic, partitions: 1 }]);
    const groupId = unique('kw-txn-group');
    const old = await joinAsOnlyMember(cluster, groupId, [input]);
    const current = await joinAsOnlyMember(cluster, groupId, [input], old.memberId); // the next generation
    assert.ok(current.generationId > old.generationId);

    const producer = new TransactionalProducer({ cluster, transactionalId: unique('kw-tid') });
    await producer.init();
    const err = await producer
      .commit({
        batches: [{ topic, partition: 0, ...recordsSection(records('zombie', 10)) }],
        offsets: { groupId, ...old, groupInstanceId: null, partitions: [{ topic: input, partition: 0, offset: 10n }] },
      })
      .then(
        () => assert.fail('a commit with a stale generation must not succeed'),
        (e: unknown) => e,
      );
    assert.ok(err instanceof TransactionError, String(err));
    assert.equal(err.step, 'txn_offset_commit');
    assert.equal(err.code, 22, err.message); // ILLEGAL_GENERATION
    assert.match(err.message, /ILLEGAL_GENERATION/);
    assert.ok(err.groupFenced && err.aborted && err.retriable && !err.fenced);
    assert.equal(producer.status, 'needs_init');
    await assert.rejects(producer.commit({ batches: [] }), /needs init/);

    // The same producer after init(), with the current generation: only this transaction is visible.
    await producer.init();
    const good = records('good', 3);
    await producer.commit({
      batches: [{ topic, partition: 0, ...recordsSection(good) }],
      offsets: { groupId, ...current, groupInstanceId: null, partitions: [{ topic: input, partition: 0, offset: 3n }] },
    });
    const read = await readTopics([topic], (r) => r.some((x) => x.key === 'good-k2'));
    assert.deepEqual(
      read.map((r) => r.key),
      good.map((r) => r.key),
    );
    assert.equal((await committedOffsets(groupId, [input])).get(`${input}/0`), '3');
  });

  it('a second producer with the same transactional id fences the first', async () => {
    const topic = unique('kw-txn-fence');
    await createTopics([{ topic, partitions: 1 }]);
    const tid = unique('kw-tid');
    const first = new TransactionalProducer({ cluster, transactionalId: tid });
    await first.init();
    const second = new TransactionalProducer({ cluster, transactionalId: tid });
    await second.init();
    assert.ok(
      second.identity.producerEpoch > first.identity.producerEpoch ||
        second.identity.producerId !== first.identity.producerId,
    );
    const err = await first.commit({ batches: [{ topic, partition: 0, ...recordsSection(records('old', 2)) }] }).then(
      () => assert.fail('a fenced producer must not commit'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransactionError, String(err));
    assert.ok(err.fenced && !err.retriable, err.message);
    assert.match(err.message, /PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/);
    assert.equal(first.status, 'fenced');
    await assert.rejects(first.init(), /fenced/);
    await second.commit({ batches: [{ topic, partition: 0, ...recordsSection(records('new', 2)) }] });
    const read = await readTopics([topic], (r) => r.length >= 2);
    assert.deepEqual(
      read.map((r) => r.key),
      ['new-k0', 'new-k1'],
    );
  });

  it('a transaction left open by a killed process is aborted by the next init() and stays invisible', async () => {
    const topic = unique('kw-txn-killed');
    await createTopics([{ topic, partitions: 1 }]);
    const tid = unique('kw-tid');
    const groupId = unique('kw-txn-group');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./open-transaction.ts', import.meta.url)), tid, topic, groupId, input],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const ready = await new Promise<string>((resolve, reject) => {
      let outText = '';
      child.stdout.on('data', (d: Buffer) => {
        outText += d.toString();
        if (outText.includes('\n')) resolve(outText.trim());
      });
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before producing`)));
    });
    assert.equal(ready, 'open');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));

    const next = new TransactionalProducer({ cluster, transactionalId: tid });
    await next.init(); // fences the dead producer and aborts its open transaction
    await next.commit({ batches: [{ topic, partition: 0, ...recordsSection(records('after', 2)) }] });
    const read = await readTopics([topic], (r) => r.some((x) => x.key === 'after-k1'));
    assert.deepEqual(
      read.map((r) => r.key),
      ['after-k0', 'after-k1'],
    );
    const all = await readTopics([topic], (r) => r.length >= 7, { readUncommitted: true, timeoutMs: 5_000 });
    assert.equal(all.filter((r) => r.key?.startsWith('killed-')).length, 5, 'the open transaction did write');
    assert.equal((await committedOffsets(groupId, [input])).get(`${input}/0`), '-1');
  });

  it('splits a batch larger than maxBatchBytes and requests larger than maxRequestBytes, keeping order', async () => {
    const topic = unique('kw-txn-split');
    await createTopics([{ topic, partitions: 2 }]);
    const producer = new TransactionalProducer({
      cluster,
      transactionalId: unique('kw-tid'),
      maxBatchBytes: 8 * 1024,
      maxRequestBytes: 16 * 1024,
    });
    await producer.init();
    const big = Array.from({ length: 200 }, (_, i) => ({ key: `s-${i}`, value: `${i}:${'v'.repeat(300)}` }));
    const res = await producer.commit({
      batches: [
        { topic, partition: 0, ...recordsSection(big) },
        { topic, partition: 1, ...recordsSection(big.slice(0, 30)) },
      ],
    });
    assert.ok(res.produceRequests >= 4, `${res.produceRequests} requests`);
    const read = await readTopics([topic], (r) => r.length >= 230);
    assert.equal(read.length, 230);
    assert.deepEqual(
      read.filter((r) => r.partition === 0).map((r) => r.value),
      big.map((r) => r.value),
    );
  });

  it('a rotation of two transactional ids commits back-to-back transactions, each visible once', async () => {
    const topic = unique('kw-txn-rotation');
    await createTopics([{ topic, partitions: 1 }]);
    const rotation = new ProducerRotation({ cluster, transactionalIds: [unique('kw-tid'), unique('kw-tid')] });
    await rotation.init();
    const all: TestRecord[] = [];
    for (let t = 0; t < 6; t++) {
      const recs = records(`rot${t}`, 4);
      all.push(...recs);
      await rotation.commit({ batches: [{ topic, partition: 0, ...recordsSection(recs) }] });
    }
    const read = await readTopics([topic], (r) => r.length >= all.length);
    assert.deepEqual(
      read.map((r) => r.key),
      all.map((r) => r.key),
    );
    rotation.close();
  });

  it('idempotent mode produces without a transaction', async () => {
    const topic = unique('kw-idem');
    await createTopics([{ topic, partitions: 1 }]);
    const producer = new TransactionalProducer({ cluster, transactionalId: null });
    await producer.init();
    await assert.rejects(producer.commit({ batches: [] }), /transactional id/);
    const first = records('i1', 3);
    const second = records('i2', 4);
    await producer.send([{ topic, partition: 0, ...recordsSection(first) }]);
    await producer.send([{ topic, partition: 0, ...recordsSection(second) }]);
    const read = await readTopics([topic], (r) => r.length >= 7);
    assert.deepEqual(
      read.map((r) => r.key),
      [...first, ...second].map((r) => r.key),
    );
  });
});
