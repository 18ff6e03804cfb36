import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FramingError, RequestFramer, ResponseFramer } from './http-framing.ts';

const PEER = { name: 'x-pep-peer', value: '10.0.0.9' };

/** Feeds `input` in pieces of `piece` bytes and collects what each request forwards, request by request. */
function frameAll(input: Buffer, piece = input.length): { requests: string[]; methods: string[]; rest: number } {
  const f = new RequestFramer(64 * 1024, PEER);
  const requests: string[] = [];
  const methods: string[] = [];
  let current = '';
  let buf = Buffer.alloc(0);
  for (let at = 0; at < input.length; at += piece) {
    buf = Buffer.concat([buf, input.subarray(at, at + piece)]);
    for (;;) {
      const step = f.step(buf);
      if (!step) break;
      if (step.method) methods.push(step.method);
      current += Buffer.concat(step.forward).toString('latin1');
      buf = buf.subarray(step.consumed);
      if (step.complete) {
        requests.push(current);
        current = '';
      }
      if (step.consumed === 0 || buf.length === 0) break;
    }
  }
  return { requests, methods, rest: buf.length };
}

const post = (body: string, extra = '') =>
  `POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
const chunked =
  'POST /webhooks/adyen HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n';

test('pipelined requests are cut where each ends, whatever the TCP segments', () => {
  const wire = Buffer.from(`${post('{"a":1}')}${post('{"b":2}')}${chunked}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n`);
  for (const piece of [wire.length, 7, 1]) {
    const { requests, methods, rest } = frameAll(wire, piece);
    assert.deepEqual(methods, ['POST', 'POST', 'POST', 'GET'], `pieces of ${piece}`);
    assert.equal(rest, 0);
    assert.equal(requests.length, 4);
    assert.ok(requests[0]?.endsWith('\r\nx-pep-peer: 10.0.0.9\r\n\r\n{"a":1}'));
    assert.ok(requests[2]?.endsWith('0\r\nX-Trailer: 1\r\n\r\n'));
  }
});

test("the client cannot set the guard's peer header", () => {
  const { requests } = frameAll(Buffer.from(post('{}', 'X-Pep-Peer: 1.2.3.4\r\n')));
  assert.equal((requests[0]?.match(/x-pep-peer/gi) ?? []).length, 1);
  assert.match(requests[0] as string, /x-pep-peer: 10\.0\.0\.9/);
});

test('ambiguous framing is refused, never guessed (request smuggling shapes)', () => {
  const refused = (head: string, status: number) => {
    const f = new RequestFramer(64 * 1024, PEER);
    assert.throws(
      () => f.step(Buffer.from(head)),
      (e: unknown) => e instanceof FramingError && e.status === status,
      head,
    );
  };
  refused('POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400);
  refused('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 400);
  refused('POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n', 400);
  refused('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501);
  refused('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 501);
  refused('POST / HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n', 400);
  refused('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400);
  refused('GARBAGE\r\n\r\n', 400);
  refused(`GET / HTTP/1.1\r\nX: ${'a'.repeat(70_000)}`, 431);
  const f = new RequestFramer(64 * 1024, PEER);
  assert.throws(() => {
    const s = f.step(Buffer.from('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'));
    if (s && !s.complete) f.step(Buffer.alloc(0));
  }, FramingError);
});

test('responses: lengths, chunks, 1xx, HEAD and 204 without a body, Connection: close', () => {
  const r = new ResponseFramer();
  const ok = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  assert.deepEqual(r.step(ok, 'POST'), { consumed: ok.length, complete: true, close: false });
  const cont = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
  assert.deepEqual(r.step(cont, 'POST'), { consumed: cont.length, complete: false, close: false });
  const ch = Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
  assert.equal(r.step(ch, 'GET')?.complete, true);
  const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n');
  assert.deepEqual(r.step(head, 'HEAD'), { consumed: head.length, complete: true, close: false });
  const nc = Buffer.from('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n');
  assert.equal(r.step(nc, 'POST')?.complete, true);
  const close = Buffer.from('HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}');
  assert.deepEqual(r.step(close, 'POST'), { consumed: close.length, complete: true, close: true });
  // Split anywhere: the head waits for its end, the body is counted across pieces.
  const r2 = new ResponseFramer();
  assert.equal(r2.step(ok.subarray(0, 10), 'POST'), null);
  const s1 = r2.step(ok.subarray(0, ok.length - 1), 'POST');
  assert.equal(s1?.complete, false);
  assert.equal(r2.step(ok.subarray(ok.length - 1), 'POST')?.complete, true);
});

function dechunk(body: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const nl = body.indexOf('\r\n', at);
    const size = Number.parseInt(body.slice(at, nl), 16);
    if (size === 0) return out;
    out += body.slice(nl + 2, nl + 2 + size);
    at = nl + 2 + size + 2;
  }
}

test('random pipelined requests in random pieces are framed back exactly (seeded)', () => {
  let x = 12345;
  const rnd = (n: number) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
  for (let round = 0; round < 200; round++) {
    const bodies: string[] = [];
    let wire = '';
    const count = 1 + rnd(5);
    for (let i = 0; i < count; i++) {
      const body = 'b'.repeat(rnd(300)) + String(i);
      bodies.push(body);
      if (rnd(2) === 0) wire += post(body);
      else {
        let chunks = '';
        for (let at = 0; at < body.length; ) {
          const n = 1 + rnd(40);
          const part = body.slice(at, at + n);
          chunks += `${part.length.toString(16)}\r\n${part}\r\n`;
          at += n;
        }
        wire += `POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${chunks}0\r\n\r\n`;
      }
    }
    const { requests, rest } = frameAll(Buffer.from(wire), 1 + rnd(50));
    assert.equal(rest, 0);
    assert.equal(requests.length, count, `round ${round}`);
    requests.forEach((r, i) => {
      const body = r.slice(r.indexOf('\r\n\r\n') + 4);
      const plain = r.includes('Transfer-Encoding: chunked') ? dechunk(body) : body;
      assert.equal(plain, bodies[i], `round ${round} request ${i}`);
    });
  }
});
