import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createApp, MAX_BODY_BYTES } from './app.ts';
import { startInferenceServer } from './server.ts';

const app = createApp({ now: () => new Date('2026-11-26T00:00:00Z') });
const post = (path: string, body: unknown) =>
  app.request(path, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });

describe('inference HTTP app', () => {
  it('answers health with the rules model version', async () => {
    const res = await app.request('/health');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'healthy', service: 'inference-service', model_version: 'rules-v1' });
  });

  it('scores fraud', async () => {
    const res = await post('/fraud/score', {
      event_id: 'stripe:evt_1',
      amount_minor: 2000,
      currency: 'usd',
      customer_id: 'c',
      merchant_id: 'm',
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { risk_level: string; model_version: string };
    assert.equal(body.risk_level, 'low');
    assert.equal(body.model_version, 'rules-v1');
  });

  it('rejects a negative amount with 422 and the error shape', async () => {
    const res = await post('/fraud/score', { event_id: 'e', amount_minor: -1, currency: 'USD' });
    assert.equal(res.status, 422);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_request');
    assert.match(body.error.message, /amount_minor/);
  });

  it('rejects malformed JSON and non-objects', async () => {
    assert.equal((await post('/churn/predict', '{nope')).status, 422);
    assert.equal((await post('/churn/predict', '[1]')).status, 422);
  });

  it('predicts churn, recommends retry and recovery', async () => {
    const churn = await post('/churn/predict', {
      customer_id: 'c',
      consecutive_failures: 3,
      total_payments: 4,
      failed_payments: 3,
      days_since_last_payment: 61,
    });
    assert.equal(((await churn.json()) as { risk_level: string }).risk_level, 'critical');
    const retry = await post('/retry/strategy', { event_id: 'e', failure_code: 'processing_error', amount_minor: 10 });
    assert.equal(((await retry.json()) as { delay_seconds: number }).delay_seconds, 60);
    const rec = await post('/recovery/recommend', {
      event_id: 'e',
      customer_id: 'c',
      amount_minor: 10,
      failure_code: 'timeout',
      attempt_number: 9,
    });
    assert.equal(rec.status, 200);
  });

  it('refuses bodies over the limit with 413', async () => {
    const res = await post('/fraud/score', JSON.stringify({ event_id: 'x'.repeat(MAX_BODY_BYTES + 10) }));
    assert.equal(res.status, 413);
  });

  it('scores batches in order and names the bad item', async () => {
    const ok = await post('/fraud/score/batch', {
      items: [
        { event_id: 'a', amount_minor: 100, currency: 'USD', customer_id: 'c', merchant_id: 'm' },
        { event_id: 'b', amount_minor: 2_000_000, currency: 'USD' },
      ],
    });
    const body = (await ok.json()) as { results: { event_id: string; risk_level: string }[] };
    assert.deepEqual(
      body.results.map((r) => [r.event_id, r.risk_level]),
      [
        ['a', 'low'],
        ['b', 'high'],
      ],
    );
    const bad = await post('/churn/predict/batch', { items: [{ customer_id: 'c' }, { customer_id: 5 }] });
    assert.equal(bad.status, 422);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /items\[1\]/);
    const tooMany = await post('/retry/strategy/batch', {
      items: new Array(501).fill({ event_id: 'e', amount_minor: 1 }),
    });
    assert.equal(tooMany.status, 422);
  });

  it('answers 404 in the error shape', async () => {
    const res = await app.request('/nope');
    assert.equal(res.status, 404);
  });

  it('over real HTTP on Node: garbage bytes, a non-object and a too-large body get clear errors', async () => {
    const srv = await startInferenceServer({ host: '127.0.0.1', port: 0 });
    const post = (path: string, body: Uint8Array | string) =>
      fetch(`http://127.0.0.1:${srv.port}${path}`, { method: 'POST', body });
    try {
      const garbage = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
      for (const path of ['/fraud/score/batch', '/fraud/score', '/churn/predict/batch', '/retry/strategy']) {
        const res = await post(path, garbage);
        assert.equal(res.status, 422, path);
        assert.deepEqual(await res.json(), { error: { code: 'invalid_request', message: 'body must be JSON' } });
      }
      const arr = await post('/fraud/score/batch', '[1,2]');
      assert.equal(arr.status, 422);
      assert.equal(((await arr.json()) as { error: { message: string } }).error.message, 'body must be a JSON object');
      const big = await post('/fraud/score/batch', new Uint8Array(MAX_BODY_BYTES + 1));
      assert.equal(big.status, 413);
      assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'body_too_large');
      // A valid batch over the same path still scores (rules-v1 without a scoring service), in order.
      const ok = await post(
        '/fraud/score/batch',
        JSON.stringify({ items: [1, 2].map((i) => ({ event_id: `e${i}`, amount_minor: 100 * i, currency: 'usd' })) }),
      );
      assert.equal(ok.status, 200);
      const results = ((await ok.json()) as { results: { event_id: string }[] }).results;
      assert.deepEqual(
        results.map((r) => r.event_id),
        ['e1', 'e2'],
      );
    } finally {
      await srv.close();
    }
  });

  it('serves over real HTTP on Node', async () => {
    const srv = await startInferenceServer({ host: '127.0.0.1', port: 0 });
    try {
      const res = await fetch(`http://127.0.0.1:${srv.port}/health`);
      assert.equal(res.status, 200);
    } finally {
      await srv.close();
    }
  });
});
