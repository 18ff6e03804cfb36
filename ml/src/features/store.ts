/**
 * Redis side of the features consumer: per-entity aggregate state (the consumer's own keys), the `seen` marks that
 * make an update idempotent per event_id, and the Feast-layout HASHes that serving and Feast's SDK read. One Lua
 * script commits a whole batch atomically: it checks every state's version (another consumer instance may have
 * written in between) and that no event of the batch was applied before (a redelivery after a crash), and only then
 * writes states, marks and Feast rows together. On a conflict nothing is written and the caller recomputes.
 * Not the computation (aggregate.ts) and not serving reads (online.ts).
 */
import type { Redis } from 'ioredis';
import type { EntityState } from './aggregate.ts';
import type { EntityName } from './spec.ts';

const APPLY_SCRIPT = `
local n1, n2, n3 = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bad, seen = {}, {}
for i = 1, n1 do
  local v = redis.call('HGET', KEYS[i], 'v')
  if (v or '0') ~= ARGV[5 + i] then bad[#bad + 1] = i end
end
for i = 1, n2 do
  if redis.call('EXISTS', KEYS[n1 + i]) == 1 then seen[#seen + 1] = i end
end
if #bad > 0 or #seen > 0 then return {bad, seen} end
local stateTtl = ARGV[5]
for i = 1, n1 do
  redis.call('HSET', KEYS[i], 'v', tostring(tonumber(ARGV[5 + i]) + 1), 's', ARGV[5 + n1 + i])
  redis.call('EXPIRE', KEYS[i], stateTtl)
end
for i = 1, n2 do redis.call('SET', KEYS[n1 + i], '1', 'EX', ARGV[4]) end
local a = 6 + 2 * n1
for i = 1, n3 do
  local ttl = ARGV[a]
  local np = tonumber(ARGV[a + 1])
  a = a + 2
  local args = {}
  for j = 1, 2 * np do args[j] = ARGV[a + j - 1] end
  a = a + 2 * np
  redis.call('HSET', KEYS[n1 + n2 + i], unpack(args))
  redis.call('EXPIRE', KEYS[n1 + n2 + i], ttl)
end
return {{}, {}}
`;

export interface VersionedState {
  readonly version: number;
  readonly state: EntityState;
}

export interface FeastHashWrite {
  readonly key: Buffer;
  /** Field/value pairs (field names are Buffers in Feast's layout). */
  readonly pairs: readonly (readonly [Buffer, Buffer])[];
  readonly ttlS: number;
}

export interface CommitRequest {
  readonly states: readonly { key: string; expectedVersion: number; state: EntityState }[];
  readonly seenEventIds: readonly string[];
  readonly feast: readonly FeastHashWrite[];
}

export type CommitResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly staleStateKeys: readonly string[]; readonly seenEventIds: readonly string[] };

export interface StateStoreOptions {
  /** Prefix of the consumer's own keys (default `pep:features:`). */
  readonly prefix?: string;
  /** Lifetime of a `seen` mark: how long after an update a redelivery is still recognised (default 8 days). */
  readonly seenTtlS?: number;
  /** Lifetime of an idle entity's state (default 31 days: the longest window plus a day). */
  readonly stateTtlS?: number;
}

export class StateStore {
  readonly prefix: string;
  private readonly seenTtlS: number;
  private readonly stateTtlS: number;

  constructor(
    readonly redis: Redis,
    opts: StateStoreOptions = {},
  ) {
    this.prefix = opts.prefix ?? 'pep:features:';
    this.seenTtlS = opts.seenTtlS ?? 8 * 86_400;
    this.stateTtlS = opts.stateTtlS ?? 31 * 86_400;
    redis.defineCommand('pepApplyFeatures', { lua: APPLY_SCRIPT });
  }

  stateKey(entity: EntityName, id: string): string {
    return `${this.prefix}state:${entity}:${id}`;
  }

  seenKey(eventId: string): string {
    return `${this.prefix}seen:${eventId}`;
  }

  /** Current states of `keys` in one pipelined round trip (version 0 and no state for an unknown entity). */
  async load(keys: readonly string[]): Promise<Map<string, VersionedState | null>> {
    const out = new Map<string, VersionedState | null>();
    if (keys.length === 0) return out;
    const p = this.redis.pipeline();
    for (const k of keys) p.hmget(k, 'v', 's');
    const res = (await p.exec()) ?? [];
    keys.forEach((k, i) => {
      const [err, val] = res[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      const [v, s] = val as [string | null, string | null];
      out.set(k, v && s ? { version: Number(v), state: JSON.parse(s) as EntityState } : null);
    });
    return out;
  }

  /** Commits a batch atomically (see the module header); nothing is written when the result is not ok. */
  async commit(req: CommitRequest): Promise<CommitResult> {
    const keys: (string | Buffer)[] = [
      ...req.states.map((s) => s.key),
      ...req.seenEventIds.map((id) => this.seenKey(id)),
      ...req.feast.map((f) => f.key),
    ];
    const args: (string | Buffer | number)[] = [
      req.states.length,
      req.seenEventIds.length,
      req.feast.length,
      this.seenTtlS,
      this.stateTtlS,
      ...req.states.map((s) => String(s.expectedVersion)),
      ...req.states.map((s) => JSON.stringify(s.state)),
    ];
    for (const f of req.feast) {
      args.push(f.ttlS, f.pairs.length);
      for (const [field, value] of f.pairs) args.push(field, value);
    }
    const [bad, seen] = (await (
      this.redis as unknown as { pepApplyFeatures(n: number, ...a: unknown[]): Promise<[number[], number[]]> }
    ).pepApplyFeatures(keys.length, ...keys, ...args)) as [number[], number[]];
    if (bad.length === 0 && seen.length === 0) return { ok: true };
    return {
      ok: false,
      staleStateKeys: bad.map((i) => (req.states[i - 1] as { key: string }).key),
      seenEventIds: seen.map((i) => req.seenEventIds[i - 1] as string),
    };
  }
}
