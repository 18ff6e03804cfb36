/**
 * 10,000 simulated webhooks (the simulator's generator: realistic payloads of all four providers, about 3 % invalid
 * payloads, 3 % provider redeliveries, 1 % signature faults) through the production transformer (native core-native)
 * and quarantine consumer, on private topics. What the edge would accept is produced to the raw topics with the
 * edge's headers; what it would reject becomes a `webhooks.dlq` record. Then `reconcile` must say RECONCILED, and
 * no delivery the simulator labels valid may end in the validation DLQ.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { PROVIDERS } from '@pep/contracts';
import { createLogger, silentLogger } from '@pep/contracts/log';
import { loadCore } from '@pep/core-native';
import { DeliveryGenerator, signingSecrets } from '@pep/simulator';
import type { Message } from 'kafkajs';
import { loadQuarantineConfig, loadTransformerConfig } from '../src/lib/config.ts';
import { createKafka } from '../src/lib/kafka.ts';

const log = process.env.PIPELINE_TEST_LOG ? createLogger('warn') : silentLogger;

import { QuarantineConsumer } from '../src/quarantine/consumer.ts';
import { reconcile } from '../src/reconcile/reconcile.ts';
import { createTransformer } from '../src/transformer/create.ts';
import { addr, createTopics, deleteTopics, privatePipeline, produce, readAll, waitFor } from './helpers.ts';

const TOTAL = 10_000;
const CATEGORIES = [
  'stripe.payment_intent',
  'stripe.charge',
  'stripe.refund',
  'square.payment',
  'square.refund',
  'adyen.notification',
  'braintree.notification',
];
const { prefix, raw, normalized, validationDlq, webhookDlq, transformerGroup, quarantineGroup, kafka } =
  privatePipeline(
    'sim',
    CATEGORIES.map((c) => `webhooks.${c}`),
  );
/** What the edge keeps for verified events outside the vocabulary: counted by reconcile, consumed by nothing. */
const otherTopic = `${prefix}webhooks.stripe.other`;
const OTHER_RECORDS = 7;

/** The raw topic the edge would route a delivery to (by provider and event type). */
function topicFor(provider: string, body: string): string {
  const type = /"type"\s*:\s*"([a-z_]+)\./.exec(body)?.[1];
  if (provider === 'stripe') {
    return `${prefix}webhooks.stripe.${type === 'payment_intent' || type === 'refund' ? type : 'charge'}`;
  }
  if (provider === 'square') return `${prefix}webhooks.square.${type === 'refund' ? 'refund' : 'payment'}`;
  return `${prefix}webhooks.${provider}.notification`;
}

test('10,000 simulated deliveries with invalid and duplicate ones mixed in reconcile through the pipeline', async () => {
  const gen = new DeliveryGenerator({
    seed: 7,
    providers: PROVIDERS,
    invalidRate: 0.03,
    duplicateRate: 0.03,
    signatureFaultRate: 0.01,
    fraudRate: 1,
    customers: 500,
    merchantsPerProvider: 20,
    secrets: signingSecrets(),
  });
  const byTopic = new Map<string, Message[]>();
  const rejected: Message[] = [];
  const labels = new Map<string, string>();
  const counters = new Map<string, number>();
  let redeliveries = 0;
  const seen = new Set<string>();
  for (let i = 0; i < TOTAL; i++) {
    const { delivery: d } = gen.next();
    const receivedAt = new Date().toISOString();
    const requestId = randomUUID();
    if (d.expectedStatus !== 200) {
      // What the edge does with a 4xx: a webhooks.dlq record (shape of contracts WebhookDlqRecord).
      rejected.push({
        key: d.eventId || null,
        value: JSON.stringify({
          schema_version: 1,
          provider: d.provider,
          reason: d.label.split(':')[1] ?? 'invalid',
          message: d.label,
          security_event: d.label.startsWith('signature:'),
          http_status: d.expectedStatus,
          headers: {},
          body: d.body,
          body_encoding: 'utf8',
          event_id: d.eventId || null,
          request_id: requestId,
          received_at: receivedAt,
        }),
      });
      continue;
    }
    const topic = topicFor(d.provider, d.body);
    const list = byTopic.get(topic) ?? [];
    labels.set(`${topic}/${list.length}`, d.label);
    counters.set(d.label.split(':')[0] as string, (counters.get(d.label.split(':')[0] as string) ?? 0) + 1);
    if (seen.has(`${d.provider}:${d.eventId}`)) redeliveries++;
    seen.add(`${d.provider}:${d.eventId}`);
    list.push({
      key: d.objectId || d.eventId,
      value: d.body,
      headers: { 'received-at': receivedAt, 'request-id': requestId, provider: d.provider, 'event-id': d.eventId },
    });
    byTopic.set(topic, list);
  }
  // One partition-ordered produce per topic; remember each message's (topic, index) → label via a keyless order.
  for (const [topic, list] of byTopic) {
    await produce(
      kafka,
      topic,
      list.map((m, i) => ({ ...m, headers: { ...m.headers, 'test-index': String(i) } })),
    );
  }
  await produce(kafka, webhookDlq, rejected);
  // Its own admin client: the pipeline's shared one would keep refreshing the topic's metadata after it is deleted.
  const otherAdmin = kafka.admin();
  await otherAdmin.connect();
  await createTopics(otherAdmin, [otherTopic], 1);
  await produce(
    kafka,
    otherTopic,
    Array.from({ length: OTHER_RECORDS }, (_, i) => ({
      key: `evt_other_${i}`,
      value: JSON.stringify({ id: `evt_other_${i}`, type: 'customer.created', data: { object: { id: `cus_${i}` } } }),
    })),
  );
  assert.ok(redeliveries > 50, `duplicates mixed in (${redeliveries})`);
  assert.ok((counters.get('invalid') ?? 0) > 50, 'invalid payloads mixed in');
  assert.ok(rejected.length > 20, 'edge rejections mixed in');

  const transformer = createTransformer(
    {
      ...loadTransformerConfig({
        ...process.env,
        TRANSFORMER_INPUT_TOPICS: raw.join(','),
        TRANSFORMER_NORMALIZED_TOPIC: normalized,
        TRANSFORMER_DLQ_TOPIC: validationDlq,
        TRANSFORMER_GROUP_ID: transformerGroup,
        TRANSFORMER_METRICS_PORT: '0',
      }),
    },
    await loadCore({ impl: 'native' }),
    log,
  );
  const quarantine = new QuarantineConsumer(
    {
      ...loadQuarantineConfig({ ...process.env, QUARANTINE_METRICS_PORT: '0' }),
      webhookDlqTopic: webhookDlq,
      validationDlqTopic: validationDlq,
      groupId: quarantineGroup,
    },
    silentLogger,
  );
  await transformer.start();
  await quarantine.start();
  let report: Awaited<ReturnType<typeof reconcile>>;
  let last: Awaited<ReturnType<typeof reconcile>> | null = null;
  try {
    report = await waitFor(
      'reconciled',
      async () => {
        const r = await reconcile({
          kafka: createKafka({ brokers: addr.kafkaBrokers, clientId: 'reconcile-test', log: silentLogger }),
          databaseUrl: addr.databaseUrl,
          rawTopics: raw,
          otherTopics: [otherTopic],
          normalizedTopic: normalized,
          validationDlqTopic: validationDlq,
          webhookDlqTopic: webhookDlq,
          transformerGroup,
          quarantineGroup,
          edgeMetricsUrl: null,
          scanTimeoutMs: 60_000,
        });
        last = r;
        return r.verdict === 'reconciled' ? r : false;
      },
      180_000,
      2000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last report: ${JSON.stringify(last?.checks)}`);
    });
  } finally {
    await transformer.stop();
    await quarantine.stop();
  }
  const s = report.stages;
  await deleteTopics(otherAdmin, [otherTopic]);
  await otherAdmin.disconnect();
  assert.equal(s.other.total, OTHER_RECORDS, 'reconcile counts webhooks.<provider>.other');
  assert.equal(s.other.by_topic[otherTopic], OTHER_RECORDS);
  assert.equal(s.raw.total + s.webhook_dlq.records, TOTAL, 'every delivery is a raw record or an edge rejection');
  assert.equal(s.placement.duplicate_outputs, 0);
  assert.ok(s.normalized.duplicate_event_ids > 0, 'provider redeliveries reach payments.normalized once per delivery');
  assert.ok(s.validation_dlq.records > 0, 'invalid payloads reach the validation DLQ');
  assert.equal(s.quarantine.validation_rows, s.validation_dlq.records);
  assert.equal(s.quarantine.webhook_rows, rejected.length);

  // No delivery the simulator calls valid may be rejected by the transformer.
  const dlq = await readAll(kafka, [validationDlq], 60_000);
  const wronglyRejected: string[] = [];
  for (const r of dlq) {
    const rec = JSON.parse(String(r.value));
    const topic = r.headers['source-topic'] as string;
    const original = (byTopic.get(topic) ?? []).find((m) => m.value === rec.original_payload);
    const label = original ? labels.get(`${topic}/${(byTopic.get(topic) ?? []).indexOf(original)}`) : undefined;
    if (label === 'valid')
      wronglyRejected.push(`${rec.failure_reason}: ${JSON.stringify(rec.validation_errors).slice(0, 200)}`);
  }
  assert.deepEqual(wronglyRejected.slice(0, 5), [], `${wronglyRejected.length} valid deliveries were sent to the DLQ`);
  console.log(
    `# simulated: raw ${s.raw.total}, normalized ${s.normalized.records} (${s.normalized.distinct_event_ids} distinct event_ids), validation DLQ ${s.validation_dlq.records}, edge rejections ${s.webhook_dlq.records}`,
  );
});
