/**
 * Unit tests of TransactionalProducer's control flow against a scripted stand-in for KafkaCluster (the paths a
 * healthy single broker rarely produces; the real-broker behaviour is in test/transaction.test.ts): retries of
 * CONCURRENT_TRANSACTIONS and NOT_COORDINATOR, a moved partition leader resent with the same sequence numbers,
 * fencing without an abort, a lost EndTxn answer reported as an unknown outcome, sequence numbers per partition, and
 * the refusal to run before init().
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaCluster } from './cluster.ts';
import { ProducerRotation, TransactionalProducer, TransactionError } from './transaction.ts';

type Api = 'init' | 'addPartitions' | 'addOffsets' | 'endTxn' | 'txnOffsetCommit' | 'produce';
const API_BY_KEY: Record<number, Api> = {
  22: 'init',
  24: 'addPartitions',
  25: 'addOffsets',
  26: 'endTxn',
  28: 'txnOffsetCommit',
  0: 'produce',
};

interface Sent {
  readonly api: Api;
  readonly node: number;
  readonly request: Buffer;
}

/** Response bodies (after the correlation id) per the protocol spec, for the versions the producer sends. */
const body = {
  init: (errorCode = 0, producerId = 1000n, epoch = 0) => {
    const b = Buffer.alloc(16);
    b.writeInt16BE(errorCode, 4);
    b.writeBigInt64BE(producerId, 6);
    b.writeInt16BE(epoch, 14);
    return b;
  },
  errorCode: (errorCode = 0) => {
    const b = Buffer.alloc(6);
    b.writeInt16BE(errorCode, 4);
    return b;
  },
  partitions: (topic: string, parts: [number, number][], trailer: 'produce' | 'add') => {
    const name = Buffer.from(topic);
    const per = trailer === 'produce' ? 4 + 2 + 24 : 4 + 2;
    const b = Buffer.alloc((trailer === 'add' ? 4 : 0) + 4 + 2 + name.length + 4 + parts.length * per + 4);
    let at = 0;
    if (trailer === 'add') at = b.writeInt32BE(0, at); // throttle first
    at = b.writeInt32BE(1, at);
    at = b.writeInt16BE(name.length, at);
    at += name.copy(b, at);
    at = b.writeInt32BE(parts.length, at);
    for (const [p, err] of parts) {
      at = b.writeInt32BE(p, at);
      at = b.writeInt16BE(err, at);
      if (trailer === 'produce') at += 24; // base offset, log append time, log start offset
    }
    return b; // produce: throttle last (zeros)
  },
  txnOffsetCommit: (topic: string, parts: [number, number][]) => {
    const name = Buffer.from(topic);
    const bytes = [0, 0, 0, 0, 0, 2, name.length + 1, ...name, parts.length + 1];
    for (const [p, err] of parts) bytes.push(0, 0, 0, p, err >> 8, err & 0xff, 0);
    bytes.push(0, 0);
    return Buffer.from(bytes);
  },
};

/** A KafkaCluster stand-in: one broker (node 1), a handler per request deciding each answer. */
function fakeCluster(handler: (s: Sent, n: number) => Buffer | Error) {
  const sent: Sent[] = [];
  const calls = { forgotten: 0, stale: 0 };
  let leader = 1;
  const cluster = {
    clientId: Buffer.from('t'),
    coordinator: async () => 1,
    forgetCoordinator: () => {
      calls.forgotten++;
    },
    anyNode: async () => 1,
    checkApis: async () => {},
    cachedLeader: () => leader,
    leaderFor: async () => leader,
    markStale: () => {
      calls.stale++;
      leader = 2; // the partition moved
    },
    send: async <T>(node: number, build: (id: number) => Buffer | readonly Buffer[], decode: (b: Buffer) => T) => {
      const built = build(7);
      const request = Buffer.isBuffer(built) ? built : Buffer.concat(built);
      const api = API_BY_KEY[request.readInt16BE(4)] as Api;
      const s = { api, node, request };
      sent.push(s);
      const res = handler(s, sent.filter((x) => x.api === api).length);
      if (res instanceof Error) throw res;
      return decode(res);
    },
  };
  return { cluster: cluster as unknown as KafkaCluster, sent, calls };
}

const TOPIC = 'out';
const section = Buffer.from([16, 0, 0, 0, 2, 0x61, 2, 0x62, 0]); // one record: key 'a', value 'b', no headers
const batch = (partition: number) => ({
  topic: TOPIC,
  partition,
  records: section,
  count: 1,
  firstTimestampMs: 1,
  maxTimestampMs: 1,
});
const offsets = {
  groupId: 'g',
  generationId: 3,
  memberId: 'm',
  groupInstanceId: null,
  partitions: [{ topic: 'in', partition: 0, offset: 10n }],
};

/** The happy answer to every request of a transaction writing partitions `parts` of TOPIC. */
function ok(s: Sent, parts: number[]): Buffer {
  switch (s.api) {
    case 'init':
      return body.init();
    case 'addPartitions':
      return body.partitions(
        TOPIC,
        parts.map((p) => [p, 0]),
        'add',
      );
    case 'addOffsets':
    case 'endTxn':
      return body.errorCode(0);
    case 'txnOffsetCommit':
      return body.txnOffsetCommit('in', [[0, 0]]);
    case 'produce':
      return body.partitions(
        TOPIC,
        parts.map((p) => [p, 0]),
        'produce',
      );
  }
}

const fast = { maxAttempts: 5, initialBackoffMs: 1, maxBackoffMs: 2 };
const endTxnCommitFlag = (s: Sent) => s.request[s.request.length - 1];
/** Base sequence of the (single) batch in a Produce request. */
const baseSequence = (s: Sent) => s.request.readInt32BE(s.request.length - section.length - 8);

describe('TransactionalProducer control flow (scripted cluster)', () => {
  it('refuses to run before init()', async () => {
    const { cluster } = fakeCluster((s) => ok(s, [0]));
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx' });
    await assert.rejects(p.commit({ batches: [batch(0)] }), /needs init/);
  });

  it('commits: both registrations, produce and offsets, then EndTxn(commit); sequences advance per partition', async () => {
    const { cluster, sent } = fakeCluster((s) => ok(s, [0]));
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await p.init();
    const res = await p.commit({ batches: [batch(0)], offsets });
    assert.equal(res.records, 1);
    assert.deepEqual(
      sent.map((s) => s.api),
      ['init', 'addPartitions', 'addOffsets', 'produce', 'txnOffsetCommit', 'endTxn'],
    );
    assert.equal(endTxnCommitFlag(sent.at(-1) as Sent), 1);
    await p.commit({ batches: [batch(0)] });
    const produces = sent.filter((s) => s.api === 'produce');
    assert.deepEqual(produces.map(baseSequence), [0, 1]);
  });

  it('retries CONCURRENT_TRANSACTIONS and NOT_COORDINATOR (forgetting the coordinator), then succeeds', async () => {
    const { cluster, sent, calls } = fakeCluster((s, n) => {
      if (s.api === 'addPartitions' && n <= 2) return body.partitions(TOPIC, [[0, 51]], 'add');
      if (s.api === 'addOffsets' && n === 1) return body.errorCode(16);
      return ok(s, [0]);
    });
    const retried: string[] = [];
    const p = new TransactionalProducer({
      cluster,
      transactionalId: 'tx',
      retry: fast,
      onRetry: (step, reason) => retried.push(`${step}:${reason}`),
    });
    await p.init();
    const res = await p.commit({ batches: [batch(0)], offsets });
    assert.equal(res.retries, 3);
    assert.equal(calls.forgotten, 1);
    assert.ok(retried.includes('add_partitions:CONCURRENT_TRANSACTIONS'), retried.join());
    assert.ok(retried.includes('add_offsets:NOT_COORDINATOR'), retried.join());
    assert.equal(sent.filter((s) => s.api === 'endTxn').length, 1);
  });

  it('init() retries NOT_COORDINATOR with a new coordinator lookup and CONCURRENT_TRANSACTIONS', async () => {
    const { cluster, sent, calls } = fakeCluster((s, n) => {
      if (s.api === 'init' && n === 1) return body.init(16);
      if (s.api === 'init' && n === 2) return body.init(51);
      return ok(s, [0]);
    });
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await p.init();
    assert.equal(sent.filter((s) => s.api === 'init').length, 3);
    assert.equal(calls.forgotten, 1);
    assert.equal(p.status, 'ready');
  });

  it('init() gives up on a fatal error and the producer stays unusable', async () => {
    const { cluster } = fakeCluster((s) => (s.api === 'init' ? body.init(53) : ok(s, [0])));
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await assert.rejects(p.init(), (e: unknown) => {
      assert.ok(e instanceof TransactionError && e.step === 'init' && e.code === 53 && !e.retriable);
      assert.match(e.message, /TRANSACTIONAL_ID_AUTHORIZATION_FAILED/);
      return true;
    });
    assert.equal(p.status, 'failed');
  });

  it('resends a batch to the new leader with the same sequence number after NOT_LEADER_OR_FOLLOWER', async () => {
    const { cluster, sent, calls } = fakeCluster((s, n) => {
      if (s.api === 'produce' && n === 1) return body.partitions(TOPIC, [[0, 6]], 'produce');
      return ok(s, [0]);
    });
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await p.init();
    await p.commit({ batches: [batch(0)] });
    const produces = sent.filter((s) => s.api === 'produce');
    assert.equal(produces.length, 2);
    assert.equal(calls.stale, 1);
    assert.deepEqual(
      produces.map((s) => s.node),
      [1, 2],
    );
    assert.deepEqual(produces.map(baseSequence), [0, 0]);
  });

  it('a fenced producer does not abort and becomes fenced for good', async () => {
    const { cluster, sent } = fakeCluster((s) =>
      s.api === 'produce' ? body.partitions(TOPIC, [[0, 90]], 'produce') : ok(s, [0]),
    );
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await p.init();
    const err = await p.commit({ batches: [batch(0)], offsets }).then(
      () => assert.fail('must not succeed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransactionError);
    assert.equal(err.step, 'produce');
    assert.equal(err.code, 90);
    assert.ok(err.fenced && !err.retriable && !err.aborted);
    assert.match(err.message, /PRODUCER_FENCED/);
    assert.equal(sent.filter((s) => s.api === 'endTxn').length, 0);
    assert.equal(p.status, 'fenced');
    await assert.rejects(p.init(), /fenced/);
  });

  it('a failed offset commit aborts the transaction and asks for init()', async () => {
    const { cluster, sent } = fakeCluster((s) =>
      s.api === 'txnOffsetCommit' ? body.txnOffsetCommit('in', [[0, 25]]) : ok(s, [0]),
    );
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await p.init();
    const err = await p.commit({ batches: [batch(0)], offsets }).then(
      () => assert.fail('must not succeed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransactionError);
    assert.equal(err.step, 'txn_offset_commit');
    assert.ok(err.groupFenced && err.retriable && err.aborted, err.message);
    assert.match(err.message, /UNKNOWN_MEMBER_ID/);
    const end = sent.filter((s) => s.api === 'endTxn');
    assert.equal(end.length, 1);
    assert.equal(endTxnCommitFlag(end[0] as Sent), 0); // abort
    assert.equal(p.status, 'needs_init');
  });

  it('a lost EndTxn(commit) answer is an unknown outcome: no abort, no success', async () => {
    const { cluster, sent } = fakeCluster((s) =>
      s.api === 'endTxn' ? new Error('Kafka 127.0.0.1:9092 closed the connection') : ok(s, [0]),
    );
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', retry: fast });
    await p.init();
    const err = await p.commit({ batches: [batch(0)] }).then(
      () => assert.fail('must not succeed'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransactionError);
    assert.equal(err.step, 'end_txn');
    assert.ok(err.flags.outcomeUnknown && !err.aborted && err.retriable, err.message);
    assert.equal(sent.filter((s) => s.api === 'endTxn').length, fast.maxAttempts); // all commit attempts, no abort
    assert.equal(p.status, 'needs_init');
  });

  it('refuses two batches for one partition, more batches than allowed, and commit() in idempotent mode', async () => {
    const { cluster } = fakeCluster((s) => ok(s, [0]));
    const p = new TransactionalProducer({ cluster, transactionalId: 'tx', maxBatches: 1 });
    await p.init();
    await assert.rejects(p.commit({ batches: [batch(0), batch(0)] }), /batches in one call|two batches/);
    await assert.rejects(p.commit({ batches: [batch(0), batch(1)] }), /2 batches in one call/);
    const idem = new TransactionalProducer({ cluster, transactionalId: null });
    await idem.init();
    await assert.rejects(idem.commit({ batches: [] }), /transactional id/);
    await idem.send([batch(0)]);
  });

  it('ProducerRotation takes turns between its transactional ids', async () => {
    const { cluster, sent } = fakeCluster((s) => ok(s, [0]));
    const rotation = new ProducerRotation({ cluster, transactionalIds: ['tx-a', 'tx-b'], retry: fast });
    assert.equal(rotation.status, 'new');
    await rotation.init();
    assert.equal(rotation.status, 'ready');
    for (let i = 0; i < 3; i++) await rotation.commit({ batches: [batch(0)] });
    // transactional id: after size(4), api key, version, correlation id (8), client id 't' (3)
    const tidOf = (s: Sent) => s.request.toString('utf8', 17, 17 + s.request.readInt16BE(15));
    assert.deepEqual(sent.filter((s) => s.api === 'addPartitions').map(tidOf), ['tx-a', 'tx-b', 'tx-a']);
    assert.throws(() => new ProducerRotation({ cluster, transactionalIds: ['x', 'x'] }), /differ/);
  });
});
