import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PROVIDERS } from '@pep/contracts';
import { findLeaks, recordStrings, SignatureMatcher } from './scan.ts';
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

test('the signature matcher finds what indexOf finds, among many signatures, in one pass', () => {
  let seed = 42;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const alphabet = 'ABCDEFabcdef0123456789+/=|é€';
  const text = (n: number) => Array.from({ length: n }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
  const sigs = Array.from({ length: 2000 }, (_, i) => text(16 + (i % 50)));
  // two signatures sharing their first 16 characters, and one that is a prefix of another
  sigs.push(`${sigs[0]}tail-one`, `${sigs[0]}tail-two`);
  const matcher = new SignatureMatcher(sigs);
  for (let round = 0; round < 200; round++) {
    const planted = Array.from({ length: Math.floor(rand() * 4) }, () => sigs[Math.floor(rand() * sigs.length)]);
    const parts = [text(Math.floor(rand() * 40))];
    for (const p of planted) parts.push(p as string, text(Math.floor(rand() * 40)));
    const s = parts.join('');
    const naive = sigs
      .filter((g, i) => sigs.indexOf(g) === i && s.includes(g))
      .map((g) => `${g}@${s.indexOf(g)}`)
      .sort();
    const fast = matcher
      .find(s)
      .map((f) => `${f.sig}@${f.at}`)
      .sort();
    assert.deepEqual(fast, naive, s);
  }
  assert.deepEqual(matcher.find('short'), []);
  assert.deepEqual(new SignatureMatcher(['too-short']).find('too-short and more'), [], 'under 16 characters: ignored');
  const edge = sigs[5] as string;
  assert.deepEqual(matcher.find(edge), [{ sig: edge, at: 0 }], 'the whole string is the signature');
});

test('among 70,000 signatures, the one leaked into 10,000 stored strings is found once', () => {
  const sigs = Array.from({ length: 70_000 }, (_, i) => Buffer.from(`sig-${i}-${'x'.repeat(20)}`).toString('base64'));
  const values = Array.from({ length: 10_000 }, (_, i) => `{"note":"row ${i} without secrets","n":${i}}`);
  values.push(`leaked: ${sigs[69_999]}`);
  const leaks = findLeaks('t', values, [], new SignatureMatcher(sigs));
  assert.equal(leaks.length, 1);
  assert.match(leaks[0]?.sample ?? '', /leaked/);
});
