/**
 * Replaying a committed Kafka range through the lake sink adds no row: real Kafka, the real sink (child process),
 * a private PostgreSQL catalog and warehouse. After a first sink has committed every record:
 *   1. the consumer group is reset to the earliest offsets and the sink restarts in that group;
 *   2. a sink in a brand-new group (no committed offsets: it would start at the log start) restarts from offset 0;
 *   3. two sinks in two more new groups run at once over the whole range;
 *   4. a commit that claims an older range (what a writer restarting from an old offset would send) is refused.
 * Each step also brings new records, so each restart is shown to have consumed through the replayed range. After each
 * step every record is exactly one row, the money per currency equals what was produced to the minor unit, and the
 * reconciliation's lake stage (rows per partition = committed records, no duplicate) passes.
 * Needs `npm run stack:up` (Kafka, PostgreSQL) and the lake addon.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LAKE_SUMMARY_KEYS, LAKE_TABLES } from '@pep/contracts';
import { TableBatchBuilder } from '@pep/lakehouse/arrow';
import { rowFunctionFor } from '@pep/lakehouse/rows';
import { LakeError, LakeWriter } from '@pep/lakehouse/writer';
import type { Message } from 'kafkajs';
import { reconcileLake } from '../../src/reconcile/lake.ts';
import { createTopics, deleteTopics, freePort, produce, runPrefix, testKafka, waitFor } from '../helpers.ts';
import { moneyByCurrency, type RunningSink, removeSinkEnv, sinkEnv, startSink, tableStats } from './sink-harness.ts';

const prefix = runPrefix('lake-replay');
const normalized = `${prefix}payments.normalized`;
const raw = `${prefix}webhooks.adyen.notification`;
const groups = [1, 2, 3, 4, 5, 6].map((i) => `${prefix}lake-sink-${i}`);
const sink = sinkEnv(prefix, [normalized, raw], groups[0] as string);
const cfg = sink.cfg;
const kafka = testKafka('lake-replay-test');
const admin = kafka.admin();
const EVENTS = LAKE_TABLES.payment_events.qualifiedName;
const WEBHOOKS = LAKE_TABLES.webhook_events.qualifiedName;
const CURRENCIES = ['USD', 'EUR', 'JPY', 'BHD'] as const;

/** What was produced so far: the lake must hold exactly this. */
const produced = { events: 0, webhooks: 0, money: {} as Record<string, number> };

const currencyOf = (i: number) => CURRENCIES[i % CURRENCIES.length] as string;
// Amounts spread over nine orders of magnitude: a lost or doubled row moves a sum by a recognisable amount.
const amountOf = (i: number) => ((i * 7919) % 1_000_000) * (1 + (i % 3) * 997) + 1;

function event(i: number): Message {
  const currency = currencyOf(i);
  const amount = amountOf(i);
  return {
    key: `adyen:psp_${i}`,
    value: JSON.stringify({
      event_id: `adyen:psp_${i}`,
      provider: 'adyen',
      provider_event_id: `psp_${i}`,
      event_type: i % 5 === 0 ? 'payment.failed' : 'payment.succeeded',
      amount_minor: amount,
      currency,
      received_at: new Date(Date.UTC(2026, 10, 25) + i * 1000).toISOString(),
      schema_version: 1,
    }),
    headers: { 'source-topic': 'webhooks.adyen.notification', 'source-partition': '0', 'source-offset': String(i) },
  };
}

/** `n` more normalized events and `n / 10` more raw records. */
async function produceMore(n: number): Promise<void> {
  const from = produced.events;
  for (let i = from; i < from + n; i++)
    produced.money[currencyOf(i)] = (produced.money[currencyOf(i)] ?? 0) + amountOf(i);
  await produce(
    kafka,
    normalized,
    Array.from({ length: n }, (_, i) => event(from + i)),
  );
  produced.events += n;
  const w = Math.ceil(n / 10);
  const wFrom = produced.webhooks;
  await produce(
    kafka,
    raw,
    Array.from({ length: w }, (_, i) => ({
      key: `psp_${wFrom + i}`,
      value: `{"pspReference":"psp_${wFrom + i}"}`,
      headers: { provider: 'adyen' },
    })),
  );
  produced.webhooks += w;
}

/** Waits until the lake holds every produced record, then stops the sinks gracefully (a last flush commits). */
async function runUntilComplete(sinks: RunningSink[]): Promise<void> {
  try {
    await waitFor(
      'every produced record in the lake',
      async () => {
        const [e, w] = await Promise.all([tableStats(cfg, EVENTS), tableStats(cfg, WEBHOOKS, 'kafka_offset')]);
        return e.n >= produced.events && w.n >= produced.webhooks;
      },
      180_000,
      500,
    );
  } finally {
    for (const s of sinks) s.child.kill('SIGTERM');
  }
  for (const s of sinks) assert.equal(await s.exited, 0, 'the sink stops cleanly on SIGTERM');
}

/** Exactly one row per record, money per currency to the minor unit, and the reconciliation's lake stage. */
async function assertExactlyOnce(step: string): Promise<void> {
  const e = await tableStats(cfg, EVENTS);
  assert.deepEqual({ n: e.n, distinct: e.distinct }, { n: produced.events, distinct: produced.events }, step);
  const w = await tableStats(cfg, WEBHOOKS, 'kafka_offset');
  // Raw records at offsets 0..W-1 of one partition, each once.
  const W = produced.webhooks;
  assert.deepEqual(w, { n: W, distinct: W, sum: (W * (W - 1)) / 2 }, step);
  assert.deepEqual(await moneyByCurrency(cfg, EVENTS), produced.money, `${step}: money per currency`);
  const { stage, checks } = await reconcileLake(kafka, [normalized, raw], cfg, 60_000);
  assert.deepEqual(
    checks.filter((c) => !c.ok),
    [],
    `${step}: reconcile`,
  );
  assert.deepEqual(stage.money_by_currency, produced.money, `${step}: reconciled money`);
  assert.deepEqual(
    stage.tables.map((t) => [t.table, t.rows, t.records_in_committed_range, t.duplicate_rows]),
    [
      [EVENTS, produced.events, produced.events, 0],
      [WEBHOOKS, W, W, 0],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    step,
  );
}

async function groupOffsets(groupId: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of await admin.fetchOffsets({ groupId, topics: [normalized, raw] })) {
    for (const p of t.partitions) out[`${t.topic}:${p.partition}`] = p.offset;
  }
  return out;
}

async function endOffsets(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of [normalized, raw]) {
    for (const o of await admin.fetchTopicOffsets(t)) out[`${t}:${o.partition}`] = o.high;
  }
  return out;
}

before(async () => {
  await admin.connect();
  await createTopics(admin, [normalized], 3);
  await createTopics(admin, [raw], 1);
  await produceMore(400);
  await runUntilComplete([startSink(sink)]);
  await assertExactlyOnce('first load');
});

after(async () => {
  await deleteTopics(admin, [normalized, raw]);
  await admin.deleteGroups(groups).catch(() => undefined);
  await admin.disconnect();
  await removeSinkEnv(sink);
});

describe('lake sink replay of a committed range', () => {
  it('adds no row when the consumer group is reset to the earliest offsets and the sink restarts', async () => {
    const group = groups[0] as string;
    assert.deepEqual(await groupOffsets(group), await endOffsets(), 'the first run committed its group offsets');
    // Rewind the group to the log start of every partition (what `kafka-consumer-groups --reset-offsets
    // --to-earliest` does).
    for (const topic of [normalized, raw]) {
      const partitions = (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.low }));
      await admin.setOffsets({ groupId: group, topic, partitions });
    }
    const rewound = await groupOffsets(group);
    assert.ok(
      Object.values(rewound).every((o) => o === '0'),
      `the group is rewound: ${JSON.stringify(rewound)}`,
    );
    await produceMore(60);
    await runUntilComplete([startSink(sink)]);
    await assertExactlyOnce('after a group reset');
    // The sink consumed through the replayed range: its group is at the end again.
    assert.deepEqual(await groupOffsets(group), await endOffsets());
  });

  it('adds no row when a sink in a new group starts from offset 0', async () => {
    await produceMore(60);
    await runUntilComplete([startSink(sink, { LAKE_SINK_GROUP_ID: groups[1] as string })]);
    await assertExactlyOnce('after a restart in a new group');
  });

  it('adds no row when two sinks in two new groups replay the range at once', async () => {
    await produceMore(120);
    await runUntilComplete([
      startSink(sink, { LAKE_SINK_GROUP_ID: groups[2] as string }),
      startSink(sink, { LAKE_SINK_GROUP_ID: groups[3] as string }),
    ]);
    await assertExactlyOnce('after two concurrent sinks');
  });

  it('stops cleanly when its last flush is refused because another sink committed the range first', async () => {
    // CI at e83935d: a sink stopped while its last flush met a conflict exited 1 (the position reset seeked a stopped
    // consumer, which kafkajs refuses). Made deterministic here: one sink buffers the new records and never commits on
    // its own (long interval, large batch); a second sink commits them; the first is then stopped.
    await produceMore(80);
    const port = await freePort();
    const holder = startSink(sink, {
      LAKE_SINK_GROUP_ID: groups[4] as string,
      LAKE_SINK_COMMIT_INTERVAL_MS: '600000',
      LAKE_SINK_COMMIT_BYTES: String(256 << 20),
      LAKE_SINK_METRICS_PORT: String(port),
    });
    try {
      const counter = async (name: string) => {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const total = (table: string) =>
          Number(new RegExp(`^${name}\\{[^}]*table="${table}"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
        return { events: total('payment_events'), webhooks: total('webhook_events') };
      };
      await waitFor(
        'the holding sink has buffered the new records',
        async () => {
          const c = await counter('lake_sink_records_total');
          return c.events >= 80 && c.webhooks >= 8;
        },
        60_000,
        200,
      );
      await runUntilComplete([startSink(sink, { LAKE_SINK_GROUP_ID: groups[5] as string })]);
      const before = await counter('lake_sink_commits_total');
      assert.deepEqual(before, { events: 0, webhooks: 0 }, 'the holding sink has committed nothing yet');
    } finally {
      holder.child.kill('SIGTERM');
    }
    assert.equal(await holder.exited, 0, 'a sink whose last flush is refused still stops cleanly');
    await assertExactlyOnce('after a refused last flush');
  });

  it('refuses a commit of an older range and leaves the table as it was', async () => {
    const writer = await LakeWriter.open(cfg);
    const info = await writer.tableInfo(EVENTS, LAKE_SUMMARY_KEYS.kafkaOffsets);
    const cursor = `${normalized}:0`;
    assert.ok(BigInt(info.cursors[cursor] ?? '0') > 10n, 'partition 0 is committed past offset 10');
    // The first ten records of partition 0 again, as a writer restarting at offset 0 would write them.
    const b = new TableBatchBuilder(LAKE_TABLES.payment_events);
    const row = rowFunctionFor(LAKE_TABLES.payment_events);
    for (let i = 0; i < 10; i++) {
      const m = event(100_000 + i);
      b.append(
        row({
          topic: normalized,
          partition: 0,
          offset: BigInt(i),
          timestampMs: Date.now(),
          key: Buffer.from(String(m.key)),
          value: Buffer.from(String(m.value)),
          headers: {},
        }),
      );
    }
    const w = await writer.write(EVENTS, b.finishIpc(), 'replay-test-old-offset');
    for (const expected of [null, '0']) {
      await assert.rejects(
        writer.commit(w.handle, {
          cursorKey: LAKE_SUMMARY_KEYS.kafkaOffsets,
          expected: { [cursor]: expected },
          next: { [cursor]: '10' },
          writer: 'replay-test-old-offset',
        }),
        (err: unknown) => err instanceof LakeError && err.code === 'COMMIT_CONFLICT',
      );
    }
    await writer.abort(w.handle);
    assert.deepEqual((await writer.tableInfo(EVENTS, LAKE_SUMMARY_KEYS.kafkaOffsets)).cursors, info.cursors);
    await assertExactlyOnce('after a refused commit of an older range');
  });
});
