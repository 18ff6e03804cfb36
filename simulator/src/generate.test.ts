import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { PROVIDERS } from '@pep/contracts';
import { DeliveryGenerator } from './generate.ts';
import { decimalAmount, signingSecrets } from './render.ts';

const secrets = signingSecrets();
const make = (seed: number, over: Partial<ConstructorParameters<typeof DeliveryGenerator>[0]> = {}) =>
  new DeliveryGenerator({
    seed,
    providers: PROVIDERS,
    invalidRate: 0.05,
    duplicateRate: 0.05,
    signatureFaultRate: 0.05,
    fraudRate: 1,
    customers: 500,
    merchantsPerProvider: 20,
    secrets,
    nowSeconds: () => 1_800_000_000,
    now: () => new Date(1_800_000_000_000),
    ...over,
  });
// biome-ignore lint/suspicious/noExplicitAny: parsed test payloads are checked field by field
type AdyenItem = Record<string, any>;
const take = (g: DeliveryGenerator, n: number) => Array.from({ length: n }, () => g.next());

describe('simulator traffic', () => {
  test('the same seed gives the same deliveries; another seed does not', () => {
    const a = take(make(42), 300).map((x) => x.delivery.body);
    const b = take(make(42), 300).map((x) => x.delivery.body);
    const c = take(make(43), 300).map((x) => x.delivery.body);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('customers are reused with a skewed frequency, not a new id per event', () => {
    const ids = take(make(1, { invalidRate: 0, signatureFaultRate: 0, duplicateRate: 0 }), 3000)
      .filter((x) => x.delivery.provider === 'stripe')
      .map((x) => (JSON.parse(x.delivery.body) as { data: { object: { customer?: string } } }).data.object.customer)
      .filter((c): c is string => typeof c === 'string');
    const counts = [...ids.reduce((m, id) => m.set(id, (m.get(id) ?? 0) + 1), new Map<string, number>()).values()].sort(
      (x, y) => y - x,
    );
    assert.ok(counts.length < ids.length / 2, `${counts.length} distinct customers for ${ids.length} events`);
    assert.ok(
      (counts[0] as number) >= 10 * (counts[Math.floor(counts.length / 2)] as number),
      'head customer is not much more frequent than the median one',
    );
  });

  test('valid deliveries carry correct signatures for all four schemes', () => {
    for (const { delivery: d } of take(make(5, { invalidRate: 0, signatureFaultRate: 0, duplicateRate: 0 }), 200)) {
      if (d.provider === 'stripe') {
        const [t, v1] = (d.headers['stripe-signature'] as string).split(',').map((p) => p.split('=')[1]);
        assert.equal(createHmac('sha256', secrets.stripe).update(`${t}.${d.body}`).digest('hex'), v1);
      } else if (d.provider === 'square') {
        assert.equal(
          createHmac('sha256', secrets.square)
            .update(secrets.squareNotificationUrl + d.body)
            .digest('base64'),
          d.headers['x-square-hmacsha256-signature'],
        );
      } else if (d.provider === 'adyen') {
        const item = (JSON.parse(d.body) as { notificationItems: { NotificationRequestItem: AdyenItem }[] })
          .notificationItems[0]?.NotificationRequestItem as AdyenItem;
        const s = [
          item.pspReference,
          item.originalReference ?? '',
          item.merchantAccountCode,
          item.merchantReference,
          item.amount.value,
          item.amount.currency,
          item.eventCode,
          item.success,
        ].join(':');
        assert.equal(
          createHmac('sha256', Buffer.from(secrets.adyenHex, 'hex')).update(s).digest('base64'),
          item.additionalData.hmacSignature,
        );
      } else {
        const form = new URLSearchParams(d.body);
        const key = createHash('sha1').update(secrets.braintreePrivate).digest();
        assert.equal(
          `test_public_key|${createHmac('sha1', key)
            .update(form.get('bt_payload') as string)
            .digest('hex')}`,
          form.get('bt_signature'),
        );
        assert.match(Buffer.from(form.get('bt_payload') as string, 'base64').toString(), /^<notification>/);
      }
      assert.equal(d.expectedStatus, 200);
    }
  });

  test('faults carry their expected status; fraud truth stays out of the payloads', () => {
    const all = take(make(9, { fraudRate: 5 }), 4000);
    const byLabel = (l: string) => all.filter((x) => x.delivery.label === l).map((x) => x.delivery);
    for (const d of byLabel('signature:bad_signature')) assert.equal(d.expectedStatus, 401);
    for (const d of byLabel('invalid:bad_json')) assert.equal(d.expectedStatus, 400);
    for (const d of byLabel('invalid:unknown_currency')) assert.equal(d.expectedStatus, 200);
    assert.ok(all.some((x) => x.delivery.label.startsWith('duplicate:')));
    const truth = all.flatMap((x) => (x.truth ? [x.truth] : []));
    assert.deepEqual(
      new Set(truth.map((t) => t.pattern)),
      new Set(['card_testing', 'velocity_spike', 'unusual_amount']),
    );
    for (const x of all) assert.ok(!/card_testing|velocity_spike|unusual_amount|fraud_pattern/.test(x.delivery.body));
  });

  test('refunds and disputes refer to earlier payments', () => {
    const all = take(
      make(11, { invalidRate: 0, signatureFaultRate: 0, duplicateRate: 0, providers: ['stripe'] }),
      2000,
    ).map((x) => JSON.parse(x.delivery.body));
    const paid = new Set<string>();
    let refunds = 0;
    for (const e of all) {
      const o = e.data.object;
      if (e.type === 'payment_intent.succeeded') paid.add(o.id);
      if (e.type === 'charge.succeeded') paid.add(o.payment_intent);
      if (e.type === 'refund.created' || e.type === 'charge.dispute.created') {
        refunds++;
        assert.ok(paid.has(o.payment_intent), `${e.type} refers to unknown payment ${o.payment_intent}`);
      }
    }
    assert.ok(refunds > 50);
  });

  test('decimal amounts follow the currency exponent exactly', () => {
    assert.equal(decimalAmount(1999, 'USD'), '19.99');
    assert.equal(decimalAmount(5, 'USD'), '0.05');
    assert.equal(decimalAmount(1500, 'JPY'), '1500');
    assert.equal(decimalAmount(1234, 'KWD'), '1.234');
  });
});
