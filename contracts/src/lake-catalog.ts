/**
 * Which Iceberg catalog the lake lives in (CONTRACT section 8), read once from the environment for every party that
 * opens it: the lake writer and DuckDB (lakehouse/src/config.ts), the stack's Trino (`iceberg.catalog.type`), the
 * chart. LAKE_CATALOG_TYPE=sql (default; `jdbc` is the same) is Iceberg's SQL catalog in PostgreSQL;
 * LAKE_CATALOG_TYPE=rest is an Iceberg REST catalog at LAKE_CATALOG_URI, asked for LAKE_CATALOG_WAREHOUSE, with the
 * OAuth2 client credentials LAKE_CATALOG_CREDENTIAL (never quoted in errors).
 */
import { ConfigError, type Env, envOneOf, envStr, redactUrl } from './env.ts';

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

/**
 * Trino Iceberg connector properties for a REST catalog (`iceberg.catalog.type=rest`). The credential is not written
 * into the file: Trino reads it from its own environment (`${ENV:LAKE_CATALOG_CREDENTIAL}`), so the process that starts
 * Trino must carry LAKE_CATALOG_CREDENTIAL.
 */
export function trinoRestCatalogProperties(rest: LakeRestCatalog): Record<string, string> {
  const props: Record<string, string> = {
    'iceberg.catalog.type': 'rest',
    'iceberg.rest-catalog.uri': rest.uri,
  };
  if (rest.warehouse) props['iceberg.rest-catalog.warehouse'] = rest.warehouse;
  if (rest.credential) {
    props['iceberg.rest-catalog.security'] = 'OAUTH2';
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Trino's own `${ENV:…}` substitution, not a template
    props['iceberg.rest-catalog.oauth2.credential'] = '${ENV:LAKE_CATALOG_CREDENTIAL}';
  }
  return props;
}
