/**
 * The streaming features processor: applies a batch of normalized events to the windowed aggregates once, writes
 * the resulting rows to the offline log (Parquet, before Redis, so a committed row always has its offline twin) and
 * commits states, idempotency marks and Feast rows to Redis in one atomic script. States are cached in memory
 * (bounded LRU), so a warm batch costs one Redis round trip; a cold entity costs one pipelined read first. A
 * version conflict (another instance) or an event applied before (a redelivery) discards the batch's files, reloads
 * and recomputes, a bounded number of times. Not Kafka (consumer.ts).
 */
import {
  amountMajorOf,
  applyEvent,
  type EntityPlan,
  type EntityState,
  emptyState,
  entityIds,
  eventKind,
  eventTimeMs,
  type FeatureEvent,
  featureValues,
  plansOf,
} from './aggregate.ts';
import { encodeDouble, encodeTimestamp, featureField, redisKey, tsField } from './feast-layout.ts';
import type { OfflineLog, OfflineRow } from './offline.ts';
import { ENTITY_NAMES, type EntityName, type FeatureSpecFile, joinKeyOf, viewsOf } from './spec.ts';
import type { FeastHashWrite, StateStore, VersionedState } from './store.ts';

export interface ProcessorOptions {
  /** Most entity states kept in memory (default 100,000). */
  readonly cacheEntries?: number;
  /** Attempts of one batch before the conflict is an error (default 8). */
  readonly maxAttempts?: number;
  /** Clock for the offline rows' `created` column. */
  readonly now?: () => number;
}

export interface BatchStats {
  /** Events whose aggregates were updated now. */
  readonly applied: number;
  /** Events skipped because they were applied before (redeliveries, also within the batch). */
  readonly duplicates: number;
  /** Events that change no feature (refunds, payouts, …) or have no entity. */
  readonly ignored: number;
  /** Events without a usable event time (provider_created_at). */
  readonly invalid: number;
  /** Redis round trips the batch took. */
  readonly roundTrips: number;
  /** Conflicts retried. */
  readonly retries: number;
}

export class FeatureConflictError extends Error {
  override readonly name = 'FeatureConflictError';
}

export class FeatureProcessor {
  readonly plans: Record<EntityName, EntityPlan>;
  private readonly cache = new Map<string, VersionedState>();
  /** Last `created` written: strictly increasing, so rows of one entity at the same event time order by write. */
  private lastCreated = 0;
  private readonly cacheEntries: number;
  private readonly maxAttempts: number;
  private readonly now: () => number;
  /** Per entity: its views with their Feast field names, computed once. */
  private readonly fields: Record<EntityName, { view: string; ttlS: number; ts: Buffer; f: [string, Buffer][] }[]>;

  constructor(
    readonly spec: FeatureSpecFile,
    readonly store: StateStore,
    readonly offline: OfflineLog | null,
    opts: ProcessorOptions = {},
  ) {
    this.plans = plansOf(spec);
    this.cacheEntries = opts.cacheEntries ?? 100_000;
    this.maxAttempts = opts.maxAttempts ?? 8;
    this.now = opts.now ?? Date.now;
    this.fields = Object.fromEntries(
      ENTITY_NAMES.map((e) => [
        e,
        viewsOf(spec, e).map((v) => ({
          view: v.name,
          ttlS: v.ttl_s,
          ts: tsField(v.name),
          f: v.features.map((f) => [f.name, featureField(v.name, f.name)] as [string, Buffer]),
        })),
      ]),
    ) as typeof this.fields;
  }

  /** Drops the in-memory states (tests; a restarted process starts like this). */
  clearCache(): void {
    this.cache.clear();
  }

  private remember(key: string, v: VersionedState): void {
    this.cache.delete(key);
    this.cache.set(key, v);
    while (this.cache.size > this.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
  }

  /**
   * Applies `events` in order. `raw` (the events' JSON, same order) is logged to the offline events log with the
   * features, for training; without it only features are logged.
   */
  async applyBatch(events: readonly FeatureEvent[], raw?: readonly string[]): Promise<BatchStats> {
    let invalid = 0;
    let ignored = 0;
    let duplicates = 0;
    const seenInBatch = new Set<string>();
    const work: {
      e: FeatureEvent;
      kind: 'success' | 'failure' | 'dispute';
      at: number;
      ids: Record<EntityName, string | null>;
    }[] = [];
    for (const e of events) {
      if (seenInBatch.has(e.event_id)) {
        duplicates++;
        continue;
      }
      seenInBatch.add(e.event_id);
      const kind = eventKind(e);
      const ids = entityIds(e);
      if (kind === 'none' || ENTITY_NAMES.every((n) => ids[n] === null)) {
        ignored++;
        continue;
      }
      const at = eventTimeMs(e);
      if (!Number.isFinite(at)) {
        invalid++;
        continue;
      }
      work.push({ e, kind, at, ids });
    }
    let roundTrips = 0;
    let retries = 0;
    const skip = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const todo = work.filter((w) => !skip.has(w.e.event_id));
      if (todo.length === 0) {
        return { applied: 0, duplicates: duplicates + skip.size, ignored, invalid, roundTrips, retries };
      }
      const keys = new Map<string, { entity: EntityName; id: string }>();
      for (const w of todo) {
        for (const n of ENTITY_NAMES) {
          const id = w.ids[n];
          if (id !== null) keys.set(this.store.stateKey(n, id), { entity: n, id });
        }
      }
      const missing = [...keys.keys()].filter((k) => !this.cache.has(k));
      if (missing.length > 0) {
        roundTrips++;
        for (const [k, v] of await this.store.load(missing)) {
          this.remember(k, v ?? { version: 0, state: emptyState() });
        }
      }
      const working = new Map<string, EntityState>();
      for (const k of keys.keys()) working.set(k, structuredClone((this.cache.get(k) as VersionedState).state));
      const offlineRows = new Map<EntityName, Map<string, OfflineRow>>();
      for (const w of todo) {
        const amount = amountMajorOf(w.e);
        for (const n of ENTITY_NAMES) {
          const id = w.ids[n];
          if (id === null) continue;
          const s = working.get(this.store.stateKey(n, id)) as EntityState;
          applyEvent(this.spec, this.plans[n], s, w.kind, w.at, amount, w.ids);
          const values = Object.assign({}, ...Object.values(featureValues(this.spec, n, s))) as Record<string, number>;
          const rows = offlineRows.get(n) ?? new Map<string, OfflineRow>();
          offlineRows.set(n, rows);
          // One row per entity and as-of time within a batch: the last one (same-time events collapse).
          const rk = `${s.asOf} ${id}`;
          rows.delete(rk);
          rows.set(rk, { id, asOfMs: s.asOf, values });
        }
      }
      // Events with the same timestamp (providers send seconds) give an entity several rows at one event time; the
      // point-in-time join keeps the one with the latest `created`, which must be the last written.
      const created = Math.max(this.now(), this.lastCreated + 1);
      this.lastCreated = created;
      const files = this.offline?.write(new Map([...offlineRows].map(([n, m]) => [n, [...m.values()]])), created) ?? [];
      if (this.offline && raw) {
        // Every parseable event of the batch (disputes and refunds too: they are the labels); a redelivered batch
        // logs its events again and training keeps one per event_id.
        const logged = events.flatMap((e, i) => {
          const at = eventTimeMs(e);
          return Number.isFinite(at) ? [{ id: e.event_id, atMs: at, json: raw[i] as string }] : [];
        });
        files.push(...this.offline.writeEvents(logged, created));
      }
      const feast: FeastHashWrite[] = [];
      for (const [k, { entity, id }] of keys) {
        const s = working.get(k) as EntityState;
        const values = featureValues(this.spec, entity, s);
        const pairs: [Buffer, Buffer][] = [];
        let ttlS = 0;
        for (const v of this.fields[entity]) {
          pairs.push([v.ts, encodeTimestamp(s.asOf)]);
          const row = values[v.view] as Record<string, number>;
          for (const [name, field] of v.f) pairs.push([field, encodeDouble(row[name] as number)]);
          ttlS = Math.max(ttlS, v.ttlS);
        }
        feast.push({ key: redisKey(joinKeyOf(this.spec, entity), id, this.spec.project), pairs, ttlS });
      }
      roundTrips++;
      const result = await this.store.commit({
        states: [...keys.keys()].map((k) => ({
          key: k,
          expectedVersion: (this.cache.get(k) as VersionedState).version,
          state: working.get(k) as EntityState,
        })),
        seenEventIds: todo.map((w) => w.e.event_id),
        feast,
      });
      if (result.ok) {
        for (const k of keys.keys()) {
          const prev = this.cache.get(k) as VersionedState;
          this.remember(k, { version: prev.version + 1, state: working.get(k) as EntityState });
        }
        return { applied: todo.length, duplicates: duplicates + skip.size, ignored, invalid, roundTrips, retries };
      }
      this.offline?.discard(files);
      for (const k of result.staleStateKeys) this.cache.delete(k);
      for (const id of result.seenEventIds) skip.add(id);
      retries++;
      if (attempt >= this.maxAttempts) {
        throw new FeatureConflictError(
          `feature batch of ${events.length} events still conflicted after ${attempt} attempts ` +
            `(${result.staleStateKeys.length} stale states, ${result.seenEventIds.length} already applied)`,
        );
      }
    }
  }
}
