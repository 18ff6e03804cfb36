/**
 * The edge against the real local Kafka: accepted webhooks are on their topics byte for byte with the documented
 * headers; forged, expired and malformed requests get 401/400 and land in webhooks.dlq; oversize bodies get 413.
 * Needs `npm run stack:up`.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RAW_HEADERS, TOPICS, type WebhookDlqRecord } from '@pep/contracts';
import { redactPayload } from '@pep/contracts/redact';
import braintree from 'braintree';
import {
  adyenBody,
  type EdgeProcess,
  markTopics,
  readSince,
  spawnEdge,
  squareRequest,
  stripeEvent,
  stripeRequest,
  waitForKafka,
} from './helpers.ts';

const NOTIFICATION_URL = 'https://edge.example.test/webhooks/square';
let edge: EdgeProcess;

before(async () => {
  await waitForKafka();
  edge = await spawnEdge({ SQUARE_NOTIFICATION_URL: NOTIFICATION_URL, EDGE_MAX_BODY_BYTES: '65536' });
});
after(async () => {
  const code = await edge?.stop();
  assert.equal(code, 0, `edge did not exit cleanly:\n${edge?.output()}`);
});

describe('edge → Kafka (real broker)', () => {
  test('each provider: 200 only with the raw body on its topic, byte for byte, with key and headers', async () => {
    const run = randomUUID().replaceAll('-', '').slice(0, 12);
    const topics = [
      TOPICS['stripe.payment_intent'],
      TOPICS['stripe.refund'],
      TOPICS['square.payment'],
      TOPICS['adyen.notification'],
      TOPICS['braintree.notification'],
    ];
    const marks = await markTopics(topics);

    const stripeBody = stripeEvent(`evt_${run}`);
    // odd spacing and unicode: the stored bytes must be exactly these
    const refundBody = `{"id":"evt_r${run}",  "type":"refund.created","data":{"object":{"id":"re_${run}","payment_intent":"pi_${run}","metadata":{"note":"café ☕"}}}}`;
    const squareBody = JSON.stringify({
      merchant_id: 'M_1',
      type: 'payment.updated',
      event_id: `sq_${run}`,
      created_at: new Date().toISOString(),
      data: {
        type: 'payment',
        id: `P_${run}`,
        object: { payment: { id: `P_${run}`, amount_money: { amount: 100, currency: 'USD' } } },
      },
    });
    const adyen = adyenBody(`psp${run}`);
    const gw = new braintree.BraintreeGateway({
      environment: braintree.Environment.Sandbox,
      merchantId: 'test_merchant_id',
      publicKey: 'test_public_key',
      privateKey: 'test_private_key',
    });
    const btForm = new URLSearchParams(
      gw.webhookTesting.sampleNotification('transaction_settled', `txn_${run}`),
    ).toString();

    const sends: [string, RequestInit, string][] = [
      ['/webhooks/stripe', stripeRequest(stripeBody), stripeBody],
      ['/webhooks/stripe/', stripeRequest(refundBody), refundBody],
      ['/webhooks/square', squareRequest(squareBody, NOTIFICATION_URL), squareBody],
      ['/webhooks/adyen', { method: 'POST', body: adyen, headers: { 'content-type': 'application/json' } }, adyen],
      [
        '/webhooks/braintree',
        { method: 'POST', body: btForm, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        btForm,
      ],
    ];
    const requestIds: string[] = [];
    for (const [path, init, _] of sends) {
      const rid = `it-${run}-${requestIds.length}`;
      requestIds.push(rid);
      const res = await fetch(edge.url + path, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'x-request-id': rid },
      });
      assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
      if (path.includes('adyen')) assert.equal(await res.text(), '[accepted]');
    }

    const msgs = await readSince(marks, (m) =>
      requestIds.every((rid) => m.some((x) => x.headers[RAW_HEADERS.requestId] === rid)),
    );
    const expect: [string, string, string][] = [
      [TOPICS['stripe.payment_intent'], `pi_evt_${run}`, `evt_${run}`],
      [TOPICS['stripe.refund'], `pi_${run}`, `evt_r${run}`],
      [TOPICS['square.payment'], `P_${run}`, `sq_${run}`],
      [TOPICS['adyen.notification'], `psp${run}`, `psp${run}_AUTHORISATION`],
      [TOPICS['braintree.notification'], `txn_${run}`, `transaction_settled_txn_${run}`],
    ];
    sends.forEach(([path, , raw], i) => {
      const m = msgs.find((x) => x.headers[RAW_HEADERS.requestId] === requestIds[i]);
      assert.ok(
        m,
        `${path}: not found in Kafka; read ${msgs.length}: ${JSON.stringify(msgs.map((x) => [x.topic, x.partition, x.headers[RAW_HEADERS.requestId]]))} marks ${JSON.stringify(marks)}`,
      );
      const [topic, key, eventId] = expect[i] as [string, string, string];
      assert.equal(m.topic, topic);
      assert.equal(m.key, key);
      assert.ok(m.value.equals(Buffer.from(raw, 'utf8')), `${path}: bytes differ`);
      assert.equal(m.headers[RAW_HEADERS.eventId], eventId);
      assert.match(m.headers[RAW_HEADERS.receivedAt] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.ok(m.headers[RAW_HEADERS.provider]);
    });
  });

  test('forged, expired and malformed requests get 401/400 and land in webhooks.dlq with a reason and redacted headers', async () => {
    const run = randomUUID().slice(0, 8);
    const marks = await markTopics([TOPICS.webhooksDlq]);
    const cases: [string, RequestInit, number, string][] = [
      [
        '/webhooks/stripe',
        stripeRequest(stripeEvent(`evt_f${run}`), { secret: 'whsec_forged' }),
        401,
        'invalid_signature',
      ],
      [
        '/webhooks/stripe',
        stripeRequest(stripeEvent(`evt_e${run}`), { t: Math.floor(Date.now() / 1000) - 3600 }),
        401,
        'signature_expired',
      ],
      ['/webhooks/stripe', { method: 'POST', body: stripeEvent(`evt_n${run}`) }, 401, 'missing_signature'],
      ['/webhooks/stripe', stripeRequest('{"id": "evt_bad", '), 400, 'invalid_json'],
      ['/webhooks/square', squareRequest('{"type":"payment.created"}', NOTIFICATION_URL), 400, 'missing_field'],
      [
        '/webhooks/adyen',
        { method: 'POST', body: adyenBody(`p${run}`).replace('"value":2000', '"value":2001') },
        401,
        'invalid_signature',
      ],
      [
        '/webhooks/braintree',
        {
          method: 'POST',
          body: 'bt_signature=test_public_key%7Cdeadbeef&bt_payload=PG5vdGlmaWNhdGlvbj4%3D',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        401,
        'invalid_signature',
      ],
    ];
    const rids: string[] = [];
    for (const [path, init, status, code] of cases) {
      const rid = `dlq-${run}-${rids.length}`;
      rids.push(rid);
      const res = await fetch(edge.url + path, {
        ...init,
        headers: { ...((init.headers as Record<string, string>) ?? {}), 'x-request-id': rid },
      });
      assert.equal(res.status, status, path);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      assert.ok(!/whsec_test|sq_signature_key|44782DEF/i.test(body.error.message));
    }
    const msgs = await readSince(marks, (m) =>
      rids.every((rid) => m.some((x) => x.headers[RAW_HEADERS.requestId] === rid)),
    );
    cases.forEach(([path, init, status, code], i) => {
      const m = msgs.find((x) => x.headers[RAW_HEADERS.requestId] === rids[i]);
      assert.ok(m, `${path} ${code}: no DLQ record`);
      const rec = JSON.parse(m.value.toString()) as WebhookDlqRecord;
      assert.equal(rec.reason, code);
      assert.equal(rec.http_status, status);
      assert.equal(rec.security_event, status === 401);
      // The body as sent, with signatures and card numbers masked (Adyen's hmacSignature, Braintree's bt_signature).
      assert.equal(rec.body, redactPayload(Buffer.from(String(init.body), 'utf8')).text);
      if (rec.headers['stripe-signature'] !== undefined) assert.equal(rec.headers['stripe-signature'], '[redacted]');
      assert.ok(!m.value.toString().includes('whsec_test_secret_for_dev'));
    });
  });

  test('an oversize body gets 413 and nothing reaches Kafka', async () => {
    const marks = await markTopics([TOPICS['stripe.payment_intent'], TOPICS.webhooksDlq]);
    const big = stripeEvent(`evt_big${'x'.repeat(70_000)}`);
    const res = await fetch(`${edge.url}/webhooks/stripe`, {
      ...stripeRequest(big),
      headers: { ...(stripeRequest(big).headers as Record<string, string>), 'x-request-id': 'big-1' },
    });
    assert.equal(res.status, 413);
    // The edge answers before reading the rest of the body and closes the connection; a client still uploading may
    // see the connection reset before it reads the JSON body, so only the status is guaranteed to arrive.
    const text = await res.text().catch(() => '');
    if (text) assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, 'body_too_large');
    const msgs = await readSince(marks, (m) => m.some((x) => x.headers[RAW_HEADERS.requestId] === 'big-1'), 3000);
    assert.equal(msgs.filter((x) => x.headers[RAW_HEADERS.requestId] === 'big-1').length, 0);
  });

  test('readiness and metrics reflect the Kafka producer', async () => {
    assert.equal((await fetch(`${edge.url}/readyz`)).status, 200);
    const text = await (await fetch(`${edge.url}/metrics`)).text();
    assert.match(text, /edge_batches_total\{result="ok"\} \d+/);
    assert.match(text, /edge_produce_duration_seconds_count \d+/);
  });
});

test('the same app on Node (@hono/node-server) acknowledges only what is in Kafka', async () => {
  const node = await spawnEdge({}, { runtime: 'node' });
  try {
    const id = `evt_node${randomUUID().replaceAll('-', '').slice(0, 10)}`;
    const marks = await markTopics([TOPICS['stripe.payment_intent']]);
    const body = stripeEvent(id);
    const res = await fetch(`${node.url}/webhooks/stripe`, stripeRequest(body));
    assert.equal(res.status, 200);
    const msgs = await readSince(marks, (m) => m.some((x) => x.headers[RAW_HEADERS.eventId] === id));
    const m = msgs.find((x) => x.headers[RAW_HEADERS.eventId] === id);
    assert.ok(m?.value.equals(Buffer.from(body)));
  } finally {
    assert.equal(await node.stop(), 0, node.output());
  }
});
