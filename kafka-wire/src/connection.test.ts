/**
 * ResponseFrames, the framing of every connection: the same frames come out whatever the chunking (a size split
 * across reads, one frame over many reads, many frames in one read), in both modes; in copy mode the caller's buffer
 * is reused between reads (Node's `onread` static buffer, Bun) and the frames must not change with it; a size
 * outside [4, 64 MiB] is reported as corrupt. Plus BrokerConnection end to end against a local fake broker.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { BrokerConnection, ResponseFrames } from './connection.ts';

/** A response frame: size, correlation id, body. */
function frame(correlationId: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeInt32BE(4 + body.length, 0);
  head.writeInt32BE(correlationId, 4);
  return Buffer.concat([head, body]);
}

/** Pushes `stream` in chunks of the given sizes through one reused buffer (copy) or fresh ones (views). */
function run(copy: boolean, stream: Buffer, sizes: readonly number[]): { id: number; body: Buffer }[] {
  const frames = new ResponseFrames(copy);
  const out: { id: number; body: Buffer }[] = [];
  const shared = Buffer.alloc(Math.max(1, ...sizes));
  let at = 0;
  let i = 0;
  while (at < stream.length) {
    const n = Math.min(sizes[i++ % sizes.length] as number, stream.length - at);
    let chunk: Buffer;
    if (copy) {
      stream.copy(shared, 0, at, at + n);
      chunk = shared.subarray(0, n);
    } else chunk = Buffer.from(stream.subarray(at, at + n));
    const err = frames.push(chunk, (id, body) => out.push({ id, body }));
    assert.equal(err, null);
    if (copy) shared.fill(0xee); // the runtime overwrites its buffer with the next read
    at += n;
  }
  return out;
}

describe('ResponseFrames', () => {
  const bodies = [Buffer.alloc(0), randomBytes(1), randomBytes(3), randomBytes(1000), randomBytes(200_000)];
  const stream = Buffer.concat(bodies.map((b, i) => frame(i + 1, b)));

  for (const copy of [false, true]) {
    it(`${copy ? 'copy' : 'views'} mode: the same frames for every chunking`, () => {
      for (const sizes of [[1], [2], [3], [5], [7, 1, 4096], [65_536], [stream.length], [1, 65_536, 2]]) {
        const got = run(copy, stream, sizes);
        assert.deepEqual(
          got.map((f) => f.id),
          [1, 2, 3, 4, 5],
          `chunks ${sizes.join(',')}`,
        );
        got.forEach((f, i) => {
          assert.ok(f.body.equals(bodies[i] as Buffer), `frame ${i + 1}, chunks ${sizes.join(',')}`);
        });
      }
    });

    it(`${copy ? 'copy' : 'views'} mode: a size outside [4, 64 MiB] is corrupt`, () => {
      for (const size of [0, 3, -1, 64 * 1024 * 1024 + 1]) {
        const bad = Buffer.alloc(8);
        bad.writeInt32BE(size, 0);
        const frames = new ResponseFrames(copy);
        // The size split over two reads is read the same way.
        assert.equal(
          frames.push(bad.subarray(0, 2), () => assert.fail('no frame')),
          null,
        );
        assert.match(frames.push(bad.subarray(2), () => assert.fail('no frame')) ?? '', /malformed response/);
      }
    });
  }
});

describe('BrokerConnection', () => {
  it('gets every answer whole through a fake broker that writes them in odd pieces', async () => {
    const big = randomBytes(3 * 65_536 + 17);
    const server = createServer((sock) => {
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readInt32BE(0)) {
          const id = buf.readInt32BE(8);
          buf = buf.subarray(4 + buf.readInt32BE(0));
          // Answer: a big body for odd ids, a small one for even, written in 3 uneven pieces.
          const answer = frame(id, id % 2 ? big : Buffer.from([id]));
          const cut1 = Math.min(answer.length, 3);
          const cut2 = Math.min(answer.length, 70_001);
          sock.write(answer.subarray(0, cut1));
          sock.write(answer.subarray(cut1, cut2));
          sock.write(answer.subarray(cut2));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const conn = new BrokerConnection({
      host: '127.0.0.1',
      port,
      connectTimeoutMs: 5000,
      requestTimeoutMs: 5000,
      handshake: false,
    });
    try {
      await conn.connect();
      const ask = () => {
        const id = conn.correlationId();
        const b = Buffer.alloc(12);
        b.writeInt32BE(8, 0);
        b.writeInt16BE(1000, 4); // an API key no throttle rule reads
        b.writeInt16BE(0, 6);
        b.writeInt32BE(id, 8);
        return conn.request(id, b).then((body) => Buffer.from(body));
      };
      const answers = await Promise.all(Array.from({ length: 6 }, () => ask()));
      for (const a of answers) assert.ok(a.equals(big) || a.length === 1, `answer of ${a.length} bytes`);
      assert.equal(answers.filter((a) => a.equals(big)).length, 3);
    } finally {
      conn.close();
      server.close();
    }
  });
});
