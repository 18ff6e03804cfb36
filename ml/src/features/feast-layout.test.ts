import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeNumber,
  decodeTimestampUs,
  encodeDouble,
  encodeTimestampUs,
  murmur3_32,
  redisKey,
} from './feast-layout.ts';

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
  for (const us of [0, 1, 999_999, 1_000_000, 1_700_000_000_123_000, 1_700_000_000_123_457, -1_500_000, -1])
    assert.equal(decodeTimestampUs(encodeTimestampUs(us)), us);
  // Timestamp{seconds: 1, nanos: 5000} as protobuf bytes: 1 s + 5 µs.
  assert.equal(decodeTimestampUs(Buffer.from([0x08, 0x01, 0x10, 0x88, 0x27])), 1_000_005);
  // In place inside a larger buffer (serving's reply), nanos first, and a field a Timestamp does not have.
  assert.equal(decodeTimestampUs(Buffer.from([0xff, 0x10, 0x88, 0x27, 0x08, 0x01, 0xff]), 1, 6), 1_000_005);
  assert.throws(() => decodeTimestampUs(Buffer.from([0x18, 0x01])), /unexpected Timestamp field tag 24/);
  assert.throws(() => decodeTimestampUs(Buffer.from([0x08, 0x81])), /truncated varint/);
  assert.throws(() => encodeTimestampUs(1.5), /not an integer/);
  assert.equal(decodeNumber(Buffer.alloc(0)), null);
  // int64_val -3 (ten-byte varint: the BigInt path) and float_val 0.5.
  assert.equal(decodeNumber(Buffer.from([0x20, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), -3);
  assert.equal(decodeNumber(Buffer.from([0x35, 0, 0, 0, 0x3f])), 0.5);
  assert.throws(() => decodeNumber(Buffer.from([0x12, 0x01, 0x61])), /unsupported feast Value field 2/);
});
