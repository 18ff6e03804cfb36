import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KafkaMessage } from 'kafkajs';
import { BRIDGE_DLQ_CODE, bridgeDlqRecord, parseNormalized, reviewStart } from './bridge.ts';
import { loadBridgeConfig } from './config.ts';

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

  it('keys review workflows by the original raw coordinates and Adyen item', () => {
    const record = {
      source_topic: 'webhooks.adyen.notification',
      kafka_partition: 1,
      kafka_offset: 42,
      item_index: 2,
      original_payload: '{}',
    };
    const r = reviewStart('payments.validation.dlq', 0, msg(JSON.stringify(record), '9'));
    assert.equal(r.workflowId, 'dlq-review-webhooks.adyen.notification-1-42-item2');
    assert.deepEqual(r.input.dlq, { topic: 'payments.validation.dlq', partition: 0, offset: '9' });
  });

  it('falls back to the DLQ coordinates for an unreadable record', () => {
    const r = reviewStart('payments.validation.dlq', 0, msg('garbage', '11'));
    assert.equal(r.workflowId, 'dlq-review-payments.validation.dlq-0-11');
    assert.match(String(r.input.record.parse_error), /not JSON/);
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
  });
});
