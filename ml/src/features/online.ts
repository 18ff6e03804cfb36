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
import { decodeNumber, decodeTimestampUs, featureField, redisKey, tsField } from './feast-layout.ts';
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
 * The point in time at which Feast's point-in-time join returns the row that was served for an event: the later of
 * the event's time and the served row's version time (µs). The processor logs the same per entity for training.
 */
export const featureTimeUs = (eventMs: number, served: EntityFeatures): number =>
  Math.max(eventMs * 1000, served.asOfUs ?? Number.NEGATIVE_INFINITY);

export class OnlineFeatures {
  private readonly layout: Record<
    EntityName,
    { fields: Buffer[]; views: { name: string; ttlUs: number; features: string[] }[] }
  >;
  /** Name of this spec's read command on the Redis client (ioredis `defineCommand`). */
  private readonly command: string;

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
            views: views.map((v) => ({ name: v.name, ttlUs: v.ttl_s * 1e6, features: v.features.map((f) => f.name) })),
          },
        ];
      }),
    ) as typeof this.layout;
    // The field lists live in the script (one per spec): a call sends only its keys and their groups.
    this.command = `pepFeastRead_${createHash('sha1').update(readScript(this.layout)).digest('hex').slice(0, 12)}`;
    if (!(`${this.command}Buffer` in redis)) redis.defineCommand(this.command, { lua: readScript(this.layout) });
  }

  /**
   * Every wanted HASH's fields in one EVALSHA: the script runs HMGET per key inside Redis and returns one string of
   * length-prefixed values, so a 64-event batch (~130 keys × up to 25 fields) is one command and one reply buffer
   * instead of ~130 commands and ~3,000 reply buffers (measured: the pipelined HMGETs and their BigInt-free decoding
   * were most of a batch's time; bench/ml). Each key's fields come back in `layout[entity].fields` order.
   */
  private async fetch(list: readonly { entity: EntityName; id: string }[]): Promise<Packed[]> {
    if (list.length === 0) return [];
    const keys = list.map(({ entity, id }) => redisKey(joinKeyOf(this.spec, entity), id, this.spec.project));
    const groups = list.map(({ entity }) => ENTITY_GROUP[entity]);
    const read = (this.redis as unknown as Record<string, ReadCommand>)[`${this.command}Buffer`] as ReadCommand;
    const buf = await read.call(this.redis, keys.length, ...keys, ...groups);
    const out: Packed[] = [];
    let o = 0;
    for (const { entity } of list) {
      out.push({ buf, start: o });
      for (let k = this.layout[entity].fields.length; k > 0; k--) {
        if (o + 2 > buf.length) throw new Error('feature read: truncated reply');
        const len = buf.readUInt16BE(o);
        o += 2 + (len === MISSING ? 0 : len);
      }
    }
    if (o !== buf.length) throw new Error(`feature read: ${buf.length - o} unexpected bytes in the reply`);
    return out;
  }

  /** Features of entities by id as of `atMs` (null: ignore the ttls), in one pipelined round trip. */
  async readIds(list: readonly { entity: EntityName; id: string }[], atMs: number | null): Promise<EntityFeatures[]> {
    const raw = await this.fetch(list);
    return list.map(({ entity }, i) => this.decode(entity, raw[i] as Packed, atMs === null ? null : atMs * 1000));
  }

  /**
   * Features of every event, as of each event's time, in one pipelined round trip. `asOfMs` overrides the time the
   * ttls are measured from (default: the event's provider_created_at); `ignoreTtl` returns every stored view.
   */
  async read(
    events: readonly FeatureEvent[],
    opts: { asOfMs?: readonly number[]; ignoreTtl?: boolean } = {},
  ): Promise<RowFeatures[]> {
    const keyOf = (n: EntityName, id: string) => `${n}\u0000${id}`;
    const wanted = new Map<string, { entity: EntityName; id: string }>();
    const ids = events.map((e) => entityIds(e));
    for (const r of ids) for (const n of ENTITY_NAMES) if (r[n]) wanted.set(keyOf(n, r[n]), { entity: n, id: r[n] });
    const list = [...wanted.values()];
    const fetched = await this.fetch(list);
    const raw = new Map(list.map(({ entity, id }, i) => [keyOf(entity, id), fetched[i] as Packed]));
    return events.map((e, i) => {
      const atMs = opts.ignoreTtl ? null : (opts.asOfMs?.[i] ?? eventTimeMs(e));
      const at = atMs === null ? null : atMs * 1000;
      const eventUs = eventTimeMs(e) * 1000;
      let stale = false;
      const out = {} as Record<EntityName, EntityFeatures>;
      for (const n of ENTITY_NAMES) {
        const id = (ids[i] as Record<EntityName, string | null>)[n];
        const values = id ? raw.get(keyOf(n, id)) : undefined;
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
        // A double_val (what the consumer writes: tag 0x29 + 8 little-endian bytes) is read in place, without a
        // Buffer view per value (~3,000 per 64-event batch); anything else goes through decodeNumber.
        const len = buf.readUInt16BE(o);
        o += 2;
        if (len === MISSING) continue;
        o += len;
        if (!fresh) continue;
        const x = len === 9 && buf[o - 9] === 0x29 ? buf.readDoubleLE(o - 8) : decodeNumber(buf.subarray(o - len, o));
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
const MISSING = 0xffff;

/** The field list of each entity travels once per call; keys name theirs by this index (1-based for Lua). */
const ENTITY_GROUP: Record<EntityName, number> = Object.fromEntries(ENTITY_NAMES.map((n, i) => [n, i + 1])) as Record<
  EntityName,
  number
>;

type ReadCommand = (...args: (string | number | Buffer)[]) => Promise<Buffer>;

const luaBytes = (b: Buffer) => `"${[...b].map((x) => `\\${x}`).join('')}"`;

/**
 * The read script of a spec's layout. KEYS: the HASHes; ARGV: per key its field group (the entity's index, 1-based).
 * Returns per key, per field of its group, a 2-byte big-endian length and the bytes (0xFFFF: absent).
 */
function readScript(layout: Record<EntityName, { fields: Buffer[] }>): string {
  const groups = ENTITY_NAMES.map((e) => `{${layout[e].fields.map(luaBytes).join(', ')}}`);
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
