/**
 * The security suite (issue 13) against the whole platform as real processes (edge on Bun, transformer, quarantine
 * consumer, bridge, Temporal worker, inference) on private topics: signature variants, the forged Braintree payment,
 * hostile bodies end to end (NUL, card numbers, signatures, an invented currency), HTTP abuse (pipelining, an endless
 * body), and a bounded fuzz of validly signed hostile bodies with a reconciliation of every record and a leak scan of
 * topics, tables and logs. Needs the local stack (`npm run stack:up`). `SECURITY_FUZZ_BODIES` sets the fuzz size
 * (default 600; the `security` benchmark runs 100,000).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { LOCAL_WEBHOOK_SECRETS } from '@pep/contracts';
import pg from 'pg';
import { Platform, SERVICES, SQUARE_URL } from '../src/platform.ts';
import { runFuzz } from '../src/run.ts';
import { findLeaks, readAll, recordStrings, rowStrings } from '../src/scan.ts';
import {
  adyenSignature,
  braintreeBody,
  signAdyenItems,
  signSquare,
  signStripe,
  stripePaymentBody,
} from '../src/traffic.ts';

const platform = new Platform({
  env: {
    // The fuzz sends many refused requests from one address: the per-source limit has its own tests (edge).
    edge: { EDGE_REJECT_RATE_PER_S: '0', EDGE_REFUSAL_LOG_PER_S: '1000' },
  },
});
let pool: pg.Pool;
let n = 0;
const uid = (p: string) => `${p}_${platform.tag}_${n++}`;

async function post(path: string, body: Buffer | string, headers: Record<string, string>) {
  const res = await fetch(platform.edgeUrl + path, { method: 'POST', body, headers });
  return { status: res.status, text: await res.text() };
}

const stripeEvent = (over: Record<string, unknown> = {}, obj: Record<string, unknown> = {}) => {
  const id = uid('evt');
  return { id, body: stripePaymentBody(id, uid('pi'), over, obj) };
};

const btNotification = (id: string, over: { amount?: string; currency?: string | null; plan?: string } = {}) =>
  `<notification><timestamp type="datetime">${new Date().toISOString()}</timestamp><kind>${over.plan ? 'subscription_charged_successfully' : 'transaction_settled'}</kind><subject>` +
  (over.plan ? `<subscription><id>sub_${id}</id><plan-id>${over.plan}</plan-id><transactions type="array">` : '') +
  `<transaction><id>${id}</id><status>settled</status><type>sale</type>` +
  (over.currency === null ? '' : `<currency-iso-code>${over.currency ?? 'USD'}</currency-iso-code>`) +
  `<amount>${over.amount ?? '10.00'}</amount></transaction>` +
  (over.plan ? '</transactions></subscription>' : '') +
  '</subject></notification>';

async function rowOf(eventId: string, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query('SELECT * FROM payment_events WHERE event_id = $1', [eventId]);
    if (rows[0]) return rows[0] as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`no payment_events row for ${eventId} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function dlqRecordsFor(topic: string, match: (v: Record<string, unknown>) => boolean, timeoutMs = 180_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const recs = (await readAll(platform.kafka(), [topic])).filter((r) => match(JSON.parse(r.value)));
    if (recs.length > 0) return recs;
    if (Date.now() > deadline) throw new Error(`no record in ${topic} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('security suite (issue 13): the platform as real processes', () => {
  before(async () => {
    await platform.start();
    pool = new pg.Pool({ connectionString: platform.addr.databaseUrl, max: 2 });
  });
  after(async () => {
    await platform.stop();
    await platform.deleteTopics();
    await pool?.end();
  });

  describe('signature variants', () => {
    it('Stripe: the contract variants verify, the rest is 401', async () => {
      const now = Math.floor(Date.now() / 1000);
      // {T}: the timestamp signed; {V1}: the body's valid signature over it.
      const cases: [string | null, number, number][] = [
        ['t={T},v1={V1}', now, 200],
        [` t={T} , v0=abc , v1=${'0'.repeat(64)} , v1={V1} `, now, 200],
        ['t={T},v0={V1}', now, 401],
        ['t={T},v1={V1}', now - 600, 401],
        ['t={T},t={T},v1={V1}', now, 401],
        ['t=abc,v1={V1}', now, 401],
        ['garbage', now, 401],
        [null, now, 401],
      ];
      for (const [template, t, want] of cases) {
        const { body } = stripeEvent();
        const v1 = signStripe(body, t)['stripe-signature']?.split('v1=')[1] as string;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (template !== null)
          headers['stripe-signature'] = template.replaceAll('{T}', String(t)).replaceAll('{V1}', v1);
        assert.equal((await post('/webhooks/stripe', body, headers)).status, want, `Stripe-Signature ${template}`);
      }
    });

    it('Square: signed over another URL is 401; Adyen: one bad item refuses the request', async () => {
      const body = Buffer.from(
        JSON.stringify({
          merchant_id: 'M1',
          type: 'payment.updated',
          event_id: uid('sq'),
          created_at: new Date().toISOString(),
          data: {
            type: 'payment',
            id: uid('P'),
            object: { payment: { id: uid('P'), amount_money: { amount: 100, currency: 'USD' }, status: 'COMPLETED' } },
          },
        }),
      );
      assert.equal((await post('/webhooks/square', body, signSquare(body))).status, 200);
      const other = createHmac('sha256', LOCAL_WEBHOOK_SECRETS.SQUARE_WEBHOOK_SIGNATURE_KEY)
        .update(`${SQUARE_URL}x`)
        .update(body)
        .digest('base64');
      assert.equal(
        (
          await post('/webhooks/square', body, {
            'content-type': 'application/json',
            'x-square-hmacsha256-signature': other,
          })
        ).status,
        401,
      );
      const item = (psp: string) => ({
        pspReference: psp,
        eventCode: 'AUTHORISATION',
        merchantAccountCode: 'M',
        merchantReference: 'o1',
        amount: { value: 100, currency: 'EUR' },
        success: 'true',
        eventDate: new Date().toISOString(),
      });
      const good = item(`88${Date.now()}`.slice(0, 16));
      const bad = item(`89${Date.now()}`.slice(0, 16));
      const doc = {
        live: 'false',
        notificationItems: [
          { NotificationRequestItem: { ...good, additionalData: { hmacSignature: adyenSignature(good) } } },
          { NotificationRequestItem: { ...bad, additionalData: { hmacSignature: adyenSignature(good) } } },
        ],
      };
      assert.equal(
        (await post('/webhooks/adyen', JSON.stringify(doc), { 'content-type': 'application/json' })).status,
        401,
      );
    });

    it('Braintree: a valid pair among forged ones verifies; a forged key does not', async () => {
      const id = uid('txn');
      const { body, signature } = braintreeBody(btNotification(id));
      const payload = new URLSearchParams(body.toString()).get('bt_payload') as string;
      const forged = `test_public_key|${'0'.repeat(40)}`;
      const pairs = `bt_signature=${encodeURIComponent(`${forged}&${signature}`)}&bt_payload=${encodeURIComponent(payload)}`;
      const form = { 'content-type': 'application/x-www-form-urlencoded' };
      assert.equal((await post('/webhooks/braintree', pairs, form)).status, 200);
      const onlyForged = `bt_signature=${encodeURIComponent(forged)}&bt_payload=${encodeURIComponent(payload)}`;
      assert.equal((await post('/webhooks/braintree', onlyForged, form)).status, 401);
    });
  });

  describe('hostile bodies, end to end', () => {
    it('the forged Braintree payment is refused by the edge, and the transformer refuses its bytes too', async () => {
      const signedId = uid('txn_ok');
      const { body: signedBody } = braintreeBody(btNotification(signedId));
      const fields = new URLSearchParams(signedBody.toString());
      const forgedId = uid('txn_forged');
      const forged = Buffer.from(btNotification(forgedId, { amount: '99999.99' })).toString('base64');
      const attack = `{"x":"&bt_signature=${encodeURIComponent(fields.get('bt_signature') as string)}&bt_payload=${encodeURIComponent(fields.get('bt_payload') as string)}&","bt_payload":"${forged}"}`;
      const res = await post('/webhooks/braintree', attack, { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(res.status, 400, res.text);
      assert.equal(JSON.parse(res.text).error.code, 'invalid_form');
      // The same bytes written straight to the raw topic, as an edge that accepted them would have: the transformer
      // must not find the unsigned payload either.
      const producer = platform.kafka().producer();
      await producer.connect();
      await producer.send({
        topic: `${platform.topics.prefix}webhooks.braintree.notification`,
        acks: -1,
        messages: [{ key: forgedId, value: attack, headers: { 'request-id': `attack-${platform.tag}` } }],
      });
      await producer.disconnect();
      const [rec] = await dlqRecordsFor(
        platform.topics.validationDlq,
        (v) =>
          String(v.original_payload).includes(forged.slice(0, 40)) || String(v.original_payload).includes('txn_forged'),
      );
      const dlq = JSON.parse(rec?.value as string);
      assert.equal(dlq.validation_errors[0].code, 'INVALID_PAYLOAD');
      const { rows } = await pool.query(
        "SELECT 1 FROM payment_events WHERE object_id = $1 OR event_id LIKE '%' || $1",
        [forgedId],
      );
      assert.equal(rows.length, 0, 'no payment row for the forged transaction');
    });

    it('a NUL in free text is stored as U+FFFD: the event is not lost', async () => {
      const { id, body } = stripeEvent(
        { type: 'payment_intent.payment_failed' },
        {
          status: 'requires_payment_method',
          last_payment_error: { code: 'card_declined', message: 'declined\u0000 by issuer' },
          metadata: { note: 'a\u0000b' },
        },
      );
      assert.equal((await post('/webhooks/stripe', body, signStripe(body))).status, 200);
      const row = await rowOf(`stripe:${id}`);
      assert.equal(row.failure_message, 'declined\ufffd by issuer');
      assert.deepEqual(row.metadata, { note: 'a\ufffdb' });
    });

    it('card numbers in free text reach neither the normalized event nor the row; ids with one go to the DLQ', async () => {
      const { id, body } = stripeEvent(
        { type: 'payment_intent.payment_failed' },
        {
          status: 'requires_payment_method',
          last_payment_error: { code: 'card_declined', message: 'card 4111 1111 1111 1111 declined' },
          metadata: { note: '5555-5555-5555-4444', '378282246310005': 'key' },
        },
      );
      assert.equal((await post('/webhooks/stripe', body, signStripe(body))).status, 200);
      const row = await rowOf(`stripe:${id}`);
      assert.equal(row.failure_message, 'card **** **** **** **** declined');
      assert.deepEqual(row.metadata, { note: '****-****-****-****', '***************': 'key' });
      const leaked = findLeaks(
        'row',
        rowStrings([row]),
        ['4111111111111111', '5555555555554444', '378282246310005'],
        [],
      );
      assert.deepEqual(leaked, []);
      const byId = stripeEvent({}, { customer: '4242424242424242' });
      assert.equal((await post('/webhooks/stripe', byId.body, signStripe(byId.body))).status, 200);
      const [dlq] = await dlqRecordsFor(
        platform.topics.validationDlq,
        (v) => v.provider_event_id === byId.id && v.failure_reason === 'CARD_NUMBER_IN_ID',
      );
      assert.ok(!dlq?.value.includes('4242424242424242'));
    });

    it('ids: a Luhn-valid Adyen pspReference is stored; a Mastercard number in an id is refused, in no record or log', async () => {
      // A classic Adyen pspReference: 16 digits starting with 8, made Luhn-valid (about 1 real one in 10 is). Luhn
      // alone took it for a card (CARD_NUMBER_IN_ID); no card brand's IIN range starts with 8.
      const body15 = `8${String(Date.now()).slice(-13)}${n % 10}`;
      let sum = 0;
      [...body15].reverse().forEach((c, k) => {
        const d = Number(c);
        sum += k % 2 === 0 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
      });
      const psp = `${body15}${(10 - (sum % 10)) % 10}`;
      const doc = {
        live: 'false',
        notificationItems: [
          {
            NotificationRequestItem: {
              pspReference: psp,
              eventCode: 'AUTHORISATION',
              merchantAccountCode: 'M',
              merchantReference: uid('order'),
              amount: { value: 100, currency: 'EUR' },
              success: 'true',
              eventDate: new Date().toISOString(),
            },
          },
        ],
      };
      signAdyenItems(doc);
      assert.equal(
        (await post('/webhooks/adyen', JSON.stringify(doc), { 'content-type': 'application/json' })).status,
        200,
      );
      const row = await rowOf(`adyen:${psp}_AUTHORISATION`);
      assert.equal(row.object_id, psp);

      const mastercard = '5555555555554444';
      const byId = stripeEvent({}, { customer: `cus_${mastercard}` });
      assert.equal((await post('/webhooks/stripe', byId.body, signStripe(byId.body))).status, 200);
      const [dlq] = await dlqRecordsFor(
        platform.topics.validationDlq,
        (v) => v.provider_event_id === byId.id && v.failure_reason === 'CARD_NUMBER_IN_ID',
      );
      assert.ok(dlq && !dlq.value.includes(mastercard), dlq?.value);
      for (const s of SERVICES) assert.ok(!platform.log(s).includes(mastercard), `${s} logged the card number`);
    });

    it('a forged Adyen request leaves neither its hmacSignature nor a card number in webhooks.dlq or the quarantine', async () => {
      const psp = `88${Date.now()}`.slice(0, 16);
      const item = {
        pspReference: psp,
        eventCode: 'AUTHORISATION',
        merchantAccountCode: 'M',
        merchantReference: 'pan 6011 0009 9013 9424',
        amount: { value: 100, currency: 'EUR' },
        success: 'true',
      };
      const realSig = adyenSignature(item);
      const doc = {
        live: 'false',
        notificationItems: [
          {
            NotificationRequestItem: {
              ...item,
              amount: { value: 101, currency: 'EUR' },
              additionalData: { hmacSignature: realSig },
            },
          },
        ],
      };
      assert.equal(
        (await post('/webhooks/adyen', JSON.stringify(doc), { 'content-type': 'application/json' })).status,
        401,
      );
      const recs = await dlqRecordsFor(platform.topics.webhooksDlq, (v) => String(v.body).includes(psp));
      assert.deepEqual(findLeaks('webhooks.dlq', recordStrings(recs), ['6011000990139424'], [realSig]), []);
      const deadline = Date.now() + 60_000;
      let rows: Record<string, unknown>[] = [];
      while (rows.length === 0 && Date.now() < deadline) {
        rows = (
          await pool.query('SELECT * FROM webhook_quarantine WHERE kafka_topic = $1 AND raw_value::text LIKE $2', [
            platform.topics.webhooksDlq,
            `%${Buffer.from(psp).toString('hex')}%`,
          ])
        ).rows;
        if (rows.length === 0) await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(rows.length > 0, 'the quarantine row');
      assert.deepEqual(findLeaks('webhook_quarantine', rowStrings(rows), ['6011000990139424'], [realSig]), []);
    });

    it('an empty Braintree currency is a DLQ record, never USD', async () => {
      const id = uid('txn_cur');
      const xml = btNotification(id).replace(
        '<currency-iso-code>USD</currency-iso-code>',
        '<currency-iso-code></currency-iso-code>',
      );
      const { body } = braintreeBody(xml);
      assert.equal(
        (await post('/webhooks/braintree', body, { 'content-type': 'application/x-www-form-urlencoded' })).status,
        200,
      );
      const [rec] = await dlqRecordsFor(platform.topics.validationDlq, (v) => String(v.provider_event_id).includes(id));
      assert.equal(JSON.parse(rec?.value as string).failure_reason, 'INVALID_CURRENCY');
    });
  });

  describe('HTTP abuse', () => {
    it('pipelined requests on one connection are all answered, in order', async () => {
      const reqs = [stripeEvent(), stripeEvent(), stripeEvent()];
      const port = Number(new URL(platform.edgeUrl).port);
      const wire = Buffer.concat([
        ...reqs.map(({ body }) => {
          const h = signStripe(body);
          return Buffer.concat([
            Buffer.from(
              `POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nStripe-Signature: ${h['stripe-signature']}\r\nContent-Length: ${body.length}\r\n\r\n`,
            ),
            body,
          ]);
        }),
        Buffer.from('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'),
      ]);
      const text = await new Promise<string>((resolve) => {
        let out = '';
        const s = connect(port, '127.0.0.1', () => s.write(wire));
        s.on('data', (d) => {
          out += d.toString('latin1');
          if ((out.match(/HTTP\/1\.1 /g) ?? []).length >= 4 && out.includes('"status":"ok"')) {
            s.destroy();
            resolve(out);
          }
        });
        s.on('error', () => resolve(out));
        s.on('close', () => resolve(out));
        setTimeout(() => {
          s.destroy();
          resolve(out);
        }, 15_000);
      });
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
      assert.deepEqual(statuses, ['200', '200', '200', '200'], text.slice(0, 500));
      for (const { id } of reqs) assert.ok(text.includes(id), `the answer for ${id}`);
    });
  });

  describe('fuzz', () => {
    let report: Awaited<ReturnType<typeof runFuzz>> | undefined;
    const seed = Number(process.env.SECURITY_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const isSignature = (l: { what: string }) => l.what === 'signature';

    it('validly signed hostile bodies: no crash, no 5xx, nothing lost, no card number anywhere', async () => {
      const count = Number(process.env.SECURITY_FUZZ_BODIES ?? 600);
      report = await runFuzz(platform, { seed, count, concurrency: 8, drainTimeoutMs: 600_000 });
      const summary = JSON.stringify({ seed, ...report, leaks: report.leaks.slice(0, 5) }, null, 1);
      assert.deepEqual(report.crashes, [], summary);
      assert.equal(report.fiveXx, 0, summary);
      assert.equal(report.sent, count);
      assert.equal(report.statuses['0'] ?? 0, 0, `requests without an answer: ${summary}`);
      for (const [what, lost] of Object.entries(report.lost)) assert.equal(lost, 0, `${what}: ${summary}`);
      assert.deepEqual(
        report.leaks.filter((l) => !isSignature(l)),
        [],
        summary,
      );
      // The fuzz must reach every stage, or the checks above prove little.
      assert.ok((report.statuses['200'] ?? 0) > count / 10, summary);
      assert.ok(
        report.counts.normalized > 0 && report.counts.validationDlq > 0 && report.counts.webhooksDlq > 0,
        summary,
      );
    });

    // Issue 13: a byte-damaged key name ("hmacSinature") hid an Adyen signature from the key-based redaction of a
    // refused request's webhooks.dlq record and quarantine row; digests are now also redacted by their shape.
    it('no signature anywhere, also under a damaged key name', () => {
      assert.ok(report, 'the fuzz ran');
      const sig = report.leaks.filter(isSignature);
      assert.deepEqual(sig.slice(0, 3), [], `${sig.length} signature findings (seed ${seed})`);
    });
  });
});
