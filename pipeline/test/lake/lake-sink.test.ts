/**
 * The lake sink, exactly once across SIGKILL: the sink runs as a child process over private topics, a private
 * catalog and a private warehouse; it is killed right after writing its first data files (before the commit) and,
 * in a second run, right after its first table commit (before the consumer-group commit). After each crash a clean
 * run finishes the stream. Every record is then exactly one row (no missing, no duplicate offset), the table's
 * cursors equal the topics' end offsets, and `orphans` removes the files the first crash left uncommitted.
 * Replays of a committed range (group reset, new group, two sinks at once) are in replay.test.ts. Needs
 * `npm run stack:up` (Kafka, PostgreSQL) and the lake addon.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { LakeWriter } from '@pep/lakehouse/writer';
import { createTopics, deleteTopics, produce, runPrefix, testKafka, waitFor } from '../helpers.ts';
import { removeSinkEnv, sinkEnv, startSink as start, tableStats } from './sink-harness.ts';

const prefix = runPrefix('lake');
const normalized = `${prefix}payments.normalized`;
const raw = `${prefix}webhooks.stripe.charge`;
const group = `${prefix}lake-sink`;
const sink = sinkEnv(prefix, [normalized, raw], group);
const cfg = sink.cfg;
const startSink = (extra: Record<string, string> = {}) => start(sink, extra);
const tableRows = (table: string, sumOf?: string) => tableStats(cfg, table, sumOf);
const kafka = testKafka('lake-sink-test');
const admin = kafka.admin();
const N = 600;

function event(i: number) {
  return {
    key: `stripe:evt_${i}`,
    value: JSON.stringify({
      event_id: `stripe:evt_${i}`,
      provider: 'stripe',
      provider_event_id: `evt_${i}`,
      event_type: 'payment.succeeded',
      amount_minor: 1000 + i,
      currency: 'USD',
      received_at: new Date(Date.UTC(2026, 10, 25) + i * 1000).toISOString(),
      schema_version: 1,
    }),
    headers: { 'source-topic': 'webhooks.stripe.charge', 'source-partition': '0', 'source-offset': String(i) },
  };
}

const expectedSum = Array.from({ length: N }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);

before(async () => {
  await admin.connect();
  await createTopics(admin, [normalized], 3);
  await createTopics(admin, [raw], 1);
  await produce(
    kafka,
    normalized,
    Array.from({ length: N }, (_, i) => event(i)),
  );
  await produce(
    kafka,
    raw,
    Array.from({ length: 50 }, (_, i) => ({
      key: `ch_${i}`,
      value: `{"id":"evt_${i}"}`,
      headers: { provider: 'stripe' },
    })),
  );
});

after(async () => {
  await deleteTopics(admin, [normalized, raw]);
  await admin.deleteGroups([group]).catch(() => undefined);
  await admin.disconnect();
  await removeSinkEnv(sink);
});

describe('lake sink', () => {
  it('loses and duplicates nothing when killed between file write and commit, and after commit before the group commit', async () => {
    // 1. SIGKILL right after the first data files are written, before their commit.
    const crash1 = startSink({ LAKE_SINK_CRASH_AT: 'write:1' });
    assert.equal(await crash1.exited, -1, 'the sink was killed');
    const afterCrash1 = await tableRows(LAKE_TABLES.payment_events.qualifiedName);
    assert.equal(afterCrash1.n, 0, 'nothing was committed by the killed writer');

    // 2. SIGKILL right after the first commit (the group commit never happens).
    const crash2 = startSink({ LAKE_SINK_CRASH_AT: 'commit:1' });
    assert.equal(await crash2.exited, -1);
    const afterCrash2 = await tableRows(LAKE_TABLES.payment_events.qualifiedName);
    assert.ok(afterCrash2.n > 0, 'the first commit is in the table');
    assert.equal(afterCrash2.n, afterCrash2.distinct);

    // 3. A clean run finishes the stream from the table's cursors.
    const clean = startSink();
    try {
      await waitFor(
        'every record in the lake',
        async () => {
          const [p, w] = await Promise.all([
            tableRows(LAKE_TABLES.payment_events.qualifiedName),
            tableRows(LAKE_TABLES.webhook_events.qualifiedName, 'kafka_offset'),
          ]);
          return p.n >= N && w.n >= 50;
        },
        180_000,
        500,
      );
    } finally {
      // A graceful stop flushes and commits whatever the sink still holds: a duplicate would be in the table now.
      clean.child.kill('SIGTERM');
    }
    assert.equal(await clean.exited, 0, 'the sink stops cleanly on SIGTERM');
    assert.deepEqual(await tableRows(LAKE_TABLES.payment_events.qualifiedName), {
      n: N,
      distinct: N,
      sum: expectedSum,
    });
    // 50 raw records at offsets 0..49: each exactly once.
    assert.deepEqual(await tableRows(LAKE_TABLES.webhook_events.qualifiedName, 'kafka_offset'), {
      n: 50,
      distinct: 50,
      sum: (49 * 50) / 2,
    });

    // The cursors in the table are the topics' end offsets.
    const writer = await LakeWriter.open(cfg);
    const info = await writer.tableInfo(LAKE_TABLES.payment_events.qualifiedName, 'pep.kafka.offsets');
    const ends = await admin.fetchTopicOffsets(normalized);
    for (const e of ends)
      assert.equal(info.cursors[`${normalized}:${e.partition}`], e.high, `partition ${e.partition}`);

    // The files the first crash wrote and never committed are orphans; maintenance removes them.
    let removed = 0;
    for (const t of [LAKE_TABLES.payment_events, LAKE_TABLES.webhook_events]) {
      removed += (await writer.orphans(t.qualifiedName, { olderThanMs: 0 })).removed.length;
    }
    assert.ok(removed >= 1, 'the crashed write left orphan files');
    assert.deepEqual(await tableRows(LAKE_TABLES.payment_events.qualifiedName), {
      n: N,
      distinct: N,
      sum: expectedSum,
    });
  });
});
