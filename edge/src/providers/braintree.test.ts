import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import braintree from 'braintree';
import {
  braintreeChallengeAnswer,
  braintreeSignatureHex,
  checkBraintree,
  readNotificationHead,
  verifyBraintreeSignature,
} from './braintree.ts';

const pair = (publicKey: string, privateKey: string) => ({
  publicKey,
  hmacKey: createHash('sha1').update(privateKey).digest(),
});
const keys = [pair('test_public_key', 'test_private_key')];
const gateway = new braintree.BraintreeGateway({
  environment: braintree.Environment.Sandbox,
  merchantId: 'test_merchant_id',
  publicKey: 'test_public_key',
  privateKey: 'test_private_key',
});
const form = (fields: Record<string, string>) => Buffer.from(new URLSearchParams(fields).toString());
const FORM = 'application/x-www-form-urlencoded';

describe('Braintree signature', () => {
  test('matches the golden vector of original-system 9.1', () => {
    const payload = 'PG5vdGlmaWNhdGlvbj48a2luZD5jaGVjazwva2luZD48L25vdGlmaWNhdGlvbj4=';
    assert.equal(
      braintreeSignatureHex((keys[0] as { hmacKey: Buffer }).hmacKey, payload),
      '1bd3164928c26afd53fddea218b303942db3735c',
    );
    assert.equal(
      verifyBraintreeSignature('test_public_key|1bd3164928c26afd53fddea218b303942db3735c', payload, keys),
      null,
    );
  });

  test('accepts exactly what the official SDK sampleNotification produces, for several kinds', async () => {
    for (const kind of [
      'transaction_settled',
      'dispute_opened',
      'subscription_charged_successfully',
      'check',
      'disbursement',
    ]) {
      const sample = gateway.webhookTesting.sampleNotification(kind, 'txn_abc123');
      const v = checkBraintree(FORM, form(sample), { keyPairs: keys });
      assert.ok(v.ok, `${kind}: ${JSON.stringify(v)}`);
      assert.equal(v.eventType, kind);
      assert.equal(
        v.topic,
        kind === 'check' ? 'webhooks.braintree.other' : 'webhooks.braintree.notification',
        'a check moves no money: kept in webhooks.braintree.other',
      );
      // the SDK itself parses what we accepted
      const parsed = await gateway.webhookNotification.parse(sample.bt_signature, sample.bt_payload);
      assert.equal(parsed.kind, kind);
    }
  });

  test('keys by the transaction id and names the event kind_subject', () => {
    const s = gateway.webhookTesting.sampleNotification('transaction_settled', 'txn_42');
    const v = checkBraintree(FORM, form(s), { keyPairs: keys });
    assert.ok(v.ok);
    assert.deepEqual([v.key, v.eventId], ['txn_42', 'transaction_settled_txn_42']);
  });

  test('the SDK and we both reject a modified payload; we also accept payload + "\\n" signatures', async () => {
    const s = gateway.webhookTesting.sampleNotification('transaction_settled', 'txn_1');
    const modified = s.bt_payload.replace(/^P/, 'Q');
    await assert.rejects(gateway.webhookNotification.parse(s.bt_signature, modified));
    assert.equal(verifyBraintreeSignature(s.bt_signature, modified, keys)?.code, 'invalid_signature');
    const withNl = `test_public_key|${braintreeSignatureHex((keys[0] as { hmacKey: Buffer }).hmacKey, `${s.bt_payload}\n`)}`;
    assert.equal(verifyBraintreeSignature(withNl, s.bt_payload, keys), null);
  });

  test('rotation: a second key pair verifies; an unknown public key is rejected', () => {
    const s = gateway.webhookTesting.sampleNotification('check', 'x');
    assert.equal(verifyBraintreeSignature(s.bt_signature, s.bt_payload, [pair('new_pub', 'new_priv'), ...keys]), null);
    assert.equal(
      verifyBraintreeSignature(s.bt_signature, s.bt_payload, [pair('new_pub', 'new_priv')])?.code,
      'invalid_signature',
    );
    assert.equal(verifyBraintreeSignature('no-pairs-here', s.bt_payload, keys)?.code, 'malformed_signature');
  });

  test('challenge answer equals the SDK verify()', () => {
    const challenge = '20f9f8ed05f77439fe955c977e4c8a53';
    assert.equal(braintreeChallengeAnswer(challenge, keys), gateway.webhookNotification.verify(challenge));
    assert.equal(braintreeChallengeAnswer('not-hex!', keys), null);
  });
});

describe('Braintree request check', () => {
  test('missing fields, wrong content type, and non-notification payloads', () => {
    const s = gateway.webhookTesting.sampleNotification('check', 'x');
    assert.equal(
      (checkBraintree(FORM, form({ bt_payload: s.bt_payload }), { keyPairs: keys }) as { code: string }).code,
      'missing_signature',
    );
    assert.equal(
      (checkBraintree(FORM, form({ bt_signature: s.bt_signature }), { keyPairs: keys }) as { code: string }).code,
      'missing_field',
    );
    assert.equal(
      (checkBraintree('application/json', form(s), { keyPairs: keys }) as { code: string }).code,
      'unsupported_media_type',
    );
    const notXml = Buffer.from('<hello/>').toString('base64');
    const sig = `test_public_key|${braintreeSignatureHex((keys[0] as { hmacKey: Buffer }).hmacKey, notXml)}`;
    const v = checkBraintree(FORM, form({ bt_signature: sig, bt_payload: notXml }), { keyPairs: keys });
    assert.equal(!v.ok && v.status, 400);
  });

  test('reads the head of a notification', () => {
    const xml =
      '<notification><timestamp type="datetime">2024-01-01T00:00:00Z</timestamp><kind>dispute_opened</kind><subject><dispute><kind>chargeback</kind><id>dp_1</id><transaction><id>txn_9</id></transaction></dispute></subject></notification>';
    assert.deepEqual(readNotificationHead(xml), {
      kind: 'dispute_opened',
      timestamp: '2024-01-01T00:00:00Z',
      subjectType: 'dispute',
      subjectId: 'dp_1',
      transactionId: 'txn_9',
    });
  });
});
