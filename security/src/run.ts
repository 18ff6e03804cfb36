/**
 * One fuzz run against a running Platform (issue 13's probe, as a repeatable check): sends validly signed hostile
 * bodies, waits until the platform has drained them, then counts crashes, 5xx answers, lost records (every answered
 * request must be in exactly the place its answer promises, every raw record must have its outputs, every DLQ record
 * its quarantine row and review, every normalized event its row) and leaks (planted card numbers and signatures in
 * normalized events, DLQ records, rows and logs). Used by the security suite (a small count) and the `security`
 * benchmark (100,000).
 */
import pg from 'pg';
import { type Platform, SERVICES } from './platform.ts';
import {
  findLeaks,
  type Leak,
  logStrings,
  readAll,
  recordStrings,
  rowStrings,
  runRows,
  SignatureMatcher,
} from './scan.ts';
import { type FuzzedRequest, fuzzedRequests, PLANTED_PANS, send } from './traffic.ts';

export interface FuzzReport {
  readonly sent: number;
  readonly statuses: Record<string, number>;
  readonly crashes: readonly string[];
  readonly fiveXx: number;
  /** Answered requests or records not found where they must be (all must be 0). */
  readonly lost: {
    readonly acceptedNotInRawTopics: number;
    readonly refusedNotInWebhooksDlq: number;
    readonly rawWithoutOutput: number;
    readonly dlqWithoutQuarantineRow: number;
    readonly validationDlqWithoutReview: number;
    readonly normalizedWithoutRow: number;
  };
  readonly counts: {
    readonly rawRecords: number;
    readonly otherRecords: number;
    readonly normalized: number;
    readonly validationDlq: number;
    readonly webhooksDlq: number;
    readonly paymentRows: number;
  };
  /**
   * DLQ records by code: `webhooks.dlq` by `reason`, `payments.validation.dlq` by its first validation error's code
   * (a record with several errors counts once, under its first).
   */
  readonly dlqByCode: {
    readonly webhooks: Record<string, number>;
    readonly validation: Record<string, number>;
  };
  readonly leaks: readonly Leak[];
  /**
   * send: sending the fuzz; payments: from the end of sending until every normalized event had its payment row (the
   * payment path drained); drain: until every stage (also DLQs, quarantine rows, reviews) had caught up.
   */
  readonly seconds: { readonly send: number; readonly payments: number; readonly drain: number };
  /** The first requests that got no answer at all, with why. */
  readonly noAnswer: readonly string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `count` fuzzed requests with `concurrency` in flight; returns each request's answer by request id. */
export async function sendFuzz(
  platform: Platform,
  opts: {
    seed: number;
    count: number;
    concurrency: number;
    /** Stop sending at this time (epoch ms) even if fewer than `count` were sent (a bounded run on a busy machine). */
    sendUntilMs?: number;
    onProgress?: (done: number) => void;
  },
) {
  const answers = new Map<string, { status: number; req: FuzzedRequest }>();
  const signatures = new Set<string>();
  const noAnswer: string[] = [];
  const gen = fuzzedRequests(opts.seed, opts.count);
  let n = 0;
  const worker = async () => {
    for (;;) {
      if (opts.sendUntilMs !== undefined && Date.now() >= opts.sendUntilMs) return;
      const it = gen.next();
      if (it.done) return;
      const req = it.value;
      const id = `${platform.tag}-f${n++}`;
      for (const s of req.signatures) signatures.add(s);
      let status: number;
      try {
        status = (await send(platform.edgeUrl, req, id)).status;
      } catch (err) {
        status = 0; // no answer at all (connection refused or reset): counted apart from 5xx
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        if (noAnswer.length < 10)
          noAnswer.push(
            `${id} ${req.provider}: ${(err as Error).message} ${cause?.code ?? ''} ${cause?.message ?? ''}`,
          );
      }
      answers.set(id, { status, req });
      if (answers.size % 1000 === 0) opts.onProgress?.(answers.size);
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { answers, signatures: [...signatures], noAnswer };
}

/** Waits until the platform's outputs stop growing and every stage has caught up (or the deadline passes). */
async function drained(platform: Platform, pool: pg.Pool, expectRaw: number, deadlineMs: number): Promise<void> {
  const kafka = platform.kafka('security-drain');
  const admin = kafka.admin();
  await admin.connect();
  const ends = async (topics: readonly string[]) => {
    let n = 0;
    for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) n += Number(p.high) - Number(p.low);
    return n;
  };
  let last = '';
  let stableSince = Date.now();
  try {
    while (Date.now() < deadlineMs) {
      const raw = await ends(platform.topics.raw);
      const dlq = await ends([platform.topics.validationDlq, platform.topics.webhooksDlq]);
      const q = await pool.query<{ n: number }>(
        'SELECT (SELECT count(*) FROM webhook_quarantine WHERE kafka_topic = $1) + (SELECT count(*) FROM validation_quarantine WHERE kafka_topic = $2) AS n',
        [platform.topics.webhooksDlq, platform.topics.validationDlq],
      );
      const state = `${raw}/${await ends([platform.topics.normalized])}/${dlq}/${q.rows[0]?.n}`;
      if (state !== last) {
        last = state;
        stableSince = Date.now();
      } else if (raw >= expectRaw && Date.now() - stableSince > 15_000) return;
      await sleep(1000);
    }
  } finally {
    await admin.disconnect();
  }
}

/** Sends the fuzz, waits for the platform to drain, and reconciles and scans everything the run left behind. */
export async function runFuzz(
  platform: Platform,
  opts: {
    seed: number;
    count: number;
    concurrency: number;
    sendUntilMs?: number;
    drainTimeoutMs?: number;
    log?: (m: string) => void;
  },
): Promise<FuzzReport> {
  const log = opts.log ?? (() => undefined);
  const pool = new pg.Pool({ connectionString: platform.addr.databaseUrl, max: 2 });
  try {
    const t0 = Date.now();
    const { answers, signatures, noAnswer } = await sendFuzz(platform, {
      ...opts,
      onProgress: (n) => log(`fuzz: ${n}/${opts.count} sent`),
    });
    const sendSeconds = (Date.now() - t0) / 1000;
    const statuses: Record<string, number> = {};
    for (const a of answers.values()) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    const accepted = [...answers].filter(([, a]) => a.status === 200).map(([id]) => id);
    const refused = [...answers].filter(([, a]) => a.status === 400 || a.status === 401).map(([id]) => id);
    log(`fuzz: sent in ${sendSeconds.toFixed(0)} s: ${JSON.stringify(statuses)}; waiting for the platform to drain`);

    const t1 = Date.now();
    await drained(platform, pool, 0, Date.now() + (opts.drainTimeoutMs ?? 600_000));
    const out = await readOutputs(platform);
    const { rows, paymentsSeconds } = await waitForRows(platform, pool, out, t1, opts.drainTimeoutMs ?? 600_000, log);
    const drainSeconds = (Date.now() - t1) / 1000;
    const lost = lostCounts(out, rows, accepted, refused);
    const leaks = scanLeaks(platform, out, rows, signatures);
    const { normalized, validationDlq, webhooksDlq, raw, other } = out;
    return {
      sent: answers.size,
      statuses,
      crashes: platform.crashes().map((c) => `${c.name} (${c.signal ?? `exit ${c.code}`})`),
      fiveXx: [...answers.values()].filter((a) => a.status >= 500).length,
      lost,
      counts: {
        rawRecords: raw.length,
        otherRecords: other.length,
        normalized: normalized.length,
        validationDlq: validationDlq.length,
        webhooksDlq: webhooksDlq.length,
        paymentRows: rows.payments.length,
      },
      dlqByCode: {
        webhooks: countBy(webhooksDlq, (v) => (v as { reason?: string }).reason),
        validation: countBy(
          validationDlq,
          (v) => (v as { validation_errors?: { code?: string }[] }).validation_errors?.[0]?.code,
        ),
      },
      leaks,
      seconds: { send: sendSeconds, payments: paymentsSeconds, drain: drainSeconds },
      noAnswer,
    };
  } finally {
    await pool.end();
  }
}

type Outputs = Record<
  'raw' | 'other' | 'normalized' | 'validationDlq' | 'webhooksDlq',
  Awaited<ReturnType<typeof readAll>>
> & {
  /** The distinct event ids of the normalized records. */
  readonly eventIds: readonly string[];
};
type Rows = Awaited<ReturnType<typeof runRows>>;

/** Every record the run left in the platform's topics. */
async function readOutputs(platform: Platform): Promise<Outputs> {
  const kafka = platform.kafka('security-scan');
  const normalized = await readAll(kafka, [platform.topics.normalized]);
  return {
    raw: await readAll(kafka, platform.topics.raw),
    other: await readAll(kafka, platform.topics.other),
    normalized,
    validationDlq: await readAll(kafka, [platform.topics.validationDlq]),
    webhooksDlq: await readAll(kafka, [platform.topics.webhooksDlq]),
    eventIds: [...new Set(normalized.map((r) => (JSON.parse(r.value) as { event_id: string }).event_id))],
  };
}

/**
 * Rows and review registrations trail the topics (workflows, paced review groups): waits until every distinct
 * normalized event id has its row and every validation-DLQ record its review, or the deadline. `paymentsSeconds`
 * is when the payment rows were all there, counted from `t1` (NaN if never).
 */
async function waitForRows(
  platform: Platform,
  pool: pg.Pool,
  out: Outputs,
  t1: number,
  timeoutMs: number,
  log: (m: string) => void,
): Promise<{ rows: Rows; paymentsSeconds: number }> {
  const { eventIds } = out;
  const complete = (r: Rows) => {
    const reviewedOffsets = new Set(r.reviews.map((q) => String(q.dlq_offset)));
    return r.payments.length >= eventIds.length && out.validationDlq.every((v) => reviewedOffsets.has(v.offset));
  };
  let rows = await runRows(pool, { eventIds, ...dlqTopics(platform) });
  let paymentsSeconds = Number.NaN;
  const paymentsDone = () => {
    if (Number.isNaN(paymentsSeconds) && rows.payments.length >= eventIds.length)
      paymentsSeconds = (Date.now() - t1) / 1000;
  };
  paymentsDone();
  const deadline = Date.now() + timeoutMs;
  while (!complete(rows) && Date.now() < deadline) {
    await sleep(1000);
    rows = await runRows(pool, { eventIds, ...dlqTopics(platform) });
    paymentsDone();
    log(`fuzz: ${rows.payments.length}/${eventIds.length} payment rows, ${rows.reviews.length} reviews`);
  }
  return { rows, paymentsSeconds };
}

/** What went missing between each stage and the next: every count must be 0. */
function lostCounts(out: Outputs, rows: Rows, accepted: string[], refused: string[]): FuzzReport['lost'] {
  const inTopics = new Set([...out.raw, ...out.other].map((r) => r.headers['request-id']));
  const inDlq = new Set(out.webhooksDlq.map((r) => (JSON.parse(r.value) as { request_id: string }).request_id));
  const outputs = new Set(
    [...out.normalized, ...out.validationDlq].map(
      (r) => `${r.headers['source-topic']}/${r.headers['source-partition']}/${r.headers['source-offset']}`,
    ),
  );
  const quarantined = new Set(
    [...rows.webhook, ...rows.validation].map((q) => `${q.kafka_topic}/${q.kafka_partition}/${q.kafka_offset}`),
  );
  const reviewed = new Set(rows.reviews.map((q) => String(q.dlq_offset)));
  const stored = new Set(rows.payments.map((p) => p.event_id as string));
  return {
    acceptedNotInRawTopics: accepted.filter((id) => !inTopics.has(id)).length,
    refusedNotInWebhooksDlq: refused.filter((id) => !inDlq.has(id)).length,
    rawWithoutOutput: out.raw.filter((r) => !outputs.has(`${r.topic}/${r.partition}/${r.offset}`)).length,
    dlqWithoutQuarantineRow: [...out.validationDlq, ...out.webhooksDlq].filter(
      (r) => !quarantined.has(`${r.topic}/${r.partition}/${r.offset}`),
    ).length,
    validationDlqWithoutReview: out.validationDlq.filter((r) => !reviewed.has(r.offset)).length,
    normalizedWithoutRow: out.eventIds.filter((id) => !stored.has(id)).length,
  };
}

/** Planted card numbers and the run's signatures, looked for in every topic, table and service log. */
function scanLeaks(platform: Platform, out: Outputs, rows: Rows, sent: readonly string[]): Leak[] {
  const pans = [...PLANTED_PANS];
  const signatures = new SignatureMatcher(sent);
  return [
    ...findLeaks('payments.normalized', recordStrings(out.normalized), pans, signatures),
    ...findLeaks('payments.validation.dlq', recordStrings(out.validationDlq), pans, signatures),
    ...findLeaks('webhooks.dlq', recordStrings(out.webhooksDlq), pans, signatures),
    ...findLeaks('payment_events', rowStrings(rows.payments), pans, signatures),
    ...findLeaks('webhook_quarantine', rowStrings(rows.webhook), pans, signatures),
    ...findLeaks('validation_quarantine', rowStrings(rows.validation), pans, signatures),
    ...findLeaks('quarantine_reviews', rowStrings(rows.reviews), pans, signatures),
    ...SERVICES.filter((s) => s !== 'inference').flatMap((s) =>
      findLeaks(`${s} log`, logStrings(platform.log(s)), pans, signatures),
    ),
  ];
}

/** Counts records by a field of their JSON value (`unparseable` when the value is not JSON, `none` without it). */
function countBy(
  records: readonly { value: string }[],
  key: (v: unknown) => string | undefined,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) {
    let k: string;
    try {
      k = key(JSON.parse(r.value)) ?? 'none';
    } catch {
      k = 'unparseable';
    }
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

const dlqTopics = (platform: Platform) => ({
  webhooksDlq: platform.topics.webhooksDlq,
  validationDlq: platform.topics.validationDlq,
});
