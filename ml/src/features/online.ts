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

/** The key of an entity in one read's map of fetched HASHes. */
const entityKey = (n: EntityName, id: string) => `${n}\u0000${id}`;

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
   * ~130 keys, reads ~650 fields instead of ~3,300: the per-field work in Redis's Lua and in the decoding was most of a
   * batch's time; bench/ml). A copy is used when each view's time in it equals the HASH's `_ts` field; otherwise
   * (no copy, a view written by Feast's SDK after us, bytes that do not parse) that entity's Feast fields are read in
   * a second call. Each entity's values come back in `layout[entity].fields` order.
   */
  private async fetch(list: readonly { entity: EntityName; id: string }[]): Promise<Packed[]> {
    if (list.length === 0) return [];
    const buf = await this.call(this.packedCommand, list);
    const out: (Packed | undefined)[] = [];
    const again: number[] = [];
    let o = 0;
    list.forEach(({ entity }, i) => {
      const packed = segment(buf, o);
      o = packed.end;
      const times: Segment[] = [];
      for (let k = this.layout[entity].views.length; k > 0; k--) {
        const t = segment(buf, o);
        times.push(t);
        o = t.end;
      }
      if (packed.len !== MISSING && this.copyMatches(entity, buf, packed, times)) out[i] = { buf, start: packed.start };
      else again.push(i);
    });
    if (o !== buf.length) throw new Error(`feature read: ${buf.length - o} unexpected bytes in the reply`);
    if (again.length > 0) {
      const full = await this.fetchFields(again.map((i) => list[i] as { entity: EntityName; id: string }));
      again.forEach((i, k) => {
        out[i] = full[k];
      });
    }
    this.stats.packed += list.length - again.length;
    this.stats.fields += again.length;
    return out as Packed[];
  }

  /** Whether a packed copy parses as the entity's field list and carries the times the HASH's `_ts` fields hold. */
  private copyMatches(entity: EntityName, buf: Buffer, packed: Segment, times: readonly Segment[]): boolean {
    const end = packed.start + packed.len;
    let o = packed.start;
    let k = 0;
    for (const v of this.layout[entity].views) {
      for (let f = -1; f < v.features.length; f++) {
        if (o + 2 > end) return false;
        const len = buf.readUInt16BE(o);
        o += 2;
        const size = len === MISSING ? 0 : len;
        if (o + size > end) return false;
        if (f === -1) {
          const t = times[k++] as Segment;
          if (len !== t.len || (size > 0 && buf.compare(buf, t.start, t.start + size, o, o + size) !== 0)) return false;
        }
        o += size;
      }
    }
    return o === end;
  }

  /** Feast's own fields of every listed HASH, in one EVALSHA (the layout's fields in order, per key). */
  private async fetchFields(list: readonly { entity: EntityName; id: string }[]): Promise<Packed[]> {
    const buf = await this.call(this.fieldsCommand, list);
    const out: Packed[] = [];
    let o = 0;
    for (const { entity } of list) {
      out.push({ buf, start: o });
      for (let k = this.layout[entity].fields.length; k > 0; k--) o = segment(buf, o).end;
    }
    if (o !== buf.length) throw new Error(`feature read: ${buf.length - o} unexpected bytes in the reply`);
    return out;
  }

  private call(command: string, list: readonly { entity: EntityName; id: string }[]): Promise<Buffer> {
    const keys = list.map(({ entity, id }) => redisKey(joinKeyOf(this.spec, entity), id, this.spec.project));
    const groups = list.map(({ entity }) => ENTITY_GROUP[entity]);
    const read = (this.redis as unknown as Record<string, ReadCommand>)[`${command}Buffer`] as ReadCommand;
    return read.call(this.redis, keys.length, ...keys, ...groups);
  }

  /** Features of entities by id as of `atMs` (null: ignore the ttls), in one pipelined round trip. */
  async readIds(list: readonly { entity: EntityName; id: string }[], atMs: number | null): Promise<EntityFeatures[]> {
    const raw = await this.fetch(list);
    return list.map(({ entity }, i) => this.decode(entity, raw[i] as Packed, atMs === null ? null : atMs * 1000));
  }

  /** Each event's entity ids, and every distinct entity's HASH fetched once (keyed by entityKey). */
  private async fetchEntities(
    events: readonly FeatureEvent[],
  ): Promise<{ ids: ReturnType<typeof entityIds>[]; raw: Map<string, Packed> }> {
    const wanted = new Map<string, { entity: EntityName; id: string }>();
    const ids = events.map((e) => entityIds(e));
    for (const r of ids)
      for (const n of ENTITY_NAMES) if (r[n]) wanted.set(entityKey(n, r[n]), { entity: n, id: r[n] });
    const list = [...wanted.values()];
    const fetched = await this.fetch(list);
    return { ids, raw: new Map(list.map(({ entity, id }, i) => [entityKey(entity, id), fetched[i] as Packed])) };
  }

  /**
   * Features of every event, as of each event's time, in one pipelined round trip. `asOfMs` overrides the time the
   * ttls are measured from (default: the event's provider_created_at); `ignoreTtl` returns every stored view.
   */
  async read(
    events: readonly FeatureEvent[],
    opts: { asOfMs?: readonly number[]; ignoreTtl?: boolean } = {},
  ): Promise<RowFeatures[]> {
    const { ids, raw } = await this.fetchEntities(events);
    return events.map((e, i) => {
      const atMs = opts.ignoreTtl ? null : (opts.asOfMs?.[i] ?? eventTimeMs(e));
      const at = atMs === null ? null : atMs * 1000;
      const eventUs = eventTimeMs(e) * 1000;
      let stale = false;
      const out = {} as Record<EntityName, EntityFeatures>;
      for (const n of ENTITY_NAMES) {
        const id = (ids[i] as Record<EntityName, string | null>)[n];
        const values = id ? raw.get(entityKey(n, id)) : undefined;
        if (!values) {
          out[n] = NONE;
          continue;
        }
        const f = this.decode(n, values, at);
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
    const { ids, raw } = await this.fetchEntities(events);
    const rows = events.length;
    const values = new Float64Array(rows * width).fill(Number.NaN);
    const present = new Uint8Array(rows * 3);
    const stale = new Uint8Array(rows);
    const packedOf: (Packed | undefined)[] = new Array(rows * 3);
    for (let i = 0; i < rows; i++) {
      const e = events[i] as FeatureEvent;
      const eventMs = eventTimeMs(e);
      const at = eventMs * 1000;
      const eventUs = eventMs * 1000;
      const rowIds = ids[i] as Record<EntityName, string | null>;
      for (let k = 0; k < 3; k++) {
        const n = ENTITY_NAMES[k] as EntityName;
        const id = rowIds[n];
        const p = id ? raw.get(entityKey(n, id)) : undefined;
        if (!p) continue;
        packedOf[i * 3 + k] = p;
        const newest = this.decodeInto(n, p, at, columns[n], values, i * width);
        if (this.decodedAny) present[i * 3 + k] = 1;
        if (newest !== null && newest < eventUs) stale[i] = 1;
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
          const p = packedOf[i * 3 + k];
          out[n] = p ? this.decode(n, p, at) : NONE;
        });
        return { ...out, stale: stale[i] === 1 };
      },
    };
  }

  /** Set by decodeInto: whether it decoded any value (the entity has a record). */
  private decodedAny = false;

  /**
   * `decode` into a row of a matrix: each fresh value whose feature has a column is written there (the rest of the
   * row is left as it is: NaN for absent). Returns the row's version time (decode's asOfUs) and sets `decodedAny`
   * when decode's record would not be null. The same walk as `decode`, value for value.
   */
  private decodeInto(
    entity: EntityName,
    packed: Packed,
    atUs: number,
    cols: Int32Array,
    out: Float64Array,
    base: number,
  ): number | null {
    const { buf } = packed;
    let o = packed.start;
    let any = false;
    let newest: number | null = null;
    let c = 0;
    for (const v of this.layout[entity].views) {
      const tsLen = buf.readUInt16BE(o);
      o += 2;
      let tsUs: number | null = null;
      if (tsLen !== MISSING) {
        o += tsLen;
        tsUs = decodeTimestampUs(buf.subarray(o - tsLen, o));
      }
      if (tsUs !== null) newest = Math.max(newest ?? tsUs, tsUs);
      const fresh = tsUs !== null && tsUs >= atUs - v.ttlUs;
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

/** A key's values inside the batch reply: `start` is the offset of its first length prefix. */
interface Packed {
  readonly buf: Buffer;
  readonly start: number;
}

/** Length prefix of an absent field. */
const MISSING = MISSING_VALUE;

/** One length-prefixed value of a reply: its bytes' offset and length (MISSING: absent), and where the next begins. */
interface Segment {
  readonly start: number;
  readonly len: number;
  readonly end: number;
}

function segment(buf: Buffer, o: number): Segment {
  if (o + 2 > buf.length) throw new Error('feature read: truncated reply');
  const len = buf.readUInt16BE(o);
  const end = o + 2 + (len === MISSING ? 0 : len);
  if (end > buf.length) throw new Error('feature read: truncated reply');
  return { start: o + 2, len, end };
}

/** The field list of each entity travels once per call; keys name theirs by this index (1-based for Lua). */
const ENTITY_GROUP: Record<EntityName, number> = Object.fromEntries(ENTITY_NAMES.map((n, i) => [n, i + 1])) as Record<
  EntityName,
  number
>;

type ReadCommand = (...args: (string | number | Buffer)[]) => Promise<Buffer>;

const luaBytes = (b: Buffer) => `"${[...b].map((x) => `\\${x}`).join('')}"`;

/**
 * The read script of a spec's field groups (one per entity, in ENTITY_NAMES order). KEYS: the HASHes; ARGV: per key
 * its group (the entity's index, 1-based). Returns per key, per field of its group, a 2-byte big-endian length and the
 * bytes (0xFFFF: absent).
 */
function readScript(fieldGroups: readonly Buffer[][]): string {
  const groups = fieldGroups.map((fields) => `{${fields.map(luaBytes).join(', ')}}`);
  return `
local groups = {${groups.join(',\n')}}
local parts, n, prefix = {}, 0, {}
for i = 1, #KEYS do
  local f = groups[tonumber(ARGV[i])]
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
