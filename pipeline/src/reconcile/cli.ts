/**
 * `npm run reconcile [-- --json] [--edge-url <base>] [--no-edge] [--since <ISO time | 30s | 15m | 2h>]
 * [--no-workflows] [--no-lake]`: counts every pipeline stage — edge, raw topics, normalized, DLQs, quarantine, workflows and
 * `payment_events` rows — and prints whether they reconcile; exit 0 only when they do (1 when they do not, 2 when the
 * check itself could not run). Topic and group names follow the transformer/quarantine configuration (same
 * environment variables); Temporal follows TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE / TEMPORAL_TASK_QUEUE. `--since`
 * limits the workflow/row stage to events first seen in the normalized topic since then.
 */

// Before anything loads kafkajs: its own read_committed filter lets records of some aborted transactions through.
import '@pep/contracts/kafkajs-read-committed';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OTHER_TOPICS, PAYMENT_TASK_QUEUE, serviceAddresses } from '@pep/contracts';
import { envList } from '@pep/contracts/env';
import { createLogger } from '@pep/contracts/log';
import { LAKE_ADDON_PATH } from '@pep/core-native/lake';
import { loadLakeConfig } from '@pep/lakehouse/config';
import { loadQuarantineConfig, loadTransformerConfig } from '../lib/config.ts';
import { createKafka } from '../lib/kafka.ts';
import { type ReconcileOptions, type ReconcileReport, reconcile } from './reconcile.ts';
import { workflowStageLines } from './workflows.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function print(r: ReconcileReport): void {
  const s = r.stages;
  const lines = [
    `edge            ${s.edge.available ? `acknowledged ${s.edge.accepted_to_raw} to raw, ${s.edge.accepted_to_other} to other, ${s.edge.sent_to_dlq} to DLQ (since edge start)` : 'metrics unavailable'}`,
    `raw topics      ${s.raw.total} records`,
    ...Object.entries(s.raw.by_topic).map(([t, n]) => `  ${t.padEnd(40)} ${n}`),
    `other topics    ${s.other.total} records (verified, outside the event vocabulary; kept, not consumed)`,
    ...Object.entries(s.other.by_topic).map(([t, n]) => `  ${t.padEnd(40)} ${n}`),
    `transformer     lag ${s.transformer.lag} (group ${s.transformer.group})`,
    `normalized      ${s.normalized.records} records, ${s.normalized.distinct_event_ids} distinct event_ids (${s.normalized.duplicate_event_ids} provider redeliveries, deduplicated downstream)`,
    `validation DLQ  ${s.validation_dlq.records} records`,
    `webhook DLQ     ${s.webhook_dlq.records} records`,
    `placement       ${s.placement.raw_fully_placed} fully placed, ${s.placement.raw_missing_outputs} missing, ${s.placement.duplicate_outputs} duplicate outputs, ${s.placement.unattributed_outputs} unattributed`,
    `quarantine      ${s.quarantine.webhook_rows} webhook rows, ${s.quarantine.validation_rows} validation rows, lag ${s.quarantine.lag}`,
    ...(s.workflows ? workflowStageLines(s.workflows) : ['workflows       not checked (--no-workflows)']),
    ...(s.lake
      ? [
          ...s.lake.tables.map(
            (t) =>
              `lake            ${t.table}: ${t.rows} rows, ${t.records_in_committed_range} records committed, ${t.duplicate_rows} duplicates`,
          ),
          `lake money      ${Object.entries(s.lake.money_by_currency)
            .map(([c, v]) => `${c} ${v}`)
            .join(', ')}`,
        ]
      : ['lake            not checked (--no-lake, or the lake addon is not built)']),
    '',
    ...r.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`),
    '',
    `verdict: ${r.verdict === 'reconciled' ? 'RECONCILED' : 'NOT RECONCILED'}`,
  ];
  console.log(lines.join('\n'));
}

/** `--since` value: an ISO time, or a duration back from now (`90s`, `15m`, `2h`, `1d`). */
export function parseSince(v: string | undefined, now = Date.now()): Date | null {
  if (v === undefined) return null;
  const d = /^(\d+)(s|m|h|d)$/.exec(v.trim());
  if (d) return new Date(now - Number(d[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[d[2] as 's' | 'm' | 'h' | 'd']);
  const ms = Date.parse(v);
  if (!Number.isFinite(ms))
    throw new Error(`--since must be an ISO time or a duration like 15m, got ${JSON.stringify(v)}`);
  return new Date(ms);
}

/** The platform's reconciliation options from the environment (also for scripts/start.ts's final report). */
export function reconcileOptions(
  env: NodeJS.ProcessEnv = process.env,
  edge: { url?: string; disabled?: boolean } = {},
  workflows: { disabled?: boolean; since?: Date | null } = {},
  lake: { disabled?: boolean } = {},
): ReconcileOptions {
  const t = loadTransformerConfig(env);
  const q = loadQuarantineConfig(env);
  const edgeBase = edge.url ?? env.EDGE_URL ?? `http://127.0.0.1:${serviceAddresses(env).edgePort}`;
  const log = createLogger('error', { service: 'reconcile' }, (line) => process.stderr.write(`${line}\n`));
  return {
    kafka: createKafka({ brokers: t.kafkaBrokers, security: t.kafka, clientId: 'pep-reconcile', log }),
    databaseUrl: q.databaseUrl,
    rawTopics: t.inputTopics,
    otherTopics: envList(env, 'RECONCILE_OTHER_TOPICS', Object.values(OTHER_TOPICS)),
    normalizedTopic: t.normalizedTopic,
    validationDlqTopic: t.dlqTopic,
    webhookDlqTopic: q.webhookDlqTopic,
    transformerGroup: t.groupId,
    quarantineGroup: q.groupId,
    edgeMetricsUrl: edge.disabled ? null : `${edgeBase.replace(/\/$/, '')}/metrics`,
    scanTimeoutMs: Number(env.RECONCILE_SCAN_TIMEOUT_MS ?? 120_000),
    workflows: workflows.disabled
      ? null
      : {
          temporalAddress: serviceAddresses(env).temporalAddress,
          namespace: env.TEMPORAL_NAMESPACE?.trim() || 'default',
          taskQueue: env.TEMPORAL_TASK_QUEUE?.trim() || PAYMENT_TASK_QUEUE,
          since: workflows.since ?? null,
        },
    // The lake stage needs the lake addon; without it (not built yet) the stage is reported as not checked.
    lake: lake.disabled || !existsSync(LAKE_ADDON_PATH) ? null : loadLakeConfig(env),
  };
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  const report = await reconcile(
    reconcileOptions(
      process.env,
      { url: arg('--edge-url'), disabled: process.argv.includes('--no-edge') },
      { disabled: process.argv.includes('--no-workflows'), since: parseSince(arg('--since')) },
      { disabled: process.argv.includes('--no-lake') },
    ),
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
