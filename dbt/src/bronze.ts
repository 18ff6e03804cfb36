/**
 * Where the bronze tables are (the lake's SQL catalog in PostgreSQL, CONTRACT section 8) and the calls into
 * `python/bronze.py` (pyiceberg on that catalog): the snapshot each dbt run reads, and the test/benchmark histories.
 * Not the lake writer (@pep/lakehouse writes the product's bronze tables).
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_DATABASE_URL,
  icebergPartitionSpecJson,
  icebergSchemaJson,
  LAKE_CATALOG_NAME,
  LAKE_NAMESPACE,
  LAKE_TABLE_NAMES,
  LAKE_TABLES,
  type LakeTableName,
  lakeWarehouseDir,
} from '@pep/contracts';
import { STATE_DIR } from '@pep/stack/paths';
import { type DbtToolchain, runPython } from './venv.ts';

export const PACKAGE_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)));
const BRONZE_PY = join(PACKAGE_DIR, 'python', 'bronze.py');
export interface CatalogSettings {
  readonly name: string;
  /** SQLAlchemy URL of the catalog database (pyiceberg). */
  readonly uri: string;
  /** `file:///…` or `s3://…` */
  readonly warehouse: string;
}

/** LAKE_CATALOG_URL (else DATABASE_URL), LAKE_WAREHOUSE (else `<state>/lake/warehouse`), catalog name `pep`. */
export function catalogSettings(env: NodeJS.ProcessEnv = process.env): CatalogSettings {
  const raw = env.LAKE_CATALOG_URL?.trim() || env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error('LAKE_CATALOG_URL / DATABASE_URL is not a valid postgres:// URL');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`the lake catalog must be PostgreSQL (postgres://…), got a ${url.protocol} URL`);
  }
  const warehouse = env.LAKE_WAREHOUSE?.trim() || lakeWarehouseDir(STATE_DIR);
  return {
    name: env.LAKE_CATALOG_NAME?.trim() || LAKE_CATALOG_NAME,
    uri: `postgresql+psycopg2://${url.username}${url.password ? `:${url.password}` : ''}@${url.host}${url.pathname}`,
    warehouse: warehouse.startsWith('/') ? `file://${warehouse}` : warehouse,
  };
}

/** The bronze namespace dbt reads: DBT_BRONZE_NAMESPACE (tests use private ones), else `bronze`. */
export function bronzeNamespace(env: NodeJS.ProcessEnv = process.env): string {
  const ns = env.DBT_BRONZE_NAMESPACE?.trim() || LAKE_NAMESPACE;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(ns))
    throw new Error(`DBT_BRONZE_NAMESPACE must be a lowercase identifier: ${ns}`);
  return ns;
}

export class BronzeError extends Error {
  override readonly name = 'BronzeError';
  constructor(
    message: string,
    /** The catalog could not be reached: worth retrying later. */
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/** Runs one command of python/bronze.py and returns its JSON answer. */
export async function bronzeCommand<T>(
  tools: DbtToolchain,
  command: 'snapshots' | 'create' | 'drop' | 'generate' | 'append',
  request: Record<string, unknown>,
  opts: { env?: NodeJS.ProcessEnv; onProgress?: (line: string) => void; timeoutMs?: number } = {},
): Promise<T> {
  const env = opts.env ?? process.env;
  const body = JSON.stringify({ catalog: catalogSettings(env), namespace: bronzeNamespace(env), ...request });
  const r = await runPython(tools, [BRONZE_PY, command], {
    env,
    stdin: body,
    timeoutMs: opts.timeoutMs ?? 60 * 60_000,
    ...(opts.onProgress ? { onStderrLine: opts.onProgress } : {}),
  });
  const answer = r.answer as { error?: string; unreachable?: boolean } | undefined;
  if (r.code === 0 && answer && !answer.error) return answer as T;
  const why = answer?.error ?? `exited ${r.code ?? r.signal}: ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`;
  throw new BronzeError(`bronze ${command}: ${why}`, r.code === 2 || answer?.unreachable === true);
}

export interface BronzeTableSnapshot {
  readonly metadata_location: string;
  /** The table's identity: a dropped and re-created table has a new one. */
  readonly table_uuid?: string;
  /** As a string: a 64-bit id does not fit a JavaScript number. */
  readonly snapshot_id: string | null;
  readonly snapshot_ms: number | null;
  readonly summary: Record<string, string>;
  readonly total_records: number;
}

/** The current snapshot of each bronze table (null: the table does not exist). */
export async function bronzeSnapshots(
  tools: DbtToolchain,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Record<LakeTableName, BronzeTableSnapshot | null>> {
  const asOf = bronzeAsOf(env);
  const r = await bronzeCommand<{ tables: Record<LakeTableName, BronzeTableSnapshot | null> }>(
    tools,
    'snapshots',
    { tables: LAKE_TABLE_NAMES, ...(asOf !== null ? { as_of_ms: asOf } : {}) },
    { env },
  );
  return r.tables;
}

/**
 * DBT_BRONZE_AS_OF (an ISO-8601 instant or epoch milliseconds): read each bronze table at the snapshot that was
 * current then instead of the latest, e.g. to rebuild exactly what an earlier run saw. Null when unset.
 */
export function bronzeAsOf(env: NodeJS.ProcessEnv = process.env): number | null {
  const raw = env.DBT_BRONZE_AS_OF?.trim();
  if (!raw) return null;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new Error(`DBT_BRONZE_AS_OF must be an ISO-8601 instant or epoch ms: ${raw}`);
  return ms;
}

/** Creates the namespace and the four bronze tables from the contract (idempotent). */
export function createBronzeTables(tools: DbtToolchain, env: NodeJS.ProcessEnv = process.env) {
  const tables = Object.fromEntries(
    LAKE_TABLE_NAMES.map((n) => [
      n,
      { schema: icebergSchemaJson(LAKE_TABLES[n]), spec: icebergPartitionSpecJson(LAKE_TABLES[n]) },
    ]),
  );
  return bronzeCommand<{ created: string[] }>(tools, 'create', { tables }, { env });
}
