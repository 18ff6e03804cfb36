/**
 * The Python lake clients used to check the lake on object storage and through a REST catalog: pyiceberg, DuckDB with
 * its httpfs / avro / iceberg extensions from the PyPI wheels of exactly DuckDB's version (the extension host is not
 * reachable from these machines), dbt-duckdb, dbt-trino and the Trino client. One project-local virtualenv, installed
 * once per machine by ensureVenv. Not the product's query path (that is the lakehouse package's).
 */
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureVenv, type VenvSpec } from '@pep/stack/install';
import type { Log } from './chart.ts';

export const DUCKDB_VERSION = '1.5.5';
export const LAKE_CLIENTS_VENV: VenvSpec = {
  name: 'lake-clients',
  requirements: [
    'pyiceberg[sql-postgres,pyarrow]==0.12.0',
    `duckdb==${DUCKDB_VERSION}`,
    `duckdb-extension-httpfs==${DUCKDB_VERSION}`,
    `duckdb-extension-iceberg==${DUCKDB_VERSION}`,
    `duckdb-extension-avro==${DUCKDB_VERSION}`,
    // dbt-core 1.12 does not install here (a dependency downloads from a code host): stay below it.
    'dbt-core==1.11.16',
    'dbt-duckdb==1.11.1',
    'dbt-trino==1.11.0',
    'trino==0.340.0',
  ],
};

export interface LakeClients {
  readonly python: string;
  readonly dbt: string;
  /** A DuckDB extension_directory (`v<version>/linux_amd64/<name>.duckdb_extension`) made of the wheels' files. */
  readonly extensionDirectory: string;
}

export async function ensureLakeClients(log: Log): Promise<LakeClients> {
  const venv = await ensureVenv(LAKE_CLIENTS_VENV, log);
  const site = join(venv, 'lib', `python3.${pythonMinor(venv)}`, 'site-packages');
  const extensionDirectory = join(venv, 'duckdb-extensions');
  const platformDir = join(extensionDirectory, `v${DUCKDB_VERSION}`, 'linux_amd64');
  mkdirSync(platformDir, { recursive: true });
  for (const ext of ['httpfs', 'avro', 'iceberg']) {
    const link = join(platformDir, `${ext}.duckdb_extension`);
    const target = join(site, `duckdb_extension_${ext}`, 'extensions', `v${DUCKDB_VERSION}`, `${ext}.duckdb_extension`);
    if (!existsSync(target)) throw new Error(`the ${ext} extension wheel has no ${target}`);
    if (!existsSync(link)) symlinkSync(target, link);
  }
  return { python: join(venv, 'bin', 'python'), dbt: join(venv, 'bin', 'dbt'), extensionDirectory };
}

function pythonMinor(venv: string): string {
  for (let minor = 9; minor <= 20; minor++) {
    if (existsSync(join(venv, 'lib', `python3.${minor}`))) return String(minor);
  }
  throw new Error(`no lib/python3.x in ${venv}`);
}
