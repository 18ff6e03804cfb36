/**
 * The trainer `npm start` runs beside the platform: until a model has a champion it tries every
 * ML_AUTO_TRAIN_CHECK_S (default 60 s) and says how much labelled history is still missing; once enough exists it
 * trains, registers and gates (train.ts), and the inference service switches to the new champion on its next alias
 * check. After that it retrains every ML_RETRAIN_INTERVAL_S (default 3600 s); the gate decides what is served.
 */
import { createLogger } from '@pep/contracts/log';
import { loadMlConfig } from '../config.ts';
import { ModelRegistry } from '../serving/registry.ts';
import { MODEL_NAMES } from './dataset.ts';
import { trainModel } from './train.ts';

const logger = createLogger('info', { service: 'auto-train' });
const say = (msg: string, fields: Record<string, unknown> = {}) => logger.info(msg, fields);
const cfg = loadMlConfig();
const checkMs = Number(process.env.ML_AUTO_TRAIN_CHECK_S ?? 60) * 1000;
const retrainMs = Number(process.env.ML_RETRAIN_INTERVAL_S ?? 3600) * 1000;
const registry = new ModelRegistry(cfg.mlflowUrl);
const lastTrained = new Map<string, number>();
let stopping = false;
process.on('SIGINT', () => (stopping = true));
process.on('SIGTERM', () => (stopping = true));

while (!stopping) {
  for (const model of MODEL_NAMES) {
    if (stopping) break;
    let champion = null;
    try {
      champion = await registry.alias(model, 'champion');
    } catch (err) {
      say('MLflow unavailable; will retry', { model, error: (err as Error).message });
      continue;
    }
    const due = champion === null || Date.now() - (lastTrained.get(model) ?? 0) > retrainMs;
    if (!due) continue;
    try {
      const r = await trainModel(cfg, model, { log: (m) => say(m, { model }) });
      lastTrained.set(model, Date.now());
      say(`${model} v${r.version} ${r.decision}`, {
        model_roc_auc: r.model_roc_auc,
        rules_roc_auc: r.rules_roc_auc,
        reasons: r.reasons,
      });
    } catch (err) {
      say('not trained yet', { model, reason: (err as Error).message.split('\n')[0] });
    }
  }
  const until = Date.now() + checkMs;
  while (!stopping && Date.now() < until) await new Promise((r) => setTimeout(r, 500));
}
process.exit(0);
