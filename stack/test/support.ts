/**
 * Shared helpers for the stack's integration tests (not a test file itself): unique names so that runs never
 * collide, a kafkajs client configured the way the platform's producers are, and a guard that brings up the
 * services a test file needs (idempotent and fast when they already run).
 */
import { randomBytes } from 'node:crypto';
import { serviceAddresses } from '@pep/contracts';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { type ServiceName, stackUp } from '../src/index.ts';

/** `<prefix>-<time>-<random>`: valid as a Kafka topic, group id, task queue, Redis key part and SQL suffix. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** Starts what is missing among `services` (a no-op costing well under a second when all are healthy). */
export async function ensureServices(services: readonly ServiceName[]): Promise<void> {
  await stackUp({ only: services });
}

export function kafkaClient(clientId: string, opts: { retries?: number } = {}): Kafka {
  return new Kafka({
    clientId,
    brokers: [...serviceAddresses().kafkaBrokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 3000,
    requestTimeout: 10_000,
    retry: { retries: opts.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2000 },
  });
}

/** Rejects after `ms` with a message naming `what`, so a hung client fails the test instead of the run. */
export async function withTimeout<T>(what: string, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
