import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { membershipInDoubt, packBatch, receivedAtMs, toMessages } from './transformer.ts';

const msg = (
  offset: string,
  value: string | null,
  headers: Record<string, string> = {},
  timestamp = '0',
): KafkaMessage =>
  ({
    offset,
    key: null,
    value: value === null ? null : Buffer.from(value),
    timestamp,
    attributes: 0,
    headers,
  }) as KafkaMessage;

test('packBatch lays messages back to back with provider and coordinates from the topic', () => {
  const b = packBatch('t-x.webhooks.adyen.notification', 2, [msg('10', 'ab'), msg('11', null), msg('12', 'cde')]);
  assert.equal(Buffer.from(b.data).toString(), 'abcde');
  assert.deepEqual([...b.offsets], [0, 2, 2]);
  assert.deepEqual([...b.lengths], [2, 0, 3]);
  assert.deepEqual([...b.providers], [2, 2, 2]);
  assert.deepEqual([...b.partitions], [2, 2, 2]);
  assert.deepEqual([...b.kafkaOffsets], [10, 11, 12]);
  assert.deepEqual(b.topics, ['t-x.webhooks.adyen.notification']);
  assert.deepEqual([...b.topicIndex], [0, 0, 0]);
});

test('packBatch refuses a topic that is not a raw provider topic', () => {
  assert.throws(() => packBatch('payments.normalized', 0, [msg('1', '{}')]), /not a raw topic/);
});

test('receivedAtMs prefers the edge header, falls back to the Kafka timestamp, else NaN', () => {
  assert.equal(
    receivedAtMs(msg('1', '', { 'received-at': '2026-11-26T13:31:47.123Z' }, '5')),
    Date.parse('2026-11-26T13:31:47.123Z'),
  );
  assert.equal(receivedAtMs(msg('1', '', { 'received-at': 'garbage' }, '1764160000000')), 1764160000000);
  assert.ok(Number.isNaN(receivedAtMs(msg('1', '', {}, '-1'))));
});

test('toMessages keys, values and source headers, numbering outputs per source message', () => {
  const data = Buffer.from('AABBB');
  const keys = Buffer.from('k1k2');
  const set = {
    data,
    offsets: Uint32Array.from([0, 2]),
    lengths: Uint32Array.from([2, 3]),
    keys,
    keyOffsets: Uint32Array.from([0, 2]),
    keyLengths: Uint32Array.from([2, 0]),
    sourceIndex: Uint32Array.from([0, 0]),
  };
  const source = {
    topic: 'webhooks.adyen.notification',
    partition: 1,
    messages: [msg('7', 'x', { 'request-id': 'r1', 'received-at': 'now', other: 'dropped' })],
  };
  const ordinal = { next: new Uint32Array(1), total: Uint32Array.from([2]) };
  const out = toMessages(set, source, ordinal);
  assert.equal(String(out[0]?.value), 'AA');
  assert.equal(String(out[1]?.value), 'BBB');
  assert.equal(String(out[0]?.key), 'k1');
  assert.equal(out[1]?.key, null);
  assert.deepEqual(out[0]?.headers, {
    'source-topic': 'webhooks.adyen.notification',
    'source-partition': '1',
    'source-offset': '7',
    'source-output': '0/2',
    'received-at': 'now',
    'request-id': 'r1',
  });
  assert.equal(out[1]?.headers?.['source-output'], '1/2');
});

test('membershipInDoubt: confirmed within half the session timeout commits, later or never does not', () => {
  assert.equal(membershipInDoubt(0, 30_000), false);
  assert.equal(membershipInDoubt(15_000, 30_000), false);
  assert.equal(membershipInDoubt(15_001, 30_000), true);
  // Never confirmed (no join seen yet): Date.now() - -Infinity.
  assert.equal(membershipInDoubt(Number.POSITIVE_INFINITY, 30_000), true);
  assert.equal(membershipInDoubt(Number.NaN, 30_000), true);
});
