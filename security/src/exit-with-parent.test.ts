/**
 * The payment lane runs in sessions of its own (setsid, issue 13), so no terminal signal reaches it: when `npm start`
 * or the security Platform was SIGKILLed, the inference service, the payment worker and the payments bridge were left
 * running. They now watch an inherited stdin pipe (@pep/contracts/parent). This test launches the real inference
 * service as the launchers do (through tsx, setsid, exitWithParentSpawn), SIGKILLs the launcher, and waits for the
 * service to stop on its own; a control launch without the watch shows it otherwise stays up.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitUntil } from '@pep/contracts/process-wait';
import { REPO_ROOT } from '@pep/stack/paths';
import { freePort } from '@pep/stack/ports';

const TSX = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const PARENT_MODULE = join(REPO_ROOT, 'contracts', 'src', 'parent.ts');

const healthy = (port: number) =>
  fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );

const until = waitUntil;

/** Launches the inference service from a launcher process, SIGKILLs the launcher; returns the port and the log. */
async function launchAndKill(watch: boolean, dir: string) {
  const port = await freePort();
  const log = join(dir, `inference-${watch}.log`);
  const launcher = `
    import { openSync, writeFileSync } from 'node:fs';
    import { spawn } from 'node:child_process';
    import { exitWithParentSpawn } from ${JSON.stringify(PARENT_MODULE)};
    const env = { ...process.env, INFERENCE_PORT: '${port}', MLFLOW_TRACKING_URI: 'http://127.0.0.1:9' };
    const o = ${watch} ? exitWithParentSpawn(env) : { stdin: 'ignore', env };
    const fd = openSync(${JSON.stringify(log)}, 'a');
    const child = spawn(${JSON.stringify(TSX)}, ['ml/src/server.ts'], {
      cwd: ${JSON.stringify(REPO_ROOT)}, stdio: [o.stdin, fd, fd], env: o.env, detached: true,
    });
    writeFileSync(${JSON.stringify(join(dir, `pid-${watch}`))}, String(child.pid));
    setInterval(() => undefined, 1000);`;
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', launcher], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await until('the inference service to answer /health', () => healthy(port), 60_000);
  parent.kill('SIGKILL');
  await new Promise((r) => parent.once('exit', r));
  const pid = Number(readFileSync(join(dir, `pid-${watch}`), 'utf8'));
  return { port, log, pid };
}

test('the inference service (payment lane, own session) stops when its launcher is SIGKILLed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-exit-with-parent-'));
  try {
    const { port, log } = await launchAndKill(true, dir);
    await until('the service to stop after its launcher died', async () => !(await healthy(port)), 40_000);
    assert.match(readFileSync(log, 'utf8'), /launcher gone: stopping inference service/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('control: launched without the watch, the service outlives its SIGKILLed launcher', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pep-exit-with-parent-'));
  let pid = 0;
  try {
    const r = await launchAndKill(false, dir);
    pid = r.pid;
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(await healthy(r.port), true, 'still answering: orphaned');
  } finally {
    // tsx relays SIGTERM to the service it runs.
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
