/**
 * Inference service process: validates its configuration once (INFERENCE_HOST, INFERENCE_PORT default 8090), serves
 * the Hono app of app.ts on Node via @hono/node-server, and stops cleanly on SIGINT/SIGTERM.
 */

import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { redisConnectionFor } from '@pep/contracts/managed';
import { Registry, registerProcessMetrics } from '@pep/contracts/metrics';
import { exitWithParent } from '@pep/contracts/parent';
import { loadCore } from '@pep/core-native';
import { Redis } from 'ioredis';
import { type AppOptions, createApp, type ScoringService } from './app.ts';
import { loadMlConfig } from './config.ts';
import { OnlineFeatures } from './features/online.ts';
import { FEATURE_SPEC } from './features/spec.ts';
import { IDLE_GC_FILL_DEFAULT, IdleScavenger } from './serving/idle-gc.ts';
import { type AliasHint, type ModelName, ModelSlot } from './serving/models.ts';
import { ModelRegistry } from './serving/registry.ts';
import { Scorer } from './serving/scorer.ts';

const serviceLog = createLogger('info', { service: 'inference' });

export interface InferenceConfig {
  readonly host: string;
  readonly port: number;
  /** How often the MLflow aliases are checked for a moved champion or challenger. */
  readonly reloadIntervalMs: number;
  /** Micro-batch bounds: at most this many events, waiting at most this long for more. */
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  /**
   * How the online features reach the vectorizer (ScorerOptions.recordsAs; INFERENCE_RECORDS): `numbers` (default)
   * or `json`, the path before, kept as the benchmark's same-run baseline. The same vectors and answers.
   */
  readonly recordsAs?: 'numbers' | 'json';
  /**
   * Share of V8's young generation in use at which an idle scorer collects it (IdleScavenger; ML_IDLE_GC_FILL,
   * default 0.75, 0: never). Needs `--expose-gc` (ML_SCORING_NODE_FLAGS' default); without it nothing happens.
   */
  readonly idleGcFill?: number;
}

export const DEFAULT_INFERENCE_PORT = SERVICE_DEFAULTS.inference.port;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): InferenceConfig {
  const port = Number(env.INFERENCE_PORT ?? DEFAULT_INFERENCE_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`INFERENCE_PORT must be a TCP port, got ${JSON.stringify(env.INFERENCE_PORT)}`);
  }
  const int = (name: string, dflt: number, min: number, max: number) => {
    const v = Number(env[name] ?? dflt);
    if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${name} must be an integer in [${min}, ${max}]`);
    return v;
  };
  return Object.freeze({
    host: env.INFERENCE_HOST ?? SERVICE_DEFAULTS.inference.host,
    port,
    reloadIntervalMs: int('ML_RELOAD_INTERVAL_MS', 5000, 200, 3_600_000),
    maxBatch: int('INFERENCE_MAX_BATCH', 64, 1, 500),
    maxWaitMs: int('INFERENCE_MAX_WAIT_MS', 1, 0, 1000),
    recordsAs: recordsAs(env.INFERENCE_RECORDS),
    idleGcFill: idleGcFill(env.ML_IDLE_GC_FILL),
  });
}

/** ML_IDLE_GC_FILL: a share in [0, 1) (InferenceConfig.idleGcFill), default IDLE_GC_FILL_DEFAULT. */
function idleGcFill(raw: string | undefined): number {
  const v = Number(raw ?? IDLE_GC_FILL_DEFAULT);
  if (raw?.trim() === '' || !(v >= 0 && v < 1)) {
    throw new Error(`ML_IDLE_GC_FILL must be a number in [0, 1) (0: off), got ${JSON.stringify(raw)}`);
  }
  return v;
}

/**
 * How long one online-store read may take before the call is answered without online features (rules, flagged):
 * ML_REDIS_COMMAND_TIMEOUT_MS, default 200.
 */
function redisCommandTimeoutMs(env: NodeJS.ProcessEnv): number {
  const v = Number(env.ML_REDIS_COMMAND_TIMEOUT_MS ?? 200);
  if (!Number.isInteger(v) || v < 10 || v > 60_000) {
    throw new Error(
      `ML_REDIS_COMMAND_TIMEOUT_MS must be an integer in [10, 60000], got ${JSON.stringify(env.ML_REDIS_COMMAND_TIMEOUT_MS)}`,
    );
  }
  return v;
}

function recordsAs(v: string | undefined): 'numbers' | 'json' {
  if (v === undefined || v === '' || v === 'numbers') return 'numbers';
  if (v === 'json') return 'json';
  throw new Error(`INFERENCE_RECORDS must be numbers or json, got ${JSON.stringify(v)}`);
}

export interface ScoringHandle extends ScoringService {
  /** Checks every alias now (also done every reloadIntervalMs). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/**
 * What a model slot reports, logged: each load, and each distinct error once per slot (a registry that stays down
 * fails every reload poll, every few seconds, with the same detail; it is logged again when the detail changes or
 * after the slot loaded a model in between).
 */
export function modelEventLog(
  log: (msg: string, fields?: Record<string, unknown>) => void,
): (e: { kind: 'loaded' | 'error'; slot: Pick<ModelSlot, 'name' | 'alias'>; detail: string }) => void {
  const lastError = new Map<string, string>();
  return (e) => {
    const key = `${e.slot.name}/${e.slot.alias}`;
    const fields = { model: e.slot.name, alias: e.slot.alias, detail: e.detail };
    if (e.kind === 'loaded') {
      lastError.delete(key);
      log('model loaded: now serving', fields);
    } else if (lastError.get(key) !== e.detail) {
      lastError.set(key, e.detail);
      log('model unavailable', fields);
    }
  };
}

/**
 * The model side of the service: online features from Redis, champion and challenger of fraud and churn from MLflow
 * (reloaded when an alias moves), the micro-batching scorer and its Prometheus registry.
 */
export async function startScoring(
  config: InferenceConfig,
  env: NodeJS.ProcessEnv = process.env,
  log: (msg: string, fields?: Record<string, unknown>) => void = (msg, fields) => serviceLog.info(msg, fields),
): Promise<ScoringHandle> {
  const ml = loadMlConfig(env);
  const core = await loadCore();
  const cols = core.featureSpec().features.length;
  const redisTarget = redisConnectionFor(ml.redisUrl, env);
  const redis = new Redis(redisTarget.url, {
    ...redisTarget.options,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: redisCommandTimeoutMs(env),
    retryStrategy: (n) => Math.min(2000, 50 * n),
  });
  redis.on('error', () => {});
  void redis.connect().catch(() => {});
  const registry = new Registry();
  registerProcessMetrics(registry);
  const models = new ModelRegistry(ml.mlflowUrl);
  const names: readonly ModelName[] = ['fraud', 'churn'];
  // Registry names are `fraud` and `churn` (CONTRACT section 8); a prefix keeps tests apart on a shared MLflow.
  const prefix = env.ML_REGISTRY_PREFIX ?? '';
  const onEvent = modelEventLog(log);
  const slots = Object.fromEntries(
    names.map((n) => [
      n,
      {
        champion: new ModelSlot(n, 'champion', `${prefix}${n}`, models, cols, FEATURE_SPEC.version, onEvent),
        challenger: new ModelSlot(n, 'challenger', `${prefix}${n}`, models, cols, FEATURE_SPEC.version, onEvent),
      },
    ]),
  ) as Record<ModelName, { champion: ModelSlot; challenger: ModelSlot }>;
  const scorer = new Scorer(core, new OnlineFeatures(redis, FEATURE_SPEC), FEATURE_SPEC, slots, registry, {
    maxBatch: config.maxBatch,
    maxWaitMs: config.maxWaitMs,
    recordsAs: config.recordsAs ?? 'numbers',
    idleGc: new IdleScavenger(config.idleGcFill ?? IDLE_GC_FILL_DEFAULT),
  });
  const all = names.flatMap((n) => [slots[n].champion, slots[n].challenger]);
  // One request per model name reads both aliases (ModelRegistry.aliases); a slot asks for more only when its alias
  // moved. MLflow's CPU per request competes with scoring on a small box (bench/ml).
  const refresh = async () => {
    await Promise.all(
      names.map(async (n) => {
        let read: Map<string, string> | null | { error: unknown };
        try {
          read = await models.aliases(`${prefix}${n}`);
        } catch (error) {
          read = { error };
        }
        const hint = (alias: string): AliasHint =>
          read instanceof Map ? { version: read.get(alias) ?? null } : read === null ? { version: null } : read;
        await Promise.all([
          slots[n].champion.refresh(hint('champion')),
          slots[n].challenger.refresh(hint('challenger')),
        ]);
      }),
    );
  };
  await refresh();
  const timer = setInterval(() => void refresh(), config.reloadIntervalMs);
  timer.unref();
  return {
    scorer,
    registry,
    refresh,
    status: () =>
      Object.fromEntries(
        names.map((n) => [
          n,
          {
            champion: slots[n].champion.status(),
            challenger: slots[n].challenger.status(),
            feature_spec_version: FEATURE_SPEC.version,
          },
        ]),
      ),
    async close() {
      clearInterval(timer);
      await Promise.all(all.map((s) => s.close()));
      redis.disconnect();
    },
  };
}

/** Starts the service; resolves with the bound port and a close function (port 0 picks a free port, for tests). */
export function startInferenceServer(
  config: Pick<InferenceConfig, 'host' | 'port'>,
  app: AppOptions = {},
): Promise<{ port: number; close: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: createApp(app).fetch, hostname: config.host, port: config.port },
      (info: AddressInfo) => {
        resolve({
          port: info.port,
          close: () => new Promise<void>((r, j) => server.close((err) => (err ? j(err) : r()))),
        });
      },
    );
    server.once('error', reject);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  let config: InferenceConfig;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`inference: ${(err as Error).message}`);
    process.exit(2);
  }
  const scoring = process.env.INFERENCE_MODELS === 'off' ? undefined : await startScoring(config);
  const { port, close } = await startInferenceServer(config, scoring ? { scoring } : {});
  serviceLog.info('inference service listening', { host: config.host, port });
  const stop = () => {
    void close()
      .then(() => scoring?.close())
      .finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Started by a launcher in a session of its own: stop with it, also when it is SIGKILLed (@pep/contracts/parent).
  exitWithParent({ onParentGone: () => serviceLog.warn('launcher gone: stopping inference service') });
}
