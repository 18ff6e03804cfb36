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

/**
 * Errors Trino raises while scheduling, before the query ran at all, when the cluster is (re)starting: a node that has
 * just started reports itself active before its catalogs' node sets are refreshed (every few seconds), and the first
 * queries then fail with NO_NODES_AVAILABLE (seen right after start-up on a loaded machine). Retrying them is safe.
 */
const NOT_YET_SCHEDULABLE = new Set(['NO_NODES_AVAILABLE', 'SERVER_STARTING_UP']);

/**
 * One query, all pages collected. A query refused because the cluster cannot schedule it yet is retried for up to
 * `schedulableWithinMs` (default 30 s, backoff 250 ms to 2 s); every other error is thrown at once.
 */
export async function trinoQuery(
  url: string,
  sql: string,
  opts: { schema?: string; schedulableWithinMs?: number } = {},
): Promise<QueryResultSet> {
  const deadline = Date.now() + (opts.schedulableWithinMs ?? 30_000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await trinoQueryOnce(url, sql, opts);
    } catch (err) {
      if (!(err instanceof TrinoError) || !NOT_YET_SCHEDULABLE.has(err.code) || Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(2000, 250 * 2 ** attempt)));
    }
  }
}

async function trinoQueryOnce(url: string, sql: string, opts: { schema?: string }): Promise<QueryResultSet> {
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
