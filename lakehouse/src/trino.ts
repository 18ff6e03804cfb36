/**
 * Trino (the distributed engine over the same Iceberg tables, catalog `iceberg`) through `trino-client`: one query,
 * all pages collected, errors as TrinoError with Trino's error name, and a clear TRINO_UNAVAILABLE when the server
 * does not answer (`npm run stack:up` starts it). Not for result sets that do not fit in memory.
 */
import { TRINO_CATALOG } from '@pep/contracts';
import { BasicAuth, Trino } from 'trino-client';

export class TrinoError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause: unknown },
  ) {
    super(message, options);
    this.name = 'TrinoError';
  }
}

export interface QueryResultSet {
  readonly columns: string[];
  readonly types: string[];
  readonly rows: Record<string, unknown>[];
}

/**
 * GET /v1/info: true once the server has finished starting. A server that is down refuses at once; the generous
 * timeout is for a live one on a loaded machine (a 2 s probe called a busy Trino "unavailable").
 */
export async function trinoReady(url: string, timeoutMs = 15_000): Promise<boolean> {
  try {
    const res = await fetch(`${url}/v1/info`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok && ((await res.json()) as { starting?: boolean }).starting === false;
  } catch {
    return false;
  }
}

export async function trinoQuery(url: string, sql: string, opts: { schema?: string } = {}): Promise<QueryResultSet> {
  if (!(await trinoReady(url))) {
    throw new TrinoError(
      'TRINO_UNAVAILABLE',
      `Trino does not answer at ${url} (start it with \`npm run stack:up\`, or set TRINO_URL)`,
    );
  }
  const client = Trino.create({
    server: url,
    catalog: TRINO_CATALOG,
    schema: opts.schema ?? 'bronze',
    auth: new BasicAuth('pep'),
    source: 'pep-lakehouse',
  });
  let columns: { name: string; type: string }[] = [];
  const rows: Record<string, unknown>[] = [];
  let iter: AsyncIterable<import('trino-client').QueryResult>;
  try {
    iter = await client.query(sql);
  } catch (cause) {
    throw new TrinoError('TRINO_UNAVAILABLE', `Trino at ${url}: ${(cause as Error).message}`, { cause });
  }
  for await (const page of iter) {
    if (page.error) {
      throw new TrinoError(page.error.errorName ?? 'TRINO_ERROR', `Trino: ${page.error.message}`);
    }
    if (page.columns && columns.length === 0) columns = page.columns;
    for (const d of page.data ?? []) {
      const row: Record<string, unknown> = {};
      columns.forEach((c, i) => {
        row[c.name] = d[i];
      });
      rows.push(row);
    }
  }
  return { columns: columns.map((c) => c.name), types: columns.map((c) => c.type), rows };
}
