/**
 * Partitions of the batch graph: every step is a function of one partition, either a UTC day (`2026-12-04`) or a
 * fixed window of minutes (`2026-12-04T10:05Z`, its start; the length comes from the step). Parsing is strict, and a
 * partition that has not begun (a day after today, a window that has not ended) is refused: nothing can be computed
 * for it yet. Not for scheduling (schedules.ts) or for the keys of the run history (history.ts).
 */

export type Partitioning = { readonly kind: 'day' } | { readonly kind: 'window'; readonly minutes: number };

export interface Partition {
  /** `YYYY-MM-DD` for a day, `YYYY-MM-DDTHH:MMZ` (window start) for a window. */
  readonly key: string;
  readonly start: Date;
  /** Exclusive. */
  readonly end: Date;
}

export class PartitionError extends Error {
  override readonly name = 'PartitionError';
}

const DAY_MS = 86_400_000;
/** A backfill covers at most this many partitions (a year and a day). */
export const MAX_BACKFILL_PARTITIONS = 366;
/** Window lengths a step may declare: divisors of a day, so that windows line up with days. */
export const MAX_WINDOW_MINUTES = 1440;

export function describePartitioning(p: Partitioning): string {
  return p.kind === 'day' ? 'day' : `${p.minutes}-minute window`;
}

export function validatePartitioning(p: Partitioning): void {
  if (p.kind === 'window' && (!Number.isInteger(p.minutes) || p.minutes < 1 || MAX_WINDOW_MINUTES % p.minutes !== 0)) {
    throw new PartitionError(`a window must be a whole number of minutes dividing a day, got ${p.minutes}`);
  }
}

export function dayKey(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function windowKey(d: Date): string {
  return `${d.toISOString().slice(0, 16)}Z`;
}

/** Parses `key` for a step partitioned by `p`; throws PartitionError with what was expected. */
export function parsePartition(key: string, p: Partitioning): Partition {
  if (typeof key !== 'string') throw new PartitionError(`a partition key must be a string, got ${typeof key}`);
  if (p.kind === 'day') {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(key);
    const start = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
    if (!start || Number.isNaN(start.getTime()) || dayKey(start) !== key) {
      throw new PartitionError(`${JSON.stringify(key)} is not a day partition (expected YYYY-MM-DD, a real date)`);
    }
    return { key, start, end: new Date(start.getTime() + DAY_MS) };
  }
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})Z$/.exec(key);
  const start = m ? new Date(`${m[1]}T${m[2]}:${m[3]}:00.000Z`) : null;
  if (!start || Number.isNaN(start.getTime()) || windowKey(start) !== key) {
    throw new PartitionError(`${JSON.stringify(key)} is not a window partition (expected YYYY-MM-DDTHH:MMZ)`);
  }
  const ms = p.minutes * 60_000;
  if (start.getTime() % ms !== 0) {
    throw new PartitionError(`${key} does not start a ${p.minutes}-minute window (windows start at multiples of it)`);
  }
  return { key, start, end: new Date(start.getTime() + ms) };
}

/**
 * Refuses a partition that has not begun: a day after today (UTC), or a window whose end is still ahead (a window
 * is complete only once it has ended). Today's day partition is allowed: it is recomputed as its data arrives.
 */
export function assertNotFuture(part: Partition, p: Partitioning, now: Date): void {
  if (p.kind === 'day') {
    if (part.start.getTime() > now.getTime()) {
      throw new PartitionError(`partition ${part.key} is in the future (today is ${dayKey(now)} UTC)`);
    }
  } else if (part.end.getTime() > now.getTime()) {
    throw new PartitionError(`window ${part.key} has not ended yet (it ends at ${part.end.toISOString()})`);
  }
}

/** Whether the partition can still receive data (today, or a window not yet over). */
export function isOpen(part: Partition, now: Date): boolean {
  return part.end.getTime() > now.getTime();
}

/** The partition containing `t`. */
export function partitionAt(t: Date, p: Partitioning): Partition {
  if (p.kind === 'day') return parsePartition(dayKey(t), p);
  const ms = p.minutes * 60_000;
  return parsePartition(windowKey(new Date(Math.floor(t.getTime() / ms) * ms)), p);
}

/** The last partition that has ended before `t` (yesterday for days, the previous window for windows). */
export function lastClosedPartition(t: Date, p: Partitioning): Partition {
  const current = partitionAt(t, p);
  return partitionAt(new Date(current.start.getTime() - 1), p);
}

/** Day partitions from `from` to `to`, both included, oldest first; refuses inverted, future or oversized ranges. */
export function dayRange(from: string, to: string, now: Date, max = MAX_BACKFILL_PARTITIONS): Partition[] {
  const day: Partitioning = { kind: 'day' };
  const a = parsePartition(from, day);
  const b = parsePartition(to, day);
  if (a.start > b.start) throw new PartitionError(`--from ${from} is after --to ${to}`);
  assertNotFuture(b, day, now);
  const n = Math.round((b.start.getTime() - a.start.getTime()) / DAY_MS) + 1;
  if (n > max) throw new PartitionError(`${from}..${to} is ${n} days; a backfill covers at most ${max}`);
  return Array.from({ length: n }, (_, i) => parsePartition(dayKey(new Date(a.start.getTime() + i * DAY_MS)), day));
}
