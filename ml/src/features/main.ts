/**
 * The streaming features consumer process (`npm run features -w @pep/ml`, started by `npm start`): payments.normalized
 * → windowed aggregates in Redis (Feast's layout) and the offline Parquet log. Serves /metrics on
 * FEATURES_METRICS_PORT (default 9469); SIGINT/SIGTERM stop it after the batch in hand.
 */
import { createServer } from 'node:http';
import { serviceAddresses } from '@pep/contracts';
import { Redis } from 'ioredis';
import { loadMlConfig } from '../config.ts';
import { feastApply } from '../py/feast.ts';
import { FeaturesConsumer } from './consumer.ts';
import { OfflineLog } from './offline.ts';
import { FeatureProcessor } from './processor.ts';
import { FEATURE_SPEC } from './spec.ts';
import { StateStore } from './store.ts';

const log = (msg: string, fields: Record<string, unknown> = {}) =>
  console.log(JSON.stringify({ level: 'info', msg, ...fields }));
const cfg = loadMlConfig();
const port = Number(process.env.FEATURES_METRICS_PORT ?? 9469);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`features: FEATURES_METRICS_PORT must be a TCP port, got ${process.env.FEATURES_METRICS_PORT}`);
  process.exit(2);
}
const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 3 });
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
const server = createServer((req, res) => {
  if (req.url === '/metrics') {
    void consumer.metrics.registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': consumer.metrics.registry.contentType });
      res.end(text);
    });
  } else {
    res.writeHead(404).end();
  }
});
server.listen(port, '127.0.0.1');
log('features consumer running', { spec: FEATURE_SPEC.version, offline: cfg.offlineDir, metricsPort: port });
const stop = () => {
  server.close();
  void consumer.stop().finally(() => {
    redis.disconnect();
    process.exit(0);
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
