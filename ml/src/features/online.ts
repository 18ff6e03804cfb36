/**
 * Serving reads of the online features: for a batch of events, every entity's Feast HASH in one pipelined Redis
 * round trip, decoded into the flat records core-native's vectorizer takes (`{feature: value}` per entity). A view
 * whose row is older than its ttl relative to the event's time is absent, exactly as Feast's point-in-time join
 * treats it offline when asked as of `featureTimeUs` (the time training asks for: processor.ts, "row versions"), so
 * online and offline vectors agree bit for bit. Not the writer (processor.ts).
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { entityIds, eventTimeMs, type FeatureEvent } from './aggregate.ts';
import {
  decodeNumber,
  decodeTimestampUs,
  featureField,
  MISSING_VALUE,
  packedField,
  redisKey,
  tsField,
} from './feast-layout.ts';
import { ENTITY_NAMES, type EntityName, type FeatureSpecFile, joinKeyOf, viewsOf } from './spec.ts';

export interface EntityFeatures {
  /** Flat record for the vectorizer, or null when the entity is unknown or every view is past its ttl. */
  readonly record: Record<string, number> | null;
  /** Version time of the entity's row (epoch µs), or null. */
  readonly asOfUs: number | null;
}

export interface RowFeatures {
  readonly customer: EntityFeatures;
  readonly merchant: EntityFeatures;
  readonly payment_method: EntityFeatures;
  /**
   * True when an entity's row is older than the event: the consumer has not applied this event yet, so the
   * values are those before it (the answer says so; training sees the event included).
   */
  readonly stale: boolean;
}

const NONE: EntityFeatures = Object.freeze({ record: null, asOfUs: null });

/**
 * The online features of a batch as numbers, for core-native's `vectorizeValues` (no record object per entity):
 * `values` is `rows × width` in the vectorizer's columns (NaN: absent), `present` is `rows × 3` (ENTITY_NAMES order;
 * 1 when the entity has a record), `stale` per row. Exactly what `read` gives, as numbers: `present` is `record !==
 * null`, each column the record's value of that feature's field (`OnlineFeatures.readValues`).
 */
export interface FeatureValues {
  readonly rows: number;
  readonly width: number;
  readonly values: Float64Array;
  readonly present: Uint8Array;
  readonly stale: Uint8Array;
  /** Row `i` as `read` returns it (decoded when asked: the answers that carry the records). */
  row(i: number): RowFeatures;
}

/**
 * Where each entity's record fields go in a vectorizer row: for each feature of the entity's views, in layout order,
 * the column of the vectorizer feature that reads it from that entity's record (-1: none reads it).
 */
export type ValueColumns = Readonly<Record<EntityName, Int32Array>>;

/**
 * The point in time at which Feast's point-in-time join returns the row that was served for an event: the later of
 * the event's time and the served row's version time (µs). The processor logs the same per entity for training.
 */
export const featureTimeUs = (eventMs: number, served: EntityFeatures): number =>
  Math.max(eventMs * 1000, served.asOfUs ?? Number.NEGATIVE_INFINITY);

/**
 * The number in the `len` bytes of a packed reply that end at `end` (null: not a number). A double_val (what the
 * consumer writes: tag 0x29 + 8 little-endian bytes) is read in place, without a Buffer view per value (~3,000 per
 * 64-event batch); anything else goes through decodeNumber.
 */
function valueEndingAt(buf: Buffer, end: number, len: number): number | null {
  return len === 9 && buf[end - 9] === 0x29 ? buf.readDoubleLE(end - 8) : decodeNumber(buf.subarray(end - len, end));
}

/** Most Feast keys OnlineFeatures keeps built (~100 bytes each). */
const KEY_CACHE_MAX = 50_000;

export class OnlineFeatures {
  private readonly layout: Record<
    EntityName,
    { fields: Buffer[]; packed: Buffer; views: { name: string; ttlUs: number; features: string[] }[] }
  >;
  /** Names of this spec's read commands on the Redis client (ioredis `defineCommand`): packed copies, Feast's fields. */
  private readonly packedCommand: string;
  private readonly fieldsCommand: string;
  /** Entities read from their packed copy, and from Feast's fields (no copy, or Feast's SDK wrote after us). */
  readonly stats = { packed: 0, fields: 0 };

  constructor(
    readonly redis: Redis,
    readonly spec: FeatureSpecFile,
  ) {
    this.layout = Object.fromEntries(
      ENTITY_NAMES.map((e) => {
        const views = viewsOf(spec, e);
        const fields: Buffer[] = [];
        for (const v of views) {
          fields.push(tsField(v.name));
          for (const f of v.features) fields.push(featureField(v.name, f.name));
        }
        return [
          e,
          {
            fields,
            packed: packedField(fields),
            views: views.map((v) => ({ name: v.name, ttlUs: v.ttl_s * 1e6, features: v.features.map((f) => f.name) })),
          },
        ];
      }),
    ) as typeof this.layout;
    // The field lists live in the scripts (one per spec): a call sends only its keys and their groups.
    const define = (groups: Buffer[][]): string => {
      const lua = readScript(groups);
      const name = `pepFeastRead_${createHash('sha1').update(lua).digest('hex').slice(0, 12)}`;
      if (!(`${name}Buffer` in redis)) redis.defineCommand(name, { lua });
      return name;
    };
    this.fieldsCommand = define(ENTITY_NAMES.map((e) => this.layout[e].fields));
    this.packedCommand = define(
      ENTITY_NAMES.map((e) => [this.layout[e].packed, ...this.layout[e].views.map((v) => tsField(v.name))]),
    );
  }

  /**
   * Every wanted entity's row in one EVALSHA: per HASH its packed copy and its views' `_ts` fields (a 64-event batch,
   * ~95 keys, reads ~450 fields instead of ~2,400: the per-field work in Redis's Lua and in the decoding was most of a
   * batch's time; bench/ml). A copy is used when each view's time in it equals the HASH's `_ts` field; otherwise
   * (no copy, a view written by Feast's SDK after us, bytes that do not parse) that entity's Feast fields are read in
   * a second call. Each entity's values come back in `layout[entity].fields` order, at `starts[i]` in `bufs[i]`
   * (offsets, not an object per entity and value).
   */
  private async fetch(list: readonly { entity: EntityName; id: string }[]): Promise<Fetched> {
    const n = list.length;
    const out: Fetched = { bufs: new Array(n), starts: new Int32Array(n) };
    if (n === 0) return out;
    const buf = await this.call(this.packedCommand, list);
    let again: number[] | null = null;
    let o = 0;
    for (let i = 0; i < n; i++) {
      const { entity } = list[i] as { entity: EntityName };
      const packedLen = lengthAt(buf, o);
      const packedStart = o + 2;
      o = segmentEnd(buf, o);
      const times = o;
      for (let k = this.layout[entity].views.length; k > 0; k--) o = segmentEnd(buf, o);
      if (packedLen !== MISSING && this.copyMatches(entity, buf, packedStart, packedLen, times)) {
        out.bufs[i] = buf;
        out.starts[i] = packedStart;
      } else {
        again ??= [];
        again.push(i);
      }
    }
    if (o !== buf.length) throw new Error(`feature read: ${buf.length - o} unexpected bytes in the reply`);
    if (again) {
      const full = await this.fetchFields(again.map((i) => list[i] as { entity: EntityName; id: string }));
      again.forEach((i, k) => {
        out.bufs[i] = full.bufs[k] as Buffer;
        out.starts[i] = full.starts[k] as number;
      });
    }
    this.stats.packed += n - (again?.length ?? 0);
    this.stats.fields += again?.length ?? 0;
    return out;
  }

  /**
   * Whether the packed copy (`len` bytes at `start`) parses as the entity's field list and carries the times the
   * HASH's `_ts` fields hold (their segments from `times` on, one per view).
   */
  private copyMatches(entity: EntityName, buf: Buffer, start: number, len: number, times: number): boolean {
    const end = start + len;
    let o = start;
    let t = times;
    for (const v of this.layout[entity].views) {
      for (let f = -1; f < v.features.length; f++) {
        if (o + 2 > end) return false;
        const len = buf.readUInt16BE(o);
        o += 2;
        const size = len === MISSING ? 0 : len;
        if (o + size > end) return false;
        if (f === -1) {
          const tLen = buf.readUInt16BE(t);
          t += 2;
          if (len !== tLen) return false;
          // A few bytes each: a loop is cheaper than Buffer.compare's native call (~300 per 64-event batch).
          for (let b = 0; b < size; b++) if (buf[t + b] !== buf[o + b]) return false;
          t += size;
        }
        o += size;
      }
    }
    return o === end;
  }

  /** Feast's own fields of every listed HASH, in one EVALSHA (the layout's fields in order, per key). */
  private async fetchFields(list: readonly { entity: EntityName; id: string }[]): Promise<Fetched> {
    const buf = await this.call(this.fieldsCommand, list);
    const out: Fetched = { bufs: new Array(list.length), starts: new Int32Array(list.length) };
    let o = 0;
    list.forEach(({ entity }, i) => {
      out.bufs[i] = buf;
      out.starts[i] = o;
      for (let k = this.layout[entity].fields.length; k > 0; k--) o = segmentEnd(buf, o);
    });
    if (o !== buf.length) throw new Error(`feature read: ${buf.length - o} unexpected bytes in the reply`);
    return out;
  }

  /**
   * Feast keys of recently read entities (per entity, id → the HASH's key): a 64-event batch reads ~95 HASHes, most
   * of them read by earlier batches too. Bounded: an entity's map is emptied when it reaches KEY_CACHE_MAX entries.
   */
  private readonly keys = { customer: new Map(), merchant: new Map(), payment_method: new Map() } as Record<
    EntityName,
    Map<string, Buffer>
  >;

  private keyOf(entity: EntityName, id: string): Buffer {
    const keys = this.keys[entity];
    let key = keys.get(id);
    if (key === undefined) {
      if (keys.size >= KEY_CACHE_MAX) keys.clear();
      key = redisKey(joinKeyOf(this.spec, entity), id, this.spec.project);
      keys.set(id, key);
    }
    return key;
  }

  private call(command: string, list: readonly { entity: EntityName; id: string }[]): Promise<Buffer> {
    const keys = list.map(({ entity, id }) => this.keyOf(entity, id));
    // One digit per key in one argument: ~95 fewer arguments to encode, send and turn into Lua strings per batch.
    let groups = '';
    for (const { entity } of list) groups += ENTITY_GROUP[entity];
    const read = (this.redis as unknown as Record<string, ReadCommand>)[`${command}Buffer`] as ReadCommand;
    return read.call(this.redis, keys.length, ...keys, groups);
  }

  /** Features of entities by id as of `atMs` (null: ignore the ttls), in one pipelined round trip. */
  async readIds(list: readonly { entity: EntityName; id: string }[], atMs: number | null): Promise<EntityFeatures[]> {
    const { bufs, starts } = await this.fetch(list);
    return list.map(({ entity }, i) =>
      this.decode(entity, { buf: bufs[i] as Buffer, start: starts[i] as number }, atMs === null ? null : atMs * 1000),
    );
  }

  /**
   * Every distinct entity of the events fetched once: `slots[row * 3 + k]` is the index in `list` (and `fetched`) of
   * row `row`'s entity ENTITY_NAMES[k], -1 when the event names none.
   */
  private async fetchEntities(
    events: readonly FeatureEvent[],
  ): Promise<{ list: { entity: EntityName; id: string }[]; slots: Int32Array; fetched: Fetched }> {
    const seen = { customer: new Map(), merchant: new Map(), payment_method: new Map() } as Record<
      EntityName,
      Map<string, number>
    >;
    const list: { entity: EntityName; id: string }[] = [];
    const slots = new Int32Array(events.length * 3).fill(-1);
    events.forEach((e, row) => {
      const ids = entityIds(e);
      for (let k = 0; k < 3; k++) {
        const n = ENTITY_NAMES[k] as EntityName;
        const id = ids[n];
        if (!id) continue;
        let at = seen[n].get(id);
        if (at === undefined) {
          at = list.length;
          seen[n].set(id, at);
          list.push({ entity: n, id });
        }
        slots[row * 3 + k] = at;
      }
    });
    return { list, slots, fetched: await this.fetch(list) };
  }

  /**
   * Features of every event, as of each event's time, in one pipelined round trip. `asOfMs` overrides the time the
   * ttls are measured from (default: the event's provider_created_at); `ignoreTtl` returns every stored view.
   */
  async read(
    events: readonly FeatureEvent[],
    opts: { asOfMs?: readonly number[]; ignoreTtl?: boolean } = {},
  ): Promise<RowFeatures[]> {
    const { slots, fetched } = await this.fetchEntities(events);
    return events.map((e, i) => {
      const atMs = opts.ignoreTtl ? null : (opts.asOfMs?.[i] ?? eventTimeMs(e));
      const at = atMs === null ? null : atMs * 1000;
      const eventUs = eventTimeMs(e) * 1000;
      let stale = false;
      const out = {} as Record<EntityName, EntityFeatures>;
      for (let k = 0; k < 3; k++) {
        const n = ENTITY_NAMES[k] as EntityName;
        const j = slots[i * 3 + k] as number;
        if (j < 0) {
          out[n] = NONE;
          continue;
        }
        const f = this.decode(n, { buf: fetched.bufs[j] as Buffer, start: fetched.starts[j] as number }, at);
        if (f.asOfUs !== null && f.asOfUs < eventUs) stale = true;
        out[n] = f;
      }
      return { ...out, stale };
    });
  }

  /**
   * The columns of `features` (core-native's featureSpec().features) that read each entity's record fields, for
   * `readValues`. A vectorizer feature reads the field `field` of the record of entity `source`.
   */
  valueColumns(features: readonly { source: string; field: string | null }[]): ValueColumns {
    return Object.fromEntries(
      ENTITY_NAMES.map((n) => {
        const names = this.layout[n].views.flatMap((v) => v.features);
        return [n, Int32Array.from(names, (f) => features.findIndex((d) => d.source === n && d.field === f))];
      }),
    ) as unknown as ValueColumns;
  }

  /**
   * `read` (as of each event's time) as numbers for core-native's `vectorizeValues`, decoded straight from the
   * reply into one matrix (FeatureValues): no record object per entity and row, no JSON. `columns`: valueColumns of
   * the vectorizer's features; `width` its feature count.
   */
  async readValues(events: readonly FeatureEvent[], columns: ValueColumns, width: number): Promise<FeatureValues> {
    const { slots, fetched } = await this.fetchEntities(events);
    const { bufs, starts } = fetched;
    const rows = events.length;
    const values = new Float64Array(rows * width).fill(Number.NaN);
    const present = new Uint8Array(rows * 3);
    const stale = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) {
      const e = events[i] as FeatureEvent;
      const eventMs = eventTimeMs(e);
      const at = eventMs * 1000;
      const eventUs = eventMs * 1000;
      for (let k = 0; k < 3; k++) {
        const j = slots[i * 3 + k] as number;
        if (j < 0) continue;
        const n = ENTITY_NAMES[k] as EntityName;
        const newest = this.decodeInto(n, bufs[j] as Buffer, starts[j] as number, at, columns[n], values, i * width);
        if (this.decodedAny) present[i * 3 + k] = 1;
        // -Infinity: no view has a time (an unknown entity), which is not stale (decode's asOfUs null).
        if (newest > Number.NEGATIVE_INFINITY && newest < eventUs) stale[i] = 1;
      }
    }
    return {
      rows,
      width,
      values,
      present,
      stale,
      row: (i) => {
        const at = eventTimeMs(events[i] as FeatureEvent) * 1000;
        const out = {} as Record<EntityName, EntityFeatures>;
        ENTITY_NAMES.forEach((n, k) => {
          const j = slots[i * 3 + k] as number;
          out[n] = j >= 0 ? this.decode(n, { buf: bufs[j] as Buffer, start: starts[j] as number }, at) : NONE;
        });
        return { ...out, stale: stale[i] === 1 };
      },
    };
  }

  /** Set by decodeInto: whether it decoded any value (the entity has a record). */
  private decodedAny = false;

  /**
   * `decode` into a row of a matrix: each fresh value whose feature has a column is written there (the rest of the
   * row is left as it is: NaN for absent). Returns the row's version time (decode's asOfUs; -Infinity for none) and
   * sets `decodedAny` when decode's record would not be null. The same walk as `decode`, value for value, reading the
   * reply in place (no view or object per value).
   */
  private decodeInto(
    entity: EntityName,
    buf: Buffer,
    start: number,
    atUs: number,
    cols: Int32Array,
    out: Float64Array,
    base: number,
  ): number {
    let o = start;
    let any = false;
    let newest = Number.NEGATIVE_INFINITY;
    let c = 0;
    for (const v of this.layout[entity].views) {
      const tsLen = buf.readUInt16BE(o);
      o += 2;
      let fresh = false;
      if (tsLen !== MISSING) {
        o += tsLen;
        const tsUs = decodeTimestampUs(buf, o - tsLen, o);
        if (tsUs > newest) newest = tsUs;
        fresh = tsUs >= atUs - v.ttlUs;
      }
      for (let f = 0; f < v.features.length; f++, c++) {
        const len = buf.readUInt16BE(o);
        o += 2;
        if (len === MISSING) continue;
        o += len;
        if (!fresh) continue;
        const x = valueEndingAt(buf, o, len);
        if (x === null) continue;
        any = true;
        const col = cols[c] as number;
        if (col >= 0) out[base + col] = x;
      }
    }
    this.decodedAny = any;
    return newest;
  }

  /** `atUs`: the time the ttls are measured from (null: ignore them). */
  private decode(entity: EntityName, packed: Packed, atUs: number | null): EntityFeatures {
    const { buf } = packed;
    let o = packed.start;
    /** The next field's value (null: absent), advancing the cursor. */
    const next = (): Buffer | null => {
      const len = buf.readUInt16BE(o);
      o += 2;
      if (len === MISSING) return null;
      o += len;
      return buf.subarray(o - len, o);
    };
    let record: Record<string, number> | null = null;
    let newest: number | null = null;
    for (const v of this.layout[entity].views) {
      const ts = next();
      const tsUs = ts ? decodeTimestampUs(ts) : null;
      if (tsUs !== null) newest = Math.max(newest ?? tsUs, tsUs);
      const fresh = tsUs !== null && (atUs === null || tsUs >= atUs - v.ttlUs);
      for (const f of v.features) {
        const len = buf.readUInt16BE(o);
        o += 2;
        if (len === MISSING) continue;
        o += len;
        if (!fresh) continue;
        const x = valueEndingAt(buf, o, len);
        if (x === null) continue;
        record ??= {};
        record[f] = x;
      }
    }
    return { record, asOfUs: newest };
  }
}

/** A key's values inside a reply: `start` is the offset of its first length prefix (decode's argument). */
interface Packed {
  readonly buf: Buffer;
  readonly start: number;
}

/** Length prefix of an absent field. */
const MISSING = MISSING_VALUE;

/** The length prefix of the value at `o` (MISSING: absent); throws when the reply ends before it. */
function lengthAt(buf: Buffer, o: number): number {
  if (o + 2 > buf.length) throw new Error('feature read: truncated reply');
  return buf.readUInt16BE(o);
}

/** Where the length-prefixed value at `o` ends (the next one's offset); throws when the reply ends before it. */
function segmentEnd(buf: Buffer, o: number): number {
  const len = lengthAt(buf, o);
  const end = o + 2 + (len === MISSING ? 0 : len);
  if (end > buf.length) throw new Error('feature read: truncated reply');
  return end;
}

/** The entities of one read in the replies: entity `i`'s values start at `starts[i]` in `bufs[i]`. */
interface Fetched {
  readonly bufs: Buffer[];
  readonly starts: Int32Array;
}

/** The field lists live in the script; a call names each key's by this index (1-based for Lua; one digit each). */
const ENTITY_GROUP: Record<EntityName, number> = Object.fromEntries(ENTITY_NAMES.map((n, i) => [n, i + 1])) as Record<
  EntityName,
  number
>;

type ReadCommand = (...args: (string | number | Buffer)[]) => Promise<Buffer>;

const luaBytes = (b: Buffer) => `"${[...b].map((x) => `\\${x}`).join('')}"`;

/**
 * The read script of a spec's field groups (one per entity, in ENTITY_NAMES order). KEYS: the HASHes; ARGV[1]: per
 * key one digit, its group (the entity's index, 1-based). Returns per key, per field of its group, a 2-byte big-endian
 * length and the bytes (0xFFFF: absent).
 */
function readScript(fieldGroups: readonly Buffer[][]): string {
  const groups = fieldGroups.map((fields) => `{${fields.map(luaBytes).join(', ')}}`);
  return `
local groups = {${groups.join(',\n')}}
local sel = ARGV[1]
local parts, n, prefix = {}, 0, {}
for i = 1, #KEYS do
  local f = groups[string.byte(sel, i) - 48]
  local v = redis.call('HMGET', KEYS[i], unpack(f))
  for j = 1, #f do
    local x = v[j]
    if x then
      local l = #x
      local p = prefix[l]
      if not p then
        if l >= 65535 then return redis.error_reply('feature value of ' .. l .. ' bytes in ' .. KEYS[i]) end
        p = string.char(math.floor(l / 256), l % 256)
        prefix[l] = p
      end
      parts[n + 1] = p
      parts[n + 2] = x
      n = n + 2
    else
      n = n + 1
      parts[n] = '\\255\\255'
    end
  end
end
return table.concat(parts, '', 1, n)
`;
}
