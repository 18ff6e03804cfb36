/**
 * How the platform reaches managed Temporal, PostgreSQL and Redis over TLS, from the environment (the chart sets these
 * variables; locally none is set and everything stays plaintext on 127.0.0.1):
 *
 * - Temporal (`temporalConnection`): `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `TEMPORAL_TLS=true` (server certificate
 *   checked against the system CAs or `TEMPORAL_TLS_CA_FILE`, host name verified; `TEMPORAL_TLS_SERVER_NAME` overrides
 *   the name checked), mTLS with `TEMPORAL_TLS_CERT_FILE` + `TEMPORAL_TLS_KEY_FILE`, or Temporal Cloud's API key
 *   `TEMPORAL_API_KEY` (implies TLS). The result fits both `Connection.connect` (clients) and `NativeConnection.connect`
 *   (workers) of the Temporal SDK.
 * - PostgreSQL: `DATABASE_URL` with libpq's parameters, e.g. `?sslmode=verify-full&sslrootcert=/path/ca.crt`, read by
 *   node-postgres itself; `checkDatabaseUrl` refuses what would silently weaken it (an sslrootcert file that is missing).
 * - Redis (`redisConnection`): `REDIS_URL` `rediss://user:password@host:6380/0` (TLS, ACL user) and
 *   `REDIS_TLS_CA_FILE` (a private CA); host name verified. The result is ioredis's `(url, options)`.
 *
 * Errors are `ConfigError`s that name the variable; secrets (API key, passwords in URLs) never appear in them, and
 * `describe*` give what may be logged.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, type Env, envBool, envStr, redactUrl } from './env.ts';
import { Secret } from './kafka-security.ts';
import { SERVICE_DEFAULTS } from './services.ts';

export interface TemporalTls {
  /** The name the server certificate must carry (default: the host of TEMPORAL_ADDRESS). */
  readonly serverNameOverride?: string;
  /** PEM CA bundle; absent: the system's CAs. */
  readonly serverRootCACertificate?: Buffer;
  /** mTLS client certificate and key (PEM). */
  readonly clientCertPair?: { readonly crt: Buffer; readonly key: Buffer };
}

export interface TemporalConnectionConfig {
  readonly address: string;
  readonly namespace: string;
  /** false: plaintext (local dev server). */
  readonly tls: TemporalTls | false;
  readonly apiKey: Secret | null;
}

function readPem(env: Env, name: string, what: string): Buffer {
  const file = env[name];
  if (!file) throw new ConfigError(`${name} is empty`);
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${name}=${file}: cannot read the ${what}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (!pem.includes('-----BEGIN ')) throw new ConfigError(`${name}=${file}: not a PEM file (${what})`);
  return pem;
}

/** Reads and validates the Temporal variables (files are read here: a wrong path fails at start, not at connect). */
export function loadTemporalConnection(env: Env = process.env): TemporalConnectionConfig {
  const d = SERVICE_DEFAULTS.temporal;
  const address = envStr(env, 'TEMPORAL_ADDRESS', `${d.host}:${d.port}`);
  if (!/^[^\s:]+:\d{1,5}$/.test(address)) throw new ConfigError(`TEMPORAL_ADDRESS must be host:port, got ${address}`);
  const namespace = envStr(env, 'TEMPORAL_NAMESPACE', d.namespace);
  const apiKeyRaw = env.TEMPORAL_API_KEY?.trim();
  const apiKey = apiKeyRaw ? new Secret(apiKeyRaw) : null;
  const hasCert = Boolean(env.TEMPORAL_TLS_CERT_FILE);
  const hasKey = Boolean(env.TEMPORAL_TLS_KEY_FILE);
  if (hasCert !== hasKey)
    throw new ConfigError('TEMPORAL_TLS_CERT_FILE and TEMPORAL_TLS_KEY_FILE go together (mTLS needs both)');
  const implied = apiKey !== null || hasCert || Boolean(env.TEMPORAL_TLS_CA_FILE);
  const tlsOn = envBool(env, 'TEMPORAL_TLS', implied);
  if (!tlsOn && implied)
    throw new ConfigError(
      'TEMPORAL_TLS=false, but TEMPORAL_API_KEY or TEMPORAL_TLS_*_FILE is set: an API key or a certificate needs TLS',
    );
  if (!tlsOn) return Object.freeze({ address, namespace, tls: false, apiKey: null });
  const serverName = env.TEMPORAL_TLS_SERVER_NAME?.trim();
  const tls: TemporalTls = {
    ...(serverName ? { serverNameOverride: serverName } : {}),
    ...(env.TEMPORAL_TLS_CA_FILE ? { serverRootCACertificate: readPem(env, 'TEMPORAL_TLS_CA_FILE', 'CA bundle') } : {}),
    ...(hasCert
      ? {
          clientCertPair: {
            crt: readPem(env, 'TEMPORAL_TLS_CERT_FILE', 'client certificate'),
            key: readPem(env, 'TEMPORAL_TLS_KEY_FILE', 'client key'),
          },
        }
      : {}),
  };
  return Object.freeze({ address, namespace, tls, apiKey });
}

/**
 * Options for the Temporal SDK's `Connection.connect` and `NativeConnection.connect` (address, tls, apiKey), from the
 * environment or a loaded config.
 */
export function temporalConnection(cfg: TemporalConnectionConfig = loadTemporalConnection()): {
  address: string;
  tls?: TemporalTls;
  apiKey?: string;
} {
  return {
    address: cfg.address,
    ...(cfg.tls ? { tls: cfg.tls } : {}),
    ...(cfg.apiKey ? { apiKey: cfg.apiKey.reveal() } : {}),
  };
}

/** What may be logged about the Temporal connection. */
export function describeTemporalConnection(cfg: TemporalConnectionConfig): string {
  if (!cfg.tls) return `${cfg.address} namespace ${cfg.namespace}, plaintext`;
  const parts = [
    cfg.tls.serverRootCACertificate ? 'CA file' : 'system CAs',
    cfg.tls.clientCertPair ? 'client certificate' : null,
    cfg.apiKey ? 'API key' : null,
    cfg.tls.serverNameOverride ? `server name ${cfg.tls.serverNameOverride}` : null,
  ].filter(Boolean);
  return `${cfg.address} namespace ${cfg.namespace}, TLS (${parts.join(', ')})`;
}

/**
 * Checks a DATABASE_URL's TLS parameters before node-postgres uses them: a known sslmode, and the files it names
 * readable (node-postgres would otherwise fail at the first query, far from the cause). Returns the URL unchanged.
 */
export function checkDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`DATABASE_URL is not a URL (${redactUrl(url)})`);
  }
  const mode = parsed.searchParams.get('sslmode');
  const modes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];
  if (mode !== null && !modes.includes(mode))
    throw new ConfigError(`DATABASE_URL sslmode must be one of ${modes.join(', ')}, got ${mode}`);
  for (const p of ['sslrootcert', 'sslcert', 'sslkey']) {
    const file = parsed.searchParams.get(p);
    if (!file) continue;
    try {
      readFileSync(file);
    } catch (err) {
      throw new ConfigError(`DATABASE_URL ${p}=${file}: cannot read it: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  return url;
}

export interface RedisConnection {
  readonly url: string;
  /** ioredis options: `tls` when the URL is rediss:// (CA from REDIS_TLS_CA_FILE, host name verified). */
  readonly options: { tls?: { ca?: Buffer; servername?: string } };
}

/** REDIS_URL (+ REDIS_TLS_CA_FILE) as ioredis's `new Redis(url, options)`. */
export function redisConnection(env: Env = process.env): RedisConnection {
  const d = SERVICE_DEFAULTS.redis;
  const url = envStr(env, 'REDIS_URL', `redis://${d.host}:${d.port}`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`REDIS_URL is not a URL (${redactUrl(url)})`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:')
    throw new ConfigError(`REDIS_URL must start with redis:// or rediss:// (TLS), got ${parsed.protocol}//`);
  const tls = parsed.protocol === 'rediss:';
  if (!tls) {
    if (env.REDIS_TLS_CA_FILE)
      throw new ConfigError('REDIS_TLS_CA_FILE is set but REDIS_URL is redis:// (plaintext): use rediss://');
    return Object.freeze({ url, options: {} });
  }
  return Object.freeze({
    url,
    options: {
      tls: {
        servername: parsed.hostname,
        ...(env.REDIS_TLS_CA_FILE ? { ca: readPem(env, 'REDIS_TLS_CA_FILE', 'CA bundle') } : {}),
      },
    },
  });
}

/**
 * `temporalConnection` for a service whose config already resolved the address (its own TEMPORAL_ADDRESS reading):
 * `Connection.connect({ ...temporalConnectionOptions(config.temporalAddress) })`.
 */
export function temporalConnectionOptions(
  address?: string,
  env: Env = process.env,
): ReturnType<typeof temporalConnection> {
  return temporalConnection(loadTemporalConnection(address ? { ...env, TEMPORAL_ADDRESS: address } : env));
}

/** `redisConnection` for a URL a service's config already resolved: `new Redis(c.url, { ...c.options, ... })`. */
export function redisConnectionFor(url: string, env: Env = process.env): RedisConnection {
  return redisConnection({ ...env, REDIS_URL: url });
}
