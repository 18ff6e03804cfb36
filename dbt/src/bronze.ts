/**
 * Where the bronze tables are (the lake's SQL catalog in PostgreSQL, CONTRACT section 8) and the calls into
 * `python/bronze.py` (pyiceberg on that catalog): the snapshot each dbt run reads, and the test/benchmark histories.
 * Not the lake writer (@pep/lakehouse writes the product's bronze tables).
 */
import { spawn } from 'node:child_process';
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
} from '@pep/contracts';
import { STATE_DIR } from '@pep/stack/paths';
import type { DbtToolchain } from './venv.ts';

export const PACKAGE_DIR = resolve(fileURLToPath(new URL('..', import.meta.url)));
const BRONZE_PY = join(PACKAGE_DIR, 'python', 'bronze.py');
/** Output kept from the helper (its result is one line; progress goes to stderr). */
const MAX_OUTPUT_CHARS = 1 << 20;

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
  const warehouse = env.LAKE_WAREHOUSE?.trim() || join(STATE_DIR, 'lake', 'warehouse');
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
export function bronzeCommand<T>(
  tools: DbtToolchain,
  command: 'snapshots' | 'create' | 'drop' | 'generate' | 'append',
  request: Record<string, unknown>,
  opts: { env?: NodeJS.ProcessEnv; onProgress?: (line: string) => void; timeoutMs?: number } = {},
): Promise<T> {
  const env = opts.env ?? process.env;
  const body = JSON.stringify({ catalog: catalogSettings(env), namespace: bronzeNamespace(env), ...request });
  return new Promise((resolveP, reject) => {
    const child = spawn(tools.python, [BRONZE_PY, command], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60 * 60_000);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout = (stdout + c).slice(-MAX_OUTPUT_CHARS);
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-MAX_OUTPUT_CHARS);
      for (const line of c.split('\n')) if (line.trim()) opts.onProgress?.(line);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      let answer: { error?: string; unreachable?: boolean } | undefined;
      try {
        answer = JSON.parse(last);
      } catch {
        answer = undefined;
      }
      if (code === 0 && answer && !answer.error) return resolveP(answer as T);
      const why = answer?.error ?? `exited ${code ?? signal}: ${stderr.trim().split('\n').slice(-5).join(' | ')}`;
      reject(new BronzeError(`bronze ${command}: ${why}`, code === 2 || answer?.unreachable === true));
    });
    child.stdin.end(body);
  });
}

export interface BronzeTableSnapshot {
  readonly metadata_location: string;
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
  const r = await bronzeCommand<{ tables: Record<LakeTableName, BronzeTableSnapshot | null> }>(
    tools,
    'snapshots',
    { tables: LAKE_TABLE_NAMES },
    { env },
  );
  return r.tables;
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
