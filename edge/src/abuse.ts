/**
 * Per-source limit on refused requests (issue 13): every 400/401 a source earns costs it a token from its own bucket
 * (refilled at `ratePerS`, at most `burst`); a source with an empty bucket is answered 429 before its body is read, its
 * signature checked or a DLQ record written, until the bucket refills. Accepted requests cost nothing, so a provider
 * sending valid webhooks is never limited by this; a source flooding forged or malformed requests costs a counter.
 * The table of sources is bounded (`maxSources`, least recently refused evicted first). Not a general rate limiter:
 * the in-flight bounds of the producer limit accepted traffic.
 */

export interface SourceLimiterOptions {
  /** Refusals per second a source may earn, on average (0 turns the limiter off). */
  readonly ratePerS: number;
  /** Refusals a source may earn at once. */
  readonly burst: number;
  /** Sources tracked at most. */
  readonly maxSources: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class SourceLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly opts: SourceLimiterOptions,
    private readonly nowMs: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.opts.ratePerS > 0;
  }

  /** Sources currently tracked (bounded by maxSources). */
  get size(): number {
    return this.buckets.size;
  }

  private refill(b: Bucket, now: number): void {
    const elapsed = Math.max(0, now - b.atMs);
    b.tokens = Math.min(this.opts.burst, b.tokens + (elapsed * this.opts.ratePerS) / 1000);
    b.atMs = now;
  }

  /** Seconds until the source may be refused again, or 0 when it is not limited now. */
  limitedForS(source: string): number {
    if (!this.enabled) return 0;
    const b = this.buckets.get(source);
    if (!b) return 0;
    this.refill(b, this.nowMs());
    if (b.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - b.tokens) / this.opts.ratePerS));
  }

  /** Records one refusal of the source. */
  charge(source: string): void {
    if (!this.enabled) return;
    const now = this.nowMs();
    let b = this.buckets.get(source);
    if (b) {
      this.buckets.delete(source); // re-inserted last: the Map's order is least recently refused first
      this.refill(b, now);
    } else {
      b = { tokens: this.opts.burst, atMs: now };
      if (this.buckets.size >= this.opts.maxSources) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
    }
    b.tokens = Math.max(0, b.tokens - 1);
    this.buckets.set(source, b);
  }
}
