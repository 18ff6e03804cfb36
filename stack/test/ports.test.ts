/** freePort: ports for servers started later lie below the kernel's ephemeral range, free, and distinct. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { ephemeralLow, freePort } from '../src/ports.ts';

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

test('the ports lie below the ephemeral range, differ within one taken set, and can be listened on', async () => {
  const low = ephemeralLow();
  assert.ok(low > 2048 && low < 65536, `ephemeral range starts at ${low}`);
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < 40; i++) ports.push(await freePort(taken));
  assert.equal(new Set(ports).size, ports.length, 'no port twice');
  assert.deepEqual([...taken].sort(), [...ports].sort(), 'every port joins the taken set');
  for (const p of ports) assert.ok(p >= 1025 && p < low, `${p} lies below ${low}`);
  const servers = await Promise.all(ports.map(listen));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

test('a port something listens on is not given out', async () => {
  const low = ephemeralLow();
  const from = Math.max(1025, low - 12_000);
  // occupy every port of the range but one, then ask: only the free one can come back
  const occupied: Server[] = [];
  const free = from + 7;
  try {
    for (let p = from; p < from + 16; p++) {
      if (p === free) continue;
      occupied.push(await listen(p).catch(() => createServer()));
    }
    const taken = new Set<number>();
    for (let p = from + 16; p < low; p++) taken.add(p);
    assert.equal(await freePort(taken), free);
    await assert.rejects(freePort(taken), /no free port found/);
  } finally {
    await Promise.all(occupied.map((s) => new Promise((r) => (s.listening ? s.close(r) : r(undefined)))));
  }
});
