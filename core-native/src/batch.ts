/**
 * Helpers that pack messages into the batch layout and read records back. Used by the pipeline
 * (packing a Kafka batch) and by tests; both implementations share them.
 */
import { type FeatureBatch, LIMITS, type OneMessage, PROVIDER_CODES, type RawBatch, type RecordSet } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const toBytes = (b: Uint8Array | string): Uint8Array => (typeof b === 'string' ? encoder.encode(b) : b);

/** Packs messages into one RawBatch (copies the bytes once). */
export function packBatch(messages: readonly OneMessage[]): RawBatch {
  if (messages.length > LIMITS.maxBatchMessages) {
    throw new RangeError(`batch has ${messages.length} messages; the maximum is ${LIMITS.maxBatchMessages}`);
  }
  const parts = messages.map((m) => toBytes(m.bytes));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const data = new Uint8Array(total);
  const n = messages.length;
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  const providers = new Uint8Array(n);
  const topicIndex = new Uint16Array(n);
  const partitions = new Int32Array(n);
  const kafkaOffsets = new Float64Array(n);
  const receivedAtMs = new Float64Array(n);
  const topics: string[] = [];
  const topicIds = new Map<string, number>();
  let at = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i] as OneMessage;
    const p = parts[i] as Uint8Array;
    data.set(p, at);
    offsets[i] = at;
    lengths[i] = p.length;
    at += p.length;
    providers[i] = PROVIDER_CODES[m.provider] ?? 255;
    const topic = m.topic ?? `webhooks.${m.provider}`;
    let t = topicIds.get(topic);
    if (t === undefined) {
      t = topics.length;
      topics.push(topic);
      topicIds.set(topic, t);
    }
    topicIndex[i] = t;
    partitions[i] = m.partition ?? 0;
    kafkaOffsets[i] = m.offset ?? 0;
    receivedAtMs[i] = m.receivedAtMs;
  }
  return { data, offsets, lengths, providers, topics, topicIndex, partitions, kafkaOffsets, receivedAtMs };
}

export const recordBytes = (s: RecordSet, i: number): Uint8Array =>
  s.data.subarray(s.offsets[i] as number, (s.offsets[i] as number) + (s.lengths[i] as number));

export const recordString = (s: RecordSet, i: number): string => decoder.decode(recordBytes(s, i));

/** The Kafka key of record i, or null. */
export function recordKey(s: RecordSet, i: number): string | null {
  const len = s.keyLengths[i] as number;
  if (len === 0) return null;
  const o = s.keyOffsets[i] as number;
  return decoder.decode(s.keys.subarray(o, o + len));
}

export const recordStrings = (s: RecordSet): string[] =>
  Array.from({ length: s.offsets.length }, (_, i) => recordString(s, i));

/**
 * Strings only and all ASCII (byte offsets are character offsets): one join and one encode for the whole column
 * instead of one encode and one copy per item (256 for a 64-event feature batch). Null otherwise.
 */
function packAsciiText(items: readonly (Uint8Array | string | null | undefined)[]) {
  const n = items.length;
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  const texts: string[] = new Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const x = items[i];
    if (x instanceof Uint8Array) return null;
    const t = x ?? '';
    texts[i] = t;
    offsets[i] = at;
    lengths[i] = t.length;
    at += t.length;
  }
  const data = encoder.encode(texts.join(''));
  return data.length === at ? { data, offsets, lengths } : null;
}

function pack(items: readonly (Uint8Array | string | null | undefined)[]) {
  const text = packAsciiText(items);
  if (text) return text;
  const parts = items.map((x) => (x == null ? new Uint8Array(0) : toBytes(x)));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  const offsets = new Uint32Array(parts.length);
  const lengths = new Uint32Array(parts.length);
  let at = 0;
  parts.forEach((p, i) => {
    data.set(p, at);
    offsets[i] = at;
    lengths[i] = p.length;
    at += p.length;
  });
  return { data, offsets, lengths };
}

/** Packs the events of a FeatureValuesBatch (`vectorizeValues`). */
export function packFeatureEvents(events: readonly (Uint8Array | string)[]): {
  events: Uint8Array;
  eventOffsets: Uint32Array;
  eventLengths: Uint32Array;
} {
  const e = pack(events);
  return { events: e.data, eventOffsets: e.offsets, eventLengths: e.lengths };
}

/** Packs feature rows (null/undefined records are missing). */
export function packFeatureRows(
  rows: readonly {
    event: Uint8Array | string;
    customer?: Uint8Array | string | null;
    merchant?: Uint8Array | string | null;
    paymentMethod?: Uint8Array | string | null;
  }[],
): FeatureBatch {
  const e = pack(rows.map((r) => r.event));
  const c = pack(rows.map((r) => r.customer));
  const m = pack(rows.map((r) => r.merchant));
  const p = pack(rows.map((r) => r.paymentMethod));
  return {
    events: e.data,
    eventOffsets: e.offsets,
    eventLengths: e.lengths,
    customers: c.data,
    customerOffsets: c.offsets,
    customerLengths: c.lengths,
    merchants: m.data,
    merchantOffsets: m.offsets,
    merchantLengths: m.lengths,
    paymentMethods: p.data,
    paymentMethodOffsets: p.offsets,
    paymentMethodLengths: p.lengths,
  };
}
