/**
 * The edge's HTTP surface (CONTRACT section 3) as a Hono app, runtime-neutral: the same app is served by Bun.serve
 * and by @hono/node-server. A webhook is answered 200 only after its record is acknowledged by the sink
 * (Kafka acks=all); 400/401 answers also send a DLQ record (fire-and-forget, low priority, counted when dropped).
 */

import {
  DLQ_REASONS,
  type DlqReason,
  PROVIDERS,
  type Provider,
  RAW_HEADERS,
  REDACTED,
  TOPICS,
  webhookDlqRecord,
} from '@pep/contracts';
import { maskCards } from '@pep/contracts/redact';
import { Hono } from 'hono';
import { SourceLimiter } from './abuse.ts';
import type { EdgeConfig } from './config.ts';
import type { Logger } from './log.ts';
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

export function createApp(deps: AppDeps): EdgeApp {
  const { config, producer, metrics, log } = deps;
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const limits = config.limits;
  const retryAfterText = String(limits.retryAfterSeconds);
  const prefix = config.topicPrefix;
  const dlqTopic = prefix + TOPICS.webhooksDlq;
  const app = new Hono({ strict: false });

  const verdictFor = (provider: Provider, headers: HeaderLookup, body: Uint8Array): Verdict => {
    switch (provider) {
      case 'stripe':
        return checkStripe(headers, body, config.stripe, nowSeconds());
      case 'square':
        return checkSquare(headers, body, config.square);
      case 'adyen':
        return checkAdyen(body, { hmacKeys: config.adyen.hmacKeys, maxItems: limits.maxAdyenItems }, headers);
      case 'braintree':
        return checkBraintree(headers.get('content-type'), body, config.braintree);
    }
  };

  const dlqRecord = (
    provider: Provider,
    reason: DlqReason,
    message: string,
    httpStatus: number,
    req: Request,
    body: Uint8Array,
    eventId: string | null,
    requestId: string,
    receivedAt: string,
  ): OutRecord => {
    // The builder redacts the body, the message and the ids (@pep/contracts); the key is the masked event id too.
    const maskedEventId = eventId === null ? null : maskCards(eventId);
    const rec = webhookDlqRecord({
      provider,
      reason,
      message,
      httpStatus,
      headers: redactedHeaders(req.headers),
      body,
      eventId,
      requestId,
      receivedAt,
    });
    return {
      topic: config.benchTopic ?? dlqTopic,
      key: maskedEventId,
      value: Buffer.from(JSON.stringify(rec)),
      headers: {
        [RAW_HEADERS.receivedAt]: receivedAt,
        [RAW_HEADERS.requestId]: requestId,
        [RAW_HEADERS.provider]: provider,
        [RAW_HEADERS.dlqReason]: reason,
      },
    };
  };

  // Per-request refusal log lines (400/401/413/503, failed DLQ writes) are rate-limited: a flood of forged requests
  // (or an outage answering every request 503) must not flood the log; the lines held back are counted.
  const refusalLog = new LogRateLimiter(limits.refusalLogPerSecond, (suppressed) =>
    log.warn('refusal log lines suppressed', { suppressed, per_second: limits.refusalLogPerSecond }),
  );
  const mayLogRefusal = (): boolean => {
    if (refusalLog.take()) return true;
    metrics.refusalLogSuppressed.inc();
    return false;
  };

  // Hot-path metric series, cached per provider and status instead of looked up by labels on every request.
  const durationSeries = Object.fromEntries(
    PROVIDERS.map((p) => [p, metrics.requestDuration.series({ provider: p })]),
  ) as Record<Provider, HistogramSeries>;
  const otherSeries = Object.fromEntries(
    PROVIDERS.map((p) => [p, metrics.otherRecords.series({ provider: p })]),
  ) as Record<Provider, { value: number }>;
  const requestSeries = Object.fromEntries(PROVIDERS.map((p) => [p, new Map()])) as Record<
    Provider,
    Map<number, { value: number }>
  >;
  const countRequest = (provider: Provider, status: number) => {
    const byStatus = requestSeries[provider];
    let series = byStatus.get(status);
    if (!series) {
      series = metrics.requests.series({ provider, status: String(status) });
      byStatus.set(status, series);
    }
    series.value++;
  };
  /** Counts and times an answer (every webhook answer goes through here). */
  const finish = (provider: Provider, started: number, status: number, res: Response): Response => {
    countRequest(provider, status);
    durationSeries[provider].observe((performance.now() - started) / 1000);
    return res;
  };
  // Unexpected errors are logged at most refusalLogPerSecond a second too (a flood of one failure is one summary line a
  // second, the rest counted in edge_error_log_suppressed_total).
  const errorLog = new LogRateLimiter(Math.max(1, limits.refusalLogPerSecond), (suppressed) =>
    log.error('error log lines suppressed', { suppressed, per_second: Math.max(1, limits.refusalLogPerSecond) }),
  );
  /** 500 for anything unexpected (logged, bounded; the answer says nothing more). */
  const internalError = (err: unknown) => {
    if (errorLog.take()) log.error('unhandled error', { error: err });
    else metrics.errorLogSuppressed.inc();
    return errorResponse(500, ERROR_CODES.internal, 'internal error');
  };
  // 400/401 answers cost their source a token; a source out of tokens is answered 429 unread (abuse.ts).
  const refusals = new SourceLimiter({
    ratePerS: limits.rejectRatePerS,
    burst: limits.rejectBurst,
    maxSources: limits.rejectMaxSources,
  });
  const sourceOf = (req: Request, peer: string | undefined): string => {
    if (config.sourceHeader !== null) {
      const v = req.headers.get(config.sourceHeader);
      if (v) {
        const last = v.slice(v.lastIndexOf(',') + 1).trim();
        if (last) return last.slice(0, 64);
      }
    }
    return peer ?? (deps.peerHeader ? req.headers.get(deps.peerHeader) : null) ?? 'unknown';
  };
  /** An error answer; every answer carries x-request-id, set when the Response is built (cheaper than mutating). */
  const fail = (
    provider: Provider,
    started: number,
    requestId: string,
    status: number,
    code: string,
    message: string,
    withRetryAfter = false,
    more?: Record<string, string>,
  ): Response => {
    const extra: Record<string, string> = withRetryAfter
      ? { 'retry-after': retryAfterText, 'x-request-id': requestId }
      : { 'x-request-id': requestId };
    if (more) Object.assign(extra, more);
    return finish(provider, started, status, errorResponse(status, code, message, extra));
  };
  // Answers after which the rest of the request is not read: the connection closes instead of being drained (an
  // endless chunked body was read and discarded for as long as the client sent it).
  const CLOSE = { connection: 'close' };
  // Request-scoped log lines are rare (refusals, debug): the child logger is built only when one is written.
  const reqLog = (requestId: string, provider: Provider): Logger => log.child({ request_id: requestId, provider });
  // received-at has millisecond resolution: requests within the same millisecond share one ISO string.
  let isoMs = 0;
  let isoText = '';
  const nowIso = () => {
    const ms = Date.now();
    if (ms !== isoMs) {
      isoMs = ms;
      isoText = new Date(ms).toISOString();
    }
    return isoText;
  };

  /** 400/401: the DLQ record goes out without holding the answer (low priority, counted and logged when dropped). */
  const refuse = (
    provider: Provider,
    started: number,
    requestId: string,
    receivedAt: string,
    req: Request,
    body: Uint8Array,
    verdict: Rejected,
    source: string,
  ): Response => {
    refusals.charge(source);
    const rec = dlqRecord(
      provider,
      verdict.code,
      verdict.message,
      verdict.status,
      req,
      body,
      verdict.eventId,
      requestId,
      receivedAt,
    );
    metrics.dlqRecords.inc({ reason: verdict.code });
    producer.enqueue(rec, { lowPriority: true }).catch((err: Error) => {
      metrics.dlqWriteFailures.inc();
      if (mayLogRefusal())
        reqLog(requestId, provider).warn('dlq record not written', { reason: verdict.code, error: err.message });
    });
    if (mayLogRefusal()) {
      const fields = { status: verdict.status, reason: verdict.code, event_id: verdict.eventId };
      if (verdict.status === 401) reqLog(requestId, provider).warn('webhook rejected', fields);
      else reqLog(requestId, provider).info('webhook rejected', fields);
    }
    return fail(provider, started, requestId, verdict.status, verdict.code, verdict.message);
  };

  /** 503 for a record the producer did not take or Kafka did not acknowledge. */
  const notStored = (provider: Provider, started: number, requestId: string, eventId: string, err: Error): Response => {
    let code: string;
    let message: string;
    if (err instanceof OverloadedError) {
      code = ERROR_CODES.overloaded;
      message = 'the edge is at its in-flight bound; retry later';
      if (mayLogRefusal())
        reqLog(requestId, provider).warn('webhook refused: in-flight bound reached', { event_id: eventId });
    } else if (err instanceof ShuttingDownError) {
      code = ERROR_CODES.shuttingDown;
      message = 'the edge is shutting down; retry later';
    } else {
      code = ERROR_CODES.kafkaUnavailable;
      message = 'the event could not be stored; retry later';
      if (mayLogRefusal())
        reqLog(requestId, provider).warn('webhook not acknowledged: write failed', {
          event_id: eventId,
          error: err.message,
        });
    }
    return fail(provider, started, requestId, 503, code, message, true);
  };

  /**
   * POST /webhooks/:provider (the Hono route and the fast path below both end here). The accepted path allocates
   * little beyond the body, the verdict, the record and the Response: the helpers it calls are built once per app.
   */
  const handleWebhook = async (provider: Provider, req: Request, peer?: string): Promise<Response> => {
    // Errors become the 500 answer here rather than through a .catch() on each request's promise.
    try {
      const started = performance.now();
      const receivedAt = nowIso();
      const incomingId = req.headers.get('x-request-id');
      const requestId = incomingId !== null && REQUEST_ID.test(incomingId) ? incomingId : crypto.randomUUID();
      const source = sourceOf(req, peer);

      const limitedS = refusals.limitedForS(source);
      if (limitedS > 0) {
        metrics.rateLimited.inc({ provider });
        return fail(
          provider,
          started,
          requestId,
          429,
          ERROR_CODES.rateLimited,
          'too many refused requests from this source; retry later',
          false,
          { 'retry-after': String(limitedS), ...CLOSE },
        );
      }

      const declared = req.headers.get('content-length');
      let body: Uint8Array | null;
      try {
        const reading = readBody(req, declared === null ? Number.NaN : Number(declared), limits.maxBodyBytes);
        body = reading === null ? null : await reading;
      } catch (err) {
        // The client went away, sent a malformed chunked body or stalled: its fault, not an internal error. Counted, and
        // logged within the refusal limit (each used to be an error line).
        metrics.bodyReadFailures.inc({ provider });
        refusals.charge(source);
        if (mayLogRefusal())
          reqLog(requestId, provider).info('webhook body unreadable', { error: (err as Error).message });
        return fail(
          provider,
          started,
          requestId,
          400,
          ERROR_CODES.bodyUnreadable,
          'the request body could not be read',
          false,
          CLOSE,
        );
      }
      if (body === null || body.byteLength > limits.maxBodyBytes) {
        if (mayLogRefusal())
          reqLog(requestId, provider).info('webhook refused: body over limit', { max_body_bytes: limits.maxBodyBytes });
        return fail(
          provider,
          started,
          requestId,
          413,
          ERROR_CODES.bodyTooLarge,
          `body exceeds ${limits.maxBodyBytes} bytes`,
          false,
          CLOSE,
        );
      }

      const verdict = verdictFor(provider, req.headers, body);
      if (!verdict.ok) return refuse(provider, started, requestId, receivedAt, req, body, verdict, source);

      // A verified event outside the vocabulary goes to webhooks.<provider>.other (kept, not consumed downstream).
      const other = isOtherTopic(verdict.topic);
      const record: OutRecord = {
        topic: config.benchTopic ?? (prefix === '' ? verdict.topic : prefix + verdict.topic),
        key: verdict.key,
        value: body,
        headers: rawHeaders(provider, receivedAt, requestId, req, verdict.eventId, verdict.eventType),
      };
      try {
        await producer.enqueue(record);
      } catch (err) {
        return notStored(provider, started, requestId, verdict.eventId, err as Error);
      }
      if (other) otherSeries[provider].value++;
      if (log.isEnabled('debug'))
        reqLog(requestId, provider).debug('webhook accepted', { event_id: verdict.eventId, topic: record.topic });
      if (provider === 'adyen')
        return finish(provider, started, 200, accepted200('[accepted]', 'text/plain', requestId));
      // The same text JSON.stringify gives for {status, event_id[, routed]}, without building the object.
      const accepted = other
        ? `{"status":"accepted","event_id":${JSON.stringify(verdict.eventId)},"routed":"other"}`
        : `{"status":"accepted","event_id":${JSON.stringify(verdict.eventId)}}`;
      return finish(provider, started, 200, accepted200(accepted, 'application/json', requestId));
    } catch (err) {
      return internalError(err);
    }
  };

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

  // Fast path for the hot route: `POST /webhooks/<known provider>[/]` goes straight to the handler, skipping Hono's
  // request wrapper, path parsing and router (about a sixth of the CPU of a request on Bun); everything else, including
  // odd spellings of that path (percent-encoding, extra segments), goes through Hono as before. Installed as the app's
  // own `fetch`, so Bun.serve, @hono/node-server and `app.request` in the tests all take the same path.
  const honoFetch = app.fetch;
  app.fetch = (req, ...rest) => {
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
