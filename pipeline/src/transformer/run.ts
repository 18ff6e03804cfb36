/**
 * Runs a transformer as a process: metrics server, signal handling (SIGINT/SIGTERM finish the chunk in hand,
 * commit, leave the group; a second signal or the shutdown timeout exits at once, which is safe because nothing
 * uncommitted is visible downstream). Shared by main.ts and the crash tests' child process.
 */
import type { TransformerConfig } from '../lib/config.ts';
import type { Logger } from '../lib/log.ts';
import { serveMetrics } from '../lib/metrics.ts';
import type { Normalizer } from './normalizer.ts';
import { Transformer } from './transformer.ts';

export async function runTransformer(
  cfg: TransformerConfig,
  normalizer: Normalizer,
  log: Logger,
): Promise<Transformer> {
  const transformer = new Transformer(cfg, normalizer, log, (err) => {
    log.error('consumer stopped for good, exiting so the supervisor restarts it', { err });
    process.exit(1);
  });
  const server =
    cfg.metricsPort > 0 ? await serveMetrics(transformer.metrics.registry, cfg.metricsHost, cfg.metricsPort) : null;
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
    transformer
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
  await transformer.start();
  return transformer;
}
