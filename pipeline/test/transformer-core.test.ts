/**
 * The real transformer with the real core-native (native addon and TypeScript twin), through real Kafka: every case
 * of core-native's conformance table (the original's handler and transformer cases, its four crash inputs of
 * reference section 2.9, hostile inputs, multi-item Adyen) is produced to a private raw topic of its provider and
 * must come out as the table expects, with the DLQ records carrying the ORIGINAL topic/partition/offset and the
 * exact original payload, and every offset committed (no input stops a partition).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PROVIDERS } from '@pep/contracts';
import { silentLogger } from '@pep/contracts/log';
import { redactPayload } from '@pep/contracts/redact';
import { loadCore } from '@pep/core-native';
import { loadTransformerConfig } from '../src/lib/config.ts';
import { createTransformer } from '../src/transformer/create.ts';
import {
  createTopics,
  deleteTopics,
  produce,
  type ReadRecord,
  readAll,
  runPrefix,
  testKafka,
  waitFor,
} from './helpers.ts';

interface Case {
  readonly name: string;
  readonly provider: string;
  readonly input?: string;
  readonly inputBase64?: string;
  readonly expect: {
    readonly events?: number;
    readonly dlq?: number;
    readonly codes?: readonly string[];
    readonly fields?: Readonly<Record<string, unknown>>;
  };
}

// core-native's conformance table (read-only): the single list of expected outcomes both implementations pass.
const casesPath = fileURLToPath(import.meta.resolve('@pep/core-native/fixtures/cases.json'));
const cases = (JSON.parse(readFileSync(casesPath, 'utf8')) as Case[]).filter((c) =>
  (PROVIDERS as readonly string[]).includes(c.provider),
);

const prefix = runPrefix('core');
const topicOf: Record<string, string> = {
  stripe: `${prefix}webhooks.stripe.payment_intent`,
  square: `${prefix}webhooks.square.payment`,
  adyen: `${prefix}webhooks.adyen.notification`,
  braintree: `${prefix}webhooks.braintree.notification`,
};
const raw = Object.values(topicOf);
const kafka = testKafka();
const admin = kafka.admin();
const outputs = (impl: string) => ({
  normalized: `${prefix}${impl}.payments.normalized`,
  dlq: `${prefix}${impl}.payments.validation.dlq`,
});

/** Raw topic + offset of each case (one partition per topic, produced in order). */
const placement = new Map<string, Case>();

function get(obj: unknown, path: string): unknown {
  if (obj && typeof obj === 'object' && path in (obj as Record<string, unknown>))
    return (obj as Record<string, unknown>)[path];
  return path
    .split('.')
    .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

before(async () => {
  await admin.connect();
  await createTopics(admin, raw, 1);
  await createTopics(admin, [...Object.values(outputs('native')), ...Object.values(outputs('js'))], 1);
  for (const [provider, topic] of Object.entries(topicOf)) {
    const mine = cases.filter((c) => c.provider === provider);
    await produce(
      kafka,
      topic,
      mine.map((c) => ({
        key: null,
        value: c.inputBase64 !== undefined ? Buffer.from(c.inputBase64, 'base64') : (c.input as string),
        headers: { 'received-at': '2026-11-26T12:00:00.000Z', 'request-id': `case-${c.name}`.slice(0, 200) },
      })),
    );
    for (const [i, c] of mine.entries()) placement.set(`${topic}@${i}`, c);
  }
});

after(async () => {
  await deleteTopics(admin, [...raw, ...Object.values(outputs('native')), ...Object.values(outputs('js'))]);
  await admin.deleteGroups([`${prefix}native`, `${prefix}js`, `${prefix}big`]).catch(() => undefined);
  await admin.disconnect();
});

for (const impl of ['native', 'js'] as const) {
  test(`${impl}: every conformance case through Kafka lands where the table says, nothing stops a partition`, async () => {
    const core = await loadCore({ impl });
    assert.equal(core.kind, impl);
    const out = outputs(impl);
    const group = `${prefix}${impl}`;
    const t = createTransformer(
      {
        ...loadTransformerConfig({
          ...process.env,
          TRANSFORMER_INPUT_TOPICS: raw.join(','),
          TRANSFORMER_NORMALIZED_TOPIC: out.normalized,
          TRANSFORMER_DLQ_TOPIC: out.dlq,
          TRANSFORMER_GROUP_ID: group,
          TRANSFORMER_METRICS_PORT: '0',
          TRANSFORMER_MAX_BATCH_MESSAGES: '16',
          TRANSFORMER_FETCH_MAX_WAIT_MS: '20',
        }),
      },
      core,
      silentLogger,
    );
    await t.start();
    try {
      await waitFor('every case committed', async () => {
        const offs = await admin.fetchOffsets({ groupId: group, topics: raw });
        return (
          offs.flatMap((x) => x.partitions).reduce((s, p) => s + Math.max(0, Number(p.offset)), 0) === cases.length
        );
      });
    } finally {
      await t.stop();
    }

    const records = await readAll(kafka, [out.normalized, out.dlq]);
    const byCase = new Map<Case, { events: ReadRecord[]; dlq: ReadRecord[] }>();
    for (const r of records) {
      const c = placement.get(`${r.headers['source-topic']}@${r.headers['source-offset']}`);
      assert.ok(c, `output with unknown source ${r.headers['source-topic']}@${r.headers['source-offset']}`);
      const slot = byCase.get(c) ?? { events: [], dlq: [] };
      (r.topic === out.normalized ? slot.events : slot.dlq).push(r);
      byCase.set(c, slot);
    }
    const failures: string[] = [];
    for (const c of cases) {
      const got = byCase.get(c) ?? { events: [], dlq: [] };
      const e = c.expect;
      const problems: string[] = [];
      if (got.events.length + got.dlq.length === 0) problems.push('no output at all');
      if (e.events !== undefined && got.events.length !== e.events)
        problems.push(`events ${got.events.length} != ${e.events}`);
      if (e.dlq !== undefined && got.dlq.length !== e.dlq) problems.push(`dlq ${got.dlq.length} != ${e.dlq}`);
      const dlqRecs = got.dlq.map((r) => JSON.parse(String(r.value)) as Record<string, unknown>);
      const codes = dlqRecs.flatMap((d) => (d.validation_errors as { code: string }[]).map((v) => v.code));
      for (const code of e.codes ?? [])
        if (!codes.includes(code)) problems.push(`missing code ${code} (got ${codes.join(',')})`);
      if (e.fields && got.events[0]) {
        const evs = got.events.map((r) => JSON.parse(String(r.value)));
        const ev = evs[0];
        for (const [k, v] of Object.entries(e.fields)) {
          // `2.currency` addresses the third event of a multi-item message; other keys the first event.
          const m = /^(\d+)\.(.+)$/.exec(k);
          const actual = m ? get(evs[Number(m[1])], m[2] as string) : get(ev, k);
          try {
            assert.deepEqual(actual, v);
          } catch {
            problems.push(`field ${k} = ${JSON.stringify(actual)}, expected ${JSON.stringify(v)}`);
          }
        }
        assert.equal(got.events[0].key, ev.event_id, 'normalized key is event_id');
      }
      for (const [i, d] of dlqRecs.entries()) {
        const r = got.dlq[i] as ReadRecord;
        // The DLQ record keeps the ORIGINAL coordinates (the original's bridge overwrote them: gap G21).
        if (d.source_topic !== topicOf[c.provider]) problems.push(`dlq source_topic ${d.source_topic}`);
        if (d.kafka_partition !== 0) problems.push(`dlq kafka_partition ${d.kafka_partition}`);
        if (String(d.kafka_offset) !== r.headers['source-offset']) problems.push(`dlq kafka_offset ${d.kafka_offset}`);
        // The DLQ keeps the original bytes with secrets and card numbers masked (security #13), nothing else changed.
        if (c.input !== undefined && d.original_payload !== redactPayload(Buffer.from(c.input, 'utf8')).text)
          problems.push('original_payload differs from the redacted input');
        if (d.schema_version !== 1 || !String(d.quarantined_at).includes('T')) problems.push('dlq envelope');
        if (d.event_id !== null && !(String(d.event_id).startsWith(`${c.provider}:`) && d.provider_event_id)) {
          problems.push(`dlq ids ${d.event_id} / ${d.provider_event_id}`);
        }
      }
      if (problems.length) failures.push(`${c.name}: ${problems.join('; ')}`);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases differ`);
    assert.ok(
      cases.some((c) => c.name.startsWith('crash 2.9')),
      'the crash inputs are part of the table',
    );
  });
}

test('an output larger than the broker accepts becomes a small RECORD_TOO_LARGE DLQ record, the partition moves on', async () => {
  const topic = topicOf.stripe as string;
  const out = outputs('big');
  await createTopics(admin, [out.normalized, out.dlq], 1);
  // A ~950 KB Stripe event: its DLQ record (payload inside) would exceed the ~1 MiB broker limit.
  const big = JSON.stringify({
    id: 'evt_big',
    type: 'charge.succeeded',
    data: { object: { id: 'ch_big', blob: 'x'.repeat(950_000) } },
  });
  const start = (await admin.fetchTopicOffsets(topic))[0]?.high as string;
  await produce(kafka, topic, [
    { key: 'evt_big', value: big },
    { key: 'evt_after', value: 'not json' },
  ]);
  const group = `${prefix}big`;
  await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: start }] });
  const t = createTransformer(
    loadTransformerConfig({
      ...process.env,
      TRANSFORMER_INPUT_TOPICS: topic,
      TRANSFORMER_NORMALIZED_TOPIC: out.normalized,
      TRANSFORMER_DLQ_TOPIC: out.dlq,
      TRANSFORMER_GROUP_ID: group,
      TRANSFORMER_METRICS_PORT: '0',
    }),
    await loadCore({ impl: 'native' }),
    silentLogger,
  );
  await t.start();
  try {
    await waitFor('both committed', async () => t.metrics.inputs.get({ topic }) === 2, 60_000);
  } finally {
    await t.stop();
  }
  const recs = await readAll(kafka, [out.normalized, out.dlq]);
  await deleteTopics(admin, [out.normalized, out.dlq]);
  assert.equal(recs.length, 2);
  const first = JSON.parse(String(recs.find((r) => r.headers['source-offset'] === start)?.value));
  assert.equal(first.failure_reason, 'RECORD_TOO_LARGE');
  assert.equal(first.source_topic, topic);
  assert.equal(String(first.kafka_offset), start);
  assert.equal(first.original_payload, null);
});
