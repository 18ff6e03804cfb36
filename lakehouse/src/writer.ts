/**
 * Typed access to the Rust Iceberg writer (core-native's lake addon): open the catalog, create or evolve the bronze
 * tables from contracts/src/lake.ts, write one Arrow IPC stream as Parquet files, commit them with a cursor claim
 * (exactly once), abort, and the maintenance calls. Errors come back as `LakeError` with a `code` to branch on.
 * Not the Kafka consumer (pipeline/src/lake-sink) and not Arrow building (arrow.ts).
 */
import { randomUUID } from 'node:crypto';
import { icebergPartitionSpecJson, icebergSchemaJson, type LakeTable, lakeSortOrderJson } from '@pep/contracts';
import { type LakeConnection, loadLakeAddon } from '@pep/core-native/lake';
import { ensureDefaultWarehouse, type LakeConfig, writerProps } from './config.ts';

export const LAKE_ERROR_CODES = [
  'SCHEMA_MISMATCH',
  'COMMIT_CONFLICT',
  'WAREHOUSE_MISSING',
  'CATALOG_UNAVAILABLE',
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'IO_ERROR',
  'LAKE_ERROR',
] as const;
export type LakeErrorCode = (typeof LAKE_ERROR_CODES)[number];

export class LakeError extends Error {
  constructor(
    readonly code: LakeErrorCode,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'LakeError';
  }
}

/** Turns the addon's `[CODE] message` errors into LakeError. */
export function toLakeError(err: unknown): LakeError {
  if (err instanceof LakeError) return err;
  const text = (err as Error)?.message ?? String(err);
  const m = /^\[([A-Z_]+)\] ([\s\S]*)$/.exec(text);
  const code = (
    m && (LAKE_ERROR_CODES as readonly string[]).includes(m[1] as string) ? m[1] : 'LAKE_ERROR'
  ) as LakeErrorCode;
  return new LakeError(code, m ? (m[2] as string) : text, { cause: err });
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toLakeError(err);
  }
}

export interface TableInfo {
  readonly table: string;
  readonly location: string;
  readonly metadataLocation: string | null;
  readonly snapshotId: number | null;
  readonly schema: { fields: { id: number; name: string; required: boolean; type: unknown }[] };
  readonly cursors: Record<string, string>;
  readonly snapshots: number;
  readonly addedColumns: string[];
  /** The table's sort order (compaction sorts each partition by it); empty: unsorted. */
  readonly sortOrder: { name: string; descending: boolean; nullsFirst: boolean }[];
}

export interface WriteResult {
  readonly handle: number;
  readonly rows: number;
  readonly files: string[];
  readonly fileBytes: number;
}

export interface CommitClaim {
  readonly cursorKey: string;
  /** cursor → value the table must hold now (null: none yet). */
  readonly expected: Record<string, string | null>;
  readonly next: Record<string, string>;
  readonly writer: string;
  readonly summary?: Record<string, string>;
  /** Reuse the same id when retrying a commit whose answer was lost. */
  readonly commitId?: string;
}

export interface CommitResult {
  readonly snapshotId: number | null;
  readonly metadataLocation: string | null;
  readonly cursors: Record<string, string>;
  readonly alreadyCommitted: boolean;
  readonly attempts: number;
}

export class LakeWriter {
  private constructor(
    private readonly conn: LakeConnection,
    readonly config: LakeConfig,
  ) {}

  /**
   * Opens the catalog (SQL: creating its two tables when missing; REST: fetching its config, after the OAuth2 token
   * exchange when a credential is set) and checks the warehouse.
   */
  static async open(config: LakeConfig): Promise<LakeWriter> {
    ensureDefaultWarehouse(config);
    const { LakeConnection } = loadLakeAddon();
    const conn = new LakeConnection(
      JSON.stringify({
        catalogType: config.catalogType,
        catalogUri: config.rest ? config.rest.uri : config.catalogUrl,
        catalogName: config.catalogName,
        catalogWarehouse: config.rest?.warehouse ?? null,
        catalogCredential: config.rest?.credential ?? null,
        warehouse: config.warehouse,
        props: writerProps(config),
        zstdLevel: config.zstdLevel,
        targetFileBytes: config.targetFileBytes,
      }),
    );
    await call(() => conn.connect());
    return new LakeWriter(conn, config);
  }

  /** Creates the table from its contract, or adds the columns the contract has and the table lacks. */
  async ensureTable(t: LakeTable, cursorKey = ''): Promise<TableInfo> {
    const json = await call(() =>
      this.conn.ensureTable(
        t.qualifiedName,
        icebergSchemaJson(t),
        icebergPartitionSpecJson(t),
        cursorKey,
        lakeSortOrderJson(t),
      ),
    );
    return JSON.parse(json) as TableInfo;
  }

  async tableInfo(table: string, cursorKey = ''): Promise<TableInfo> {
    return JSON.parse(await call(() => this.conn.tableInfo(table, cursorKey))) as TableInfo;
  }

  async write(table: string, ipc: Uint8Array, writer: string): Promise<WriteResult> {
    const buf = Buffer.isBuffer(ipc) ? ipc : Buffer.from(ipc.buffer, ipc.byteOffset, ipc.byteLength);
    return JSON.parse(await call(() => this.conn.write(table, buf, writer))) as WriteResult;
  }

  /**
   * Opens a write whose rows arrive in chunks: `writeChunk` encodes each chunk into the write's Parquet files as it
   * comes (the lake sink hands a table's rows over while it goes on fetching), `closeWrite` finishes the files into a
   * pending write as `write` returns, `abortWrite` drops it and deletes its files. Await each chunk before the next.
   */
  async openWrite(table: string, writer: string): Promise<number> {
    return call(() => this.conn.openWrite(table, writer));
  }

  /** Encodes one Arrow IPC stream's rows into the open write; resolves to its rows so far. */
  async writeChunk(id: number, ipc: Uint8Array): Promise<number> {
    const buf = Buffer.isBuffer(ipc) ? ipc : Buffer.from(ipc.buffer, ipc.byteOffset, ipc.byteLength);
    return call(() => this.conn.writeChunk(id, buf));
  }

  async closeWrite(id: number): Promise<WriteResult> {
    return JSON.parse(await call(() => this.conn.closeWrite(id))) as WriteResult;
  }

  /** Drops an open write and deletes the files it wrote; the number of files deleted. */
  async abortWrite(id: number): Promise<number> {
    return call(() => this.conn.abortWrite(id));
  }

  async commit(handle: number, claim: CommitClaim): Promise<CommitResult> {
    const body = JSON.stringify({ summary: {}, ...claim, commitId: claim.commitId ?? randomUUID() });
    return JSON.parse(await call(() => this.conn.commit(handle, body))) as CommitResult;
  }

  /** Drops a pending write and deletes its files; the number of files deleted. */
  async abort(handle: number): Promise<number> {
    return call(() => this.conn.abort(handle));
  }

  async compact(
    table: string,
    options: {
      smallFileBytes?: number;
      minFiles?: number;
      maxFiles?: number;
      carryKeys?: string[];
      /** Rows per Parquet row group of a sorted table's rewritten files (default 32,768). */
      rowGroupRows?: number;
    } = {},
  ) {
    return JSON.parse(await call(() => this.conn.compact(table, JSON.stringify({ carryKeys: [], ...options }))));
  }

  async expire(table: string, options: { olderThanMs?: number; retainLast?: number; keepKeys?: string[] } = {}) {
    return JSON.parse(await call(() => this.conn.expire(table, JSON.stringify({ keepKeys: [], ...options }))));
  }

  async orphans(table: string, options: { olderThanMs?: number; dryRun?: boolean } = {}) {
    return JSON.parse(await call(() => this.conn.orphans(table, JSON.stringify({ dryRun: false, ...options }))));
  }

  async files(table: string): Promise<{ path: string; rows: number; bytes: number; partition: string }[]> {
    return JSON.parse(await call(() => this.conn.files(table)));
  }
}
