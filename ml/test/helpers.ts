/** Shared set-up of ml's integration tests: a private Redis database and private state folders per test file. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serviceAddresses } from '@pep/contracts';
import { Redis } from 'ioredis';
import type { MlConfig } from '../src/config.ts';
import { OfflineLog } from '../src/features/offline.ts';
import { FeatureProcessor } from '../src/features/processor.ts';
import { FEATURE_SPEC } from '../src/features/spec.ts';
import { StateStore } from '../src/features/store.ts';

/** Redis database `db` of the stack's Redis (tests use 8–15 and flush only their own). */
export function testConfig(db: number, name: string): MlConfig {
  const base = serviceAddresses().redisUrl.replace(/\/\d+$/, '');
  const stateDir = mkdtempSync(join(tmpdir(), `pep-ml-${name}-`));
  return Object.freeze({
    stateDir,
    offlineDir: join(stateDir, 'offline'),
    redisUrl: `${base}/${db}`,
    mlflowUrl: 'http://127.0.0.1:5000',
  });
}

export async function freshRedis(cfg: MlConfig): Promise<Redis> {
  const r = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: true });
  await r.connect();
  await r.flushdb();
  return r;
}

/** `fsync: false` for tests that apply thousands of one-event batches (durability is idempotency.test.ts's subject). */
export function processorFor(redis: Redis, cfg: MlConfig, withOffline = true, fsync = true): FeatureProcessor {
  return new FeatureProcessor(
    FEATURE_SPEC,
    new StateStore(redis),
    withOffline ? new OfflineLog(cfg.offlineDir, FEATURE_SPEC, { fsync }) : null,
  );
}

export const parse = (events: readonly string[]) => events.map((e) => JSON.parse(e));
