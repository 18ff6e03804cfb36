/**
 * Reconciliation (CONTRACT section 1, guarantee 5): counts every pipeline stage and checks that they agree.
 *
 * - raw topics: every committed raw record, by coordinates;
 * - transformer: its group has committed every raw partition to the end (lag 0);
 * - placement: every raw record has all of its outputs, each exactly once, across `payments.normalized` and
 *   `payments.validation.dlq` (the transformer stamps `source-topic/partition/offset` and `source-output: i/n`
 *   headers on each output), and nothing else;
 * - quarantine: one PostgreSQL row per committed record of both DLQ topics (matched by partition, offset and
 *   fingerprint: rows of a re-created topic's earlier incarnation are not counted), and the quarantine group at lag 0;
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
import { storedRecord } from '../quarantine/rows.ts';
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

/** The highest data offset seen per topic-partition (what a group must have committed past to be caught up). */
class LastData {
  readonly offsets = new Map<string, bigint>();
  note(topic: string, partition: number, offset: string): void {
    const k = `${topic}/${partition}`;
    const off = BigInt(offset);
    if ((this.offsets.get(k) ?? -1n) < off) this.offsets.set(k, off);
  }
}

/**
 * The records of a DLQ topic as its quarantine rows name them: partition, offset AND fingerprint (record_sha256 of the
 * stored, redacted key and value). Offsets alone do not name a record: after a topic is re-created, the rows of the
 * records it held before stay (they are the audit trail) at offsets the new incarnation reuses.
 */
/** DLQ records matched against their quarantine rows per query. */
const RECONCILE_ROW_CHUNK = 5000;

class DlqRecords {
  readonly partitions: number[] = [];
  readonly offsets: string[] = [];
  readonly sha256: Buffer[] = [];
  note(partition: number, m: { offset: string; key: Buffer | null; value: Buffer | null }): void {
    this.partitions.push(partition);
    this.offsets.push(m.offset);
    this.sha256.push(storedRecord(m).sha256);
  }
}

/** Stage 1, raw topics: the coordinates of every committed raw record. */
async function scanRaw(o: ReconcileOptions, last: LastData) {
  const ranges = await partitionRanges(o.kafka, o.rawTopics);
  const sources = new Map<string, SourceState>();
  const byTopic: Record<string, number> = {};
  await scanTopics(
    o.kafka,
    ranges,
    (topic, partition, m) => {
      sources.set(`${topic}/${partition}/${m.offset}`, { total: 0, seen: new Set() });
      byTopic[topic] = (byTopic[topic] ?? 0) + 1;
      last.note(topic, partition, m.offset);
    },
    o.scanTimeoutMs,
  );
  return { sources, byTopic, total: sources.size };
}

/** Stage 2, outputs: each normalized and validation-DLQ record attributed to its source and output ordinal. */
async function scanOutputs(o: ReconcileOptions, sources: Map<string, SourceState>, last: LastData) {
  const ranges = await partitionRanges(o.kafka, [o.normalizedTopic, o.validationDlqTopic]);
  let normalized = 0;
  let dlqRecords = 0;
  let duplicates = 0;
  let unattributed = 0;
  const dlq = new DlqRecords();
  // Distinct event_id → Kafka timestamp (ms) of its first record, for the workflow stage and its --since scope.
  const eventIds = new Map<string, number>();
  await scanTopics(
    o.kafka,
    ranges,
    (topic, partition, m) => {
      last.note(topic, partition, m.offset);
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
        dlq.note(partition, m);
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
  for (const src of sources.values()) {
    if (src.total > 0 && src.seen.size === src.total) fullyPlaced++;
    else missing++;
  }
  return { ranges, normalized, dlqRecords, dlq, duplicates, unattributed, eventIds, fullyPlaced, missing };
}

/** Stage 3, webhook DLQ (edge rejections): the committed records. */
async function scanWebhookDlq(o: ReconcileOptions, last: LastData) {
  const ranges = await partitionRanges(o.kafka, [o.webhookDlqTopic]);
  let records = 0;
  const dlq = new DlqRecords();
  await scanTopics(
    o.kafka,
    ranges,
    (topic, partition, m) => {
      records++;
      dlq.note(partition, m);
      last.note(topic, partition, m.offset);
    },
    o.scanTimeoutMs,
  );
  return { ranges, records, dlq };
}

/** Stage 3b, other topics: verified events outside the vocabulary; counted, never consumed. */
async function scanOther(o: ReconcileOptions) {
  const byTopic: Record<string, number> = {};
  let total = 0;
  if ((o.otherTopics ?? []).length > 0) {
    await scanTopics(
      o.kafka,
      await partitionRanges(o.kafka, o.otherTopics ?? []),
      (topic) => {
        byTopic[topic] = (byTopic[topic] ?? 0) + 1;
        total++;
      },
      o.scanTimeoutMs,
    );
  }
  return { byTopic, total };
}

/**
 * Stage 4, PostgreSQL: the quarantine rows of the records the DLQ topics hold now, matched by partition, offset AND
 * fingerprint (below the low watermark retention has dropped the record itself; rows of an earlier incarnation of a
 * re-created topic sit at reused offsets with other fingerprints and are not counted), and the workflow stage when
 * asked for. Matched in chunks of RECONCILE_ROW_CHUNK records per query.
 */
async function readDatabase(
  o: ReconcileOptions,
  dlq: { readonly webhook: DlqRecords; readonly validation: DlqRecords },
  eventIds: Map<string, number>,
) {
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: 1 });
  try {
    const workflows = o.workflows ? await reconcileWorkflows(eventIds, o.normalizedTopic, pool, o.workflows) : null;
    const count = async (table: string, topic: string, records: DlqRecords) => {
      let n = 0;
      for (let i = 0; i < records.offsets.length; i += RECONCILE_ROW_CHUNK) {
        const j = i + RECONCILE_ROW_CHUNK;
        const r = await pool.query(
          `SELECT count(*)::int AS n FROM ${table} q
             JOIN unnest($2::int[], $3::bigint[], $4::bytea[]) AS k(p, o, h)
               ON q.kafka_partition = k.p AND q.kafka_offset = k.o AND q.record_sha256 = k.h
            WHERE q.kafka_topic = $1`,
          [topic, records.partitions.slice(i, j), records.offsets.slice(i, j), records.sha256.slice(i, j)],
        );
        n += r.rows[0].n as number;
      }
      return n;
    };
    return {
      webhookRows: await count('webhook_quarantine', o.webhookDlqTopic, dlq.webhook),
      validationRows: await count('validation_quarantine', o.validationDlqTopic, dlq.validation),
      workflowStage: workflows?.stage ?? null,
      workflowChecks: workflows?.checks ?? [],
    };
  } finally {
    await pool.end();
  }
}

/** Stage 5, the edge's counters (since the edge process started): it can have acknowledged fewer than the topics hold, never more. */
function edgeChecks(
  o: ReconcileOptions,
  edge: NonNullable<Awaited<ReturnType<typeof edgeCounts>>>,
  totals: { raw: number; other: number; webhookDlq: number },
): Check[] {
  const checks: Check[] = [
    {
      name: 'edge acknowledged ≤ raw records',
      ok: edge.acceptedToRaw <= totals.raw,
      detail: `edge acknowledged ${edge.acceptedToRaw} to raw topics since it started; raw topics hold ${totals.raw}`,
    },
  ];
  if (o.otherTopics !== undefined) {
    checks.push({
      name: 'edge acknowledged to other topics ≤ other records',
      ok: edge.acceptedToOther <= totals.other,
      detail: `edge acknowledged ${edge.acceptedToOther} to webhooks.<provider>.other since it started; those topics hold ${totals.other}`,
    });
  }
  checks.push({
    name: 'edge DLQ writes ≤ webhook DLQ records',
    ok: edge.sentToDlq <= totals.webhookDlq,
    detail: `edge sent ${edge.sentToDlq} to webhooks.dlq since it started; topic holds ${totals.webhookDlq}`,
  });
  return checks;
}

/** The lake stage when asked for; a lake that cannot be read is a failed check, not a crash. */
async function lakeStageOf(o: ReconcileOptions): Promise<{ stage: LakeStage | null; checks: readonly Check[] }> {
  if (!o.lake) return { stage: null, checks: [] };
  const topics = [...o.rawTopics, o.webhookDlqTopic, o.normalizedTopic, o.validationDlqTopic];
  try {
    return await reconcileLake(o.kafka, topics, o.lake, o.scanTimeoutMs);
  } catch (err) {
    return {
      stage: null,
      checks: [{ name: 'lake readable', ok: false, detail: `the lake stage could not run: ${(err as Error).message}` }],
    };
  }
}

export async function reconcile(o: ReconcileOptions): Promise<ReconcileReport> {
  const last = new LastData();
  const raw = await scanRaw(o, last);
  const out = await scanOutputs(o, raw.sources, last);
  const wh = await scanWebhookDlq(o, last);
  const other = await scanOther(o);
  const transformerLag = await lagOf(o.kafka, o.transformerGroup, o.rawTopics, last.offsets);
  const quarantineLag = await lagOf(
    o.kafka,
    o.quarantineGroup,
    [o.webhookDlqTopic, o.validationDlqTopic],
    last.offsets,
  );
  const db = await readDatabase(o, { webhook: wh.dlq, validation: out.dlq }, out.eventIds);
  const edge = o.edgeMetricsUrl ? await edgeCounts(o.edgeMetricsUrl) : null;

  const check = (name: string, ok: boolean, detail: string): Check => ({ name, ok, detail });
  const checks: Check[] = [
    check('transformer caught up', transformerLag === 0, `group ${o.transformerGroup} lag ${transformerLag}`),
    check(
      'every raw record placed exactly once',
      out.missing === 0 && out.duplicates === 0,
      `${out.fullyPlaced}/${raw.total} raw records fully placed, ${out.missing} missing outputs, ${out.duplicates} duplicate outputs`,
    ),
    check(
      'no output without a raw source',
      out.unattributed === 0,
      `${out.normalized} normalized + ${out.dlqRecords} validation DLQ records, ${out.unattributed} not traceable to a raw record`,
    ),
    check('quarantine caught up', quarantineLag === 0, `group ${o.quarantineGroup} lag ${quarantineLag}`),
    check(
      'webhook DLQ quarantined',
      db.webhookRows === wh.records,
      `${db.webhookRows} webhook_quarantine rows for ${wh.records} webhooks.dlq records`,
    ),
    check(
      'validation DLQ quarantined',
      db.validationRows === out.dlqRecords,
      `${db.validationRows} validation_quarantine rows for ${out.dlqRecords} validation DLQ records`,
    ),
  ];
  if (edge) checks.push(...edgeChecks(o, edge, { raw: raw.total, other: other.total, webhookDlq: wh.records }));
  checks.push(...db.workflowChecks);
  const lake = await lakeStageOf(o);
  checks.push(...lake.checks);

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
      raw: { total: raw.total, by_topic: raw.byTopic },
      other: { total: other.total, by_topic: other.byTopic },
      transformer: { group: o.transformerGroup, lag: transformerLag },
      normalized: {
        records: out.normalized,
        distinct_event_ids: out.eventIds.size,
        duplicate_event_ids: out.normalized - out.eventIds.size,
      },
      validation_dlq: { records: out.dlqRecords },
      webhook_dlq: { records: wh.records },
      placement: {
        raw_fully_placed: out.fullyPlaced,
        raw_missing_outputs: out.missing,
        duplicate_outputs: out.duplicates,
        unattributed_outputs: out.unattributed,
      },
      quarantine: {
        group: o.quarantineGroup,
        lag: quarantineLag,
        webhook_rows: db.webhookRows,
        validation_rows: db.validationRows,
      },
      workflows: db.workflowStage,
      lake: lake.stage,
    },
    checks,
  };
}
