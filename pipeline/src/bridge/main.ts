/**
 * Bridge process (`npx tsx pipeline/src/bridge/main.ts`, started by `npm start`): payments.normalized → one
 * PaymentEventWorkflow per event, payments.validation.dlq → one DlqReviewWorkflow per quarantined record.
 * Prometheus metrics (starts, duplicates, retries, lag) on BRIDGE_METRICS_PORT (default 9466). Ctrl-C drains.
 */

import { createLogger } from '@pep/contracts/log';
import { Registry, serveMetrics } from '@pep/contracts/metrics';
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
const registry = new Registry();
const connection = await Connection.connect({ address: config.temporalAddress });
const bridge = new WorkflowBridge({
  config,
  kafka: createKafka({ brokers: config.kafkaBrokers, clientId: config.clientId, log }),
  temporal: new Client({ connection, namespace: config.namespace }),
  log,
  registry,
});
const metricsServer = config.metricsPort ? await serveMetrics(registry, config.metricsHost, config.metricsPort) : null;
await bridge.start();
log.info('bridge running', {
  normalizedTopic: config.normalizedTopic,
  reviews: config.reviewsEnabled ? config.validationDlqTopic : 'off',
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
