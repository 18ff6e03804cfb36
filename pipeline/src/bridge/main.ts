/**
 * Bridge process (`npx tsx pipeline/src/bridge/main.ts`, started by `npm start`): payments.normalized → payment
 * workflows (BRIDGE_PAYMENTS), payments.validation.dlq → grouped review workflows (BRIDGE_REVIEWS); `npm start` runs
 * the two lanes as two processes, the review lane at a lower CPU priority (BRIDGE_NICE).
 * Prometheus metrics (starts, duplicates, retries, lag) on BRIDGE_METRICS_PORT (default 9466). Ctrl-C drains.
 */

// Before anything loads kafkajs: its own read_committed filter lets records of some aborted transactions through.
import '@pep/contracts/kafkajs-read-committed';
import { lowerPriority } from '@pep/contracts/env';
import { createLogger } from '@pep/contracts/log';
import { temporalConnectionOptions } from '@pep/contracts/managed';
import { Registry, serveMetrics } from '@pep/contracts/metrics';
import { exitWithParent } from '@pep/contracts/parent';
import { Client, Connection } from '@temporalio/client';
import { createKafka } from '../lib/kafka.ts';
import { WorkflowBridge } from './bridge.ts';
import { loadBridgeConfig } from './config.ts';

const log = createLogger('info', { service: 'workflow-bridge' });
let config: ReturnType<typeof loadBridgeConfig>;
try {
  config = loadBridgeConfig();
} catch (err) {
  log.error('bad configuration', { err });
  process.exit(2);
}
const nice = config.nice > 0 ? lowerPriority(config.nice) : 0;
const registry = new Registry();
const connection = await Connection.connect(temporalConnectionOptions(config.temporalAddress));
const bridge = new WorkflowBridge({
  config,
  kafka: createKafka({ brokers: config.kafkaBrokers, security: config.kafka, clientId: config.clientId, log }),
  temporal: new Client({ connection, namespace: config.namespace }),
  log,
  registry,
});
const metricsServer = config.metricsPort ? await serveMetrics(registry, config.metricsHost, config.metricsPort) : null;
await bridge.start();
log.info('bridge running', {
  payments: config.paymentsEnabled ? config.normalizedTopic : 'off',
  reviews: config.reviewsEnabled ? config.validationDlqTopic : 'off',
  nice,
  taskQueue: config.taskQueue,
  maxInFlight: config.maxInFlight,
  metrics: config.metricsPort ? `${config.metricsHost}:${config.metricsPort}` : 'off',
});
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  log.info('bridge stopping');
  await bridge.stop();
  metricsServer?.close();
  await connection.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
// Started by a launcher in a session of its own: stop with it, also when it is SIGKILLed (@pep/contracts/parent).
exitWithParent({ onParentGone: () => log.warn('launcher gone: stopping bridge') });
