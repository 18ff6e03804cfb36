/**
 * Runs a long-lived consumer as a process: optional /metrics server, and signal handling shared by every
 * consumer (SIGINT/SIGTERM finish the batch in hand, commit, leave the group; a second signal or the shutdown
 * timeout exits at once, which is safe because nothing uncommitted counts as done).
 */

import type { Logger } from '@pep/contracts/log';
import { type Registry, serveMetrics } from '@pep/contracts/metrics';
import { exitWithParent } from '@pep/contracts/parent';

export interface RunnableConsumer {
  readonly metrics: { readonly registry: Registry };
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  readonly metricsHost: string;
  /** 0 disables the metrics server. */
  readonly metricsPort: number;
  readonly shutdownTimeoutMs: number;
}

/** Exits the process when a consumer stops for good, so that a supervisor restarts it. */
export function exitOnFatal(log: Logger): (err: unknown) => void {
  return (err) => {
    log.error('consumer stopped for good, exiting so the supervisor restarts it', { err });
    process.exit(1);
  };
}

export async function runConsumerService(consumer: RunnableConsumer, cfg: ServiceOptions, log: Logger): Promise<void> {
  const server =
    cfg.metricsPort > 0 ? await serveMetrics(consumer.metrics.registry, cfg.metricsHost, cfg.metricsPort) : null;
  if (server) log.info('metrics listening', { url: `http://${cfg.metricsHost}:${cfg.metricsPort}/metrics` });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn('second signal, exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('stopping', { signal });
    const timer = setTimeout(() => {
      log.error('shutdown timed out, exiting', { timeout_ms: cfg.shutdownTimeoutMs });
      process.exit(1);
    }, cfg.shutdownTimeoutMs);
    timer.unref();
    consumer
      .stop()
      .then(() => {
        server?.close();
        process.exit(0);
      })
      .catch((err: unknown) => {
        log.error('stop failed', { err });
        process.exit(1);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  exitWithParent({ onParentGone: () => log.warn('launcher gone: stopping') });
  await consumer.start();
}
