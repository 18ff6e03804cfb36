/**
 * Lakehouse configuration (CONTRACT section 8), validated once into a frozen object: the catalog (Iceberg's SQL
 * catalog in PostgreSQL by default, or an Iceberg REST catalog with LAKE_CATALOG_TYPE=rest), the warehouse (local
 * folder by default, S3-compatible by URL), the writer's file settings and the query engines.
 * Every variable is documented in lakehouse/README.md "Configuration". Not the sink's Kafka settings (pipeline).
 */
import { mkdirSync } from 'node:fs';
import { LAKE_CATALOG_NAME, lakeWarehouseDir, SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { ConfigError, type Env, envInt, envStr, redactUrl } from '@pep/contracts/env';
import { type LakeCatalogType, type LakeRestCatalog, loadCatalogChoice } from '@pep/contracts/lake-catalog';
import {
  describeObjectStore,
  icebergS3Properties,
  type ObjectStoreConfig,
  objectStoreConfig,
} from '@pep/contracts/object-store';
import { CACHE_DIR, STATE_DIR } from '@pep/stack/paths';

// The catalog choice is read in contracts (one reading for the writer, DuckDB and the stack's Trino).
export { type LakeCatalogType, type LakeRestCatalog, loadCatalogChoice };

/** The default warehouse: `<stack state>/lake/warehouse` (the stack's STATE_DIR, moved by STACK_DIR). */
export function defaultWarehouse(): string {
  return lakeWarehouseDir(STATE_DIR);
}

export interface LakeConfig {
  /** LAKE_CATALOG_TYPE: `sql` (default; `jdbc`, the chart's name for it, is the same) or `rest`. */
  readonly catalogType: LakeCatalogType;
  /** PostgreSQL URL of the Iceberg SQL catalog (LAKE_CATALOG_URL, default DATABASE_URL). */
  readonly catalogUrl: string;
  /** The REST catalog when catalogType is `rest`, else null. */
  readonly rest: LakeRestCatalog | null;
  readonly catalogName: string;
  /** `file:///abs/dir` or `s3://bucket/prefix` (LAKE_WAREHOUSE). */
  readonly warehouse: string;
  /** True when LAKE_WAREHOUSE was not set: the default folder is created on first use; a configured one never is. */
  readonly warehouseIsDefault: boolean;
  /** The object store (contracts/src/object-store.ts: AWS_ENDPOINT_URL_S3, AWS_REGION, …) for s3:// warehouses. */
  readonly s3: ObjectStoreConfig | null;
  readonly zstdLevel: number;
  readonly targetFileBytes: number;
  readonly trinoUrl: string;
  /** Where DuckDB's iceberg/avro extensions are unpacked (per machine). */
  readonly cacheDir: string;
}

function toWarehouseUri(value: string): string {
  if (value.startsWith('s3://') || value.startsWith('s3a://') || value.startsWith('file://'))
    return value.replace(/\/+$/, '');
  if (value.startsWith('/')) return `file://${value.replace(/\/+$/, '')}`;
  throw new ConfigError(
    `LAKE_WAREHOUSE must be an absolute path, file:///… or s3://bucket/prefix, got ${JSON.stringify(value)}`,
  );
}

export function loadLakeConfig(env: Env = process.env): LakeConfig {
  const addr = serviceAddresses(env as NodeJS.ProcessEnv);
  const warehouseIsDefault = !env.LAKE_WAREHOUSE;
  const catalog = loadCatalogChoice(env);
  if (catalog.catalogType === 'rest' && warehouseIsDefault)
    throw new ConfigError(
      "LAKE_CATALOG_TYPE=rest needs LAKE_WAREHOUSE: the REST catalog's warehouse location (s3://bucket/prefix, or its local folder), which picks the writer's file IO and S3 settings",
    );
  const warehouse = toWarehouseUri(env.LAKE_WAREHOUSE || defaultWarehouse());
  const isS3 = warehouse.startsWith('s3');
  const { host, port } = SERVICE_DEFAULTS.trino;
  return Object.freeze({
    ...catalog,
    catalogUrl: envStr(env, 'LAKE_CATALOG_URL', addr.databaseUrl),
    catalogName: envStr(env, 'LAKE_CATALOG_NAME', LAKE_CATALOG_NAME),
    warehouse,
    warehouseIsDefault,
    s3: isS3 ? objectStoreConfig(env as NodeJS.ProcessEnv) : null,
    zstdLevel: envInt(env, 'LAKE_ZSTD_LEVEL', 3, 1, 22),
    targetFileBytes: envInt(env, 'LAKE_TARGET_FILE_BYTES', 128 << 20, 1 << 20, 2 << 30),
    trinoUrl: envStr(env, 'TRINO_URL', `http://${host}:${port}`),
    cacheDir: CACHE_DIR,
  });
}

/** The local folder of a `file://` warehouse (undefined for S3). */
export function warehousePath(cfg: LakeConfig): string | undefined {
  return cfg.warehouse.startsWith('file://') ? cfg.warehouse.slice('file://'.length) : undefined;
}

/** Creates the DEFAULT warehouse folder; a configured one that is missing stays missing (the writer says so). */
export function ensureDefaultWarehouse(cfg: LakeConfig): void {
  const path = warehousePath(cfg);
  if (cfg.warehouseIsDefault && path) mkdirSync(path, { recursive: true });
}

/** Catalog/FileIO properties for the Rust writer (S3 credentials go here, never into logs). */
export function writerProps(cfg: LakeConfig): Record<string, string> {
  return cfg.s3 ? icebergS3Properties(cfg.s3) : {};
}

/** The configuration as it may be printed. */
export function describeLakeConfig(cfg: LakeConfig): Record<string, unknown> {
  return {
    catalogType: cfg.catalogType,
    catalog: cfg.rest ? redactUrl(cfg.rest.uri) : redactUrl(cfg.catalogUrl),
    ...(cfg.rest
      ? { catalogWarehouse: cfg.rest.warehouse, catalogCredential: cfg.rest.credential ? 'set' : 'unset' }
      : {}),
    catalogName: cfg.catalogName,
    warehouse: cfg.warehouse,
    s3: cfg.s3 ? describeObjectStore(cfg.s3) : null,
    trino: cfg.trinoUrl,
  };
}
