/**
 * The standalone executable (`bun build --compile`) runs from an empty directory with only its configuration in the
 * environment, and acknowledges a webhook only once it is in Kafka. Needs `npm run stack:up`.
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RAW_HEADERS, TOPICS } from '@pep/contracts';
import {
  BUN,
  EDGE_DIR,
  markTopics,
  readSince,
  spawnEdge,
  stripeEvent,
  stripeRequest,
  waitForKafka,
} from './helpers.ts';

let dir: string;
let exe: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pep-edge-exe-'));
  exe = join(dir, 'pep-edge');
  execFileSync(BUN, ['build', '--compile', 'src/main.ts', '--outfile', join(dir, 'build', 'pep-edge')], {
    cwd: EDGE_DIR,
    stdio: 'pipe',
  });
  copyFileSync(join(dir, 'build', 'pep-edge'), exe);
  rmSync(join(dir, 'build'), { recursive: true });
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the compiled edge refuses production with default secrets (exit 2, no secret in the message)', () => {
  const r = spawnSync(exe, [], {
    cwd: dir,
    env: { PATH: '/usr/bin:/bin', NODE_ENV: 'production' },
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /STRIPE_WEBHOOK_SECRET/);
  assert.ok(!r.stderr.includes('whsec_test_secret_for_dev'));
});

test('the compiled edge acknowledges a webhook that is in Kafka, and stops cleanly on SIGTERM', async () => {
  await waitForKafka();
  const marks = await markTopics([TOPICS['stripe.payment_intent']]);
  const edge = await spawnEdge({}, { executable: exe });
  const id = `evt_exe${randomUUID().slice(0, 8)}`;
  const res = await fetch(`${edge.url}/webhooks/stripe`, stripeRequest(stripeEvent(id)));
  assert.equal(res.status, 200);
  const msgs = await readSince(marks, (m) => m.some((x) => x.headers[RAW_HEADERS.eventId] === id));
  assert.ok(msgs.some((x) => x.headers[RAW_HEADERS.eventId] === id));
  assert.equal(await edge.stop(), 0, edge.output());
});
