/**
 * The shape every local-stack service follows, and small shared helpers (TCP probes, waiting with a deadline).
 */
import { createConnection } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export type ServiceName =
  | 'kafka'
  | 'temporal'
  | 'postgres'
  | 'redis'
  | 's3'
  | 'iceberg-rest'
  | 'superset'
  | 'trino'
  | 'mlflow';

export interface Service {
  readonly name: ServiceName;
  readonly address: string;
  /** Installs what is missing (packages, jars, virtualenv); fast when everything is there. */
  ensureInstalled(log: Logger): Promise<void>;
  /** Answers the service's own protocol (not just an open port). */
  isHealthy(): Promise<boolean>;
  /** Starts the process detached (state formatted/initialised on first start); returns its pid. */
  start(log: Logger): Promise<number>;
  /** Signal for a clean stop (PostgreSQL wants SIGINT for a fast shutdown). */
  readonly stopSignal?: NodeJS.Signals;
  /** How long a cold start may take before it counts as failed. */
  readonly startTimeoutMs: number;
  /**
   * Not part of a plain `stack:up` (CI's cold time): started by `stack:up -- --with <name>` or by the tests that need
   * it (`startService`). `stack:status` reports it, and counts it as unhealthy only while the stack runs it.
   */
  readonly optional?: boolean;
  /** Services that must be healthy before this one starts (started with it when missing). */
  readonly dependsOn?: readonly ServiceName[];
  /** Pid-file names of further processes `start` runs (a multi-node Kafka's other nodes); `stack:down` stops them too. */
  companions?(): readonly string[];
  /** Idempotent setup once healthy: topics, databases, users. */
  provision?(log: Logger): Promise<void>;
}

export type Logger = (message: string) => void;

export function tcpOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Sends `request` and resolves with the first chunk of the answer (or null on error/timeout). */
export function tcpExchange(host: string, port: number, request: string, timeoutMs = 1000): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (answer: string | null) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once('connect', () => socket.write(request));
    socket.once('data', (chunk) => done(chunk.toString('utf8')));
    socket.once('error', () => done(null));
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs, intervalMs = 250, alive }: { timeoutMs: number; intervalMs?: number; alive?: () => boolean },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A few checks at least, however long they took: on a saturated machine one check (or a stalled event loop) can
  // eat the whole window, and a service that was never really asked is not unhealthy.
  const minChecks = 5;
  for (let checks = 0; Date.now() < deadline || checks < minChecks; checks++) {
    if (await check().catch(() => false)) return;
    if (alive && !alive()) throw new Error(`${what}: the process exited during start-up`);
    await sleep(intervalMs);
  }
  throw new Error(`${what}: not healthy after ${Math.round(timeoutMs / 1000)} s`);
}
