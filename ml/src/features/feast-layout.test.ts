import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeNumber, decodeTimestamp, encodeDouble, encodeTimestamp, murmur3_32, redisKey } from './feast-layout.ts';

test('murmur3_32 matches the reference vectors (seed 0 and others)', () => {
  assert.equal(murmur3_32(Buffer.from('')), 0);
  assert.equal(murmur3_32(Buffer.from(''), 1), 0x514e28b7);
  assert.equal(murmur3_32(Buffer.from('hello')), 0x248bfa47);
  assert.equal(murmur3_32(Buffer.from('The quick brown fox jumps over the lazy dog')), 0x2e4ff723);
});

test('entity keys are Feast v3: count, typed name, typed value, then the project', () => {
  const k = redisKey('customer_id', 'c1', 'pep');
  assert.equal(k.toString('hex'), '01000000020000000b000000637573746f6d65725f6964020000000200000063317065' + '70');
});

test('values and timestamps round-trip, and a non-number value is an error, not a zero', () => {
  for (const x of [0, -1, 1.5, 1e300, 123456.789]) assert.equal(decodeNumber(encodeDouble(x)), x);
  for (const ms of [0, 1, 999, 1_700_000_000_123]) assert.equal(decodeTimestamp(encodeTimestamp(ms)), ms);
  assert.equal(decodeNumber(Buffer.alloc(0)), null);
  assert.throws(() => decodeNumber(Buffer.from([0x12, 0x01, 0x61])), /unsupported feast Value field 2/);
});
