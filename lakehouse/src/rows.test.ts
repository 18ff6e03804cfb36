import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAKE_TABLES } from '@pep/contracts';
import { type KafkaRecord, paymentEventRow, rowFunctionFor, validationDlqRow, webhookEventRow } from './rows.ts';

const base: KafkaRecord = {
  topic: 't-x.webhooks.adyen.notification',
  partition: 0,
  offset: 7n,
  timestampMs: 1_764_000_000_000,
  key: null,
  value: null,
  headers: {},
};

describe('rows', () => {
  it('keeps every raw record, drops signature-like headers, reads the provider from a prefixed topic', () => {
    const r = webhookEventRow({
      ...base,
      value: Buffer.from([0xff, 0x00]),
      headers: { 'stripe-signature': 't=1,v1=ab', authorization: 'x', 'request-id': 'q', 'received-at': 'nope' },
    });
    assert.equal(r.provider, 'adyen');
    assert.deepEqual(JSON.parse(r.headers as string), { 'request-id': 'q', 'received-at': 'nope' });
    assert.equal(r.received_at, base.timestampMs, 'an unreadable received-at falls back to the Kafka timestamp');
    assert.deepEqual([...(r.body as Uint8Array)], [0xff, 0x00]);
    assert.equal(webhookEventRow({ ...base, topic: 'webhooks.dlq' }).is_dlq, true);
  });

  it('types a normalized event and keeps an unreadable one with lake_error instead of dropping it', () => {
    const ok = paymentEventRow({
      ...base,
      topic: 'payments.normalized',
      headers: { 'source-topic': 'webhooks.stripe.charge', 'source-partition': '2', 'source-offset': '99' },
      value: Buffer.from(
        JSON.stringify({
          event_id: 'stripe:evt_9',
          provider: 'stripe',
          provider_event_id: 'evt_9',
          event_type: 'payment.succeeded',
          amount_minor: 1999,
          currency: 'USD',
          metadata: { order: '42' },
          provider_created_at: '2026-11-26T13:31:40Z',
          received_at: '2026-11-26T13:31:47.123Z',
          schema_version: 1,
        }),
      ),
    });
    assert.equal(ok.event_id, 'stripe:evt_9');
    assert.equal(ok.amount_minor, 1999);
    assert.equal(ok.metadata, '{"order":"42"}');
    assert.equal(ok.received_at, Date.parse('2026-11-26T13:31:47.123Z'));
    assert.equal(ok.source_offset, 99n);
    assert.equal(ok.lake_error, null);
    const bad = paymentEventRow({ ...base, topic: 'payments.normalized', value: Buffer.from('{not json') });
    assert.equal(bad.lake_error, 'the record value is not valid JSON');
    assert.equal(bad.raw_record, '{not json');
    assert.equal(bad.received_at, base.timestampMs);
  });

  it('reads validation DLQ records and keeps garbage as the whole record', () => {
    const d = validationDlqRow({
      ...base,
      topic: 'payments.validation.dlq',
      value: Buffer.from(
        JSON.stringify({
          event_id: null,
          failure_reason: 'INVALID_AMOUNT',
          validation_errors: [{ field: 'amount', code: 'INVALID_AMOUNT', message: 'bad' }],
          source_topic: 'webhooks.square.payment',
          kafka_partition: 1,
          kafka_offset: 5,
          quarantined_at: '2026-11-26T13:31:48.000Z',
        }),
      ),
    });
    assert.equal(d.failure_reason, 'INVALID_AMOUNT');
    assert.equal(d.source_offset, 5);
    assert.equal(d.quarantined_at, Date.parse('2026-11-26T13:31:48.000Z'));
    const g = validationDlqRow({ ...base, topic: 'payments.validation.dlq', value: Buffer.from([0xc3]) });
    assert.equal(g.failure_reason, 'LAKE_UNREADABLE_RECORD');
    assert.equal(g.record, 'ww==');
    assert.throws(() => rowFunctionFor(LAKE_TABLES.payment_outcomes), /not fed from Kafka/);
  });
});
