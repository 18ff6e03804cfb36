/**
 * read_committed through kafkajs, as reconcile and the kafkajs consumers read: a transaction that began before
 * another one but was aborted after it (what a coordinator failover leaves: one transaction open until its timeout
 * or its producer's next InitProducerId, another aborted at once) must stay invisible. The broker lists a fetch's
 * aborted transactions in the order they were aborted; kafkajs 2.2.4's own filter assumed first-offset order and
 * delivered the earlier transaction's records, which the failover test's reconcile counted as duplicate outputs
 * (their raw records were placed again by the transaction that redid them). @pep/contracts/kafkajs-read-committed
 * replaces that filter.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kafkajsReadCommittedFixed } from '@pep/contracts/kafkajs-read-committed';
import type { Producer } from 'kafkajs';
import { scanTopics } from '../src/reconcile/scan.ts';
import { createTopics, deleteTopics, runPrefix, testKafka } from './helpers.ts';

const kafka = testKafka('read-committed-test');
const admin = kafka.admin();
const topic = `${runPrefix('rc')}interleaved-aborts`;
const producers: Producer[] = [];

async function transactional(id: string): Promise<Producer> {
  const p = kafka.producer({ transactionalId: `${topic}-${id}`, idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  producers.push(p);
  return p;
}

before(async () => {
  await admin.connect();
  await createTopics(admin, [topic]);
  const [first, second, third] = [await transactional('a'), await transactional('b'), await transactional('c')];
  // offsets 0-1: T1 (open); 2: T2; 3: T2's ABORT marker; 4: T1's ABORT marker; 5: T3; 6: T3's COMMIT marker.
  const t1 = await first.transaction();
  await t1.send({ topic, messages: [{ value: 'T1 aborted, began first' }, { value: 'T1 aborted, second record' }] });
  const t2 = await second.transaction();
  await t2.send({ topic, messages: [{ value: 'T2 aborted, began second, aborted first' }] });
  await t2.abort();
  await t1.abort();
  const t3 = await third.transaction();
  await t3.send({ topic, messages: [{ value: 'T3 committed' }] });
  await t3.commit();
});

after(async () => {
  for (const p of producers) await p.disconnect();
  await deleteTopics(admin, [topic]);
  await admin.disconnect();
});

test('reconcile scan (kafkajs, read_committed): records of a transaction aborted after a later one stay invisible', async () => {
  assert.ok(kafkajsReadCommittedFixed(), 'the filter replaced kafkajs before kafkajs loaded');
  const seen: string[] = [];
  await scanTopics(
    kafka,
    [{ topic, partition: 0, low: 0n, high: 7n }],
    (_t, _p, m) => seen.push(`${m.offset}: ${m.value?.toString()}`),
    30_000,
  );
  assert.deepEqual(seen, ['5: T3 committed']);
});
