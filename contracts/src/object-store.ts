/**
 * S3-compatible object storage for the lake, by configuration: one reading of the environment (region, endpoint,
 * path-style addressing, credentials) turned into the settings each engine wants, so that the lake writer, pyiceberg,
 * Trino, DuckDB and dbt all point at the same store the same way. Not an S3 client.
 *
 * Variables (the AWS SDKs' own names where one exists, so that workload identity and the usual tooling keep working):
 * `AWS_ENDPOINT_URL_S3` (or `AWS_ENDPOINT_URL`; unset: AWS S3 itself), `AWS_REGION` (or `AWS_DEFAULT_REGION`;
 * default us-east-1), `LAKE_S3_PATH_STYLE` (true for stores without virtual-hosted buckets; default true when an
 * endpoint is set, false for AWS), `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN` (unset: the
 * engines' default credential chain, e.g. an IAM role).
 */
import { ConfigError, envBool, envStr } from './env.ts';

export interface ObjectStoreConfig {
  /** Endpoint URL (scheme, host, port), or null for AWS S3. */
  readonly endpoint: string | null;
  readonly region: string;
  readonly pathStyle: boolean;
  readonly accessKeyId: string | null;
  readonly secretAccessKey: string | null;
  readonly sessionToken: string | null;
}

export function objectStoreConfig(env: NodeJS.ProcessEnv = process.env): ObjectStoreConfig {
  const endpoint = envStr(env, 'AWS_ENDPOINT_URL_S3', envStr(env, 'AWS_ENDPOINT_URL', '')) || null;
  if (endpoint !== null) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ConfigError(`AWS_ENDPOINT_URL_S3 must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ConfigError(`AWS_ENDPOINT_URL_S3 must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
    }
  }
  const accessKeyId = envStr(env, 'AWS_ACCESS_KEY_ID', '') || null;
  const secretAccessKey = envStr(env, 'AWS_SECRET_ACCESS_KEY', '') || null;
  if ((accessKeyId === null) !== (secretAccessKey === null)) {
    throw new ConfigError(
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (or neither, for an IAM role)',
    );
  }
  return Object.freeze({
    endpoint: endpoint?.replace(/\/+$/, '') ?? null,
    region: envStr(env, 'AWS_REGION', envStr(env, 'AWS_DEFAULT_REGION', 'us-east-1')),
    pathStyle: envBool(env, 'LAKE_S3_PATH_STYLE', endpoint !== null),
    accessKeyId,
    secretAccessKey,
    sessionToken: envStr(env, 'AWS_SESSION_TOKEN', '') || null,
  });
}

/** Properties of Iceberg's FileIO for S3, as iceberg-rust, pyiceberg and Java's S3FileIO name them. */
export function icebergS3Properties(c: ObjectStoreConfig): Record<string, string> {
  return {
    's3.region': c.region,
    'client.region': c.region,
    's3.path-style-access': String(c.pathStyle),
    ...(c.endpoint ? { 's3.endpoint': c.endpoint } : {}),
    ...(c.accessKeyId ? { 's3.access-key-id': c.accessKeyId } : {}),
    ...(c.secretAccessKey ? { 's3.secret-access-key': c.secretAccessKey } : {}),
    ...(c.sessionToken ? { 's3.session-token': c.sessionToken } : {}),
  };
}

/** Lines of a Trino catalog file (native S3 file system, Trino 476). */
export function trinoS3Properties(c: ObjectStoreConfig): Record<string, string> {
  return {
    'fs.native-s3.enabled': 'true',
    's3.region': c.region,
    's3.path-style-access': String(c.pathStyle),
    ...(c.endpoint ? { 's3.endpoint': c.endpoint } : {}),
    ...(c.accessKeyId ? { 's3.aws-access-key': c.accessKeyId } : {}),
    ...(c.secretAccessKey ? { 's3.aws-secret-key': c.secretAccessKey } : {}),
  };
}

const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** DuckDB (httpfs) secret for the store: `CREATE OR REPLACE SECRET <name> (TYPE s3, ...)`. */
export function duckdbS3Secret(c: ObjectStoreConfig, name = 'pep_lake'): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name))
    throw new ConfigError(`DuckDB secret name ${JSON.stringify(name)} is not an identifier`);
  const parts: string[] = ['TYPE s3', `REGION ${sqlString(c.region)}`];
  if (c.accessKeyId && c.secretAccessKey) {
    parts.push(`KEY_ID ${sqlString(c.accessKeyId)}`, `SECRET ${sqlString(c.secretAccessKey)}`);
    if (c.sessionToken) parts.push(`SESSION_TOKEN ${sqlString(c.sessionToken)}`);
  } else {
    parts.push('PROVIDER credential_chain');
  }
  if (c.endpoint) {
    const url = new URL(c.endpoint);
    parts.push(`ENDPOINT ${sqlString(url.host)}`, `USE_SSL ${url.protocol === 'https:'}`);
  }
  parts.push(`URL_STYLE ${sqlString(c.pathStyle ? 'path' : 'vhost')}`);
  return `CREATE OR REPLACE SECRET ${name} (${parts.join(', ')})`;
}

/** `settings` of a dbt-duckdb profile (DuckDB's s3_* options). */
export function dbtDuckdbS3Settings(c: ObjectStoreConfig): Record<string, string | boolean> {
  const settings: Record<string, string | boolean> = {
    s3_region: c.region,
    s3_url_style: c.pathStyle ? 'path' : 'vhost',
  };
  if (c.endpoint) {
    const url = new URL(c.endpoint);
    settings.s3_endpoint = url.host;
    settings.s3_use_ssl = url.protocol === 'https:';
  }
  if (c.accessKeyId && c.secretAccessKey) {
    settings.s3_access_key_id = c.accessKeyId;
    settings.s3_secret_access_key = c.secretAccessKey;
  }
  return settings;
}

/** The config with its secrets replaced, for logs and errors. */
export function describeObjectStore(c: ObjectStoreConfig): Record<string, unknown> {
  return {
    endpoint: c.endpoint ?? 'AWS S3',
    region: c.region,
    pathStyle: c.pathStyle,
    credentials: c.accessKeyId ? 'access key [redacted]' : 'default credential chain',
  };
}
