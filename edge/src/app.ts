/**
 * The edge's HTTP surface (CONTRACT section 3) as a Hono app, runtime-neutral: the same app is served by Bun.serve
 * and by @hono/node-server. A webhook is answered 200 only after its record is acknowledged by the sink
 * (Kafka acks=all); 400/401 answers also send a DLQ record (fire-and-forget, low priority, counted when dropped).
 */

import { DLQ_REASONS, PROVIDERS, type Provider, RAW_HEADERS, REDACTED, TOPICS, webhookDlqRecord } from '@pep/contracts';
import type { Logger } from '@pep/contracts/log';
import { maskCards } from '@pep/contracts/redact';
import { Hono } from 'hono';
import { SourceLimiter } from './abuse.ts';
import type { EdgeConfig } from './config.ts';
import type { EdgeMetrics, HistogramSeries } from './metrics.ts';
import { type GroupCommitProducer, OverloadedError, ShuttingDownError } from './producer.ts';
import { checkAdyen } from './providers/adyen.ts';
import { braintreeChallengeAnswer, checkBraintree } from './providers/braintree.ts';
import { checkSquare } from './providers/square.ts';
import { checkStripe } from './providers/stripe.ts';
import { type HeaderLookup, isOtherTopic, type Rejected, type Verdict } from './providers/verdict.ts';
import type { OutRecord } from './sink.ts';

export interface AppDeps {
  readonly config: EdgeConfig;
  readonly producer: GroupCommitProducer;
  readonly metrics: EdgeMetrics;
  readonly log: Logger;
  /** True when the sink can take writes; called by /readyz. */
  readonly ready: () => Promise<boolean>;
  /** Current Unix time in seconds (injectable for tests of the Stripe tolerance). */
  readonly nowSeconds?: () => number;
  /** Current time in milliseconds for the log rate limiters' one-second windows (injectable for their tests). */
  readonly nowMs?: () => number;
  /**
   * Header holding the client's address, set by the edge's own pipelining guard in front of Bun.serve (which then sees
   * a unix socket); read only when given, so a client cannot choose its own source.
   */
  readonly peerHeader?: string;
}

export const ERROR_CODES = {
  ...DLQ_REASONS,
  bodyTooLarge: 'body_too_large',
  overloaded: 'overloaded',
  kafkaUnavailable: 'kafka_unavailable',
  shuttingDown: 'shutting_down',
  notFound: 'not_found',
  invalidChallenge: 'invalid_challenge',
  internal: 'internal_error',
  rateLimited: 'rate_limited',
  bodyUnreadable: 'body_unreadable',
} as const;

/** Headers whose values never go into a DLQ record. */
const SENSITIVE_HEADERS = new Set([
  'stripe-signature',
  'hmacsignature',
  'x-square-hmacsha256-signature',
  'x-square-signature',
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-api-key',
]);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_DLQ_HEADER_CHARS = 8192;

const json = (status: number, body: unknown, extra: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...extra } });
const PROVIDER_PATH = '/webhooks/';
/** Error bodies never carry a card number, whatever part of the request a message quotes (e.g. a JSON parse error). */
export const errorResponse = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
  json(status, { error: { code, message: maskCards(message) } }, extra);

// Request.bytes() hands back the body as a Uint8Array directly: no ArrayBuffer wrapper per request. Bun only: on Node,
// @hono/node-server passes its own lightweight Request whose inherited bytes() throws (it has no internal body state).
type BytesRequest = Request & { bytes(): Promise<Uint8Array> };
const hasBytes =
  (globalThis as { Bun?: unknown }).Bun !== undefined &&
  typeof (Request.prototype as { bytes?: unknown }).bytes === 'function';

/**
 * Reads the body without going past maxBytes (null when it is over): a declared Content-Length over the limit is
 * refused unread, a body without one is read as a stream and dropped as soon as it passes the limit. Not an async
 * function: the usual case (a declared length within the limit) hands back the runtime's own promise, with no extra
 * async frame per request. The caller checks the length of what was read (HTTP framing makes it the declared one).
 */
function readBody(req: Request, declaredBytes: number, maxBytes: number): Promise<Uint8Array | null> | null {
  if (Number.isFinite(declaredBytes)) {
    if (declaredBytes > maxBytes) return null;
    return hasBytes ? (req as BytesRequest).bytes() : req.arrayBuffer().then((ab) => new Uint8Array(ab));
  }
  return readStream(req, maxBytes);
}

/** A body without Content-Length, read chunk by chunk and cancelled as soon as it passes maxBytes (null then). */
async function readStream(req: Request, maxBytes: number): Promise<Uint8Array | null> {
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * A 200 answer with its content-type and x-request-id set on the Response's own headers: on Bun that is cheaper than
 * an init object (0.31 against 0.46 µs per Response in a microbenchmark, each shape in its own process, 3 runs each).
 */
function accepted200(text: string, contentType: string, requestId: string): Response {
  const res = new Response(text);
  const headers = res.headers;
  headers.set('content-type', contentType);
  headers.set('x-request-id', requestId);
  return res;
}

function redactedHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  let chars = 0;
  headers.forEach((value, name) => {
    const v = SENSITIVE_HEADERS.has(name) ? REDACTED : maskCards(value);
    chars += name.length + v.length;
    if (chars <= MAX_DLQ_HEADER_CHARS) out[name] = v;
  });
  return out;
}

/** The Kafka headers of a raw record (names in contracts RAW_HEADERS), built without spreads on the hot path. */
function rawHeaders(
  provider: Provider,
  receivedAt: string,
  requestId: string,
  req: Request,
  eventId: string,
  eventType: string,
): Record<string, string> {
  const h: Record<string, string> = {
    [RAW_HEADERS.receivedAt]: receivedAt,
    [RAW_HEADERS.requestId]: requestId,
    [RAW_HEADERS.provider]: provider,
    [RAW_HEADERS.contentType]: req.headers.get('content-type') ?? '',
    [RAW_HEADERS.eventId]: eventId,
    [RAW_HEADERS.eventType]: eventType,
  };
  if (provider === 'braintree') h[RAW_HEADERS.bodyEncoding] = 'form';
  return h;
}

/**
 * The Hono app plus its webhook handler, so Bun.serve can route `POST /webhooks/<provider>` to it natively (server.ts)
 * while everything else, and every request on Node, goes through `fetch`.
 */
export type EdgeApp = Hono & {
  /** `source`: the client's address (the refusal limiter's key); `x-forwarded-for`-style headers are read per config. */
  readonly handleWebhook: (provider: Provider, req: Request, source?: string) => Promise<Response>;
};

/** The provider's verdict on a request: signature, timestamp, body shape, and where an accepted event goes. */
function verdictFor(
  config: EdgeConfig,
  nowSeconds: () => number,
  provider: Provider,
  headers: HeaderLookup,
  body: Uint8Array,
): Verdict {
  switch (provider) {
    case 'stripe':
      return checkStripe(headers, body, config.stripe, nowSeconds());
    case 'square':
      return checkSquare(headers, body, config.square);
    case 'adyen':
      return checkAdyen(body, { hmacKeys: config.adyen.hmacKeys, maxItems: config.limits.maxAdyenItems }, headers);
    case 'braintree':
      return checkBraintree(headers.get('content-type'), body, config.braintree);
  }
}

/** What identifies one webhook request in its answer, its log lines and its records. */
interface RequestContext {
  readonly provider: Provider;
  readonly started: number;
  readonly requestId: string;
  readonly receivedAt: string;
}

/** The `webhooks.dlq` record of a refused request (the builder redacts body, message and ids; the key is masked too). */
function dlqOutRecord(
  topic: string,
  ctx: RequestContext,
  req: Request,
  body: Uint8Array,
  verdict: Rejected,
): OutRecord {
  const rec = webhookDlqRecord({
    provider: ctx.provider,
    reason: verdict.code,
    message: verdict.message,
    httpStatus: verdict.status,
    headers: redactedHeaders(req.headers),
    body,
    eventId: verdict.eventId,
    requestId: ctx.requestId,
    receivedAt: ctx.receivedAt,
  });
  return {
    topic,
    key: verdict.eventId === null ? null : maskCards(verdict.eventId),
    value: Buffer.from(JSON.stringify(rec)),
    headers: {
      [RAW_HEADERS.receivedAt]: ctx.receivedAt,
      [RAW_HEADERS.requestId]: ctx.requestId,
      [RAW_HEADERS.provider]: ctx.provider,
      [RAW_HEADERS.dlqReason]: verdict.code,
    },
  };
}

/** The refusal limiter's key: the last hop of the configured forwarding header, else the TCP peer. */
function sourceOf(sourceHeader: string | null, req: Request, peer: string | undefined): string {
  if (sourceHeader !== null) {
    const v = req.headers.get(sourceHeader);
    if (v) {
      const last = v.slice(v.lastIndexOf(',') + 1).trim();
      if (last) return last.slice(0, 64);
    }
  }
  return peer ?? 'unknown';
}

/** received-at has millisecond resolution: requests within the same millisecond share one ISO string. */
function isoClock(): () => string {
  let isoMs = 0;
  let isoText = '';
  return () => {
    const ms = Date.now();
    if (ms !== isoMs) {
      isoMs = ms;
      isoText = new Date(ms).toISOString();
    }
    return isoText;
  };
}

// Answers after which the rest of the request is not read: the connection closes instead of being drained (an
// endless chunked body was read and discarded for as long as the client sent it).
const CLOSE = { connection: 'close' };

/**
 * How webhook answers are counted, timed and logged: hot-path metric series cached per provider and status instead
 * of looked up by labels on every request, the error answers, and the rate-limited refusal and error log lines.
 */
class Answers {
  private readonly durationSeries: Record<Provider, HistogramSeries>;
  private readonly otherSeries: Record<Provider, { value: number }>;
  private readonly requestSeries: Record<Provider, Map<number, { value: number }>>;
  private readonly refusalLog: LogRateLimiter;
  private readonly errorLog: LogRateLimiter;
  private readonly retryAfterText: string;

  constructor(
    private readonly metrics: EdgeMetrics,
    private readonly log: Logger,
    limits: EdgeConfig['limits'],
    nowMs: () => number = Date.now,
  ) {
    this.retryAfterText = String(limits.retryAfterSeconds);
    this.durationSeries = Object.fromEntries(
      PROVIDERS.map((p) => [p, metrics.requestDuration.series({ provider: p })]),
    ) as Record<Provider, HistogramSeries>;
    this.otherSeries = Object.fromEntries(
      PROVIDERS.map((p) => [p, metrics.otherRecords.series({ provider: p })]),
    ) as Record<Provider, { value: number }>;
    this.requestSeries = Object.fromEntries(PROVIDERS.map((p) => [p, new Map()])) as Record<
      Provider,
      Map<number, { value: number }>
    >;
    // Per-request refusal log lines (400/401/413/503, failed DLQ writes) are rate-limited: a flood of forged requests
    // (or an outage answering every request 503) must not flood the log; the lines held back are counted.
    this.refusalLog = new LogRateLimiter(
      limits.refusalLogPerSecond,
      (suppressed) => log.warn('refusal log lines suppressed', { suppressed, per_second: limits.refusalLogPerSecond }),
      nowMs,
    );
    // Unexpected errors are logged at most refusalLogPerSecond a second too (a flood of one failure is one summary
    // line a second, the rest counted in edge_error_log_suppressed_total).
    const errorsPerSecond = Math.max(1, limits.refusalLogPerSecond);
    this.errorLog = new LogRateLimiter(
      errorsPerSecond,
      (suppressed) => log.error('error log lines suppressed', { suppressed, per_second: errorsPerSecond }),
      nowMs,
    );
  }

  /** True when a refusal line may be written now (else it is counted as suppressed). */
  mayLogRefusal(): boolean {
    if (this.refusalLog.take()) return true;
    this.metrics.refusalLogSuppressed.inc();
    return false;
  }

  /** Request-scoped log lines are rare (refusals, debug): the child logger is built only when one is written. */
  reqLog(ctx: RequestContext): Logger {
    return this.log.child({ request_id: ctx.requestId, provider: ctx.provider });
  }

  /** A verified event outside the vocabulary was kept on webhooks.<provider>.other. */
  countOther(provider: Provider): void {
    this.otherSeries[provider].value++;
  }

  /** Counts and times an answer (every webhook answer goes through here). */
  finish(ctx: RequestContext, status: number, res: Response): Response {
    const byStatus = this.requestSeries[ctx.provider];
    let series = byStatus.get(status);
    if (!series) {
      series = this.metrics.requests.series({ provider: ctx.provider, status: String(status) });
      byStatus.set(status, series);
    }
    series.value++;
    this.durationSeries[ctx.provider].observe((performance.now() - ctx.started) / 1000);
    return res;
  }

  /** An error answer; every answer carries x-request-id, set when the Response is built (cheaper than mutating). */
  fail(
    ctx: RequestContext,
    status: number,
    code: string,
    message: string,
    opts: { retryAfter?: boolean; headers?: Record<string, string> } = {},
  ): Response {
    const extra: Record<string, string> = opts.retryAfter
      ? { 'retry-after': this.retryAfterText, 'x-request-id': ctx.requestId }
      : { 'x-request-id': ctx.requestId };
    if (opts.headers) Object.assign(extra, opts.headers);
    return this.finish(ctx, status, errorResponse(status, code, message, extra));
  }

  /** 500 for anything unexpected (logged, bounded; the answer says nothing more). */
  readonly internalError = (err: unknown): Response => {
    if (this.errorLog.take()) this.log.error('unhandled error', { error: err });
    else this.metrics.errorLogSuppressed.inc();
    return errorResponse(500, ERROR_CODES.internal, 'internal error');
  };
}

/** 400 for a body that could not be read: the client went away, sent a malformed chunked body or stalled. */
function bodyUnreadable(answers: Answers, ctx: RequestContext, err: Error): Response {
  // Its fault, not an internal error: logged within the refusal limit (each used to be an error line).
  if (answers.mayLogRefusal()) answers.reqLog(ctx).info('webhook body unreadable', { error: err.message });
  return answers.fail(ctx, 400, ERROR_CODES.bodyUnreadable, 'the request body could not be read', { headers: CLOSE });
}

/** 413 for a body over the limit (refused unread when its declared length says so). */
function bodyTooLarge(answers: Answers, ctx: RequestContext, maxBodyBytes: number): Response {
  if (answers.mayLogRefusal())
    answers.reqLog(ctx).info('webhook refused: body over limit', { max_body_bytes: maxBodyBytes });
  return answers.fail(ctx, 413, ERROR_CODES.bodyTooLarge, `body exceeds ${maxBodyBytes} bytes`, { headers: CLOSE });
}

/** 503 for a record the producer did not take or Kafka did not acknowledge. */
function notStored(answers: Answers, ctx: RequestContext, eventId: string, err: Error): Response {
  let code: string;
  let message: string;
  if (err instanceof OverloadedError) {
    code = ERROR_CODES.overloaded;
    message = 'the edge is at its in-flight bound; retry later';
    if (answers.mayLogRefusal())
      answers.reqLog(ctx).warn('webhook refused: in-flight bound reached', { event_id: eventId });
  } else if (err instanceof ShuttingDownError) {
    code = ERROR_CODES.shuttingDown;
    message = 'the edge is shutting down; retry later';
  } else {
    code = ERROR_CODES.kafkaUnavailable;
    message = 'the event could not be stored; retry later';
    if (answers.mayLogRefusal())
      answers.reqLog(ctx).warn('webhook not acknowledged: write failed', { event_id: eventId, error: err.message });
  }
  return answers.fail(ctx, 503, code, message, { retryAfter: true });
}

/** The 200 answer of a stored event (Adyen wants `[accepted]`; the others a small JSON body). */
function acceptedAnswer(ctx: RequestContext, eventId: string, other: boolean): Response {
  if (ctx.provider === 'adyen') return accepted200('[accepted]', 'text/plain', ctx.requestId);
  // The same text JSON.stringify gives for {status, event_id[, routed]}, without building the object.
  const text = other
    ? `{"status":"accepted","event_id":${JSON.stringify(eventId)},"routed":"other"}`
    : `{"status":"accepted","event_id":${JSON.stringify(eventId)}}`;
  return accepted200(text, 'application/json', ctx.requestId);
}

type WebhookHandler = EdgeApp['handleWebhook'];

/** Every route but the fast path: the webhook route through Hono, Braintree's challenge, health, readiness, metrics. */
function installRoutes(
  app: Hono,
  deps: AppDeps,
  handleWebhook: WebhookHandler,
  internalError: Answers['internalError'],
) {
  const { config, producer, metrics } = deps;
  app.post('/webhooks/:provider', (c) => {
    const provider = c.req.param('provider') as Provider;
    if (!PROVIDERS.includes(provider)) return errorResponse(404, ERROR_CODES.notFound, 'unknown provider');
    return handleWebhook(provider, c.req.raw, peerAddress(c.req.raw, c.env));
  });

  app.get('/webhooks/braintree', (c) => {
    const challenge = c.req.query('bt_challenge');
    const answer = challenge ? braintreeChallengeAnswer(challenge, config.braintree.keyPairs) : null;
    if (answer === null)
      return errorResponse(400, ERROR_CODES.invalidChallenge, 'bt_challenge must be 20 to 32 lowercase hex characters');
    return new Response(answer, { status: 200, headers: { 'content-type': 'text/plain' } });
  });

  app.get('/healthz', () => json(200, { status: 'ok' }));
  app.get('/readyz', async () => {
    if (producer.isClosing) return json(503, { status: 'shutting_down' });
    return (await deps.ready())
      ? json(200, { status: 'ready', sink: config.sink })
      : json(503, { status: 'kafka_unreachable' });
  });
  app.get(
    '/metrics',
    () => new Response(metrics.render(), { headers: { 'content-type': 'text/plain; version=0.0.4' } }),
  );

  app.notFound(() => errorResponse(404, ERROR_CODES.notFound, 'no such route'));
  app.onError(internalError);
}

/**
 * Fast path for the hot route: `POST /webhooks/<known provider>[/]` goes straight to the handler, skipping Hono's
 * request wrapper, path parsing and router (about a sixth of the CPU of a request on Bun); everything else, including
 * odd spellings of that path (percent-encoding, extra segments), goes through Hono as before. Installed as the app's
 * own `fetch`, so Bun.serve, @hono/node-server and `app.request` in the tests all take the same path.
 */
function installFastPath(app: Hono, handleWebhook: WebhookHandler): void {
  const honoFetch = app.fetch;
  app.fetch = (request, ...rest) => {
    // HTTP/1.0 without a Host header (HAProxy's default health check, old probes) reaches Bun.serve as a bare
    // path; Hono's router reads paths out of absolute URLs only, and answered such a /readyz 404.
    const req =
      request.url.charCodeAt(0) === 47 /* / */ ? new Request(`http://localhost${request.url}`, request) : request;
    if (req.method === 'POST') {
      const url = req.url;
      const path = url.indexOf('/', url.indexOf('//') + 2);
      if (path > 0 && url.startsWith(PROVIDER_PATH, path)) {
        const query = url.indexOf('?', path);
        let end = query < 0 ? url.length : query;
        if (url.charCodeAt(end - 1) === 47 /* / */) end--;
        const provider = url.slice(path + PROVIDER_PATH.length, end) as Provider;
        if (PROVIDERS.includes(provider)) return handleWebhook(provider, req, peerAddress(req, rest[0]));
      }
    }
    return honoFetch(req, ...rest);
  };
}

export function createApp(deps: AppDeps): EdgeApp {
  const { config, producer, metrics, log } = deps;
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const limits = config.limits;
  const app = new Hono({ strict: false });
  const prefix = config.topicPrefix;
  const topicOf = prefix === '' ? (topic: string) => topic : (topic: string) => prefix + topic;
  const dlqTopic = topicOf(TOPICS.webhooksDlq);
  const answers = new Answers(metrics, log, limits, deps.nowMs);
  // 400/401 answers cost their source a token; a source out of tokens is answered 429 unread (abuse.ts).
  const refusals = new SourceLimiter({
    ratePerS: limits.rejectRatePerS,
    burst: limits.rejectBurst,
    maxSources: limits.rejectMaxSources,
  });
  const nowIso = isoClock();

  /** 400/401: the DLQ record goes out without holding the answer (low priority, counted and logged when dropped). */
  const refuse = (ctx: RequestContext, req: Request, body: Uint8Array, verdict: Rejected, source: string) => {
    refusals.charge(source);
    metrics.dlqRecords.inc({ reason: verdict.code });
    producer.enqueue(dlqOutRecord(dlqTopic, ctx, req, body, verdict), { lowPriority: true }).catch((err: Error) => {
      metrics.dlqWriteFailures.inc();
      if (answers.mayLogRefusal())
        answers.reqLog(ctx).warn('dlq record not written', { reason: verdict.code, error: err.message });
    });
    if (answers.mayLogRefusal()) {
      const fields = { status: verdict.status, reason: verdict.code, event_id: verdict.eventId };
      if (verdict.status === 401) answers.reqLog(ctx).warn('webhook rejected', fields);
      else answers.reqLog(ctx).info('webhook rejected', fields);
    }
    return answers.fail(ctx, verdict.status, verdict.code, verdict.message);
  };

  /**
   * POST /webhooks/:provider (the Hono route and the fast path both end here). The accepted path allocates little
   * beyond the body, the verdict, the record and the Response: the units it calls are built once per app.
   */
  const handleWebhook = async (provider: Provider, req: Request, peer?: string): Promise<Response> => {
    // Errors become the 500 answer here rather than through a .catch() on each request's promise.
    try {
      const incomingId = req.headers.get('x-request-id');
      const ctx: RequestContext = {
        provider,
        started: performance.now(),
        receivedAt: nowIso(),
        requestId: incomingId !== null && REQUEST_ID.test(incomingId) ? incomingId : crypto.randomUUID(),
      };
      const source = sourceOf(
        config.sourceHeader,
        req,
        peer ?? (deps.peerHeader ? (req.headers.get(deps.peerHeader) ?? undefined) : undefined),
      );

      const limitedS = refusals.limitedForS(source);
      if (limitedS > 0) {
        metrics.rateLimited.inc({ provider });
        return answers.fail(
          ctx,
          429,
          ERROR_CODES.rateLimited,
          'too many refused requests from this source; retry later',
          {
            headers: { 'retry-after': String(limitedS), ...CLOSE },
          },
        );
      }

      const declared = req.headers.get('content-length');
      let body: Uint8Array | null;
      try {
        const reading = readBody(req, declared === null ? Number.NaN : Number(declared), limits.maxBodyBytes);
        body = reading === null ? null : await reading;
      } catch (err) {
        metrics.bodyReadFailures.inc({ provider });
        refusals.charge(source);
        return bodyUnreadable(answers, ctx, err as Error);
      }
      if (body === null || body.byteLength > limits.maxBodyBytes)
        return bodyTooLarge(answers, ctx, limits.maxBodyBytes);

      const verdict = verdictFor(config, nowSeconds, provider, req.headers, body);
      if (!verdict.ok) return refuse(ctx, req, body, verdict, source);

      // A verified event outside the vocabulary goes to webhooks.<provider>.other (kept, not consumed downstream).
      const other = isOtherTopic(verdict.topic);
      const record: OutRecord = {
        topic: topicOf(verdict.topic),
        key: verdict.key,
        value: body,
        headers: rawHeaders(provider, ctx.receivedAt, ctx.requestId, req, verdict.eventId, verdict.eventType),
      };
      try {
        await producer.enqueue(record);
      } catch (err) {
        return notStored(answers, ctx, verdict.eventId, err as Error);
      }
      if (other) answers.countOther(provider);
      if (log.isEnabled('debug'))
        answers.reqLog(ctx).debug('webhook accepted', { event_id: verdict.eventId, topic: record.topic });
      return answers.finish(ctx, 200, acceptedAnswer(ctx, verdict.eventId, other));
    } catch (err) {
      return answers.internalError(err);
    }
  };

  installRoutes(app, deps, handleWebhook, answers.internalError);
  installFastPath(app, handleWebhook);
  return Object.assign(app, { handleWebhook });
}

/**
 * The TCP peer's address from the server's per-request context: Bun.serve passes its server (`requestIP`),
 * @hono/node-server passes `{ incoming }` (the node:http request). Undefined when neither is there (app.request in tests).
 */
export function peerAddress(req: Request, env: unknown): string | undefined {
  const e = env as
    | { requestIP?: (r: Request) => { address: string } | null; incoming?: { socket?: { remoteAddress?: string } } }
    | undefined;
  if (typeof e?.requestIP === 'function') return e.requestIP(req)?.address;
  return e?.incoming?.socket?.remoteAddress;
}

/**
 * Lets through at most `perSecond` log lines per one-second window; what it holds back is reported once, when the
 * next window opens with a line to write (so a flood costs one summary line per second, not one per request).
 */
export class LogRateLimiter {
  private windowStart = 0;
  private used = 0;
  private suppressed = 0;
  constructor(
    private readonly perSecond: number,
    private readonly onSuppressed: (count: number) => void,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** True when the caller may write its line now. */
  take(): boolean {
    const now = this.nowMs();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.used = 0;
      if (this.suppressed > 0) {
        const n = this.suppressed;
        this.suppressed = 0;
        this.onSuppressed(n);
      }
    }
    if (this.used < this.perSecond) {
      this.used++;
      return true;
    }
    this.suppressed++;
    return false;
  }
}
