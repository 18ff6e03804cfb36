/**
 * `npm run reconcile [-- --json] [--edge-url <base>] [--no-edge]`: counts every pipeline stage and prints whether
 * they reconcile; exit 0 only when they do (1 when they do not, 2 when the check itself could not run).
 * Topic and group names follow the transformer/quarantine configuration (same environment variables).
 */
import { fileURLToPath } from 'node:url';
import { serviceAddresses } from '@pep/contracts';
import { loadQuarantineConfig, loadTransformerConfig } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import { createLogger } from '../lib/log.ts';
import { type ReconcileOptions, type ReconcileReport, reconcile } from './reconcile.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function print(r: ReconcileReport): void {
  const s = r.stages;
  const lines = [
    `edge            ${s.edge.available ? `acknowledged ${s.edge.accepted_to_raw} to raw, ${s.edge.sent_to_dlq} to DLQ (since edge start)` : 'metrics unavailable'}`,
    `raw topics      ${s.raw.total} records`,
    ...Object.entries(s.raw.by_topic).map(([t, n]) => `  ${t.padEnd(40)} ${n}`),
    `transformer     lag ${s.transformer.lag} (group ${s.transformer.group})`,
    `normalized      ${s.normalized.records} records, ${s.normalized.distinct_event_ids} distinct event_ids (${s.normalized.duplicate_event_ids} provider redeliveries, deduplicated downstream)`,
    `validation DLQ  ${s.validation_dlq.records} records`,
    `webhook DLQ     ${s.webhook_dlq.records} records`,
    `placement       ${s.placement.raw_fully_placed} fully placed, ${s.placement.raw_missing_outputs} missing, ${s.placement.duplicate_outputs} duplicate outputs, ${s.placement.unattributed_outputs} unattributed`,
    `quarantine      ${s.quarantine.webhook_rows} webhook rows, ${s.quarantine.validation_rows} validation rows, lag ${s.quarantine.lag}`,
    '',
    ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`),
    '',
    `verdict: ${r.verdict === 'reconciled' ? 'RECONCILED' : 'NOT RECONCILED'}`,
  ];
  console.log(lines.join('\n'));
}

/** The platform's reconciliation options from the environment (also for scripts/start.ts's final report). */
export function reconcileOptions(
  env: NodeJS.ProcessEnv = process.env,
  edge: { url?: string; disabled?: boolean } = {},
): ReconcileOptions {
  const t = loadTransformerConfig(env);
  const q = loadQuarantineConfig(env);
  const edgeBase = edge.url ?? env.EDGE_URL ?? `http://127.0.0.1:${serviceAddresses(env).edgePort}`;
  const log = createLogger('error', { service: 'reconcile' }, (line) => process.stderr.write(`${line}\n`));
  return {
    kafka: createKafka({ brokers: t.kafkaBrokers, clientId: 'pep-reconcile', log }),
    databaseUrl: q.databaseUrl,
    rawTopics: t.inputTopics,
    normalizedTopic: t.normalizedTopic,
    validationDlqTopic: t.dlqTopic,
    webhookDlqTopic: q.webhookDlqTopic,
    transformerGroup: t.groupId,
    quarantineGroup: q.groupId,
    edgeMetricsUrl: edge.disabled ? null : `${edgeBase.replace(/\/$/, '')}/metrics`,
    scanTimeoutMs: Number(env.RECONCILE_SCAN_TIMEOUT_MS ?? 120_000),
  };
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  const report = await reconcile(
    reconcileOptions(process.env, { url: arg('--edge-url'), disabled: process.argv.includes('--no-edge') }),
  );
  if (json) console.log(JSON.stringify(report, null, 2));
  else print(report);
  return report.verdict === 'reconciled' ? 0 : 1;
}

export { print as printReport };

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`reconcile: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(2);
    },
  );
}
