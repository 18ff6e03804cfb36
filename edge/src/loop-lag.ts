/**
 * Event-loop lag of the edge process: a timer due every `intervalMs` records how late it fired. A request answered
 * late with nothing slow inside its handler or its Kafka batch was held by this: GC pauses, a blocked loop, or the
 * process not being scheduled (shared cores). Exported as edge_event_loop_lag_seconds. (Bun's
 * perf_hooks.monitorEventLoopDelay did not see a 50 ms block in 1.4.4, hence a timer of our own.)
 */

import type { Histogram } from './metrics.ts';

/** The clock and timer the sampler uses: the process's own by default; a unit test passes a manual one. */
export interface LagClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(timer: unknown): void;
}

const processClock: LagClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    // never keeps the process alive on its own
    (timer as { unref?: () => void }).unref?.();
    return timer;
  },
  clearTimer: (timer) => clearTimeout(timer as ReturnType<typeof setTimeout>),
};

export class EventLoopLagSampler {
  private timer: unknown = null;
  private due = 0;

  constructor(
    private readonly lag: Histogram,
    private readonly intervalMs = 20,
    private readonly clock: LagClock = processClock,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.due = this.clock.now() + this.intervalMs;
    this.arm();
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer = this.clock.setTimer(() => {
      const now = this.clock.now();
      this.lag.observe(Math.max(0, now - this.due) / 1000);
      this.due = now + this.intervalMs;
      this.arm();
    }, this.intervalMs);
  }
}
