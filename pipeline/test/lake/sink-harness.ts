/**
 * Shared by the lake sink's integration tests: the sink as a child process (the real entry point, so SIGKILL and
 * SIGTERM are real), the environment of a private catalog, warehouse, topics and group, and table statistics read
 * through DuckDB (the current snapshot, as a user would see it).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LakeConfig, loadLakeConfig } from '@pep/lakehouse/config';
import { openDuckSession } from '@pep/lakehouse/duckdb';
import pg from 'pg';

export interface SinkEnv {
  readonly env: NodeJS.ProcessEnv;
  readonly cfg: LakeConfig;
  readonly warehouse: string;
  readonly catalogName: string;
}

/** A private warehouse folder and catalog name for one test file, and the sink's environment over `topics`. */
export function sinkEnv(prefix: string, topics: readonly string[], group: string): SinkEnv {
  const name = prefix.replace(/[^a-z0-9]/g, '_').slice(0, 40);
  const warehouse = join(tmpdir(), `pep-lake-sink-${prefix.slice(0, -1)}`);
  const catalogName = `sink_${name}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LAKE_WAREHOUSE: warehouse,
    LAKE_CATALOG_NAME: catalogName,
    LAKE_SINK_TOPICS: topics.join(','),
    LAKE_SINK_GROUP_ID: group,
    LAKE_SINK_COMMIT_INTERVAL_MS: '500',
    LAKE_SINK_COMMIT_BYTES: String(64 << 10),
    // Chunks well below a commit: a commit's rows reach the writer in several chunks (open write, chunk, close).
    LAKE_SINK_CHUNK_BYTES: String(8 << 10),
    LAKE_SINK_OUTCOMES: 'false',
    LAKE_SINK_METRICS_PORT: '0',
    // A killed member leaves the group when its session times out: keep that short so restarts rejoin quickly.
    LAKE_SINK_SESSION_TIMEOUT_MS: '6000',
    PIPELINE_LOG_LEVEL: 'warn',
  };
  mkdirSync(warehouse, { recursive: true });
  return { env, cfg: { ...loadLakeConfig(env), catalogName }, warehouse, catalogName };
}

/** Removes the warehouse folder and the private catalog's entries. */
export async function removeSinkEnv(s: SinkEnv): Promise<void> {
  rmSync(s.warehouse, { recursive: true, force: true });
  const db = new pg.Client({ connectionString: s.cfg.catalogUrl });
  await db.connect();
  try {
    await db.query('DELETE FROM iceberg_tables WHERE catalog_name = $1', [s.catalogName]);
    await db.query('DELETE FROM iceberg_namespace_properties WHERE catalog_name = $1', [s.catalogName]);
  } finally {
    await db.end();
  }
}

export interface RunningSink {
  readonly child: ChildProcess;
  /** The exit code, or -1 when a signal ended the process. */
  readonly exited: Promise<number | null>;
}

/** Starts `src/lake-sink/main.ts` with the environment plus `extra`. */
export function startSink(s: SinkEnv, extra: Record<string, string> = {}): RunningSink {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/lake-sink/main.ts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...s.env, ...extra },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code, signal) => r(signal ? -1 : code)));
  return { child, exited };
}

export interface TableStats {
  readonly n: number;
  /** Distinct (topic, partition, offset): equal to n when no Kafka record landed twice. */
  readonly distinct: number;
  readonly sum: number;
}

/** Row count, distinct Kafka positions and `sum(sumOf)` of a table (zeros when the table does not exist yet). */
export async function tableStats(cfg: LakeConfig, table: string, sumOf = 'amount_minor'): Promise<TableStats> {
  const s = await openDuckSession(cfg);
  try {
    if (!s.tables.some((t) => `${t.namespace}.${t.name}` === table)) return { n: 0, distinct: 0, sum: 0 };
    const r = await s.query(
      `SELECT count(*) AS n, count(DISTINCT (kafka_topic, kafka_partition, kafka_offset)) AS d, coalesce(sum(${sumOf}), 0) AS s FROM ${table}`,
    );
    const row = r.rows[0] as Record<string, bigint>;
    return { n: Number(row.n), distinct: Number(row.d), sum: Number(row.s) };
  } finally {
    s.close();
  }
}

/** `sum(amount_minor)` per currency of a payment-events table, in minor units. */
export async function moneyByCurrency(cfg: LakeConfig, table: string): Promise<Record<string, number>> {
  const s = await openDuckSession(cfg);
  try {
    const r = await s.query(`SELECT currency, sum(amount_minor) AS s FROM ${table} GROUP BY 1 ORDER BY 1`);
    return Object.fromEntries(r.rows.map((x) => [String(x.currency), Number(x.s)]));
  } finally {
    s.close();
  }
}
