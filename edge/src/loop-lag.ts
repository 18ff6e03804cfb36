/**
 * Event-loop lag of the edge process: a timer due every `intervalMs` records how late it fired. A request answered
 * late with nothing slow inside its handler or its Kafka batch was held by this: GC pauses, a blocked loop, or the
 * process not being scheduled (shared cores). Exported as edge_event_loop_lag_seconds. (Bun's
 * perf_hooks.monitorEventLoopDelay did not see a 50 ms block in 1.4.4, hence a timer of our own.)
 */

import type { Histogram } from './metrics.ts';

export class EventLoopLagSampler {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private due = 0;

  constructor(
    private readonly lag: Histogram,
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    this.due = performance.now() + this.intervalMs;
    this.arm();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      const now = performance.now();
      this.lag.observe(Math.max(0, now - this.due) / 1000);
      this.due = now + this.intervalMs;
      this.arm();
    }, this.intervalMs);
    // never keeps the process alive on its own
    (this.timer as { unref?: () => void }).unref?.();
  }
}
