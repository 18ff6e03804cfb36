/**
 * Shared setup of the orchestration integration tests: the real Temporal dev server and PostgreSQL of the local
 * stack, orchestration workers as child processes (so a test can SIGKILL one) on a task queue of their own, the CLIs
 * run as a user runs them, and days of their own per run (random days of the past) so runs never share partitions.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { serviceAddresses } from '@pep/contracts';
import { migrate as migratePipeline } from '@pep/pipeline/migrate';
import { migrate as migrateWorkflows } from '@pep/workflows/db';
import { Client, Connection } from '@temporalio/client';
import type pg from 'pg';
import { createPool, migrate } from '../src/history.ts';
import { TEST_SCHEMA_SQL } from './fixtures/test-steps.ts';

export { freePort } from '@pep/stack/ports';

export const addr = serviceAddresses();
export const runId = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
export const uniq = (prefix: string) => `${prefix}-${runId}-${randomBytes(2).toString('hex')}`;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

export async function setupDb(): Promise<pg.Pool> {
  // The reconcile step reads the pipeline's tables and the review timeouts the workflows' ones.
  await migratePipeline({ databaseUrl: addr.databaseUrl });
  await migrateWorkflows(addr.databaseUrl);
  await migrate(addr.databaseUrl);
  const pool = createPool(addr.databaseUrl, 4);
  await pool.query(TEST_SCHEMA_SQL);
  return pool;
}

export async function temporalClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: addr.temporalAddress });
  return { client: new Client({ connection }), close: () => connection.close() };
}

/** `n` consecutive days starting at a random day between 2001 and 2020. */
export function testDays(n: number): string[] {
  const start = Date.UTC(2001, 0, 1) + randomInt(0, 7000) * 86_400_000;
  return Array.from({ length: n }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}

export interface WorkerProcess {
  readonly pid: number;
  readonly output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts tests/fixtures/worker.ts (platform + test steps) and resolves once it polls. */
export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    cwd: ROOT,
    env: { ...process.env, ORCH_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start in 180 s:\n${out.slice(-3000)}`)), 180_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      if (out.includes('"msg":"worker polling"')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited (${code}) before polling:\n${out.slice(-3000)}`));
    });
  });
  return {
    pid: child.pid as number,
    output: () => out,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `npm run <script> -- args` as a user would, with `env` added. */
export function runCli(script: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '-s', script, '--', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
