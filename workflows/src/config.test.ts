import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadWorkerConfig, redactUrl } from './config.ts';
import { DEFAULT_POLICIES, resolvePolicy } from './policies.ts';

describe('worker config', () => {
  it('uses the local defaults', () => {
    const c = loadWorkerConfig({});
    assert.equal(c.taskQueue, 'payment-processing');
    assert.equal(c.inferenceUrl, 'http://127.0.0.1:8090');
    assert.ok(c.rules.allowedCurrencies.includes('USD'));
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.rules));
  });

  it('polls both lanes by default, one when WORKER_LANES says so (issue 13), and refuses an unknown lane', () => {
    assert.deepEqual({ ...loadWorkerConfig({}).lanes }, { payments: true, reviews: true });
    const reviews = loadWorkerConfig({ WORKER_LANES: 'reviews', WORKER_NICE: '10' });
    assert.deepEqual({ ...reviews.lanes }, { payments: false, reviews: true });
    assert.equal(reviews.nice, 10);
    assert.throws(() => loadWorkerConfig({ WORKER_LANES: 'refunds' }), /WORKER_LANES/);
    assert.throws(() => loadWorkerConfig({ WORKER_NICE: '-1' }), /WORKER_NICE/);
  });

  it('scores fraud in process by default, over HTTP when WORKER_FRAUD_SCORING=http, and refuses anything else', () => {
    assert.equal(loadWorkerConfig({}).fraudScoring, 'in-process');
    assert.equal(loadWorkerConfig({ WORKER_FRAUD_SCORING: 'http' }).fraudScoring, 'http');
    assert.throws(() => loadWorkerConfig({ WORKER_FRAUD_SCORING: 'grpc' }), /WORKER_FRAUD_SCORING/);
  });

  it("serves /metrics on WORKER_METRICS_PORT with Temporal's exporter on another, internal port", () => {
    const c = loadWorkerConfig({});
    assert.deepEqual([c.metricsPort, c.temporalMetricsPort, c.temporalMetricsTimeoutMs], [9467, 0, 2000]);
    const set = loadWorkerConfig({ WORKER_TEMPORAL_METRICS_PORT: '19999', WORKER_TEMPORAL_METRICS_TIMEOUT_MS: '500' });
    assert.deepEqual([set.temporalMetricsPort, set.temporalMetricsTimeoutMs], [19999, 500]);
    assert.throws(() => loadWorkerConfig({ WORKER_TEMPORAL_METRICS_PORT: '9467' }), /WORKER_TEMPORAL_METRICS_PORT/);
    assert.throws(() => loadWorkerConfig({ WORKER_TEMPORAL_METRICS_PORT: '70000' }), /WORKER_TEMPORAL_METRICS_PORT/);
    assert.equal(loadWorkerConfig({ WORKER_METRICS_PORT: '0', WORKER_TEMPORAL_METRICS_PORT: '9467' }).metricsPort, 0);
  });

  it('reads business rules from the environment', () => {
    const c = loadWorkerConfig({
      WORKFLOW_ALLOWED_CURRENCIES: 'usd, eur',
      WORKFLOW_BLOCKED_CUSTOMERS: 'cus_a,cus_b',
      WORKFLOW_MAX_AMOUNT_MINOR_BY_CURRENCY: 'jpy:500',
    });
    assert.deepEqual(c.rules.allowedCurrencies, ['USD', 'EUR']);
    assert.deepEqual(c.rules.blockedCustomers, ['cus_a', 'cus_b']);
    assert.deepEqual(c.rules.maxAmountMinorByCurrency, { JPY: 500 });
  });

  it('stops on bad values with the variable name', () => {
    assert.throws(() => loadWorkerConfig({ WORKFLOW_ALLOWED_CURRENCIES: 'DOLLARS' }), /WORKFLOW_ALLOWED_CURRENCIES/);
    assert.throws(() => loadWorkerConfig({ WORKFLOW_MAX_AMOUNT_MINOR: '-5' }), /WORKFLOW_MAX_AMOUNT_MINOR/);
    assert.throws(() => loadWorkerConfig({ INFERENCE_URL: 'not a url' }), /INFERENCE_URL/);
  });

  it('redacts passwords', () => {
    assert.equal(redactUrl('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
  });
});

describe('activity policies', () => {
  it('defaults to the reference 3.3 numbers', () => {
    assert.equal(DEFAULT_POLICIES.rules.maximumAttempts, 3);
    assert.equal(DEFAULT_POLICIES.scoring.startToCloseTimeoutMs, 30_000);
    assert.equal(DEFAULT_POLICIES.scoring.maximumAttempts, 5);
    assert.equal(DEFAULT_POLICIES.persist.initialIntervalMs, 1_000);
  });

  it('merges overrides field by field', () => {
    const p = resolvePolicy('scoring', { scoring: { maximumAttempts: 2 } });
    assert.equal(p.maximumAttempts, 2);
    assert.equal(p.startToCloseTimeoutMs, 30_000);
  });
});
