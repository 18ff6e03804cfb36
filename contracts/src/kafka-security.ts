/**
 * How every Kafka client of the platform reaches the brokers: the broker list, TLS (CA bundle, client certificate and
 * key for mTLS, hostname verification on by default) and SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER with a
 * token provider). One set of variables, read and validated once at start, used by kafka-wire (edge, transformer) and
 * by every kafkajs client (bridge, quarantine, reconcile, admin, the lake sink) through `kafkajsConnection`.
 *
 * Secrets (the SASL password, a client key, an OAuth token) never reach a log line or an error message: the password
 * is held in a `Secret` that prints as `[redacted]`, and `describeKafkaConnection` is what gets logged.
 * Not for: topic names or client tuning (each service's own config).
 */

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError, type Env, envBool, envList, envOneOf, envStr } from './env.ts';
import { SERVICE_DEFAULTS } from './services.ts';

export const KAFKA_SECURITY_PROTOCOLS = ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] as const;
export type KafkaSecurityProtocol = (typeof KAFKA_SECURITY_PROTOCOLS)[number];
export const KAFKA_SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];
// Named, not inline: the configuration-reference check reads a NAME literal passed beside `env` as a variable.
const DEFAULT_PROTOCOL: KafkaSecurityProtocol = 'PLAINTEXT';
const DEFAULT_MECHANISM: KafkaSaslMechanism = 'PLAIN';
const PEM_CERTIFICATE = 'CERTIFICATE';

/** A secret string that never prints: `String(s)`, `JSON.stringify` and `util.inspect` all show `[redacted]`. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The secret itself, for the one place that sends it (a SASL exchange, a client library's option). */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]';
  }
}

/** An OAuth 2 bearer token for SASL/OAUTHBEARER (RFC 7628), as a token provider returns it. */
export interface OAuthBearerToken {
  /** The compact token (a JWT, or an MSK IAM signed URL token): sent as `auth=Bearer <value>`. */
  readonly value: string;
  /** SASL extensions (KIP-342), e.g. Confluent Cloud's `logicalCluster` and `identityPoolId`. */
  readonly extensions?: Readonly<Record<string, string>>;
}

/** Called at every SASL authentication (each new broker connection and each re-authentication): return a fresh token. */
export type OAuthBearerTokenProvider = () => Promise<OAuthBearerToken>;

export type KafkaSasl =
  | {
      readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
      readonly username: string;
      readonly password: Secret;
    }
  | { readonly mechanism: 'OAUTHBEARER'; readonly tokenProvider: OAuthBearerTokenProvider };

export interface KafkaTls {
  /** PEM CA bundle that must have signed the broker's certificate; null: the runtime's public CAs. */
  readonly ca: string | null;
  /** PEM client certificate chain and key (mTLS); both or neither. */
  readonly cert: string | null;
  readonly key: Secret | null;
  /** Verify that the certificate names the broker's host (on unless KAFKA_SSL_CHECK_HOSTNAME=false). */
  readonly checkHostname: boolean;
  /** Where ca/cert/key came from, for describing the configuration. */
  readonly files: { readonly ca: string | null; readonly cert: string | null; readonly key: string | null };
}

export interface KafkaConnectionConfig {
  /** Bootstrap brokers as 'host:port'. */
  readonly brokers: readonly string[];
  readonly protocol: KafkaSecurityProtocol;
  /** Present for SSL and SASL_SSL. */
  readonly tls: KafkaTls | null;
  /** Present for SASL_PLAINTEXT and SASL_SSL. */
  readonly sasl: KafkaSasl | null;
}

/** The variables this module reads (README "Kafka connection"). */
export const KAFKA_CONNECTION_VARIABLES = [
  'KAFKA_BROKERS',
  'KAFKA_SECURITY_PROTOCOL',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE',
  'KAFKA_SASL_OAUTHBEARER_PROVIDER',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SSL_CERT_FILE',
  'KAFKA_SSL_KEY_FILE',
  'KAFKA_SSL_CHECK_HOSTNAME',
  'KAFKA_COMPRESSION',
] as const;

/** Largest PEM or token file read (a CA bundle of every public CA is ~220 KiB). */
const MAX_FILE_BYTES = 1 << 20;

function readPem(env: Env, name: string, kind: 'CERTIFICATE' | 'PRIVATE KEY'): { text: string; file: string } | null {
  const file = envStr(env, name, '');
  if (!file) return null;
  let text: string;
  try {
    const buf = readFileSync(file);
    if (buf.length > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    throw new ConfigError(
      `${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  // Keys: "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY".
  if (!new RegExp(`-----BEGIN [A-Z ]*${kind}-----`).test(text))
    throw new ConfigError(`${name}: ${file} holds no PEM ${kind === 'CERTIFICATE' ? 'certificate' : 'private key'}`);
  return { text, file };
}

/** Reads a bearer token from a file at every authentication (a sidecar or a Kubernetes projected token keeps it fresh). */
export function tokenFileProvider(file: string): OAuthBearerTokenProvider {
  return async () => {
    const { readFile } = await import('node:fs/promises');
    const value = (await readFile(file, 'utf8')).trim();
    if (!value) throw new Error(`KAFKA_SASL_OAUTHBEARER_TOKEN_FILE ${file} is empty`);
    return { value };
  };
}

/**
 * Loads a token provider from a module (`KAFKA_SASL_OAUTHBEARER_PROVIDER`: a package name or a file path) that exports
 * `tokenProvider` (or a default export) of type OAuthBearerTokenProvider. Loaded at the first authentication.
 */
export function moduleTokenProvider(specifier: string): OAuthBearerTokenProvider {
  let loaded: Promise<OAuthBearerTokenProvider> | null = null;
  return async () => {
    loaded ??= import(specifier.startsWith('/') ? `file://${specifier}` : specifier).then((m) => {
      const fn = m.tokenProvider ?? m.default;
      if (typeof fn !== 'function')
        throw new Error(`KAFKA_SASL_OAUTHBEARER_PROVIDER ${specifier} exports no tokenProvider function`);
      return fn as OAuthBearerTokenProvider;
    });
    return (await loaded)();
  };
}

export interface LoadKafkaConnectionOptions {
  /** OAUTHBEARER: the token provider (wins over the variables). */
  readonly tokenProvider?: OAuthBearerTokenProvider;
}

/**
 * The Kafka connection settings from the environment, validated; a bad or missing value throws a ConfigError that
 * names the variable (never a secret's value). Defaults: the local broker, PLAINTEXT.
 */
export function loadKafkaConnection(
  env: Env = process.env,
  options: LoadKafkaConnectionOptions = {},
): KafkaConnectionConfig {
  const d = SERVICE_DEFAULTS.kafka;
  const brokers = envList(env, 'KAFKA_BROKERS', [`${d.host}:${d.port}`], 1);
  for (const b of brokers) {
    const i = b.lastIndexOf(':');
    const port = Number(b.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535)
      throw new ConfigError(`KAFKA_BROKERS: ${JSON.stringify(b)} is not host:port`);
  }
  const protocol = envOneOf<KafkaSecurityProtocol>(
    env,
    'KAFKA_SECURITY_PROTOCOL',
    DEFAULT_PROTOCOL,
    KAFKA_SECURITY_PROTOCOLS,
  );
  const usesTls = protocol === 'SSL' || protocol === 'SASL_SSL';
  const usesSasl = protocol === 'SASL_PLAINTEXT' || protocol === 'SASL_SSL';

  const tlsVars = ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'].filter((n) => envStr(env, n, ''));
  if (!usesTls && tlsVars.length > 0)
    throw new ConfigError(`${tlsVars.join(', ')} set but KAFKA_SECURITY_PROTOCOL is ${protocol} (use SSL or SASL_SSL)`);
  let tls: KafkaTls | null = null;
  if (usesTls) {
    const ca = readPem(env, 'KAFKA_SSL_CA_FILE', PEM_CERTIFICATE);
    const cert = readPem(env, 'KAFKA_SSL_CERT_FILE', PEM_CERTIFICATE);
    const key = readPem(env, 'KAFKA_SSL_KEY_FILE', 'PRIVATE KEY');
    if (!cert !== !key)
      throw new ConfigError('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together (mTLS needs both)');
    tls = Object.freeze({
      ca: ca?.text ?? null,
      cert: cert?.text ?? null,
      key: key ? new Secret(key.text) : null,
      checkHostname: envBool(env, 'KAFKA_SSL_CHECK_HOSTNAME', true),
      files: Object.freeze({ ca: ca?.file ?? null, cert: cert?.file ?? null, key: key?.file ?? null }),
    });
  }

  const saslVars = [
    'KAFKA_SASL_MECHANISM',
    'KAFKA_SASL_USERNAME',
    'KAFKA_SASL_PASSWORD',
    'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE',
    'KAFKA_SASL_OAUTHBEARER_PROVIDER',
  ].filter((n) => envStr(env, n, ''));
  if (!usesSasl && saslVars.length > 0)
    throw new ConfigError(
      `${saslVars.join(', ')} set but KAFKA_SECURITY_PROTOCOL is ${protocol} (use SASL_SSL or SASL_PLAINTEXT)`,
    );
  let sasl: KafkaSasl | null = null;
  if (usesSasl) {
    if (!envStr(env, 'KAFKA_SASL_MECHANISM', ''))
      throw new ConfigError(
        `KAFKA_SECURITY_PROTOCOL ${protocol} needs KAFKA_SASL_MECHANISM (${KAFKA_SASL_MECHANISMS.join(', ')})`,
      );
    const mechanism = envOneOf<KafkaSaslMechanism>(
      env,
      'KAFKA_SASL_MECHANISM',
      DEFAULT_MECHANISM,
      KAFKA_SASL_MECHANISMS,
    );
    if (mechanism === 'OAUTHBEARER') {
      const file = envStr(env, 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', '');
      const module = envStr(env, 'KAFKA_SASL_OAUTHBEARER_PROVIDER', '');
      if (file && module)
        throw new ConfigError('set KAFKA_SASL_OAUTHBEARER_TOKEN_FILE or KAFKA_SASL_OAUTHBEARER_PROVIDER, not both');
      const tokenProvider =
        options.tokenProvider ?? (file ? tokenFileProvider(file) : module ? moduleTokenProvider(module) : null);
      if (!tokenProvider)
        throw new ConfigError(
          'KAFKA_SASL_MECHANISM OAUTHBEARER needs a token provider: KAFKA_SASL_OAUTHBEARER_TOKEN_FILE, KAFKA_SASL_OAUTHBEARER_PROVIDER or the tokenProvider option',
        );
      sasl = Object.freeze({ mechanism, tokenProvider });
    } else {
      const username = envStr(env, 'KAFKA_SASL_USERNAME', '');
      const password = env.KAFKA_SASL_PASSWORD ?? '';
      if (!username) throw new ConfigError(`KAFKA_SASL_MECHANISM ${mechanism} needs KAFKA_SASL_USERNAME`);
      if (!password) throw new ConfigError(`KAFKA_SASL_MECHANISM ${mechanism} needs KAFKA_SASL_PASSWORD`);
      sasl = Object.freeze({ mechanism, username, password: new Secret(password) });
    }
  }
  return Object.freeze({ brokers: Object.freeze(brokers), protocol, tls, sasl });
}

/** Codecs the platform's producers (edge, transformer) may write: KAFKA_COMPRESSION, default none. */
export const KAFKA_COMPRESSION_CODECS = ['none', 'lz4', 'zstd', 'gzip'] as const;
export type KafkaCompression = (typeof KAFKA_COMPRESSION_CODECS)[number];

/** KAFKA_COMPRESSION: how the edge's and the transformer's producers compress record batches (off by default). */
export function loadKafkaCompression(env: Env = process.env): KafkaCompression {
  return envOneOf<KafkaCompression>(env, 'KAFKA_COMPRESSION', 'none', KAFKA_COMPRESSION_CODECS);
}

/** One line for logs: protocol, mechanism, user, files; never a password, key or token. */
export function describeKafkaConnection(c: KafkaConnectionConfig): string {
  const parts = [`brokers=${c.brokers.join(',')}`, `security=${c.protocol}`];
  if (c.sasl) {
    parts.push(`sasl=${c.sasl.mechanism}`);
    if (c.sasl.mechanism !== 'OAUTHBEARER') parts.push(`user=${c.sasl.username}`);
  }
  if (c.tls) {
    parts.push(`ca=${c.tls.files.ca ?? 'system'}`);
    if (c.tls.files.cert) parts.push(`client-cert=${c.tls.files.cert}`);
    if (!c.tls.checkHostname) parts.push('hostname-check=off');
  }
  return parts.join(' ');
}

/** node:tls options for a broker at `host` (servername for SNI unless `host` is an IP address). */
export function tlsConnectOptions(tls: KafkaTls, host: string) {
  return {
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key.reveal() } : {}),
    ...(isIP(host) ? {} : { servername: host }),
    rejectUnauthorized: true,
    // Chain verification stays on; only the name check goes (KAFKA_SSL_CHECK_HOSTNAME=false).
    ...(tls.checkHostname ? {} : { checkServerIdentity: () => undefined }),
  };
}

/** The subset of kafkajs's KafkaConfig this module sets (kafkajs is not a dependency of contracts). */
export interface KafkajsConnection {
  brokers: string[];
  ssl?:
    | boolean
    | {
        ca?: string[];
        cert?: string;
        key?: string;
        rejectUnauthorized: boolean;
        checkServerIdentity?: () => undefined;
      };
  sasl?:
    | { mechanism: 'plain'; username: string; password: string }
    | { mechanism: 'scram-sha-256'; username: string; password: string }
    | { mechanism: 'scram-sha-512'; username: string; password: string }
    | { mechanism: 'oauthbearer'; oauthBearerProvider: () => Promise<{ value: string }> };
}

/** The same settings as kafkajs `new Kafka({ ...kafkajsConnection(config), clientId, ... })` options. */
export function kafkajsConnection(c: KafkaConnectionConfig = loadKafkaConnection()): KafkajsConnection {
  const out: KafkajsConnection = { brokers: [...c.brokers] };
  if (c.tls) {
    const t = c.tls;
    out.ssl =
      !t.ca && !t.cert && t.checkHostname
        ? true
        : {
            ...(t.ca ? { ca: [t.ca] } : {}),
            ...(t.cert ? { cert: t.cert } : {}),
            ...(t.key ? { key: t.key.reveal() } : {}),
            rejectUnauthorized: true,
            ...(t.checkHostname ? {} : { checkServerIdentity: () => undefined }),
          };
  }
  const s = c.sasl;
  if (s) {
    if (s.mechanism === 'OAUTHBEARER') {
      const provider = s.tokenProvider;
      // kafkajs sends no extensions; a provider that needs them is used through kafka-wire only.
      out.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: (await provider()).value }) };
    } else {
      const mechanism = (
        { PLAIN: 'plain', 'SCRAM-SHA-256': 'scram-sha-256', 'SCRAM-SHA-512': 'scram-sha-512' } as const
      )[s.mechanism];
      out.sasl = { mechanism, username: s.username, password: s.password.reveal() } as KafkajsConnection['sasl'];
    }
  }
  return out;
}
