/**
 * Kafka record → row of its bronze table (contracts/src/lake.ts). Pure functions: every byte string becomes a row
 * (a record that cannot be typed keeps its bytes and says why in `lake_error`/`record`), so the sink never has a
 * reason to skip or stall on a record. Not Kafka I/O and not Arrow building.
 */
import { LAKE_TABLES, type LakeTable, OUTPUT_HEADERS, PROVIDERS, RAW_HEADERS, TOPICS } from '@pep/contracts';
import type { Row } from './arrow.ts';

export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Unix milliseconds. */
  readonly timestampMs: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Readonly<Record<string, string | undefined>>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** Header names never stored (a raw record carries none of them today; a future one must not leak). */
const SENSITIVE = /signature|hmac|authorization|cookie|api-key|secret|token/i;
const PROVIDER_IN_TOPIC = new RegExp(`(?:^|\\.)webhooks\\.(${PROVIDERS.join('|')})\\.`);
const MAX_TEXT_CHARS = 16 << 20;

function text(b: Uint8Array | null): string | null {
  if (b === null) return null;
  try {
    return utf8.decode(b);
  } catch {
    return null;
  }
}

/** Text, or base64 when the bytes are not UTF-8. */
function textOrBase64(b: Uint8Array): { value: string; encoding: 'utf8' | 'base64' } {
  const t = text(b);
  return t !== null
    ? { value: t, encoding: 'utf8' }
    : { value: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'), encoding: 'base64' };
}

function isoMs(v: unknown): number | null {
  if (typeof v !== 'string' || v.length === 0 || v.length > 64) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? null : ms;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null => (typeof v === 'number' && Number.isSafeInteger(v) ? v : null);
const int32 = (v: unknown): number | null => {
  const n = int(v);
  return n !== null && n >= -(2 ** 31) && n < 2 ** 31 ? n : null;
};
const parseInt32 = (v: string | undefined): number | null => (v && /^\d{1,9}$/.test(v) ? Number(v) : null);
const parseLong = (v: string | undefined): bigint | null => (v && /^\d{1,18}$/.test(v) ? BigInt(v) : null);

function kafkaCells(r: KafkaRecord) {
  return {
    kafka_topic: r.topic,
    kafka_partition: r.partition,
    kafka_offset: r.offset,
    kafka_timestamp: r.timestampMs,
  };
}

export function providerOf(r: KafkaRecord): string | null {
  const m = PROVIDER_IN_TOPIC.exec(r.topic);
  if (m) return m[1] as string;
  const h = r.headers[RAW_HEADERS.provider];
  return h && (PROVIDERS as readonly string[]).includes(h) ? h : null;
}

export function webhookEventRow(r: KafkaRecord): Row {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) if (v !== undefined && !SENSITIVE.test(k)) headers[k] = v;
  return {
    ...kafkaCells(r),
    received_at: isoMs(r.headers[RAW_HEADERS.receivedAt]) ?? r.timestampMs,
    provider: providerOf(r),
    request_id: r.headers[RAW_HEADERS.requestId] ?? null,
    record_key: text(r.key),
    headers: JSON.stringify(headers),
    body: r.value ?? new Uint8Array(0),
    is_dlq: r.topic === TOPICS.webhooksDlq || r.topic.endsWith(`.${TOPICS.webhooksDlq}`),
  };
}

function parseJsonObject(b: Uint8Array | null): Record<string, unknown> | string {
  if (b === null) return 'the record has no value';
  const t = text(b);
  if (t === null) return 'the record value is not UTF-8';
  if (t.length > MAX_TEXT_CHARS) return `the record value is over ${MAX_TEXT_CHARS} characters`;
  try {
    const v = JSON.parse(t) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'the record value is not a JSON object';
    return v as Record<string, unknown>;
  } catch {
    return 'the record value is not valid JSON';
  }
}

export function paymentEventRow(r: KafkaRecord): Row {
  return paymentEventRowOf(r, parseJsonObject(r.value));
}

/** The payment_events row of a record whose value `parseJsonObject` has parsed (or said why it could not). */
function paymentEventRowOf(r: KafkaRecord, ev: Record<string, unknown> | string): Row {
  const source = {
    source_topic: r.headers[OUTPUT_HEADERS.sourceTopic] ?? null,
    source_partition: parseInt32(r.headers[OUTPUT_HEADERS.sourcePartition]),
    source_offset: parseLong(r.headers[OUTPUT_HEADERS.sourceOffset]),
  };
  if (typeof ev === 'string' || typeof ev.event_id !== 'string') {
    return {
      ...kafkaCells(r),
      ...source,
      received_at: isoMs(r.headers[RAW_HEADERS.receivedAt]) ?? r.timestampMs,
      lake_error: typeof ev === 'string' ? ev : 'the event has no event_id',
      raw_record: r.value ? textOrBase64(r.value).value : null,
    };
  }
  const amount = ev.amount_minor;
  // One object literal in column order (no spreads): the sink builds one per record.
  return {
    kafka_topic: r.topic,
    kafka_partition: r.partition,
    kafka_offset: r.offset,
    kafka_timestamp: r.timestampMs,
    source_topic: source.source_topic,
    source_partition: source.source_partition,
    source_offset: source.source_offset,
    event_id: ev.event_id,
    provider: str(ev.provider),
    provider_event_id: str(ev.provider_event_id),
    object_id: str(ev.object_id),
    event_type: str(ev.event_type),
    provider_event_type: str(ev.provider_event_type),
    merchant_id: str(ev.merchant_id),
    customer_id: str(ev.customer_id),
    amount_minor: typeof amount === 'number' && Number.isSafeInteger(amount) ? amount : null,
    currency: str(ev.currency),
    payment_method_type: str(ev.payment_method_type),
    card_brand: str(ev.card_brand),
    card_last_four: str(ev.card_last_four),
    status: str(ev.status),
    failure_code: str(ev.failure_code),
    failure_message: str(ev.failure_message),
    metadata: ev.metadata === undefined || ev.metadata === null ? null : JSON.stringify(ev.metadata),
    provider_created_at: isoMs(ev.provider_created_at),
    received_at: isoMs(ev.received_at) ?? isoMs(r.headers[RAW_HEADERS.receivedAt]) ?? r.timestampMs,
    normalized_at: isoMs(ev.normalized_at),
    schema_version: int32(ev.schema_version),
    lake_error: null,
    raw_record: null,
  };
}

export function validationDlqRow(r: KafkaRecord): Row {
  return validationDlqRowOf(r, parseJsonObject(r.value));
}

function validationDlqRowOf(r: KafkaRecord, d: Record<string, unknown> | string): Row {
  const whole = r.value ? textOrBase64(r.value).value : '';
  if (typeof d === 'string') {
    return { ...kafkaCells(r), quarantined_at: r.timestampMs, failure_reason: 'LAKE_UNREADABLE_RECORD', record: whole };
  }
  return {
    ...kafkaCells(r),
    event_id: str(d.event_id),
    provider: str(d.provider),
    provider_event_id: str(d.provider_event_id),
    failure_reason: str(d.failure_reason),
    validation_errors: Array.isArray(d.validation_errors) ? JSON.stringify(d.validation_errors) : null,
    source_topic: str(d.source_topic),
    source_partition: int32(d.kafka_partition),
    source_offset: int(d.kafka_offset),
    original_payload: str(d.original_payload),
    original_payload_encoding: str(d.original_payload_encoding),
    received_at: isoMs(d.received_at),
    quarantined_at: isoMs(d.quarantined_at) ?? r.timestampMs,
    record: whole,
  };
}

/** A record's value as parsed JSON, or why it is not a JSON object (null: the table does not parse values). */
export type ParsedValue = Record<string, unknown> | string | null;

/**
 * The row function of a Kafka-fed table in its two steps, the value's JSON parse and the mapping to columns (the
 * sink's profile times them apart): `row(r, parse(r))` is `rowFunctionFor(t)(r)`.
 */
export interface RowSteps {
  readonly parse: (r: KafkaRecord) => ParsedValue;
  readonly row: (r: KafkaRecord, parsed: ParsedValue) => Row;
}

const parseValue = (r: KafkaRecord): ParsedValue => parseJsonObject(r.value);

export function rowStepsFor(t: LakeTable): RowSteps {
  if (t.name === LAKE_TABLES.webhook_events.name) return { parse: () => null, row: (r) => webhookEventRow(r) };
  if (t.name === LAKE_TABLES.payment_events.name) {
    return { parse: parseValue, row: (r, p) => paymentEventRowOf(r, p ?? 'the record has no value') };
  }
  if (t.name === LAKE_TABLES.validation_dlq.name) {
    return { parse: parseValue, row: (r, p) => validationDlqRowOf(r, p ?? 'the record has no value') };
  }
  throw new Error(`${t.qualifiedName} is not fed from Kafka`);
}

/** The row function for a Kafka-fed table. */
export function rowFunctionFor(t: LakeTable): (r: KafkaRecord) => Row {
  if (t.name === LAKE_TABLES.webhook_events.name) return webhookEventRow;
  if (t.name === LAKE_TABLES.payment_events.name) return paymentEventRow;
  if (t.name === LAKE_TABLES.validation_dlq.name) return validationDlqRow;
  throw new Error(`${t.qualifiedName} is not fed from Kafka`);
}
