/**
 * Benchmark target `security` (issue 13), against the whole platform as real processes (@pep/security/platform: the
 * edge on Bun, transformer, quarantine consumer, bridge, Temporal worker, inference, on private topics and queues):
 *
 * 1. Isolation: valid Stripe payments at a steady rate through the edge, first alone (quiet arm), then with a flood of
 *    validly signed invalid events (an unknown currency: each one a validation-DLQ record, a quarantine row and a
 *    review registration) at 10,000 a minute beside them (flood arm), one run each, in the same run. Latency of a
 *    payment: the edge's `received_at` to the row's `persisted_at` (both stamped on this machine). Ratio
 *    `payment_p99_during_flood_vs_quiet` (goal <= 2).
 * 2. Fuzz: `runFuzz` (the security suite's check) with 100,000 validly signed mutated bodies (quick: 1,000): crashes,
 *    5xx, requests without an answer, lost records and leaks, all must be 0 (reported as metrics; the target fails
 *    when one is not).
 */
import { randomBytes } from 'node:crypto';
import { Platform } from '@pep/security/platform';
import { runFuzz } from '@pep/security/run';
import { send, signStripe, stripePaymentBody } from '@pep/security/traffic';
import pg from 'pg';
import { percentile, writeResult } from '../src/result.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number) => Math.round(x * 10) / 10;

interface ArmResult {
  readonly sent: number;
  readonly flooded: number;
  readonly latenciesMs: number[];
  readonly missing: number;
}

function stripePayment(tag: string, i: number, currency: string): { id: string; body: Buffer } {
  const id = `evt_${tag}_${i}`;
  return {
    id,
    body: stripePaymentBody(
      id,
      `pi_${tag}_${i}`,
      {},
      { amount: 1000 + (i % 5000), currency, customer: `cus_${i % 200}` },
    ),
  };
}

/**
 * Sends valid payments at `paymentsPerS` for `seconds` (and invalid ones at `floodPerS`), evenly paced; then waits
 * for every payment's row and returns their latencies.
 */
async function arm(
  platform: Platform,
  pool: pg.Pool,
  opts: { name: string; seconds: number; paymentsPerS: number; floodPerS: number },
): Promise<ArmResult> {
  const tag = `${opts.name}${randomBytes(3).toString('hex')}`;
  const ids: string[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const fire = (p: Promise<unknown>) => {
    const q = p.catch(() => undefined).finally(() => inFlight.delete(q));
    inFlight.add(q);
  };
  const t0 = Date.now();
  let payments = 0;
  let flood = 0;
  let statusErrors = 0;
  const post = (id: string, body: Buffer) =>
    send(
      platform.edgeUrl,
      { provider: 'stripe', path: '/webhooks/stripe', headers: signStripe(body), body, label: id },
      id,
    ).then((r) => {
      if (r.status !== 200) statusErrors++;
    });
  while (Date.now() - t0 < opts.seconds * 1000) {
    const elapsed = (Date.now() - t0) / 1000;
    while (payments < elapsed * opts.paymentsPerS) {
      const { id, body } = stripePayment(tag, payments++, 'usd');
      ids.push(id);
      fire(post(id, body));
    }
    while (flood < elapsed * opts.floodPerS && inFlight.size < 256) {
      const { id, body } = stripePayment(`${tag}x`, flood++, 'xyz');
      fire(post(id, body));
    }
    await sleep(5);
  }
  await Promise.all(inFlight);
  if (statusErrors > 0) throw new Error(`${opts.name}: ${statusErrors} requests not answered 200`);
  const eventIds = ids.map((id) => `stripe:${id}`);
  const deadline = Date.now() + 600_000;
  let rows: { ms: number }[] = [];
  while (Date.now() < deadline) {
    rows = (
      await pool.query<{ ms: number }>(
        'SELECT EXTRACT(EPOCH FROM (persisted_at - received_at)) * 1000 AS ms FROM payment_events WHERE event_id = ANY($1)',
        [eventIds],
      )
    ).rows;
    if (rows.length >= eventIds.length) break;
    await sleep(1000);
  }
  return {
    sent: payments,
    flooded: flood,
    latenciesMs: rows.map((r) => Number(r.ms)),
    missing: eventIds.length - rows.length,
  };
}

export async function run(opts: { quick: boolean }): Promise<void> {
  const platform = new Platform({
    // One source sends everything here: the per-source limit of refused requests has its own tests (edge).
    env: { edge: { EDGE_REJECT_RATE_PER_S: '0', EDGE_REFUSAL_LOG_PER_S: '20' } },
  });
  const pool = new pg.Pool({ connectionString: platform.addr.databaseUrl, max: 2 });
  const log = (m: string) => console.log(`bench security: ${m}`);
  try {
    log('starting the platform');
    await platform.start();
    const seconds = opts.quick ? 10 : 60;
    const paymentsPerS = 10;
    const floodPerS = 10_000 / 60;
    // Warm-up (not measured): the first workflows after a start pay for worker caches and the bridge's budget ramp;
    // without it the quiet arm, which runs first, would be the slow one.
    log('warm-up: 5 s of payments, not measured');
    await arm(platform, pool, { name: 'warm', seconds: 5, paymentsPerS, floodPerS: 0 });
    log(`quiet arm: ${paymentsPerS} payments/s for ${seconds} s`);
    const quiet = await arm(platform, pool, { name: 'quiet', seconds, paymentsPerS, floodPerS: 0 });
    log(`flood arm: ${paymentsPerS} payments/s + ${round(floodPerS)} invalid events/s for ${seconds} s`);
    const flood = await arm(platform, pool, { name: 'flood', seconds, paymentsPerS, floodPerS });
    const p = (a: ArmResult, q: number) => round(percentile(a.latenciesMs, q));
    for (const [name, a] of [
      ['quiet', quiet],
      ['flood', flood],
    ] as const)
      log(
        `${name}: ${a.sent} payments (${a.flooded} invalid beside them), ${a.missing} without a row; p50 ${p(a, 50)} ms, p99 ${p(a, 99)} ms`,
      );

    const count = opts.quick ? 1000 : 100_000;
    log(`fuzz: ${count} validly signed mutated bodies`);
    const fuzz = await runFuzz(platform, {
      seed: 13,
      count,
      concurrency: 16,
      drainTimeoutMs: opts.quick ? 300_000 : 3_600_000,
      log,
    });
    const lost = Object.values(fuzz.lost).reduce((a, b) => a + b, 0);
    const noAnswer = fuzz.statuses['0'] ?? 0;
    log(
      `fuzz: ${JSON.stringify(fuzz.statuses)}, crashes ${fuzz.crashes.length}, 5xx ${fuzz.fiveXx}, lost ${JSON.stringify(fuzz.lost)}, leaks ${fuzz.leaks.length}`,
    );
    writeResult(
      'security',
      [
        { name: 'payment_p50_quiet_ms', unit: 'ms', value: p(quiet, 50) },
        { name: 'payment_p99_quiet_ms', unit: 'ms', value: p(quiet, 99) },
        { name: 'payment_p50_during_flood_ms', unit: 'ms', value: p(flood, 50) },
        { name: 'payment_p99_during_flood_ms', unit: 'ms', value: p(flood, 99) },
        { name: 'payments_per_arm', unit: 'events', value: quiet.sent },
        { name: 'flood_invalid_events', unit: 'events', value: flood.flooded },
        // What the machine let the generator offer (the goal is 10,000 a minute; a loaded box offers less).
        {
          name: 'flood_invalid_per_min_offered',
          unit: 'events/min',
          value: Math.round((flood.flooded / seconds) * 60),
        },
        { name: 'payments_without_row', unit: 'events', value: quiet.missing + flood.missing },
        { name: 'fuzz_bodies', unit: 'requests', value: fuzz.sent },
        { name: 'fuzz_crashes', unit: 'processes', value: fuzz.crashes.length },
        { name: 'fuzz_5xx', unit: 'requests', value: fuzz.fiveXx },
        { name: 'fuzz_no_answer', unit: 'requests', value: noAnswer },
        { name: 'fuzz_lost_records', unit: 'records', value: lost },
        { name: 'fuzz_leaks', unit: 'findings', value: fuzz.leaks.length },
        { name: 'fuzz_send_s', unit: 's', value: round(fuzz.seconds.send) },
        { name: 'fuzz_drain_s', unit: 's', value: round(fuzz.seconds.drain) },
      ],
      [
        {
          name: 'payment_p99_during_flood_vs_quiet',
          value: Math.round((p(flood, 99) / Math.max(1, p(quiet, 99))) * 100) / 100,
          goal: 2,
          lowerIsBetter: true,
        },
      ],
    );
    const bad = [
      quiet.missing + flood.missing > 0 ? 'payments without a row' : '',
      fuzz.crashes.length > 0 ? `crashes: ${fuzz.crashes.join(', ')}` : '',
      fuzz.fiveXx > 0 ? `${fuzz.fiveXx} 5xx` : '',
      noAnswer > 0 ? `${noAnswer} requests without an answer: ${fuzz.noAnswer.join('; ')}` : '',
      lost > 0 ? `lost ${JSON.stringify(fuzz.lost)}` : '',
      fuzz.leaks.length > 0 ? `leaks: ${JSON.stringify(fuzz.leaks.slice(0, 3))}` : '',
    ].filter((x) => x !== '');
    if (bad.length > 0) throw new Error(`bench security: ${bad.join('; ')}`);
  } finally {
    await pool.end();
    await platform.stop();
    await platform.deleteTopics();
  }
}
