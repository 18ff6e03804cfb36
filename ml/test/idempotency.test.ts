/**
 * Idempotent per event_id across a crash: a processor killed with SIGKILL in the middle of its batches and then
 * fed every event again (the worst redelivery: nothing was committed to Kafka) leaves Redis exactly as one clean
 * run does: the same Feast rows byte for byte and the same aggregate states. A redelivery inside a batch counts once.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { entityIds, eventKind } from '../src/features/aggregate.ts';
import { simulatedEvents } from '../src/sim/events.ts';
import { freshRedis, parse, processorFor, testConfig } from './helpers.ts';

const killed = testConfig(10, 'killed');
const clean = testConfig(11, 'clean');
let rk: Redis;
let rc: Redis;
before(async () => {
  rk = await freshRedis(killed);
  rc = await freshRedis(clean);
});
after(() => {
  rk.disconnect();
  rc.disconnect();
});

/** Events that change some feature (refunds and the like are ignored, so they are never duplicates). */
const applicable = (raw: string[]) =>
  parse(raw).filter((e) => eventKind(e) !== 'none' && Object.values(entityIds(e)).some((id) => id !== null));

function runChild(cfg: typeof killed, file: string, killAfter: number | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(import.meta.dirname, 'fixtures', 'apply-child.ts'),
        cfg.redisUrl,
        file,
        cfg.offlineDir,
        '40',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (killAfter !== null && (out.match(/committed/g) ?? []).length >= killAfter) child.kill('SIGKILL');
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(`${out}exit ${code ?? signal}`));
  });
}

async function dump(r: Redis): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await r.scanBuffer(cursor, 'COUNT', 1000);
    cursor = String(next);
    for (const k of keys) {
      const key = k.toString('latin1');
      if (key.startsWith('pep:features:seen:')) continue;
      const h = await r.hgetallBuffer(k);
      const fields = Object.entries(h)
        .filter(([f]) => f !== 'v')
        .map(([f, v]) => `${Buffer.from(f, 'latin1').toString('hex')}=${v.toString('hex')}`)
        .sort();
      out.set(key, fields.join(','));
    }
  } while (cursor !== '0');
  return out;
}

test('a SIGKILL mid-stream and a full redelivery count every event exactly once', async () => {
  const events = applicable(
    await simulatedEvents({ seed: 21, count: 2000, startMs: Date.UTC(2026, 3, 1), stepMs: 15_000, customers: 80 }),
  );
  const file = join(killed.stateDir, 'events.json');
  writeFileSync(file, JSON.stringify(events));
  const first = await runChild(killed, file, 12);
  assert.match(first, /exit SIGKILL/);
  const second = await runChild(killed, file, null);
  const dup = Number(/done duplicates (\d+)/.exec(second)?.[1]);
  assert.ok(dup >= 12 * 40 - 40, `the redelivery recognised only ${dup} applied events`);

  const ref = processorFor(rc, clean);
  for (let i = 0; i < events.length; i += 100) await ref.applyBatch(events.slice(i, i + 100));
  const a = await dump(rk);
  const b = await dump(rc);
  assert.ok(b.size > 100, `only ${b.size} keys written`);
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  for (const [k, v] of b) assert.equal(a.get(k), v, `key ${JSON.stringify(k)} differs`);
});

test('an event delivered twice in one batch, or again later, counts once', async () => {
  const r = await freshRedis(clean);
  const events = applicable(
    await simulatedEvents({ seed: 22, count: 300, startMs: Date.UTC(2026, 3, 1), stepMs: 15_000, customers: 20 }),
  );
  const p = processorFor(r, clean, false);
  const s1 = await p.applyBatch([...events.slice(0, 100), ...events.slice(0, 10)]);
  assert.equal(s1.duplicates, 10);
  p.clearCache();
  const s2 = await p.applyBatch(events.slice(50, 150));
  assert.equal(s2.duplicates, 50);
  assert.equal(s2.applied, 50);
  r.disconnect();
});
