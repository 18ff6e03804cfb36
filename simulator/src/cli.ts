/**
 * `npm run simulate -- [options]`: sends signed provider webhooks to the edge at a target rate, checks every answer
 * against the status the edge must give (200 valid, 400 malformed, 401 forged/expired/unsigned), writes the fraud
 * ground truth to a side file (never into payloads), and prints one JSON summary as the last stdout line.
 * Exit status 0 when every answer matched its expectation, 1 otherwise, 2 on bad options.
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PROVIDERS, type Provider, serviceAddresses } from '@pep/contracts';
import { DeliveryGenerator, type TruthRecord } from './generate.ts';
import { type Delivery, type Secrets, signingSecrets } from './render.ts';

const USAGE = `usage: npm run simulate -- [options]
  --provider <stripe|square|adyen|braintree|all>  (default all)
  --rate <events/s>            target send rate (default 20)
  --duration <s> | --count <n> how long / how many (default --count 100)
  --url <edge base url>        (default http://127.0.0.1:$EDGE_PORT or 8080)
  --seed <n>                   reproducible traffic (default 1)
  --invalid-rate <0..1>        invalid payloads: bad JSON, null tokens, unknown currencies, bad amounts, missing fields (default 0.02)
  --duplicate-rate <0..1>      provider redeliveries of an earlier event (default 0.02)
  --signature-fault-rate <0..1> bad, expired or missing signatures (default 0.01)
  --fraud-rate <x>             multiplier on fraud-pattern frequency, 0 disables (default 1)
  --customers <n> --merchants <n per provider>   population sizes (default 2000, 50)
  --concurrency <n>            requests in flight (default 16)
  --truth <file>               fraud ground truth JSONL (default simulator/out/fraud-truth-<seed>.jsonl)
  --time-scale <x>             simulated seconds per real second for event times (default 1); e.g. 5000 makes the
                               days-to-weeks-later disputes and abandoned customers appear within minutes
  --dry-run                    generate and count, send nothing
  --quiet                      no progress lines on stderr`;

function fail(msg: string): never {
  process.stderr.write(`simulate: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        provider: { type: 'string', default: 'all' },
        rate: { type: 'string', default: '20' },
        duration: { type: 'string' },
        count: { type: 'string' },
        url: { type: 'string' },
        seed: { type: 'string', default: '1' },
        'invalid-rate': { type: 'string', default: '0.02' },
        'duplicate-rate': { type: 'string', default: '0.02' },
        'signature-fault-rate': { type: 'string', default: '0.01' },
        'fraud-rate': { type: 'string', default: '1' },
        customers: { type: 'string', default: '2000' },
        merchants: { type: 'string', default: '50' },
        concurrency: { type: 'string', default: '16' },
        truth: { type: 'string' },
        'time-scale': { type: 'string', default: '1' },
        'dry-run': { type: 'boolean', default: false },
        quiet: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (err) {
    fail((err as Error).message);
  }
})();
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const num = (name: string, v: string | undefined, min: number, max: number, integer = false): number => {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    fail(`--${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return n;
};

const providers: Provider[] =
  values.provider === 'all'
    ? [...PROVIDERS]
    : (PROVIDERS as readonly string[]).includes(values.provider as string)
      ? [values.provider as Provider]
      : fail(`unknown provider ${JSON.stringify(values.provider)}`);
const rate = num('rate', values.rate, 0.1, 100_000);
if (values.duration !== undefined && values.count !== undefined) fail('give --duration or --count, not both');
const durationS = values.duration !== undefined ? num('duration', values.duration, 0.1, 86_400 * 7) : null;
const count = values.count !== undefined ? num('count', values.count, 1, 1e9, true) : durationS === null ? 100 : null;
const seed = num('seed', values.seed, 0, 2 ** 32 - 1, true);
const concurrency = num('concurrency', values.concurrency, 1, 1024, true);
const baseUrl = (values.url ?? `http://127.0.0.1:${serviceAddresses().edgePort}`).replace(/\/+$/, '');
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const truthPath = resolve(values.truth ?? `${repoRoot}/simulator/out/fraud-truth-${seed}.jsonl`);

const secrets: Secrets = signingSecrets(process.env);
const timeScale = num('time-scale', values['time-scale'], 1, 1_000_000);
const simStartMs = Date.now();

const gen = new DeliveryGenerator({
  seed,
  providers,
  invalidRate: num('invalid-rate', values['invalid-rate'], 0, 1),
  duplicateRate: num('duplicate-rate', values['duplicate-rate'], 0, 1),
  signatureFaultRate: num('signature-fault-rate', values['signature-fault-rate'], 0, 1),
  fraudRate: num('fraud-rate', values['fraud-rate'], 0, 100),
  customers: num('customers', values.customers, 1, 10_000_000, true),
  merchantsPerProvider: num('merchants', values.merchants, 1, 1_000_000, true),
  secrets,
  // Event times run `timeScale` times faster than the clock; signatures keep the real clock (the edge checks them).
  ...(timeScale !== 1 ? { now: () => new Date(simStartMs + (Date.now() - simStartMs) * timeScale) } : {}),
});

interface Stats {
  sent: number;
  byProvider: Record<string, Record<string, number>>;
  byLabel: Record<string, number>;
  byStatus: Record<string, number>;
  unexpected: number;
  unexpectedSamples: { label: string; provider: string; expected: number; got: number | string }[];
  networkErrors: number;
  latenciesMs: number[];
}
const stats: Stats = {
  sent: 0,
  byProvider: {},
  byLabel: {},
  byStatus: {},
  unexpected: 0,
  unexpectedSamples: [],
  networkErrors: 0,
  latenciesMs: [],
};
const truth: TruthRecord[] = [];
const MAX_LATENCY_SAMPLES = 200_000;
const bump = (o: Record<string, number>, k: string) => {
  o[k] = (o[k] ?? 0) + 1;
};

async function send(d: Delivery): Promise<void> {
  const started = performance.now();
  let status: number | string;
  try {
    const res = await fetch(baseUrl + d.path, { method: 'POST', headers: d.headers, body: d.body });
    await res.arrayBuffer();
    status = res.status;
  } catch (err) {
    status = `network:${networkErrorCode(err)}`;
    stats.networkErrors++;
  }
  if (stats.latenciesMs.length < MAX_LATENCY_SAMPLES) stats.latenciesMs.push(performance.now() - started);
  bump(stats.byStatus, String(status));
  stats.byProvider[d.provider] ??= {};
  const prov = stats.byProvider[d.provider] as Record<string, number>;
  bump(prov, String(status));
  if (status !== d.expectedStatus) {
    stats.unexpected++;
    if (stats.unexpectedSamples.length < 10)
      stats.unexpectedSamples.push({ label: d.label, provider: d.provider, expected: d.expectedStatus, got: status });
  }
}

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return Math.round((s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number) * 100) / 100;
};

const t0 = performance.now();
const deadlineMs = durationS !== null ? durationS * 1000 : Number.POSITIVE_INFINITY;
const inFlight = new Set<Promise<void>>();
let lastProgress = t0;
for (let i = 0; count === null || i < count; i++) {
  const dueMs = (i / rate) * 1000;
  if (dueMs >= deadlineMs) break;
  const { delivery, truth: t } = gen.next();
  if (t) truth.push(t);
  stats.sent++;
  bump(stats.byLabel, delivery.label.replace(/^duplicate:.*/, 'duplicate'));
  if (values['dry-run']) continue;
  const wait = t0 + dueMs - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  while (inFlight.size >= concurrency) await Promise.race(inFlight);
  const p = send(delivery).finally(() => inFlight.delete(p));
  inFlight.add(p);
  if (!values.quiet && performance.now() - lastProgress > 2000) {
    lastProgress = performance.now();
    const el = (lastProgress - t0) / 1000;
    process.stderr.write(
      `simulate: ${stats.sent} sent in ${el.toFixed(1)} s (${(stats.sent / el).toFixed(0)}/s), unexpected ${stats.unexpected}, network errors ${stats.networkErrors}\n`,
    );
  }
}
await Promise.all(inFlight);
const elapsedS = (performance.now() - t0) / 1000;

mkdirSync(dirname(truthPath), { recursive: true });
writeFileSync(truthPath, truth.map((t) => JSON.stringify(t)).join('\n') + (truth.length ? '\n' : ''));

const fraudByPattern: Record<string, number> = {};
for (const t of truth) bump(fraudByPattern, t.pattern);
const summary = {
  seed,
  providers,
  url: values['dry-run'] ? null : baseUrl,
  dry_run: values['dry-run'],
  sent: stats.sent,
  elapsed_s: Math.round(elapsedS * 100) / 100,
  target_rate_per_s: rate,
  achieved_rate_per_s: Math.round((stats.sent / Math.max(elapsedS, 1e-9)) * 10) / 10,
  by_label: stats.byLabel,
  by_status: stats.byStatus,
  by_provider: stats.byProvider,
  unexpected_statuses: stats.unexpected,
  unexpected_samples: stats.unexpectedSamples,
  network_errors: stats.networkErrors,
  latency_ms: { p50: percentile(stats.latenciesMs, 50), p99: percentile(stats.latenciesMs, 99) },
  population: { customers: gen.model.customers.length, merchants: gen.model.merchants.length },
  fraud: { events: truth.length, by_pattern: fraudByPattern, truth_file: truthPath },
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(stats.unexpected === 0 && stats.networkErrors === 0 ? 0 : 1);

/** A short code for a failed request: fetch wraps the socket error (sometimes an AggregateError of several). */
function networkErrorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
  return cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message;
}
