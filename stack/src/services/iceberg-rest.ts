/**
 * Optional Iceberg REST catalog: Apache Iceberg's REST fixture server (`org.apache.iceberg:iceberg-open-api:1.10.1`
 * from Maven Central: the runnable jar, Main-Class org.apache.iceberg.rest.RESTCatalogServer, with S3FileIO and the
 * AWS SDK inside), backed by a SQLite file in the state folder so that tables survive a restart. In production the
 * same clients talk to Polaris, Nessie, Lakekeeper or a cloud catalog. Its warehouse is the local object store
 * (service `s3`, started first) unless ICEBERG_REST_WAREHOUSE names a `file://` folder.
 * Not started by a plain `stack:up`: `stack:up -- --with iceberg-rest`, or `startService('iceberg-rest')`.
 *
 * The fixture serves one warehouse and vends no credentials: clients bring their own S3 settings (the same
 * AWS_ENDPOINT_URL_S3 & co. as the server, contracts/src/object-store.ts).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { icebergS3Properties, objectStoreConfig } from '@pep/contracts/object-store';
import { ensureMavenArtifact, type MavenArtifact } from '../install.ts';
import { CACHE_DIR, serviceStateDir } from '../paths.ts';
import { startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';
import { localS3Env } from './s3.ts';

const { host, port } = SERVICE_DEFAULTS.icebergRest;
export const ICEBERG_REST_URI = `http://${host}:${port}`;
export const ICEBERG_REST_ARTIFACT: MavenArtifact = {
  groupId: 'org.apache.iceberg',
  artifactId: 'iceberg-open-api',
  version: '1.10.1',
  extension: 'jar',
};
const STATE = serviceStateDir('iceberg-rest');

/** The REST catalog's warehouse: ICEBERG_REST_WAREHOUSE, default s3://<local bucket>/rest-warehouse. */
export function icebergRestWarehouse(env: NodeJS.ProcessEnv = process.env): string {
  return env.ICEBERG_REST_WAREHOUSE || `s3://${SERVICE_DEFAULTS.s3.bucket}/rest-warehouse`;
}

/** A catalog property as the fixture reads it from its environment: CATALOG_ + `.`→`_`, `-`→`__`, upper case. */
export function catalogEnvName(property: string): string {
  return `CATALOG_${property.replaceAll('-', '__').replaceAll('.', '_').toUpperCase()}`;
}

function jarPath(): string {
  return join(CACHE_DIR, 'maven', ICEBERG_REST_ARTIFACT.groupId, 'iceberg-open-api-1.10.1.jar');
}

export const icebergRest: Service = {
  name: 'iceberg-rest',
  address: ICEBERG_REST_URI,
  startTimeoutMs: 120_000,
  optional: true,
  get dependsOn() {
    return icebergRestWarehouse().startsWith('s3://') ? (['s3'] as const) : ([] as const);
  },

  async ensureInstalled(log: Logger) {
    await ensureMavenArtifact(ICEBERG_REST_ARTIFACT, log);
  },

  async isHealthy() {
    try {
      const res = await fetch(`${ICEBERG_REST_URI}/v1/config`, { signal: AbortSignal.timeout(2000) });
      return res.ok && 'defaults' in ((await res.json()) as object);
    } catch {
      return false;
    }
  },

  async start() {
    mkdirSync(STATE, { recursive: true });
    const warehouse = icebergRestWarehouse();
    const props: Record<string, string> = {
      warehouse,
      // One SQLite connection: with the JdbcCatalog's default pool of two, two commits racing (two writers, or a
      // writer and a compaction) could each hold a read lock and wait for the other's write lock, failing both with
      // SQLITE_BUSY and leaving the file locked for every later request. One connection serialises the catalog's
      // statements (a commit is one conditional UPDATE, so the loser of a race is still refused, not lost); the busy
      // timeout covers any other process opening the file.
      uri: `jdbc:sqlite:file:${join(STATE, 'catalog.db')}?busy_timeout=10000`,
      clients: '1',
      'rest.port': String(port),
      'catalog.name': 'pep',
    };
    if (warehouse.startsWith('s3://')) {
      // The local store's settings unless the environment points somewhere else.
      const store = objectStoreConfig({ ...localS3Env(), ...process.env });
      Object.assign(props, { 'io-impl': 'org.apache.iceberg.aws.s3.S3FileIO', ...icebergS3Properties(store) });
    }
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(props)) env[catalogEnvName(k)] = v;
    return startDetached({
      service: 'iceberg-rest',
      command: 'java',
      // The fixture holds only catalog state; a small heap is plenty.
      args: ['-Xms64m', '-Xmx256m', `-Djava.io.tmpdir=${STATE}`, '-jar', jarPath()],
      env,
    });
  },
};
