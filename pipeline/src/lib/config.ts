/**
 * Pipeline configuration: read once at startup from the environment (CONTRACT section 2 plus PIPELINE_*,
 * TRANSFORMER_* and QUARANTINE_* knobs), validated, frozen. A bad value stops the process with a message naming
 * the variable. Topic names default to contracts/src/topics.ts; tests override them to run on private topics.
 * The database URL may carry a password: `redactUrl` is what gets logged.
 */
import { PROVIDERS, type Provider, RAW_TOPICS, SERVICE_DEFAULTS, serviceAddresses, TOPICS } from '@pep/contracts';
import { ConfigError, envBool, envList, envInt as int, envOneOf as oneOf, envStr as str } from '@pep/contracts/env';
import {
  type KafkaCompression,
  type KafkaConnectionConfig,
  loadKafkaCompression,
  loadKafkaConnection,
} from '@pep/contracts/kafka-security';
import { LOG_LEVELS, type LogLevel } from '@pep/contracts/log';

export { ConfigError, redactUrl } from '@pep/contracts/env';

export type DeliveryMode = 'exactly_once' | 'at_least_once';

/** The transformer's Kafka client: kafka-wire (hand-written, one core call and one transaction per fetch) or kafkajs. */

export interface TransformerConfig {
  readonly kafkaBrokers: readonly string[];
  /** TLS and SASL (KAFKA_SECURITY_PROTOCOL and friends), shared by every Kafka client of the platform. */
  readonly kafka: KafkaConnectionConfig;
  /** KAFKA_COMPRESSION for the output batches (wire client): none (default), lz4, zstd or gzip. */
  readonly compression: KafkaCompression;
  readonly clientId: string;
  readonly groupId: string;
  /** Stable per instance: a restarted instance with the same id fences its predecessor and aborts its open transaction. */
  readonly transactionalId: string;
  readonly mode: DeliveryMode;
  /** Send the next Fetch while the previous transaction commits (transformed after it ended). */
  readonly prefetch: boolean;
  /** Fetch and transform the next records while the previous transaction commits. */
  readonly pipelineFetch: boolean;
  readonly inputTopics: readonly string[];
  readonly normalizedTopic: string;
  readonly dlqTopic: string;
  /** Messages per core-native call and per Kafka transaction; a bigger fetched batch is split. */
  readonly maxBatchMessages: number;
  /** Largest output record; a bigger one is replaced by a RECORD_TOO_LARGE DLQ record (broker message.max.bytes ≈ 1 MiB). */
  readonly maxRecordBytes: number;
  /** Bytes per produce request inside a transaction (a partition's record batch must stay under the broker limit). */
  readonly maxRequestBytes: number;
  /** Fetch bound per partition: caps memory per fetched batch. */
  readonly maxFetchBytesPerPartition: number;
  /** Fetch bound per request across partitions. */
  readonly maxFetchBytes: number;
  readonly fetchMaxWaitMs: number;
  /**
   * Fetch min_bytes: the broker answers once this much is fetchable or fetchMaxWaitMs passed, so under
   * load one transaction carries more records (fewer transactions per second for the broker to write).
   */
  readonly fetchMinBytes: number;
  /**
   * Fetch max wait after a fetch that brought nothing (min_bytes 1): an idle transformer long-polls instead of
   * fetching every fetchMaxWaitMs, and still gets the first new record at once.
   */
  readonly fetchIdleMaxWaitMs: number;
  readonly transactionTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  readonly metricsHost: string;
  /** 0 disables the metrics server (tests run several consumers in one process). */
  readonly metricsPort: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
  readonly fromBeginning: boolean;
}

export interface QuarantineConfig {
  readonly kafkaBrokers: readonly string[];
  readonly kafka: KafkaConnectionConfig;
  readonly databaseUrl: string;
  readonly clientId: string;
  readonly groupId: string;
  readonly webhookDlqTopic: string;
  readonly validationDlqTopic: string;
  /** Rows per INSERT statement (and so per PostgreSQL round trip); ≤ 3000 keeps it under 65535 bind parameters. */
  readonly maxBatchRows: number;
  /**
   * CPU niceness the process takes at start (0-19, default 10): DLQ rows may wait, so on a busy machine a flood of
   * invalid events yields the CPU to the payment path (issue 13).
   */
  readonly nice: number;
  readonly maxFetchBytesPerPartition: number;
  readonly maxFetchBytes: number;
  readonly fetchMaxWaitMs: number;
  readonly sessionTimeoutMs: number;
  readonly lagIntervalMs: number;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
}

function topicList(env: NodeJS.ProcessEnv, name: string, def: readonly string[]): string[] {
  const items = envList(env, name, def, 1);
  for (const t of items) providerOfTopic(t, name);
  return items;
}

const PROVIDER_IN_TOPIC = new RegExp(`(?:^|\\.)webhooks\\.(${PROVIDERS.join('|')})\\.`);

/** The provider a raw topic belongs to (`webhooks.<provider>.<category>`, optionally with a test prefix). */
export function providerOfTopic(topic: string, context = 'topic'): Provider {
  const m = PROVIDER_IN_TOPIC.exec(topic);
  if (!m)
    throw new ConfigError(`${context}: ${JSON.stringify(topic)} is not a raw topic webhooks.<provider>.<category>`);
  return m[1] as Provider;
}

export function loadTransformerConfig(env: NodeJS.ProcessEnv = process.env): TransformerConfig {
  const addr = serviceAddresses(env);
  const groupId = str(env, 'TRANSFORMER_GROUP_ID', 'pep-transformer');
  return Object.freeze({
    kafkaBrokers: addr.kafkaBrokers,
    kafka: loadKafkaConnection(env),
    compression: loadKafkaCompression(env),
    clientId: str(env, 'TRANSFORMER_CLIENT_ID', 'pep-transformer'),
    groupId,
    transactionalId: str(env, 'TRANSFORMER_TRANSACTIONAL_ID', `${groupId}-0`),
    mode: oneOf<DeliveryMode>(env, 'TRANSFORMER_MODE', 'exactly_once', ['exactly_once', 'at_least_once']),
    prefetch: envBool(env, 'TRANSFORMER_PREFETCH', true),
    pipelineFetch: envBool(env, 'TRANSFORMER_PIPELINE_FETCH', false),
    inputTopics: Object.freeze(topicList(env, 'TRANSFORMER_INPUT_TOPICS', Object.values(RAW_TOPICS))),
    normalizedTopic: str(env, 'TRANSFORMER_NORMALIZED_TOPIC', TOPICS.normalized),
    dlqTopic: str(env, 'TRANSFORMER_DLQ_TOPIC', TOPICS.validationDlq),
    // One core call and one transaction take a whole fetch: at 1000 a full 8 MiB fetch (about 7,000 events) was cut
    // to 1000 and the rest fetched again (4.4× the bytes read), and each event paid a seventh of a transaction. 10,000
    // (core-native's maximum): transformer CPU per event 30 → 16 µs, the broker's 28 → 11 µs (mixed fixtures;
    // bench/pipeline, README "Benchmarks").
    maxBatchMessages: int(env, 'TRANSFORMER_MAX_BATCH_MESSAGES', 10_000, 1, 10_000),
    maxRecordBytes: int(env, 'TRANSFORMER_MAX_RECORD_BYTES', 900_000, 1024, 100 << 20),
    maxRequestBytes: int(env, 'TRANSFORMER_MAX_REQUEST_BYTES', 900_000, 1024, 100 << 20),
    // A backlog of one partition (or of a few) fills a fetch: 1 MiB per partition capped a 3-partition fetch at
    // 2,500 events; 4 MiB gives ~5,000-7,000 per transaction (the 8 MiB total still bounds memory).
    maxFetchBytesPerPartition: int(env, 'TRANSFORMER_MAX_FETCH_BYTES_PER_PARTITION', 4 << 20, 1024, 64 << 20),
    maxFetchBytes: int(env, 'TRANSFORMER_MAX_FETCH_BYTES', 8 << 20, 1024, 256 << 20),
    // Together they are the transformer's linger: a fetch returns once 64 KiB (about 45 events) are there or after
    // 10 ms. With min 1 byte the loop ran one transaction per 2.5 ms even at 1.7k events/s (4 events each) and the
    // broker spent 0.8 core writing them; with 64 KiB / 10 ms 0.33 core, and at 7.7k events/s the machine used 0.35
    // core less at an equal or lower p99 (bench/targets/pipeline, README "Benchmarks").
    fetchMaxWaitMs: int(env, 'TRANSFORMER_FETCH_MAX_WAIT_MS', 10, 0, 10_000),
    fetchMinBytes: int(env, 'TRANSFORMER_FETCH_MIN_BYTES', 64 << 10, 1, 16 << 20),
    // An idle transformer fetching every 10 ms used 20-23 ms of CPU per second (and the broker answered 100 fetches a
    // second); long-polling 500 ms once a fetch came back empty: 2 ms (bench/scale-out, deploy README).
    fetchIdleMaxWaitMs: int(env, 'TRANSFORMER_FETCH_IDLE_MAX_WAIT_MS', 500, 0, 30_000),
    transactionTimeoutMs: int(env, 'TRANSFORMER_TRANSACTION_TIMEOUT_MS', 30_000, 1000, 900_000),
    sessionTimeoutMs: int(env, 'TRANSFORMER_SESSION_TIMEOUT_MS', 30_000, 6000, 300_000),
    metricsHost: str(env, 'PIPELINE_METRICS_HOST', '127.0.0.1'),
    metricsPort: int(env, 'TRANSFORMER_METRICS_PORT', SERVICE_DEFAULTS.metrics.transformer, 0, 65535),
    shutdownTimeoutMs: int(env, 'PIPELINE_SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
    logLevel: oneOf<LogLevel>(env, 'PIPELINE_LOG_LEVEL', 'info', LOG_LEVELS),
    fromBeginning: true,
  });
}

export function loadQuarantineConfig(env: NodeJS.ProcessEnv = process.env): QuarantineConfig {
  const addr = serviceAddresses(env);
  return Object.freeze({
    kafkaBrokers: addr.kafkaBrokers,
    kafka: loadKafkaConnection(env),
    databaseUrl: addr.databaseUrl,
    clientId: str(env, 'QUARANTINE_CLIENT_ID', 'pep-quarantine'),
    groupId: str(env, 'QUARANTINE_GROUP_ID', 'pep-quarantine'),
    webhookDlqTopic: str(env, 'QUARANTINE_WEBHOOK_DLQ_TOPIC', TOPICS.webhooksDlq),
    validationDlqTopic: str(env, 'QUARANTINE_VALIDATION_DLQ_TOPIC', TOPICS.validationDlq),
    maxBatchRows: int(env, 'QUARANTINE_MAX_BATCH_ROWS', 500, 1, 3000),
    nice: int(env, 'QUARANTINE_NICE', 10, 0, 19),
    maxFetchBytesPerPartition: int(env, 'QUARANTINE_MAX_FETCH_BYTES_PER_PARTITION', 1 << 20, 1024, 64 << 20),
    maxFetchBytes: int(env, 'QUARANTINE_MAX_FETCH_BYTES', 4 << 20, 1024, 256 << 20),
    fetchMaxWaitMs: int(env, 'QUARANTINE_FETCH_MAX_WAIT_MS', 200, 0, 10_000),
    sessionTimeoutMs: int(env, 'QUARANTINE_SESSION_TIMEOUT_MS', 30_000, 6000, 300_000),
    lagIntervalMs: int(env, 'PIPELINE_LAG_INTERVAL_MS', 5000, 100, 600_000),
    metricsHost: str(env, 'PIPELINE_METRICS_HOST', '127.0.0.1'),
    metricsPort: int(env, 'QUARANTINE_METRICS_PORT', SERVICE_DEFAULTS.metrics.quarantine, 0, 65535),
    shutdownTimeoutMs: int(env, 'PIPELINE_SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
    logLevel: oneOf<LogLevel>(env, 'PIPELINE_LOG_LEVEL', 'info', LOG_LEVELS),
  });
}
