/**
 * trinoQuery's retry of queries the cluster cannot schedule yet, against a stand-in for Trino's statement protocol
 * (a unit test of the client code; the real Trino is exercised by test/trino.test.ts and the deploy suites).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { TrinoError, trinoQuery } from './trino.ts';

/** How the n-th statement received ends (the last entry repeats). */
let answers: Record<string, unknown>[] = [];
let statements = 0;
let server: Server;
let url = '';

const failed = (errorName: string, message: string) => ({
  id: 'failed',
  stats: { state: 'FAILED' },
  error: { message, errorName, errorCode: 1, errorType: 'INSUFFICIENT_RESOURCES' },
});
const finished = {
  id: 'ok',
  stats: { state: 'FINISHED' },
  columns: [{ name: 'n', type: 'bigint' }],
  data: [[42]],
};

before(async () => {
  // As Trino does: POST /v1/statement queues the query and names the next page; the page says how it ended.
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    req.resume();
    req.on('end', () => {
      if (req.url === '/v1/info') return res.end(JSON.stringify({ starting: false }));
      if (req.method === 'POST' && req.url === '/v1/statement') {
        const n = statements++;
        return res.end(
          JSON.stringify({ id: `q${n}`, stats: { state: 'QUEUED' }, nextUri: `${url}/v1/statement/q/${n}` }),
        );
      }
      const n = Number(req.url?.split('/').pop());
      res.end(JSON.stringify(answers[Math.min(n, answers.length - 1)]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

test('a query refused with NO_NODES_AVAILABLE is retried until the cluster schedules it', async () => {
  statements = 0;
  answers = [
    failed('NO_NODES_AVAILABLE', 'No nodes available to run query'),
    failed('NO_NODES_AVAILABLE', 'No nodes available to run query'),
    finished,
  ];
  const r = await trinoQuery(url, 'SELECT 42 AS n');
  assert.deepEqual(r.rows, [{ n: 42 }]);
  assert.equal(statements, 3);
});

test('any other error is thrown at once, with Trino’s error name', async () => {
  statements = 0;
  answers = [failed('SYNTAX_ERROR', "line 1:1: mismatched input 'SELEC'"), finished];
  await assert.rejects(
    trinoQuery(url, 'SELEC 1'),
    (e: unknown) => e instanceof TrinoError && e.code === 'SYNTAX_ERROR',
  );
  assert.equal(statements, 1);
});

test('the retry is bounded: past schedulableWithinMs the scheduling error is thrown', async () => {
  statements = 0;
  answers = [failed('NO_NODES_AVAILABLE', 'No nodes available to run query')];
  await assert.rejects(
    trinoQuery(url, 'SELECT 1', { schedulableWithinMs: 2000 }),
    (e: unknown) => e instanceof TrinoError && e.code === 'NO_NODES_AVAILABLE',
  );
  // 0, 250, 750 and 1750 ms: retried, then given up (fewer attempts only if each took seconds)
  assert.ok(statements >= 2 && statements <= 5, `attempts within 2 s: ${statements}`);
});
