/**
 * The run lock of a DuckDB database (lock.ts): a second run waits for the first and then runs; a run that waits past
 * DBT_LOCK_WAIT_MS gives up with RunLockTimeout (exit 75 in runDbt) and leaves the holder's lock alone; a failing run
 * releases the lock; a lock left by a crashed run is taken over once stale.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { lockWaitMs, RunLockTimeout, withRunLock } from './lock.ts';

const dir = mkdtempSync(join(tmpdir(), 'pep-dbt-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a second run on the same database waits for the first, then runs; the runs never overlap', async () => {
  const db = join(dir, 'a.duckdb');
  const events: string[] = [];
  const logs: string[] = [];
  let firstStarted!: () => void;
  const started = new Promise<void>((r) => (firstStarted = r));
  const run = (name: string, ms: number) =>
    withRunLock(db, { waitMs: 10_000, pollMs: 20, log: (m) => logs.push(m) }, async () => {
      events.push(`${name} start`);
      if (name === 'first') firstStarted();
      await sleep(ms);
      events.push(`${name} end`);
      return name;
    });
  const first = run('first', 300);
  await started;
  const second = run('second', 10);
  assert.deepEqual(await Promise.all([first, second]), ['first', 'second']);
  assert.deepEqual(events, ['first start', 'first end', 'second start', 'second end']);
  assert.ok(
    logs.some((m) => m.includes('another dbt run holds') && m.includes(db)),
    logs.join('\n'),
  );
  assert.ok(!existsSync(`${db}.run.lock`), 'released after the runs');
});

test('waiting past the limit gives up with RunLockTimeout, and the holder keeps its lock', async () => {
  const db = join(dir, 'b.duckdb');
  let release!: () => void;
  let holding!: () => void;
  const held = new Promise<void>((r) => (holding = r));
  const holder = withRunLock(db, { waitMs: 1_000 }, () => {
    holding();
    return new Promise<void>((r) => (release = r));
  });
  await held;
  let ran = false;
  await assert.rejects(
    withRunLock(db, { waitMs: 150, pollMs: 20 }, async () => {
      ran = true;
    }),
    (e: Error) => e instanceof RunLockTimeout && /another dbt run holds .*b\.duckdb.*try again later/.test(e.message),
  );
  assert.equal(ran, false);
  assert.ok(existsSync(`${db}.run.lock`), "the holder's lock is still there");
  release();
  await holder;
  assert.ok(!existsSync(`${db}.run.lock`));
});

test('a run that fails releases the lock', async () => {
  const db = join(dir, 'c.duckdb');
  await assert.rejects(
    withRunLock(db, { waitMs: 100 }, async () => {
      throw new Error('dbt blew up');
    }),
    /dbt blew up/,
  );
  assert.equal(await withRunLock(db, { waitMs: 100 }, async () => 'next'), 'next');
});

test("a crashed run's lock (not refreshed for the stale time) is taken over", async () => {
  const db = join(dir, 'd.duckdb');
  mkdirSync(`${db}.run.lock`);
  const old = new Date(Date.now() - 60_000);
  utimesSync(`${db}.run.lock`, old, old);
  assert.equal(await withRunLock(db, { waitMs: 100, staleMs: 5_000 }, async () => 'ran'), 'ran');
});

test('DBT_LOCK_WAIT_MS: default one hour, a number, or a clear error', () => {
  assert.equal(lockWaitMs({}), 3_600_000);
  assert.equal(lockWaitMs({ DBT_LOCK_WAIT_MS: '0' }), 0);
  assert.throws(() => lockWaitMs({ DBT_LOCK_WAIT_MS: 'soon' }), /DBT_LOCK_WAIT_MS must be a number/);
});
