/**
 * Entry point of the quarantine consumer (`npx tsx pipeline/src/quarantine/main.ts`): applies migrations, serves
 * /metrics, consumes both DLQ topics into PostgreSQL. SIGINT/SIGTERM stop it cleanly (finish the batch, commit,
 * leave the group); a second signal or the shutdown timeout exits at once (uncommitted rows are simply replayed).
 */

// Before anything loads kafkajs: its own read_committed filter lets records of some aborted transactions through.
import '@pep/contracts/kafkajs-read-committed';
import { lowerPriority } from '@pep/contracts/env';
import { createLogger } from '@pep/contracts/log';
import { loadQuarantineConfig, redactUrl } from '../lib/config.ts';
import { exitOnFatal, runConsumerService } from '../lib/service.ts';
import { migrate } from '../migrate.ts';
import { QuarantineConsumer } from './consumer.ts';

const cfg = loadQuarantineConfig();
const log = createLogger(cfg.logLevel, { service: 'quarantine' });

async function main(): Promise<void> {
  const nice = cfg.nice > 0 ? lowerPriority(cfg.nice) : 0;
  log.info('cpu priority', { nice });
  const applied = await migrate({ databaseUrl: cfg.databaseUrl });
  log.info('migrations checked', { database: redactUrl(cfg.databaseUrl), applied });
  const consumer = new QuarantineConsumer(cfg, log, undefined, exitOnFatal(log));
  await runConsumerService(consumer, cfg, log);
}

main().catch((err: unknown) => {
  log.error('quarantine consumer failed to start', { err });
  process.exit(1);
});
