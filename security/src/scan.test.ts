import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROVIDERS } from '@pep/contracts';
import { findLeaks, recordStrings } from './scan.ts';
import { braintreeBody, fuzzedRequests, PLANTED_PANS } from './traffic.ts';

const PAN = '4111111111111111';

test('the leak check finds a card number in every spelling a reader could decode, and not a masked one', () => {
  const spellings = [
    'card 4111 1111 1111 1111',
    '4111-1111-1111-1111',
    JSON.stringify({ note: '\u0034111111111111111' }),
    '%34%31%31%31111111111111',
    '&#52;&#x31;11111111111111',
    braintreeBody(`<notification><x>${PAN}</x></notification>`).body.toString(),
  ];
  for (const s of spellings) assert.equal(findLeaks('t', [s], [PAN], []).length > 0, true, s);
  assert.deepEqual(findLeaks('t', ['card **** **** **** ****', '411111', 'pi_4111'], [PAN], []), []);
  assert.equal(findLeaks('t', ['"hmacSignature":"c2lnbmF0dXJlLXZhbHVl"'], [], ['c2lnbmF0dXJlLXZhbHVl']).length, 1);
});

test('records are scanned in their values, keys and headers', () => {
  const rec = { topic: 't', partition: 0, offset: '1', key: `evt_${PAN}`, value: '{"a":"b"}', headers: { h: 'x' } };
  assert.equal(findLeaks('t', recordStrings([rec]), [PAN], []).length, 1);
});

test('the fuzz is seeded and plants card numbers and signatures', () => {
  const a = [...fuzzedRequests(7, 200)];
  const b = [...fuzzedRequests(7, 200)];
  // The same bodies but for the clock (event times are real): same providers, paths and lengths.
  const shape = (r: { provider: string; path: string; body: Buffer }) => `${r.provider} ${r.path} ${r.body.length}`;
  assert.deepEqual(a.map(shape), b.map(shape));
  assert.deepEqual([...new Set(a.map((r) => r.provider))].sort(), [...PROVIDERS].sort());
  const planted = a.filter((r) => findLeaks('body', [r.body.toString('latin1')], [...PLANTED_PANS], []).length > 0);
  assert.ok(planted.length > 50, `${planted.length} of 200 bodies carry a card number`);
  assert.ok(a.some((r) => r.signatures.length > 0));
});
