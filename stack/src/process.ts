/**
 * Managed background processes: start detached with output to a log file, remember the pid in a pid file so that
 * `stack:down` stops only what the stack started, and stop with a signal, a bounded grace period, SIGKILL, and a
 * bounded wait until the process is gone from the process table.
 *
 * A pid file names a process, not the service: the process may have exited (and, on this machine, pid 1 reaps an
 * orphan only every ~2 s, so for a while it is a zombie that `kill(pid, 0)` still finds), or its pid may belong to
 * another program by now (pid_max is 32768 here and pids wrap within hours). So the stack also records the process's
 * start time (`<service>.start`, clock ticks since boot from /proc/<pid>/stat) and trusts a pid file only while that
 * pid still runs with that start time; anything else is a stale pid file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logFile, pidFile, startFile } from './paths.ts';

export interface StartOptions {
  readonly service: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Run as this OS user (PostgreSQL refuses to run as root). */
  readonly user?: { uid: number; gid: number };
}

export function startDetached(opts: StartOptions): number {
  const log = logFile(opts.service);
  mkdirSync(dirname(log), { recursive: true });
  mkdirSync(dirname(pidFile(opts.service)), { recursive: true });
  const fd = openSync(log, 'a');
  const child = spawn(opts.command, opts.args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: ['ignore', fd, fd],
    ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
  });
  if (child.pid === undefined) throw new Error(`could not start ${opts.service}: ${opts.command}`);
  child.unref();
  // The start time first: a reader that finds the new pid finds the start time that goes with it. (This process is
  // the child's parent and has not reaped it yet, so its /proc entry is there even if it already exited.)
  const started = procStat(child.pid)?.startTicks;
  if (started === undefined) rmSync(startFile(opts.service), { force: true });
  else writeFileSync(startFile(opts.service), `${started}\n`);
  writeFileSync(pidFile(opts.service), `${child.pid}\n`);
  return child.pid;
}

interface ProcStat {
  /** R, S, D, ... ; Z (zombie) and X (dead) once it has exited. */
  readonly state: string;
  readonly ppid: number;
  readonly pgrp: number;
  /** Start time in clock ticks since boot: with the pid, it identifies one process over the machine's uptime. */
  readonly startTicks: number;
}

/** /proc/<pid>/stat, or undefined when there is no such process (or no /proc). */
function procStat(pid: number): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..." where comm may contain spaces and parentheses: split after the last ')'.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0] ?? '?', ppid: Number(f[1]), pgrp: Number(f[2]), startTicks: Number(f[19]) };
}

const exitedState = (s: ProcStat) => s.state === 'Z' || s.state === 'X';

/** What `kill(pid, 0)` says (what other programs' pid-file checks use): true for a zombie too. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True while the process runs: not for a zombie (exited, not yet reaped), which only holds its pid. */
export function isAlive(pid: number): boolean {
  if (!processExists(pid)) return false;
  const stat = procStat(pid);
  return stat !== undefined && !exitedState(stat);
}

/**
 * What a recorded process is now: `running`; `exited` (a zombie: gone but for its pid, until its parent reaps it);
 * `gone`; or `other` when the pid runs a different process than the one recorded (its start time differs).
 */
export type ProcessState = 'running' | 'exited' | 'gone' | 'other';

export function processState(pid: number, startTicks?: number): ProcessState {
  const stat = procStat(pid);
  if (stat === undefined) return processExists(pid) ? 'running' : 'gone';
  if (exitedState(stat)) return 'exited';
  if (Number.isInteger(startTicks) && stat.startTicks !== startTicks) return 'other';
  return 'running';
}

/** The start time `processState` compares against, for a record such as a lock file; undefined when not running. */
export function processStartTicks(pid: number): number | undefined {
  const stat = procStat(pid);
  return stat === undefined || exitedState(stat) ? undefined : stat.startTicks;
}

export interface RecordedProcess {
  readonly pid: number;
  readonly state: ProcessState;
}

/** The process a service's pid file names and what it is now; undefined without a (valid) pid file. */
export function recordedProcess(service: string): RecordedProcess | undefined {
  const pid = readPid(pidFile(service));
  if (pid === undefined) return undefined;
  let startTicks: number | undefined;
  try {
    const ticks = Number(readFileSync(startFile(service), 'utf8').trim());
    if (Number.isInteger(ticks) && ticks >= 0) startTicks = ticks;
  } catch {
    // a pid file written before start times were recorded: the pid alone, as before
  }
  return { pid, state: processState(pid, startTicks) };
}

/** The pid the stack recorded for a service, if that very process still runs. */
export function managedPid(service: string): number | undefined {
  const recorded = recordedProcess(service);
  return recorded?.state === 'running' ? recorded.pid : undefined;
}

export function forgetPid(service: string): void {
  rmSync(pidFile(service), { force: true });
  rmSync(startFile(service), { force: true });
}

/** The first line of a pid file as a pid; undefined when the file is missing or holds no valid pid. */
export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim().split(/\s+/)[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * For a pid file a server program keeps itself and refuses to start over (Trino's launcher says "already running as
 * <pid>" whenever `kill(pid, 0)` succeeds): removes it when it is stale, that is when its process is gone, has exited
 * (a zombie), or is not the service (`isService` says no: the pid was reused). Throws when the service itself still
 * runs there. Returns what was removed.
 */
export function clearStalePidFile(
  file: string,
  what: string,
  isService: (pid: number) => boolean,
): { pid?: number; state: Exclude<ProcessState, 'running'> | 'invalid' } | undefined {
  if (!existsSync(file)) return undefined;
  const pid = readPid(file);
  let state: Exclude<ProcessState, 'running'> | 'invalid';
  if (pid === undefined) state = 'invalid';
  else {
    const now = processState(pid);
    if (now === 'running' && isService(pid)) {
      throw new Error(
        `${what} is already running as process ${pid} (${file}) without the stack's pid file for it: ` +
          `stop it (kill ${pid}) and start again`,
      );
    }
    state = now === 'running' ? 'other' : now;
  }
  rmSync(file, { force: true });
  return pid === undefined ? { state } : { pid, state };
}

/** The arguments of a running process, argv[0] first (empty when unreadable, or for a zombie). */
export function commandArgs(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/**
 * What is left of the process `pid` started (the leader of process group `pid`, and the members of that group, such
 * as PostgreSQL's backends or gunicorn's workers): processes that still run, and exited ones not yet reaped.
 * `leaderTicks` is the leader's start time, which tells it from a stranger that got its pid since.
 */
function leftOf(pid: number, leaderTicks: number | undefined): { running: number[]; exited: number[] } {
  const running: number[] = [];
  const exited: number[] = [];
  const add = (p: number, stat: ProcStat | undefined) => {
    if (stat === undefined) {
      if (processExists(p)) running.push(p);
    } else (exitedState(stat) ? exited : running).push(p);
  };
  const leader = procStat(pid);
  // The kernel hands a pid out again only once no process has it as its pid or process group: a stranger at `pid`
  // means that the leader and its whole group are gone (and `-pid` would now be the stranger's group, if anyone's).
  if (leader !== undefined && leaderTicks !== undefined && leader.startTicks !== leaderTicks)
    return { running, exited };
  add(pid, leader);
  // While the leader runs, that is enough to know; otherwise look for members of its group (kill(-pgid, 0) first:
  // a cheap "anyone left?", true for zombies too; the kernel keeps a pid from reuse while it names a live group).
  if (running.length > 0 || !processExists(-pid)) return { running, exited };
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return { running: [...running, -pid], exited };
  }
  for (const name of names) {
    const p = Number(name);
    if (!Number.isInteger(p) || p === pid) continue;
    const stat = procStat(p);
    if (stat?.pgrp === pid) add(p, stat);
  }
  return { running, exited };
}

async function waitUntil(done: () => boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

function signalQuietly(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // already gone (ESRCH)
  }
}

export interface StopOptions {
  /** Signal for a clean stop (PostgreSQL wants SIGINT for a fast shutdown). */
  readonly signal?: NodeJS.Signals;
  /** How long a clean stop may take before the process group gets SIGKILL. */
  readonly graceMs?: number;
  /** How long the processes may take to disappear after SIGKILL. */
  readonly killWaitMs?: number;
  /** How long an exited process may stay a zombie, waiting for its parent (often pid 1) to reap it. */
  readonly reapWaitMs?: number;
  /** Names the process in errors, e.g. the service. */
  readonly what?: string;
}

/**
 * Stops the process `pid` (a group leader, as `startDetached` makes it) and returns once it and its process group are
 * gone from the process table, so that whatever starts next finds its pid free and its ports and locks released:
 * `signal` to the leader, up to `graceMs` for the group to exit, then SIGKILL to the group and up to `killWaitMs`,
 * then up to `reapWaitMs` for the exited processes to be reaped. Throws, naming the pids, if any step runs out.
 */
export async function stopProcess(
  pid: number,
  { signal = 'SIGTERM', graceMs = 30_000, killWaitMs = 10_000, reapWaitMs = 10_000, what }: StopOptions = {},
): Promise<void> {
  const name = what ?? `process ${pid}`;
  const leaderTicks = procStat(pid)?.startTicks;
  // A leader that already exited cannot pass the signal on: then the group's members get it directly.
  signalQuietly(isAlive(pid) ? pid : -pid, signal);
  const stopped = () => leftOf(pid, leaderTicks).running.length === 0;
  if (!(await waitUntil(stopped, graceMs))) {
    signalQuietly(-pid, 'SIGKILL');
    if (leftOf(pid, leaderTicks).running.includes(pid)) signalQuietly(pid, 'SIGKILL');
    if (!(await waitUntil(stopped, killWaitMs))) {
      const { running } = leftOf(pid, leaderTicks);
      throw new Error(
        `${name}: still running ${seconds(killWaitMs)} after SIGKILL (which followed ${signal} by ` +
          `${seconds(graceMs)}): pid ${running.join(', ')}`,
      );
    }
  }
  if (!(await waitUntil(() => leftOf(pid, leaderTicks).exited.length === 0, reapWaitMs))) {
    const { exited } = leftOf(pid, leaderTicks);
    const parents = [...new Set(exited.map((p) => procStat(p)?.ppid).filter((p) => p !== undefined))];
    throw new Error(
      `${name}: exited, but pid ${exited.join(', ')} still not reaped by its parent (pid ${parents.join(', ')}) ` +
        `after ${seconds(reapWaitMs)}; a program that checks its pid file with kill(pid, 0) would think it still runs`,
    );
  }
}

/** Waits (bounded) until an exited process is reaped; false if it is still there after `timeoutMs`. */
export function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  return waitUntil(() => !processExists(pid), timeoutMs);
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a command to completion; throws with its output tail on failure. */
export function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; what: string; timeoutMs?: number; input?: string },
): string {
  const res = spawnSync(command, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: opts.timeoutMs ?? 15 * 60_000,
    input: opts.input,
  });
  if (res.error) throw new Error(`${opts.what}: could not run ${command}: ${res.error.message}`);
  if (res.status !== 0) {
    const out = `${res.stdout ?? ''}\n${res.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    throw new Error(`${opts.what} failed (exit ${res.status}):\n${out}`);
  }
  return res.stdout;
}

/**
 * `run` without blocking the event loop: for long set-up steps (Superset's `db upgrade`) that run while other
 * services start in parallel. Throws with the output tail on failure or timeout.
 */
export function runAsync(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; what: string; timeoutMs?: number },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const keep = (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (out.length > 1024 * 1024) out = out.slice(-512 * 1024);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 15 * 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${opts.what}: could not run ${command}: ${err.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(out);
      const tail = out.trim().split('\n').slice(-25).join('\n');
      reject(new Error(`${opts.what} failed (${signal ? `signal ${signal}` : `exit ${code}`}):\n${tail}`));
    });
  });
}
