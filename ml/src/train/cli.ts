/**
 * `npm run train [-- --model fraud|churn] [--until <iso>] [--json]`: trains, evaluates, registers and gates the fraud
 * and churn models (train.ts) on the history the features consumer logged (with --until, only events before that
 * time: the orchestrator's day partition). Exit 0 when every model was trained and registered (a blocked promotion is
 * a result, not a failure: it is printed with its reasons and recorded in MLflow). Each model's result is one JSON
 * line on stdout (--json is accepted for the orchestrator; the output is JSON either way).
 */
import { parseArgs } from 'node:util';
import { loadMlConfig } from '../config.ts';
import { MODEL_NAMES, type ModelName } from './dataset.ts';
import { trainModel } from './train.ts';

const { values } = parseArgs({
  options: { model: { type: 'string' }, until: { type: 'string' }, json: { type: 'boolean' } },
  strict: true,
});
const until = values.until === undefined ? undefined : new Date(values.until);
if (until && Number.isNaN(until.getTime())) {
  process.stderr.write(`train: --until must be a date, got ${JSON.stringify(values.until)}\n`);
  process.exit(2);
}
const models: ModelName[] =
  values.model === undefined
    ? [...MODEL_NAMES]
    : MODEL_NAMES.includes(values.model as ModelName)
      ? [values.model as ModelName]
      : (() => {
          process.stderr.write(`train: --model must be fraud or churn, got ${JSON.stringify(values.model)}\n`);
          process.exit(2);
        })();
const cfg = loadMlConfig();
let failed = false;
for (const m of models) {
  try {
    const r = await trainModel(cfg, m, { ...(until ? { until } : {}) });
    process.stderr.write(
      `train: ${m} v${r.version} ${r.decision.toUpperCase()} (ROC AUC ${r.model_roc_auc.toFixed(3)} vs rules-v1 ` +
        `${r.rules_roc_auc.toFixed(3)}${r.rules_v2_roc_auc === null ? '' : `, rules-v2 ${r.rules_v2_roc_auc.toFixed(3)}`}; ` +
        `gain lower bound vs ${r.baseline} ${r.auc_gain_lower_bound.toFixed(3)})` +
        `${r.reasons.length ? `: ${r.reasons.join('; ')}` : ''}\n`,
    );
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } catch (err) {
    failed = true;
    process.stderr.write(`train: ${m} failed: ${(err as Error).message}\n`);
  }
}
process.exit(failed ? 1 : 0);
