import { createHash } from 'node:crypto';
import { maskCards, redactBytes } from '@pep/contracts/redact';

/**
 * Turns one DLQ Kafka record (any bytes at all) into a quarantine row. Pure and total: it never throws, whatever
 * the value holds; what cannot be parsed is recorded in `parse_error` next to the raw bytes. Also strips what
 * PostgreSQL refuses in text and jsonb (NUL characters, lone UTF-16 surrogates) so that no record can stop the
 * consumer, and redacts card numbers and signatures (@pep/contracts/redact) in every column. Not for deciding anything about the record: review happens later, from the table.
 */

export type QuarantineTable = 'webhook_quarantine' | 'validation_quarantine';

export interface DlqMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: string;
  readonly headers: Record<string, Buffer | string | (Buffer | string)[] | undefined> | undefined;
}

/** Column name → value, in the table's column order for the INSERT. */
export type Row = Record<string, unknown>;

const COMMON = [
  'kafka_topic',
  'kafka_partition',
  'kafka_offset',
  'kafka_key',
  'kafka_timestamp',
  'kafka_headers',
  'raw_value',
  'record_sha256',
  'record',
  'parse_error',
] as const;

export const COLUMNS: Readonly<Record<QuarantineTable, readonly string[]>> = {
  webhook_quarantine: [
    ...COMMON,
    'provider',
    'reason',
    'message',
    'security_event',
    'http_status',
    'event_id',
    'request_id',
    'received_at',
  ],
  validation_quarantine: [
    ...COMMON,
    'event_id',
    'provider',
    'provider_event_id',
    'failure_reason',
    'validation_errors',
    'source_topic',
    'source_partition',
    'source_offset',
    'dlq_quarantined_at',
  ],
};

/** Bounds on what one row may carry in its parsed text columns (the raw bytes are always kept whole). */
export const MAX_TEXT_CHARS = 4096;

// Lone surrogates and NUL are valid in JS strings but rejected by PostgreSQL text/jsonb.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching NUL is the point.
const BAD_CHARS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function cleanText(s: string, maxChars = MAX_TEXT_CHARS): string {
  const cleaned = maskCards(s).replace(BAD_CHARS, '\ufffd');
  return cleaned.length > maxChars ? `${cleaned.slice(0, maxChars)}…` : cleaned;
}

function textOrNull(v: unknown): string | null {
  if (typeof v === 'string') return cleanText(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return null;
}

function intOrNull(v: unknown, min: number, max: number): number | null {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : null;
}

function bigintTextOrNull(v: unknown): string | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (typeof v === 'string' && /^\d{1,19}$/.test(v) && BigInt(v) <= 9223372036854775807n) return v;
  return null;
}

function timestampOrNull(v: unknown): string | null {
  if (typeof v !== 'string' || v.length > 64) return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : null;
}

/** Deep copy with every string (keys too) cleaned, so that JSON.stringify of it is accepted as jsonb. */
function cleanJson(v: unknown, depth = 0): unknown {
  if (depth > 64) return null;
  if (typeof v === 'string') return maskCards(v).replace(BAD_CHARS, '\ufffd');
  if (Array.isArray(v)) return v.map((x) => cleanJson(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[maskCards(k).replace(BAD_CHARS, '\ufffd')] = cleanJson(x, depth + 1);
    return out;
  }
  return v;
}

function headersJson(headers: DlqMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!headers) return out;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const key = cleanText(k, 256);
    out[key] = Array.isArray(v) ? v.map((x) => cleanText(x.toString(), 1024)) : cleanText(v.toString(), 1024);
  }
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function parseValue(value: Buffer): { record: Record<string, unknown> | null; parseError: string | null } {
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return { record: null, parseError: 'value is not valid UTF-8' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { record: null, parseError: cleanText(`value is not JSON: ${(err as Error).message}`, 512) };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return { record: null, parseError: 'value is JSON but not an object' };
  }
  return { record: cleanJson(parsed) as Record<string, unknown>, parseError: null };
}

function kafkaTimestamp(ts: string): string | null {
  const ms = Number(ts);
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
}

/**
 * The fingerprint of a DLQ record as its quarantine row stores it (`record_sha256`): SHA-256 over the key's length as a
 * 32-bit big-endian integer (-1 for no key), the key and the value, all as stored (redacted: a hash of the original
 * bytes would let anyone holding the row test candidate card numbers against it). Coordinates alone do not name a
 * record: after a topic is re-created or the platform moves to another cluster, offsets start again, and a new record
 * at an old record's coordinates is another record. The same record redelivered has the same fingerprint.
 */
export function recordSha256(storedKey: Uint8Array | null, storedValue: Uint8Array): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(storedKey === null ? -1 : storedKey.byteLength);
  const h = createHash('sha256').update(len);
  if (storedKey !== null) h.update(storedKey);
  return h.update(storedValue).digest();
}

/** The key and value of a DLQ message as a quarantine row stores them (redacted), and their fingerprint. */
export function storedRecord(msg: Pick<DlqMessage, 'key' | 'value'>): {
  key: Buffer | null;
  value: Buffer;
  sha256: Buffer;
} {
  // The DLQ producers redact their records (issue 13); the last gate before the tables redacts again, whatever wrote
  // the record: no card number or signature reaches a quarantine row. The exact bytes stay in the raw topics.
  const red = redactBytes(msg.value ?? Buffer.alloc(0));
  const value = Buffer.from(red.bytes.buffer, red.bytes.byteOffset, red.bytes.byteLength);
  const key = msg.key === null ? null : Buffer.from(redactBytes(msg.key).bytes);
  return { key, value, sha256: recordSha256(key, value) };
}

/** One row for `table` from `msg`; never throws. */
export function toRow(table: QuarantineTable, msg: DlqMessage): Row {
  const stored = storedRecord(msg);
  const value = stored.value;
  const { record, parseError } =
    msg.value === null ? { record: null, parseError: 'record has a null value (tombstone)' } : parseValue(value);
  const r = record ?? {};
  const base: Row = {
    kafka_topic: msg.topic,
    kafka_partition: msg.partition,
    kafka_offset: msg.offset,
    kafka_key: stored.key,
    kafka_timestamp: kafkaTimestamp(msg.timestamp),
    kafka_headers: JSON.stringify(headersJson(msg.headers)),
    raw_value: value,
    record_sha256: stored.sha256,
    record: record ? JSON.stringify(record) : null,
    parse_error: parseError,
  };
  if (table === 'webhook_quarantine') {
    return {
      ...base,
      provider: textOrNull(r.provider),
      reason: textOrNull(r.reason),
      message: textOrNull(r.message),
      security_event: typeof r.security_event === 'boolean' ? r.security_event : null,
      http_status: intOrNull(r.http_status, 100, 599),
      event_id: textOrNull(r.event_id),
      request_id: textOrNull(r.request_id),
      received_at: timestampOrNull(r.received_at),
    };
  }
  return {
    ...base,
    event_id: textOrNull(r.event_id),
    provider: textOrNull(r.provider),
    provider_event_id: textOrNull(r.provider_event_id),
    failure_reason: textOrNull(r.failure_reason),
    validation_errors: Array.isArray(r.validation_errors) ? JSON.stringify(r.validation_errors) : null,
    source_topic: textOrNull(r.source_topic),
    source_partition: intOrNull(r.kafka_partition ?? r.source_partition, 0, 2 ** 31 - 1),
    source_offset: bigintTextOrNull(r.kafka_offset ?? r.source_offset),
    dlq_quarantined_at: timestampOrNull(r.quarantined_at),
  };
}

/** A degraded row for a record PostgreSQL refused in parsed form: raw bytes and coordinates only. */
export function rawOnlyRow(table: QuarantineTable, row: Row, error: string): Row {
  const out: Row = {};
  for (const c of COLUMNS[table]) out[c] = null;
  for (const c of [
    'kafka_topic',
    'kafka_partition',
    'kafka_offset',
    'kafka_key',
    'kafka_timestamp',
    'raw_value',
    'record_sha256',
  ]) {
    out[c] = row[c];
  }
  out.kafka_headers = '{}';
  out.parse_error = cleanText(`stored raw only: ${error}`, 512);
  return out;
}

/**
 * `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING` for `rows`, with positional parameters: a row is one record, named
 * by its coordinates AND its fingerprint (`recordSha256`), so a redelivery adds nothing and a different record at
 * reused coordinates (a re-created topic, a new cluster) gets its own row.
 */
export function insertStatement(table: QuarantineTable, rows: readonly Row[]): { text: string; values: unknown[] } {
  const cols = COLUMNS[table];
  const values: unknown[] = [];
  const tuples = rows.map((row) => {
    const ph = cols.map((c) => {
      values.push(row[c] ?? null);
      return `$${values.length}`;
    });
    return `(${ph.join(',')})`;
  });
  return {
    text: `INSERT INTO ${table} (${cols.join(',')}) VALUES ${tuples.join(',')} ON CONFLICT (kafka_topic, kafka_partition, kafka_offset, record_sha256) DO NOTHING`,
    values,
  };
}
