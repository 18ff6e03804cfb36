import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanText, insertStatement, rawOnlyRow, toRow } from './rows.ts';

const msg = (value: Buffer | null, extra: Partial<Record<string, unknown>> = {}) => ({
  topic: 'webhooks.dlq',
  partition: 0,
  offset: '42',
  key: null,
  value,
  timestamp: '1764160000000',
  headers: { 'request-id': Buffer.from('req-1') },
  ...extra,
});

test('a well-formed edge DLQ record fills the parsed columns', () => {
  const rec = {
    schema_version: 1,
    provider: 'stripe',
    reason: 'invalid_signature',
    message: 'no secret matches',
    security_event: true,
    http_status: 401,
    headers: { 'stripe-signature': '[redacted]' },
    body: '{}',
    body_encoding: 'utf8',
    event_id: 'evt_1',
    request_id: 'req-1',
    received_at: '2026-11-26T13:31:47.123Z',
  };
  const row = toRow('webhook_quarantine', msg(Buffer.from(JSON.stringify(rec))));
  assert.equal(row.parse_error, null);
  assert.equal(row.provider, 'stripe');
  assert.equal(row.reason, 'invalid_signature');
  assert.equal(row.security_event, true);
  assert.equal(row.http_status, 401);
  assert.equal(row.received_at, '2026-11-26T13:31:47.123Z');
  assert.equal(row.kafka_offset, '42');
  assert.equal(row.kafka_timestamp, new Date(1764160000000).toISOString());
  assert.deepEqual(JSON.parse(row.kafka_headers as string), { 'request-id': 'req-1' });
});

test('a validation DLQ record keeps the ORIGINAL source coordinates', () => {
  const rec = {
    event_id: 'stripe:evt_1',
    provider: 'stripe',
    provider_event_id: 'evt_1',
    validation_errors: [
      { field: 'data.object.currency', code: 'INVALID_CURRENCY', message: 'Unsupported currency: XYZ' },
    ],
    failure_reason: 'INVALID_CURRENCY',
    source_topic: 'webhooks.stripe.charge',
    kafka_partition: 2,
    kafka_offset: 12345,
    quarantined_at: '2026-11-26T13:31:47Z',
  };
  const text = JSON.stringify(rec);
  const row = toRow('validation_quarantine', msg(Buffer.from(text), { topic: 'payments.validation.dlq' }));
  assert.equal(row.failure_reason, 'INVALID_CURRENCY');
  assert.equal(row.source_topic, 'webhooks.stripe.charge');
  assert.equal(row.source_partition, 2);
  assert.equal(row.source_offset, '12345');
  assert.equal(JSON.parse(row.validation_errors as string)[0].code, 'INVALID_CURRENCY');
});

test('any byte string becomes a row with the raw bytes and a parse error, never an exception', () => {
  const inputs: (Buffer | null)[] = [
    null,
    Buffer.alloc(0),
    Buffer.from([0xff, 0xfe, 0x00, 0x80]),
    Buffer.from('not json'),
    Buffer.from('[1,2,3]'),
    Buffer.from('"a string"'),
    Buffer.from('{"provider": {"nested": true}, "http_status": "abc", "received_at": "yesterday"}'),
  ];
  for (const value of inputs) {
    for (const table of ['webhook_quarantine', 'validation_quarantine'] as const) {
      const row = toRow(table, msg(value));
      assert.ok(Buffer.isBuffer(row.raw_value));
      assert.deepEqual(row.raw_value, value ?? Buffer.alloc(0));
      if (value?.toString().startsWith('{"provider"')) {
        assert.equal(row.parse_error, null);
        assert.equal(row.provider ?? null, null);
        assert.equal((row as Record<string, unknown>).http_status ?? null, null);
      } else {
        assert.equal(typeof row.parse_error, 'string', `parse_error for ${String(value)}`);
        assert.equal(row.record, null);
      }
    }
  }
});

test('NUL characters and lone surrogates are replaced before they reach PostgreSQL', () => {
  const row = toRow('webhook_quarantine', msg(Buffer.from('{"message":"a\\u0000b\\ud800c","x\\u0000":"\\udc00"}')));
  assert.equal(row.message, 'a\ufffdb\ufffdc');
  assert.equal(row.record, JSON.stringify({ message: 'a\ufffdb\ufffdc', 'x\ufffd': '\ufffd' }));
  assert.equal(cleanText('😀'), '😀', 'a valid surrogate pair is kept');
  assert.equal(cleanText('x'.repeat(10), 4), 'xxxx…');
});

test('insert statement binds every column of every row and a raw-only row keeps the coordinates', () => {
  const rows = [toRow('webhook_quarantine', msg(Buffer.from('{}'))), toRow('webhook_quarantine', msg(null))];
  const st = insertStatement('webhook_quarantine', rows);
  assert.equal(st.values.length, 2 * 18);
  assert.match(st.text, /ON CONFLICT \(kafka_topic, kafka_partition, kafka_offset, record_sha256\) DO NOTHING$/);
  const raw = rawOnlyRow('webhook_quarantine', rows[0] as Record<string, unknown>, 'boom');
  assert.equal(raw.kafka_offset, '42');
  assert.equal(raw.record, null);
  assert.match(String(raw.parse_error), /stored raw only: boom/);
});

test('issue 13: whatever wrote the DLQ record, no card number or signature reaches a quarantine row', () => {
  const rec = {
    event_id: 'stripe:evt_4111111111111111',
    provider: 'stripe',
    provider_event_id: 'evt_4111111111111111',
    original_payload: '{"hmacSignature":"c2lnbmF0dXJl","note":"card 5555-5555-5555-4444"}',
    original_payload_encoding: 'utf8',
    validation_errors: [{ field: 'x', code: 'INVALID_FIELD_VALUE', message: 'bad 378282246310005' }],
    failure_reason: 'INVALID_FIELD_VALUE',
    source_topic: 'webhooks.stripe.charge',
    kafka_partition: 1,
    kafka_offset: 7,
  };
  const row = toRow(
    'validation_quarantine',
    msg(Buffer.from(JSON.stringify(rec)), {
      key: Buffer.from('evt_4111111111111111'),
      topic: 'payments.validation.dlq',
    }),
  );
  const stored = JSON.stringify(
    Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('latin1') : v])),
  );
  for (const leak of ['4111111111111111', '5555-5555-5555-4444', '378282246310005', 'c2lnbmF0dXJl'])
    assert.ok(!stored.includes(leak), `${leak} reached the row: ${stored}`);
  assert.equal(row.provider_event_id, 'evt_****************');
  assert.equal(row.source_offset, '7');
  // Not JSON at all: the raw bytes are still redacted, and the parse error quotes nothing.
  const junk = toRow('webhook_quarantine', msg(Buffer.from('{"x": 4111111111111111 oops')));
  assert.ok(!(junk.raw_value as Buffer).toString().includes('4111111111111111'));
  assert.ok(!String(junk.parse_error).includes('4111111111111111'));
});
