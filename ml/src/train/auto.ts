/**
 * The trainer `npm start` runs beside the platform: until a model has a champion it tries every
 * ML_AUTO_TRAIN_CHECK_S (default 60 s) and says how much labelled history is still missing; once enough exists it
 * trains, registers and gates (train.ts), and the inference service switches to the new champion on its next alias
 * check. After that it retrains every ML_RETRAIN_INTERVAL_S (default 3600 s); the gate decides what is served.
 * MLflow down is waited out (the model is tried again on the next check), never a crash.
 */
import { pathToFileURL } from 'node:url';
import { createLogger } from '@pep/contracts/log';
import { exitWithParent } from '@pep/contracts/parent';
import { loadMlConfig } from '../config.ts';
import { ModelRegistry } from '../serving/registry.ts';
import { MODEL_NAMES, type ModelName } from './dataset.ts';
import { type TrainResult, trainModel } from './train.ts';

export type AutoTrainAction = 'trained' | 'not_due' | 'registry_unavailable' | 'not_trained';

export interface AutoTrainOutcome {
  readonly model: ModelName;
  readonly action: AutoTrainAction;
  readonly result?: TrainResult;
  readonly reason?: string;
}

export interface AutoTrainerOptions {
  readonly registry: Pick<ModelRegistry, 'alias'>;
  readonly train: (model: ModelName) => Promise<TrainResult>;
  readonly retrainMs: number;
  readonly models?: readonly ModelName[];
  /** Registry name of a model (default: the model's own, CONTRACT section 8). */
  readonly registeredName?: (model: ModelName) => string;
  readonly now?: () => number;
  readonly log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export class AutoTrainer {
  private readonly lastTrained = new Map<ModelName, number>();
  private readonly now: () => number;
  private readonly log: (msg: string, fields?: Record<string, unknown>) => void;

  constructor(private readonly o: AutoTrainerOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.log ?? (() => {});
  }

  /** One check of every model: train those without a champion, or whose last training is older than retrainMs. */
  async tick(isStopping: () => boolean = () => false): Promise<AutoTrainOutcome[]> {
    const out: AutoTrainOutcome[] = [];
    for (const model of this.o.models ?? MODEL_NAMES) {
      if (isStopping()) break;
      let champion = null;
      try {
        champion = await this.o.registry.alias(this.o.registeredName?.(model) ?? model, 'champion');
      } catch (err) {
        this.log('MLflow unavailable; will retry', { model, error: (err as Error).message });
        out.push({ model, action: 'registry_unavailable', reason: (err as Error).message });
        continue;
      }
      const last = this.lastTrained.get(model);
      if (champion !== null && last !== undefined && this.now() - last <= this.o.retrainMs) {
        out.push({ model, action: 'not_due' });
        continue;
      }
      // A champion this process did not train (an earlier run, `npm run train`): retrain once the interval has passed
      // from now, not at once on every start.
      if (champion !== null && last === undefined) {
        this.lastTrained.set(model, this.now());
        out.push({ model, action: 'not_due' });
        continue;
      }
      try {
        const r = await this.o.train(model);
        this.lastTrained.set(model, this.now());
        this.log(`${model} v${r.version} ${r.decision}`, {
          model_roc_auc: r.model_roc_auc,
          rules_roc_auc: r.rules_roc_auc,
          reasons: r.reasons,
        });
        out.push({ model, action: 'trained', result: r });
      } catch (err) {
        const reason = (err as Error).message.split('\n')[0] as string;
        this.log('not trained yet', { model, reason });
        out.push({ model, action: 'not_trained', reason });
      }
    }
    return out;
  }

  /** Checks every `checkMs` until `isStopping()` (polled every 500 ms while waiting). */
  async run(checkMs: number, isStopping: () => boolean): Promise<void> {
    while (!isStopping()) {
      await this.tick(isStopping);
      const until = Date.now() + checkMs;
      while (!isStopping() && Date.now() < until) await new Promise((r) => setTimeout(r, 500));
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const logger = createLogger('info', { service: 'auto-train' });
  const cfg = loadMlConfig();
  const log = (m: string) => logger.info(m, {});
  let stopping = false;
  process.on('SIGINT', () => (stopping = true));
  process.on('SIGTERM', () => (stopping = true));
  // Launched by `npm start` (PEP_EXIT_WITH_PARENT=stdin): stop with the launcher, however it dies (SIGKILL included).
  exitWithParent({ onParentGone: () => logger.warn('launcher gone: stopping trainer', {}) });
  const trainer = new AutoTrainer({
    registry: new ModelRegistry(cfg.mlflowUrl),
    train: (model) => trainModel(cfg, model, { log: (m) => log(`${model}: ${m}`) }),
    retrainMs: Number(process.env.ML_RETRAIN_INTERVAL_S ?? 3600) * 1000,
    log: (m, f) => logger.info(m, f ?? {}),
  });
  await trainer.run(Number(process.env.ML_AUTO_TRAIN_CHECK_S ?? 60) * 1000, () => stopping);
  process.exit(0);
}
