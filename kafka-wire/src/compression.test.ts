import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { CODECS, compress, DecompressError, decompress, lz4FrameDecode, snappyDecode, xxh32 } from './compression.ts';
import { compressProduceRequest, encodeProduceRequest, type ProduceRecord } from './protocol.ts';

const text = Buffer.from(
  JSON.stringify(Array.from({ length: 3000 }, (_, i) => ({ id: `evt_${i}`, amount_minor: i * 7, currency: 'USD' }))),
);

describe('xxHash32', () => {
  it('matches the reference values', () => {
    assert.equal(xxh32(Buffer.from('')), 0x02cc5d05);
    assert.equal(xxh32(Buffer.from('abc')), 0x32d153ff);
    assert.equal(xxh32(Buffer.from('Nobody inspects the spammish repetition')), 0xe2293b2f);
  });
});

describe('codecs', () => {
  for (const codec of ['lz4', 'zstd', 'gzip'] as const) {
    it(`${codec}: round trip of text, random bytes, empty and short inputs`, () => {
      for (const data of [
        text,
        randomBytes(200_000),
        Buffer.alloc(0),
        Buffer.from('a'),
        Buffer.from('abcabcabcabcabcabc'),
      ]) {
        const z = compress(codec, data);
        if (data === text)
          assert.ok(z.length < data.length / 3, `${codec} compresses text (${z.length} of ${data.length})`);
        assert.deepEqual(decompress(CODECS[codec], z, 1 << 20), data);
      }
    });
    it(`${codec}: output past the limit is tooLarge, damage is corrupt`, () => {
      const z = compress(codec, text);
      assert.throws(
        () => decompress(CODECS[codec], z, 1000),
        (e: Error) => e instanceof DecompressError && e.tooLarge,
      );
      assert.throws(
        () => decompress(CODECS[codec], z.subarray(0, z.length - 7), 1 << 20),
        (e: Error) => e instanceof DecompressError && !e.tooLarge && e.message === `the ${codec} data is corrupt`,
      );
    });
  }

  it('lz4: refuses a bad magic, a damaged header checksum, reserved bits and an offset before the block', () => {
    const z = compress('lz4', text);
    for (const at of [0, 4, 5, 6]) {
      const bad = Buffer.from(z);
      bad[at] = (bad[at] as number) ^ 0x02;
      assert.throws(() => lz4FrameDecode(bad, 1 << 20), DecompressError, `byte ${at}`);
    }
    // A block whose first sequence copies from before the start (offset 1 with no output yet).
    const frame = Buffer.from(compress('lz4', Buffer.alloc(0)).subarray(0, 7));
    const block = Buffer.from([0x10, 0x61, 0x05, 0x00, 0x00]); // literal 'a', then offset 5 > 1 byte written
    const size = Buffer.alloc(4);
    size.writeUInt32LE(block.length);
    assert.throws(
      () => lz4FrameDecode(Buffer.concat([frame, size, block, Buffer.alloc(4)]), 1 << 20),
      /the lz4 data is corrupt/,
    );
  });

  it('snappy: raw blocks and xerial framing; copies inside the output only; the declared length must be met', () => {
    // "abcd" then a copy-1 of length 8 at offset 4 → "abcdabcdabcd" (12 bytes)
    const raw = Buffer.from([12, (4 - 1) << 2, 0x61, 0x62, 0x63, 0x64, 0x01 | ((8 - 4) << 2), 4]);
    assert.equal(snappyDecode(raw, 100).toString(), 'abcdabcdabcd');
    const head = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    const len = Buffer.alloc(4);
    len.writeInt32BE(raw.length);
    assert.equal(snappyDecode(Buffer.concat([head, len, raw, len, raw]), 100).toString(), 'abcdabcdabcd'.repeat(2));
    assert.throws(() => snappyDecode(Buffer.from([13, ...raw.subarray(1)]), 100), /corrupt/); // one byte short
    assert.throws(() => snappyDecode(Buffer.from([12, 0x0c, 0x61, 0x62, 0x63, 0x64, 0x11, 9]), 100), /corrupt/); // offset 9 > 4
    assert.throws(
      () => snappyDecode(raw, 5),
      (e: Error) => e instanceof DecompressError && e.tooLarge,
    );
  });
});

describe('compressProduceRequest', () => {
  it('rewrites every batch with the codec bit, a fresh batch length and CRC; the records decompress to the originals', () => {
    const records: ProduceRecord[] = Array.from({ length: 30 }, (_, i) => ({
      key: `k${i}`,
      value: Buffer.from(JSON.stringify({ i, pad: 'payment '.repeat(20) })),
      headers: { h: String(i) },
    }));
    const plain = encodeProduceRequest(
      7,
      Buffer.from('c'),
      -1,
      1000,
      { producerId: 5n, producerEpoch: 0 },
      [
        {
          topic: 't',
          partitions: [
            { partition: 0, baseSequence: 0, records },
            { partition: 1, baseSequence: 0, records: records.slice(0, 3) },
          ],
        },
      ],
      1_700_000_000_000,
    );
    for (const codec of ['lz4', 'zstd', 'gzip'] as const) {
      const packed = compressProduceRequest(plain, codec);
      assert.ok(packed.length < plain.length, `${codec} is smaller`);
      assert.equal(packed.readInt32BE(0), packed.length - 4);
      // Walk both requests' batches: headers equal but for length, CRC and codec; records equal after decompression.
      const batches = (req: Buffer) => {
        const out: Buffer[] = [];
        let at = 4 + 2 + 2 + 4 + 2 + 1 + 2 + 2 + 4; // header with client id 'c', null transactional id, acks, timeout
        const topics = req.readInt32BE(at);
        at += 4;
        for (let t = 0; t < topics; t++) {
          at += 2 + req.readInt16BE(at);
          const parts = req.readInt32BE(at);
          at += 4;
          for (let p = 0; p < parts; p++) {
            const n = req.readInt32BE(at + 4);
            out.push(req.subarray(at + 8, at + 8 + n));
            at += 8 + n;
          }
        }
        assert.equal(at, req.length);
        return out;
      };
      const [a, b] = [batches(plain), batches(packed)];
      assert.equal(a.length, 2);
      for (let i = 0; i < a.length; i++) {
        const x = a[i] as Buffer;
        const y = b[i] as Buffer;
        assert.equal(y.readInt16BE(21) & 7, CODECS[codec]);
        assert.equal(y.readInt32BE(8), y.length - 12);
        assert.deepEqual(y.subarray(23, 61), x.subarray(23, 61));
        assert.deepEqual(decompress(CODECS[codec], y.subarray(61), 1 << 20), x.subarray(61));
      }
    }
  });
});
