/**
 * The drift report of one model over a window: the champion's drift reference (its training window's feature and
 * score bins, registered with it) against what serving computed for the window's events. The recent side is the
 * model's population in the window (fraud: successful payments of providers that name disputed payments; churn:
 * failed payments; the rows the model trains on) from the offline log, each vectorized as serving saw it (the
 * logged feature times through Feast's point-in-time join, bit for bit the online vector: skew.test.ts) and scored
 * by the champion in onnxruntime-node. PSI per feature and for the score (psi.ts); the report's status is `alert`
 * when any PSI is above the alert threshold, `warn` above the warn threshold, `insufficient_data` below the minimum
 * number of rows (PSI of a handful of rows is noise), else `ok`.
 */
import { type CoreImpl, loadCore } from '@pep/core-native';
import type { MlConfig } from '../config.ts';
import { OnnxClassifier } from '../serving/onnx.ts';
import { type ModelRegistry, RegistryError } from '../serving/registry.ts';
import { type ModelName, servedVectors } from '../train/dataset.ts';
import { isChurnCandidate, isFraudCandidate, type LoggedEvent } from '../train/labels.ts';
import { DEFAULT_PSI_ALERT, DEFAULT_PSI_WARN, type DriftLevel, levelOf, psiAgainst } from './psi.ts';
import { column, DRIFT_REFERENCE_FILE, type DriftReference, parseDriftReference } from './reference.ts';

export type DriftStatus = DriftLevel | 'insufficient_data';

export interface DriftThresholds {
  readonly psiWarn: number;
  readonly psiAlert: number;
  /** Fewer recent rows than this: no verdict (`insufficient_data`). */
  readonly minRows: number;
  /** More recent rows than this: an even sample of them (Feast's join and the vectorizer stay bounded). */
  readonly maxRows: number;
}

export const DEFAULT_DRIFT_THRESHOLDS: DriftThresholds = Object.freeze({
  psiWarn: DEFAULT_PSI_WARN,
  psiAlert: DEFAULT_PSI_ALERT,
  minRows: 100,
  maxRows: 20_000,
});

function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, integer = false): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw new RangeError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(raw)}`);
  return v;
}

export function driftThresholds(env: NodeJS.ProcessEnv = process.env): DriftThresholds {
  const t = {
    psiWarn: positive(env, 'ML_DRIFT_PSI_WARN', DEFAULT_DRIFT_THRESHOLDS.psiWarn),
    psiAlert: positive(env, 'ML_DRIFT_PSI_ALERT', DEFAULT_DRIFT_THRESHOLDS.psiAlert),
    minRows: positive(env, 'ML_DRIFT_MIN_ROWS', DEFAULT_DRIFT_THRESHOLDS.minRows, true),
    maxRows: positive(env, 'ML_DRIFT_MAX_ROWS', DEFAULT_DRIFT_THRESHOLDS.maxRows, true),
  };
  if (t.psiWarn > t.psiAlert)
    throw new RangeError(`ML_DRIFT_PSI_WARN (${t.psiWarn}) is above ML_DRIFT_PSI_ALERT (${t.psiAlert})`);
  return Object.freeze(t);
}

export interface FeatureDrift {
  readonly feature: string;
  /** `feature` for a model input, `score` for the model's output. */
  readonly kind: 'feature' | 'score';
  readonly psi: number;
  readonly level: DriftLevel;
  readonly referenceMean: number;
  readonly recentMean: number;
}

export interface DriftReport {
  readonly model: ModelName;
  readonly registeredName: string;
  readonly modelVersion: number;
  readonly featureSpecVersion: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly referenceWindow: { readonly from: string; readonly to: string };
  readonly referenceRows: number;
  /** Rows of the model's population in the window (before sampling) and rows compared. */
  readonly windowRows: number;
  readonly rows: number;
  readonly status: DriftStatus;
  readonly thresholds: DriftThresholds;
  readonly maxFeaturePsi: number;
  readonly scorePsi: number;
  /** Features (and `score`) above the warn threshold, worst first. */
  readonly drifted: readonly string[];
  readonly features: readonly FeatureDrift[];
}

/** A report cannot be made (no champion, no reference, a spec mismatch): deterministic, with the reason. */
export class DriftError extends Error {
  override readonly name = 'DriftError';
  constructor(
    readonly code: 'no_champion' | 'no_reference' | 'bad_reference' | 'spec_mismatch',
    message: string,
  ) {
    super(message);
  }
}

/** Every k-th row so that at most `max` remain (deterministic: a re-run compares the same rows). */
export function evenSample<T>(rows: readonly T[], max: number): T[] {
  if (rows.length <= max) return [...rows];
  const step = rows.length / max;
  return Array.from({ length: max }, (_, i) => rows[Math.floor(i * step)] as T);
}

export async function loadChampionReference(
  registry: ModelRegistry,
  registeredName: string,
): Promise<{ version: number; reference: DriftReference; onnx: Buffer }> {
  const champion = await registry.alias(registeredName, 'champion');
  if (!champion) throw new DriftError('no_champion', `${registeredName} has no champion: nothing is served to drift`);
  const where = `${registeredName} v${champion.version}`;
  let text: string;
  try {
    text = (await registry.artifact(champion, DRIFT_REFERENCE_FILE, 16 * 1024 * 1024)).toString('utf8');
  } catch (err) {
    if (err instanceof RegistryError && err.code === 'artifact_missing')
      throw new DriftError(
        'no_reference',
        `${where} has no ${DRIFT_REFERENCE_FILE} (registered before drift references): retrain it with npm run train`,
      );
    throw err;
  }
  let reference: DriftReference;
  try {
    reference = parseDriftReference(text, where);
  } catch (err) {
    throw new DriftError('bad_reference', (err as Error).message);
  }
  return { version: Number(champion.version), reference, onnx: await registry.download(champion) };
}

export async function driftReport(
  cfg: MlConfig,
  args: {
    model: ModelName;
    registeredName: string;
    registry: ModelRegistry;
    /** Logged events (any window; the report keeps those in [from, to)). */
    events: readonly LoggedEvent[];
    from: Date;
    to: Date;
    thresholds?: DriftThresholds;
    core?: CoreImpl;
    log?: (m: string) => void;
  },
): Promise<DriftReport> {
  const t = args.thresholds ?? DEFAULT_DRIFT_THRESHOLDS;
  const log = args.log ?? (() => {});
  const core = args.core ?? (await loadCore());
  const { version, reference, onnx } = await loadChampionReference(args.registry, args.registeredName);
  const spec = core.featureSpec();
  if (reference.featureSpecVersion !== spec.version)
    throw new DriftError(
      'spec_mismatch',
      `${args.registeredName} v${version} was trained on ${reference.featureSpecVersion}, serving computes ${spec.version}`,
    );
  const names = spec.features.map((f) => f.name);
  const missing = names.filter((n) => !reference.features[n]);
  if (missing.length > 0)
    throw new DriftError('bad_reference', `the reference of v${version} has no bins for ${missing.join(', ')}`);

  const candidate = args.model === 'fraud' ? isFraudCandidate : isChurnCandidate;
  const fromMs = args.from.getTime();
  const toMs = args.to.getTime();
  const inWindow = args.events.filter((e) => e.atMs >= fromMs && e.atMs < toMs && candidate(e.ev));
  const sample = evenSample(inWindow, t.maxRows);
  log(
    `${args.registeredName} v${version}: ${inWindow.length} scored events in the window, ${sample.length} compared ` +
      `with the ${reference.rows} training rows of ${reference.window.from}..${reference.window.to}`,
  );
  const base = {
    model: args.model,
    registeredName: args.registeredName,
    modelVersion: version,
    featureSpecVersion: spec.version,
    window: { from: args.from.toISOString(), to: args.to.toISOString() },
    referenceWindow: reference.window,
    referenceRows: reference.rows,
    windowRows: inWindow.length,
    rows: sample.length,
    thresholds: t,
  };
  if (sample.length < t.minRows) {
    return { ...base, status: 'insufficient_data', maxFeaturePsi: 0, scorePsi: 0, drifted: [], features: [] };
  }

  const { x } = await servedVectors(cfg, sample, core);
  const classifier = await OnnxClassifier.load(onnx, names.length);
  let scores: Float32Array;
  try {
    scores = await classifier.score(x, sample.length);
  } finally {
    await classifier.release();
  }
  const all = sample.map((_, i) => i);
  const drift = (feature: string, kind: FeatureDrift['kind'], values: ArrayLike<number>): FeatureDrift => {
    const ref = kind === 'score' ? reference.score : (reference.features[feature] as DriftReference['score']);
    const { psi, mean } = psiAgainst(ref, values);
    return {
      feature,
      kind,
      psi,
      level: levelOf(psi, t.psiWarn, t.psiAlert),
      referenceMean: ref.mean,
      recentMean: mean,
    };
  };
  const features = names.map((n, c) => drift(n, 'feature', column(x, names.length, c, all)));
  const score = drift('score', 'score', scores);
  const rows = [...features, score];
  const worst = rows.reduce((m, r) => Math.max(m, r.psi), 0);
  return {
    ...base,
    status: levelOf(worst, t.psiWarn, t.psiAlert),
    maxFeaturePsi: features.reduce((m, r) => Math.max(m, r.psi), 0),
    scorePsi: score.psi,
    drifted: rows
      .filter((r) => r.level !== 'ok')
      .sort((a, b) => b.psi - a.psi)
      .map((r) => r.feature),
    features: rows,
  };
}
