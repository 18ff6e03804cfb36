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
import {
  encodeDouble,
  encodeTimestampUs,
  featureField,
  packedField,
  packValues,
  redisKey,
  tsField,
} from './feast-layout.ts';
import type { LoggedEventRow, OfflineLog, OfflineRow } from './offline.ts';
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
  /** Last `created` written (ms), strictly increasing per process. */
  private lastCreated = 0;
  private readonly cacheEntries: number;
  private readonly maxAttempts: number;
  private readonly now: () => number;
  /** Per entity: its views with their Feast field names, computed once. */
  private readonly fields: Record<EntityName, { view: string; ttlS: number; ts: Buffer; f: [string, Buffer][] }[]>;
  /** Per entity: the field of the packed copy of its row (feast-layout.ts `packedField`). */
  private readonly packed: Record<EntityName, Buffer>;

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
    this.packed = Object.fromEntries(
      ENTITY_NAMES.map((e) => [e, packedField(this.fields[e].flatMap((v) => [v.ts, ...v.f.map(([, f]) => f)]))]),
    ) as Record<EntityName, Buffer>;
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
    const { work, invalid, ignored, duplicates } = classify(events, raw);
    let roundTrips = 0;
    let retries = 0;
    const skip = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      const todo = work.filter((w) => !skip.has(w.e.event_id));
      const applying = todo.filter((w) => w.kind !== 'none');
      if (applying.length === 0 && todo.every((w) => ENTITY_NAMES.every((n) => w.ids[n] === null))) {
        if (todo.length > 0 && this.offline && raw) this.offline.writeEvents(todo.map(noTimes), this.nextCreated());
        return { applied: 0, duplicates: duplicates + skip.size, ignored, invalid, roundTrips, retries };
      }
      const keys = new Map<string, { entity: EntityName; id: string }>();
      for (const w of todo) {
        for (const n of ENTITY_NAMES) {
          const id = w.ids[n];
          if (id !== null) keys.set(this.store.stateKey(n, id), { entity: n, id });
        }
      }
      if (await this.loadMissing(keys.keys())) roundTrips++;
      const working = new Map<string, EntityState>();
      for (const k of keys.keys()) {
        working.set(k, withClocks(structuredClone((this.cache.get(k) as VersionedState).state)));
      }
      const { offlineRows, newRow, logged } = this.applyToStates(todo, working, raw !== undefined);
      const created = this.nextCreated();
      const files = this.offline?.write(offlineRows, created) ?? [];
      // Every event with a time (disputes and refunds too: they are the labels); a redelivered event is logged only
      // when it is applied again, and training keeps one row per event_id.
      if (this.offline && raw) files.push(...this.offline.writeEvents(logged, created));
      roundTrips++;
      const result = await this.store.commit({
        states: [...keys.keys()].map((k) => ({
          key: k,
          expectedVersion: (this.cache.get(k) as VersionedState).version,
          state: working.get(k) as EntityState,
        })),
        seenEventIds: applying.map((w) => w.e.event_id),
        feast: this.feastWrites(newRow, keys, working),
      });
      if (result.ok) {
        for (const k of keys.keys()) {
          const prev = this.cache.get(k) as VersionedState;
          this.remember(k, { version: prev.version + 1, state: working.get(k) as EntityState });
        }
        return { applied: applying.length, duplicates: duplicates + skip.size, ignored, invalid, roundTrips, retries };
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

  /** Loads the states of `keys` the cache does not hold (one store round trip); whether it had to. */
  private async loadMissing(keys: Iterable<string>): Promise<boolean> {
    const missing = [...keys].filter((k) => !this.cache.has(k));
    if (missing.length === 0) return false;
    for (const [k, v] of await this.store.load(missing)) {
      this.remember(k, v ?? { version: 0, state: emptyState() });
    }
    return true;
  }

  /**
   * Applies the events to the working states, in order, and gives each applied event's entities a new row version.
   * Every applied event gives each of its entities a new feature row whose time is the event time, or 1 µs past the
   * entity's clock when that is not later (same-second events, late events): an entity's row times are unique and
   * increase in processing order, and never fall at or below an event time already seen for the entity. For every
   * event the log records, per entity, the time of the row serving sees right after it: max(event time, current row
   * time). Asked as of that time, the point-in-time join returns exactly that row (no row processed later can lie at
   * or below it), so training reads what serving read, bit for bit. Returns the offline feature rows, the state keys
   * that got a new row, and the events to log (when `logEvents`).
   */
  private applyToStates(
    todo: readonly Work[],
    working: ReadonlyMap<string, EntityState>,
    logEvents: boolean,
  ): { offlineRows: Map<EntityName, OfflineRow[]>; newRow: Set<string>; logged: LoggedEventRow[] } {
    const offlineRows = new Map<EntityName, OfflineRow[]>();
    const newRow = new Set<string>();
    const logged: LoggedEventRow[] = [];
    for (const w of todo) {
      const amount = amountMajorOf(w.e);
      const atUs = w.at * 1000;
      const times = { customer: null, merchant: null, payment_method: null } as Record<EntityName, number | null>;
      for (const n of ENTITY_NAMES) {
        const id = w.ids[n];
        if (id === null) continue;
        const k = this.store.stateKey(n, id);
        const s = working.get(k) as EntityState;
        if (w.kind === 'none') {
          times[n] = Math.max(atUs, s.rowUs);
          s.clockUs = Math.max(s.clockUs, atUs);
          continue;
        }
        applyEvent(this.spec, this.plans[n], s, w.kind, w.at, amount, w.ids);
        s.rowUs = Math.max(atUs, s.clockUs + 1);
        s.clockUs = s.rowUs;
        times[n] = s.rowUs;
        newRow.add(k);
        const values = Object.assign({}, ...Object.values(featureValues(this.spec, n, s))) as Record<string, number>;
        const rows = offlineRows.get(n) ?? [];
        offlineRows.set(n, rows);
        rows.push({ id, rowUs: s.rowUs, values });
      }
      if (logEvents) logged.push({ id: w.e.event_id, atMs: w.at, json: w.json as string, times });
    }
    return { offlineRows, newRow, logged };
  }

  /** The Feast online-store hash writes of the states that got a new row. */
  private feastWrites(
    newRow: ReadonlySet<string>,
    keys: ReadonlyMap<string, { entity: EntityName; id: string }>,
    working: ReadonlyMap<string, EntityState>,
  ): FeastHashWrite[] {
    const feast: FeastHashWrite[] = [];
    for (const k of newRow) {
      const { entity, id } = keys.get(k) as { entity: EntityName; id: string };
      const s = working.get(k) as EntityState;
      const values = featureValues(this.spec, entity, s);
      const pairs: [Buffer, Buffer][] = [];
      let ttlS = 0;
      const ts = encodeTimestampUs(s.rowUs);
      for (const v of this.fields[entity]) {
        pairs.push([v.ts, ts]);
        const row = values[v.view] as Record<string, number>;
        for (const [name, field] of v.f) pairs.push([field, encodeDouble(row[name] as number)]);
        ttlS = Math.max(ttlS, v.ttlS);
      }
      // The packed copy serving reads (the same values in the same field order, one field), in the same HSET.
      pairs.push([this.packed[entity], packValues(pairs.map(([, value]) => value))]);
      feast.push({ key: redisKey(joinKeyOf(this.spec, entity), id, this.spec.project), pairs, ttlS });
    }
    return feast;
  }

  /** `created` of the next files: strictly increasing per process (write order), in ms. */
  private nextCreated(): number {
    this.lastCreated = Math.max(this.now(), this.lastCreated + 1);
    return this.lastCreated;
  }
}

interface Work {
  readonly e: FeatureEvent;
  readonly json: string | undefined;
  readonly kind: 'success' | 'failure' | 'dispute' | 'none';
  readonly at: number;
  readonly ids: Record<EntityName, string | null>;
}

/**
 * The events to apply, in order: the first of each event_id in the batch, with its kind, time and entities. An event
 * that changes no feature still moves its entities' clocks (kind `none`); an event without a valid time is dropped
 * (counted invalid unless it concerns no feature anyway).
 */
function classify(
  events: readonly FeatureEvent[],
  raw: readonly string[] | undefined,
): { work: Work[]; invalid: number; ignored: number; duplicates: number } {
  let invalid = 0;
  let ignored = 0;
  let duplicates = 0;
  const seenInBatch = new Set<string>();
  const work: Work[] = [];
  events.forEach((e, i) => {
    if (seenInBatch.has(e.event_id)) {
      duplicates++;
      return;
    }
    seenInBatch.add(e.event_id);
    const kind = eventKind(e);
    const ids = entityIds(e);
    const none = kind === 'none' || ENTITY_NAMES.every((n) => ids[n] === null);
    if (none) ignored++;
    const at = eventTimeMs(e);
    if (!Number.isFinite(at)) {
      if (!none) invalid++;
      return;
    }
    // An event that changes no feature still moves its entities' clocks (see applyToStates: row versions).
    work.push({ e, json: raw?.[i], kind: none ? 'none' : (kind as Work['kind']), at, ids });
  });
  return { work, invalid, ignored, duplicates };
}

const noTimes = (w: Work): LoggedEventRow => ({
  id: w.e.event_id,
  atMs: w.at,
  json: w.json as string,
  times: { customer: null, merchant: null, payment_method: null },
});

/** States stored before row versions existed: the row is at its as-of time. */
function withClocks(s: EntityState): EntityState {
  if (typeof s.rowUs !== 'number') s.rowUs = s.asOf >= 0 ? s.asOf * 1000 : -1;
  if (typeof s.clockUs !== 'number') s.clockUs = s.rowUs;
  return s;
}
