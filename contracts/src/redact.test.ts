import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from './log.ts';
import {
  cleanText,
  hasCardNumber,
  maskCards,
  maskCardsInPayload,
  redactBytes,
  redactPayload,
  redactText,
} from './redact.ts';

// Test card numbers of the major brands (all Luhn-valid).
const PANS = ['4111111111111111', '5555555555554444', '378282246310005', '6011000990139424', '3530111333300000'];

test('card numbers are masked in every spelling: plain, grouped, escaped', () => {
  for (const pan of PANS) {
    const stars = '*'.repeat(pan.length);
    assert.equal(maskCards(`card ${pan} end`), `card ${stars} end`);
    const spaced = pan.replace(/(\d{4})(?=\d)/g, '$1 ');
    assert.equal(maskCards(spaced), spaced.replace(/\d/g, '*'));
    const dashed = pan.replace(/(\d{4})(?=\d)/g, '$1-');
    assert.equal(maskCards(`x${dashed}y`), `x${dashed.replace(/\d/g, '*')}y`);
    const json = [...pan].map((d) => `\\u003${d}`).join('');
    assert.equal(maskCards(json), stars);
    const pct = [...pan].map((d) => `%3${d}`).join('');
    assert.equal(maskCards(pct), stars);
    const xml = [...pan].map((d) => `&#${d.charCodeAt(0)};`).join('');
    assert.equal(maskCards(xml), stars);
  }
  // Inside a longer run of groups, every span from a group start to a group end is tried.
  assert.equal(maskCards('ref 12 4111 1111 1111 1111'), 'ref 12 **** **** **** ****');
});

test('what is not a card number is left alone', () => {
  for (const s of [
    '4111111111111112', // Luhn fails
    '7914073381342284', // an Adyen pspReference (starts with 7)
    '1700000000000', // a Unix time in ms
    '2024-01-15T12:00:00Z',
    '+1 415-555-0100',
    '94111111111111111', // the card is glued to another digit: not a group of its own
    '411111111111', // 12 digits
  ])
    assert.equal(maskCards(s), s, s);
});

/** `n` digits starting with `prefix`, made Luhn-valid by the last digit. */
function luhnValid(prefix: string, n: number): string {
  const d = [...prefix.padEnd(n - 1, '7')].map(Number);
  let sum = 0;
  d.reverse().forEach((x, k) => {
    sum += k % 2 === 0 ? (x * 2 > 9 ? x * 2 - 9 : x * 2) : x;
  });
  return `${prefix.padEnd(n - 1, '7')}${(10 - (sum % 10)) % 10}`;
}

test("only a card brand's leading digits and length make a Luhn-valid run a card number", () => {
  const cards: [string, number][] = [
    ['4', 13],
    ['4', 16],
    ['4', 19],
    ['51', 16],
    ['55', 16],
    ['2221', 16],
    ['2720', 16],
    ['2200', 17],
    ['34', 15],
    ['37', 15],
    ['6011', 19],
    ['644', 16],
    ['65', 17],
    ['3528', 16],
    ['3589', 19],
    ['300', 14],
    ['305', 14],
    ['3095', 14],
    ['36', 14],
    ['38', 15],
    ['39', 19],
    ['62', 18],
    ['50', 13],
    ['56', 13],
    ['69', 19],
  ];
  for (const [prefix, n] of cards) {
    const pan = luhnValid(prefix, n);
    assert.ok(hasCardNumber(pan), `${pan} is a card`);
    assert.equal(maskCards(`id ${pan}`), `id ${'*'.repeat(n)}`);
  }
  // Luhn-valid, but no brand has these leading digits at this length: Adyen's 16-digit pspReferences (8, 9, 7) first.
  const notCards: [string, number][] = [
    ['8', 16],
    ['9', 16],
    ['7', 16],
    ['1', 16],
    ['0', 16],
    ['4', 14],
    ['4', 15],
    ['4', 17],
    ['4', 18],
    ['51', 15],
    ['55', 17],
    ['2220', 16],
    ['2721', 16],
    ['2205', 16],
    ['21', 16],
    ['34', 16],
    ['37', 14],
    ['3527', 16],
    ['3590', 16],
    ['306', 14],
    ['31', 16],
    ['33', 16],
    ['36', 13],
    ['3500', 16],
    ['3095', 13],
  ];
  for (const [prefix, n] of notCards) {
    const id = luhnValid(prefix, n);
    assert.ok(!hasCardNumber(id), `${id} is not a card`);
    assert.equal(maskCards(id), id);
  }
});

test('identifiers: a card number is detected, not masked', () => {
  assert.ok(hasCardNumber('4111111111111111'));
  assert.ok(hasCardNumber('cus_4111111111111111'));
  assert.ok(hasCardNumber('evt-5555-5555-5555-4444'));
  assert.ok(!hasCardNumber('8535296650153317'));
  assert.ok(!hasCardNumber('pi_3MtwBwLkdIwHu7ix28a3tqPa'));
});

test('free text in the event: cards masked, NUL replaced', () => {
  assert.equal(cleanText('declined 4111111111111111\u0000'), 'declined ****************\ufffd');
});

test('signatures are redacted as JSON members and as form fields, escaped keys too', () => {
  assert.equal(
    redactText('{"additionalData":{"hmacSignature" : "coqCmt/IZ4E3C+zP=="}}'),
    '{"additionalData":{"hmacSignature" : "[redacted]"}}',
  );
  assert.equal(redactText('{"hmac\\u0053ignature":"abc"}'), '{"hmac\\u0053ignature":"[redacted]"}');
  assert.equal(redactText('bt_signature=pk%7C0a1b&bt_payload=QQ%3D%3D'), 'bt_signature=[redacted]&bt_payload=QQ%3D%3D');
  assert.equal(redactText('%62t_signature=pk%7C0a1b'), '%62t_signature=[redacted]');
  // The issue-13 forgery: a form hiding inside a JSON string.
  assert.equal(
    redactText('{"x":"&bt_signature=pk%7Cabc&bt_payload=QQ%3D%3D&","bt_payload":"zz"}'),
    '{"x":"&bt_signature=[redacted]&bt_payload=QQ%3D%3D&","bt_payload":"zz"}',
  );
});

test('a card number cannot hide in a Braintree payload (base64 XML inside a form)', () => {
  const xml = '<notification><kind>check</kind><note>pay 4111 1111 1111 1111</note></notification>';
  const body = `bt_signature=pk%7Cdeadbeef&bt_payload=${encodeURIComponent(Buffer.from(xml).toString('base64'))}`;
  const out = redactText(body);
  const fields = new URLSearchParams(out);
  assert.equal(fields.get('bt_signature'), '[redacted]');
  assert.equal(
    Buffer.from(fields.get('bt_payload') as string, 'base64').toString(),
    '<notification><kind>check</kind><note>pay **** **** **** ****</note></notification>',
  );
});

test('signatures in text no parser reads (damaged JSON) are redacted after the word signature', () => {
  assert.equal(
    redactText('{"additionalData":{"hmacSignature": coqCmt/IZ4E3C+zPabcdef== ,"x":1}'),
    '{"additionalData":{"hmacSignature": [redacted] ,"x":1}',
  );
  assert.equal(redactText('{"hmacSignature""coqCmt/IZ4E3C+zPabcdef=="'), '{"hmacSignature""[redacted]"');
  assert.equal(redactText('x-signature:  pk|0a1b2c3d4e5f60718293 end'), 'x-signature:  [redacted] end');
  // Short values and words are left alone.
  assert.equal(redactText('signature: ok, signature=short'), 'signature: ok, signature=short');
});

test('signature digests are redacted by their shape under a damaged key name, or none (fail closed)', () => {
  const sig = 'coqCmt/IZ4E3C+zPVKbMwQ9dGx9Mqj7Y2PyDKmYlnWw=';
  const hex = '0123456789abcdef0123456789abcdef01234567';
  for (const [input, want] of [
    [`{"additionalData":{"hmacSinature":"${sig}"}}`, '{"additionalData":{"hmacSinature":"[redacted]"}}'],
    [`{"p":"{\\"hmacSignatu\\u0000e\\":\\"${sig}\\"}"}`, '{"p":"{\\"hmacSignatu\\u0000e\\":\\"[redacted]\\"}"}'],
    [`{"additionalData":{"HMACsig":"${sig}","x":1}}`, '{"additionalData":{"HMACsig":"[redacted]","x":1}}'],
    [`bt_signatrue=pk%7C${hex}&bt_payload=QQ%3D%3D`, 'bt_signatrue=pk%7C[redacted]&bt_payload=QQ%3D%3D'],
    [`x pk|${hex} y`, 'x pk|[redacted] y'],
    [`pk|${hex}0123456789abcdef01234567`, 'pk|[redacted]'],
    // Not a digest's shape: part of a longer run, two `=`, 39 hex digits, hex run followed by a letter.
    [`a${sig}`, `a${sig}`],
    [`${sig}=`, `${sig}=`],
    [`pk|${hex.slice(1)}`, `pk|${hex.slice(1)}`],
    [`pk|${hex}g`, `pk|${hex}g`],
  ] as const) {
    assert.equal(redactText(input), want, input);
  }
});

test('a damaged Braintree payload that shows a card number at any base64 alignment is redacted whole', () => {
  const xml = '<notification><note>4111 1111 1111 1111</note></notification>';
  const b64 = Buffer.from(xml).toString('base64');
  for (const cut of [8, 9, 10, 11]) {
    const damaged = `bt_signature=pk%7Cdeadbeef&bt_payload=${b64.slice(0, cut)}%ZZ!${b64.slice(cut)}`;
    assert.equal(redactText(damaged), 'bt_signature=[redacted]&bt_payload=[redacted]', `cut at ${cut}`);
  }
  const clean = `bt_payload=${b64.slice(0, 10)}%ZZ${Buffer.from('<n>no card</n>').toString('base64')}`;
  assert.equal(redactText(clean), clean, 'nothing to hide: kept as it is');
  // A payload that is not UTF-8 inside is masked byte for byte.
  const latin1 = Buffer.from('<n>\xe9 4111111111111111</n>', 'latin1').toString('base64');
  const out = new URLSearchParams(redactText(`bt_payload=${encodeURIComponent(latin1)}`)).get('bt_payload') as string;
  assert.equal(Buffer.from(out, 'base64').toString('latin1'), '<n>\xe9 ****************</n>');
});

test('payloads that are not UTF-8 are redacted byte for byte and carried as base64', () => {
  const raw = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(' 4111111111111111 "hmacSignature":"x"')]);
  const r = redactPayload(raw);
  assert.equal(r.encoding, 'base64');
  assert.equal(
    Buffer.from(r.text, 'base64').toString('latin1').slice(2),
    ' **************** "hmacSignature":"[redacted]"',
  );
  assert.equal(redactBytes(raw).utf8, false);
  const clean = Buffer.from('{"ok":true}');
  assert.equal(redactBytes(clean).bytes, clean, 'nothing to redact: the same bytes');
});

test('log lines never carry a card number, in the message, fields, nested fields or errors', () => {
  const lines: string[] = [];
  const log = createLogger('info', { request_id: '4111111111111111' }, (l) => void lines.push(l), false);
  log.info('declined 5555555555554444', {
    note: 'card 4111-1111-1111-1111',
    nested: { deeper: ['378282246310005'] },
    error: new Error('Unexpected token in "6011000990139424"'),
  });
  assert.equal(lines.length, 1);
  assert.doesNotMatch(lines[0] as string, /\d{13,}|\d{4}-\d{4}-\d{4}-\d{4}/);
  const rec = JSON.parse(lines[0] as string);
  assert.equal(rec.note, 'card ****-****-****-****');
  assert.deepEqual(rec.nested, { deeper: ['***************'] });
});

test('payloads fail closed: a card number glued to other digits is masked there, and only there', () => {
  // Seen in the 100,000-body fuzz (issue 13): byte damage dropped a quote, so the card number ran into the digits
  // beside it and no window from a group start to a group end was a card.
  const glued = [
    ['"reason":"Refused51051051051051000,', '"reason":"Refused****************0,'],
    ['"order":"o1","51051051051051006:"k"', '"order":"o1","****************6:"k"'],
    ['ref 994111111111111111', 'ref 99****************'],
  ] as const;
  for (const [input, want] of glued) {
    assert.equal(redactText(input), want, input);
    assert.equal(maskCardsInPayload(input), want, input);
    assert.equal(redactPayload(Buffer.from(input)).text, want, input);
    // events' free text and identifiers keep the group rule: the 17-digit run is no card's length
    assert.equal(maskCards(input), input, input);
  }
  assert.equal(hasCardNumber('ord_51051051051051000'), false);
  // a card-shaped window in the middle of a run, with digits on both sides, is not taken (neither rule)
  assert.equal(redactText('99410000000000000061'), '99410000000000000061');
  // no window can start with 0, 1, 7, 8 or 9, and runs under 13 digits are no cards
  for (const s of ['9181716151413121110', 'psp 8817101071087190', 'order 412345678901'])
    assert.equal(redactText(s), s, s);
});
