/**
 * The drift reference of a model version: per feature and for the model's score, the quantile bins of its training
 * window (psi.ts). Built by training (train.ts) from the rows the model was fitted on and the model's own
 * onnxruntime scores of them, registered beside model.onnx as `drift_reference.json`, read back by `npm run drift`.
 */
import { type BinnedReference, binReference, isBinnedReference } from './psi.ts';

export const DRIFT_REFERENCE_FILE = 'drift_reference.json';
export const DRIFT_REFERENCE_FORMAT = 'pep-drift-reference-v1';

export interface DriftReference {
  readonly format: typeof DRIFT_REFERENCE_FORMAT;
  readonly model: string;
  readonly featureSpecVersion: string;
  /** The training window the bins summarise (event times, ISO). */
  readonly window: { readonly from: string; readonly to: string };
  readonly rows: number;
  readonly features: Readonly<Record<string, BinnedReference>>;
  readonly score: BinnedReference;
}

/** Column `c` of a row-major matrix, restricted to `rows`. */
export function column(x: Float32Array, cols: number, c: number, rows: readonly number[]): Float64Array {
  const out = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    out[i] = x[r * cols + c] as number;
  });
  return out;
}

export function buildDriftReference(args: {
  model: string;
  featureSpecVersion: string;
  featureNames: readonly string[];
  x: Float32Array;
  /** Indices of the training rows in `x`. */
  rows: readonly number[];
  /** The model's score of each training row (same order as `rows`). */
  scores: Float32Array;
  window: { from: string; to: string };
}): DriftReference {
  const cols = args.featureNames.length;
  if (args.scores.length !== args.rows.length)
    throw new RangeError(`${args.scores.length} scores for ${args.rows.length} reference rows`);
  const features: Record<string, BinnedReference> = {};
  args.featureNames.forEach((name, c) => {
    features[name] = binReference(column(args.x, cols, c, args.rows));
  });
  return {
    format: DRIFT_REFERENCE_FORMAT,
    model: args.model,
    featureSpecVersion: args.featureSpecVersion,
    window: args.window,
    rows: args.rows.length,
    features,
    score: binReference(args.scores),
  };
}

/** Parses and checks a registered reference; a malformed one is an Error naming what is wrong. */
export function parseDriftReference(text: string, where: string): DriftReference {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: ${DRIFT_REFERENCE_FILE} is not JSON (${(err as Error).message})`);
  }
  const r = v as Partial<DriftReference>;
  if (r?.format !== DRIFT_REFERENCE_FORMAT)
    throw new Error(`${where}: ${DRIFT_REFERENCE_FILE} has format ${JSON.stringify(r?.format)}`);
  if (!r.features || typeof r.features !== 'object' || !isBinnedReference(r.score))
    throw new Error(`${where}: ${DRIFT_REFERENCE_FILE} has no feature or score bins`);
  for (const [name, b] of Object.entries(r.features))
    if (!isBinnedReference(b)) throw new Error(`${where}: ${DRIFT_REFERENCE_FILE}: bins of ${name} are malformed`);
  return r as DriftReference;
}
