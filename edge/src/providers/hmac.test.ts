/** hmacDigest (Bun's native hasher on Bun, node:crypto on Node) gives node:crypto's bytes for every scheme used. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { hmacDigest, nodeHmacDigest } from './hmac.ts';

const body = new Uint8Array(Buffer.from(`{"id":"evt_1","note":"caf\u00e9 \u{1F600}"}`));

test('hmacDigest matches node:crypto for sha256 and sha1, one part and two, string and binary keys', () => {
  for (const alg of ['sha256', 'sha1'] as const) {
    for (const key of ['whsec_x', Buffer.from('0011223344556677', 'hex')]) {
      const two = createHmac(alg, key).update('1700000000.').update(body).digest();
      assert.deepEqual(hmacDigest(alg, key, '1700000000.', body), two);
      assert.deepEqual(nodeHmacDigest(alg, key, '1700000000.', body), two);
      const one = createHmac(alg, key).update('caf\u00e9\n', 'utf8').digest();
      assert.deepEqual(hmacDigest(alg, key, 'caf\u00e9\n'), one);
    }
  }
});

test('hmacDigest differs when a byte differs (the comparison can fail)', () => {
  const other = new Uint8Array(body);
  other[0] = 0x5b;
  assert.notDeepEqual(hmacDigest('sha256', 'k', 't.', body), hmacDigest('sha256', 'k', 't.', other));
});

test('hmacDigest gives the same bytes on every call with the same key object (the keyed hasher is reused)', () => {
  for (const alg of ['sha256', 'sha1'] as const) {
    const key = Buffer.from('whsec_reused');
    const other = new Uint8Array(body);
    other[1] = 0x20;
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(hmacDigest(alg, key, 't.', body), createHmac(alg, key).update('t.').update(body).digest());
      assert.deepEqual(hmacDigest(alg, key, other), createHmac(alg, key).update(other).digest());
    }
  }
});
