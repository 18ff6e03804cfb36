/**
 * exitWithParent against real processes: a launcher spawns a service the way `npm start` and the security Platform do
 * (through tsx, in a session of its own, stdin a pipe), then dies by SIGKILL; the service must be gone soon after.
 * The control run (no variable) shows that without it the service outlives its launcher, so the check can fail.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EXIT_WITH_PARENT_ENV, exitWithParent, exitWithParentSpawn } from './parent.ts';
import { processAlive, waitUntil } from './process-wait.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const BUN = join(ROOT, 'node_modules', '.bin', 'bun');
const PARENT_MODULE = fileURLToPath(new URL('./parent.ts', import.meta.url));

const alive = processAlive;
const until = (what: string, cond: () => boolean, timeoutMs: number) => waitUntil(what, cond, timeoutMs, 50);

/**
 * Starts a launcher that starts a service (through tsx as the Node services run, or Bun as the edge runs; setsid;
 * stdin a pipe when `watch`), waits until the service runs, SIGKILLs the launcher, and returns the service's pid (the
 * process running the service's code, which writes it to a file).
 */
async function killLauncher(watch: boolean, runtime: 'tsx' | 'bun' = 'tsx'): Promise<{ pid: number; stopped: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'pep-parent-'));
  try {
    const pidFile = join(dir, 'pid');
    const serviceFile = join(dir, 'service.ts');
    const stopFile = join(dir, 'stopped');
    // The service: its SIGTERM handler is its graceful shutdown (records it), then it stays busy forever.
    const service = `
      import { writeFileSync } from 'node:fs';
      import { exitWithParent } from ${JSON.stringify(PARENT_MODULE)};
      process.on('SIGTERM', () => { writeFileSync(${JSON.stringify(stopFile)}, 'SIGTERM'); process.exit(0); });
      exitWithParent();
      writeFileSync(${JSON.stringify(pidFile)}, String(process.pid));
      setInterval(() => undefined, 1000);`;
    writeFileSync(serviceFile, service);
    // The launcher, one Node process (the one that dies), with the real spawn options.
    const launcher = `
      import { spawn } from 'node:child_process';
      import { exitWithParentSpawn } from ${JSON.stringify(PARENT_MODULE)};
      const o = ${watch} ? exitWithParentSpawn(process.env) : { stdin: 'ignore', env: process.env };
      spawn(${JSON.stringify(runtime === 'tsx' ? TSX : BUN)}, [${JSON.stringify(serviceFile)}], {
        stdio: [o.stdin, 'ignore', 'inherit'], env: o.env, detached: true, cwd: ${JSON.stringify(ROOT)},
      });
      setInterval(() => undefined, 1000);`;
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', launcher], {
      stdio: ['ignore', 'ignore', 'inherit'],
      cwd: ROOT,
    });
    await until(
      'the service to start',
      () => {
        try {
          return Number(readFileSync(pidFile, 'utf8')) > 0;
        } catch {
          return false;
        }
      },
      30_000,
    );
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(alive(pid));
    parent.kill('SIGKILL');
    await new Promise((r) => parent.once('exit', r));
    if (watch) await until('the service to exit after its launcher', () => !alive(pid), 10_000);
    else await new Promise((r) => setTimeout(r, 1500));
    let stopped = '';
    try {
      stopped = readFileSync(stopFile, 'utf8');
    } catch {}
    return { pid, stopped };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a service in its own session stops gracefully when its launcher is SIGKILLed', async () => {
  const { pid, stopped } = await killLauncher(true);
  assert.equal(alive(pid), false);
  assert.equal(stopped, 'SIGTERM', 'it ran its own SIGTERM shutdown');
});

test('the same under Bun (the edge): it stops when its launcher is SIGKILLed', async () => {
  const { pid, stopped } = await killLauncher(true, 'bun');
  assert.equal(alive(pid), false);
  assert.equal(stopped, 'SIGTERM', 'it ran its own SIGTERM shutdown');
});

test('control: without the variable the same service outlives its SIGKILLed launcher', async () => {
  const { pid } = await killLauncher(false);
  try {
    assert.equal(alive(pid), true, 'orphaned, still running');
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

test('nothing is watched without the variable; the spawn options set it and a pipe', () => {
  assert.equal(exitWithParent({ env: {} }), false);
  const o = exitWithParentSpawn({ A: '1' });
  assert.deepEqual(o, { stdin: 'pipe', env: { A: '1', [EXIT_WITH_PARENT_ENV]: 'stdin' } });
});
