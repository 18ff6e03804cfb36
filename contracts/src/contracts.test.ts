import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { icebergPartitionSpecJson, icebergSchemaJson, LAKE_TABLES, lakeTableForTopic } from './lake.ts';
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
