/**
 * The edge benchmarks' shared load: the ~1 KiB signed Stripe event every tool sends, and one closed-loop run of wrk or
 * autocannon against it, pinned to a core. Used by bench/edge/index.ts (the issue's ratios) and by
 * bench/edge/server-cpu.ts (CPU per request). Not part of the product.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const AUTOCANNON = join(
  resolve(dirname(fileURLToPath(import.meta.url)), '../..'),
  'node_modules/autocannon/autocannon.js',
);

/** A ~1 KiB Stripe payment_intent.succeeded event, the shape providers send (`created` in Unix seconds). */
export function benchWebhookBody(createdSeconds = Math.floor(Date.now() / 1000)): string {
  const base = {
    id: 'evt_3QbenchA1b2C3d4E5f6G7h8',
    object: 'event',
    api_version: '2024-09-30.acacia',
    created: createdSeconds,
    data: {
      object: {
        id: 'pi_3QbenchA1b2C3d4E5f6G7h8',
        object: 'payment_intent',
        amount: 2000,
        amount_received: 2000,
        currency: 'usd',
        customer: 'cus_QbenchCustomer01',
        payment_method: 'pm_1QbenchPaymentMethod',
        payment_method_types: ['card'],
        status: 'succeeded',
        latest_charge: 'ch_3QbenchA1b2C3d4E5f6G7h8',
        metadata: { merchant_id: 'MERCHANT0001', order_id: 'ord_000123' },
        created: createdSeconds,
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: 'req_benchRequest01', idempotency_key: 'a1b2c3d4-e5f6-4a1b-8c9d-0e1f2a3b4c5d' },
    type: 'payment_intent.succeeded',
  };
  const pad = Math.max(0, 1024 - JSON.stringify(base).length - 20);
  return JSON.stringify({ ...base, data: { object: { ...base.data.object, description: 'x'.repeat(pad) } } });
}

/** The Stripe-Signature header value for `body`, signed now. */
export function stripeSignature(body: string, secret: string, nowSeconds = Math.floor(Date.now() / 1000)): string {
  return `t=${nowSeconds},v1=${createHmac('sha256', secret).update(`${nowSeconds}.${body}`).digest('hex')}`;
}

export type LoadGeneratorName = 'wrk' | 'autocannon';

export interface ClosedLoad {
  readonly generator: LoadGeneratorName;
  readonly url: string;
  readonly body: string;
  readonly signature: string;
  readonly connections: number;
  readonly durationS: number;
  /** The core the generator is pinned to (`taskset -c`). */
  readonly core: string;
}

export interface ClosedLoadResult {
  /** Answers with a 2xx status (the only ones that count as throughput). */
  readonly ok: number;
  readonly durationS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly non2xx: number;
  /** Connect, read and write errors and timeouts. */
  readonly errors: number;
}

/** Runs `taskset <args>` and resolves with its stdout; rejects with its stderr when it exits non-zero. */
export function runTaskset(args: string[], what: string): Promise<string> {
  return new Promise<string>((res, rej) => {
    const p = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let so = '';
    let se = '';
    p.stdout.on('data', (d) => {
      so += d;
    });
    p.stderr.on('data', (d) => {
      se += d;
    });
    p.once('exit', (code) => (code === 0 ? res(so) : rej(new Error(`${what} failed (${code}): ${se}`))));
  });
}

/** wrk script: the signed webhook, and a JSON summary on stdout at the end (latencies in µs). */
function wrkScript(body: string, signature: string): string {
  const lua = (v: string) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const file = join(tmpdir(), `edge-bench-${process.pid}-${Date.now()}.lua`);
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = ${lua(body)}`,
      'wrk.headers["content-type"] = "application/json"',
      `wrk.headers["stripe-signature"] = ${lua(signature)}`,
      'function done(summary, latency, requests)',
      '  local e = summary.errors',
      '  io.write(string.format(\'{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n\',',
      '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,',
      '    latency:percentile(50), latency:percentile(99)))',
      'end',
    ].join('\n'),
  );
  return file;
}

/** One closed-loop run: `connections` connections, each sending the next request when its answer arrives. */
export async function closedLoad(o: ClosedLoad): Promise<ClosedLoadResult> {
  if (o.generator === 'wrk') {
    const script = wrkScript(o.body, o.signature);
    try {
      const out = await runTaskset(
        [
          '-c',
          o.core,
          'wrk',
          '-t1',
          `-c${o.connections}`,
          `-d${o.durationS}s`,
          '--timeout',
          '10s',
          '-s',
          script,
          o.url,
        ],
        'wrk',
      );
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{'));
      if (!line) throw new Error(`wrk printed no summary: ${out}`);
      const r = JSON.parse(line) as Record<string, number>;
      const n = (k: string) => r[k] ?? 0;
      // wrk counts every completed response in `requests` and answers >= 400 in `status`
      return {
        ok: n('requests') - n('status'),
        durationS: n('duration_us') / 1e6,
        p50Ms: n('p50_us') / 1000,
        p99Ms: n('p99_us') / 1000,
        non2xx: n('status'),
        errors: n('connect') + n('read') + n('write') + n('timeout'),
      };
    } finally {
      rmSync(script, { force: true });
    }
  }
  const out = await runTaskset(
    [
      '-c',
      o.core,
      process.execPath,
      AUTOCANNON,
      '-j',
      '-c',
      String(o.connections),
      '-d',
      String(o.durationS),
      '-m',
      'POST',
      '-H',
      'content-type=application/json',
      '-H',
      `stripe-signature=${o.signature}`,
      '-b',
      o.body,
      o.url,
    ],
    'autocannon',
  );
  const r = JSON.parse(out) as {
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
    '2xx': number;
    duration: number;
  };
  return {
    ok: r['2xx'],
    durationS: r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}
