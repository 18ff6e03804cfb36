/**
 * The lake stage of reconciliation: for each Kafka-fed bronze table, the rows per topic-partition must equal the
 * committed records of that partition below the table's cursor (the committed range), with no duplicate offset;
 * money in bronze.payment_events per currency is reported next to it. Reads the topics (read committed) and the
 * tables (DuckDB, current snapshot). A table that does not exist yet counts as empty with no cursors.
 */
import { LAKE_SUMMARY_KEYS, LAKE_TABLES, type LakeTable, lakeTableForTopic } from '@pep/contracts';
import type { LakeConfig } from '@pep/lakehouse/config';
import { openDuckSession } from '@pep/lakehouse/duckdb';
import { LakeWriter } from '@pep/lakehouse/writer';
import type { Kafka } from 'kafkajs';
import { partitionRanges, scanTopics } from './scan.ts';

export interface LakeTableStage {
  readonly table: string;
  readonly rows: number;
  readonly records_in_committed_range: number;
  readonly duplicate_rows: number;
  readonly partitions_behind: number;
}

export interface LakeStage {
  readonly tables: readonly LakeTableStage[];
  readonly money_by_currency: Record<string, number>;
}

export interface LakeCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export async function reconcileLake(
  kafka: Kafka,
  topics: readonly string[],
  cfg: LakeConfig,
  timeoutMs: number,
): Promise<{ stage: LakeStage; checks: LakeCheck[] }> {
  const writer = await LakeWriter.open(cfg);
  const byTable = new Map<LakeTable, string[]>();
  for (const t of topics) {
    const table = lakeTableForTopic(t);
    if (table) byTable.set(table, [...(byTable.get(table) ?? []), t]);
  }
  const cursors = new Map<string, bigint>();
  for (const table of byTable.keys()) {
    const info = await writer.tableInfo(table.qualifiedName, LAKE_SUMMARY_KEYS.kafkaOffsets).catch(() => null);
    for (const [c, v] of Object.entries(info?.cursors ?? {})) cursors.set(c, BigInt(v));
  }
  // Records below each cursor (offsets of transaction markers and aborted records are not records).
  const inRange = new Map<string, number>();
  const ranges = await partitionRanges(kafka, [...byTable.values()].flat());
  await scanTopics(
    kafka,
    ranges.map((r) => {
      const c = cursors.get(`${r.topic}:${r.partition}`) ?? r.low;
      // biome-ignore lint/complexity/useMathMinMax: bigint offsets (Math.min takes numbers)
      return { ...r, high: c < r.high ? c : r.high };
    }),
    (topic, partition) => {
      const k = `${topic}:${partition}`;
      inRange.set(k, (inRange.get(k) ?? 0) + 1);
    },
    timeoutMs,
  );
  const session = await openDuckSession(cfg);
  const tables: LakeTableStage[] = [];
  const checks: LakeCheck[] = [];
  let money: Record<string, number> = {};
  try {
    const present = new Set(session.tables.map((t) => `${t.namespace}.${t.name}`));
    for (const [table, tTopics] of byTable) {
      let rows = 0;
      let duplicates = 0;
      let behind = 0;
      let expected = 0;
      const perPartition = new Map<string, number>();
      if (present.has(table.qualifiedName)) {
        const r = await session.query(
          `SELECT kafka_topic AS t, kafka_partition AS p, count(*) AS n, count(DISTINCT kafka_offset) AS d
             FROM ${table.qualifiedName} GROUP BY 1, 2`,
        );
        for (const row of r.rows) {
          const n = Number(row.n);
          rows += n;
          duplicates += n - Number(row.d);
          perPartition.set(`${row.t}:${row.p}`, n);
        }
      }
      for (const r of ranges.filter((x) => tTopics.includes(x.topic))) {
        const k = `${r.topic}:${r.partition}`;
        const want = inRange.get(k) ?? 0;
        expected += want;
        if ((perPartition.get(k) ?? 0) !== want) behind++;
      }
      tables.push({
        table: table.qualifiedName,
        rows,
        records_in_committed_range: expected,
        duplicate_rows: duplicates,
        partitions_behind: behind,
      });
      checks.push({
        name: `lake: ${table.qualifiedName} rows = committed records`,
        ok: behind === 0 && duplicates === 0,
        detail: `${rows} rows for ${expected} records below the table's cursors, ${duplicates} duplicates, ${behind} partitions differ`,
      });
    }
    if (present.has(LAKE_TABLES.payment_events.qualifiedName)) {
      const r = await session.query(
        `SELECT currency, sum(amount_minor) AS s FROM ${LAKE_TABLES.payment_events.qualifiedName}
          WHERE kafka_topic NOT LIKE 'generated.%' AND currency IS NOT NULL GROUP BY 1 ORDER BY 1`,
      );
      money = Object.fromEntries(r.rows.map((x) => [String(x.currency), Number(x.s)]));
    }
  } finally {
    session.close();
  }
  return { stage: { tables, money_by_currency: money }, checks };
}
