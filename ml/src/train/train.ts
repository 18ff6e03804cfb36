/**
 * `npm run train [-- --model fraud|churn]`: for each model, builds the point-in-time training set from the offline
 * log, trains LightGBM and exports ONNX (Python), checks the exported file in onnxruntime-node against LightGBM's
 * own scores, scores the current champion (if any) on the same evaluation rows, then registers the new version in
 * MLflow and applies the promotion gate (Python). Progress goes to stderr; the result is one JSON object per model.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CoreImpl, loadCore } from '@pep/core-native';
import type { MlConfig } from '../config.ts';
import { buildDriftReference, DRIFT_REFERENCE_FILE } from '../drift/reference.ts';
import { feastApply } from '../py/feast.ts';
import { runPython } from '../py/run.ts';
import { OnnxClassifier } from '../serving/onnx.ts';
import { ModelRegistry } from '../serving/registry.ts';
import { buildTrainingSet, loadLoggedEvents, type ModelName, type TrainingSet, writeTrainingSet } from './dataset.ts';
import { thresholdsSeedPath, writeThreshold } from './thresholds.ts';

export interface TrainResult {
  readonly model: ModelName;
  readonly version: number;
  readonly decision: 'promoted' | 'blocked';
  readonly reasons: readonly string[];
  readonly baseline: string;
  readonly model_roc_auc: number;
  readonly rules_roc_auc: number;
  /** Fraud: rules-v2's ROC AUC on the same rows (what serves before a promotion); null for churn. */
  readonly rules_v2_roc_auc: number | null;
  readonly auc_gain_lower_bound: number;
  /** Fraud: the version's alert threshold (its `alert_threshold` tag); null for churn. */
  readonly alert_threshold: number | null;
  /** The dbt seed the threshold was written to (src/train/thresholds.ts), or null. */
  readonly thresholds_seed: string | null;
  readonly run_id: string;
  readonly data_dir: string;
  readonly seconds: number;
}

/**
 * Largest accepted difference between onnxruntime's and LightGBM's probability for one row. The thresholds are
 * float32 already (train.py, float32_thresholds), so every row takes the same branches in both; what remains is the
 * float32 sum of the leaf values (~1e-7). A broken export, or a split flipped by rounding, differs by far more.
 */
const ONNX_TOLERANCE = 1e-4;

function rowsOf(t: TrainingSet, part: 0 | 1): { x: Float32Array; rows: number; idx: number[] } {
  const idx = t.split.flatMap((s, i) => (s === part ? [i] : []));
  const x = new Float32Array(idx.length * t.cols);
  idx.forEach((r, k) => {
    x.set(t.x.subarray(r * t.cols, (r + 1) * t.cols), k * t.cols);
  });
  return { x, rows: idx.length, idx };
}

export async function trainModel(
  cfg: MlConfig,
  model: ModelName,
  opts: {
    log?: (m: string) => void;
    core?: CoreImpl;
    runName?: string;
    /** Name in the registry (default: the model's, `fraud` or `churn`, as CONTRACT section 8 fixes). */
    registeredName?: string;
    /** The dbt seed of alert thresholds to add this version to (default: thresholdsSeedPath). */
    thresholdsSeed?: string | null;
    /** Only events before this time (the history as it was then; the orchestrator's day partitions). */
    until?: Date;
  } = {},
): Promise<TrainResult> {
  const started = Date.now();
  const log = opts.log ?? ((m: string) => process.stderr.write(`train: ${m}\n`));
  const core = opts.core ?? (await loadCore());
  // The registry first: MLflow down is a clear error now, not after minutes of Feast and LightGBM.
  const registry = new ModelRegistry(cfg.mlflowUrl);
  const name = opts.registeredName ?? model;
  const champion = await registry.alias(name, 'champion');
  const untilMs = opts.until?.getTime() ?? Number.POSITIVE_INFINITY;
  const events = (await loadLoggedEvents(cfg.offlineDir)).filter((e) => e.atMs < untilMs);
  log(`${events.length} logged events in ${cfg.offlineDir}${opts.until ? ` before ${opts.until.toISOString()}` : ''}`);
  await feastApply(cfg);
  const set = await buildTrainingSet(cfg, events, { model, core, log });
  const dir = join(cfg.stateDir, 'runs', `${model}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  writeTrainingSet(dir, set);
  log(
    `${model}: training window from ${set.window.trainFrom}, evaluation from ${set.window.evalFrom}; fitting LightGBM`,
  );
  await runPython('pep_ml.train', ['fit', '--data', dir], { onStderr: log });

  // The exported file must score like the model it came from, in the runtime that will serve it.
  const onnxBytes = readFileSync(join(dir, 'model.onnx'));
  const fresh = await OnnxClassifier.load(onnxBytes, set.cols);
  const ev = rowsOf(set, 1);
  const ortScores = await fresh.score(ev.x, ev.rows);
  // The drift reference: the training window's features and this model's scores of them (`npm run drift`).
  const tr = rowsOf(set, 0);
  const reference = buildDriftReference({
    model,
    featureSpecVersion: set.specVersion,
    featureNames: set.featureNames,
    x: set.x,
    rows: tr.idx,
    scores: await fresh.score(tr.x, tr.rows),
    window: { from: set.window.trainFrom, to: set.window.evalFrom },
  });
  writeFileSync(join(dir, DRIFT_REFERENCE_FILE), JSON.stringify(reference));
  await fresh.release();
  const lgbm = JSON.parse(readFileSync(join(dir, 'eval_scores.json'), 'utf8')) as number[];
  const worst = lgbm.reduce((m, p, i) => Math.max(m, Math.abs(p - (ortScores[i] as number))), 0);
  if (worst > ONNX_TOLERANCE) throw new Error(`${model}: ONNX and LightGBM disagree by ${worst} on an evaluation row`);
  log(`${model}: ONNX export checked in onnxruntime-node (largest difference ${worst.toExponential(2)})`);

  const args = [
    'register',
    '--data',
    dir,
    '--tracking',
    cfg.mlflowUrl,
    '--registered-name',
    name,
    ...(opts.runName ? ['--run-name', opts.runName] : []),
  ];
  if (champion && champion.tags.feature_spec_version === set.specVersion) {
    const c = await OnnxClassifier.load(await registry.download(champion), set.cols);
    const scores = await c.score(ev.x, ev.rows);
    await c.release();
    const file = join(dir, 'champion-scores.json');
    writeFileSync(file, JSON.stringify({ version: champion.version, scores: Array.from(scores) }));
    args.push('--champion-scores', file);
    log(`${model}: champion v${champion.version} scored on the same evaluation rows`);
  } else if (champion) {
    log(
      `${model}: champion v${champion.version} was trained on ${champion.tags.feature_spec_version}; comparing with the rules (what serves)`,
    );
  }
  const out = await runPython('pep_ml.train', args, { onStderr: log });
  const r = JSON.parse(out.trim().split('\n').pop() as string);
  const threshold = typeof r.alert?.threshold === 'number' ? (r.alert.threshold as number) : null;
  const seed = opts.thresholdsSeed !== undefined ? opts.thresholdsSeed : thresholdsSeedPath(name, model);
  const wroteSeed = model === 'fraud' && threshold !== null && seed !== null;
  if (wroteSeed) {
    // The label the service answers with (`fraud@<version>`) is what the outcome rows carry.
    writeThreshold(seed, `${model}@${r.version}`, Number(threshold.toFixed(6)));
    log(`${model}: alert threshold ${threshold.toFixed(6)} of v${r.version} written to ${seed} (dbt fraud_alerts)`);
  }
  return {
    model,
    version: r.version,
    decision: r.decision,
    reasons: r.reasons,
    baseline: r.baseline,
    model_roc_auc: r.model_roc_auc,
    rules_roc_auc: r.rules_roc_auc,
    rules_v2_roc_auc: typeof r.rules_v2_roc_auc === 'number' ? r.rules_v2_roc_auc : null,
    auc_gain_lower_bound: r.auc_gain_lower_bound,
    alert_threshold: threshold,
    thresholds_seed: wroteSeed ? seed : null,
    run_id: r.run_id,
    data_dir: dir,
    seconds: (Date.now() - started) / 1000,
  };
}
