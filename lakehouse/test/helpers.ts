/**
 * Test helpers: a private catalog (its own catalog name in the platform's PostgreSQL, or its own namespace in the
 * shared `pep` catalog when Trino must see it) and a private warehouse folder per test file, and small table
 * fixtures. Real PostgreSQL, real files: `npm run stack:up` first.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LAKE_CATALOG_NAME, LAKE_TABLES, type LakeTable, PROVIDERS } from '@pep/contracts';
import pg from 'pg';
import { type LakeConfig, loadLakeConfig } from '../src/config.ts';

export const tag = () => randomBytes(4).toString('hex');

export function testConfig(opts: { catalogName?: string; warehouse?: string } = {}): LakeConfig {
  const dir = opts.warehouse ?? join(tmpdir(), `pep-lake-test-${tag()}`);
  mkdirSync(dir, { recursive: true });
  return Object.freeze({
    ...loadLakeConfig({ ...process.env, LAKE_WAREHOUSE: dir }),
    catalogName: opts.catalogName ?? `test_${tag()}`,
  });
}

/**
 * Removes a test's warehouse folder and its catalog entries: the whole private catalog, or only `namespace` when
 * the test shares the `pep` catalog with Trino (an entry left pointing at deleted files would be a broken table for
 * every later reader of that catalog).
 */
export async function removeWarehouse(cfg: LakeConfig, namespace?: string): Promise<void> {
  const client = new pg.Client({ connectionString: cfg.catalogUrl });
  await client.connect();
  try {
    const where = namespace ? 'catalog_name = $1 AND table_namespace = $2' : 'catalog_name = $1';
    const args = namespace ? [cfg.catalogName, namespace] : [cfg.catalogName];
    if (!namespace && cfg.catalogName === LAKE_CATALOG_NAME) throw new Error('refusing to drop the shared catalog');
    await client.query(`DELETE FROM iceberg_tables WHERE ${where}`, args);
    await client.query(
      `DELETE FROM iceberg_namespace_properties WHERE ${where.replace('table_namespace', 'namespace')}`,
      args,
    );
  } finally {
    await client.end();
  }
  if (cfg.warehouse.startsWith('file:///tmp/'))
    rmSync(cfg.warehouse.slice('file://'.length), { recursive: true, force: true });
}

/** The contract table under another namespace (so tests never touch bronze). */
export function tableIn(
  namespace: string,
  t: LakeTable = LAKE_TABLES.payment_events,
  extra: LakeTable['columns'] = [],
) {
  return Object.freeze({ ...t, qualifiedName: `${namespace}.${t.name}`, columns: [...t.columns, ...extra] });
}

/** Every file under a folder (relative paths), to prove what a failed call left behind. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  try {
    walk(dir);
  } catch {
    return [];
  }
  return out.sort();
}

export function event(i: number, over: Record<string, unknown> = {}) {
  const provider = PROVIDERS[i % PROVIDERS.length] as string;
  return {
    kafka_topic: 'payments.normalized',
    kafka_partition: 0,
    kafka_offset: BigInt(i),
    kafka_timestamp: Date.UTC(2026, 10, 20 + (i % 3), 12) + i,
    event_id: `${provider}:evt_${i}`,
    provider,
    provider_event_id: `evt_${i}`,
    event_type: i % 5 === 0 ? 'payment.failed' : 'payment.succeeded',
    merchant_id: `mer_${i % 7}`,
    customer_id: `cus_${i % 11}`,
    amount_minor: 100 + i,
    currency: i % 3 === 0 ? 'EUR' : 'USD',
    received_at: Date.UTC(2026, 10, 20 + (i % 3), 12) + i,
    schema_version: 1,
    ...over,
  };
}
