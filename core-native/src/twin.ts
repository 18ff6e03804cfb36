/**
 * The TypeScript twin of `crates/core/src/normalize.rs` and `model.rs`: per-message dispatch,
 * canonical event / DLQ JSON, and the batch API over the same byte layout as the addon.
 */
import { PROVIDERS } from '@pep/contracts';
import { cleanText, hasCardNumber, maskCards, redactPayload } from '@pep/contracts/redact';
import { BT_FORM_ERRORS, base64Decode, braintreeForm } from './codec.ts';
import type { AmountBounds } from './currency.ts';
import { decodeUtf8, get, INVALID, parseBytes } from './json.ts';
import {
  adyenItem,
  adyenItems,
  braintree,
  btFromXml,
  type Outcome,
  type ProviderName,
  square,
  stripe,
  type UnifiedEvent,
} from './providers/index.ts';
import { C, type Code, Errs, type FieldError } from './rules.ts';
import { iso, MAX_MS, MIN_MS } from './time.ts';
import { type BatchResult, LIMITS, type RawBatch, type RecordSet } from './types.ts';
import { parseXml } from './xml.ts';

const INVALID_JSON_MESSAGE = 'payload is not valid JSON (RFC 8259, UTF-8, at most 64 levels deep)';
const s = JSON.stringify;
const n = (v: string | undefined) => (v === undefined ? 'null' : s(v));

// Free-text values (every string but the ids, the provider, the currency and the timestamps) as the event carries
// them (redact.rs / @pep/contracts/redact).
const t = (v: string) => s(cleanText(v));
const tn = (v: string | undefined) => (v === undefined ? 'null' : t(v));

export function eventJson(ev: UnifiedEvent, receivedAtMs: number, normalizedAtMs: number): string {
  let meta = '{';
  ev.metadata.forEach(([k, v], i) => {
    meta += `${i > 0 ? ',' : ''}${t(k)}:${v === null ? 'null' : typeof v === 'boolean' ? String(v) : Array.isArray(v) ? `[${v.map(t).join(',')}]` : t(v)}`;
  });
  meta += '}';
  return (
    `{"event_id":${s(`${ev.provider}:${ev.providerEventId}`)},"provider":${s(ev.provider)},` +
    `"provider_event_id":${s(ev.providerEventId)},"object_id":${n(ev.objectId)},"event_type":${t(ev.eventType)},` +
    `"provider_event_type":${t(ev.providerEventType)},` +
    `"merchant_id":${n(ev.merchantId)},"customer_id":${n(ev.customerId)},"amount_minor":${ev.amountMinor},` +
    `"currency":${s(ev.currency)},"payment_method_type":${tn(ev.paymentMethodType)},"card_brand":${tn(ev.cardBrand)},` +
    `"card_last_four":${tn(ev.cardLastFour)},"status":${t(ev.status)},"failure_code":${tn(ev.failureCode)},` +
    `"failure_message":${tn(ev.failureMessage)},"metadata":${meta},` +
    `"provider_created_at":"${iso(ev.providerCreatedAtMs)}","received_at":"${iso(receivedAtMs)}",` +
    `"normalized_at":"${iso(normalizedAtMs)}","schema_version":1}`
  );
}

export interface Dlq {
  provider: ProviderName | undefined;
  providerEventId: string | undefined;
  itemIndex: number | undefined;
  errors: FieldError[];
}

export interface SourceInfo {
  topic: string;
  partition: number;
  offset: number;
  /** NaN when the caller's value was invalid. */
  receivedAtMs: number;
}

export function dlqJson(d: Dlq, raw: Uint8Array, src: SourceInfo, quarantinedAtMs: number): string {
  // Redacted (signatures, card numbers): the original bytes stay in the raw topic at the source coordinates.
  const red = redactPayload(raw);
  const payload = s(red.text);
  const errs = d.errors.map((e) => `{"field":${s(e.field)},"code":${s(e.code)},"message":${s(e.message)}}`).join(',');
  const eventId =
    d.provider !== undefined && d.providerEventId !== undefined ? s(`${d.provider}:${d.providerEventId}`) : 'null';
  const received = Number.isNaN(src.receivedAtMs) ? 'null' : `"${iso(src.receivedAtMs)}"`;
  return (
    `{"event_id":${eventId},"provider":${n(d.provider)},"provider_event_id":${n(d.providerEventId)},` +
    `"item_index":${d.itemIndex === undefined ? 'null' : d.itemIndex},"original_payload":${payload},` +
    `"original_payload_encoding":"${red.encoding}","validation_errors":[${errs}],` +
    `"failure_reason":${s(d.errors[0]?.code ?? 'UNKNOWN_ERROR')},"source_topic":${s(src.topic)},` +
    `"kafka_partition":${src.partition},"kafka_offset":${src.offset},"received_at":${received},` +
    `"quarantined_at":"${iso(quarantinedAtMs)}","schema_version":1}`
  );
}

export interface Sink {
  event(ev: UnifiedEvent): void;
  dlq(d: Dlq): void;
}

const oneError = (field: string, code: Code, message: string): Errs => {
  const e = new Errs();
  e.push(field, code, message);
  return e;
};

function dlqOf(
  sink: Sink,
  provider: ProviderName | undefined,
  id: string | undefined,
  item: number | undefined,
  e: Errs,
): undefined {
  // The raw id is the DLQ record's key and part of its event_id: a card number in it is masked.
  sink.dlq({ provider, providerEventId: id === undefined ? id : maskCards(id), itemIndex: item, errors: e.list });
  return undefined;
}

/** The first identifier of the event that holds a card number (hasCardNumber), as redact.rs. */
function cardNumberId(ev: UnifiedEvent): string | undefined {
  if (hasCardNumber(ev.providerEventId)) return 'provider_event_id';
  const ids: [string, string | undefined][] = [
    ['object_id', ev.objectId],
    ['merchant_id', ev.merchantId],
    ['customer_id', ev.customerId],
  ];
  return ids.find(([, v]) => v !== undefined && hasCardNumber(v))?.[0];
}

function emit(sink: Sink, provider: ProviderName, item: number | undefined, o: Outcome): undefined {
  if (!o.ok) return dlqOf(sink, provider, o.rejected.providerEventId, item, o.rejected.errors);
  // Free text is masked when the event is written; an identifier cannot be (events would merge), so an event whose id
  // holds a card number is refused (card numbers are never stored).
  const field = cardNumberId(o.event);
  if (field === undefined) sink.event(o.event);
  else
    dlqOf(
      sink,
      provider,
      o.event.providerEventId,
      item,
      oneError(
        field,
        C.CARD_NUMBER_IN_ID,
        "holds a card number (13 to 19 digits with a card brand's leading digits and length, passing the Luhn check); card numbers are never stored",
      ),
    );
  return undefined;
}

export function normalizeMessage(code: number, raw: Uint8Array, bounds: AmountBounds, sink: Sink): undefined {
  const p = PROVIDERS[code];
  if (p === undefined)
    return dlqOf(
      sink,
      undefined,
      undefined,
      undefined,
      oneError('provider', C.UNKNOWN_PROVIDER, 'unknown provider code'),
    );
  if (raw.length > LIMITS.maxMessageBytes) {
    return dlqOf(
      sink,
      p,
      undefined,
      undefined,
      oneError('payload', C.PAYLOAD_TOO_LARGE, `message exceeds ${LIMITS.maxMessageBytes} bytes`),
    );
  }
  if (p === 'braintree') return braintreeMessage(raw, bounds, sink);
  const root = parseBytes(raw);
  if (root === INVALID)
    return dlqOf(sink, p, undefined, undefined, oneError('payload', C.INVALID_JSON, INVALID_JSON_MESSAGE));
  if (p === 'stripe') return emit(sink, p, undefined, stripe(root, bounds));
  if (p === 'square') return emit(sink, p, undefined, square(root, bounds));
  const split = adyenItems(root);
  if (split instanceof Errs) return dlqOf(sink, p, undefined, undefined, split);
  const multi = get(root, 'notificationItems') !== undefined;
  split.items.forEach((item, i) => {
    emit(sink, p, multi ? i : undefined, adyenItem(item, split.live, bounds));
  });
}

/**
 * Braintree messages are the edge's raw form body, read with the parser the edge verified it with (`braintreeForm`):
 * a Braintree webhook is a form, never JSON, and its payload is a `<notification>` XML document.
 */
function braintreeMessage(raw: Uint8Array, bounds: AmountBounds, sink: Sink): undefined {
  const p: ProviderName = 'braintree';
  const one = (field: string, code: Code, msg: string) =>
    dlqOf(sink, p, undefined, undefined, oneError(field, code, msg));
  const form = braintreeForm(raw);
  if (typeof form === 'string') {
    const e = BT_FORM_ERRORS[form];
    return one(e.field, C.INVALID_PAYLOAD, e.message);
  }
  const decoded = base64Decode(form.payload);
  if (decoded === undefined) return one('bt_payload', C.INVALID_PAYLOAD, 'bt_payload is not base64');
  const text = decodeUtf8(decoded);
  if (text === undefined) return one('bt_payload', C.INVALID_PAYLOAD, 'bt_payload is not UTF-8');
  const root = parseXml(text);
  const note = root === undefined ? undefined : btFromXml(root);
  if (note === undefined)
    return one('bt_payload', C.INVALID_PAYLOAD, 'bt_payload is not a <notification> XML document');
  return emit(sink, p, undefined, braintree(note, bounds, new Errs()));
}

const enc = new TextEncoder();

/** Accumulates records as strings and packs them once at the end. */
class SetBuilder {
  records: string[] = [];
  keys: (string | undefined)[] = [];
  source: number[] = [];
  /** UTF-16 units so far: a cheap upper bound (×3) on the UTF-8 size. */
  units = 0;
  /** Exact UTF-8 size, tracked only once the cheap bound could pass the limit. */
  bytes: number | undefined;
  add(record: string): void {
    this.records.push(record);
    this.units += record.length;
    if (this.bytes !== undefined) this.bytes += Buffer.byteLength(record);
  }
  tooLarge(): boolean {
    if (this.bytes === undefined) {
      if (this.units * 3 <= LIMITS.maxOutputBytes) return false;
      this.bytes = 0;
      for (const r of this.records) this.bytes += Buffer.byteLength(r);
    }
    return this.bytes > LIMITS.maxOutputBytes;
  }
  build(): RecordSet {
    const count = this.records.length;
    const data = enc.encode(this.records.join(''));
    const keys = enc.encode(this.keys.map((k) => k ?? '').join(''));
    const offsets = new Uint32Array(count);
    const lengths = new Uint32Array(count);
    const keyOffsets = new Uint32Array(count);
    const keyLengths = new Uint32Array(count);
    let at = 0;
    let kat = 0;
    for (let i = 0; i < count; i++) {
      const len = Buffer.byteLength(this.records[i] as string);
      offsets[i] = at;
      lengths[i] = len;
      at += len;
      const klen = Buffer.byteLength(this.keys[i] ?? '');
      keyOffsets[i] = kat;
      keyLengths[i] = klen;
      kat += klen;
    }
    return { data, offsets, lengths, keys, keyOffsets, keyLengths, sourceIndex: Uint32Array.from(this.source) };
  }
}

const msFrom = (v: number): number | undefined =>
  Number.isInteger(v) && v >= MIN_MS && v <= MAX_MS ? (v === 0 ? 0 : v) : undefined;

export function normalizeBatchJs(b: RawBatch, normalizedAtMsIn: number, bounds: AmountBounds): BatchResult {
  const count = b.offsets.length;
  for (const [name, arr] of [
    ['lengths', b.lengths],
    ['providers', b.providers],
    ['topicIndex', b.topicIndex],
    ['partitions', b.partitions],
    ['kafkaOffsets', b.kafkaOffsets],
    ['receivedAtMs', b.receivedAtMs],
  ] as const) {
    if (arr.length !== count) throw new RangeError(`${name} has ${arr.length} entries, offsets has ${count}`);
  }
  if (count > LIMITS.maxBatchMessages) {
    throw new RangeError(`batch has ${count} messages; the maximum is ${LIMITS.maxBatchMessages}`);
  }
  let total = 0;
  for (let i = 0; i < count; i++) total += b.lengths[i] as number;
  if (total > LIMITS.maxBatchBytes)
    throw new RangeError(`batch has ${total} bytes; the maximum is ${LIMITS.maxBatchBytes}`);
  const normalizedAtMs = msFrom(normalizedAtMsIn);
  if (normalizedAtMs === undefined) throw new RangeError('normalizedAtMs must be an integer Unix time in milliseconds');
  const events = new SetBuilder();
  const dlq = new SetBuilder();
  const status = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const start = b.offsets[i] as number;
    const raw = b.data.subarray(start, start + (b.lengths[i] as number));
    if (start + (b.lengths[i] as number) > b.data.length) throw new RangeError(`message ${i} is outside data`);
    const topic = b.topics[b.topicIndex[i] as number];
    if (topic === undefined) throw new RangeError(`message ${i}: topicIndex out of range`);
    const off = b.kafkaOffsets[i] as number;
    if (!Number.isSafeInteger(off) || off < 0)
      throw new RangeError(`message ${i}: kafkaOffsets must be a non-negative safe integer`);
    const received = msFrom(b.receivedAtMs[i] as number);
    const src: SourceInfo = {
      topic,
      partition: b.partitions[i] as number,
      offset: off === 0 ? 0 : off,
      receivedAtMs: received ?? Number.NaN,
    };
    let ev = 0;
    let dl = 0;
    const sink: Sink = {
      event(e) {
        events.add(eventJson(e, src.receivedAtMs, normalizedAtMs));
        events.keys.push(`${e.provider}:${e.providerEventId}`);
        events.source.push(i);
        ev++;
      },
      dlq(d) {
        dlq.add(dlqJson(d, raw, src, normalizedAtMs));
        dlq.keys.push(d.providerEventId);
        dlq.source.push(i);
        dl++;
      },
    };
    const code = b.providers[i] as number;
    if (received === undefined) {
      dlqOf(
        sink,
        PROVIDERS[code],
        undefined,
        undefined,
        oneError('received_at', C.INVALID_RECEIVED_AT, 'receivedAtMs must be an integer Unix time in milliseconds'),
      );
    } else {
      normalizeMessage(code, raw, bounds, sink);
    }
    if (events.tooLarge() || dlq.tooLarge()) {
      throw new RangeError(`batch output exceeds ${LIMITS.maxOutputBytes} bytes; split the batch`);
    }
    status[i] = dl === 0 ? 0 : ev === 0 ? 1 : 2;
  }
  return { status, events: events.build(), dlq: dlq.build() };
}
