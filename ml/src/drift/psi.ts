/**
 * Population stability index (PSI) of one feature (or the score) between a reference sample (the training window of
 * the served model) and a recent one. The reference is summarised once, at registration, as quantile bins: the
 * interior cut points of its deciles (ties merged, as numpy's `unique(quantile(...))` does in the promotion gate,
 * ml/python/pep_ml/train.py `psi`) and the share of reference values in each bin. A recent sample is counted into the
 * same bins; PSI = Σ (recent − reference) · ln(recent / reference), every share clipped below at 1e-4 (an empty bin
 * would be infinite). NaN values get a bin of their own.
 *
 * Thresholds (the usual reading of PSI, also the gate's 0.25): below 0.1 stable, 0.1 to 0.25 a moderate shift
 * (warn), above 0.25 a significant shift (alert).
 */

export const PSI_BINS = 10;
export const PSI_FLOOR = 1e-4;
export const DEFAULT_PSI_WARN = 0.1;
export const DEFAULT_PSI_ALERT = 0.25;

export type DriftLevel = 'ok' | 'warn' | 'alert';

export interface BinnedReference {
  /** Interior cut points, strictly increasing; value v falls in bin #{edges ≤ v} (numpy's histogram on [-inf, …, inf]). */
  readonly edges: readonly number[];
  /** Share of reference values per bin (edges.length + 1 bins), then the NaN share. */
  readonly shares: readonly number[];
  readonly nanShare: number;
  readonly mean: number;
  readonly n: number;
}

/** numpy's default (linear) quantile of sorted values. */
function quantileSorted(sorted: Float64Array, q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  return a + ((sorted[hi] as number) - a) * (pos - lo);
}

function finiteSorted(values: ArrayLike<number>): { sorted: Float64Array; nan: number } {
  const out: number[] = [];
  let nan = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) nan++;
    else out.push(v);
  }
  return { sorted: Float64Array.from(out).sort(), nan };
}

/** Index of the bin `v` falls in: the number of edges ≤ v. */
export function binOf(edges: readonly number[], v: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((edges[mid] as number) <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sharesOf(edges: readonly number[], values: ArrayLike<number>): { shares: number[]; nanShare: number } {
  const counts = new Array<number>(edges.length + 1).fill(0);
  let nan = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isNaN(v)) nan++;
    else counts[binOf(edges, v)] = (counts[binOf(edges, v)] as number) + 1;
  }
  const n = Math.max(1, values.length);
  return { shares: counts.map((c) => c / n), nanShare: nan / n };
}

function meanOf(values: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  return n === 0 ? Number.NaN : s / n;
}

/** Quantile bins of a reference sample. */
export function binReference(values: ArrayLike<number>, bins = PSI_BINS): BinnedReference {
  if (values.length === 0) throw new RangeError('a drift reference needs at least one value');
  const { sorted } = finiteSorted(values);
  const qs: number[] = [];
  if (sorted.length > 0) for (let i = 1; i < bins; i++) qs.push(quantileSorted(sorted, i / bins));
  // The outer quantiles (min, max) become -inf/inf; interior ones merge when equal (a feature with many ties).
  const edges = qs.filter((q, i) => i === 0 || q !== qs[i - 1]);
  const { shares, nanShare } = sharesOf(edges, values);
  return { edges, shares, nanShare, mean: meanOf(values), n: values.length };
}

/** Recent sample against a binned reference. */
export function psiAgainst(ref: BinnedReference, values: ArrayLike<number>): { psi: number; mean: number } {
  if (values.length === 0) return { psi: 0, mean: Number.NaN };
  const { shares, nanShare } = sharesOf(ref.edges, values);
  const term = (a: number, e: number) => {
    const ac = Math.max(a, PSI_FLOOR);
    const ec = Math.max(e, PSI_FLOOR);
    return (ac - ec) * Math.log(ac / ec);
  };
  let psi = term(nanShare, ref.nanShare);
  for (let i = 0; i < shares.length; i++) psi += term(shares[i] as number, ref.shares[i] as number);
  // Both shares clipped to the floor contribute exactly 0: a NaN bin empty on both sides adds nothing.
  return { psi, mean: meanOf(values) };
}

export function levelOf(psi: number, warn: number, alert: number): DriftLevel {
  return psi > alert ? 'alert' : psi > warn ? 'warn' : 'ok';
}

/** Shape check of a reference read back from the registry (a corrupt artifact is an error, not a silent 0). */
export function isBinnedReference(v: unknown): v is BinnedReference {
  if (!v || typeof v !== 'object') return false;
  const r = v as Record<string, unknown>;
  return (
    Array.isArray(r.edges) &&
    Array.isArray(r.shares) &&
    r.shares.length === r.edges.length + 1 &&
    r.edges.every((x) => typeof x === 'number') &&
    r.shares.every((x) => typeof x === 'number') &&
    typeof r.nanShare === 'number' &&
    typeof r.n === 'number'
  );
}
