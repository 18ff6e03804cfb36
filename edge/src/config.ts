/**
 * Edge configuration: read once at startup from the environment (CONTRACT section 2 plus EDGE_* tuning knobs),
 * validated, and frozen. A bad value stops the process with a message naming the variable; secret values are never
 * part of a message. Not for runtime reconfiguration: restart the process to change anything.
 */

import { createHash } from 'node:crypto';
import {
  LOCAL_BRAINTREE_MERCHANT_ID,
  LOCAL_SQUARE_NOTIFICATION_URL,
  LOCAL_WEBHOOK_SECRETS,
  serviceAddresses,
} from '@pep/contracts';
import { ConfigError, envList, envOneOf, envInt as int } from '@pep/contracts/env';
import {
  describeKafkaConnection,
  type KafkaCompression,
  type KafkaConnectionConfig,
  loadKafkaCompression,
  loadKafkaConnection,
} from '@pep/contracts/kafka-security';
import { LOG_LEVELS, type LogLevel } from '@pep/contracts/log';

/** Local default secrets (contracts), identical to the committed `.env.example` (a unit test keeps them in sync). */
export const DEFAULT_SECRETS = LOCAL_WEBHOOK_SECRETS;
export const DEFAULT_SQUARE_NOTIFICATION_URL = LOCAL_SQUARE_NOTIFICATION_URL;
export const DEFAULT_BRAINTREE_MERCHANT_ID = LOCAL_BRAINTREE_MERCHANT_ID;

export interface BraintreeKeyPair {
  readonly publicKey: string;
  /** SHA-1 digest of the private key: the HMAC-SHA1 key Braintree uses. The private key itself is not kept. */
  readonly hmacKey: Buffer;
}

export type SinkKind = 'kafka' | 'memory';

export type { LogLevel } from '@pep/contracts/log';

export interface EdgeConfig {
  readonly nodeEnv: string;
  readonly production: boolean;
  readonly host: string;
  readonly port: number;
  readonly kafkaBrokers: readonly string[];
  /** Brokers, TLS and SASL (KAFKA_SECURITY_PROTOCOL and friends, @pep/contracts/kafka-security). */
  readonly kafka: KafkaConnectionConfig;
  /** KAFKA_COMPRESSION: none (default), lz4, zstd or gzip for the produced batches. */
  readonly kafkaCompression: KafkaCompression;
  readonly kafkaClientId: string;
  readonly sink: SinkKind;
  /**
   * Prepended to every topic the edge writes (`<prefix>webhooks.<provider>.<category>`, `<prefix>webhooks.dlq`):
   * several platforms, or a platform and its benchmarks, on one Kafka cluster. Empty by default.
   */
  readonly topicPrefix: string;
  readonly stripe: { readonly secrets: readonly Buffer[]; readonly toleranceSeconds: number };
  readonly square: { readonly keys: readonly Buffer[]; readonly notificationUrl: string };
  readonly adyen: { readonly hmacKeys: readonly Buffer[] };
  readonly braintree: { readonly keyPairs: readonly BraintreeKeyPair[]; readonly merchantId: string };
  readonly limits: {
    readonly maxBodyBytes: number;
    readonly lingerMs: number;
    readonly maxBatchMessages: number;
    readonly maxBatchBytes: number;
    readonly maxInFlightMessages: number;
    readonly maxInFlightBytes: number;
    readonly produceTimeoutMs: number;
    /** Seconds a kept-alive connection may sit idle in Bun.serve before it closes it (Bun's idleTimeout). */
    readonly idleTimeoutS: number;
    /** Seconds a client connection may stay silent between requests before the pipelining guard closes it. */
    readonly clientIdleTimeoutS: number;
    readonly maxConcurrentBatches: number;
    readonly retryAfterSeconds: number;
    readonly shutdownTimeoutMs: number;
    readonly maxAdyenItems: number;
    /** Per-request refusal log lines (400/401/413/503) per second at most; the rest are counted. */
    readonly refusalLogPerSecond: number;
    /** Refused (400/401) requests a source may earn per second on average before it is answered 429; 0: no limit. */
    readonly rejectRatePerS: number;
    /** Refused requests a source may earn at once. */
    readonly rejectBurst: number;
    /** Sources the refusal limiter tracks at most. */
    readonly rejectMaxSources: number;
  };
  /**
   * Header naming the client's address, set by a trusted proxy in front of the edge (its last comma-separated value is
   * used); null: the TCP peer address. The refusal limiter keys sources by it.
   */
  readonly sourceHeader: string | null;
  /** On Bun: the pipelining guard owns the public port and hands Bun.serve one request at a time per connection. */
  readonly pipeliningGuard: boolean;
  readonly logLevel: LogLevel;
  /** True when any secret still has its committed local default (allowed only outside production). */
  readonly usesDefaultSecrets: boolean;
}

export { ConfigError };

/** A secret variable: one or more comma-separated secrets (several while one is being rotated). */
function list(env: NodeJS.ProcessEnv, name: keyof typeof DEFAULT_SECRETS): string[] {
  // Unset takes the local default; set but blank is a mistake and fails below.
  const items = envList({ [name]: env[name] ?? DEFAULT_SECRETS[name] }, name, []);
  if (items.length === 0) throw new ConfigError(`${name} must hold at least one secret (comma-separated for rotation)`);
  return items;
}

/** KAFKA_BROKERS and the edge's port (serviceAddresses), checked. */
function serviceAddressesOf(env: NodeJS.ProcessEnv): ReturnType<typeof serviceAddresses> {
  let addresses: ReturnType<typeof serviceAddresses>;
  try {
    addresses = serviceAddresses(env);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (addresses.kafkaBrokers.length === 0) throw new ConfigError('KAFKA_BROKERS must list at least one host:port');
  for (const b of addresses.kafkaBrokers) {
    if (!/^[^:\s]+:\d{1,5}$/.test(b))
      throw new ConfigError(`KAFKA_BROKERS entry must be host:port, got ${JSON.stringify(b)}`);
  }
  return addresses;
}

interface ProviderSecrets {
  readonly stripe: string[];
  readonly square: string[];
  readonly adyenHex: string[];
  readonly btPublic: string[];
  readonly btPrivate: string[];
  /** The variables that still hold the committed local default secret (refused with NODE_ENV=production). */
  readonly defaultNames: string[];
}

/** The providers' webhook secrets, checked. */
function providerSecrets(env: NodeJS.ProcessEnv, production: boolean): ProviderSecrets {
  const stripeSecrets = list(env, 'STRIPE_WEBHOOK_SECRET');
  const squareKeys = list(env, 'SQUARE_WEBHOOK_SIGNATURE_KEY');
  const adyenHex = list(env, 'ADYEN_HMAC_KEY');
  const btPublic = list(env, 'BRAINTREE_PUBLIC_KEY');
  const btPrivate = list(env, 'BRAINTREE_PRIVATE_KEY');

  adyenHex.forEach((k, i) => {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(k)) {
      throw new ConfigError(`ADYEN_HMAC_KEY entry ${i + 1} must be an even-length hex string`);
    }
  });
  if (btPublic.length !== btPrivate.length) {
    throw new ConfigError(
      `BRAINTREE_PUBLIC_KEY and BRAINTREE_PRIVATE_KEY must list the same number of keys (pairs by position), got ${btPublic.length} and ${btPrivate.length}`,
    );
  }

  const defaults: [string, string[]][] = [
    ['STRIPE_WEBHOOK_SECRET', stripeSecrets],
    ['SQUARE_WEBHOOK_SIGNATURE_KEY', squareKeys],
    ['ADYEN_HMAC_KEY', adyenHex],
    ['BRAINTREE_PRIVATE_KEY', btPrivate],
  ];
  const defaultNames = defaults
    .filter(([name, values]) =>
      values.some((v) => v.toLowerCase() === DEFAULT_SECRETS[name as keyof typeof DEFAULT_SECRETS].toLowerCase()),
    )
    .map(([name]) => name);
  if (production && defaultNames.length > 0) {
    throw new ConfigError(
      `NODE_ENV=production but these variables still hold the committed local default secret: ${defaultNames.join(', ')}`,
    );
  }
  return { stripe: stripeSecrets, square: squareKeys, adyenHex, btPublic, btPrivate, defaultNames };
}

/** The providers' configurations: secrets as key bytes, Stripe's tolerance, Square's URL, Braintree's merchant. */
function providerConfigs(
  env: NodeJS.ProcessEnv,
  secrets: ProviderSecrets,
  notificationUrl: string,
): Pick<EdgeConfig, 'stripe' | 'square' | 'adyen' | 'braintree'> {
  return {
    stripe: {
      secrets: Object.freeze(secrets.stripe.map((s) => Buffer.from(s, 'utf8'))),
      toleranceSeconds: int(env, 'STRIPE_SIGNATURE_TOLERANCE_S', 300, 1, 86_400),
    },
    square: { keys: Object.freeze(secrets.square.map((s) => Buffer.from(s, 'utf8'))), notificationUrl },
    adyen: { hmacKeys: Object.freeze(secrets.adyenHex.map((h) => Buffer.from(h, 'hex'))) },
    braintree: {
      keyPairs: Object.freeze(
        secrets.btPublic.map((publicKey, i) =>
          Object.freeze({
            publicKey,
            hmacKey: createHash('sha1')
              .update(secrets.btPrivate[i] as string)
              .digest(),
          }),
        ),
      ),
      merchantId: env.BRAINTREE_MERCHANT_ID ?? DEFAULT_BRAINTREE_MERCHANT_ID,
    },
  };
}

/** SQUARE_NOTIFICATION_URL (part of what Square signs), checked to be absolute. */
function squareNotificationUrl(env: NodeJS.ProcessEnv): string {
  const notificationUrl = env.SQUARE_NOTIFICATION_URL ?? DEFAULT_SQUARE_NOTIFICATION_URL;
  try {
    new URL(notificationUrl);
  } catch {
    throw new ConfigError(`SQUARE_NOTIFICATION_URL must be an absolute URL, got ${JSON.stringify(notificationUrl)}`);
  }
  return notificationUrl;
}

/** EDGE_TOPIC_PREFIX, checked against what Kafka allows in topic names. */
function topicPrefixOf(env: NodeJS.ProcessEnv): string {
  const topicPrefix = env.EDGE_TOPIC_PREFIX ?? '';
  if (!/^[A-Za-z0-9._-]{0,200}$/.test(topicPrefix)) {
    throw new ConfigError(
      `EDGE_TOPIC_PREFIX must be at most 200 of the characters Kafka allows in topic names, got ${JSON.stringify(topicPrefix)}`,
    );
  }
  return topicPrefix;
}

/** The limits that bound one another: body, batch and in-flight bytes; the produce and idle timeouts. */
type BoundLimits = Pick<
  EdgeConfig['limits'],
  'maxBodyBytes' | 'maxBatchBytes' | 'maxInFlightBytes' | 'produceTimeoutMs' | 'idleTimeoutS'
>;

function boundLimits(env: NodeJS.ProcessEnv): BoundLimits {
  const maxBodyBytes = int(env, 'EDGE_MAX_BODY_BYTES', 512 * 1024, 1024, 16 * 1024 * 1024);
  const maxBatchBytes = int(env, 'EDGE_MAX_BATCH_BYTES', 768 * 1024, 16 * 1024, 64 * 1024 * 1024);
  const maxInFlightBytes = int(env, 'EDGE_MAX_INFLIGHT_BYTES', 64 * 1024 * 1024, maxBodyBytes, 4 * 1024 * 1024 * 1024);

  const produceTimeoutMs = int(env, 'EDGE_PRODUCE_TIMEOUT_MS', 10_000, 100, 600_000);
  // Bun.serve counts a connection whose answer is pending as idle (no bytes either way): its idle timeout must outlast
  // the produce timeout, or a slow Kafka closes connections without an answer instead of a 503.
  const idleTimeoutS = int(env, 'EDGE_IDLE_TIMEOUT_S', Math.min(255, Math.ceil(produceTimeoutMs / 1000) + 5), 1, 255);
  if (idleTimeoutS * 1000 <= produceTimeoutMs) {
    throw new ConfigError(
      `EDGE_IDLE_TIMEOUT_S (${idleTimeoutS} s) must be longer than EDGE_PRODUCE_TIMEOUT_MS (${produceTimeoutMs} ms): a request waiting for Kafka would be cut without an answer`,
    );
  }
  return { maxBodyBytes, maxBatchBytes, maxInFlightBytes, produceTimeoutMs, idleTimeoutS };
}

/** Every limit: the bound ones and the independent batching, concurrency, shutdown and refusal limits. */
function limitsOf(env: NodeJS.ProcessEnv, bound: BoundLimits): EdgeConfig['limits'] {
  return {
    maxBodyBytes: bound.maxBodyBytes,
    lingerMs: int(env, 'EDGE_LINGER_MS', 1, 0, 1000),
    maxBatchMessages: int(env, 'EDGE_MAX_BATCH_MESSAGES', 1000, 1, 100_000),
    maxBatchBytes: bound.maxBatchBytes,
    maxInFlightMessages: int(env, 'EDGE_MAX_INFLIGHT_MESSAGES', 20_000, 1, 10_000_000),
    maxInFlightBytes: bound.maxInFlightBytes,
    produceTimeoutMs: bound.produceTimeoutMs,
    idleTimeoutS: bound.idleTimeoutS,
    clientIdleTimeoutS: int(env, 'EDGE_CLIENT_IDLE_TIMEOUT_S', 30, 1, 3600),
    // One idempotent producer session per concurrent batch (one batch in flight per idempotent session).
    maxConcurrentBatches: int(env, 'EDGE_KAFKA_PRODUCERS', 2, 1, 16),
    retryAfterSeconds: int(env, 'EDGE_RETRY_AFTER_S', 5, 1, 3600),
    shutdownTimeoutMs: int(env, 'EDGE_SHUTDOWN_TIMEOUT_MS', 15_000, 0, 600_000),
    maxAdyenItems: int(env, 'EDGE_MAX_ADYEN_ITEMS', 100, 1, 10_000),
    refusalLogPerSecond: int(env, 'EDGE_REFUSAL_LOG_PER_S', 20, 0, 100_000),
    rejectRatePerS: int(env, 'EDGE_REJECT_RATE_PER_S', 20, 0, 1_000_000),
    rejectBurst: int(env, 'EDGE_REJECT_BURST', 200, 1, 10_000_000),
    rejectMaxSources: int(env, 'EDGE_REJECT_MAX_SOURCES', 10_000, 1, 10_000_000),
  };
}

/** Validates the environment into a frozen config. Throws ConfigError with a clear message on any bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): EdgeConfig {
  const nodeEnv = env.NODE_ENV ?? 'development';
  const production = nodeEnv === 'production';
  const addresses = serviceAddressesOf(env);
  const kafka = loadKafkaConnection(env);
  const secrets = providerSecrets(env, production);
  const notificationUrl = squareNotificationUrl(env);

  const sink = envOneOf<SinkKind>(env, 'EDGE_SINK', 'kafka', ['kafka', 'memory']);
  // The memory sink acknowledges without a durable write: a benchmark tool, never allowed in production.
  if (production && sink !== 'kafka') throw new ConfigError('EDGE_SINK=memory is not allowed with NODE_ENV=production');

  const topicPrefix = topicPrefixOf(env);
  const logLevel = envOneOf<LogLevel>({ LOG_LEVEL: env.LOG_LEVEL?.toLowerCase() }, 'LOG_LEVEL', 'info', LOG_LEVELS);
  const bound = boundLimits(env);

  const config: EdgeConfig = {
    nodeEnv,
    production,
    host: env.EDGE_HOST ?? '0.0.0.0',
    sourceHeader: env.EDGE_SOURCE_HEADER ? env.EDGE_SOURCE_HEADER.trim().toLowerCase() : null,
    pipeliningGuard: envOneOf(env, 'EDGE_PIPELINING_GUARD', 'on', ['on', 'off']) === 'on',
    port: addresses.edgePort,
    kafkaBrokers: addresses.kafkaBrokers,
    kafka,
    kafkaCompression: loadKafkaCompression(env),
    kafkaClientId: env.EDGE_KAFKA_CLIENT_ID ?? 'pep-edge',
    sink,
    topicPrefix,
    ...providerConfigs(env, secrets, notificationUrl),
    limits: limitsOf(env, bound),
    logLevel,
    usesDefaultSecrets: secrets.defaultNames.length > 0,
  };
  for (const part of [config.stripe, config.square, config.adyen, config.braintree, config.limits]) Object.freeze(part);
  return Object.freeze(config);
}

/** A printable view of the config with every secret replaced by a count; safe to log. */
export function describeConfig(c: EdgeConfig): Record<string, unknown> {
  return {
    nodeEnv: c.nodeEnv,
    host: c.host,
    port: c.port,
    kafkaBrokers: c.kafkaBrokers,
    kafka: describeKafkaConnection(c.kafka),
    kafkaCompression: c.kafkaCompression,
    sink: c.sink,
    topicPrefix: c.topicPrefix,
    stripe: { secrets: `[${c.stripe.secrets.length} redacted]`, toleranceSeconds: c.stripe.toleranceSeconds },
    square: { keys: `[${c.square.keys.length} redacted]`, notificationUrl: c.square.notificationUrl },
    adyen: { hmacKeys: `[${c.adyen.hmacKeys.length} redacted]` },
    braintree: {
      publicKeys: c.braintree.keyPairs.map((p) => p.publicKey),
      privateKeys: `[${c.braintree.keyPairs.length} redacted]`,
    },
    limits: c.limits,
    logLevel: c.logLevel,
    usesDefaultSecrets: c.usesDefaultSecrets,
  };
}
