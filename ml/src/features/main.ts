/**
 * The streaming features consumer process (`npm run features -w @pep/ml`, started by `npm start`): payments.normalized
 * → windowed aggregates in Redis (Feast's layout) and the offline Parquet log. Serves /metrics on
 * FEATURES_METRICS_HOST:FEATURES_METRICS_PORT (default 127.0.0.1:9469; a pod sets 0.0.0.0 for its probes); SIGINT/SIGTERM
 * stop it after the batch in hand.
 */

import { SERVICE_DEFAULTS, serviceAddresses } from '@pep/contracts';
import { ConfigError, envInt, envStr } from '@pep/contracts/env';
import { createLogger } from '@pep/contracts/log';
import { redisConnectionFor } from '@pep/contracts/managed';
import { serveMetrics } from '@pep/contracts/metrics';
import { exitWithParent } from '@pep/contracts/parent';
import { Redis } from 'ioredis';
import { loadMlConfig } from '../config.ts';
import { feastApply } from '../py/feast.ts';
import { FeaturesConsumer } from './consumer.ts';
import { OfflineLog } from './offline.ts';
import { FeatureProcessor } from './processor.ts';
import { FEATURE_SPEC } from './spec.ts';
import { StateStore } from './store.ts';

const logger = createLogger('info', { service: 'features' });
const log = (msg: string, fields: Record<string, unknown> = {}) => logger.info(msg, fields);
const cfg = loadMlConfig();
let port: number;
let host: string;
try {
  host = envStr(process.env, 'FEATURES_METRICS_HOST', '127.0.0.1');
  port = envInt(process.env, 'FEATURES_METRICS_PORT', SERVICE_DEFAULTS.metrics.features, 0, 65535);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`features: ${err.message}`);
  process.exit(2);
}
const redisTarget = redisConnectionFor(cfg.redisUrl);
const redis = new Redis(redisTarget.url, { ...redisTarget.options, maxRetriesPerRequest: 3 });
redis.on('error', (err) => log('redis error', { error: String(err) }));
const processor = new FeatureProcessor(
  FEATURE_SPEC,
  new StateStore(redis),
  new OfflineLog(cfg.offlineDir, FEATURE_SPEC),
);
const consumer = new FeaturesConsumer({ brokers: serviceAddresses().kafkaBrokers }, processor, log);
// Feast's registry knows the views before anyone reads through its SDK (training, tests); not needed to write.
void feastApply(cfg).then(
  () => log('feast definitions applied', { project: FEATURE_SPEC.project, spec: FEATURE_SPEC.version }),
  (err) => log('feast apply failed (training will apply again)', { error: String(err) }),
);
await consumer.start();
const server = await serveMetrics(consumer.metrics.registry, host, port);
log('features consumer running', { spec: FEATURE_SPEC.version, offline: cfg.offlineDir, metrics: `${host}:${port}` });
const stop = () => {
  server.close();
  void consumer.stop().finally(() => {
    redis.disconnect();
    process.exit(0);
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
// Started by a launcher (npm start): stop with it, also when it is SIGKILLed (@pep/contracts/parent).
exitWithParent({ onParentGone: () => log('launcher gone: stopping') });
