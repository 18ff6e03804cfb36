import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { WebhookDlqRecord } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import braintree from 'braintree';
import { createApp, LogRateLimiter } from './app.ts';
import { loadConfig } from './config.ts';
import { EdgeMetrics } from './metrics.ts';
import { GroupCommitProducer } from './producer.ts';
import { adyenSignature, adyenSigningString } from './providers/adyen.ts';
import { squareSignature } from './providers/square.ts';
import { stripeSignature } from './providers/stripe.ts';
import { type BatchSink, MemorySink, type OutRecord } from './sink.ts';

const NOW = 1_800_000_000;
const config = loadConfig({ EDGE_MAX_BODY_BYTES: '4096', EDGE_LINGER_MS: '1', EDGE_SINK: 'memory' });

function setup(
  sink: BatchSink = new MemorySink(),
  over: Partial<typeof config.limits> = {},
  logLines: string[] | null = null,
) {
  const cfg = { ...config, limits: { ...config.limits, ...over } };
  const metrics = new EdgeMetrics();
  const producer = new GroupCommitProducer(
    sink,
    cfg.limits,
    metrics,
    createLogger('error', {}, () => undefined),
  );
  const app = createApp({
    config: cfg,
    producer,
    metrics,
    log: logLines
      ? createLogger('info', {}, (line) => void logLines.push(line), false)
      : createLogger('error', {}, () => undefined),
    ready: async () => true,
    nowSeconds: () => NOW,
    // The log rate limiters' windows on a fixed clock: a slow machine cannot open a second window mid-test.
    nowMs: () => NOW * 1000,
  });
  return { app, sink, metrics, producer };
}
const waitFor = async (cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not reached');
};

const stripeBody = (id = 'evt_1', type = 'payment_intent.succeeded') =>
  JSON.stringify({ id, type, data: { object: { id: 'pi_1', amount: 100, currency: 'usd' } } });
const stripeReq = (body: string, t = NOW, secret = 'whsec_test_secret_for_dev', path = '/webhooks/stripe') =>
  new Request(`http://edge${path}`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'stripe-signature': `t=${t},v1=${stripeSignature(secret, String(t), Buffer.from(body)).toString('hex')}`,
      'x-request-id': 'req-123',
    },
  });

describe('edge routes (memory sink)', () => {
  test('Stripe: 200 after the write, raw bytes and headers on the right topic, trailing slash accepted', async () => {
    const { app, sink } = setup();
    const body = stripeBody();
    for (const path of ['/webhooks/stripe', '/webhooks/stripe/']) {
      const res = await app.request(stripeReq(body, NOW, undefined, path));
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'accepted', event_id: 'evt_1' });
      assert.equal(res.headers.get('x-request-id'), 'req-123');
    }
    const rec = (sink as MemorySink).records[0] as OutRecord;
    assert.equal(rec.topic, 'webhooks.stripe.payment_intent');
    assert.equal(rec.key, 'pi_1');
    assert.equal(Buffer.from(rec.value).toString(), body);
    assert.equal(rec.headers['request-id'], 'req-123');
    assert.equal(rec.headers.provider, 'stripe');
    assert.equal(rec.headers['event-id'], 'evt_1');
    assert.match(rec.headers['received-at'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  test('EDGE_TOPIC_PREFIX prefixes the raw topic and webhooks.dlq; a bad prefix stops the configuration', async () => {
    const prefixed = loadConfig({ EDGE_SINK: 'memory', EDGE_TOPIC_PREFIX: 'env-a.' });
    const sink = new MemorySink();
    const metrics = new EdgeMetrics();
    const silent = createLogger('error', {}, () => undefined);
    const producer = new GroupCommitProducer(sink, prefixed.limits, metrics, silent);
    const app = createApp({
      config: prefixed,
      producer,
      metrics,
      log: silent,
      ready: async () => true,
      nowSeconds: () => NOW,
    });
    assert.equal((await app.request(stripeReq(stripeBody()))).status, 200);
    assert.equal((await app.request(stripeReq(stripeBody(), NOW, 'whsec_wrong'))).status, 401);
    await waitFor(() => sink.records.length === 2);
    assert.deepEqual(sink.records.map((r) => r.topic).sort(), [
      'env-a.webhooks.dlq',
      'env-a.webhooks.stripe.payment_intent',
    ]);
    assert.throws(() => loadConfig({ EDGE_TOPIC_PREFIX: 'a b' }), /EDGE_TOPIC_PREFIX/);
  });

  test('Stripe forged and expired signatures: 401 JSON error, DLQ record with redacted headers', async () => {
    const { app, sink } = setup();
    const forged = await app.request(stripeReq(stripeBody(), NOW, 'whsec_wrong'));
    assert.equal(forged.status, 401);
    const err = (await forged.json()) as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'invalid_signature');
    assert.ok(!JSON.stringify(err).includes('whsec'));
    const expired = await app.request(stripeReq(stripeBody(), NOW - 301));
    assert.equal(((await expired.json()) as { error: { code: string } }).error.code, 'signature_expired');
    const mem = sink as MemorySink;
    await waitFor(() => mem.records.length === 2);
    const dlq = JSON.parse(Buffer.from((mem.records[0] as OutRecord).value).toString()) as WebhookDlqRecord;
    assert.equal((mem.records[0] as OutRecord).topic, 'webhooks.dlq');
    assert.equal(dlq.reason, 'invalid_signature');
    assert.equal(dlq.security_event, true);
    assert.equal(dlq.http_status, 401);
    assert.equal(dlq.headers['stripe-signature'], '[redacted]');
    assert.equal(dlq.body, stripeBody());
    assert.equal(dlq.body_encoding, 'utf8');
    assert.equal(dlq.request_id, 'req-123');
  });

  test('400 for bad JSON after a valid signature; non-UTF-8 bodies are base64 in the DLQ', async () => {
    const { app, sink } = setup();
    const res = await app.request(stripeReq('{"id": "evt_1", oops'));
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_json');
    const raw = Buffer.from([0xff, 0xfe, 0x00]);
    const t = NOW;
    const r2 = await app.request(
      new Request('http://edge/webhooks/stripe', {
        method: 'POST',
        body: raw,
        headers: {
          'stripe-signature': `t=${t},v1=${stripeSignature('whsec_test_secret_for_dev', String(t), raw).toString('hex')}`,
        },
      }),
    );
    assert.equal(r2.status, 400);
    const mem = sink as MemorySink;
    await waitFor(() => mem.records.length === 2);
    const dlq = JSON.parse(Buffer.from((mem.records[1] as OutRecord).value).toString()) as WebhookDlqRecord;
    assert.equal(dlq.body_encoding, 'base64');
    assert.deepEqual(Buffer.from(dlq.body, 'base64'), raw);
  });

  test('issue 13: no card number or signature in a DLQ record, an error body or a log line', async () => {
    const lines: string[] = [];
    const { app, sink } = setup(new MemorySink(), {}, lines);
    // A validly signed Stripe body that is not JSON and quotes a card number: V8's parse error quotes the body.
    const res = await app.request(stripeReq('{"id":"evt_1","note":"4111111111111111" oops'));
    assert.equal(res.status, 400);
    const errText = await res.text();
    assert.doesNotMatch(errText, /4111111111111111/);
    // A forged Adyen item: its hmacSignature and a card number in merchantReference.
    const item = {
      pspReference: '8535296650153317',
      eventCode: 'AUTHORISATION',
      merchantAccountCode: 'M',
      merchantReference: 'card 5555 5555 5555 4444',
      amount: { value: 100, currency: 'EUR' },
      success: 'true',
      additionalData: { hmacSignature: 'coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0=' },
    };
    const forged = await app.request(
      new Request('http://edge/webhooks/adyen', {
        method: 'POST',
        body: JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] }),
        headers: { 'content-type': 'application/json', 'x-request-id': '4111111111111111' },
      }),
    );
    assert.equal(forged.status, 401);
    const mem = sink as MemorySink;
    await waitFor(() => mem.records.length === 2);
    const all = mem.records.map((r) => Buffer.from(r.value).toString()).join('\n') + lines.join('\n');
    for (const leak of ['4111111111111111', '5555 5555 5555 4444', 'coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0='])
      assert.ok(!all.includes(leak), `${leak} leaked`);
    const dlq = JSON.parse(Buffer.from((mem.records[1] as OutRecord).value).toString()) as WebhookDlqRecord;
    assert.match(dlq.body, /"hmacSignature":"\[redacted\]"/);
    assert.match(dlq.body, /"merchantReference":"card \*{4} \*{4} \*{4} \*{4}"/);
    assert.equal(dlq.request_id, '****************');
    assert.match(dlq.body, /8535296650153317/, 'an Adyen pspReference is not a card');
  });

  test('413 over the body limit, by Content-Length and by streamed size, without storing anything', async () => {
    const { app, sink } = setup();
    const big = 'x'.repeat(5000);
    const res = await app.request(stripeReq(big));
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'body_too_large');
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < 10; i++) ctl.enqueue(new Uint8Array(1000));
        ctl.close();
      },
    });
    const res2 = await app.request(
      new Request('http://edge/webhooks/square', { method: 'POST', body: stream, duplex: 'half' } as RequestInit),
    );
    assert.equal(res2.status, 413);
    assert.equal(res.headers.get('connection'), 'close', 'the rest of the body is not read: the connection closes');
    assert.equal(res2.headers.get('connection'), 'close');
    assert.equal(((await res2.json()) as { error: { code: string } }).error.code, 'body_too_large');
    assert.equal((sink as MemorySink).written, 0);
  });

  test('an unreadable body (client gone, malformed chunks) is a 400 counted and logged within the limit, never an error line', async () => {
    const lines: string[] = [];
    const { app, metrics } = setup(new MemorySink(), { refusalLogPerSecond: 3 }, lines);
    for (let i = 0; i < 20; i++) {
      const stream = new ReadableStream({
        pull(ctl) {
          ctl.error(Object.assign(new Error('The connection was closed.'), { name: 'AbortError' }));
        },
      });
      const res = await app.request(
        new Request('http://edge/webhooks/stripe', { method: 'POST', body: stream, duplex: 'half' } as RequestInit),
      );
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'body_unreadable');
      assert.equal(res.headers.get('connection'), 'close');
    }
    assert.equal(metrics.bodyReadFailures.get({ provider: 'stripe' }), 20);
    const msgs = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.equal(msgs.filter((m) => m.level === 'error').length, 0, 'issue 13: one error line per aborted read');
    assert.equal(msgs.filter((m) => m.msg === 'webhook body unreadable').length, 3);
  });

  test('a source that earned its burst of 400/401 answers is answered 429 unread; other sources and valid requests are not', async () => {
    const { app, sink, metrics } = setup(new MemorySink(), { rejectRatePerS: 1, rejectBurst: 3 });
    const from = (ip: string, req: Request) => app.handleWebhook('stripe', req, ip);
    for (let i = 0; i < 3; i++)
      assert.equal((await from('10.0.0.1', stripeReq(stripeBody(`evt_x${i}`), NOW, 'whsec_forged'))).status, 401);
    const limited = await from('10.0.0.1', stripeReq(stripeBody('evt_valid')));
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(limited.headers.get('connection'), 'close');
    assert.equal(metrics.rateLimited.get({ provider: 'stripe' }), 1);
    assert.equal(metrics.dlqRecords.get({ reason: 'invalid_signature' }), 3, 'a limited request writes no DLQ record');
    assert.equal((await from('10.0.0.2', stripeReq(stripeBody('evt_other')))).status, 200, 'another source');
    for (let i = 0; i < 10; i++)
      assert.equal(
        (await from('10.0.0.3', stripeReq(stripeBody(`evt_ok${i}`)))).status,
        200,
        'valid requests cost nothing',
      );
    await waitFor(() => (sink as MemorySink).records.some((r) => r.headers['event-id'] === 'evt_ok9'));
  });

  test('unexpected errors are logged within the per-second limit and counted beyond it', async () => {
    const lines: string[] = [];
    const failing: BatchSink = {
      send: () => {
        throw new Error('boom');
      },
      probe: async () => true,
      close: async () => undefined,
    } as unknown as BatchSink;
    const { app, metrics } = setup(failing, { refusalLogPerSecond: 2 }, lines);
    const bad = new Request('http://edge/webhooks/stripe', { method: 'POST', body: '{}' });
    Object.defineProperty(bad, 'headers', {
      get() {
        throw new Error('headers exploded');
      },
    });
    for (let i = 0; i < 5; i++) assert.equal((await app.handleWebhook('stripe', bad)).status, 500);
    const errors = lines.filter((l) => (JSON.parse(l) as { msg: string }).msg === 'unhandled error');
    assert.equal(errors.length, 2);
    assert.equal(metrics.errorLogSuppressed.get(), 3);
  });

  test('Square, Adyen ([accepted]) and Braintree are accepted on their topics', async () => {
    const { app, sink } = setup();
    const sq = JSON.stringify({
      event_id: 'sq_evt_1',
      type: 'payment.updated',
      merchant_id: 'M1',
      data: { type: 'payment', id: 'P1', object: { payment: { id: 'P1' } } },
    });
    const r1 = await app.request(
      new Request('http://edge/webhooks/square', {
        method: 'POST',
        body: sq,
        headers: {
          'x-square-hmacsha256-signature': squareSignature(
            'sq_signature_key_for_dev',
            config.square.notificationUrl,
            Buffer.from(sq),
          ).toString('base64'),
        },
      }),
    );
    assert.equal(r1.status, 200);
    const item: Record<string, unknown> = {
      pspReference: 'PSP1',
      merchantAccountCode: 'M',
      merchantReference: 'o1',
      amount: { value: 0, currency: 'EUR' },
      eventCode: 'AUTHORISATION',
      success: 'true',
    };
    item.additionalData = {
      hmacSignature: adyenSignature(config.adyen.hmacKeys[0] as Buffer, adyenSigningString(item) as string).toString(
        'base64',
      ),
    };
    const r2 = await app.request(
      new Request('http://edge/webhooks/adyen', {
        method: 'POST',
        body: JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] }),
      }),
    );
    assert.equal(r2.status, 200);
    assert.equal(await r2.text(), '[accepted]');
    const gw = new braintree.BraintreeGateway({
      environment: braintree.Environment.Sandbox,
      merchantId: 'test_merchant_id',
      publicKey: 'test_public_key',
      privateKey: 'test_private_key',
    });
    const sample = gw.webhookTesting.sampleNotification('transaction_settled', 'txn_77');
    const form = new URLSearchParams(sample).toString();
    const r3 = await app.request(
      new Request('http://edge/webhooks/braintree/', {
        method: 'POST',
        body: form,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
    );
    assert.equal(r3.status, 200, await r3.clone().text());
    const topics = (sink as MemorySink).records.map((r) => [r.topic, r.key]);
    assert.deepEqual(topics, [
      ['webhooks.square.payment', 'P1'],
      ['webhooks.adyen.notification', 'PSP1'],
      ['webhooks.braintree.notification', 'txn_77'],
    ]);
    assert.equal(Buffer.from(((sink as MemorySink).records[2] as OutRecord).value).toString(), form);
  });

  test('a verified event outside the vocabulary is stored in webhooks.<provider>.other before its 200', async () => {
    const { app, sink, metrics } = setup();
    const res = await app.request(stripeReq(stripeBody('evt_9', 'customer.created')));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'accepted', event_id: 'evt_9', routed: 'other' });
    const rec = (sink as MemorySink).records[0] as OutRecord;
    assert.equal(rec.topic, 'webhooks.stripe.other');
    assert.equal(rec.key, 'evt_9', 'keyed by the provider event id');
    assert.equal(rec.headers?.['event-type'], 'customer.created');
    assert.match(metrics.render(), /edge_other_records_total\{provider="stripe"\} 1/);
    assert.doesNotMatch(metrics.render(), /edge_dlq_records_total\{/, 'not a DLQ record');
  });

  test('Braintree challenge answers public_key|hmac; bad challenges are 400', async () => {
    const { app } = setup();
    const ok = await app.request('/webhooks/braintree?bt_challenge=20f9f8ed05f77439fe955c977e4c8a53');
    assert.equal(ok.status, 200);
    const gw = new braintree.BraintreeGateway({
      environment: braintree.Environment.Sandbox,
      merchantId: 'm',
      publicKey: 'test_public_key',
      privateKey: 'test_private_key',
    });
    assert.equal(await ok.text(), gw.webhookNotification.verify('20f9f8ed05f77439fe955c977e4c8a53'));
    assert.equal((await app.request('/webhooks/braintree?bt_challenge=zz')).status, 400);
    assert.equal((await app.request('/webhooks/braintree')).status, 400);
  });

  test('503 with Retry-After when the sink fails or the in-flight bound is reached', async () => {
    const failing: BatchSink = {
      kind: 'x',
      send: () => Promise.reject(new Error('down')),
      reset() {},
      probe: async () => false,
      close: async () => {},
    };
    const { app } = setup(failing);
    const res = await app.request(stripeReq(stripeBody()));
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), String(config.limits.retryAfterSeconds));
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'kafka_unavailable');

    // A send that is not answered until the test ends (then it fails, which also clears the batch's 60 s produce
    // timer: left running, it kept this file's process alive for a minute after its last test).
    let fail: (err: Error) => void = () => undefined;
    const never: BatchSink = {
      kind: 'x',
      send: () =>
        new Promise((_, reject) => {
          fail = reject;
        }),
      reset() {},
      probe: async () => true,
      close: async () => {},
    };
    const s2 = setup(never, { maxInFlightMessages: 1, lingerMs: 0, produceTimeoutMs: 60_000 });
    const first = s2.app.request(stripeReq(stripeBody('evt_a')));
    await new Promise((r) => setTimeout(r, 10));
    const over = await s2.app.request(stripeReq(stripeBody('evt_b')));
    assert.equal(over.status, 503);
    assert.equal(((await over.json()) as { error: { code: string } }).error.code, 'overloaded');
    fail(new Error('the test is over'));
    assert.equal((await first).status, 503);
  });

  test('unknown provider and route are JSON 404; health, readiness and metrics answer', async () => {
    const { app, metrics } = setup();
    assert.equal((await app.request('/webhooks/paypal', { method: 'POST', body: '{}' })).status, 404);
    const nf = await app.request('/nope');
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as { error: { code: string } }).error.code, 'not_found');
    assert.equal((await app.request('/healthz')).status, 200);
    assert.equal((await app.request('/readyz')).status, 200);
    await app.request(stripeReq(stripeBody()));
    const text = await (await app.request('/metrics')).text();
    assert.match(text, /edge_http_requests_total\{provider="stripe",status="200"\} 1/);
    assert.match(text, /edge_batch_messages_count 1/);
    assert.match(text, /edge_inflight_messages 0/);
    assert.equal(metrics.requests.get({ provider: 'stripe', status: '200' }), 1);
  });

  test('the fast path and Hono answer the webhook route alike (query, trailing slash, encoded path, bad method)', async () => {
    const { app, sink } = setup();
    const ok = await app.request(stripeReq(stripeBody('evt_q'), NOW, undefined, '/webhooks/stripe/?attempt=2'));
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-request-id'), 'req-123');
    assert.equal(ok.headers.get('content-type'), 'application/json');
    // percent-encoded provider: not taken by the fast path; Hono decodes it and routes to Stripe as before
    const enc = await app.request(stripeReq(stripeBody('evt_e'), NOW, undefined, '/webhooks/str%69pe'));
    assert.equal(enc.status, 200);
    const deeper = await app.request(stripeReq(stripeBody('evt_d'), NOW, undefined, '/webhooks/stripe/extra'));
    assert.equal(deeper.status, 404);
    assert.equal((await app.request('/webhooks/stripe', { method: 'PUT', body: '{}' })).status, 404);
    await waitFor(() => (sink as MemorySink).written === 2);
  });

  test('refusal log lines are rate-limited per second and the rest are counted', async () => {
    const lines: string[] = [];
    const { app, metrics } = setup(new MemorySink(), { refusalLogPerSecond: 2 }, lines);
    for (let i = 0; i < 6; i++) {
      const res = await app.request(stripeReq(stripeBody(`evt_f${i}`), NOW, 'whsec_forged'));
      assert.equal(res.status, 401);
    }
    const rejected = lines.filter((l) => (JSON.parse(l) as { msg: string }).msg === 'webhook rejected');
    assert.equal(rejected.length, 2);
    assert.equal(metrics.refusalLogSuppressed.get(), 4);
    assert.equal(metrics.dlqRecords.get({ reason: 'invalid_signature' }), 6, 'every refusal still gets its DLQ record');
    assert.match(await (await app.request('/metrics')).text(), /edge_refusal_log_suppressed_total 4/);
  });
});

describe('LogRateLimiter', () => {
  test('lets N lines through per one-second window and reports what it held back once the next window opens', () => {
    let now = 10_000;
    const reports: number[] = [];
    const limiter = new LogRateLimiter(
      3,
      (n) => reports.push(n),
      () => now,
    );
    const takes = () => Array.from({ length: 5 }, () => limiter.take());
    assert.deepEqual(takes(), [true, true, true, false, false]);
    now += 999;
    assert.equal(limiter.take(), false);
    assert.deepEqual(reports, []);
    now += 1;
    assert.deepEqual(takes(), [true, true, true, false, false]);
    assert.deepEqual(reports, [3]);
    now += 5000;
    assert.equal(limiter.take(), true);
    assert.deepEqual(reports, [3, 2]);
  });

  test('a limit of 0 suppresses every line', () => {
    const limiter = new LogRateLimiter(
      0,
      () => undefined,
      () => 0,
    );
    assert.equal(limiter.take(), false);
  });
});
