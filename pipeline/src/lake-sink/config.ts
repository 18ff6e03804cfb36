/**
 * Lake sink configuration (environment, validated once; documented in pipeline/README.md "Lake sink").
 * The catalog and warehouse settings come from @pep/lakehouse's config (LAKE_*).
 */
import { LAKE_NAMESPACE, LAKE_TABLES, SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { type Env, envBool, envInt, envList, envOneOf, envStr } from '@pep/contracts/env';
import { LOG_LEVELS, type LogLevel } from '@pep/contracts/log';
import { type LakeConfig, loadLakeConfig } from '@pep/lakehouse/config';

export interface LakeSinkConfig {
  readonly lake: LakeConfig;
  readonly kafkaBrokers: readonly string[];
  readonly databaseUrl: string;
  readonly clientId: string;
  readonly groupId: string;
  /** Names this writer in its files' prefix and in the snapshot summary (unique per instance). */
  readonly writerId: string;
  readonly topics: readonly string[];
  /** Iceberg namespace of the tables written (the contract's `bronze` unless a test or a staging copy says otherwise). */
  readonly namespace: string;
  /** A table's buffer is committed at least this often (the freshness bound)… */
  readonly commitIntervalMs: number;
  /** …or as soon as it holds this many bytes of Arrow data. */
  readonly commitBytes: number;
  /**
   * A table's rows go to the Rust writer in chunks of this many bytes of Arrow data while the buffer fills, so that
   * the Parquet encoding runs beside the fetching and a commit only finishes the files (0: at the commit, in one go).
   */
  readonly chunkBytes: number;
  /** Consumption pauses while this much is buffered or in flight (memory bound). */
  readonly maxBufferedBytes: number;
  /** Load bronze.payment_outcomes from PostgreSQL (payment_events rows the workflows persisted). */
  readonly outcomes: boolean;
  readonly outcomesIntervalMs: number;
  readonly outcomesBatchRows: number;
  readonly maxFetchBytesPerPartition: number;
  readonly maxFetchBytes: number;
  /** Longest fetch wait (broker long poll; also kafkajs's idle sleep while all partitions are paused). */
  readonly fetchMaxWaitMs: number;
  readonly sessionTimeoutMs: number;
  readonly retryBackoffMaxMs: number;
  readonly metricsHost: string;
  readonly metricsPort: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
  /**
   * How bronze.payment_events rows are built: `rust` (default) hands each Kafka batch's raw values to the lake addon
   * (lakehouse/src/raw-rows.ts; records it cannot reproduce exactly still take the TypeScript path, in order), `ts`
   * builds every row in TypeScript (rows.ts + arrow.ts, the reference). The other tables always take `ts`.
   */
  readonly rows: 'rust' | 'ts';
  /** Test hook: SIGKILL the process right after the Nth write (`write:N`) or commit (`commit:N`). */
  readonly crashAt: { readonly step: 'write' | 'commit'; readonly n: number } | null;
}

const KAFKA_TOPICS = [
  ...LAKE_TABLES.webhook_events.sourceTopics,
  ...LAKE_TABLES.payment_events.sourceTopics,
  ...LAKE_TABLES.validation_dlq.sourceTopics,
];

function crashAt(env: Env): LakeSinkConfig['crashAt'] {
  const v = env.LAKE_SINK_CRASH_AT;
  if (!v) return null;
  const m = /^(write|commit):(\d+)$/.exec(v);
  if (!m) throw new Error(`LAKE_SINK_CRASH_AT must be write:N or commit:N, got ${JSON.stringify(v)}`);
  return { step: m[1] as 'write' | 'commit', n: Number(m[2]) };
}

function namespaceOf(env: Env): string {
  const ns = envStr(env, 'LAKE_SINK_NAMESPACE', LAKE_NAMESPACE);
  if (!/^[a-z_][a-z0-9_]{0,63}$/.test(ns)) {
    throw new Error(`LAKE_SINK_NAMESPACE must be a lower-case identifier (a-z, 0-9, _), got ${JSON.stringify(ns)}`);
  }
  return ns;
}

export function loadLakeSinkConfig(env: Env = process.env): LakeSinkConfig {
  const addr = serviceAddresses(env as NodeJS.ProcessEnv);
  const groupId = envStr(env, 'LAKE_SINK_GROUP_ID', 'pep-lake-sink');
  return Object.freeze({
    lake: loadLakeConfig(env),
    kafkaBrokers: addr.kafkaBrokers,
    databaseUrl: addr.databaseUrl,
    clientId: envStr(env, 'LAKE_SINK_CLIENT_ID', 'pep-lake-sink'),
    groupId,
    writerId: envStr(env, 'LAKE_SINK_WRITER_ID', `${groupId}-${process.pid}`),
    topics: Object.freeze(envList(env, 'LAKE_SINK_TOPICS', KAFKA_TOPICS, 1)),
    namespace: namespaceOf(env),
    commitIntervalMs: envInt(env, 'LAKE_SINK_COMMIT_INTERVAL_MS', 10_000, 100, 3_600_000),
    commitBytes: envInt(env, 'LAKE_SINK_COMMIT_BYTES', 64 << 20, 1024, 1 << 30),
    chunkBytes: envInt(env, 'LAKE_SINK_CHUNK_BYTES', 1 << 20, 0, 1 << 30),
    maxBufferedBytes: envInt(env, 'LAKE_SINK_MAX_BUFFERED_BYTES', 256 << 20, 1 << 20, 4 << 30),
    outcomes: envBool(env, 'LAKE_SINK_OUTCOMES', true),
    outcomesIntervalMs: envInt(env, 'LAKE_SINK_OUTCOMES_INTERVAL_MS', 10_000, 100, 3_600_000),
    outcomesBatchRows: envInt(env, 'LAKE_SINK_OUTCOMES_BATCH_ROWS', 50_000, 1, 1_000_000),
    maxFetchBytesPerPartition: envInt(env, 'LAKE_SINK_MAX_FETCH_BYTES_PER_PARTITION', 4 << 20, 1024, 64 << 20),
    maxFetchBytes: envInt(env, 'LAKE_SINK_MAX_FETCH_BYTES', 32 << 20, 1024, 256 << 20),
    fetchMaxWaitMs: envInt(env, 'LAKE_SINK_FETCH_MAX_WAIT_MS', 500, 10, 10_000),
    sessionTimeoutMs: envInt(env, 'LAKE_SINK_SESSION_TIMEOUT_MS', 30_000, 6000, 300_000),
    retryBackoffMaxMs: envInt(env, 'LAKE_SINK_RETRY_BACKOFF_MAX_MS', 10_000, 10, 600_000),
    metricsHost: envStr(env, 'PIPELINE_METRICS_HOST', '127.0.0.1'),
    metricsPort: envInt(env, 'LAKE_SINK_METRICS_PORT', SERVICE_DEFAULTS.metrics.lakeSink, 0, 65535),
    shutdownTimeoutMs: envInt(env, 'PIPELINE_SHUTDOWN_TIMEOUT_MS', 15_000, 100, 600_000),
    logLevel: envOneOf<LogLevel>(env, 'PIPELINE_LOG_LEVEL', 'info', LOG_LEVELS),
    rows: envOneOf(env, 'LAKE_SINK_ROWS', 'rust', ['rust', 'ts'] as const),
    crashAt: crashAt(env),
  });
}
