/**
 * Reconciliation (CONTRACT section 1, guarantee 5): counts every pipeline stage and checks that they agree.
 *
 * - raw topics: every committed raw record, by coordinates;
 * - transformer: its group has committed every raw partition to the end (lag 0);
 * - placement: every raw record has all of its outputs, each exactly once, across `payments.normalized` and
 *   `payments.validation.dlq` (the transformer stamps `source-topic/partition/offset` and `source-output: i/n`
 *   headers on each output), and nothing else;
 * - quarantine: one PostgreSQL row per committed record of both DLQ topics, and the quarantine group at lag 0;
 * - other topics (`webhooks.<provider>.other`): verified events outside the event vocabulary, counted (nothing consumes
 *   them, so there is nothing to place);
 * - edge (when its /metrics answers): what it acknowledged vs what the topics hold since it started;
 * - workflows and rows (when `workflows` is set): for the distinct event_ids of `payments.normalized`, the Temporal
 *   executions that processed them and their `payment_events` rows (workflows.ts).
 * Provider retries legitimately give the same event_id twice in `payments.normalized` (one per raw delivery); they
 * are reported (`duplicate_event_ids`) and deduplicated downstream on event_id, not counted as a failure.
 * Reads topics completely (read_committed): a check for operators and tests, not a hot-path monitor.
 */
import { OUTPUT_HEADERS } from '@pep/contracts';
import type { LakeConfig } from '@pep/lakehouse/config';
import type { Kafka } from 'kafkajs';
import pg from 'pg';
import { groupLag } from '../lib/kafka.ts';
import { type LakeStage, reconcileLake } from './lake.ts';
import { headerText, partitionRanges, scanTopics } from './scan.ts';
import { reconcileWorkflows, type WorkflowStage, type WorkflowStageOptions } from './workflows.ts';

export interface ReconcileOptions {
  readonly kafka: Kafka;
  readonly databaseUrl: string;
  readonly rawTopics: readonly string[];
  /** `webhooks.<provider>.other` topics to count (absent: none). */
  readonly otherTopics?: readonly string[];
  readonly normalizedTopic: string;
  readonly validationDlqTopic: string;
  readonly webhookDlqTopic: string;
  readonly transformerGroup: string;
  readonly quarantineGroup: string;
  /** Edge /metrics URL; null skips the edge stage. */
  readonly edgeMetricsUrl: string | null;
  readonly scanTimeoutMs: number;
  /** Temporal and scope of the workflow/row stage; absent or null skips it. */
  readonly workflows?: WorkflowStageOptions | null;
  /** The lakehouse (bronze tables vs the topics they read); absent or null skips it. */
  readonly lake?: LakeConfig | null;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface ReconcileReport {
  readonly verdict: 'reconciled' | 'not_reconciled';
  readonly stages: {
    readonly edge: {
      readonly available: boolean;
      readonly accepted_to_raw?: number;
      readonly accepted_to_other?: number;
      readonly sent_to_dlq?: number;
    };
    readonly raw: { readonly total: number; readonly by_topic: Record<string, number> };
    /** Verified events outside the event vocabulary, kept in webhooks.<provider>.other. */
    readonly other: { readonly total: number; readonly by_topic: Record<string, number> };
    readonly transformer: { readonly group: string; readonly lag: number };
    readonly normalized: {
      readonly records: number;
      readonly distinct_event_ids: number;
      readonly duplicate_event_ids: number;
    };
    readonly validation_dlq: { readonly records: number };
    readonly webhook_dlq: { readonly records: number };
    readonly placement: {
      readonly raw_fully_placed: number;
      readonly raw_missing_outputs: number;
      readonly duplicate_outputs: number;
      readonly unattributed_outputs: number;
    };
    readonly quarantine: {
      readonly group: string;
      readonly lag: number;
      readonly webhook_rows: number;
      readonly validation_rows: number;
    };
    /** Null when the workflow stage was not requested. */
    readonly workflows: WorkflowStage | null;
    /** Null when the lake stage was not requested. */
    readonly lake: LakeStage | null;
  };
  readonly checks: readonly Check[];
}

/** event_id from a normalized record's value when it has no key (null when unreadable). */
function eventIdOf(value: Buffer | null): string | null {
  try {
    const v = JSON.parse(value?.toString('utf8') ?? 'null') as { event_id?: unknown } | null;
    return typeof v?.event_id === 'string' ? v.event_id : null;
  } catch {
    return null;
  }
}

interface SourceState {
  /** Outputs announced by the first output seen (n of i/n); 0 = none seen yet. */
  total: number;
  seen: Set<number>;
}

async function edgeCounts(
  url: string,
): Promise<{ acceptedToRaw: number; acceptedToOther: number; sentToDlq: number } | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return null;
    const text = await res.text();
    let ok200 = 0;
    let dlq = 0;
    let unroutable = 0;
    let other = 0;
    for (const line of text.split('\n')) {
      const m = /^(\w+)(\{[^}]*\})? ([0-9.e+]+)$/.exec(line.trim());
      if (!m) continue;
      const [, name, labels = '', value] = m;
      if (name === 'edge_http_requests_total' && labels.includes('status="200"')) ok200 += Number(value);
      if (name === 'edge_dlq_records_total') {
        dlq += Number(value);
        if (labels.includes('reason="unroutable_event_type"')) unroutable += Number(value);
      }
      if (name === 'edge_other_records_total') other += Number(value);
    }
    return { acceptedToRaw: ok200 - unroutable - other, acceptedToOther: other, sentToDlq: dlq };
  } catch {
    return null;
  }
}

async function lagOf(kafka: Kafka, group: string, topics: readonly string[], lastData: Map<string, bigint>) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let lag = 0n;
    for (const l of await groupLag(admin, group, topics)) {
      // Committed past the last data record counts as caught up: trailing transaction markers are not work.
      const last = lastData.get(`${l.topic}/${l.partition}`);
      if (last === undefined || (l.committedOffset >= 0n && l.committedOffset > last)) continue;
      lag += l.lag;
    }
    return Number(lag);
  } finally {
    await admin.disconnect();
  }
}

export async function reconcile(o: ReconcileOptions): Promise<ReconcileReport> {
  const checks: Check[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const lastData = new Map<string, bigint>();
  const noteLast = (topic: string, partition: number, offset: string) => {
    const k = `${topic}/${partition}`;
    const off = BigInt(offset);
    if ((lastData.get(k) ?? -1n) < off) lastData.set(k, off);
  };

  // 1. Raw topics: the coordinates of every committed raw record.
  const rawRanges = await partitionRanges(o.kafka, o.rawTopics);
  const sources = new Map<string, SourceState>();
  const byTopic: Record<string, number> = {};
  await scanTopics(
    o.kafka,
    rawRanges,
    (topic, partition, m) => {
      sources.set(`${topic}/${partition}/${m.offset}`, { total: 0, seen: new Set() });
      byTopic[topic] = (byTopic[topic] ?? 0) + 1;
      noteLast(topic, partition, m.offset);
    },
    o.scanTimeoutMs,
  );
  const rawTotal = sources.size;

  // 2. Outputs: attribute each to its source and output ordinal.
  const outRanges = await partitionRanges(o.kafka, [o.normalizedTopic, o.validationDlqTopic]);
  let normalized = 0;
  let dlqRecords = 0;
  let duplicates = 0;
  let unattributed = 0;
  // Distinct event_id → Kafka timestamp (ms) of its first record, for the workflow stage and its --since scope.
  const eventIds = new Map<string, number>();
  await scanTopics(
    o.kafka,
    outRanges,
    (topic, partition, m) => {
      noteLast(topic, partition, m.offset);
      if (topic === o.normalizedTopic) {
        normalized++;
        const id = m.key ? m.key.toString() : eventIdOf(m.value);
        if (id !== null) {
          const ts = Number(m.timestamp);
          const prev = eventIds.get(id);
          if (prev === undefined || ts < prev) eventIds.set(id, ts);
        }
      } else {
        dlqRecords++;
      }
      const st = headerText(m.headers, OUTPUT_HEADERS.sourceTopic);
      const sp = headerText(m.headers, OUTPUT_HEADERS.sourcePartition);
      const so = headerText(m.headers, OUTPUT_HEADERS.sourceOffset);
      const out = /^(\d+)\/(\d+)$/.exec(headerText(m.headers, OUTPUT_HEADERS.sourceOutput) ?? '');
      const src = st !== undefined ? sources.get(`${st}/${sp}/${so}`) : undefined;
      if (!src || !out) {
        unattributed++;
        return;
      }
      const i = Number(out[1]);
      const n = Number(out[2]);
      if (src.total === 0) src.total = n;
      if (src.seen.has(i) || n !== src.total || i >= n) duplicates++;
      else src.seen.add(i);
    },
    o.scanTimeoutMs,
  );
  let fullyPlaced = 0;
  let missing = 0;
  for (const s of sources.values()) {
    if (s.total > 0 && s.seen.size === s.total) fullyPlaced++;
    else missing++;
  }

  // 3. Webhook DLQ (edge rejections): count committed records.
  const whRanges = await partitionRanges(o.kafka, [o.webhookDlqTopic]);
  let webhookDlq = 0;
  await scanTopics(
    o.kafka,
    whRanges,
    (topic, partition, m) => {
      webhookDlq++;
      noteLast(topic, partition, m.offset);
    },
    o.scanTimeoutMs,
  );

  // 3b. Other topics: verified events outside the vocabulary; counted, never consumed.
  const otherByTopic: Record<string, number> = {};
  let otherTotal = 0;
  if ((o.otherTopics ?? []).length > 0) {
    await scanTopics(
      o.kafka,
      await partitionRanges(o.kafka, o.otherTopics ?? []),
      (topic) => {
        otherByTopic[topic] = (otherByTopic[topic] ?? 0) + 1;
        otherTotal++;
      },
      o.scanTimeoutMs,
    );
  }

  // 4. Consumer groups and quarantine rows.
  const transformerLag = await lagOf(o.kafka, o.transformerGroup, o.rawTopics, lastData);
  const quarantineLag = await lagOf(o.kafka, o.quarantineGroup, [o.webhookDlqTopic, o.validationDlqTopic], lastData);
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 1 });
  let webhookRows = 0;
  let validationRows = 0;
  let workflowStage: WorkflowStage | null = null;
  let workflowChecks: readonly Check[] = [];
  try {
    if (o.workflows) {
      const w = await reconcileWorkflows(eventIds, o.normalizedTopic, pool, o.workflows);
      workflowStage = w.stage;
      workflowChecks = w.checks;
    }
    const lowOf = (topic: string) =>
      [...whRanges, ...outRanges].filter((r) => r.topic === topic).map((r) => [r.partition, r.low.toString()]);
    const count = async (table: string, topic: string) => {
      // Rows of records still in the topic (below the low watermark, retention has dropped the record itself).
      const r = await pool.query(
        `SELECT count(*)::int AS n FROM ${table} q JOIN jsonb_to_recordset($2::jsonb) AS l(p int, low bigint)
           ON l.p = q.kafka_partition WHERE q.kafka_topic = $1 AND q.kafka_offset >= l.low`,
        [topic, JSON.stringify(lowOf(topic).map(([p, low]) => ({ p, low })))],
      );
      return r.rows[0].n as number;
    };
    webhookRows = await count('webhook_quarantine', o.webhookDlqTopic);
    validationRows = await count('validation_quarantine', o.validationDlqTopic);
  } finally {
    await pool.end();
  }

  // 5. Edge counters (since the edge process started).
  const edge = o.edgeMetricsUrl ? await edgeCounts(o.edgeMetricsUrl) : null;

  check('transformer caught up', transformerLag === 0, `group ${o.transformerGroup} lag ${transformerLag}`);
  check(
    'every raw record placed exactly once',
    missing === 0 && duplicates === 0,
    `${fullyPlaced}/${rawTotal} raw records fully placed, ${missing} missing outputs, ${duplicates} duplicate outputs`,
  );
  check(
    'no output without a raw source',
    unattributed === 0,
    `${normalized} normalized + ${dlqRecords} validation DLQ records, ${unattributed} not traceable to a raw record`,
  );
  check('quarantine caught up', quarantineLag === 0, `group ${o.quarantineGroup} lag ${quarantineLag}`);
  check(
    'webhook DLQ quarantined',
    webhookRows === webhookDlq,
    `${webhookRows} webhook_quarantine rows for ${webhookDlq} webhooks.dlq records`,
  );
  check(
    'validation DLQ quarantined',
    validationRows === dlqRecords,
    `${validationRows} validation_quarantine rows for ${dlqRecords} validation DLQ records`,
  );
  if (edge) {
    // The edge's counters start at its own start: it can have acknowledged fewer than the topics hold, never more.
    check(
      'edge acknowledged ≤ raw records',
      edge.acceptedToRaw <= rawTotal,
      `edge acknowledged ${edge.acceptedToRaw} to raw topics since it started; raw topics hold ${rawTotal}`,
    );
    if (o.otherTopics !== undefined) {
      check(
        'edge acknowledged to other topics ≤ other records',
        edge.acceptedToOther <= otherTotal,
        `edge acknowledged ${edge.acceptedToOther} to webhooks.<provider>.other since it started; those topics hold ${otherTotal}`,
      );
    }
    check(
      'edge DLQ writes ≤ webhook DLQ records',
      edge.sentToDlq <= webhookDlq,
      `edge sent ${edge.sentToDlq} to webhooks.dlq since it started; topic holds ${webhookDlq}`,
    );
  }

  checks.push(...workflowChecks);

  let lakeStage: LakeStage | null = null;
  if (o.lake) {
    const topics = [...o.rawTopics, o.webhookDlqTopic, o.normalizedTopic, o.validationDlqTopic];
    try {
      const l = await reconcileLake(o.kafka, topics, o.lake, o.scanTimeoutMs);
      lakeStage = l.stage;
      checks.push(...l.checks);
    } catch (err) {
      check('lake readable', false, `the lake stage could not run: ${(err as Error).message}`);
    }
  }

  return {
    verdict: checks.every((c) => c.ok) ? 'reconciled' : 'not_reconciled',
    stages: {
      edge: edge
        ? {
            available: true,
            accepted_to_raw: edge.acceptedToRaw,
            accepted_to_other: edge.acceptedToOther,
            sent_to_dlq: edge.sentToDlq,
          }
        : { available: false },
      raw: { total: rawTotal, by_topic: byTopic },
      other: { total: otherTotal, by_topic: otherByTopic },
      transformer: { group: o.transformerGroup, lag: transformerLag },
      normalized: {
        records: normalized,
        distinct_event_ids: eventIds.size,
        duplicate_event_ids: normalized - eventIds.size,
      },
      validation_dlq: { records: dlqRecords },
      webhook_dlq: { records: webhookDlq },
      placement: {
        raw_fully_placed: fullyPlaced,
        raw_missing_outputs: missing,
        duplicate_outputs: duplicates,
        unattributed_outputs: unattributed,
      },
      quarantine: {
        group: o.quarantineGroup,
        lag: quarantineLag,
        webhook_rows: webhookRows,
        validation_rows: validationRows,
      },
      workflows: workflowStage,
      lake: lakeStage,
    },
    checks,
  };
}
