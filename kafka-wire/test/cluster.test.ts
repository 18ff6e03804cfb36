/**
 * KafkaCluster against the real broker: bootstrap, partition counts and leaders of a fresh topic, group and
 * transaction coordinators, an unknown topic reported by its Kafka error name, separate lanes, and a broken
 * connection replaced on the next request.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KafkaCluster } from '../src/cluster.ts';
import { KafkaProtocolError } from '../src/protocol.ts';
import { BROKERS, createTopics, deleteCreatedTopics, unique } from './helpers.ts';

describe('KafkaCluster (real broker)', () => {
  const topic = unique('kw-cluster');
  let cluster: KafkaCluster;

  before(async () => {
    await createTopics([{ topic, partitions: 3 }]);
    cluster = new KafkaCluster({ brokers: BROKERS, clientId: 'kafka-wire-test', requestTimeoutMs: 10_000 });
  });
  after(async () => {
    cluster.close();
    await deleteCreatedTopics();
  });

  it('bootstraps the broker list', async () => {
    await cluster.connect();
    assert.ok(cluster.brokers.length >= 1);
    for (const b of cluster.brokers) assert.ok(b.nodeId >= 0 && b.port > 0, JSON.stringify(b));
  });

  it('knows partition counts and leaders of a topic', async () => {
    assert.equal(await cluster.partitionCount(topic), 3);
    const ids = new Set(cluster.brokers.map((b) => b.nodeId));
    for (let p = 0; p < 3; p++) {
      const leader = await cluster.leaderFor(topic, p);
      assert.ok(ids.has(leader), `leader ${leader} of partition ${p} is a known broker`);
      assert.equal(cluster.cachedLeader(topic, p), leader);
    }
    await assert.rejects(cluster.leaderFor(topic, 3), RangeError);
    cluster.markStale(topic);
    assert.equal(cluster.cachedLeader(topic, 0), undefined);
    assert.ok(ids.has(await cluster.leaderFor(topic, 0)));
  });

  it('reports an unknown topic as UNKNOWN_TOPIC_OR_PARTITION', async () => {
    const missing = unique('kw-missing');
    await assert.rejects(cluster.partitionCount(missing), (err: unknown) => {
      assert.ok(err instanceof KafkaProtocolError);
      assert.equal(err.code, 3);
      assert.match(err.message, /UNKNOWN_TOPIC_OR_PARTITION/);
      return true;
    });
  });

  it('finds group and transaction coordinators', async () => {
    const ids = new Set(cluster.brokers.map((b) => b.nodeId));
    const group = await cluster.coordinator('group', unique('kw-group'));
    const txn = await cluster.coordinator('transaction', unique('kw-txn'));
    assert.ok(ids.has(group));
    assert.ok(ids.has(txn));
    // cached: the same answer without a lookup, and a new lookup after forgetting it
    const key = unique('kw-txn');
    const first = await cluster.coordinator('transaction', key);
    assert.equal(await cluster.coordinator('transaction', key), first);
    cluster.forgetCoordinator('transaction', key);
    assert.equal(await cluster.coordinator('transaction', key), first);
  });

  it('keeps lanes on separate connections and replaces a failed one', async () => {
    const node = await cluster.leaderFor(topic, 0);
    const a = await cluster.connection(node);
    const b = await cluster.connection(node, 'fetch');
    assert.notEqual(a, b);
    assert.equal(await cluster.connection(node), a);
    a.close(); // as after a socket error
    const c = await cluster.connection(node);
    assert.notEqual(c, a);
    assert.ok(c.usable);
    assert.equal(await cluster.partitionCount(topic), 3);
  });

  it('says which brokers it tried when none answers', async () => {
    const dead = new KafkaCluster({
      brokers: ['127.0.0.1:1'],
      clientId: 'kafka-wire-test',
      connectTimeoutMs: 500,
      retry: { maxAttempts: 2, initialBackoffMs: 1, maxBackoffMs: 2 },
    });
    try {
      await assert.rejects(dead.connect(), /no Kafka broker reachable \(127\.0\.0\.1:1: /);
    } finally {
      dead.close();
    }
  });
});
