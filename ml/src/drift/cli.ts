/**
 * `npm run drift [-- --model fraud|churn] [--partition YYYY-MM-DD | --from <iso> --to <iso>] [--json] [--no-store]`:
 * the per-feature and score drift of each model's champion over a window (default: the 24 h ending at the newest
 * logged event) against its training window (report.ts), stored in PostgreSQL (`ml.drift_reports`,
 * `ml.drift_features`) for the dashboards.
 *
 * Exit status: 0 no alert (ok, warn, too few rows for a verdict, or no champion yet); 3 drift above the alert
 * threshold (the alert: the drifted features are named on stderr, the report is stored first); 2 a bad command line;
 * 75 MLflow or PostgreSQL unreachable (try again later); 1 any other failure (no drift reference, another spec).
 * With --json the last stdout line is one JSON object: `{status, reports: [...]}`.
 */
import { parseArgs } from 'node:util';
import { serviceAddresses } from '@pep/contracts';
import { redactUrl } from '@pep/contracts/env';
import { loadCore } from '@pep/core-native';
import { loadMlConfig } from '../config.ts';
import { ModelRegistry, RegistryError } from '../serving/registry.ts';
import { loadLoggedEvents, MODEL_NAMES, type ModelName } from '../train/dataset.ts';
import { DriftError, type DriftReport, driftReport, driftThresholds } from './report.ts';
import { connect, migrate, saveDriftReport } from './store.ts';

export const EXIT_ALERT = 3;
export const EXIT_USAGE = 2;
export const EXIT_TEMPFAIL = 75;
const DAY_MS = 86_400_000;

class UsageError extends Error {}

function parseWindow(v: { partition?: string; from?: string; to?: string }, newestMs: number | null, now: Date) {
  const date = (s: string, what: string) => {
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) throw new UsageError(`--${what} ${JSON.stringify(s)} is not a date`);
    return d;
  };
  if (v.partition !== undefined) {
    if (v.from !== undefined || v.to !== undefined) throw new UsageError('--partition excludes --from and --to');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v.partition))
      throw new UsageError(`--partition must be a day (YYYY-MM-DD), got ${JSON.stringify(v.partition)}`);
    const from = date(`${v.partition}T00:00:00Z`, 'partition');
    if (from.getTime() > now.getTime()) throw new UsageError(`--partition ${v.partition} is in the future`);
    return { from, to: new Date(from.getTime() + DAY_MS) };
  }
  if ((v.from === undefined) !== (v.to === undefined)) throw new UsageError('--from and --to go together');
  if (v.from !== undefined && v.to !== undefined) {
    const from = date(v.from, 'from');
    const to = date(v.to, 'to');
    if (from.getTime() >= to.getTime()) throw new UsageError(`--from ${v.from} is not before --to ${v.to}`);
    return { from, to };
  }
  // Default: the last day of logged history (simulated time in tests and benchmarks, wall time in production).
  const end = (newestMs ?? now.getTime()) + 1;
  return { from: new Date(end - DAY_MS), to: new Date(end) };
}

function describe(r: DriftReport): string {
  const head = `${r.registeredName} v${r.modelVersion} ${r.window.from}..${r.window.to}: ${r.status.toUpperCase()}`;
  if (r.status === 'insufficient_data')
    return `${head} (${r.rows} rows in the window, ${r.thresholds.minRows} needed for a verdict)`;
  const worst = r.features
    .filter((f) => f.level !== 'ok')
    .sort((a, b) => b.psi - a.psi)
    .slice(0, 8)
    .map((f) => `${f.feature} PSI ${f.psi.toFixed(3)}`);
  return (
    `${head} (${r.rows} rows vs ${r.referenceRows} training rows; max feature PSI ${r.maxFeaturePsi.toFixed(3)}, ` +
    `score PSI ${r.scorePsi.toFixed(3)}; warn > ${r.thresholds.psiWarn}, alert > ${r.thresholds.psiAlert})` +
    (worst.length ? `\n  drifted: ${worst.join(', ')}${r.drifted.length > worst.length ? ', …' : ''}` : '')
  );
}

async function main(): Promise<number> {
  let values: {
    model?: string;
    partition?: string;
    from?: string;
    to?: string;
    json?: boolean;
    'no-store'?: boolean;
  };
  try {
    values = parseArgs({
      options: {
        model: { type: 'string' },
        partition: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
        'no-store': { type: 'boolean' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`drift: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  if (values.model !== undefined && !MODEL_NAMES.includes(values.model as ModelName)) {
    process.stderr.write(`drift: --model must be fraud or churn, got ${JSON.stringify(values.model)}\n`);
    return EXIT_USAGE;
  }
  const models = values.model === undefined ? [...MODEL_NAMES] : [values.model as ModelName];
  const cfg = loadMlConfig();
  let thresholds: ReturnType<typeof driftThresholds>;
  try {
    thresholds = driftThresholds();
  } catch (err) {
    process.stderr.write(`drift: ${(err as Error).message}\n`);
    return EXIT_USAGE;
  }
  const events = await loadLoggedEvents(cfg.offlineDir);
  let window: { from: Date; to: Date };
  try {
    window = parseWindow(values, events.length ? (events[events.length - 1]?.atMs ?? null) : null, new Date());
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`drift: ${err.message}\n`);
    return EXIT_USAGE;
  }
  const log = (m: string) => process.stderr.write(`drift: ${m}\n`);
  log(
    `${events.length} logged events in ${cfg.offlineDir}; window ${window.from.toISOString()}..${window.to.toISOString()}`,
  );

  const store = values['no-store'] ? null : connect(serviceAddresses().databaseUrl);
  if (store) {
    const url = serviceAddresses().databaseUrl;
    try {
      await migrate(url);
      await store.connect();
    } catch (err) {
      log(`PostgreSQL at ${redactUrl(url)} is unavailable: ${(err as Error).message}`);
      return EXIT_TEMPFAIL;
    }
  }
  const registry = new ModelRegistry(cfg.mlflowUrl);
  const core = await loadCore();
  const prefix = process.env.ML_REGISTRY_PREFIX ?? '';
  const reports: Record<string, unknown>[] = [];
  let code = 0;
  try {
    for (const model of models) {
      const registeredName = `${prefix}${model}`;
      try {
        const r = await driftReport(cfg, { model, registeredName, registry, events, ...window, thresholds, core, log });
        const id = store ? await saveDriftReport(store, r) : null;
        log(describe(r));
        if (!values.json) process.stdout.write(`${describe(r)}\n`);
        reports.push({ ...r, report_id: id });
        if (r.status === 'alert') {
          code = Math.max(code, EXIT_ALERT);
          process.stderr.write(
            `drift: ALERT ${registeredName} v${r.modelVersion}: ${r.drifted.length} of ${r.features.length} inputs ` +
              `and outputs drifted, PSI above ${r.thresholds.psiAlert}: ${r.drifted.slice(0, 8).join(', ')}\n`,
          );
        }
      } catch (err) {
        if (err instanceof DriftError && err.code === 'no_champion') {
          log(err.message);
          reports.push({ model, registeredName, status: 'no_champion', reason: err.message });
          continue;
        }
        if (err instanceof RegistryError && err.code === 'registry_unreachable') {
          log(err.message);
          reports.push({ model, registeredName, status: 'error', reason: err.message });
          code = code === EXIT_ALERT ? code : EXIT_TEMPFAIL;
          continue;
        }
        log(`${registeredName} failed: ${(err as Error).message}`);
        reports.push({ model, registeredName, status: 'error', reason: (err as Error).message });
        if (code === 0) code = 1;
      }
    }
  } finally {
    await store?.end().catch(() => {});
  }
  const statuses = reports.map((r) => r.status as string);
  const status = statuses.includes('alert')
    ? 'alert'
    : statuses.includes('error')
      ? 'error'
      : statuses.includes('warn')
        ? 'warn'
        : statuses.every((s) => s === 'no_champion')
          ? 'no_champion'
          : 'ok';
  if (values.json) process.stdout.write(`${JSON.stringify({ status, exit_code: code, reports })}\n`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`drift: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
