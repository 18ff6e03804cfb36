/**
 * The offline store until the lakehouse lands: the same feature values the consumer writes to Redis, logged with
 * their event time as Parquet files, one folder per entity (`<dir>/<entity>/part-*.parquet`) that Feast's
 * DuckDB offline store reads for point-in-time joins (feature_repo/definitions.py). Columns: the join key, `event_timestamp`
 * (the row's version time in µs, unique per entity: processor.ts), `created` (write time) and one DOUBLE per
 * feature of the entity's views. A file is written to a temporary name, fsynced and renamed, so a
 * reader never sees half a file. Not the Redis side (store.ts).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type ColumnSource, parquetWriteBuffer, schemaFromColumnData } from 'hyparquet-writer';
import { ENTITY_NAMES, type EntityName, type FeatureSpecFile, joinKeyOf, viewsOf } from './spec.ts';

export interface OfflineRow {
  readonly id: string;
  /** Version time of the row (epoch µs). */
  readonly rowUs: number;
  /** Feature name → value, over all views of the entity. */
  readonly values: Readonly<Record<string, number>>;
}

/** Per entity, the time (epoch µs) of the feature row serving sees for an event: what training asks Feast for. */
export type FeatureTimes = Readonly<Record<EntityName, number | null>>;

export interface LoggedEventRow {
  readonly id: string;
  readonly atMs: number;
  readonly json: string;
  readonly times: FeatureTimes;
}

/** Parquet with µs timestamps (hyparquet-writer's TIMESTAMP type is ms): the named columns hold epoch µs. */
function parquetWithMicros(columns: (ColumnSource & { micros?: boolean; nullable?: boolean })[]): ArrayBuffer {
  const overrides = Object.fromEntries(
    columns
      .filter((c) => c.micros)
      .map((c) => [
        c.name,
        {
          name: c.name,
          type: 'INT64' as const,
          converted_type: 'TIMESTAMP_MICROS' as const,
          repetition_type: c.nullable ? ('OPTIONAL' as const) : ('REQUIRED' as const),
        },
      ]),
  );
  const columnData = columns.map(({ micros, ...c }) =>
    micros ? { name: c.name, data: (c.data as (number | null)[]).map((v) => (v === null ? null : BigInt(v))) } : c,
  );
  const schema = schemaFromColumnData({ columnData, schemaOverrides: overrides });
  return parquetWriteBuffer({ schema, columnData: columnData.map(({ type: _t, nullable: _n, ...c }) => c) });
}

/** Column order of an entity's files: every feature of its views, in spec order. */
export const offlineColumns = (spec: FeatureSpecFile, entity: EntityName): string[] =>
  viewsOf(spec, entity).flatMap((v) => v.features.map((f) => f.name));

export interface OfflineLogOptions {
  /**
   * fsync every file before its rename (default true: a row committed to Redis has its offline twin after a crash).
   * Tests that feed thousands of one-event batches turn it off: each fsync costs ~8 ms on this machine.
   */
  readonly fsync?: boolean;
}

export class OfflineLog {
  private readonly fsync: boolean;
  constructor(
    readonly dir: string,
    readonly spec: FeatureSpecFile,
    opts: OfflineLogOptions = {},
  ) {
    this.fsync = opts.fsync ?? true;
  }

  /** Writes one file per entity with rows; returns the paths (to delete them if the batch is not committed). */
  write(rows: ReadonlyMap<EntityName, readonly OfflineRow[]>, createdMs: number): string[] {
    const files: string[] = [];
    for (const [entity, list] of rows) {
      if (list.length === 0) continue;
      const cols = offlineColumns(this.spec, entity);
      const buf = parquetWithMicros([
        { name: joinKeyOf(this.spec, entity), data: list.map((r) => r.id), type: 'STRING' },
        { name: 'event_timestamp', data: list.map((r) => r.rowUs), micros: true },
        { name: 'created', data: list.map(() => createdMs * 1000), micros: true },
        ...cols.map((c) => ({ name: c, data: list.map((r) => r.values[c] as number), type: 'DOUBLE' as const })),
      ]);
      files.push(this.writeFile(entity, buf, createdMs));
    }
    return files;
  }

  /**
   * The events themselves, with their event time (`<dir>/events/`) and, per entity, the version time of the feature
   * row serving sees for the event (`<entity>_ts`, µs; null without that entity): training reads the payments it
   * labels and the later disputes that label them from here, and asks Feast as of those times.
   */
  writeEvents(events: readonly LoggedEventRow[], createdMs: number): string[] {
    if (events.length === 0) return [];
    const buf = parquetWithMicros([
      { name: 'event_id', data: events.map((e) => e.id), type: 'STRING' },
      { name: 'event_timestamp', data: events.map((e) => e.atMs * 1000), micros: true },
      { name: 'created', data: events.map(() => createdMs * 1000), micros: true },
      ...ENTITY_NAMES.map((n) => ({
        name: `${n}_ts`,
        data: events.map((e) => e.times[n]),
        micros: true,
        nullable: true,
      })),
      { name: 'event', data: events.map((e) => e.json), type: 'STRING' },
    ]);
    return [this.writeFile('events', buf, createdMs)];
  }

  private writeFile(folderName: string, buf: ArrayBuffer, createdMs: number): string {
    const folder = join(this.dir, folderName);
    mkdirSync(folder, { recursive: true });
    const file = join(folder, `part-${createdMs}-${randomUUID()}.parquet`);
    const tmp = join(folder, `.${randomUUID()}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, new Uint8Array(buf));
      if (this.fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    return file;
  }

  discard(files: readonly string[]): void {
    for (const f of files) rmSync(f, { force: true });
  }
}
