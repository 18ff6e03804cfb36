import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { BRIDGE_DLQ_CODE, batchFingerprint, bridgeDlqRecord, parseNormalized } from './bridge.ts';
import { loadBridgeConfig } from './config.ts';
import { cutReviewGroups, reviewItem, StartPacer } from './reviews.ts';

const msg = (value: string | Buffer | null, offset = '7'): KafkaMessage =>
  ({
    key: Buffer.from('evt_1'),
    value: typeof value === 'string' ? Buffer.from(value) : value,
    offset,
    timestamp: '0',
    attributes: 0,
    headers: {},
  }) as KafkaMessage;

describe('bridge message handling', () => {
  it('reads the event_id of a unified event', () => {
    const r = parseNormalized(Buffer.from('{"event_id":"stripe:evt_1","amount_minor":1}'));
    assert.deepEqual(r.ok && r.eventId, 'stripe:evt_1');
  });

  it('refuses values that cannot start a workflow, with a reason', () => {
    for (const v of [null, Buffer.from('nope'), Buffer.from('[1]'), Buffer.from('{"event_id":5}')]) {
      const r = parseNormalized(v);
      assert.equal(r.ok, false);
    }
  });

  it('quarantines with the original coordinates and the raw value', () => {
    const rec = bridgeDlqRecord('payments.normalized', 2, msg(Buffer.from([0xff, 0x00])), 'bad', new Date(0));
    assert.equal(rec.failure_reason, BRIDGE_DLQ_CODE);
    assert.equal(rec.source_topic, 'payments.normalized');
    assert.equal(rec.kafka_partition, 2);
    assert.equal(rec.kafka_offset, 7);
    assert.equal(rec.original_payload_encoding, 'base64');
    assert.equal(Buffer.from(rec.original_payload ?? '', 'base64').toString('hex'), 'ff00');
  });

  it('keys reviews by the original raw coordinates and Adyen item, with a bounded, redacted summary', () => {
    const record = {
      event_id: 'adyen:psp_AUTHORISATION',
      provider: 'adyen',
      source_topic: 'webhooks.adyen.notification',
      kafka_partition: 1,
      kafka_offset: 42,
      item_index: 2,
      failure_reason: 'INVALID_AMOUNT',
      validation_errors: Array.from({ length: 30 }, (_, i) => ({
        field: 'amount',
        code: 'INVALID_AMOUNT',
        message: `${i} card 4111111111111111 ${'x'.repeat(1000)}`,
      })),
      original_payload: '{}',
    };
    const item = reviewItem('payments.validation.dlq', 0, msg(JSON.stringify(record), '9'));
    assert.equal(item.key, 'dlq-review-webhooks.adyen.notification-1-42-item2');
    assert.equal(item.dlqOffset, '9');
    assert.deepEqual(item.source, { topic: 'webhooks.adyen.notification', partition: 1, offset: '42' });
    assert.equal(item.validationErrors.length, 10);
    assert.ok(item.validationErrors.every((e) => e.message.length <= 256 && !e.message.includes('4111111111111111')));
  });

  it("keys a review by the raw record's coordinates and timestamp: reused offsets are another record", () => {
    const record = (receivedAt: string, quarantinedAt: string) =>
      JSON.stringify({
        source_topic: 'webhooks.stripe.charge',
        kafka_partition: 0,
        kafka_offset: 7,
        received_at: receivedAt,
        quarantined_at: quarantinedAt,
      });
    const first = reviewItem('d', 0, msg(record('2026-12-01T00:00:00.000Z', '2026-12-01T00:00:01.000Z'), '3'));
    assert.equal(first.key, `dlq-review-webhooks.stripe.charge-0-7-at${Date.parse('2026-12-01T00:00:00.000Z')}`);
    // The same raw record transformed again (another quarantined_at, another DLQ offset): the same review.
    const again = reviewItem('d', 0, msg(record('2026-12-01T00:00:00.000Z', '2026-12-02T00:00:00.000Z'), '4'));
    assert.equal(again.key, first.key);
    assert.notEqual(again.dlqRecordSha256, first.dlqRecordSha256);
    // Another raw record at the same coordinates (the raw topic was re-created): another review.
    const other = reviewItem('d', 0, msg(record('2026-12-05T00:00:00.000Z', '2026-12-05T00:00:01.000Z'), '3'));
    assert.notEqual(other.key, first.key);
  });

  it('falls back to the DLQ coordinates for an unreadable record', () => {
    const item = reviewItem('payments.validation.dlq', 0, msg('garbage', '11'));
    // With the first 16 hex digits of the record's fingerprint: DLQ offsets are reused after a topic is re-created.
    // (SHA-256 over the key's length as int32 big-endian, the key 'evt_1' and the value, as the quarantine row.)
    const sha = createHash('sha256')
      .update(Buffer.from([0, 0, 0, 5]))
      .update('evt_1garbage')
      .digest('hex');
    assert.equal(item.dlqRecordSha256, sha);
    assert.equal(item.key, `dlq-review-payments.validation.dlq-0-11-${sha.slice(0, 16)}`);
    assert.equal(item.failureReason, 'UNREADABLE_DLQ_RECORD');
    assert.match(String(item.validationErrors[0]?.message), /not JSON/);
  });

  it('cuts DLQ records into review groups by count and by bytes, named by their offset range', () => {
    const msgs = Array.from({ length: 1203 }, (_, i) =>
      msg(JSON.stringify({ source_topic: 't', kafka_partition: 0, kafka_offset: i }), String(1000 + i)),
    );
    const groups = cutReviewGroups('payments.validation.dlq', 0, msgs, 500);
    assert.deepEqual(
      groups.map((g) => g.items.length),
      [500, 500, 203],
    );
    assert.equal(groups[0]?.workflowId, 'dlq-review-group-payments.validation.dlq-0-1000-1499');
    assert.equal(groups[2]?.workflowId, 'dlq-review-group-payments.validation.dlq-0-2000-2202');
    const fat = Array.from({ length: 200 }, (_, i) =>
      msg(
        JSON.stringify({
          source_topic: 't',
          kafka_partition: 0,
          kafka_offset: i,
          validation_errors: Array.from({ length: 10 }, () => ({ field: 'f', code: 'C', message: 'm'.repeat(300) })),
        }),
        String(i),
      ),
    );
    const byBytes = cutReviewGroups('d', 0, fat, 500);
    assert.ok(byBytes.length > 1, 'a group is cut at its byte bound');
    assert.ok(byBytes.every((g) => JSON.stringify(g.items).length <= 256 * 1024 + 4096));
    assert.equal(
      byBytes.reduce((n, g) => n + g.items.length, 0),
      200,
      'every record is in exactly one group',
    );
  });

  it('paces review group starts', async () => {
    let now = 0;
    const waits: number[] = [];
    const pacer = new StartPacer(
      2,
      () => now,
      async (ms) => {
        waits.push(ms);
        now += ms;
      },
    );
    for (let i = 0; i < 5; i++) await pacer.wait(() => true);
    assert.equal(now, 2000, 'five starts at 2/s take 2 s after the first');
  });
});

describe('bridge config', () => {
  it('has contract defaults', () => {
    const c = loadBridgeConfig({});
    assert.equal(c.normalizedTopic, 'payments.normalized');
    assert.equal(c.taskQueue, 'payment-processing');
    assert.equal(c.maxInFlight, 64);
    assert.equal(c.reviewsEnabled, true);
    assert.equal(c.batchSize, 50);
    assert.equal(c.maxWorkflowsPerS, 10);
    assert.equal(c.initialWorkflowsPerS, 10);
    assert.equal(c.minWorkflowsPerS, 2);
    assert.equal(c.fetchMinBytes, 25 * 512);
    assert.equal(c.activityMode, 'local');
    assert.equal(loadBridgeConfig({ BRIDGE_BATCH_SIZE: '1' }).fetchMinBytes, 1);
  });

  it('rejects bad values naming the variable', () => {
    assert.throws(() => loadBridgeConfig({ BRIDGE_MAX_IN_FLIGHT: '0' }), /BRIDGE_MAX_IN_FLIGHT/);
    assert.throws(() => loadBridgeConfig({ BRIDGE_ACTIVITY_MODE: 'fast' }), /BRIDGE_ACTIVITY_MODE/);
    assert.throws(() => loadBridgeConfig({ BRIDGE_REVIEWS: 'maybe' }), /BRIDGE_REVIEWS/);
    assert.throws(() => loadBridgeConfig({ BRIDGE_NICE: '20' }), /BRIDGE_NICE/);
    assert.throws(
      () => loadBridgeConfig({ BRIDGE_PAYMENTS: 'false', BRIDGE_REVIEWS: 'false' }),
      /BRIDGE_PAYMENTS and BRIDGE_REVIEWS are both off/,
    );
  });

  it('runs one lane per process when asked (issue 13: the review lane apart and at a lower CPU priority)', () => {
    const both = loadBridgeConfig({});
    assert.deepEqual([both.paymentsEnabled, both.reviewsEnabled, both.nice], [true, true, 0]);
    const reviews = loadBridgeConfig({ BRIDGE_PAYMENTS: 'false', BRIDGE_NICE: '10' });
    assert.deepEqual([reviews.paymentsEnabled, reviews.reviewsEnabled, reviews.nice], [false, true, 10]);
  });
});

describe('batchFingerprint', () => {
  it('is the same for the same events and differs for other events at the same offsets', () => {
    const a = [{ event_id: 'stripe:evt_1' }, { event_id: 'stripe:evt_2' }];
    assert.match(batchFingerprint(a), /^[0-9a-f]{12}$/);
    assert.equal(batchFingerprint(a), batchFingerprint(a.map((e) => ({ ...e, amount_minor: 5 }))));
    assert.notEqual(
      batchFingerprint(a),
      batchFingerprint([{ event_id: 'stripe:evt_1' }, { event_id: 'stripe:evt_3' }]),
    );
    assert.notEqual(batchFingerprint(a), batchFingerprint([...a].reverse()));
  });
});
