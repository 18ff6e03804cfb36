/**
 * Lakehouse configuration (CONTRACT section 8), validated once into a frozen object: the catalog (Iceberg's SQL
 * catalog in PostgreSQL by default, or an Iceberg REST catalog with LAKE_CATALOG_TYPE=rest), the warehouse (local
 * folder by default, S3-compatible by URL), the writer's file settings and the query engines.
 * Every variable is documented in lakehouse/README.md "Configuration". Not the sink's Kafka settings (pipeline).
 */
import { mkdirSync } from 'node:fs';
import { LAKE_CATALOG_NAME, lakeWarehouseDir, SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { ConfigError, type Env, envInt, envOneOf, envStr, redactUrl } from '@pep/contracts/env';
import {
  describeObjectStore,
  icebergS3Properties,
  type ObjectStoreConfig,
  objectStoreConfig,
} from '@pep/contracts/object-store';
import { CACHE_DIR, STATE_DIR } from '@pep/stack/paths';

/** The default warehouse: `<stack state>/lake/warehouse` (the stack's STATE_DIR, moved by STACK_DIR). */
export function defaultWarehouse(): string {
  return lakeWarehouseDir(STATE_DIR);
}

/** `sql`: Iceberg's SQL catalog in PostgreSQL (the JDBC catalog's layout); `rest`: an Iceberg REST catalog. */
export type LakeCatalogType = 'sql' | 'rest';

/** The REST catalog's settings (LAKE_CATALOG_TYPE=rest). */
export interface LakeRestCatalog {
  /** Base URL of the catalog, the one before `/v1/config` (LAKE_CATALOG_URI). */
  readonly uri: string;
  /** The `warehouse` asked of the catalog, a name or a location, catalog-specific (LAKE_CATALOG_WAREHOUSE). */
  readonly warehouse: string | null;
  /** OAuth2 client credentials `<client id>:<secret>` (LAKE_CATALOG_CREDENTIAL). Never logged. */
  readonly credential: string | null;
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

const REST_ONLY = ['LAKE_CATALOG_URI', 'LAKE_CATALOG_WAREHOUSE', 'LAKE_CATALOG_CREDENTIAL'] as const;

/** LAKE_CATALOG_TYPE and, for `rest`, LAKE_CATALOG_URI/WAREHOUSE/CREDENTIAL (errors never quote the credential). */
export function loadCatalogChoice(env: Env): { catalogType: LakeCatalogType; rest: LakeRestCatalog | null } {
  const raw = envOneOf(env, 'LAKE_CATALOG_TYPE', 'sql', ['sql', 'jdbc', 'rest'] as const);
  const catalogType: LakeCatalogType = raw === 'rest' ? 'rest' : 'sql';
  if (catalogType === 'sql') {
    const stray = REST_ONLY.filter((n) => env[n]?.trim());
    if (stray.length > 0)
      throw new ConfigError(
        `${stray.join(', ')} ${stray.length === 1 ? 'is' : 'are'} only read with LAKE_CATALOG_TYPE=rest; set LAKE_CATALOG_TYPE=rest to use the REST catalog, or unset ${stray.length === 1 ? 'it' : 'them'}`,
      );
    return { catalogType, rest: null };
  }
  const uri = envStr(env, 'LAKE_CATALOG_URI', '');
  if (!uri)
    throw new ConfigError(
      "LAKE_CATALOG_TYPE=rest needs LAKE_CATALOG_URI, the REST catalog's base URL (e.g. http://127.0.0.1:8181)",
    );
  const parsed = URL.canParse(uri) ? new URL(uri) : null;
  if (parsed?.protocol !== 'http:' && parsed?.protocol !== 'https:')
    throw new ConfigError(`LAKE_CATALOG_URI must be an http:// or https:// URL, got ${JSON.stringify(redactUrl(uri))}`);
  if (parsed.username || parsed.password)
    throw new ConfigError(
      'LAKE_CATALOG_URI must not carry credentials; put the OAuth2 client credentials in LAKE_CATALOG_CREDENTIAL',
    );
  const credential = envStr(env, 'LAKE_CATALOG_CREDENTIAL', '') || null;
  if (credential !== null) {
    const colon = credential.indexOf(':');
    if (colon <= 0 || colon === credential.length - 1)
      throw new ConfigError(
        'LAKE_CATALOG_CREDENTIAL must be OAuth2 client credentials `<client id>:<secret>` (the value is not shown)',
      );
  }
  return {
    catalogType,
    rest: Object.freeze({
      uri: uri.replace(/\/+$/, ''),
      warehouse: envStr(env, 'LAKE_CATALOG_WAREHOUSE', '') || null,
      credential,
    }),
  };
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
