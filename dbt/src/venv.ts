/**
 * The dbt toolchain in a project-local virtualenv from PyPI (installed once per machine by the stack's ensureVenv):
 * dbt-core below 1.12 with the DuckDB and Trino adapters, DuckDB pinned to the exact version of the iceberg / avro /
 * httpfs extension wheels (the extension host is not reachable from these machines, so nothing is ever INSTALLed),
 * and pyiceberg for the bronze catalog (snapshot ids, test histories). Not the product's query path.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureVenv, type VenvSpec } from '@pep/stack/install';

export const DUCKDB_VERSION = '1.5.5';
const EXTENSIONS = ['iceberg', 'avro', 'httpfs'] as const;

export const DBT_VENV: VenvSpec = {
  name: 'dbt',
  requirements: [
    // dbt-core 1.12 does not install here (a dependency downloads a wheel from a code host): stay below it.
    'dbt-core==1.11.16',
    'dbt-duckdb==1.11.1',
    'dbt-trino==1.11.0',
    `duckdb==${DUCKDB_VERSION}`,
    ...EXTENSIONS.map((e) => `duckdb-extension-${e}==${DUCKDB_VERSION}`),
    'pyiceberg[sql-postgres,pyarrow,pyiceberg-core]==0.12.0',
  ],
};

export interface DbtToolchain {
  readonly venv: string;
  readonly python: string;
  readonly dbt: string;
  /** A DuckDB `extension_directory` (`v<version>/linux_amd64/<name>.duckdb_extension`) made of the wheels' files. */
  readonly extensionDirectory: string;
}

export type Log = (message: string) => void;

export async function ensureDbtToolchain(log: Log): Promise<DbtToolchain> {
  const venv = await ensureVenv(DBT_VENV, log);
  const lib = readdirSync(join(venv, 'lib')).find((d) => /^python3\.\d+$/.test(d));
  if (!lib) throw new Error(`no lib/python3.x in ${venv}`);
  const site = join(venv, 'lib', lib, 'site-packages');
  const extensionDirectory = join(venv, 'duckdb-extensions');
  const platformDir = join(extensionDirectory, `v${DUCKDB_VERSION}`, 'linux_amd64');
  mkdirSync(platformDir, { recursive: true });
  for (const ext of EXTENSIONS) {
    const link = join(platformDir, `${ext}.duckdb_extension`);
    const target = join(site, `duckdb_extension_${ext}`, 'extensions', `v${DUCKDB_VERSION}`, `${ext}.duckdb_extension`);
    if (!existsSync(target)) throw new Error(`the ${ext} extension wheel has no ${target}`);
    if (!existsSync(link)) symlinkSync(target, link);
  }
  return { venv, python: join(venv, 'bin', 'python'), dbt: join(venv, 'bin', 'dbt'), extensionDirectory };
}
