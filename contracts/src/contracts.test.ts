import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DLQ_REASONS, REDACTED, webhookDlqRecord } from './edge.ts';
import { icebergPartitionSpecJson, icebergSchemaJson, LAKE_TABLES, lakeTableForTopic } from './lake.ts';
import { VALIDATION_DLQ_FIELDS, validationDlqRecord } from './normalized.ts';
import { payloadText } from './payload.ts';
import { DEFAULT_DATABASE_URL, serviceAddresses } from './services.ts';
import { DEFAULT_PARTITIONS, OTHER_TOPICS, RAW_TOPICS, TOPIC_SPECS, TOPICS } from './topics.ts';

describe('topics', () => {
  it('lists every topic of CONTRACT section 5 exactly once', () => {
    const names = TOPIC_SPECS.map((t) => t.name);
    assert.equal(new Set(names).size, names.length);
    assert.deepEqual([...names].sort(), [
      'payments.normalized',
      'payments.validation.dlq',
      'webhooks.adyen.notification',
      'webhooks.adyen.other',
      'webhooks.braintree.notification',
      'webhooks.braintree.other',
      'webhooks.dlq',
      'webhooks.square.dispute',
      'webhooks.square.invoice',
      'webhooks.square.other',
      'webhooks.square.payment',
      'webhooks.square.payout',
      'webhooks.square.refund',
      'webhooks.stripe.charge',
      'webhooks.stripe.checkout_session',
      'webhooks.stripe.invoice',
      'webhooks.stripe.other',
      'webhooks.stripe.payment_intent',
      'webhooks.stripe.refund',
    ]);
  });

  it('names raw topics webhooks.<provider>.<category> after their key', () => {
    for (const [key, topic] of Object.entries(RAW_TOPICS)) assert.equal(topic, `webhooks.${key}`);
    for (const [provider, topic] of Object.entries(OTHER_TOPICS)) assert.equal(topic, `webhooks.${provider}.other`);
    assert.equal(TOPICS.normalized, 'payments.normalized');
  });

  it('defaults to 3 partitions for raw and normalized topics', () => {
    assert.equal(DEFAULT_PARTITIONS.raw, 3);
    assert.equal(DEFAULT_PARTITIONS.normalized, 3);
  });
});

describe('serviceAddresses', () => {
  it('uses the contract defaults with an empty environment', () => {
    const a = serviceAddresses({});
    assert.deepEqual(a.kafkaBrokers, ['127.0.0.1:9092']);
    assert.equal(a.temporalAddress, '127.0.0.1:7233');
    assert.equal(a.databaseUrl, DEFAULT_DATABASE_URL);
    assert.equal(a.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(a.edgePort, 8080);
    assert.ok(Object.isFrozen(a));
  });

  it('reads a broker list and ports from the environment', () => {
    const a = serviceAddresses({ KAFKA_BROKERS: 'a:1, b:2,', EDGE_PORT: '9000' });
    assert.deepEqual(a.kafkaBrokers, ['a:1', 'b:2']);
    assert.equal(a.edgePort, 9000);
  });

  it('rejects an EDGE_PORT that is not a port', () => {
    assert.throws(() => serviceAddresses({ EDGE_PORT: 'eighty' }), /EDGE_PORT must be a TCP port/);
    assert.throws(() => serviceAddresses({ EDGE_PORT: '70000' }), /EDGE_PORT/);
  });
});

describe('lake tables', () => {
  it('have unique column ids and names, partition sources that exist, and render Iceberg JSON', () => {
    for (const t of Object.values(LAKE_TABLES)) {
      assert.equal(new Set(t.columns.map((c) => c.id)).size, t.columns.length, `${t.name} ids`);
      assert.equal(new Set(t.columns.map((c) => c.name)).size, t.columns.length, `${t.name} names`);
      const schema = JSON.parse(icebergSchemaJson(t));
      assert.equal(schema.fields.length, t.columns.length);
      const spec = JSON.parse(icebergPartitionSpecJson(t));
      assert.equal(spec.fields.length, t.partitionBy.length);
    }
    assert.equal(lakeTableForTopic(TOPICS.normalized)?.name, 'payment_events');
    assert.equal(lakeTableForTopic(TOPICS.webhooksDlq)?.name, 'webhook_events');
    assert.equal(lakeTableForTopic(TOPICS.validationDlq)?.name, 'validation_dlq');
  });
});

describe('DLQ record builders', () => {
  it('write validation-DLQ records with the contract fields in order, payloads byte-exact', () => {
    const rec = validationDlqRecord({
      provider: 'adyen',
      providerEventId: 'psp1',
      itemIndex: 1,
      payload: Buffer.from([0xef, 0xbb, 0xbf, 0x7b]),
      errors: [{ field: 'amount', code: 'INVALID_AMOUNT', message: 'm' }],
      source: { topic: 'webhooks.adyen.notification', partition: 2, offset: 7 },
      quarantinedAt: new Date(0),
    });
    assert.deepEqual(Object.keys(rec), [...VALIDATION_DLQ_FIELDS]);
    assert.equal(rec.event_id, 'adyen:psp1');
    assert.equal(rec.failure_reason, 'INVALID_AMOUNT');
    assert.equal(rec.original_payload, '\ufeff{', 'a leading BOM is kept');
    assert.equal(rec.quarantined_at, '1970-01-01T00:00:00.000Z');
    assert.deepEqual(payloadText(Buffer.from([0xff, 0x00])), { text: '/wA=', encoding: 'base64' });
  });

  it('write webhooks.dlq records with the security flag of their reason', () => {
    const rec = webhookDlqRecord({
      provider: 'stripe',
      reason: DLQ_REASONS.invalidSignature,
      message: 'no secret matches',
      httpStatus: 401,
      headers: { 'stripe-signature': REDACTED },
      body: Buffer.from('{}'),
      eventId: null,
      requestId: 'r1',
      receivedAt: '2026-01-01T00:00:00.000Z',
    });
    assert.equal(rec.security_event, true);
    assert.equal(rec.body_encoding, 'utf8');
    assert.deepEqual(Object.keys(rec).slice(0, 3), ['schema_version', 'provider', 'reason']);
  });
});
