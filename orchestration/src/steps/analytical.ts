/**
 * The analytical half of the graph, each step one registration over another package's command (CONTRACT section 8):
 *
 *   lake.ingest ─▶ lake.compact ─▶ dbt.build ─▶ ml.train ─▶ ml.drift        lake.expire ─▶ lake.orphans     dbt.check
 *
 * - lake.ingest observes what the lake-sink has committed for the day (row counts per bronze table through
 *   `npm run query`, the current metadata file per table from the Iceberg SQL catalog): a new commit for the day is
 *   new data for everything below it.
 * - lake.compact (`npm run lake -- compact`), lake.expire, lake.orphans: maintenance; a failed compaction stops dbt
 *   and everything below it for the day.
 * - dbt.build (`npm run dbt -- build`): a failed model or test fails the run (deterministic), stopping ML.
 * - dbt.check (`npm run dbt -- build` with `full_checks`): the daily full check of every row (dbt.build's tests of
 *   incremental models read the rows that build wrote).
 * - ml.train (`npm run train`): training, evaluation and the promotion gate; a blocked promotion halts the graph
 *   below it (ml.drift) with the gate's reason.
 * - ml.drift (`npm run drift -- --partition <day> --json`): per-feature and score drift (PSI) of each champion over
 *   the day against its training window, stored by the command in ml.drift_reports; drift above the alert threshold
 *   (exit 3) halts the run with the drifted features as its reason, so it is a visible non-success in the history.
 * A step whose command does not exist yet is reported as not available (never run, never a success).
 */
import type { Partition } from '../partition.ts';
import type { JsonObject, StepDefinition, StepEnv, StepRunContext } from '../step.ts';
import { StepFailure, TransientStepError } from '../step.ts';
import { type CommandResult, outputTail, runNpmScript, scriptMissing } from './command.ts';

/** Exit status a command uses for "try again later" (EX_TEMPFAIL). Any other non-zero status is deterministic. */
export const EXIT_TEMPFAIL = 75;

async function runCommand(
  ctx: StepRunContext,
  script: string,
  args: readonly string[],
  timeoutMs: number,
  failureCode: string,
  /** Exit statuses that are results, not failures (the caller reads `code`). */
  results: readonly number[] = [0],
): Promise<CommandResult> {
  const r = await runNpmScript(ctx, script, args, {
    timeoutMs,
    signal: ctx.signal,
    onOutput: () => ctx.heartbeat(),
  });
  if (r.code !== null && results.includes(r.code)) return r;
  const what = `npm run ${script} -- ${args.join(' ')} exited ${r.code ?? r.signal}`;
  if (r.code === EXIT_TEMPFAIL || r.code === null)
    throw new TransientStepError(`${failureCode}Transient`, `${what}: ${outputTail(r, 10)}`);
  throw new StepFailure(failureCode, `${what}: ${outputTail(r, 20)}`, r.json ? { result: r.json } : {});
}

const needs =
  (...scripts: [string, string][]) =>
  async (env: StepEnv): Promise<string | null> => {
    for (const [script, owner] of scripts) {
      const missing = scriptMissing(env.repoRoot, script, owner);
      if (missing) return missing;
    }
    return null;
  };

const LAKE: [string, string] = ['lake', 'lakehouse #16'];
const QUERY: [string, string] = ['query', 'lakehouse #16'];
const DBT: [string, string] = ['dbt', 'dbt #19'];
const TRAIN: [string, string] = ['train', 'ml #18'];
const DRIFT: [string, string] = ['drift', 'ml #18'];
/** `npm run drift` exits with this when a model's drift is above the alert threshold (ml/src/drift/cli.ts). */
export const EXIT_DRIFT_ALERT = 3;

export const BRONZE_TABLES = ['bronze.webhook_events', 'bronze.payment_events', 'bronze.validation_dlq'] as const;

function dayArgs(p: Partition): string[] {
  return ['--partition', p.key];
}

export const lakeIngest: StepDefinition = {
  name: 'lake.ingest',
  description: 'what the lake-sink committed to the bronze tables for the day (row counts, catalog metadata files)',
  owner: 'lakehouse (#16)',
  partitioning: { kind: 'day' },
  timeoutMs: 10 * 60_000,
  available: needs(QUERY, LAKE),
  async observe(env, p) {
    const counts: JsonObject = {};
    for (const table of BRONZE_TABLES) {
      const sql = `SELECT count(*) AS n FROM ${table} WHERE received_at >= TIMESTAMP '${p.start.toISOString().replace('T', ' ').slice(0, 19)}' AND received_at < TIMESTAMP '${p.end.toISOString().replace('T', ' ').slice(0, 19)}'`;
      const r = await runNpmScript(env, 'query', [sql, '--json'], { timeoutMs: 5 * 60_000 });
      if (r.code !== 0) throw new TransientStepError('LakeQueryFailed', `npm run query failed: ${outputTail(r, 5)}`);
      counts[table] = r.json ?? outputTail(r, 1);
    }
    const { rows } = await env.pool
      .query<{ table_namespace: string; table_name: string; metadata_location: string }>(
        `SELECT table_namespace, table_name, metadata_location FROM iceberg_tables WHERE catalog_name = 'pep'
          ORDER BY 1, 2`,
      )
      .catch(() => ({ rows: [] }));
    return { counts, metadata: rows.map((r) => `${r.table_namespace}.${r.table_name}=${r.metadata_location}`) };
  },
  async run(ctx) {
    // A sensor: its output is what it observed, so a new commit for the day is a new version for the steps below.
    return { outputs: ctx.observed };
  },
};

export const lakeCompact: StepDefinition = {
  name: 'lake.compact',
  description: 'small-file compaction of the day partition of every bronze table (npm run lake -- compact)',
  owner: 'lakehouse (#16)',
  partitioning: { kind: 'day' },
  upstream: ['lake.ingest'],
  timeoutMs: 30 * 60_000,
  available: needs(LAKE),
  async run(ctx, p) {
    const r = await runCommand(ctx, 'lake', ['compact', ...dayArgs(p), '--json'], 29 * 60_000, 'CompactionFailed');
    // Compaction rewrites files, not rows: the data version for the steps below stays the one lake.ingest saw.
    return { outputs: r.json ?? {}, outputVersion: ctx.upstream['lake.ingest'] ?? '' };
  },
};

/** Table-wide lake maintenance for the day (`npm run lake -- <verb> --json`). */
function lakeMaintenance(
  verb: 'expire' | 'orphans',
  description: string,
  upstream: string[],
  failure: string,
): StepDefinition {
  return {
    name: `lake.${verb}`,
    description,
    owner: 'lakehouse (#16)',
    partitioning: { kind: 'day' },
    upstream,
    timeoutMs: 30 * 60_000,
    available: needs(LAKE),
    async run(ctx) {
      const r = await runCommand(ctx, 'lake', [verb, '--json'], 29 * 60_000, failure);
      return { outputs: r.json ?? {} };
    },
  };
}

export const lakeExpire = lakeMaintenance(
  'expire',
  'snapshot expiry of the bronze tables (npm run lake -- expire)',
  [],
  'ExpiryFailed',
);
export const lakeOrphans = lakeMaintenance(
  'orphans',
  'removal of orphan files of the bronze tables (npm run lake -- orphans)',
  ['lake.expire'],
  'OrphanRemovalFailed',
);

export const dbtBuild: StepDefinition = {
  name: 'dbt.build',
  description: 'dbt build (models, snapshots, tests) over the bronze tables (npm run dbt -- build)',
  owner: 'dbt (#19)',
  partitioning: { kind: 'day' },
  upstream: ['lake.compact'],
  timeoutMs: 60 * 60_000,
  available: needs(DBT),
  async run(ctx, p) {
    const vars = JSON.stringify({ partition_day: p.key });
    const r = await runCommand(ctx, 'dbt', ['build', '--vars', vars], 59 * 60_000, 'DbtBuildFailed');
    // The summary names the bronze snapshot each table was read at: the marts' version is that set of snapshots, so
    // a rebuild of unchanged bronze does not make ml.train run again (timings in the summary change every run).
    const bronze = (r.json?.bronze ?? {}) as JsonObject;
    const snapshots = Object.fromEntries(
      Object.entries(bronze).map(([table, read]) => [table, (read as JsonObject | null)?.snapshot_id ?? null]),
    );
    return {
      outputs: { ...(r.json ?? {}), tail: outputTail(r, 3) },
      ...(Object.keys(snapshots).length > 0 ? { outputVersion: JSON.stringify(snapshots) } : {}),
      consumed: { bronze_snapshots: snapshots },
    };
  },
};

/**
 * dbt.check: the full check, once a day. In the frequent dbt.build the generic tests of an incremental model read only
 * the rows that build wrote (exact for the keys it replaced; dbt/macros/tests.sql). This runs the same build with
 * `full_checks`, so every test reads every row of every model, at one consistent bronze snapshot.
 */
export const dbtCheck: StepDefinition = {
  name: 'dbt.check',
  description: 'dbt build with every data test over every row (npm run dbt -- build --vars {"full_checks": true})',
  owner: 'dbt (#19)',
  partitioning: { kind: 'day' },
  upstream: [],
  timeoutMs: 60 * 60_000,
  available: needs(DBT),
  async run(ctx, p) {
    const vars = JSON.stringify({ partition_day: p.key, full_checks: true });
    const r = await runCommand(ctx, 'dbt', ['build', '--vars', vars], 59 * 60_000, 'DbtCheckFailed');
    return { outputs: { ...(r.json ?? {}), tail: outputTail(r, 3) } };
  },
};

export const mlTrain: StepDefinition = {
  name: 'ml.train',
  description: 'training sets, training, evaluation and the promotion gate of fraud and churn (npm run train)',
  owner: 'ml (#18)',
  partitioning: { kind: 'day' },
  upstream: ['dbt.build'],
  closedPartitionsOnly: true,
  timeoutMs: 60 * 60_000,
  available: needs(TRAIN),
  async run(ctx, p) {
    const results: JsonObject = {};
    const blocked: string[] = [];
    // One chunk per model: a worker killed after fraud was registered does not train and register it again.
    for (const model of ['fraud', 'churn']) {
      const result = await ctx.chunk(
        `train:${model}`,
        async () => {
          const r = await runCommand(
            ctx,
            'train',
            ['--model', model, '--until', p.end.toISOString(), '--json'],
            29 * 60_000,
            'TrainingFailed',
          );
          return r.json ?? {};
        },
        { tx: false },
      );
      results[model] = result;
      // `npm run train` prints {decision: 'promoted' | 'blocked', reasons: [...]} per model.
      const r = result as JsonObject;
      if (r.decision === 'blocked')
        blocked.push(`${model}: ${Array.isArray(r.reasons) ? r.reasons.join('; ') : 'gate not passed'}`);
    }
    return {
      outputs: results,
      ...(blocked.length > 0 ? { halt: { code: 'PromotionBlocked', reason: blocked.join('; ') } } : {}),
    };
  },
};

export const mlDrift: StepDefinition = {
  name: 'ml.drift',
  description: 'feature and score drift (PSI) of the served models over the day against their training window',
  owner: 'ml (#18)',
  partitioning: { kind: 'day' },
  upstream: ['ml.train'],
  closedPartitionsOnly: true,
  timeoutMs: 30 * 60_000,
  available: needs(DRIFT),
  async run(ctx, p) {
    const r = await runCommand(ctx, 'drift', ['--partition', p.key, '--json'], 29 * 60_000, 'DriftReportFailed', [
      0,
      EXIT_DRIFT_ALERT,
    ]);
    if (r.code === EXIT_DRIFT_ALERT) {
      const reports = (Array.isArray(r.json?.reports) ? r.json.reports : []) as JsonObject[];
      const reason = reports
        .filter((x) => x.status === 'alert')
        .map((x) => {
          const drifted = Array.isArray(x.drifted) ? x.drifted.slice(0, 5).join(', ') : '';
          return `${String(x.registeredName)} v${String(x.modelVersion)}: ${drifted}`;
        })
        .join('; ');
      return {
        outputs: r.json ?? {},
        halt: { code: 'DriftAlert', reason: `drift above the alert threshold: ${reason || outputTail(r, 3)}` },
      };
    }
    return { outputs: r.json ?? {} };
  },
};

export const ANALYTICAL_STEPS: readonly StepDefinition[] = [
  lakeIngest,
  lakeCompact,
  lakeExpire,
  lakeOrphans,
  dbtBuild,
  dbtCheck,
  mlTrain,
  mlDrift,
];
