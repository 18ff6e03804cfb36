/**
 * Stopping and pid files, with real processes (no mocks of the OS). The race this guards against: `stack:down`
 * returned while Trino's JVM had exited but was not yet reaped (here pid 1 reaps orphans every ~2 s), and the
 * `stack:up` right after failed because Trino's launcher saw its old pid still answer kill(pid, 0): "already running
 * as <pid>". So: stop returns only once the process is gone from the process table, escalates to SIGKILL after a
 * bounded grace period, and a pid file whose process is gone, exited, or now another program's counts as stale.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

// Pid files and logs of this file's processes go to a folder of their own, never to the checkout's `.stack/`.
const STATE = mkdtempSync(join(tmpdir(), 'pep-stack-process-'));
process.env.STACK_DIR = STATE;
const { pidFile, startFile } = await import('../src/paths.ts');
const {
  clearStalePidFile,
  forgetPid,
  isAlive,
  managedPid,
  processExists,
  processStartTicks,
  processState,
  recordedProcess,
  startDetached,
  stopProcess,
  waitUntilGone,
} = await import('../src/process.ts');
const { stackDown } = await import('../src/stack.ts');

/** Whatever a failed test leaves running is killed at the end: process groups of the leaders, single processes. */
const leaders: number[] = [];
const started: number[] = [];
after(() => {
  for (const target of [...leaders.map((pid) => -pid), ...started]) {
    try {
      if (processState(Math.abs(target)) === 'running') process.kill(target, 'SIGKILL');
    } catch {}
  }
  rmSync(STATE, { recursive: true, force: true });
});

/** A node program that prints `ready` once its handlers are set, then runs until stopped. */
const program = (body: string) => `${body}; setInterval(() => {}, 1000); console.log('ready');`;
/** Delays its exit by `ms` on SIGTERM (a JVM running its shutdown hooks). */
const slowExit = (ms: number) => program(`process.on('SIGTERM', () => setTimeout(() => process.exit(0), ${ms}))`);
/** Ignores SIGTERM altogether. */
const ignoresTerm = program(`process.on('SIGTERM', () => {})`);

async function waitForText(file: string, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {}
    const m = text.match(pattern);
    if (m) return m;
    if (Date.now() > deadline) throw new Error(`${file}: no ${pattern} after ${timeoutMs} ms:\n${text}`);
    await sleep(50);
  }
}

/**
 * Starts `script` the way a service runs after `stack:up` has exited: its own process group, and its parent gone,
 * so that pid 1 (or the nearest subreaper) reaps it, when it gets round to it. Returns its pid once it is ready.
 */
async function startOrphan(script: string): Promise<{ pid: number; log: string }> {
  const log = join(STATE, `orphan-${started.length}.log`);
  const sh = spawn('sh', ['-c', 'setsid "$0" -e "$1" >"$2" 2>&1 & echo $!', process.execPath, script, log], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  sh.stdout.on('data', (c) => {
    out += c;
  });
  await new Promise((resolve) => sh.once('close', resolve));
  const pid = Number(out.trim());
  assert.ok(pid > 0, `the orphan's pid: ${out}`);
  leaders.push(pid);
  await waitForText(log, /^ready$/m);
  return { pid, log };
}

function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] ?? '?';
  } catch {
    return 'gone';
  }
}

describe('stopProcess', () => {
  test('returns only once a process that takes a while to exit on SIGTERM is gone, reaping included', async () => {
    const { pid } = await startOrphan(slowExit(1500));
    const t0 = Date.now();
    await stopProcess(pid, { graceMs: 20_000 });
    const elapsed = Date.now() - t0;
    // What Trino's launcher and PostgreSQL check before they start: kill(pid, 0). A zombie still answers it.
    assert.equal(processExists(pid), false, `pid ${pid} still answers kill(0) (state ${stateOf(pid)})`);
    assert.ok(elapsed >= 1400, `returned after ${elapsed} ms, before the process could have exited`);
    assert.ok(elapsed < 20_000, `returned after ${elapsed} ms: it took the SIGKILL path`);
  });

  test('sends SIGKILL to the whole group after the grace period, and waits for that too', async () => {
    const member = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(ignoresTerm)}], { stdio: 'inherit' })`;
    const { pid, log } = await startOrphan(program(`process.on('SIGTERM', () => {}); ${member}`));
    await waitForText(log, /ready[\s\S]*ready/);
    const members = groupMembers(pid);
    assert.equal(members.length, 1, `one member besides the leader: ${members}`);
    const t0 = Date.now();
    await stopProcess(pid, { graceMs: 500 });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 500, `SIGKILL before the grace period ended (${elapsed} ms)`);
    assert.ok(elapsed < 15_000, `${elapsed} ms: kill and reap waits are bounded by 10 s each`);
    for (const p of [pid, ...members]) assert.equal(processExists(p), false, `pid ${p} left (state ${stateOf(p)})`);
  });

  test('a leader that exits at once does not leave its group behind', async () => {
    const member = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(ignoresTerm)}], { stdio: 'inherit' })`;
    const { pid, log } = await startOrphan(program(`process.on('SIGTERM', () => process.exit(0)); ${member}`));
    await waitForText(log, /ready[\s\S]*ready/);
    const members = groupMembers(pid);
    assert.equal(members.length, 1);
    await stopProcess(pid, { graceMs: 500 });
    for (const p of [pid, ...members]) assert.equal(processExists(p), false, `pid ${p} left (state ${stateOf(p)})`);
  });

  test('a process that exited but is not reaped: isAlive says no, kill(0) says yes, stop fails naming the parent', async () => {
    // `sleep 0.2` exits; its parent has exec'd `sleep 30`, which never waits for children: a zombie for 30 s.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
    started.push(parent.pid as number);
    const zombie = Number(await firstLine(parent));
    const deadline = Date.now() + 10_000;
    while (stateOf(zombie) !== 'Z' && Date.now() < deadline) await sleep(20);
    assert.equal(stateOf(zombie), 'Z');
    assert.equal(isAlive(zombie), false);
    assert.equal(processExists(zombie), true);
    assert.equal(processState(zombie), 'exited');
    await assert.rejects(
      stopProcess(zombie, { reapWaitMs: 500, what: 'sleeper' }),
      new RegExp(`^Error: sleeper: exited, but pid ${zombie} still not reaped by its parent \\(pid ${parent.pid}\\)`),
    );
    // Once its parent is gone, pid 1 inherits and reaps it.
    await stopProcess(parent.pid as number);
    assert.equal(await waitUntilGone(zombie, 10_000), true);
  });
});

describe('pid files', () => {
  test('name the process the stack started: gone, or a pid now someone else has, is stale', async () => {
    const pid = startDetached({ service: 'race-a', command: process.execPath, args: ['-e', ignoresTerm] });
    leaders.push(pid);
    await waitForText(join(STATE, 'logs', 'race-a.log'), /^ready$/m);
    assert.equal(managedPid('race-a'), pid);
    assert.deepEqual(recordedProcess('race-a'), { pid, state: 'running' });
    assert.equal(Number(readFileSync(startFile('race-a'), 'utf8')), processStartTicks(pid));
    // The same pid with another start time: what a reused pid looks like.
    writeFileSync(startFile('race-a'), `${(processStartTicks(pid) as number) + 1}\n`);
    assert.deepEqual(recordedProcess('race-a'), { pid, state: 'other' });
    assert.equal(managedPid('race-a'), undefined);
    // A pid file from before start times were recorded: the pid alone decides, as it did.
    rmSync(startFile('race-a'));
    assert.equal(managedPid('race-a'), pid);
    await stopProcess(pid, { graceMs: 200 });
    assert.deepEqual(recordedProcess('race-a'), { pid, state: 'gone' });
    assert.equal(managedPid('race-a'), undefined);
    forgetPid('race-a');
    assert.equal(recordedProcess('race-a'), undefined);
  });

  test('stack:down leaves a process alone whose pid the pid file names but which the stack did not start', async () => {
    const stranger = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = stranger.pid as number;
    started.push(pid);
    mkdirSync(join(STATE, 'pids'), { recursive: true });
    writeFileSync(pidFile('trino'), `${pid}\n`);
    writeFileSync(startFile('trino'), `${(processStartTicks(pid) as number) - 1}\n`);
    await stackDown({ only: ['trino'] });
    assert.equal(isAlive(pid), true, 'the stranger was signalled');
    assert.equal(recordedProcess('trino'), undefined, 'the stale pid file is gone');
    stranger.kill('SIGKILL');
  });

  test("a program's own pid file (Trino's launcher.pid) is cleared when stale, and refused when its server runs", async () => {
    const file = join(STATE, 'launcher.pid');
    const gone = spawn('true');
    await new Promise((resolve) => gone.once('close', resolve));
    writeFileSync(file, `${gone.pid}\n`);
    assert.deepEqual(
      clearStalePidFile(file, 'Trino', () => true),
      { pid: gone.pid, state: 'gone' },
    );
    writeFileSync(file, `${process.pid}\n`);
    assert.deepEqual(
      clearStalePidFile(file, 'Trino', () => false),
      { pid: process.pid, state: 'other' },
    );
    writeFileSync(file, 'garbage\n');
    assert.deepEqual(
      clearStalePidFile(file, 'Trino', () => true),
      { state: 'invalid' },
    );
    writeFileSync(file, `${process.pid}\n`);
    assert.throws(
      () => clearStalePidFile(file, 'Trino', () => true),
      new RegExp(`^Error: Trino is already running as process ${process.pid} \\(${file}\\)`),
    );
    assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`, 'kept while its server runs');
    assert.equal(
      clearStalePidFile(join(STATE, 'none.pid'), 'Trino', () => true),
      undefined,
    );
  });
});

function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const p = Number(name);
    if (!Number.isInteger(p) || p === pgid) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) === pgid) out.push(p);
    } catch {}
  }
  return out;
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c) => {
      out += c;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('error', reject);
    child.once('close', () => reject(new Error(`no line: ${out}`)));
  });
}
