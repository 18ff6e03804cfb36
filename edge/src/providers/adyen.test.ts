import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hmacValidator } from '@adyen/api-library';
import { redactPayload } from '@pep/contracts/redact';
import { adyenBodySignature, adyenSignature, adyenSigningString, checkAdyen } from './adyen.ts';

const hexKey = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const key = Buffer.from(hexKey, 'hex');
const opts = { hmacKeys: [key], maxItems: 100 };

const authorisation = () => ({
  pspReference: '7914073381342284',
  merchantAccountCode: 'TestMerchant',
  merchantReference: 'order_12345',
  amount: { value: 2000, currency: 'USD' },
  eventCode: 'AUTHORISATION',
  success: 'true',
  paymentMethod: 'visa',
  additionalData: { cardBin: '411111', cardSummary: '1111' } as Record<string, unknown>,
});
type Item = ReturnType<typeof authorisation> & Record<string, unknown>;
const signed = (item: Item, k = key): Item => {
  const s = adyenSigningString(item) as string;
  return {
    ...item,
    additionalData: { ...item.additionalData, hmacSignature: adyenSignature(k, s).toString('base64') },
  };
};
const doc = (...items: Item[]) =>
  Buffer.from(JSON.stringify({ live: 'false', notificationItems: items.map((i) => ({ NotificationRequestItem: i })) }));

describe('Adyen signature', () => {
  test('matches the golden vectors of original-system 9.1', () => {
    const vectors: [string, string][] = [
      [
        '7914073381342284::TestMerchant:order_12345:2000:USD:AUTHORISATION:true',
        'cW+pNUkORWp2AOJFBfiwqQdvBGVJGyFAC0LD0ZNFkKo=',
      ],
      [
        '8814073381342285:7914073381342284:TestMerchant:order_12345:1000:USD:REFUND:true',
        'spo7pENeXE1+rTUUxw3DaNdduuzmE2bUsNiys422ZFw=',
      ],
      [
        '7914073381342286::TestMerchant:order_12346:5000:EUR:AUTHORISATION:false',
        'QTvfA9IsuraopCvqg1WgYsqA25tbWgBFPY8W52OWbKU=',
      ],
      ['1::M:::USD:AUTHORISATION:true', '8rSCZaOnekBBVlPRvoCpjx5T44r1Og6EdqvmtW5gMf0='],
    ];
    for (const [s, b64] of vectors) assert.equal(adyenSignature(key, s).toString('base64'), b64);
  });

  test('builds the signing string in the documented order, with "" for missing fields', () => {
    assert.equal(
      adyenSigningString(authorisation()),
      '7914073381342284::TestMerchant:order_12345:2000:USD:AUTHORISATION:true',
    );
    assert.equal(
      adyenSigningString({ ...authorisation(), success: false, originalReference: null, merchantReference: undefined }),
      '7914073381342284::TestMerchant::2000:USD:AUTHORISATION:false',
    );
  });

  test('signs an amount of 0 as "0", not as the original\'s empty string', () => {
    const item = {
      pspReference: '1',
      merchantAccountCode: 'M',
      amount: { value: 0, currency: 'USD' },
      eventCode: 'AUTHORISATION',
      success: true,
    };
    assert.equal(adyenSigningString(item), '1::M::0:USD:AUTHORISATION:true');
    const quirk = '8rSCZaOnekBBVlPRvoCpjx5T44r1Og6EdqvmtW5gMf0='; // the original's signature over an empty value
    const body = Buffer.from(
      JSON.stringify({
        live: false,
        notificationItems: [{ NotificationRequestItem: { ...item, additionalData: { hmacSignature: quirk } } }],
      }),
    );
    assert.equal(!checkAdyen(body, opts).ok && (checkAdyen(body, opts) as { code: string }).code, 'invalid_signature');
  });
});

describe('Adyen request check', () => {
  test('accepts a signed notification, routes it and keys it by the payment reference', () => {
    const v = checkAdyen(doc(signed(authorisation())), opts);
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual(
      [v.topic, v.key, v.eventId, v.eventType],
      ['webhooks.adyen.notification', '7914073381342284', '7914073381342284_AUTHORISATION', 'AUTHORISATION'],
    );
    const refund = signed({
      ...authorisation(),
      pspReference: '8814073381342285',
      originalReference: '7914073381342284',
      eventCode: 'REFUND',
    });
    const vr = checkAdyen(doc(refund), opts);
    assert.ok(vr.ok);
    assert.equal(vr.key, '7914073381342284');
  });

  test('one bad item rejects the whole request with 401', () => {
    const good = signed(authorisation());
    const bad = { ...signed(authorisation()), amount: { value: 2001, currency: 'USD' } };
    const v = checkAdyen(doc(good, bad), opts);
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.status, 401);
    assert.match(!v.ok ? v.message : '', /notificationItems\[1\]/);
  });

  test('tampering with psp, success or amount fails; a missing hmacSignature is missing_signature', () => {
    const base = signed(authorisation());
    for (const t of [{ pspReference: '9' }, { success: 'false' }, { amount: { value: 1, currency: 'USD' } }]) {
      const v = checkAdyen(doc({ ...base, ...t } as Item), opts);
      assert.equal(!v.ok && v.code, 'invalid_signature');
    }
    const v = checkAdyen(doc(authorisation()), opts);
    assert.equal(!v.ok && v.code, 'missing_signature');
  });

  test('a valid signature under a damaged key name fails closed (401) and is redacted from the DLQ payload', () => {
    const base = signed(authorisation());
    const sig = base.additionalData.hmacSignature as string;
    const { hmacSignature: _, ...rest } = base.additionalData;
    for (const name of ['hmacSinature', 'HmacSignature', 'hmacsignature', 'hmacSignature ', 'hmac\u0000Signature']) {
      const body = doc({ ...base, additionalData: { ...rest, [name]: sig } });
      const v = checkAdyen(body, opts);
      assert.equal(!v.ok && v.status, 401, name);
      assert.equal(!v.ok && v.code, 'missing_signature', name);
      assert.ok(!(!v.ok && v.message.includes(sig)), name);
      // What webhooks.dlq and webhook_quarantine carry of the refused body.
      const dlq = redactPayload(body).text;
      assert.ok(!dlq.includes(sig), `${name}: ${dlq}`);
      assert.ok(dlq.includes('[redacted]'), name);
    }
  });

  test('rotated keys: an item signed with either key verifies', () => {
    const k2 = Buffer.from('00'.repeat(32), 'hex');
    const v = checkAdyen(doc(signed(authorisation(), k2), signed(authorisation())), {
      hmacKeys: [key, k2],
      maxItems: 10,
    });
    assert.ok(v.ok);
  });

  test('structural failures are 400', () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('nope'), 'invalid_json'],
      [Buffer.from('{"live":"false"}'), 'missing_field'],
      [Buffer.from('{"notificationItems":[]}'), 'missing_field'],
      [Buffer.from('{"notificationItems":[{"x":1}]}'), 'missing_field'],
      [doc(signed({ ...authorisation(), pspReference: undefined } as unknown as Item)), 'missing_field'],
    ];
    for (const [b, code] of cases) {
      const v = checkAdyen(b, opts);
      assert.equal(!v.ok && v.status, 400, b.toString());
      assert.equal(!v.ok && v.code, code);
    }
    const many = doc(...Array.from({ length: 3 }, () => signed(authorisation())));
    assert.equal(!checkAdyen(many, { hmacKeys: [key], maxItems: 2 }).ok, true);
  });
});

describe('Adyen whole-body notifications (HmacSignature header)', () => {
  // The official library computes the header Adyen sends; the edge must accept exactly it.
  const validator = new hmacValidator();
  const body = Buffer.from(
    JSON.stringify({
      type: 'ach.notificationOfChange',
      version: '1',
      environment: 'test',
      data: { pspReference: 'QFQTPCQ8HXSKGK82', notificationOfChange: { reasonCode: 'C07' } },
    }),
  );
  const headerOf = (sig: string | null) => ({ get: (n: string) => (n === 'hmacsignature' ? sig : null) });
  const libSig = validator.calculateHmac(body.toString('utf8'), hexKey);

  test('accepts the signature the official library computes and keeps the event in webhooks.adyen.other', () => {
    assert.ok(validator.validateHMACSignature(hexKey, libSig, body.toString('utf8')));
    const v = checkAdyen(body, opts, headerOf(libSig));
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual(
      [v.topic, v.key, v.eventId, v.eventType],
      [
        'webhooks.adyen.other',
        'QFQTPCQ8HXSKGK82_ach.notificationOfChange',
        'QFQTPCQ8HXSKGK82_ach.notificationOfChange',
        'ach.notificationOfChange',
      ],
    );
    assert.equal(adyenBodySignature(key, body).toString('base64'), libSig);
  });

  test('refuses a missing, malformed or wrong header, and a body changed after signing', () => {
    const code = (v: ReturnType<typeof checkAdyen>) => (v.ok ? 'ok' : `${v.status} ${v.code}`);
    assert.equal(code(checkAdyen(body, opts)), '401 missing_signature');
    assert.equal(code(checkAdyen(body, opts, headerOf('not base64!'))), '401 malformed_signature');
    const other = adyenBodySignature(Buffer.alloc(32, 7), body).toString('base64');
    assert.equal(code(checkAdyen(body, opts, headerOf(other))), '401 invalid_signature');
    const changed = Buffer.from(body.toString('utf8').replace('C07', 'C08'));
    assert.equal(code(checkAdyen(changed, opts, headerOf(libSig))), '401 invalid_signature');
  });

  test('a signed body without a type or an id is a 400, and a header on a standard notification is checked too', () => {
    const noId = Buffer.from(JSON.stringify({ type: 'ach.notificationOfChange', data: {} }));
    const v = checkAdyen(noId, opts, headerOf(adyenBodySignature(key, noId).toString('base64')));
    assert.equal(!v.ok && `${v.status} ${v.code}`, '400 missing_field');
    const std = doc(signed(authorisation() as Item));
    const ok = checkAdyen(std, opts, headerOf(adyenBodySignature(key, std).toString('base64')));
    assert.ok(ok.ok);
    assert.equal(ok.topic, 'webhooks.adyen.notification');
    const bad = checkAdyen(std, opts, headerOf(other64()));
    assert.equal(!bad.ok && bad.code, 'invalid_signature');
  });

  test('routes a standard notification with no vocabulary code to webhooks.adyen.other', () => {
    const report = { ...authorisation(), eventCode: 'REPORT_AVAILABLE' } as Item;
    const v = checkAdyen(doc(signed(report)), opts);
    assert.ok(v.ok);
    assert.deepEqual([v.topic, v.key], ['webhooks.adyen.other', '7914073381342284_REPORT_AVAILABLE']);
    const mixed = checkAdyen(doc(signed(report), signed(authorisation() as Item)), opts);
    assert.ok(mixed.ok);
    assert.equal(mixed.topic, 'webhooks.adyen.notification', 'one mapped item routes the notification');
  });
});

function other64(): string {
  return Buffer.alloc(32, 1).toString('base64');
}
