/**
 * The record path of the retired kafkajs transformer, kept as the reference transformRecordSets is held to (and as the
 * `core` benchmark's baseline): kafkajs messages of one topic-partition packed into one normalizeBatch call, the
 * outputs turned into kafkajs messages with the source headers, and outputs over the record limit replaced by a
 * RECORD_TOO_LARGE DLQ record. Not product code: the transformer runs transformRecordSets on kafka-wire.
 */
import { OUTPUT_HEADERS, RAW_HEADERS } from '@pep/contracts';
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import type { RawBatch, RecordSet } from '../src/index.ts';

function headerString(h: IHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : typeof one === 'string' ? one : one.toString('utf8');
}

/** Receive time: the edge's header, else the Kafka timestamp; NaN when neither is a sane instant. */
export function receivedAtMs(m: KafkaMessage): number {
  const h = headerString(m.headers, RAW_HEADERS.receivedAt);
  if (h !== undefined && h.length <= 40) {
    const ms = Date.parse(h);
    if (Number.isFinite(ms)) return ms;
  }
  const ts = Number(m.timestamp);
  return Number.isInteger(ts) && ts > 0 ? ts : Number.NaN;
}

/** Packs kafkajs messages of one topic-partition into core-native's batch layout. */
export function packBatch(
  topic: string,
  partition: number,
  providerCode: number,
  messages: readonly KafkaMessage[],
): RawBatch {
  const n = messages.length;
  let total = 0;
  for (const m of messages) total += m.value?.length ?? 0;
  const data = Buffer.allocUnsafe(total);
  const offsets = new Uint32Array(n);
  const lengths = new Uint32Array(n);
  const received = new Float64Array(n);
  const kafkaOffsets = new Float64Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const m = messages[i] as KafkaMessage;
    const v = m.value;
    offsets[i] = pos;
    if (v) {
      v.copy(data, pos);
      pos += v.length;
    }
    lengths[i] = v?.length ?? 0;
    received[i] = receivedAtMs(m);
    kafkaOffsets[i] = Number(m.offset);
  }
  return {
    data,
    offsets,
    lengths,
    providers: new Uint8Array(n).fill(providerCode),
    topics: [topic],
    topicIndex: new Uint16Array(n),
    partitions: new Int32Array(n).fill(partition),
    kafkaOffsets,
    receivedAtMs: received,
  };
}

function view(buf: Uint8Array, off: number, len: number): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + off, len);
}

/** Output records of one set as kafkajs messages, with the source headers; `ordinal` numbers outputs per source. */
export function toMessages(
  set: RecordSet,
  source: { topic: string; partition: number; messages: readonly KafkaMessage[] },
  ordinal: { next: Uint32Array; total: Uint32Array },
): Message[] {
  const out: Message[] = new Array(set.offsets.length);
  for (let i = 0; i < set.offsets.length; i++) {
    const src = set.sourceIndex[i] as number;
    const m = source.messages[src] as KafkaMessage;
    const keyLen = set.keyLengths[i] as number;
    const headers: IHeaders = {
      [OUTPUT_HEADERS.sourceTopic]: source.topic,
      [OUTPUT_HEADERS.sourcePartition]: String(source.partition),
      [OUTPUT_HEADERS.sourceOffset]: m.offset,
      [OUTPUT_HEADERS.sourceOutput]: `${ordinal.next[src]}/${ordinal.total[src]}`,
    };
    ordinal.next[src] = (ordinal.next[src] as number) + 1;
    for (const h of [OUTPUT_HEADERS.receivedAt, OUTPUT_HEADERS.requestId, OUTPUT_HEADERS.provider]) {
      const v = headerString(m.headers, h);
      if (v !== undefined && v.length <= 256) headers[h] = v;
    }
    out[i] = {
      key: keyLen > 0 ? view(set.keys, set.keyOffsets[i] as number, keyLen) : null,
      value: view(set.data, set.offsets[i] as number, set.lengths[i] as number),
      headers,
    };
  }
  return out;
}

/** Approximate bytes of a produced record (value, key, headers). */
export function messageBytes(m: Message): number {
  let n = (m.value as Buffer | null)?.length ?? 0;
  n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : ((m.key as Buffer | null)?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) n += k.length + String(v).length;
  return n + 64;
}

/**
 * A small DLQ record standing in for an output the broker would refuse (message.max.bytes): the raw record is
 * still in its topic at the coordinates given, so nothing is lost; the payload is omitted, not truncated.
 */
export function oversizeDlqRecord(m: Message, what: string): Message {
  const h = m.headers ?? {};
  const text = (k: string) => (h[k] === undefined ? null : String(h[k]));
  const size = (m.value as Buffer | null)?.length ?? 0;
  let ids: { event_id: unknown; provider: unknown; provider_event_id: unknown } = {
    event_id: null,
    provider: null,
    provider_event_id: null,
  };
  try {
    const v = JSON.parse(String(m.value));
    ids = {
      event_id: v.event_id ?? null,
      provider: v.provider ?? null,
      provider_event_id: v.provider_event_id ?? null,
    };
  } catch {
    // keep nulls: the record is ours, but if it does not parse the ids are simply unknown
  }
  return {
    key: m.key ?? null,
    headers: { ...h, [OUTPUT_HEADERS.oversizeReplaced]: what },
    value: JSON.stringify({
      ...ids,
      item_index: null,
      original_payload: null,
      original_payload_encoding: null,
      validation_errors: [
        {
          field: 'payload',
          code: 'RECORD_TOO_LARGE',
          message: `${what} of ${size} bytes exceeds the output record limit; the raw record stays at its source coordinates`,
        },
      ],
      failure_reason: 'RECORD_TOO_LARGE',
      source_topic: text(OUTPUT_HEADERS.sourceTopic),
      kafka_partition: Number(text(OUTPUT_HEADERS.sourcePartition)),
      kafka_offset: Number(text(OUTPUT_HEADERS.sourceOffset)),
      received_at: text(OUTPUT_HEADERS.receivedAt),
      quarantined_at: new Date().toISOString(),
      schema_version: 1,
    }),
  };
}
