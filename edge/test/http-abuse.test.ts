/**
 * HTTP abuse against the real edge process on Bun (issue 13), raw sockets, memory sink (no Kafka needed): an endless
 * chunked body is cut at the limit and the connection closed, a huge declared Content-Length gets the contract's JSON
 * 413 (not Bun's empty one), aborted body reads cost a counter and a bounded number of log lines, and a source that
 * keeps earning 400/401 answers is answered 429 unread.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type EdgeProcess, spawnEdge, stripeEvent, stripeRequest } from './helpers.ts';

interface RawResult {
  readonly text: string;
  readonly bytesWritten: number;
  readonly closedByServer: boolean;
  /** Milliseconds from the first byte of the answer to the server's close (null: no answer or no close). */
  readonly answerToCloseMs: number | null;
}

/**
 * Writes `head`, then (optionally) an endless chunked body for up to `forMs`, and reports what came back once the
 * server has closed the connection (or after `deadlineMs`: a server that never closes fails the test's assertions).
 */
function rawRequest(
  url: string,
  head: string,
  opts: { endlessChunks?: boolean; forMs?: number; deadlineMs?: number } = {},
) {
  const { port } = new URL(url);
  const forMs = opts.forMs ?? 1000;
  return new Promise<RawResult>((resolve) => {
    const s = connect(Number(port), '127.0.0.1');
    let text = '';
    let written = 0;
    let closed = false;
    let answeredAt: number | null = null;
    let closedAt: number | null = null;
    const done = () => {
      clearTimeout(deadline);
      const answerToCloseMs = answeredAt !== null && closedAt !== null ? closedAt - answeredAt : null;
      resolve({ text, bytesWritten: written, closedByServer: closed, answerToCloseMs });
      s.destroy();
    };
    const deadline = setTimeout(done, opts.deadlineMs ?? 30_000);
    s.on('data', (d) => {
      answeredAt ??= Date.now();
      text += d.toString('latin1');
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
      closedAt = Date.now();
      done();
    });
    s.on('connect', async () => {
      s.write(head);
      if (!opts.endlessChunks) return;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      const t0 = Date.now();
      while (!closed && Date.now() - t0 < forMs) {
        const ok = s.write(frame);
        written += frame.length;
        if (!ok) await new Promise((r) => s.once('drain', r).once('close', r));
      }
    });
  });
}

const jsonBody = (text: string) => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));

describe('HTTP abuse against the Bun edge', () => {
  let edge: EdgeProcess;
  before(async () => {
    edge = await spawnEdge({
      EDGE_SINK: 'memory',
      LOG_LEVEL: 'info',
      EDGE_REFUSAL_LOG_PER_S: '5',
      EDGE_REJECT_RATE_PER_S: '1',
      EDGE_REJECT_BURST: '400',
    });
  });
  after(async () => {
    await edge.stop();
  });

  test('an endless chunked body gets a JSON 413 and the connection is closed: nothing more is read', async () => {
    const r = await rawRequest(
      edge.url,
      'POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      { endlessChunks: true, forMs: 3000 },
    );
    assert.match(r.text, /^HTTP\/1\.1 413 /);
    assert.match(r.text, /\r\nConnection: close\r\n/i);
    assert.equal(jsonBody(r.text).error.code, 'body_too_large');
    assert.ok(r.closedByServer, 'the edge kept the connection open and went on reading');
    // After the answer the edge lingers (pipelining guard, LINGER_MS = 2000): it reads and drops what the client still
    // sends, so that closing does not reset the connection before the client has read the 413, then closes. The bytes
    // dropped meanwhile are whatever loopback carries in that time (117 MB on a quiet machine in CI at b1cdb72, which
    // failed a byte bound here); what is bounded is the time. Before the fix the connection stayed open.
    assert.ok(
      r.answerToCloseMs !== null && r.answerToCloseMs < 2000 + 2000,
      `closed ${r.answerToCloseMs} ms after the answer`,
    );
  });

  test('a huge declared Content-Length gets the contract JSON 413, not an empty one', async () => {
    const r = await rawRequest(
      edge.url,
      'POST /webhooks/square HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{',
    );
    assert.match(r.text, /^HTTP\/1\.1 413 /);
    assert.equal(jsonBody(r.text).error.code, 'body_too_large');
    assert.ok(r.closedByServer);
  });

  test('200 aborted body reads: counted, a bounded number of log lines, no error line', async () => {
    const before = edge.output().split('\n').length;
    const aborts = Array.from(
      { length: 200 },
      () =>
        new Promise<void>((resolve) => {
          const { port } = new URL(edge.url);
          const s = connect(Number(port), '127.0.0.1', () => {
            s.write('POST /webhooks/adyen HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"partial":');
            setTimeout(() => s.destroy(), 100);
          });
          s.on('error', () => undefined);
          s.on('close', () => resolve());
        }),
    );
    await Promise.all(aborts);
    const failures = async () =>
      Number(
        /edge_body_read_failures_total\{provider="adyen"\} (\d+)/.exec(
          await (await fetch(`${edge.url}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    // Behind the pipelining guard, a client that leaves before its request reached Bun.serve costs nothing at all;
    // every one that did is a counted 400.
    let counted = 0;
    for (let i = 0; i < 40; i++) {
      const now = await failures();
      if (now === counted && now > 0) break;
      counted = now;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(counted > 0 && counted <= 200, `${counted} aborted reads counted`);
    const lines = edge
      .output()
      .split('\n')
      .slice(before)
      .filter((l) => l.startsWith('{'));
    const parsed = lines.map((l) => JSON.parse(l) as { level: string; msg: string });
    assert.equal(parsed.filter((l) => l.level === 'error').length, 0, 'aborted reads are not errors');
    // 5 lines a second are allowed (EDGE_REFUSAL_LOG_PER_S), plus one summary line per second.
    assert.ok(parsed.length < 60, `${parsed.length} log lines for 200 aborted reads`);
  });

  test('a source that keeps earning 401s is answered 429 unread', async () => {
    const forged = () =>
      fetch(`${edge.url}/webhooks/stripe`, stripeRequest(stripeEvent('evt_f'), { secret: 'whsec_x' }));
    const statuses: number[] = [];
    let limited: { retryAfter: string | null; body: string } | undefined;
    for (let i = 0; i < 500; i++) {
      const res = await forged();
      statuses.push(res.status);
      const body = await res.text();
      if (res.status === 429) limited = { retryAfter: res.headers.get('retry-after'), body };
    }
    // The burst (400, partly spent by the aborted reads above) is refused normally, then 429. The bucket refills at
    // 1 a second (EDGE_REJECT_RATE_PER_S), so a 401 may follow any 429: the answer checked is the last 429 seen.
    assert.ok(statuses.filter((s) => s === 401).length >= 100, 'the burst is refused normally');
    assert.ok(statuses.filter((s) => s === 429).length >= 50, `statuses: ${JSON.stringify(statuses.slice(-20))}`);
    assert.deepEqual([...new Set(statuses)].sort(), [401, 429]);
    assert.ok(limited);
    assert.ok(Number(limited.retryAfter) >= 1);
    assert.equal((JSON.parse(limited.body) as { error: { code: string } }).error.code, 'rate_limited');
    assert.match(await (await fetch(`${edge.url}/metrics`)).text(), /edge_rate_limited_total\{provider="stripe"\} \d+/);
  });

  test('a kept-alive connection: busy, it is never cut; idle past the timeout of Bun.serve, still answered; silent, closed', async () => {
    // Its own edge: a 1 s idle timeout would cut the other tests' requests on a loaded machine.
    const idleEdge = await spawnEdge({
      EDGE_SINK: 'memory',
      EDGE_IDLE_TIMEOUT_S: '1',
      EDGE_PRODUCE_TIMEOUT_MS: '500',
      EDGE_CLIENT_IDLE_TIMEOUT_S: '8',
    });
    const { port } = new URL(idleEdge.url);
    const s = connect(Number(port), '127.0.0.1');
    let text = '';
    let closed = false;
    s.on('data', (d) => {
      text += d.toString('latin1');
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      closed = true;
    });
    const count = () => (text.match(/HTTP\/1\.1 200 /g) ?? []).length;
    const answers = async (n: number) => {
      const deadline = Date.now() + 10_000;
      while (count() < n && !closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    };
    const get = () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => s.once('connect', r));
    try {
      // Busy for longer than the guard's client idle timeout (8 s, on Bun's 4 s timer tick): a request every 300 ms
      // is never cut (before the fix, Bun's socket timeout fired that long after it was set whatever the traffic, and
      // the guard closed the connection between two requests: "other side closed" for the client's next one).
      const t0 = Date.now();
      let n = 0;
      while (Date.now() - t0 < 13_000) {
        get();
        await answers(++n);
        assert.equal(closed, false, `closed after ${Date.now() - t0} ms of traffic`);
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(count(), n);
      // Silent past Bun.serve's idle timeout (EDGE_IDLE_TIMEOUT_S=1, closed on its 4 s tick: measured 4 s), not the
      // guard's: Bun.serve closes the guard's upstream connection; before the fix the guard closed the client's with
      // it, and a client reusing it got no answer. Now the next request opens a new upstream connection.
      await new Promise((r) => setTimeout(r, 6500));
      assert.equal(closed, false, 'the client connection was closed while idle');
      get();
      await answers(n + 1);
      assert.equal(count(), n + 1, text.slice(-300));
      // Silent for longer than the guard's timeout: closed.
      const silentSince = Date.now();
      while (!closed && Date.now() - silentSince < 20_000) await new Promise((r) => setTimeout(r, 100));
      assert.equal(closed, true, 'a silent connection is closed');
    } finally {
      s.destroy();
      await idleEdge.stop();
    }
  });
});
