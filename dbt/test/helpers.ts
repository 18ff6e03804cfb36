/**
 * Shared pieces of the dbt integration tests: a private bronze namespace, schemas and DuckDB files per test run, the
 * scenario rows (a late event, a duplicate delivery, a restated refund, broken rows), and table comparisons.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UNIFIED_EVENT_FIELDS } from '@pep/contracts';
import {
  type BronzeRow,
  type DbtRunSummary,
  type DbtTarget,
  type DbtToolchain,
  ensureDbtToolchain,
  PACKAGE_DIR,
  queryTarget,
  queryTargetMany,
  type Row,
  runDbt,
} from '@pep/dbt';

const execFileAsync = promisify(execFile);

export interface TestWorld {
  readonly id: string;
  readonly env: NodeJS.ProcessEnv;
  readonly dir: string;
  readonly tools: DbtToolchain;
  readonly target: DbtTarget;
  /** `<prefix>gold` etc.: the run's schemas. */
  schema(name: 'silver' | 'gold' | 'audit'): string;
  dbt(args: readonly string[], extraEnv?: NodeJS.ProcessEnv): Promise<DbtRunSummary>;
  query(sql: string, extraEnv?: NodeJS.ProcessEnv): Promise<Row[]>;
  /** Several statements in one query process (queryTargetMany): the rows of each, in order. */
  queryMany(sqls: readonly string[], extraEnv?: NodeJS.ProcessEnv): Promise<Row[][]>;
  /** Statements that change the target's tables, in order (queries are read-only on DuckDB: a test corrupting a mart). */
  write(sqls: readonly string[]): Promise<void>;
  cleanup(): void;
}

export async function testWorld(target: DbtTarget): Promise<TestWorld> {
  const tools = await ensureDbtToolchain((m) => console.log(`# ${m}`));
  const id = `t${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `pep-dbt-${target}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DBT_BRONZE_NAMESPACE: `${id}_bronze`,
    DBT_SCHEMA_PREFIX: `${id}_`,
    DBT_DUCKDB_PATH: join(dir, 'dbt.duckdb'),
    DBT_MARTS_DUCKDB: join(dir, 'marts.duckdb'),
    // one target folder per target for every test run: dbt's partial parsing then skips most of the parse
    DBT_TARGET_PATH: join(PACKAGE_DIR, 'target', `test-${target}`),
    DBT_RUN_LOG: join(dir, 'runs.jsonl'),
    DBT_USE_COLORS: 'false',
    // the world's own (absent) folder of simulator truth files: the repository's simulator/out changes whenever a
    // simulator runs, and with it the fraud_truth seed, a changed file for dbt's partial parsing
    DBT_FRAUD_TRUTH_DIR: join(dir, 'fraud-truth'),
  };
  const prefix = `${id}_`;
  const qualify = (s: string) => (target === 'trino' ? `iceberg.${prefix}${s}` : `${prefix}${s}`);
  return {
    id,
    env,
    dir,
    tools,
    target,
    schema: qualify,
    dbt: (args, extraEnv = {}) =>
      runDbt([...args, '--target', target], {
        env: { ...env, ...extraEnv },
        toolchain: tools,
        log: (m) => console.log(`# ${m}`),
        stdout: (c) => {
          for (const line of c.split('\n')) if (/ERROR|FAIL|WARN|Done\.|Completed/.test(line)) console.log(`# ${line}`);
        },
      }),
    query: (sql, extraEnv = {}) => queryTarget(tools, target, sql, { ...env, ...extraEnv }),
    queryMany: (sqls, extraEnv = {}) => queryTargetMany(tools, target, sqls, { ...env, ...extraEnv }),
    write: async (sqls) => {
      if (target === 'trino') {
        await queryTargetMany(tools, target, sqls, env);
        return;
      }
      const script =
        'import duckdb, json, sys\ncon = duckdb.connect(sys.argv[1])\nfor q in json.loads(sys.argv[2]):\n    con.execute(q)\ncon.close()';
      await execFileAsync(tools.python, ['-c', script, String(env.DBT_DUCKDB_PATH), JSON.stringify(sqls)]);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function assertSucceeded(s: DbtRunSummary): void {
  assert.equal(
    s.exit_code,
    0,
    `dbt ${s.command} failed: ${s.error ?? ''} ${s.failures.map((f) => `${f.unique_id}: ${f.message}`).join('\n')}`,
  );
}

const iso = (d: Date) => d.toISOString();

/** A new Stripe payment whose success happened on an old day but is delivered now (a late event). */
export function lateStripePayment(opts: {
  readonly paymentId: string;
  readonly customerId: string;
  readonly merchantId: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly at: Date;
}): BronzeRow {
  return {
    event_id: `stripe:evt_late_${opts.paymentId}`,
    provider: 'stripe',
    provider_event_id: `evt_late_${opts.paymentId}`,
    object_id: opts.paymentId,
    event_type: 'payment.succeeded',
    provider_event_type: 'payment_intent.succeeded',
    merchant_id: opts.merchantId,
    customer_id: opts.customerId,
    amount_minor: opts.amountMinor,
    currency: opts.currency,
    payment_method_type: 'card',
    card_brand: 'visa',
    card_last_four: '4242',
    status: 'succeeded',
    metadata: '{}',
    provider_created_at: iso(opts.at),
    received_at: iso(new Date()),
    normalized_at: iso(new Date()),
    schema_version: 1,
    kafka_partition: 1,
  };
}

/** The same delivery again (a provider retry): identical event, later receipt, new Kafka offset. */
export function redelivery(event: Row): BronzeRow {
  // the provider's fields of the event; receipt, normalization and the Kafka position are the new delivery's
  const keep = UNIFIED_EVENT_FIELDS.filter((f) => !['received_at', 'normalized_at', 'schema_version'].includes(f));
  const row: BronzeRow = Object.fromEntries(keep.map((k) => [k, (event[k] ?? null) as BronzeRow[string]]));
  return {
    ...row,
    received_at: iso(new Date()),
    normalized_at: iso(new Date()),
    schema_version: 1,
    kafka_partition: 2,
  };
}

/** A later refund.updated of a paid Stripe refund with a new amount (a restatement). */
export function restatedStripeRefund(refund: Row, newAmountMinor: number, at: Date): BronzeRow {
  const refundId = String(refund.refund_key).replace(/^stripe:/, '');
  const paymentId = String(refund.payment_key).replace(/^stripe:/, '');
  return {
    event_id: `stripe:evt_restated_${refundId}`,
    provider: 'stripe',
    provider_event_id: `evt_restated_${refundId}`,
    object_id: refundId,
    event_type: 'refund.updated',
    provider_event_type: 'refund.updated',
    amount_minor: newAmountMinor,
    currency: String(refund.currency),
    payment_method_type: 'refund',
    status: 'succeeded',
    metadata: JSON.stringify({ linked_payment_intent: paymentId }),
    provider_created_at: iso(at),
    received_at: iso(new Date()),
    normalized_at: iso(new Date()),
    schema_version: 1,
    kafka_partition: 0,
  };
}

/**
 * A later version of a workflow decision (bronze.payment_outcomes) that re-scored the event as low risk: a re-scoring
 * that takes an alert back. `decision` is the event's current row of int_payment_outcomes.
 */
export function rescoredDecision(
  decision: Row,
  next: { readonly pgId: number; readonly persistedAt: Date },
): BronzeRow {
  const keep = [
    'event_id',
    'provider',
    'outcome',
    'validation_status',
    'fraud_model_version',
    'retry_action',
    'retry_delay_seconds',
    'churn_score',
    'churn_risk_level',
    'churn_model_version',
  ];
  return {
    ...Object.fromEntries(keep.map((k) => [k, (decision[k] ?? null) as BronzeRow[string]])),
    fraud_score: 0.01,
    fraud_risk_level: 'low',
    workflow_id: `rescored-${String(decision.event_id)}`,
    provider_created_at: iso(new Date(Date.parse(String(decision.provider_created_at)))),
    persisted_at: iso(next.persistedAt),
    pg_id: next.pgId,
  };
}

/**
 * Rows a broken upstream could write: a typed event without an amount, one with a negative amount, and one in a
 * currency that does not exist.
 */
export function brokenRows(at: Date): BronzeRow[] {
  const base = {
    provider: 'square',
    event_type: 'payment.updated',
    provider_event_type: 'payment.updated',
    merchant_id: 'square_merchant_0001',
    customer_id: 'cus_broken',
    status: 'succeeded',
    metadata: '{}',
    provider_created_at: iso(at),
    received_at: iso(new Date()),
    normalized_at: iso(new Date()),
    schema_version: 1,
  };
  return [
    {
      ...base,
      event_id: 'square:sqe_broken_null_amount',
      provider_event_id: 'sqe_broken_null_amount',
      object_id: 'sqp_broken_1',
      amount_minor: null,
      currency: 'USD',
    },
    {
      ...base,
      event_id: 'square:sqe_broken_negative_amount',
      provider_event_id: 'sqe_broken_negative_amount',
      object_id: 'sqp_broken_3',
      amount_minor: -5,
      currency: 'USD',
    },
    {
      ...base,
      event_id: 'square:sqe_broken_currency',
      provider_event_id: 'sqe_broken_currency',
      object_id: 'sqp_broken_2',
      amount_minor: 1000,
      currency: 'XYZ',
    },
  ];
}

/** Rows of a table minus the columns that record when they were written, sorted, for comparing two builds. */
export function comparable(rows: Row[]): string[] {
  return rows
    .map((r) =>
      JSON.stringify(
        Object.fromEntries(
          Object.entries(r)
            .filter(([k]) => !k.startsWith('_loaded_at') && !k.startsWith('dbt_'))
            .map(([k, v]) => [k, typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(9)) : v]),
        ),
      ),
    )
    .sort();
}
