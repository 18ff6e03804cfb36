/**
 * Young-generation collections while the scorer is idle instead of inside a scoring call. A 64-event call leaves
 * ~300 KB of garbage, so at 25 calls/s V8 scavenges every ~50 calls, and a scavenge that starts inside a call copies
 * that call's live objects: 1-6 ms added to ~2 % of the calls, which is where their p99 lies (bench/ml,
 * bench/HISTORY.md `## ml` 2026-12-07). When the scorer goes idle (no micro-batch running or waiting) with its young
 * generation past `fill` of its capacity, it is collected then, with almost nothing live (~0.2-0.5 ms). Under load
 * the scorer is never idle and V8 collects as it always does, so this never adds work to a busy process; at a
 * moderate rate it moves the scavenges between the calls.
 *
 * Needs V8's `gc` function (`--expose-gc`, in ML_SCORING_NODE_FLAGS' default, which `npm start` gives the inference
 * service and the payment-lane worker); without it, or with `fill` 0 (ML_IDLE_GC_FILL=0), this does nothing.
 */
import { getHeapSpaceStatistics } from 'node:v8';

/** ML_IDLE_GC_FILL's default (InferenceConfig.idleGcFill). */
export const IDLE_GC_FILL_DEFAULT = 0.75;

type MinorGc = (opts: { type: 'minor' }) => void;

export interface NewSpace {
  /** Bytes in use in the young generation's allocation area. */
  readonly used: number;
  /** Bytes still free there before V8 must scavenge. */
  readonly available: number;
}

function newSpace(): NewSpace | null {
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space') return { used: s.space_used_size, available: s.space_available_size };
  }
  return null;
}

export class IdleScavenger {
  /** Idle collections done (the scorer's metric and the tests read it). */
  collections = 0;
  private scheduled = false;
  private readonly gc: MinorGc | null;

  /**
   * `fill`: the share of the young generation in use at which an idle moment collects it (0: never). `gc` and `stats`
   * default to V8's (`globalThis.gc` when exposed) and node:v8's; tests pass their own.
   */
  constructor(
    readonly fill: number,
    gc: MinorGc | null = ((globalThis as { gc?: MinorGc }).gc as MinorGc | undefined) ?? null,
    private readonly stats: () => NewSpace | null = newSpace,
  ) {
    if (!(fill >= 0 && fill < 1)) throw new Error(`idle scavenge fill must be in [0, 1), got ${fill}`);
    this.gc = fill > 0 ? gc : null;
  }

  /** Whether it can collect at all (`gc` exposed and fill > 0). */
  get enabled(): boolean {
    return this.gc !== null;
  }

  /**
   * Called when the scorer went idle. Checks once, after the callbacks already queued (the answers being written, a
   * request that arrived meanwhile) have run, and only if `stillIdle()` then.
   */
  idle(stillIdle: () => boolean): void {
    if (this.gc === null || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (stillIdle()) this.collectIfFull();
    });
  }

  /** Collects the young generation if it is past `fill`; returns whether it did. */
  collectIfFull(): boolean {
    if (this.gc === null) return false;
    const s = this.stats();
    if (!s || s.used + s.available <= 0 || s.used / (s.used + s.available) < this.fill) return false;
    this.gc({ type: 'minor' });
    this.collections++;
    return true;
  }
}
