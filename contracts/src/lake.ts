/**
 * The lakehouse's bronze tables (CONTRACT section 8): names, columns, partitioning and where each row comes from.
 * The single source of truth for their shapes: the lake sink builds its Arrow batches from these definitions, the
 * Rust writer creates (and evolves) the Iceberg tables from the JSON this module renders, and dbt, dashboards and ML
 * read the column names from here. Not the writer itself (@pep/lakehouse) and not dbt's silver/gold models.
 *
 * Adding a column: append it to the table's `columns` with the next free id and `required: false`; the sink adds it to
 * the Iceberg table on start (schema evolution: old files read it as null). Never reuse an id, rename or retype a
 * column: a breaking change is a new table.
 */
import { RAW_TOPICS, TOPICS } from './topics.ts';

export const LAKE_CATALOG_NAME = 'pep';
export const LAKE_NAMESPACE = 'bronze';
/** Trino's catalog name for the same tables (`iceberg.bronze.payment_events`). */
export const TRINO_CATALOG = 'iceberg';
export const TRINO_DEFAULT_PORT = 8085;

/** The default warehouse folder under the stack's state folder (LAKE_WAREHOUSE overrides it). */
export function lakeWarehouseDir(stateDir: string): string {
  return `${stateDir.replace(/\/+$/, '')}/lake/warehouse`;
}

/** Column types, each an Iceberg primitive with one Arrow type (timestamps: microseconds, UTC). */
export type LakeColumnType = 'string' | 'int' | 'long' | 'double' | 'boolean' | 'timestamptz' | 'binary';

export interface LakeColumn {
  /** Iceberg field id at table creation; stable forever. */
  readonly id: number;
  readonly name: string;
  readonly type: LakeColumnType;
  readonly required: boolean;
  readonly doc: string;
}

export interface LakePartitionField {
  readonly source: string;
  readonly transform: 'identity' | 'day';
  readonly name: string;
}

/** One column of a table's sort order (Iceberg identity transform): what compaction sorts each partition by. */
export interface LakeSortField {
  readonly source: string;
  /** Default false (ascending). */
  readonly descending?: boolean;
  /** Default true (Iceberg's default for ascending). */
  readonly nullsFirst?: boolean;
}

export type LakeTableName = 'webhook_events' | 'payment_events' | 'validation_dlq' | 'payment_outcomes';

export interface LakeTable {
  readonly name: LakeTableName;
  /** `bronze.<name>` */
  readonly qualifiedName: string;
  readonly doc: string;
  /** Kafka topics the sink reads into this table (empty: not fed from Kafka). */
  readonly sourceTopics: readonly string[];
  readonly columns: readonly LakeColumn[];
  readonly partitionBy: readonly LakePartitionField[];
  /** The table's sort order; empty: unsorted. Set on a table that has none (also one created before). */
  readonly sortBy: readonly LakeSortField[];
}

const col = (id: number, name: string, type: LakeColumnType, required: boolean, doc: string): LakeColumn => ({
  id,
  name,
  type,
  required,
  doc,
});

/** Where a Kafka-fed row came from: the exactly-once key of every Kafka-fed table. */
const kafkaColumns = (firstId: number): LakeColumn[] => [
  col(firstId, 'kafka_topic', 'string', true, 'topic the record was read from'),
  col(firstId + 1, 'kafka_partition', 'int', true, 'partition of that topic'),
  col(firstId + 2, 'kafka_offset', 'long', true, 'offset in that partition (unique per topic and partition)'),
  col(firstId + 3, 'kafka_timestamp', 'timestamptz', true, "the record's Kafka timestamp"),
];

const table = (
  name: LakeTableName,
  doc: string,
  sourceTopics: readonly string[],
  columns: LakeColumn[],
  partitionBy: LakePartitionField[],
  sortBy: LakeSortField[] = [],
): LakeTable =>
  Object.freeze({ name, qualifiedName: `${LAKE_NAMESPACE}.${name}`, doc, sourceTopics, columns, partitionBy, sortBy });

export const LAKE_TABLES: Readonly<Record<LakeTableName, LakeTable>> = Object.freeze({
  webhook_events: table(
    'webhook_events',
    'Every raw record of the raw topics and webhooks.dlq, as the edge wrote it: the replay source.',
    [...Object.values(RAW_TOPICS), TOPICS.webhooksDlq],
    [
      ...kafkaColumns(1),
      col(5, 'received_at', 'timestamptz', true, "the edge's received-at header (the Kafka timestamp if absent)"),
      col(
        6,
        'provider',
        'string',
        false,
        'stripe | square | adyen | braintree (from the topic or the provider header)',
      ),
      col(7, 'request_id', 'string', false, "the edge's request-id header"),
      col(8, 'record_key', 'string', false, 'the Kafka key as UTF-8 (provider object or event id)'),
      col(9, 'headers', 'string', true, 'JSON object of the record headers, signature headers removed'),
      col(10, 'body', 'binary', true, 'the raw request body bytes (webhooks.dlq: the DLQ record)'),
      col(11, 'is_dlq', 'boolean', true, 'true for records of webhooks.dlq (rejected at the edge)'),
    ],
    [
      { source: 'received_at', transform: 'day', name: 'received_day' },
      { source: 'provider', transform: 'identity', name: 'provider' },
    ],
  ),
  payment_events: table(
    'payment_events',
    'Every normalized event of payments.normalized, typed columns of CONTRACT section 6 (one row per record).',
    [TOPICS.normalized],
    [
      ...kafkaColumns(1),
      col(5, 'event_id', 'string', false, '<provider>:<provider_event_id>, the dedup key (null only with lake_error)'),
      col(6, 'provider', 'string', false, 'stripe | square | adyen | braintree'),
      col(7, 'provider_event_id', 'string', false, "the provider's event id"),
      col(8, 'object_id', 'string', false, 'payment / refund / dispute object id'),
      col(9, 'event_type', 'string', false, 'normalized event type (CONTRACT section 6 vocabulary)'),
      col(10, 'provider_event_type', 'string', false, "the provider's own event type"),
      col(11, 'merchant_id', 'string', false, 'merchant id'),
      col(12, 'customer_id', 'string', false, 'customer id'),
      col(13, 'amount_minor', 'long', false, 'amount in the minor unit of currency (integer)'),
      col(14, 'currency', 'string', false, 'ISO 4217, uppercase'),
      col(15, 'payment_method_type', 'string', false, 'payment method type'),
      col(16, 'card_brand', 'string', false, 'card brand name (never a BIN)'),
      col(17, 'card_last_four', 'string', false, 'last four digits'),
      col(18, 'status', 'string', false, "provider's status"),
      col(19, 'failure_code', 'string', false, 'failure code'),
      col(20, 'failure_message', 'string', false, 'failure message'),
      col(21, 'metadata', 'string', false, 'metadata object as JSON text'),
      col(22, 'provider_created_at', 'timestamptz', false, 'when the provider created the event'),
      col(
        23,
        'received_at',
        'timestamptz',
        true,
        'when the edge received it (the Kafka timestamp if the record has none)',
      ),
      col(24, 'normalized_at', 'timestamptz', false, 'when the transformer normalized it'),
      col(25, 'schema_version', 'int', false, 'unified event schema version'),
      col(26, 'source_topic', 'string', false, 'raw topic of the source record (source-topic header)'),
      col(27, 'source_partition', 'int', false, 'raw partition of the source record'),
      col(28, 'source_offset', 'long', false, 'raw offset of the source record'),
      col(29, 'lake_error', 'string', false, 'why the record could not be typed (null for every well-formed event)'),
      col(30, 'raw_record', 'string', false, 'the record value when lake_error is set (base64 if not UTF-8)'),
    ],
    // By day only: a (day, provider) partition held ~24,000 rows of the 10-million-event history (420 files after
    // compaction), and per-file costs ruled every query: DuckDB answered the analytical queries over 1 million events
    // 2.1x faster with the same rows in 105 day files (bench/HISTORY.md, lake, 2026-12-06 21:35). Provider filters still
    // skip nothing worth a partition at these volumes. Tables created before keep their spec (set at creation).
    [{ source: 'received_at', transform: 'day', name: 'received_day' }],
    // Sorted by customer, then time, within each day (compaction writes it so): a customer's history is a few runs
    // of adjacent rows that both engines skip to by page statistics, and the sorted ids compress to runs.
    [{ source: 'customer_id' }, { source: 'received_at' }],
  ),
  validation_dlq: table(
    'validation_dlq',
    'Every record of payments.validation.dlq: what failed validation, why, and where the raw record is.',
    [TOPICS.validationDlq],
    [
      ...kafkaColumns(1),
      col(5, 'event_id', 'string', false, '<provider>:<provider_event_id> when known'),
      col(6, 'provider', 'string', false, 'provider when known'),
      col(7, 'provider_event_id', 'string', false, "provider's event id when known"),
      col(8, 'failure_reason', 'string', false, 'first error code'),
      col(9, 'validation_errors', 'string', false, 'JSON array of {field, code, message}'),
      col(10, 'source_topic', 'string', false, 'ORIGINAL raw topic'),
      col(11, 'source_partition', 'int', false, 'ORIGINAL raw partition'),
      col(12, 'source_offset', 'long', false, 'ORIGINAL raw offset'),
      col(13, 'original_payload', 'string', false, 'the original payload (base64 when not UTF-8)'),
      col(14, 'original_payload_encoding', 'string', false, 'utf8 | base64'),
      col(15, 'received_at', 'timestamptz', false, 'when the edge received the raw record'),
      col(16, 'quarantined_at', 'timestamptz', true, 'when the transformer rejected it (Kafka timestamp if absent)'),
      col(17, 'record', 'string', true, 'the whole DLQ record as text (base64 if it is not UTF-8)'),
    ],
    [{ source: 'quarantined_at', transform: 'day', name: 'quarantined_day' }],
  ),
  payment_outcomes: table(
    'payment_outcomes',
    "What the workflows decided, one row per version of a row of PostgreSQL's payment_events (loaded incrementally; " +
      'the latest persisted_at per event_id is the current decision).',
    [],
    [
      col(1, 'event_id', 'string', true, 'the dedup key'),
      col(2, 'provider', 'string', false, 'provider'),
      col(3, 'event_type', 'string', false, 'normalized event type'),
      col(4, 'merchant_id', 'string', false, 'merchant id'),
      col(5, 'customer_id', 'string', false, 'customer id'),
      col(6, 'amount_minor', 'long', false, 'amount in minor units'),
      col(7, 'currency', 'string', false, 'ISO 4217'),
      col(8, 'status', 'string', false, "provider's status"),
      col(9, 'outcome', 'string', true, 'succeeded | failed | other'),
      col(10, 'validation_status', 'string', true, 'passed | failed (business rules)'),
      col(11, 'validation_errors', 'string', false, 'JSON array'),
      col(12, 'fraud_score', 'double', false, 'fraud score 0..1'),
      col(13, 'fraud_risk_level', 'string', false, 'risk level'),
      col(14, 'fraud_model_version', 'string', false, 'model version that scored it'),
      col(15, 'retry_action', 'string', false, 'retry strategy action (failed payments)'),
      col(16, 'retry_delay_seconds', 'int', false, 'retry delay'),
      col(17, 'retry_strategy', 'string', false, 'retry strategy JSON'),
      col(18, 'churn_score', 'double', false, 'churn score 0..1'),
      col(19, 'churn_risk_level', 'string', false, 'churn risk level'),
      col(20, 'churn_model_version', 'string', false, 'churn model version'),
      col(21, 'days_to_churn_estimate', 'int', false, 'days to churn estimate'),
      col(22, 'workflow_id', 'string', true, 'Temporal workflow id'),
      col(23, 'provider_created_at', 'timestamptz', false, 'provider timestamp'),
      col(24, 'received_at', 'timestamptz', false, 'edge receive time'),
      col(25, 'persisted_at', 'timestamptz', true, 'when the workflow persisted this version'),
      col(26, 'pg_id', 'long', true, 'PostgreSQL payment_events.id'),
    ],
    [{ source: 'persisted_at', transform: 'day', name: 'persisted_day' }],
  ),
});

export const LAKE_TABLE_NAMES = Object.keys(LAKE_TABLES) as LakeTableName[];

/** Snapshot summary keys the lake writer uses (visible in `<table>$snapshots` in Trino). */
export const LAKE_SUMMARY_KEYS = {
  /** JSON `{"<topic>:<partition>": "<next offset>"}`: every Kafka record below these offsets is in the table, exactly once. */
  kafkaOffsets: 'pep.kafka.offsets',
  /** payment_outcomes: PostgreSQL transaction-id horizon; every row version of a transaction below it is loaded. */
  pgXidHorizon: 'pep.pg.xid-horizon',
  /** Identifies the writer (and its file-name prefix) of a snapshot. */
  writer: 'pep.writer',
  /** Unique id of one commit: lets a writer whose commit answer was lost find out whether it landed. */
  commitId: 'pep.commit-id',
} as const;

/** Iceberg schema JSON (table metadata format) of a table definition. */
export function icebergSchemaJson(t: LakeTable): string {
  return JSON.stringify({
    type: 'struct',
    'schema-id': 0,
    fields: t.columns.map((c) => ({ id: c.id, name: c.name, required: c.required, type: c.type, doc: c.doc })),
  });
}

/** Unbound Iceberg partition spec JSON of a table definition. */
export function icebergPartitionSpecJson(t: LakeTable): string {
  return JSON.stringify({
    'spec-id': 0,
    fields: t.partitionBy.map((p, i) => {
      const source = t.columns.find((c) => c.name === p.source);
      if (!source) throw new Error(`${t.qualifiedName}: partition source ${p.source} is not a column`);
      return { 'source-id': source.id, 'field-id': 1000 + i, name: p.name, transform: p.transform };
    }),
  });
}

/** Sort order JSON of a table definition for the lake addon (`[{"name", "descending", "nullsFirst"}]`). */
export function lakeSortOrderJson(t: LakeTable): string {
  return JSON.stringify(
    t.sortBy.map((f) => {
      if (!t.columns.some((c) => c.name === f.source)) {
        throw new Error(`${t.qualifiedName}: sort column ${f.source} is not a column`);
      }
      return { name: f.source, descending: f.descending ?? false, nullsFirst: f.nullsFirst ?? true };
    }),
  );
}

/**
 * The table whose source topics include `topic` (raw topics, DLQs, normalized). A prefixed topic (`<prefix>.` before
 * the contract name, as the tests' private topics have) maps like the topic it ends with.
 */
export function lakeTableForTopic(topic: string): LakeTable | undefined {
  return Object.values(LAKE_TABLES).find((t) => t.sourceTopics.some((s) => topic === s || topic.endsWith(`.${s}`)));
}
