import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RAW_TOPICS, TOPICS } from '@pep/contracts';
import { ConfigError, loadQuarantineConfig, loadTransformerConfig, providerOfTopic, redactUrl } from './config.ts';

test('defaults follow the contract topics', () => {
  const t = loadTransformerConfig({});
  assert.deepEqual(t.inputTopics, Object.values(RAW_TOPICS));
  assert.equal(t.normalizedTopic, TOPICS.normalized);
  assert.equal(t.dlqTopic, TOPICS.validationDlq);
  assert.equal(t.mode, 'exactly_once');
  assert.equal(t.transactionalId, 'pep-transformer-0');
  assert.equal(t.pipelineFetch, false);
  assert.equal(t.prefetch, true);
  assert.equal(t.maxBatchMessages, 10_000);
  assert.equal(t.maxFetchBytesPerPartition, 4 << 20);
  assert.equal(t.fetchMinBytes, 65536);
  assert.equal(t.fetchMaxWaitMs, 10);
  assert.equal(loadTransformerConfig({ TRANSFORMER_FETCH_MIN_BYTES: '1' }).fetchMinBytes, 1);
  assert.throws(() => loadTransformerConfig({ TRANSFORMER_FETCH_MIN_BYTES: '0' }), /TRANSFORMER_FETCH_MIN_BYTES/);
  const q = loadQuarantineConfig({});
  assert.equal(q.webhookDlqTopic, TOPICS.webhooksDlq);
  assert.equal(q.validationDlqTopic, TOPICS.validationDlq);
});

test('bad values stop with the variable name', () => {
  assert.throws(() => loadTransformerConfig({ TRANSFORMER_MODE: 'maybe_once' }), /TRANSFORMER_MODE/);
  assert.throws(() => loadTransformerConfig({ TRANSFORMER_MAX_BATCH_MESSAGES: '0' }), ConfigError);
  assert.throws(() => loadTransformerConfig({ TRANSFORMER_INPUT_TOPICS: 'payments.normalized' }), /not a raw topic/);
  assert.throws(() => loadQuarantineConfig({ QUARANTINE_MAX_BATCH_ROWS: '5000' }), /QUARANTINE_MAX_BATCH_ROWS/);
});

test('provider from raw topic names, with or without a test prefix', () => {
  assert.equal(providerOfTopic('webhooks.braintree.notification'), 'braintree');
  assert.equal(providerOfTopic('t-x-1.webhooks.square.refund'), 'square');
  assert.throws(() => providerOfTopic('webhooks.paypal.payment'));
});

test('redactUrl hides the password', () => {
  assert.equal(
    redactUrl('postgres://payments:secret@127.0.0.1:5432/payments'),
    'postgres://payments:***@127.0.0.1:5432/payments',
  );
});
