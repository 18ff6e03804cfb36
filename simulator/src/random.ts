/**
 * Seeded randomness for the simulator: one PRNG (sfc32 seeded through splitmix32) so that a seed reproduces the
 * same traffic, plus the few distributions the traffic model needs (Zipf-skewed picks, log-normal amounts).
 * Not cryptographic and not meant to be.
 */

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t / 4294967296;
  }

  int(min: number, maxInclusive: number): number {
    return min + Math.floor(this.next() * (maxInclusive - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T;
  }

  weighted<T>(items: readonly (readonly [T, number])[]): T {
    const total = items.reduce((s, [, w]) => s + w, 0);
    let r = this.next() * total;
    for (const [item, w] of items) {
      r -= w;
      if (r < 0) return item;
    }
    return (items[items.length - 1] as readonly [T, number])[0];
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  hex(chars: number): string {
    let s = '';
    for (let i = 0; i < chars; i++) s += '0123456789abcdef'[Math.floor(this.next() * 16)];
    return s;
  }

  alnum(chars: number): string {
    const set = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
    let s = '';
    for (let i = 0; i < chars; i++) s += set[Math.floor(this.next() * set.length)];
    return s;
  }

  digits(chars: number): string {
    let s = '';
    for (let i = 0; i < chars; i++) s += String(Math.floor(this.next() * 10));
    return s;
  }
}

/**
 * Zipf(s) sampler over ranks 0..n-1 by inverse CDF on a precomputed table: a few customers and merchants are very
 * frequent, most are rare, which is what per-customer velocity features need to be meaningful.
 */
export class Zipf {
  private readonly cdf: Float64Array;
  constructor(
    readonly n: number,
    readonly s = 1.1,
  ) {
    this.cdf = new Float64Array(n);
    let total = 0;
    for (let k = 1; k <= n; k++) total += 1 / k ** s;
    let acc = 0;
    for (let k = 1; k <= n; k++) {
      acc += 1 / k ** s / total;
      this.cdf[k - 1] = acc;
    }
  }
  sample(rng: Rng): number {
    const u = rng.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
