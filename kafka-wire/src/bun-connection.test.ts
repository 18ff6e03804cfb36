/**
 * BunBrokerConnection against a local fake broker on Bun's own sockets: framing (responses split across reads and
 * several in one read, matched by correlation id), large requests that the kernel takes in parts (drain), and every
 * failure failing the waiting requests. Runs under `bun test` only (the class needs Bun.connect); skipped on Node.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BunBrokerConnection, bunSocketsAvailable } from './bun-connection.ts';

const onBun = bunSocketsAvailable();
// biome-ignore lint/suspicious/noExplicitAny: Bun's global is untyped here (no bun-types in this workspace)
const BunGlobal = (globalThis as any).Bun as any;

/** A request frame like the encoders produce: size, api key, version, correlation id, then payload. */
function frame(correlationId: number, payloadBytes: number): Buffer {
  const buf = Buffer.alloc(12 + payloadBytes, 7);
  buf.writeInt32BE(buf.length - 4, 0);
  buf.writeInt16BE(0, 4);
  buf.writeInt16BE(7, 6);
  buf.writeInt32BE(correlationId, 8);
  return buf;
}

/** Response frame: size, correlation id, body = the request's total size as int32. */
function response(correlationId: number, requestBytes: number): Buffer {
  const buf = Buffer.alloc(12);
  buf.writeInt32BE(8, 0);
  buf.writeInt32BE(correlationId, 4);
  buf.writeInt32BE(requestBytes, 8);
  return buf;
}

interface FakeBroker {
  readonly port: number;
  stop(): void;
}

/**
 * Reads whole request frames; answers them in reverse order once `answerEvery` have arrived, every answer split in
 * two writes 5 ms apart (a response spread over reads) after the first half of all answers goes out in one write.
 */
function fakeBroker(answerEvery: number, onRequest?: (socket: { end(): void }) => boolean): FakeBroker {
  const server = BunGlobal.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(s: { data: { buf: Buffer; ids: [number, number][] } }) {
        s.data = { buf: Buffer.alloc(0), ids: [] };
      },
      data(
        s: { data: { buf: Buffer; ids: [number, number][] }; write(b: Uint8Array): number; end(): void },
        d: Buffer,
      ) {
        const st = s.data;
        st.buf = Buffer.concat([st.buf, d]);
        while (st.buf.length >= 4 && st.buf.length >= 4 + st.buf.readInt32BE(0)) {
          const size = st.buf.readInt32BE(0);
          st.ids.push([st.buf.readInt32BE(8), size + 4]);
          st.buf = st.buf.subarray(size + 4);
          if (onRequest && !onRequest(s)) return;
        }
        if (st.ids.length >= answerEvery) {
          const all = Buffer.concat(st.ids.reverse().map(([id, n]) => response(id, n)));
          st.ids = [];
          const cut = Math.floor(all.length / 2) + 3; // mid-frame
          s.write(all.subarray(0, cut));
          setTimeout(() => s.write(all.subarray(cut)), 5);
        }
      },
    },
  });
  return { port: server.port, stop: () => server.stop(true) };
}

const conn = (port: number, requestTimeoutMs = 2000) =>
  new BunBrokerConnection({ host: '127.0.0.1', port, connectTimeoutMs: 1000, requestTimeoutMs, handshake: false });

test('answers are matched by correlation id across split and merged reads', { skip: !onBun }, async () => {
  const broker = fakeBroker(3);
  const c = conn(broker.port);
  try {
    await c.connect();
    const ids = [c.correlationId(), c.correlationId(), c.correlationId()];
    const sizes = [100, 5000, 20];
    const answers = await Promise.all(ids.map((id, i) => c.request(id, frame(id, sizes[i] as number))));
    assert.deepEqual(
      answers.map((b) => b.readInt32BE(0)),
      sizes.map((n) => n + 12),
    );
    assert.equal(c.usable, true);
  } finally {
    c.close();
    broker.stop();
  }
});

test('a request larger than the socket buffer is written whole (drain) before it is answered', {
  skip: !onBun,
}, async () => {
  const broker = fakeBroker(1);
  const c = conn(broker.port);
  try {
    await c.connect();
    const big = 8 * 1024 * 1024;
    const id = c.correlationId();
    const small = c.correlationId();
    // The second request queues behind the first one's unwritten bytes and must not overtake them.
    const [a, b] = await Promise.all([c.request(id, frame(id, big)), c.request(small, frame(small, 10))]);
    assert.equal(a.readInt32BE(0), big + 12);
    assert.equal(b.readInt32BE(0), 22);
  } finally {
    c.close();
    broker.stop();
  }
});

test('the caller may reuse the request buffer as soon as request() returns (unwritten bytes are copied)', {
  skip: !onBun,
}, async () => {
  const big = 8 * 1024 * 1024;
  const id = 1;
  const sent = frame(id, big);
  for (let i = 12; i < sent.length; i++) sent[i] = (i * 31) & 0xff;
  const original = Buffer.from(sent);
  // Answers 1 when the frame it received is byte for byte the original, else 0.
  const server = BunGlobal.listen({
    hostname: '127.0.0.1',
    port: 0,
    socket: {
      open(s: { data: Buffer[] }) {
        s.data = [];
      },
      data(s: { data: Buffer[]; write(b: Uint8Array): number }, d: Buffer) {
        s.data.push(Buffer.from(d));
        const got = Buffer.concat(s.data);
        if (got.length < original.length) return;
        const answer = Buffer.alloc(12);
        answer.writeInt32BE(8, 0);
        answer.writeInt32BE(id, 4);
        answer.writeInt32BE(got.equals(original) ? 1 : 0, 8);
        s.write(answer);
      },
    },
  });
  const c = conn(server.port);
  try {
    await c.connect();
    const answered = c.request(c.correlationId(), sent);
    sent.fill(0, 12); // the next request encoded into the same buffer
    assert.equal((await answered).readInt32BE(0), 1);
  } finally {
    c.close();
    server.stop(true);
  }
});

test('a broker that closes the connection fails the waiting request; the connection is not used again', {
  skip: !onBun,
}, async () => {
  const broker = fakeBroker(1, (s) => {
    s.end();
    return false;
  });
  const c = conn(broker.port);
  try {
    await c.connect();
    const id = c.correlationId();
    await assert.rejects(c.request(id, frame(id, 10)), /closed the connection/);
    assert.equal(c.usable, false);
    await assert.rejects(c.request(c.correlationId(), frame(1, 10)));
    await assert.rejects(c.connect());
  } finally {
    c.close();
    broker.stop();
  }
});

test('an unanswered request times out and fails the connection', { skip: !onBun }, async () => {
  const broker = fakeBroker(2); // answers only after two requests: the single one below waits forever
  const c = conn(broker.port, 150);
  try {
    await c.connect();
    const id = c.correlationId();
    await assert.rejects(c.request(id, frame(id, 10)), /did not answer Produce within 150 ms/);
    assert.equal(c.usable, false);
  } finally {
    c.close();
    broker.stop();
  }
});

test('connecting to a port nobody listens on rejects', { skip: !onBun }, async () => {
  const broker = fakeBroker(1);
  const port = broker.port;
  broker.stop();
  const c = conn(port);
  await assert.rejects(c.connect(), /Kafka 127\.0\.0\.1:\d+/);
  assert.equal(c.usable, false);
});
