/**
 * `npm run dbt -- <dbt args>`: runs dbt in the project-local virtualenv against the bronze snapshot current when it
 * starts. Before dbt: resolve every bronze table's current snapshot through the SQL catalog (recorded by the run in
 * `silver.bronze_reads` and in the JSON summary), point the sources at it (DuckDB: iceberg_scan of that snapshot's
 * metadata file; Trino: FOR VERSION AS OF), set the profile's environment. After dbt: on DuckDB, publish the gold
 * marts into the file the dashboards read (a new file renamed over the old one, so a reader never sees a half-built
 * file or holds a lock dbt needs), then print one JSON summary line last on stdout.
 *
 * Exit status: dbt's own (0 ok, 1 a model or test failed, 2 dbt could not run); 75 (EX_TEMPFAIL) when a dependency
 * is not there yet (the catalog or Trino unreachable, bronze.payment_events not created yet): try again later.
 * Not a dbt replacement: every argument goes to dbt unchanged.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LAKE_TABLE_NAMES, LAKE_TABLES, type LakeColumnType, type LakeTableName } from '@pep/contracts';
import { STATE_DIR } from '@pep/stack/paths';
import { BronzeError, type BronzeTableSnapshot, bronzeNamespace, bronzeSnapshots, PACKAGE_DIR } from './bronze.ts';
import { lockWaitMs, RunLockTimeout, withRunLock } from './lock.ts';
import { fraudTruthDir, writeFraudTruthSeed } from './truth.ts';
import { type DbtToolchain, ensureDbtToolchain, type Log, runPython } from './venv.ts';

export const EXIT_TEMPFAIL = 75;
export const TARGETS = ['duckdb', 'trino'] as const;
export type DbtTarget = (typeof TARGETS)[number];

/**
 * dbt commands that run the project's on-run-start hooks (dbt's RunTask and the tasks built on it). On DuckDB their
 * bronze sources read table macros that the first hook points at this run's snapshots (macros/bronze.sql,
 * pin_bronze_snapshots), so the sources' text does not change from one snapshot to the next and dbt's partial parsing
 * finds nothing to parse again. The other commands that read bronze (compile, show, docs) read the snapshot's scan
 * directly.
 */
const RUNS_HOOKS = new Set(['build', 'run', 'test', 'source', 'snapshot', 'retry', 'seed']);
/** dbt commands that read bronze (and so need the snapshot resolved first). */
const READS_BRONZE = new Set([...RUNS_HOOKS, 'compile', 'show', 'docs']);
/** Commands after which the DuckDB marts are published. */
const PUBLISHES = new Set(['build', 'run', 'snapshot', 'retry']);
/** Tables of gold not copied into the dashboards' file (event/payment grain; read them from the dbt database or Trino). */
export const UNPUBLISHED_MARTS = ['fct_payments', 'fct_refunds', 'fct_disputes', 'fct_money_movements'] as const;

export interface DbtPaths {
  /** The DuckDB database dbt builds in (staging views, incremental state, marts). */
  readonly duckdbPath: string;
  /** The file the dashboards read: gold only, replaced atomically after each successful build. */
  readonly martsPath: string;
}

/** DBT_DUCKDB_PATH (default `<state>/dbt/dbt.duckdb`), DBT_MARTS_DUCKDB (default `<state>/dbt/marts.duckdb`). */
export function dbtPaths(env: NodeJS.ProcessEnv = process.env): DbtPaths {
  return {
    duckdbPath: env.DBT_DUCKDB_PATH?.trim() || join(STATE_DIR, 'dbt', 'dbt.duckdb'),
    martsPath: env.DBT_MARTS_DUCKDB?.trim() || join(STATE_DIR, 'dbt', 'marts.duckdb'),
  };
}

export interface TrinoAddress {
  readonly scheme: string;
  readonly host: string;
  readonly port: number;
  readonly url: string;
}

/** TRINO_URL (CONTRACT section 8; default http://127.0.0.1:8085). */
export function trinoAddress(env: NodeJS.ProcessEnv = process.env): TrinoAddress {
  const raw = env.TRINO_URL?.trim() || 'http://127.0.0.1:8085';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`TRINO_URL is not a URL: ${raw}`);
  }
  const scheme = u.protocol.replace(':', '');
  const port = Number(u.port || (scheme === 'https' ? 443 : 80));
  return { scheme, host: u.hostname, port, url: raw.replace(/\/$/, '') };
}

export async function trinoReady(address: TrinoAddress): Promise<boolean> {
  try {
    const res = await fetch(`${address.url}/v1/info`, { signal: AbortSignal.timeout(3000) });
    if (!res.ok) return false;
    return ((await res.json()) as { starting?: boolean }).starting === false;
  } catch {
    return false;
  }
}

export interface ParsedArgs {
  readonly command: string | undefined;
  readonly target: DbtTarget;
  readonly args: readonly string[];
}

/** The dbt command (first non-option), the target (`--target`/`-t`, else DBT_TARGET, else duckdb). */
export function parseArgs(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedArgs {
  const command = args.find((a) => !a.startsWith('-'));
  let target = env.DBT_TARGET?.trim() || 'duckdb';
  const out = [...args];
  for (let i = 0; i < out.length; i++) {
    const a = out[i] as string;
    if (a === '--target' || a === '-t') target = out[i + 1] ?? '';
    else if (a.startsWith('--target=')) target = a.slice('--target='.length);
  }
  if (!(TARGETS as readonly string[]).includes(target)) {
    throw new UsageError(`unknown target ${JSON.stringify(target)}: use --target duckdb (default) or --target trino`);
  }
  return { command, target: target as DbtTarget, args: out };
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const DUCKDB_TYPES: Record<LakeColumnType, string> = {
  string: 'varchar',
  int: 'integer',
  long: 'bigint',
  double: 'double',
  boolean: 'boolean',
  timestamptz: 'timestamptz',
  binary: 'blob',
};
const TRINO_TYPES: Record<LakeColumnType, string> = {
  ...DUCKDB_TYPES,
  timestamptz: 'timestamp(6) with time zone',
  binary: 'varbinary',
};

/** An empty relation with a bronze table's contract columns, for a table the lake has not created yet. */
export function emptyBronzeRelation(table: LakeTableName, target: DbtTarget): string {
  const types = target === 'trino' ? TRINO_TYPES : DUCKDB_TYPES;
  const cols = LAKE_TABLES[table].columns.map((c) => `cast(null as ${types[c.type]}) as ${c.name}`);
  return `select ${cols.join(', ')} where 1 = 0`;
}

export interface BronzeRead {
  readonly table: LakeTableName;
  /** The table's Iceberg uuid: an incremental build refuses a table re-created since the warehouse's last read. */
  readonly table_uuid: string | null;
  readonly snapshot_id: string | null;
  readonly metadata_location: string | null;
  readonly total_records: number;
  /** Kafka offsets the snapshot covers (the sink's `pep.kafka.offsets` summary), when it records them. */
  readonly kafka_offsets?: string;
  readonly missing?: true;
}

/** The schema of the table macros that stand for the bronze tables on DuckDB (pin_bronze_snapshots). */
export function bronzePinsSchema(env: NodeJS.ProcessEnv): string {
  return `${env.DBT_SCHEMA_PREFIX ?? ''}bronze_pins`;
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * The environment that points dbt's sources at one snapshot of each bronze table: on DuckDB, `<key>_SCAN` (the
 * sources' meta.external_location) is the snapshot's scan itself, or, with `pins` (a command that runs the hooks), the
 * stable name of a table macro the on-run-start hook defines as that scan (`<key>_PIN`).
 */
export function bronzeEnvironment(
  snapshots: Record<LakeTableName, BronzeTableSnapshot | null>,
  target: DbtTarget,
  pins?: { schema: string },
): { env: Record<string, string>; reads: BronzeRead[] } {
  const env: Record<string, string> = {};
  const reads: BronzeRead[] = [];
  // Trino reads the table itself (bronze(): FOR VERSION AS OF); external_location is DuckDB's
  const scanOf = (key: string, table: LakeTableName, scan: string) => {
    if (target !== 'duckdb') return;
    if (!pins) env[`${key}_SCAN`] = scan;
    else {
      env[`${key}_PIN`] = scan;
      env[`${key}_SCAN`] = `${quoteIdent(pins.schema)}.${quoteIdent(table)}()`;
    }
  };
  if (pins && target === 'duckdb') env.DBT_BRONZE_PINS_SCHEMA = pins.schema;
  for (const table of LAKE_TABLE_NAMES) {
    const key = `DBT_BRONZE_${table.toUpperCase()}`;
    const snap = snapshots[table];
    if (!snap || snap.snapshot_id === null) {
      // no table, or a table without any commit yet: read as empty with the contract's columns
      const empty = emptyBronzeRelation(table, target);
      env[`${key}_MISSING`] = empty;
      scanOf(key, table, `(${empty})`);
      reads.push({
        table,
        table_uuid: snap?.table_uuid ?? null,
        snapshot_id: null,
        metadata_location: snap?.metadata_location ?? null,
        total_records: 0,
        missing: true,
      });
      continue;
    }
    env[`${key}_SNAPSHOT`] = snap.snapshot_id;
    // the snapshot explicitly: the metadata file's current one, or an older one when reading as of a time
    scanOf(
      key,
      table,
      `iceberg_scan('${snap.metadata_location.replaceAll("'", "''")}', snapshot_from_id => ${snap.snapshot_id})`,
    );
    const offsets = snap.summary['pep.kafka.offsets'];
    reads.push({
      table,
      table_uuid: snap.table_uuid ?? null,
      snapshot_id: snap.snapshot_id,
      metadata_location: snap.metadata_location,
      total_records: snap.total_records,
      ...(offsets ? { kafka_offsets: offsets } : {}),
    });
  }
  env.DBT_BRONZE_READS = JSON.stringify(reads.map(({ kafka_offsets: _k, missing: _m, ...r }) => r));
  return { env, reads };
}

export interface NodeResult {
  readonly unique_id: string;
  readonly status: string;
  readonly message: string | null;
  readonly failures: number | null;
  readonly relation: string | null;
}

/** How publishing brought a mart up to date: `copied` whole, `merged` (only the keys the build changed), `unchanged`. */
export type PublishMode = 'copied' | 'merged' | 'unchanged';

export interface DbtRunSummary {
  readonly command: string | null;
  readonly target: DbtTarget;
  readonly status: 'success' | 'failed';
  readonly exit_code: number;
  readonly elapsed_s: number;
  readonly dbt_elapsed_s: number | null;
  readonly invocation_id: string | null;
  readonly partition_day: string | null;
  readonly bronze_namespace: string;
  readonly bronze: Record<string, Omit<BronzeRead, 'table'>>;
  readonly results: Record<string, number>;
  readonly failures: readonly NodeResult[];
  readonly published: {
    readonly path: string;
    readonly tables: readonly string[];
    readonly modes?: Readonly<Record<string, PublishMode>>;
  } | null;
  readonly error?: string;
}

interface RunResultsFile {
  metadata?: { invocation_id?: string };
  elapsed_time?: number;
  args?: { vars?: Record<string, unknown> };
  results?: {
    unique_id: string;
    status: string;
    message?: string | null;
    failures?: number | null;
    relation_name?: string | null;
    /** `source freshness` (sources.json): a runtime error's message, and what a stale source is measured against. */
    error?: string;
    max_loaded_at?: string;
    max_loaded_at_time_ago_in_s?: number;
    criteria?: { warn_after?: FreshnessThreshold; error_after?: FreshnessThreshold };
  }[];
}

interface FreshnessThreshold {
  count?: number | null;
  period?: string | null;
}

/** Where dbt writes a command's node results: `source freshness` into sources.json, the others run_results.json. */
function resultsFileOf(command: string | undefined): string {
  return command === 'source' ? 'sources.json' : 'run_results.json';
}

/** Why a source is stale: its newest row's time and age against the thresholds it broke (sources.json). */
function freshnessMessage(r: NonNullable<RunResultsFile['results']>[number]): string | null {
  if (r.max_loaded_at === undefined || r.max_loaded_at_time_ago_in_s === undefined) return null;
  const hours = (r.max_loaded_at_time_ago_in_s / 3600).toFixed(1);
  const limit = (t: FreshnessThreshold | undefined) => (t?.count && t.period ? `${t.count} ${t.period}(s)` : 'never');
  return `newest row loaded at ${r.max_loaded_at}, ${hours} h ago (warn after ${limit(r.criteria?.warn_after)}, error after ${limit(r.criteria?.error_after)})`;
}

function readRunResults(path: string, startedMs: number): RunResultsFile | null {
  try {
    if (!existsSync(path)) return null;
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as RunResultsFile & {
      metadata?: { generated_at?: string };
    };
    // a stale file of an earlier run (dbt crashed before writing its own) is not this run's result
    const generated = Date.parse(parsed.metadata?.generated_at ?? '');
    if (Number.isFinite(generated) && generated < startedMs - 1000) return null;
    return parsed;
  } catch {
    return null;
  }
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Progress and dbt's own output (default: dbt's stdout to ours, our messages to stderr). */
  readonly stdout?: (chunk: string) => void;
  readonly log?: Log;
  readonly toolchain?: DbtToolchain;
}

/** The environment dbt runs in: its profile, project and target paths, DuckDB files and the Trino address. */
function dbtEnvironment(
  baseEnv: NodeJS.ProcessEnv,
  parsed: { command: string | undefined; target: DbtTarget; args: readonly string[] },
  tools: DbtToolchain,
  targetPath: string,
): NodeJS.ProcessEnv {
  const { command, target, args } = parsed;
  const trino = trinoAddress(baseEnv);
  const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    DBT_PROFILES_DIR: PACKAGE_DIR,
    DBT_PROJECT_DIR: PACKAGE_DIR,
    DBT_TARGET: target,
    DBT_TARGET_PATH: targetPath,
    DBT_LOG_PATH: baseEnv.DBT_LOG_PATH?.trim() || targetPath,
    DBT_SEND_ANONYMOUS_USAGE_STATS: 'false',
    DO_NOT_TRACK: '1',
    DBT_USE_COLORS: baseEnv.DBT_USE_COLORS ?? (process.stdout.isTTY ? 'true' : 'false'),
    DBT_DUCKDB_PATH: dbtPaths(baseEnv).duckdbPath,
    DBT_DUCKDB_EXTENSION_DIR: tools.extensionDirectory,
    DBT_BRONZE_NAMESPACE: bronzeNamespace(baseEnv),
    DBT_TRINO_HOST: trino.host,
    DBT_TRINO_PORT: String(trino.port),
    DBT_TRINO_SCHEME: trino.scheme,
  };
  // Unit tests need their models' relations to exist (dbt reads the columns of `this`), which a first build of a
  // fresh warehouse has not made yet: `build` leaves them out unless asked (they run in the package's test suite).
  if (
    command === 'build' &&
    !baseEnv.DBT_EXCLUDE_RESOURCE_TYPES &&
    !args.some((a) => /^--(exclude-)?resource-types?(=|$)/.test(a))
  ) {
    env.DBT_EXCLUDE_RESOURCE_TYPES = 'unit_test';
  }
  return env;
}

/**
 * The bronze snapshots the run reads, pinned into `env` (bronzeEnvironment), or why the run cannot start: an exit
 * code and a message.
 */
async function pinBronze(
  tools: DbtToolchain,
  env: NodeJS.ProcessEnv,
  baseEnv: NodeJS.ProcessEnv,
  target: DbtTarget,
  command: string,
  log: Log,
): Promise<{ reads: BronzeRead[]; env: Record<string, string> } | { exitCode: number; error: string }> {
  const namespace = bronzeNamespace(baseEnv);
  const trino = trinoAddress(baseEnv);
  if (target === 'trino' && !(await trinoReady(trino))) {
    return {
      exitCode: EXIT_TEMPFAIL,
      error: `Trino is not answering at ${trino.url} (TRINO_URL): start it (npm run stack:up)`,
    };
  }
  let snapshots: Awaited<ReturnType<typeof bronzeSnapshots>>;
  try {
    // DBT_BRONZE_EMPTY=1: every bronze table reads as empty (unit tests and `--empty` runs need no catalog)
    snapshots =
      baseEnv.DBT_BRONZE_EMPTY === '1'
        ? (Object.fromEntries(
            LAKE_TABLE_NAMES.map((t) => [
              t,
              { metadata_location: '', snapshot_id: null, snapshot_ms: null, summary: {}, total_records: 0 },
            ]),
          ) as Awaited<ReturnType<typeof bronzeSnapshots>>)
        : await bronzeSnapshots(tools, env);
  } catch (err) {
    const e = err as Error;
    return {
      exitCode: e instanceof BronzeError && e.transient ? EXIT_TEMPFAIL : 2,
      error: `cannot read the bronze snapshots from the lake catalog: ${e.message}`,
    };
  }
  if (!snapshots.payment_events) {
    return {
      exitCode: EXIT_TEMPFAIL,
      error: `${namespace}.payment_events does not exist in the lake catalog yet: the lake sink creates it when it starts`,
    };
  }
  const pins = target === 'duckdb' && RUNS_HOOKS.has(command) ? { schema: bronzePinsSchema(baseEnv) } : undefined;
  const b = bronzeEnvironment(snapshots, target, pins);
  for (const r of b.reads) {
    log(
      r.missing
        ? `${namespace}.${r.table}: no snapshot yet, read as empty`
        : `${namespace}.${r.table}: snapshot ${r.snapshot_id} (${r.total_records} rows)`,
    );
  }
  return { reads: b.reads, env: b.env };
}

/**
 * dbt started ahead of the snapshot pinning (python/launch.py): its imports (~1.5 s) run while the wrapper resolves
 * the bronze snapshots and writes the fraud-truth seed. `start` hands it the pinned environment and lets dbt run with
 * `args`, resolving with dbt's exit code and the tail of its output (never rejects); `abort` ends it without running
 * dbt (and resolves when it has ended).
 */
export function launchDbt(
  tools: DbtToolchain,
  target: DbtTarget,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  out: (chunk: string) => void,
  log: Log,
): {
  start(extra: Readonly<Record<string, string>>): Promise<{ code: number; tail: string }>;
  abort(): Promise<{ code: number; tail: string }>;
} {
  let tail = '';
  const child = spawn(tools.python, [join(PACKAGE_DIR, 'python', 'launch.py'), target, ...args], {
    cwd: PACKAGE_DIR,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    tail = (tail + c).slice(-OUTPUT_TAIL_CHARS);
    out(c);
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => process.stderr.write(c));
  // a process that died before reading its stdin (a broken virtualenv): its exit status reports it
  child.stdin.on('error', () => {});
  const done = new Promise<{ code: number; tail: string }>((resolve) => {
    child.once('error', (err) => {
      log(`cannot start dbt: ${err.message}`);
      resolve({ code: 2, tail });
    });
    child.once('close', (c, signal) => resolve({ code: c ?? (signal ? 2 : 1), tail }));
  });
  let settled = false;
  return {
    start(extra) {
      if (settled) throw new Error('launchDbt: started or aborted already');
      settled = true;
      child.stdin.end(`${JSON.stringify(extra)}\n`);
      return done;
    },
    abort() {
      if (!settled) {
        settled = true;
        child.stdin.end();
        child.kill('SIGTERM');
      }
      return done;
    },
  };
}

/** Node results counted by status, and the nodes that did not succeed. */
function tallyResults(runResults: RunResultsFile | null): { results: Record<string, number>; failures: NodeResult[] } {
  const results: Record<string, number> = {};
  const failures: NodeResult[] = [];
  for (const r of runResults?.results ?? []) {
    results[r.status] = (results[r.status] ?? 0) + 1;
    if (!['success', 'pass', 'skipped', 'no-op'].includes(r.status)) {
      failures.push({
        unique_id: r.unique_id,
        status: r.status,
        message: r.message ?? r.error ?? freshnessMessage(r),
        failures: r.failures ?? null,
        relation: r.relation_name ?? null,
      });
    }
  }
  return { results, failures };
}

/** Runs one dbt command and returns the summary (never throws for a failed dbt run). */
export async function runDbt(argv: readonly string[], opts: RunOptions = {}): Promise<DbtRunSummary> {
  const started = Date.now();
  const baseEnv = opts.env ?? process.env;
  const log: Log = opts.log ?? ((m) => process.stderr.write(`dbt: ${m}\n`));
  const out = opts.stdout ?? ((c: string) => process.stdout.write(c));
  const { command, target, args } = parseArgs(argv, baseEnv);
  const namespace = bronzeNamespace(baseEnv);
  const paths = dbtPaths(baseEnv);
  const partitionDay = partitionDayOf(args);
  const fail = (exit_code: number, error: string): DbtRunSummary => ({
    command: command ?? null,
    target,
    status: 'failed',
    exit_code,
    elapsed_s: (Date.now() - started) / 1000,
    dbt_elapsed_s: null,
    invocation_id: null,
    partition_day: partitionDay,
    bronze_namespace: namespace,
    bronze: {},
    results: {},
    failures: [],
    published: null,
    error,
  });

  const tools = opts.toolchain ?? (await ensureDbtToolchain(log));
  const targetPath = baseEnv.DBT_TARGET_PATH?.trim() || join(PACKAGE_DIR, 'target', target);
  const env = dbtEnvironment(baseEnv, { command, target, args }, tools, targetPath);

  // The snapshot is pinned, dbt runs and the marts are published under the database's run lock (lock.ts).
  const locked = async (): Promise<DbtRunSummary> => {
    // dbt's imports overlap the snapshot pinning: the process waits for the pinned environment on its stdin
    const dbt = launchDbt(tools, target, args, env, out, log);
    let extra: Record<string, string> = {};
    let reads: BronzeRead[] = [];
    try {
      if (command && READS_BRONZE.has(command)) {
        const pinned = await pinBronze(tools, env, baseEnv, target, command, log);
        if ('error' in pinned) {
          await dbt.abort();
          return fail(pinned.exitCode, pinned.error);
        }
        reads = pinned.reads;
        extra = pinned.env;
      }
      if (command) {
        const truthDir = fraudTruthDir(baseEnv);
        const truth = writeFraudTruthSeed(truthDir);
        log(
          `fraud ground truth: ${truth.records} records from ${truth.files} simulator truth file(s) in ${truthDir}${
            truth.skipped > 0 ? ` (${truth.skipped} lines skipped: not a truth record)` : ''
          }`,
        );
      }
    } catch (err) {
      await dbt.abort();
      throw err;
    }

    const runResultsPath = join(targetPath, resultsFileOf(command));
    const dbtStarted = Date.now();
    const { code, tail } = await dbt.start(extra);
    const runResults = command ? readRunResults(runResultsPath, dbtStarted) : null;
    const { results, failures } = tallyResults(runResults);

    let published: DbtRunSummary['published'] = null;
    let publishError: string | undefined;
    if (code === 0 && target === 'duckdb' && command && PUBLISHES.has(command)) {
      try {
        published = await publishMarts(tools, paths, env, {
          invocationId: runResults?.metadata?.invocation_id ?? null,
          fullRefresh: args.includes('--full-refresh') || args.includes('-f'),
          manifest: join(targetPath, 'manifest.json'),
        });
        const merged = Object.values(published.modes ?? {}).filter((m) => m !== 'copied').length;
        log(`published ${published.tables.length} marts to ${published.path} (${merged} merged or unchanged)`);
      } catch (err) {
        publishError = `publishing the marts failed: ${(err as Error).message}`;
        log(publishError);
      }
    }
    const exitCode = publishError ? 1 : code;
    // a failure outside any node (a hook, a compilation error) has no run result: the summary carries dbt's message
    const dbtError = exitCode !== 0 && failures.length === 0 && !publishError ? errorOf(tail) : undefined;
    const summary: DbtRunSummary = {
      command: command ?? null,
      target,
      status: exitCode === 0 ? 'success' : 'failed',
      exit_code: exitCode,
      elapsed_s: (Date.now() - started) / 1000,
      dbt_elapsed_s: runResults?.elapsed_time ?? null,
      invocation_id: runResults?.metadata?.invocation_id ?? null,
      partition_day: partitionDay,
      bronze_namespace: namespace,
      bronze: Object.fromEntries(reads.map(({ table, ...r }) => [table, r])),
      results,
      failures,
      published,
      ...(publishError ? { error: publishError } : dbtError ? { error: dbtError } : {}),
    };
    if (command && READS_BRONZE.has(command)) recordRun(summary, baseEnv);
    return summary;
  };
  if (target !== 'duckdb' || !command) return locked();
  mkdirSync(dirname(paths.duckdbPath), { recursive: true });
  try {
    return await withRunLock(paths.duckdbPath, { waitMs: lockWaitMs(baseEnv), log }, locked);
  } catch (err) {
    if (err instanceof RunLockTimeout) return fail(EXIT_TEMPFAIL, err.message);
    throw err;
  }
}

/** Characters of dbt's output kept to explain a failure that has no run result. */
const OUTPUT_TAIL_CHARS = 16_384;

/** dbt's error message in the tail of its output: from the first line that names an error, at most 2,000 chars. */
export function errorOf(output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.replace(/^\d\d:\d\d:\d\d\s+/, '').trimEnd());
  const first = lines.findIndex((l) => /\b(error|exception)\b/i.test(l) && !/^Done\./.test(l));
  if (first < 0) return undefined;
  const text = lines
    .slice(first)
    .filter((l) => l.trim() && !/^Done\./.test(l))
    .join('\n');
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

function partitionDayOf(args: readonly string[]): string | null {
  const i = args.indexOf('--vars');
  if (i < 0) return null;
  const raw = args[i + 1] ?? '';
  try {
    const v = JSON.parse(raw) as { partition_day?: unknown };
    return typeof v.partition_day === 'string' ? v.partition_day : null;
  } catch {
    // dbt also takes YAML here: a `partition_day: 2026-12-01` form
    return /partition_day:\s*['"]?([0-9-]+)/.exec(raw)?.[1] ?? null;
  }
}

/** Appends the summary to `<state>/dbt/runs.jsonl` (DBT_RUN_LOG), the local history of what each run read. */
function recordRun(summary: DbtRunSummary, env: NodeJS.ProcessEnv): void {
  const file = env.DBT_RUN_LOG?.trim() || join(STATE_DIR, 'dbt', 'runs.jsonl');
  try {
    mkdirSync(dirname(file), { recursive: true });
    appendFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), ...summary })}\n`);
  } catch {
    // the run log is a convenience; the warehouse's bronze_reads table is the record
  }
}

/**
 * Writes the gold schema (minus UNPUBLISHED_MARTS) into a new file and renames it over the dashboards' file. The new
 * file starts as a copy of the published one when that was published from an earlier state of this database (not on
 * a full refresh); then the delete+insert incremental marts take only the keys this build changed (python/publish.py).
 */
async function publishMarts(
  tools: DbtToolchain,
  paths: DbtPaths,
  env: NodeJS.ProcessEnv,
  run: { invocationId: string | null; fullRefresh: boolean; manifest: string },
): Promise<{ path: string; tables: string[]; modes: Record<string, PublishMode> }> {
  const tmp = `${paths.martsPath}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  mkdirSync(dirname(paths.martsPath), { recursive: true });
  const schema = `${env.DBT_SCHEMA_PREFIX ?? ''}gold`;
  const script = join(PACKAGE_DIR, 'python', 'publish.py');
  const request = JSON.stringify({
    source: paths.duckdbPath,
    target: tmp,
    schema,
    exclude: UNPUBLISHED_MARTS,
    extension_directory: tools.extensionDirectory,
    previous: paths.martsPath,
    invocation_id: run.invocationId,
    full_refresh: run.fullRefresh,
    manifest: run.manifest,
    silver_schema: `${env.DBT_SCHEMA_PREFIX ?? ''}silver`,
  });
  const r = await runPython(tools, [script, request], { env, timeoutMs: 30 * 60_000 });
  const answer = r.answer as { tables?: string[]; modes?: Record<string, PublishMode> } | undefined;
  if (r.code !== 0 || !answer?.tables) {
    rmSync(tmp, { force: true });
    throw new Error(r.stderr.trim().slice(-4000) || r.stdout.trim());
  }
  const { tables, modes = {} } = answer;
  renameSync(tmp, paths.martsPath);
  return { path: paths.martsPath, tables, modes };
}
