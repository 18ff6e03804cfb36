/**
 * Applies the pipeline's PostgreSQL migrations (pipeline/migrations, node-pg-migrate) to DATABASE_URL.
 * Used by `npm run migrate -w @pep/pipeline`, by the quarantine consumer at startup, and by the tests.
 * The pipeline keeps its own migrations table so other packages' migrations on the same database stay independent.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serviceAddresses } from '@pep/contracts';
import { runner } from 'node-pg-migrate';
import { redactUrl } from './lib/config.ts';

export const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
export const MIGRATIONS_TABLE = 'pipeline_migrations';

export async function migrate(opts: {
  databaseUrl: string;
  direction?: 'up' | 'down';
  count?: number;
  log?: (msg: string) => void;
}): Promise<string[]> {
  const applied = await runner({
    databaseUrl: opts.databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: opts.direction ?? 'up',
    count: opts.count ?? Number.POSITIVE_INFINITY,
    // Advisory lock: concurrent starters (consumer + tests) apply each migration once. The lock is shared by every
    // package's migrations on the database, and replicas start together (found by deploy's scale-out test: two
    // quarantine consumers started at once, the second failed with "Another migration is already running"): wait.
    noLock: false,
    advisoryLockMode: 'wait',
    singleTransaction: true,
    checkOrder: true,
    verbose: false,
    log: opts.log ?? (() => undefined),
  });
  return applied.map((m) => m.name);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { databaseUrl } = serviceAddresses();
  const down = process.argv.includes('--down');
  migrate({ databaseUrl, direction: down ? 'down' : 'up', count: down ? 1 : undefined })
    .then((names) => {
      console.log(
        JSON.stringify({
          msg: 'migrations applied',
          direction: down ? 'down' : 'up',
          database: redactUrl(databaseUrl),
          names,
        }),
      );
    })
    .catch((err: unknown) => {
      console.error(`migrate: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
