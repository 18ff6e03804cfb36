/**
 * The databases Superset reads, registered by code from the environment (never from the committed bundle, so that a
 * password or a machine's path never lands in git): PostgreSQL (the operational tables the pipeline and the
 * workflows write), the DuckDB marts built by dbt, and Trino over the lakehouse when it runs. Each has a fixed uuid:
 * the bundle's datasets point at it, and an import updates the one row in place.
 */
import { join } from 'node:path';
import { DEFAULT_DATABASE_URL } from '@pep/contracts';
import { STATE_DIR } from '@pep/stack/paths';

export type DatabaseKey = 'operations' | 'marts' | 'trino';

export interface DatabaseTarget {
  /** Name of the database's file in the import zip (`databases/<key>.yaml`); the platform's are DatabaseKey. */
  readonly key: string;
  readonly uuid: string;
  /** Superset's database YAML (the URI carries a masked password; the real one goes in `password`). */
  readonly config: Readonly<Record<string, unknown>>;
  readonly password?: string;
}

/** Fixed identities: the bundle's datasets reference these uuids. */
export const DATABASE_UUIDS: Readonly<Record<DatabaseKey, string>> = Object.freeze({
  operations: '3f0c1d52-7a3e-4b8e-9a51-0c0e6f0d2a01',
  marts: '3f0c1d52-7a3e-4b8e-9a51-0c0e6f0d2a02',
  trino: '3f0c1d52-7a3e-4b8e-9a51-0c0e6f0d2a03',
});

export const DATABASE_NAMES: Readonly<Record<DatabaseKey, string>> = Object.freeze({
  operations: 'Operations (PostgreSQL)',
  marts: 'Marts (DuckDB)',
  trino: 'Lakehouse (Trino)',
});

/** What Superset masks a password with in exports; the importer takes the real one from `passwords`. */
export const MASKED_PASSWORD = 'XXXXXXXXXX';

export const DEFAULT_TRINO_URL = 'http://127.0.0.1:8085';

interface DatabaseSettings {
  readonly name: string;
  readonly uuid: string;
  readonly uri: string;
  readonly engineParams?: Record<string, unknown>;
  /** Let SQL Lab users run DDL/DML: never, the dashboards only read. */
  readonly exposeInSqlLab?: boolean;
}

function databaseYaml(s: DatabaseSettings): Record<string, unknown> {
  return {
    database_name: s.name,
    sqlalchemy_uri: s.uri,
    cache_timeout: null,
    expose_in_sqllab: s.exposeInSqlLab ?? true,
    allow_run_async: false,
    allow_ctas: false,
    allow_cvas: false,
    allow_dml: false,
    allow_file_upload: false,
    extra: {
      metadata_params: {},
      engine_params: s.engineParams ?? {},
      metadata_cache_timeout: {},
      schemas_allowed_for_file_upload: [],
    },
    impersonate_user: false,
    uuid: s.uuid,
    version: '1.0.0',
  };
}

/**
 * PostgreSQL from a `postgres://user:password@host:port/db` URL, for psycopg2. Sessions are read-only
 * (`default_transaction_read_only`): a dashboard or SQL Lab query can never change the platform's tables.
 */
export function postgresTarget(
  databaseUrl: string,
  overrides: { key?: string; name?: string; uuid?: string } = {},
): DatabaseTarget {
  let u: URL;
  try {
    u = new URL(databaseUrl);
  } catch {
    throw new Error('DATABASE_URL is not a valid postgres:// URL');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new Error(`DATABASE_URL must be a postgres:// URL, got a ${u.protocol} URL`);
  }
  const password = decodeURIComponent(u.password);
  const user = u.username;
  const auth = user ? `${user}${password ? `:${MASKED_PASSWORD}` : ''}@` : '';
  const uri = `postgresql+psycopg2://${auth}${u.host}${u.pathname}`;
  return {
    key: overrides.key ?? 'operations',
    uuid: overrides.uuid ?? DATABASE_UUIDS.operations,
    config: databaseYaml({
      name: overrides.name ?? DATABASE_NAMES.operations,
      uuid: overrides.uuid ?? DATABASE_UUIDS.operations,
      uri,
      engineParams: { connect_args: { options: '-c default_transaction_read_only=on', connect_timeout: 10 } },
    }),
    ...(password ? { password } : {}),
  };
}

/**
 * The dbt marts in DuckDB, opened read-only per query (dbt may rebuild the file between two dashboard loads).
 * `readOnly: false` (tests only) lets DuckDB create the file when Superset first connects.
 */
export function duckdbTarget(
  path: string,
  overrides: { key?: string; name?: string; uuid?: string; readOnly?: boolean } = {},
): DatabaseTarget {
  const uuid = overrides.uuid ?? DATABASE_UUIDS.marts;
  return {
    key: overrides.key ?? 'marts',
    uuid,
    config: databaseYaml({
      name: overrides.name ?? DATABASE_NAMES.marts,
      uuid,
      uri: `duckdb:///${path}`,
      engineParams: { connect_args: { read_only: overrides.readOnly ?? true } },
    }),
  };
}

/** Trino's `iceberg` catalog (CONTRACT section 8) at `trinoUrl`. */
export function trinoTarget(
  trinoUrl: string,
  user: string,
  overrides: { name?: string; uuid?: string; key?: string } = {},
): DatabaseTarget {
  const u = new URL(trinoUrl);
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const uuid = overrides.uuid ?? DATABASE_UUIDS.trino;
  return {
    key: overrides.key ?? 'trino',
    uuid,
    config: databaseYaml({
      name: overrides.name ?? DATABASE_NAMES.trino,
      uuid,
      uri: `trino://${encodeURIComponent(user)}@${u.host}/iceberg`,
      engineParams: { connect_args: { http_scheme: protocol, request_timeout: 60 } },
    }),
  };
}

export interface DatabaseEnvironment {
  readonly databaseUrl: string;
  readonly martsPath: string;
  readonly trinoUrl: string;
  readonly trinoUser: string;
}

/**
 * Where each database is, from the environment: DASHBOARDS_DATABASE_URL (else DATABASE_URL, else the local
 * default), DASHBOARDS_MARTS_DUCKDB (the marts file; default `.stack/dbt/marts.duckdb`), TRINO_URL, TRINO_USER.
 */
export function databaseEnvironment(env: NodeJS.ProcessEnv = process.env): DatabaseEnvironment {
  return {
    databaseUrl: env.DASHBOARDS_DATABASE_URL?.trim() || env.DATABASE_URL?.trim() || DEFAULT_DATABASE_URL,
    martsPath: env.DASHBOARDS_MARTS_DUCKDB?.trim() || join(STATE_DIR, 'dbt', 'marts.duckdb'),
    trinoUrl: env.TRINO_URL?.trim() || DEFAULT_TRINO_URL,
    trinoUser: env.TRINO_USER?.trim() || 'superset',
  };
}

/** True when Trino's coordinator answers and has finished starting. */
export async function trinoRunning(trinoUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${trinoUrl.replace(/\/$/, '')}/v1/info`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return false;
    const info = (await res.json()) as { starting?: boolean };
    return info.starting === false;
  } catch {
    return false;
  }
}

/** The databases to register now: PostgreSQL and the DuckDB marts always, Trino when it runs. */
export async function platformDatabases(env: NodeJS.ProcessEnv = process.env): Promise<DatabaseTarget[]> {
  const e = databaseEnvironment(env);
  const targets = [postgresTarget(e.databaseUrl), duckdbTarget(e.martsPath)];
  if (await trinoRunning(e.trinoUrl)) targets.push(trinoTarget(e.trinoUrl, e.trinoUser));
  return targets;
}
