import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c } from './protocol.ts';
import {
  BATCH_ATTRIBUTES,
  BATCH_HEADER,
  BATCH_HEADER_BYTES,
  forEachCommittedRecord,
  VarintCursor,
  varintSize,
  writeBatchHeader,
  writeVarint,
  zigzag,
} from './record-batch.ts';

/** One uncompressed batch at `baseOffset` with records `values` (header `received-at` = value), as a broker stores it. */
function batch(baseOffset: bigint, values: string[], o: { producerId?: bigint; attributes?: number } = {}): Buffer {
  const records = values.map((v, i) => {
    const body = Buffer.alloc(64 + 2 * v.length);
    let at = 0;
    body[at++] = 0; // attributes
    at = writeVarint(body, at, zigzag(i)); // timestampDelta
    at = writeVarint(body, at, zigzag(i)); // offsetDelta
    at = writeVarint(body, at, zigzag(-1)); // key null
    at = writeVarint(body, at, zigzag(v.length));
    at += body.write(v, at, 'latin1');
    at = writeVarint(body, at, zigzag(1));
    at = writeVarint(body, at, zigzag(11));
    at += body.write('received-at', at, 'latin1');
    at = writeVarint(body, at, zigzag(v.length));
    at += body.write(v, at, 'latin1');
    const len = Buffer.alloc(varintSize(zigzag(at)));
    writeVarint(len, 0, zigzag(at));
    return Buffer.concat([len, body.subarray(0, at)]);
  });
  const rec = Buffer.concat(records);
  const buf = Buffer.alloc(BATCH_HEADER_BYTES + rec.length);
  rec.copy(buf, BATCH_HEADER_BYTES);
  writeBatchHeader(buf, 0, {
    batchBytes: buf.length,
    attributes: o.attributes ?? 0,
    recordCount: values.length,
    baseTimestampMs: 1000,
    maxTimestampMs: 1000 + values.length,
    producerId: o.producerId ?? 1n,
    producerEpoch: 0,
    baseSequence: 0,
  });
  buf.writeBigInt64BE(baseOffset, BATCH_HEADER.baseOffset);
  buf.writeUInt32BE(crc32c(buf, BATCH_HEADER.attributes, buf.length), BATCH_HEADER.crc);
  return buf;
}

test('reads committed records: skips aborted transactions and control batches, keeps a truncated tail for later', () => {
  const txn = BATCH_ATTRIBUTES.transactional;
  const bytes = Buffer.concat([
    batch(0n, ['a', 'b']),
    batch(2n, ['aborted'], { producerId: 7n, attributes: txn }),
    batch(3n, ['marker'], { producerId: 7n, attributes: txn | BATCH_ATTRIBUTES.control }),
    batch(4n, ['c'], { producerId: 8n, attributes: txn }),
    batch(5n, ['cut']).subarray(0, 40),
  ]);
  const seen: string[] = [];
  const next = forEachCommittedRecord(bytes, 1n, [{ producerId: 7n, firstOffset: 2n }], (r) => {
    const [name, value] = r.headers[0] ?? [];
    assert.equal(bytes.toString('latin1', name?.[0], name?.[1]), 'received-at');
    seen.push(`${r.offset}:${bytes.toString('latin1', value?.[0], value?.[1])}:${r.timestampMs}`);
  });
  assert.deepEqual(seen, ['1:b:1001', '4:c:1000']);
  assert.equal(next, 5n);
});

test('refuses compressed batches and unreadable records instead of guessing', () => {
  assert.throws(() => forEachCommittedRecord(batch(0n, ['a'], { attributes: 1 }), 0n, [], () => {}), /compressed/);
  const broken = batch(0n, ['abc']);
  broken[BATCH_HEADER_BYTES] = 0x7f; // record length far past the batch
  assert.throws(() => forEachCommittedRecord(broken, 0n, [], () => {}), /unreadable record/);
});

test('the varint cursor flags cut and overlong varints instead of throwing', () => {
  const c = new VarintCursor(Uint8Array.from([0x80, 0x80]), 0, 2);
  c.varint();
  assert.equal(c.bad, true);
  const d = new VarintCursor(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0, 6);
  d.varint();
  assert.equal(d.bad, true);
  const e = new VarintCursor(Uint8Array.from([(zigzag(-300) & 0x7f) | 0x80, zigzag(-300) >>> 7]), 0, 2);
  assert.equal(e.varint(), -300);
});
