import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertNotFuture,
  dayRange,
  lastClosedPartition,
  PartitionError,
  parsePartition,
  partitionAt,
} from './partition.ts';

const day = { kind: 'day' } as const;
const win5 = { kind: 'window', minutes: 5 } as const;
const now = new Date('2026-12-05T10:07:30Z');

test('parses day and window partitions and refuses malformed ones', () => {
  const d = parsePartition('2026-02-28', day);
  assert.equal(d.end.toISOString(), '2026-03-01T00:00:00.000Z');
  assert.equal(parsePartition('2026-12-05T10:05Z', win5).end.toISOString(), '2026-12-05T10:10:00.000Z');
  for (const bad of ['2026-02-30', '2026-2-3', '20261205', '2026-12-05T10:05Z', '']) {
    assert.throws(() => parsePartition(bad, day), PartitionError, bad);
  }
  assert.throws(() => parsePartition('2026-12-05T10:07Z', win5), /does not start a 5-minute window/);
  assert.throws(() => parsePartition('2026-12-05', win5), /not a window partition/);
});

test('refuses a partition in the future, allows today and ended windows', () => {
  assertNotFuture(parsePartition('2026-12-05', day), day, now);
  assert.throws(() => assertNotFuture(parsePartition('2026-12-06', day), day, now), /in the future/);
  assertNotFuture(parsePartition('2026-12-05T10:00Z', win5), win5, now);
  assert.throws(() => assertNotFuture(parsePartition('2026-12-05T10:05Z', win5), win5, now), /has not ended/);
});

test('the partition a tick covers', () => {
  assert.equal(partitionAt(now, day).key, '2026-12-05');
  assert.equal(lastClosedPartition(now, day).key, '2026-12-04');
  assert.equal(lastClosedPartition(new Date('2026-12-05T10:05:00Z'), win5).key, '2026-12-05T10:00Z');
});

test('day ranges: inclusive, ordered, bounded; inverted and future ranges are errors', () => {
  assert.deepEqual(
    dayRange('2026-11-29', '2026-12-01', now).map((p) => p.key),
    ['2026-11-29', '2026-11-30', '2026-12-01'],
  );
  assert.throws(() => dayRange('2026-12-02', '2026-12-01', now), /--from 2026-12-02 is after --to 2026-12-01/);
  assert.throws(() => dayRange('2026-12-01', '2026-12-09', now), /in the future/);
  assert.throws(() => dayRange('2020-01-01', '2026-12-01', now), /at most 366/);
});
