/**
 * The automated trainer `npm start` runs (auto.ts) stops with its launcher (issue 13): `npm start` gives it a stdin
 * pipe and PEP_EXIT_WITH_PARENT=stdin (@pep/contracts/parent). The real trainer is launched through tsx the way
 * `npm start` does, with MLflow unreachable (it waits it out, checking again every second), the launcher is
 * SIGKILLed, and the trainer must stop on its own and say why; a control launch without the watch stays up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { processAlive, waitUntil } from '@pep/contracts/process-wait';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const PARENT_MODULE = join(REPO_ROOT, 'contracts', 'src', 'parent.ts');

const alive = processAlive;
const until = waitUntil;

/** Launches the trainer from a launcher process, waits until it runs its checks, SIGKILLs the launcher. */
async function launchAndKill(watch: boolean, dir: string): Promise<{ pid: number; log: string }> {
  const log = join(dir, `trainer-${watch}.log`);
  const pidFile = join(dir, `pid-${watch}`);
  const launcher = `
    import { openSync, writeFileSync } from 'node:fs';
    import { spawn } from 'node:child_process';
    import { exitWithParentSpawn } from ${JSON.stringify(PARENT_MODULE)};
    const env = { ...process.env, MLFLOW_TRACKING_URI: 'http://127.0.0.1:9', ML_AUTO_TRAIN_CHECK_S: '1' };
    const o = ${watch} ? exitWithParentSpawn(env) : { stdin: 'ignore', env };
    const fd = openSync(${JSON.stringify(log)}, 'a');
    const child = spawn(${JSON.stringify(TSX)}, ['ml/src/train/auto.ts'], {
      cwd: ${JSON.stringify(REPO_ROOT)}, stdio: [o.stdin, fd, fd], env: o.env, detached: true,
    });
    writeFileSync(${JSON.stringify(pidFile)}, String(child.pid));
    setInterval(() => undefined, 1000);`;
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', launcher], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // Running: it has tried MLflow at least once (unreachable here, so it keeps checking).
  await until(
    'the trainer to check MLflow',
    () => existsSync(log) && readFileSync(log, 'utf8').includes('MLflow unavailable'),
    60_000,
  );
  parent.kill('SIGKILL');
  await new Promise((r) => parent.once('exit', r));
  return { pid: Number(readFileSync(pidFile, 'utf8')), log };
}

test('the automated trainer stops when its launcher is SIGKILLed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-trainer-exit-'));
  let pid = 0;
  try {
    const r = await launchAndKill(true, dir);
    pid = r.pid;
    await until('the trainer to stop after its launcher died', () => !alive(pid), 40_000);
    assert.match(readFileSync(r.log, 'utf8'), /launcher gone: stopping trainer/);
  } finally {
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('control: launched without the watch, the trainer outlives its SIGKILLed launcher', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-trainer-exit-'));
  let pid = 0;
  try {
    const r = await launchAndKill(false, dir);
    pid = r.pid;
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(alive(pid), true, 'still running: orphaned');
  } finally {
    // tsx relays SIGTERM to the trainer it runs, which stops at its next check.
    if (pid > 0 && alive(pid)) process.kill(pid, 'SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
});
