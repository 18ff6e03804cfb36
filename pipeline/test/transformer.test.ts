/**
 * The transformer against real Kafka on private topics, with the echo
 * normalizer (the Kafka guarantees on their own):
 * outputs land on the right topics with keys and source headers, offsets are committed in the same transaction,
 * and a restart reprocesses nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { silentLogger } from '@pep/contracts/log';
import { loadTransformerConfig } from '../src/lib/config.ts';
import { createTransformer } from '../src/transformer/create.ts';
import { echoCore } from './fixtures/echo-normalizer.ts';
import { createTopics, deleteTopics, produce, readAll, runPrefix, testKafka, waitFor } from './helpers.ts';

const prefix = runPrefix('transformer');
const raw = [`${prefix}webhooks.stripe.charge`, `${prefix}webhooks.adyen.notification`];
const normalized = `${prefix}payments.normalized`;
const dlq = `${prefix}payments.validation.dlq`;
const kafka = testKafka();
const admin = kafka.admin();

const cfgFor = (mode: 'exactly_once' | 'at_least_once', group: string) => ({
  ...loadTransformerConfig({
    ...process.env,
    TRANSFORMER_INPUT_TOPICS: raw.join(','),
    TRANSFORMER_NORMALIZED_TOPIC: normalized,
    TRANSFORMER_DLQ_TOPIC: dlq,
    TRANSFORMER_GROUP_ID: group,
    TRANSFORMER_MODE: mode,
    TRANSFORMER_METRICS_PORT: '0',
    TRANSFORMER_MAX_BATCH_MESSAGES: '13',
    TRANSFORMER_FETCH_MAX_WAIT_MS: '20',
  }),
});

async function committed(group: string, topics: string[]): Promise<number> {
  const offs = await admin.fetchOffsets({ groupId: group, topics });
  return offs.flatMap((t) => t.partitions).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
}

before(async () => {
  await admin.connect();
  await createTopics(admin, raw, 3);
  await createTopics(admin, [normalized, dlq], 2);
});

after(async () => {
  await deleteTopics(admin, [...raw, normalized, dlq]);
  await admin.deleteGroups([`${prefix}eos`, `${prefix}alo`]).catch(() => undefined);
  await admin.disconnect();
});

test('valid, invalid, non-JSON and multi-item messages each land in exactly one place, offsets in the transaction', async () => {
  const stripe = Array.from({ length: 60 }, (_, i) => ({
    key: `evt_${i}`,
    value: i % 10 === 9 ? 'not json {' : JSON.stringify({ id: `evt_${i}`, valid: i % 3 !== 0 }),
    headers: { 'received-at': new Date().toISOString(), 'request-id': `req-${i}` },
  }));
  const adyen = [
    {
      key: 'a1',
      value: JSON.stringify({
        items: [
          { id: 'psp1', valid: true },
          { id: 'psp2', valid: false },
        ],
      }),
    },
    {
      key: 'a2',
      value: JSON.stringify({
        items: [
          { id: 'psp3', valid: true },
          { id: 'psp4', valid: true },
        ],
      }),
    },
    { key: 'a3', value: null },
  ];
  await produce(kafka, raw[0] as string, stripe);
  await produce(kafka, raw[1] as string, adyen);

  const group = `${prefix}eos`;
  const t = createTransformer(cfgFor('exactly_once', group), echoCore, silentLogger);
  await t.start();
  try {
    await waitFor('all 63 raw offsets committed', async () => (await committed(group, raw)) === 63);
  } finally {
    await t.stop();
  }
  const out = await readAll(kafka, [normalized, dlq]);
  const events = out.filter((r) => r.topic === normalized);
  const rejected = out.filter((r) => r.topic === dlq);
  // stripe: 60 messages, 6 non-JSON, 20 with i%3==0 (2 of them also non-JSON) → 36 valid, 24 rejected
  assert.equal(events.length, 36 + 3);
  assert.equal(rejected.length, 24 + 1 + 1);
  const e0 = events.find((e) => e.key === 'stripe:evt_1');
  assert.ok(e0, 'event keyed by event_id');
  assert.equal(e0.headers['source-topic'], raw[0]);
  assert.equal(e0.headers['source-output'], '0/1');
  assert.equal(e0.headers['request-id'], 'req-1');
  const perSource = new Map<string, string[]>();
  for (const r of out.filter((x) => x.headers['source-topic'] === raw[1])) {
    const k = `${r.headers['source-partition']}/${r.headers['source-offset']}`;
    perSource.set(k, [...(perSource.get(k) ?? []), r.headers['source-output'] as string]);
  }
  const shapes = [...perSource.values()].map((v) => v.sort().join(',')).sort();
  assert.deepEqual(shapes, ['0/1', '0/2,1/2', '0/2,1/2'], 'each Adyen item once, numbered within its message');
  const bad = rejected.find((r) => r.key === null && r.headers['source-topic'] === raw[0]);
  assert.ok(bad);
  const rec = JSON.parse(String(bad.value));
  assert.equal(rec.failure_reason, 'INVALID_JSON');
  assert.equal(rec.source_topic, raw[0]);
  assert.equal(String(rec.kafka_offset), bad.headers['source-offset']);
  assert.equal(t.metrics.inputs.get({ topic: raw[0] as string }), 60);

  // A second start of the same group finds everything committed: it produces nothing more.
  const again = createTransformer(cfgFor('exactly_once', group), echoCore, silentLogger);
  await again.start();
  await new Promise((r) => setTimeout(r, 3000));
  await again.stop();
  assert.equal(again.metrics.inputs.get({ topic: raw[0] as string }), 0);
  assert.equal((await readAll(kafka, [normalized, dlq])).length, out.length);
});

test('at_least_once: every input gets its outputs, then the offsets are committed (no transaction)', async () => {
  const group = `${prefix}alo`;
  const before = (await readAll(kafka, [normalized, dlq])).length;
  const t = createTransformer(cfgFor('at_least_once', group), echoCore, silentLogger);
  await t.start();
  try {
    // The same 63 raw records as above, read again by a new group.
    await waitFor('all 63 raw offsets committed (at_least_once)', async () => (await committed(group, raw)) === 63);
  } finally {
    await t.stop();
  }
  const all = await readAll(kafka, [normalized, dlq]);
  assert.equal(all.length - before, 39 + 26, 'each input once more: 39 events and 26 DLQ records');
  assert.equal(t.metrics.transactions.get({ result: 'committed' }) > 0, true);
});
