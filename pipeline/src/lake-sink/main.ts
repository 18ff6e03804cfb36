/**
 * Entry point of the lake sink (`npx tsx pipeline/src/lake-sink/main.ts`, started by `npm start`): Kafka → Iceberg
 * bronze tables, plus the PostgreSQL outcomes loader, metrics on LAKE_SINK_METRICS_PORT (9470). SIGINT/SIGTERM
 * commit what is buffered and leave the group; a second signal exits at once (nothing uncommitted counts as done).
 */

// Before anything loads kafkajs: its own read_committed filter lets records of some aborted transactions through.
import '@pep/contracts/kafkajs-read-committed';
import { LAKE_TABLES } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { describeLakeConfig } from '@pep/lakehouse/config';
import { exitOnFatal, runConsumerService } from '../lib/service.ts';
import { loadLakeSinkConfig } from './config.ts';
import { OutcomesLoader } from './outcomes.ts';
import { LakeSink } from './sink.ts';

const cfg = loadLakeSinkConfig();
const log = createLogger(cfg.logLevel, { service: 'lake-sink' });

async function main(): Promise<void> {
  log.info('lake configuration', describeLakeConfig(cfg.lake));
  // LAKE_SINK_NAMESPACE: the same contract tables under another namespace (tests, a staging copy of the lake).
  const overrides = Object.fromEntries(
    Object.values(LAKE_TABLES).map((t) => [t.name, { ...t, qualifiedName: `${cfg.namespace}.${t.name}` }]),
  );
  const sink = new LakeSink(cfg, log, exitOnFatal(log), overrides);
  let outcomes: OutcomesLoader | null = null;
  await runConsumerService(
    {
      metrics: sink.metrics,
      async start() {
        await sink.start();
        if (cfg.outcomes) {
          outcomes = new OutcomesLoader(
            {
              databaseUrl: cfg.databaseUrl,
              intervalMs: cfg.outcomesIntervalMs,
              batchRows: cfg.outcomesBatchRows,
              writerId: `${cfg.writerId}-outcomes`,
            },
            sink.writer(),
            sink.metrics.registry,
            log.child({ component: 'outcomes' }),
          );
          await outcomes.start();
        }
      },
      async stop() {
        await outcomes?.stop();
        await sink.stop();
      },
    },
    cfg,
    log,
  );
}

main().catch((err: unknown) => {
  log.error('lake sink failed to start', { err });
  process.exit(1);
});
