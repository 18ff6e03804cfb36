/**
 * Serving reads of the online features: for a batch of events, every entity's Feast HASH in one pipelined Redis
 * round trip, decoded into the flat records core-native's vectorizer takes (`{feature: value}` per entity). A view
 * whose row is older than its ttl relative to the event's time is absent, exactly as Feast's point-in-time join
 * treats it offline, so online and offline vectors agree. Not the writer (processor.ts).
 */
import type { Redis } from 'ioredis';
import { entityIds, eventTimeMs, type FeatureEvent } from './aggregate.ts';
import { decodeNumber, decodeTimestamp, featureField, redisKey, tsField } from './feast-layout.ts';
import { ENTITY_NAMES, type EntityName, type FeatureSpecFile, joinKeyOf, viewsOf } from './spec.ts';

export interface EntityFeatures {
  /** Flat record for the vectorizer, or null when the entity is unknown or every view is past its ttl. */
  readonly record: Record<string, number> | null;
  /** Newest view time of the entity's row (ms), or null. */
  readonly asOfMs: number | null;
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

const NONE: EntityFeatures = Object.freeze({ record: null, asOfMs: null });

export class OnlineFeatures {
  private readonly layout: Record<
    EntityName,
    { fields: Buffer[]; views: { name: string; ttlMs: number; features: string[] }[] }
  >;

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
            views: views.map((v) => ({ name: v.name, ttlMs: v.ttl_s * 1000, features: v.features.map((f) => f.name) })),
          },
        ];
      }),
    ) as typeof this.layout;
  }

  private async fetch(list: readonly { entity: EntityName; id: string }[]): Promise<(Buffer | null)[][]> {
    if (list.length === 0) return [];
    const p = this.redis.pipeline();
    for (const { entity, id } of list) {
      p.hmgetBuffer(redisKey(joinKeyOf(this.spec, entity), id, this.spec.project), ...this.layout[entity].fields);
    }
    const res = (await p.exec()) ?? [];
    return list.map((_, i) => {
      const [err, val] = res[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return val as (Buffer | null)[];
    });
  }

  /** Features of entities by id as of `atMs` (null: ignore the ttls), in one pipelined round trip. */
  async readIds(list: readonly { entity: EntityName; id: string }[], atMs: number | null): Promise<EntityFeatures[]> {
    const raw = await this.fetch(list);
    return list.map(({ entity }, i) => this.decode(entity, raw[i] as (Buffer | null)[], atMs));
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
    const raw = new Map(list.map(({ entity, id }, i) => [keyOf(entity, id), fetched[i] as (Buffer | null)[]]));
    return events.map((e, i) => {
      const at = opts.ignoreTtl ? null : (opts.asOfMs?.[i] ?? eventTimeMs(e));
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
        if (f.asOfMs !== null && f.asOfMs < eventTimeMs(e)) stale = true;
        out[n] = f;
      }
      return { ...out, stale };
    });
  }

  private decode(entity: EntityName, values: readonly (Buffer | null)[], atMs: number | null): EntityFeatures {
    let k = 0;
    let record: Record<string, number> | null = null;
    let newest: number | null = null;
    for (const v of this.layout[entity].views) {
      const ts = values[k++];
      const tsMs = ts ? decodeTimestamp(ts) : null;
      if (tsMs !== null) newest = Math.max(newest ?? tsMs, tsMs);
      const fresh = tsMs !== null && (atMs === null || tsMs >= atMs - v.ttlMs);
      for (const f of v.features) {
        const b = values[k++];
        if (!fresh || !b) continue;
        const x = decodeNumber(b);
        if (x === null) continue;
        record ??= {};
        record[f] = x;
      }
    }
    return { record, asOfMs: newest };
  }
}
