/**
 * Entry point of the quarantine consumer (`npx tsx pipeline/src/quarantine/main.ts`): applies migrations, serves
 * /metrics, consumes both DLQ topics into PostgreSQL. SIGINT/SIGTERM stop it cleanly (finish the batch, commit,
 * leave the group); a second signal or the shutdown timeout exits at once (uncommitted rows are simply replayed).
 */
import { loadQuarantineConfig, redactUrl } from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { serveMetrics } from '../lib/metrics.ts';
import { migrate } from '../migrate.ts';
import { QuarantineConsumer } from './consumer.ts';

const cfg = loadQuarantineConfig();
const log = createLogger(cfg.logLevel, { service: 'quarantine' });

async function main(): Promise<void> {
  const applied = await migrate({ databaseUrl: cfg.databaseUrl });
  log.info('migrations checked', { database: redactUrl(cfg.databaseUrl), applied });
  const consumer = new QuarantineConsumer(cfg, log, undefined, (err) => {
    log.error('consumer stopped for good, exiting so the supervisor restarts it', { err });
    process.exit(1);
  });
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
  await consumer.start();
}

main().catch((err: unknown) => {
  log.error('quarantine consumer failed to start', { err });
  process.exit(1);
});
