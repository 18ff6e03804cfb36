/**
 * Starts, stops and reports the local stack. `up` is idempotent: healthy services are left alone (a service that
 * something else started is used, never restarted), missing ones are installed, started and provisioned.
 * `down` stops only what the stack itself started (it has a pid file for it).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logFile, STATE_DIR } from './paths.ts';
import {
  forgetPid,
  isAlive,
  managedPid,
  processStartTicks,
  processState,
  recordedProcess,
  stopProcess,
  waitUntilGone,
} from './process.ts';
import { type Logger, type Service, type ServiceName, waitFor } from './service.ts';
import { icebergRest } from './services/iceberg-rest.ts';
import { kafka } from './services/kafka.ts';
import { mlflow } from './services/mlflow.ts';
import { postgres } from './services/postgres.ts';
import { redis } from './services/redis.ts';
import { s3 } from './services/s3.ts';
import { superset } from './services/superset.ts';
import { temporal } from './services/temporal.ts';
import { trino } from './services/trino.ts';

export const SERVICES: Readonly<Record<ServiceName, Service>> = {
  kafka,
  temporal,
  postgres,
  redis,
  s3,
  'iceberg-rest': icebergRest,
  superset,
  trino,
  mlflow,
};
export const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];
/** What a plain `stack:up` starts: every service that is not optional. */
export const DEFAULT_SERVICE_NAMES = SERVICE_NAMES.filter((n) => !SERVICES[n].optional);

/** `names` plus the services they depend on, dependencies first. */
export function withDependencies(names: readonly ServiceName[]): ServiceName[] {
  const out: ServiceName[] = [];
  const visit = (n: ServiceName) => {
    if (out.includes(n)) return;
    for (const d of SERVICES[n].dependsOn ?? []) visit(d);
    out.push(n);
  };
  for (const n of names) visit(n);
  return out;
}

export type ServiceState = 'healthy' | 'starting' | 'unhealthy' | 'stopped';

export interface ServiceStatus {
  readonly name: ServiceName;
  readonly state: ServiceState;
  readonly address: string;
  /** True when the stack started this process (and `stack:down` will stop it). */
  readonly managed: boolean;
  /** Not part of a plain `stack:up` (see Service.optional). */
  readonly optional: boolean;
  readonly pid?: number;
  readonly log?: string;
}

const silent: Logger = () => {};

/**
 * One `up`/`down` at a time per state folder: two concurrent `up`s must not start two brokers. The lock names its
 * holder by pid and start time, so a holder that died is noticed even when its pid has been reused since.
 */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(STATE_DIR, { recursive: true });
  const lock = join(STATE_DIR, 'stack.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeFileSync(fd, `${process.pid} ${processStartTicks(process.pid) ?? ''}`.trim());
      closeSync(fd);
      break;
    } catch {
      let text: string;
      let ageMs: number;
      try {
        text = readFileSync(lock, 'utf8').trim();
        ageMs = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released between our open and our read
      }
      const [holder = 0, ticks] = text.split(/\s+/).map(Number);
      // Empty for a moment while its holder writes it; empty for long, its holder died in between.
      const stale = text === '' ? ageMs > 5000 : !holder || processState(holder, ticks) !== 'running';
      if (stale) {
        rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`stack is locked by process ${holder} (${lock})`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

export async function serviceStatus(name: ServiceName): Promise<ServiceStatus> {
  const service = SERVICES[name];
  const pid = managedPid(name);
  const healthy = await service.isHealthy();
  const state: ServiceState = healthy ? 'healthy' : pid !== undefined ? 'starting' : 'stopped';
  return {
    name,
    state,
    address: service.address,
    managed: pid !== undefined,
    optional: service.optional === true,
    ...(pid !== undefined ? { pid, log: logFile(name) } : {}),
  };
}

export async function stackStatus(): Promise<ServiceStatus[]> {
  return Promise.all(SERVICE_NAMES.map(serviceStatus));
}

/** Healthy when every default service is, and every optional one the stack runs. */
export function stackHealthy(statuses: readonly ServiceStatus[]): boolean {
  return statuses.every((s) => s.state === 'healthy' || (s.optional && s.state === 'stopped'));
}

/**
 * A pid file whose process no longer runs (gone, exited but not yet reaped, or its pid now someone else's) is stale:
 * it is removed, after a bounded wait for an exited process to be reaped (servers that check their own pid file with
 * kill(pid, 0), as Trino's launcher and PostgreSQL do, take a zombie for a running server).
 */
async function dropStalePid(name: string, say: Logger): Promise<void> {
  const recorded = recordedProcess(name);
  if (recorded === undefined || recorded.state === 'running') return;
  if (recorded.state === 'exited' && !(await waitUntilGone(recorded.pid, STALE_REAP_WAIT_MS))) {
    say(`process ${recorded.pid} exited but is still not reaped after ${STALE_REAP_WAIT_MS / 1000} s; starting anyway`);
  }
  const why = { exited: 'exited', gone: 'is gone', other: 'now belongs to another program' }[recorded.state];
  say(`removing the stale pid file (process ${recorded.pid} ${why})`);
  forgetPid(name);
}
const STALE_REAP_WAIT_MS = 10_000;

async function bringUp(service: Service, log: Logger): Promise<void> {
  const say: Logger = (m) => log(`[${service.name}] ${m}`);
  if (!(await service.isHealthy())) {
    let pid = managedPid(service.name);
    if (pid === undefined) {
      await dropStalePid(service.name, say);
      say('starting');
      pid = await service.start(say);
    } else {
      say(`waiting for process ${pid}`);
    }
    const started = pid;
    try {
      await waitFor(service.name, () => service.isHealthy(), {
        timeoutMs: service.startTimeoutMs,
        alive: () => isAlive(started),
      });
    } catch (err) {
      const tail = tailOf(logFile(service.name));
      throw new Error(`${(err as Error).message}; last lines of ${logFile(service.name)}:\n${tail}`);
    }
    say(`healthy at ${service.address}`);
  }
  await service.provision?.(say);
}

function tailOf(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface UpOptions {
  readonly only?: readonly ServiceName[];
  readonly log?: Logger;
}

export async function stackUp({
  only = DEFAULT_SERVICE_NAMES,
  log = silent,
}: UpOptions = {}): Promise<ServiceStatus[]> {
  return withLock(async () => {
    only = withDependencies(only);
    const services = only.map((n) => SERVICES[n]);
    // Installs side by side (downloads and pip installs overlap; apt-get calls are synchronous, so they never run
    // twice at once), then start-ups in parallel, each after what it needs.
    const installs = await Promise.allSettled(services.map((s) => s.ensureInstalled((m) => log(`[${s.name}] ${m}`))));
    const installFailures = installs.flatMap((r, i) =>
      r.status === 'rejected' ? [`${services[i]?.name}: ${r.reason?.message ?? r.reason}`] : [],
    );
    if (installFailures.length > 0) throw new Error(`stack:up failed to install\n${installFailures.join('\n')}`);
    const started = new Map<ServiceName, Promise<void>>();
    for (const s of services) {
      const deps = (s.dependsOn ?? []).flatMap((d) => started.get(d) ?? []);
      started.set(
        s.name,
        Promise.all(deps).then(() => bringUp(s, log)),
      );
    }
    const results = await Promise.allSettled(services.map((s) => started.get(s.name) as Promise<void>));
    const failures = results.flatMap((r, i) =>
      r.status === 'rejected' ? [`${services[i]?.name}: ${r.reason?.message ?? r.reason}`] : [],
    );
    if (failures.length > 0) throw new Error(`stack:up failed\n${failures.join('\n')}`);
    return Promise.all(only.map(serviceStatus));
  });
}

export interface DownOptions {
  readonly only?: readonly ServiceName[];
  /** SIGKILL instead of a clean stop: for tests that prove crash safety. */
  readonly kill?: boolean;
  readonly log?: Logger;
}

/**
 * Stops what the stack started and returns once those processes are gone (not merely signalled): a `stack:up` right
 * after finds their pids, ports and locks free. A stale pid file is removed without signalling anyone.
 */
export async function stackDown({ only = SERVICE_NAMES, kill = false, log = silent }: DownOptions = {}): Promise<void> {
  await withLock(async () => {
    const names = only.flatMap((n) => [n, ...(SERVICES[n].companions?.() ?? [])]);
    const results = await Promise.allSettled(
      names.map(async (name) => {
        const recorded = recordedProcess(name);
        if (recorded === undefined || recorded.state === 'gone' || recorded.state === 'other') {
          forgetPid(name);
          return;
        }
        const { pid } = recorded;
        log(`[${name}] ${kill ? 'killing' : 'stopping'} process ${pid}`);
        const service = SERVICES[name as ServiceName] as Service | undefined;
        try {
          // An exited one (a zombie) goes through the same wait: until it is reaped, its pid still looks taken.
          await stopProcess(pid, { signal: kill ? 'SIGKILL' : (service?.stopSignal ?? 'SIGTERM'), what: name });
        } finally {
          // Kept while the process still runs (SIGKILL did not take), so that the next stack:down tries again.
          if (!isAlive(pid)) forgetPid(name);
        }
      }),
    );
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason?.message ?? String(r.reason)] : []));
    if (failures.length > 0) throw new Error(`stack:down failed\n${failures.join('\n')}`);
  });
}

/** Programmatic helpers for tests that stop or crash one service and bring it back. */
export const startService = (name: ServiceName, log: Logger = silent) => stackUp({ only: [name], log });
export const stopService = (name: ServiceName, log: Logger = silent) => stackDown({ only: [name], log });
export const killService = (name: ServiceName, log: Logger = silent) => stackDown({ only: [name], kill: true, log });
