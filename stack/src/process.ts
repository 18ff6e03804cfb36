/**
 * Managed background processes: start detached with output to a log file, remember the pid in a pid file so that
 * `stack:down` stops only what the stack started, and stop with a signal plus a bounded wait.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logFile, pidFile } from './paths.ts';

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
  writeFileSync(pidFile(opts.service), `${child.pid}\n`);
  return child.pid;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) still answers kill(0); treat it as dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The pid the stack recorded for a service, if that process still runs. */
export function managedPid(service: string): number | undefined {
  const file = pidFile(service);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
  return undefined;
}

export function forgetPid(service: string): void {
  rmSync(pidFile(service), { force: true });
}

/** Sends `signal`, waits up to `timeoutMs` for exit, then SIGKILLs the process group. */
export async function stopProcess(
  pid: number,
  { signal = 'SIGTERM', timeoutMs = 30_000 }: { signal?: NodeJS.Signals; timeoutMs?: number } = {},
): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await sleep(100);
  }
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
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
