/**
 * The edge on Bun's native sockets against the local stack's SASL_SSL listener (TLS with the stack's CA, SCRAM-SHA-512):
 * an accepted webhook is on its topic (read back over PLAINTEXT by kafkajs), and a wrong password or an untrusted CA
 * stops the edge at start-up with exit status 2 and a message that names the cause, never a hang and never the
 * password. Needs `npm run stack:up` (it makes the CA, the broker certificate and the SCRAM user).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TOPICS } from '@pep/contracts';
import { ensureLocalTls, localSaslSslEnv } from '@pep/stack';
import {
  BUN,
  EDGE_DIR,
  freePort,
  markTopics,
  readSince,
  spawnEdge,
  stripeEvent,
  stripeRequest,
  waitForKafka,
} from './helpers.ts';

const saslEnv = (extra: Record<string, string> = {}) => localSaslSslEnv('SCRAM-SHA-512', extra);

/** Runs the edge (Bun) until it exits; resolves with its exit code and output. Fails the test after 20 s. */
async function runEdgeToExit(env: Record<string, string>): Promise<{ code: number | null; out: string; ms: number }> {
  const port = await freePort();
  const started = Date.now();
  const proc = spawn(BUN, ['src/main.ts'], {
    cwd: EDGE_DIR,
    env: { ...process.env, NODE_ENV: 'development', EDGE_PORT: String(port), EDGE_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => {
    out += d;
  });
  proc.stderr.on('data', (d) => {
    out += d;
  });
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the edge did not stop within 20 s:\n${out}`));
    }, 20_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, ms: Date.now() - started });
    });
  });
}

describe('edge over SASL_SSL (Bun sockets, TLS + SCRAM-SHA-512)', () => {
  test('an accepted webhook is on its topic', async () => {
    await waitForKafka();
    const edge = await spawnEdge(saslEnv());
    try {
      const id = `evt_tls_${Date.now()}`;
      const marks = await markTopics([TOPICS['stripe.payment_intent']]);
      const body = stripeEvent(id);
      const res = await fetch(`${edge.url}/webhooks/stripe`, stripeRequest(body));
      assert.equal(res.status, 200, await res.text());
      const msgs = await readSince(marks, (m) => m.some((x) => x.value.toString() === body));
      assert.ok(
        msgs.some((x) => x.value.toString() === body),
        'the event is on webhooks.stripe.payment_intent',
      );
    } finally {
      assert.equal(await edge.stop(), 0, edge.output());
    }
  });

  test('a wrong password stops the edge with status 2 and says why', async () => {
    const { code, out, ms } = await runEdgeToExit(saslEnv({ KAFKA_SASL_PASSWORD: 'definitely-wrong' }));
    assert.equal(code, 2, out);
    assert.match(out, /refused SASL SCRAM-SHA-512 authentication of user 'pep'/);
    assert.doesNotMatch(out, /definitely-wrong/);
    assert.ok(ms < 15_000, `stopped after ${ms} ms`);
  });

  test('a CA that did not sign the broker certificate stops the edge with status 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edge-other-ca-'));
    try {
      const other = ensureLocalTls(dir);
      const { code, out } = await runEdgeToExit(saslEnv({ KAFKA_SSL_CA_FILE: other.ca }));
      assert.equal(code, 2, out);
      assert.match(out, /does not trust|KAFKA_SSL_CA_FILE/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
