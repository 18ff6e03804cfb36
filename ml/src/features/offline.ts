/**
 * The offline store until the lakehouse lands: the same feature values the consumer writes to Redis, logged with
 * their event time as Parquet files, one folder per entity (`<dir>/<entity>/part-*.parquet`) that Feast's file
 * offline store reads for point-in-time joins (feature_repo/definitions.py). Columns: the join key, `event_timestamp`
 * (the row's as-of time), `created` (write time; breaks ties between rows of the same entity and event time) and
 * one DOUBLE per feature of the entity's views. A file is written to a temporary name, fsynced and renamed, so a
 * reader never sees half a file. Not the Redis side (store.ts).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { type EntityName, type FeatureSpecFile, joinKeyOf, viewsOf } from './spec.ts';

export interface OfflineRow {
  readonly id: string;
  readonly asOfMs: number;
  /** Feature name → value, over all views of the entity. */
  readonly values: Readonly<Record<string, number>>;
}

/** Column order of an entity's files: every feature of its views, in spec order. */
export const offlineColumns = (spec: FeatureSpecFile, entity: EntityName): string[] =>
  viewsOf(spec, entity).flatMap((v) => v.features.map((f) => f.name));

export class OfflineLog {
  constructor(
    readonly dir: string,
    readonly spec: FeatureSpecFile,
  ) {}

  /** Writes one file per entity with rows; returns the paths (to delete them if the batch is not committed). */
  write(rows: ReadonlyMap<EntityName, readonly OfflineRow[]>, createdMs: number): string[] {
    const files: string[] = [];
    for (const [entity, list] of rows) {
      if (list.length === 0) continue;
      const cols = offlineColumns(this.spec, entity);
      const buf = parquetWriteBuffer({
        columnData: [
          { name: joinKeyOf(this.spec, entity), data: list.map((r) => r.id), type: 'STRING' },
          { name: 'event_timestamp', data: list.map((r) => new Date(r.asOfMs)), type: 'TIMESTAMP' },
          { name: 'created', data: list.map(() => new Date(createdMs)), type: 'TIMESTAMP' },
          ...cols.map((c) => ({ name: c, data: list.map((r) => r.values[c] as number), type: 'DOUBLE' as const })),
        ],
      });
      files.push(this.writeFile(entity, buf, createdMs));
    }
    return files;
  }

  /**
   * The events themselves, with their event time (`<dir>/events/`): training reads the payments it labels and the
   * later disputes that label them from here (until the lakehouse's bronze.payment_events replaces it).
   */
  writeEvents(events: readonly { id: string; atMs: number; json: string }[], createdMs: number): string[] {
    if (events.length === 0) return [];
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'event_id', data: events.map((e) => e.id), type: 'STRING' },
        { name: 'event_timestamp', data: events.map((e) => new Date(e.atMs)), type: 'TIMESTAMP' },
        { name: 'created', data: events.map(() => new Date(createdMs)), type: 'TIMESTAMP' },
        { name: 'event', data: events.map((e) => e.json), type: 'STRING' },
      ],
    });
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
      fsyncSync(fd);
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
