/**
 * HTTP surface of the inference service (Hono): the endpoints of reference section 4.2 over the rule scorers in
 * rules.ts. Request bodies are validated by hand (small, explicit field lists) and bounded in size; every error
 * answers `{"error":{"code","message"}}` without internals. Not the server process (server.ts) and not scoring logic.
 */
import { INFERENCE_ERROR_CODES, INFERENCE_LIMITS, INFERENCE_PATHS as P } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { METRICS_CONTENT_TYPE, type Registry } from '@pep/contracts/metrics';
import { createJsCore } from '@pep/core-native';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { FeatureEvent } from './features/aggregate.ts';
import { FEATURE_SPEC } from './features/spec.ts';
import { vectorEventFields, vectorEventJson } from './features/vectorize.ts';
import {
  type ChurnInput,
  churnRiskLevel,
  type FraudInput,
  fraudRiskLevel,
  predictChurn,
  type RecoveryInput,
  type RetryInput,
  RULES_MODEL_VERSION,
  recommendRecovery,
  retryStrategy,
  scoreFraud,
} from './rules.ts';

const log = createLogger('error', { service: 'inference' });

export const ML_ERROR_CODES = INFERENCE_ERROR_CODES;
export const MAX_BODY_BYTES = INFERENCE_LIMITS.maxBodyBytes;
export const MAX_BATCH_ITEMS = INFERENCE_LIMITS.maxBatchItems;
/** Longest accepted string field (ids, codes, messages). */
const MAX_STRING_CHARS = 2048;
/** Largest accepted count or amount: well inside Number.MAX_SAFE_INTEGER. */
const MAX_INT = 1e15;

/** A request the service refuses (HTTP 422): its message names the field (and the item of a batch). */
export class RequestError extends Error {
  readonly code = ML_ERROR_CODES.invalidRequest;
}

type Body = Record<string, unknown>;

function str(b: Body, key: string, opts: { required: true }): string;
function str(b: Body, key: string, opts?: { required?: boolean }): string | null;
function str(b: Body, key: string, opts: { required?: boolean } = {}): string | null {
  const v = b[key];
  if (v === undefined || v === null) {
    if (opts.required) throw new RequestError(`${key} is required`);
    return null;
  }
  if (typeof v !== 'string') throw new RequestError(`${key} must be a string`);
  if (v.length > MAX_STRING_CHARS) throw new RequestError(`${key} is longer than ${MAX_STRING_CHARS} characters`);
  if (opts.required && v.trim() === '') throw new RequestError(`${key} must not be empty`);
  return v;
}

function int(b: Body, key: string, opts: { min?: number; max?: number; default?: number; nullable?: boolean } = {}) {
  const v = b[key];
  if (v === undefined || v === null) {
    if (opts.default !== undefined) return opts.default;
    if (opts.nullable) return null;
    throw new RequestError(`${key} is required`);
  }
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new RequestError(`${key} must be an integer`);
  const min = opts.min ?? 0;
  const max = opts.max ?? MAX_INT;
  if (v < min || v > max) throw new RequestError(`${key} must be in [${min}, ${max}], got ${v}`);
  return v;
}

function bool(b: Body, key: string, dflt: boolean): boolean {
  const v = b[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new RequestError(`${key} must be a boolean`);
  return v;
}

function currency(b: Body): string {
  const c = str(b, 'currency') ?? 'USD';
  if (!/^[A-Za-z]{3}$/.test(c)) throw new RequestError('currency must be a 3-letter ISO 4217 code');
  return c.toUpperCase();
}

async function readBody(req: Request): Promise<Body> {
  let parsed: unknown;
  try {
    parsed = await req.json();
  } catch {
    throw new RequestError('body must be JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RequestError('body must be a JSON object');
  }
  return parsed as Body;
}

export function parseFraud(b: Body): FraudInput {
  return {
    event_id: str(b, 'event_id', { required: true }),
    amount_minor: int(b, 'amount_minor') as number,
    currency: currency(b),
    customer_id: str(b, 'customer_id'),
    merchant_id: str(b, 'merchant_id'),
    payment_method_type: str(b, 'payment_method_type'),
    card_brand: str(b, 'card_brand'),
  };
}

export function parseChurn(b: Body): ChurnInput {
  return {
    customer_id: str(b, 'customer_id', { required: true }),
    merchant_id: str(b, 'merchant_id'),
    total_payments: int(b, 'total_payments', { default: 0 }) as number,
    successful_payments: int(b, 'successful_payments', { default: 0 }) as number,
    failed_payments: int(b, 'failed_payments', { default: 0 }) as number,
    recovered_payments: int(b, 'recovered_payments', { default: 0 }) as number,
    days_since_last_payment: int(b, 'days_since_last_payment', { default: 0 }) as number,
    consecutive_failures: int(b, 'consecutive_failures', { default: 0 }) as number,
    days_since_last_failure: int(b, 'days_since_last_failure', { nullable: true }),
  };
}

export function parseRetry(b: Body): RetryInput {
  return {
    event_id: str(b, 'event_id', { required: true }),
    failure_code: str(b, 'failure_code'),
    failure_message: str(b, 'failure_message'),
    amount_minor: int(b, 'amount_minor') as number,
    attempt_count: int(b, 'attempt_count', { min: 1, max: 1000, default: 1 }) as number,
  };
}

export function parseRecovery(b: Body): RecoveryInput {
  return {
    event_id: str(b, 'event_id', { required: true }),
    customer_id: str(b, 'customer_id', { required: true }),
    merchant_id: str(b, 'merchant_id'),
    amount_minor: int(b, 'amount_minor') as number,
    currency: currency(b),
    failure_code: str(b, 'failure_code'),
    failure_message: str(b, 'failure_message'),
    attempt_number: int(b, 'attempt_number', { min: 1, max: 1000, default: 1 }) as number,
    max_attempts: int(b, 'max_attempts', { min: 1, max: 1000, default: 5 }) as number,
    hours_since_first_failure: int(b, 'hours_since_first_failure', { default: 0 }) as number,
    customer_lifetime_value_minor: int(b, 'customer_lifetime_value_minor', { default: 0 }) as number,
    subscription_tier: str(b, 'subscription_tier'),
    has_valid_email: bool(b, 'has_valid_email', true),
    has_valid_phone: bool(b, 'has_valid_phone', false),
    payment_method_type: str(b, 'payment_method_type'),
    card_brand: str(b, 'card_brand'),
    card_exp_month: int(b, 'card_exp_month', { min: 1, max: 12, nullable: true }),
    card_exp_year: int(b, 'card_exp_year', { min: 1900, max: 9999, nullable: true }),
    has_backup_payment_method: bool(b, 'has_backup_payment_method', false),
  };
}

/** The normalized event sent beside the flat fields (optional): what the model's vectorizer reads. */
/** The event fields core-native's vectorizer reads, from its feature spec (the twin's spec is the addon's, byte for byte). */
const EVENT_FIELDS = vectorEventFields(createJsCore().featureSpec());

function eventOf(b: Body, flat: { event_id: string; customer_id?: string | null; merchant_id?: string | null }) {
  const e = b.event;
  if (e !== undefined && e !== null && (typeof e !== 'object' || Array.isArray(e))) {
    throw new RequestError('event must be the normalized event object');
  }
  const o = (e ?? {}) as Record<string, unknown>;
  const sv = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : null);
  // Only the fields the vectorizer reads (the same vector as the whole event's, for less JSON work per row).
  const json = e ? vectorEventJson(o, EVENT_FIELDS) : null;
  if (json && json.length > 64 * 1024) throw new RequestError('event is larger than 64 KiB');
  const event: FeatureEvent = {
    event_id: flat.event_id,
    event_type: sv('event_type'),
    status: sv('status'),
    customer_id: sv('customer_id') ?? flat.customer_id ?? null,
    merchant_id: sv('merchant_id') ?? flat.merchant_id ?? null,
    card_brand: sv('card_brand'),
    card_last_four: sv('card_last_four'),
    amount_minor: typeof o.amount_minor === 'number' ? o.amount_minor : null,
    currency: sv('currency'),
    provider_created_at: sv('provider_created_at'),
  };
  return { event, eventJson: json };
}

/** What a scoring service needs (server.ts builds it; without it every answer is rules-v1, flagged). */
export interface ScoringService {
  readonly scorer: import('./serving/scorer.ts').Scorer;
  readonly registry: Registry;
  readonly status: () => Record<string, unknown>;
}

export interface AppOptions {
  /** Clock for predicted_at / generated_at and card expiry; injected so tests are reproducible. */
  readonly now?: () => Date;
  readonly scoring?: ScoringService;
}

type ModelAnswer = import('./serving/scorer.ts').ModelAnswer;
const NO_SCORING: ModelAnswer = Object.freeze({
  score: null,
  model_version: null,
  feature_spec_version: FEATURE_SPEC.version,
  features: 'unavailable',
  fallback_reason: 'scoring_disabled',
});

/**
 * The model's answer (its score, version, and risk level at its own alert threshold), or rules-v1's over the event's
 * online features (when serving read them) with the fallback flagged.
 */
function fraudAnswer(input: FraudInput, a: ModelAnswer) {
  const meta = { feature_spec_version: a.feature_spec_version, features: a.features };
  if (a.score === null)
    return { ...scoreFraud(input, a.records ?? null), ...meta, fallback: true, fallback_reason: a.fallback_reason };
  return {
    event_id: input.event_id,
    fraud_score: a.score,
    risk_level: fraudRiskLevel(a.score, a.alert_threshold ?? undefined),
    risk_factors: [] as string[],
    model_version: a.model_version as string,
    ...meta,
    fallback: false,
    fallback_reason: null,
  };
}

function churnAnswer(rules: ReturnType<typeof predictChurn>, a: ModelAnswer) {
  const meta = { feature_spec_version: a.feature_spec_version, features: a.features };
  if (a.score === null) return { ...rules, ...meta, fallback: true, fallback_reason: a.fallback_reason };
  return {
    ...rules,
    churn_probability: a.score,
    risk_level: churnRiskLevel(a.score),
    model_version: a.model_version as string,
    ...meta,
    fallback: false,
    fallback_reason: null,
  };
}

type ItemParser<I> = (b: Body) => I & { event_id?: string; customer_id?: string | null; merchant_id?: string | null };

/**
 * A batch of fraud or churn items (each the body of a single-event call) parsed, scored in micro-batches and answered,
 * in order: the `/batch` endpoints' work, without HTTP. An invalid item is a RequestError naming its index.
 */
async function scoreItems<I>(
  scoring: ScoringService | undefined,
  model: 'fraud' | 'churn',
  items: unknown,
  parse: ItemParser<I>,
  answer: (input: I, a: ModelAnswer) => unknown,
): Promise<unknown[]> {
  if (!Array.isArray(items)) throw new RequestError('items must be an array');
  if (items.length > MAX_BATCH_ITEMS) throw new RequestError(`items holds more than ${MAX_BATCH_ITEMS} entries`);
  const t0 = performance.now();
  const parsed = items.map((item, i) => {
    if (!item || typeof item !== 'object' || Array.isArray(item))
      throw new RequestError(`items[${i}] must be an object`);
    try {
      const input = parse(item as Body);
      const id = (item as Body).event_id;
      const ev = eventOf(item as Body, {
        event_id: typeof id === 'string' ? id : (input.event_id ?? ''),
        customer_id: input.customer_id ?? null,
        merchant_id: input.merchant_id ?? null,
      });
      return { input, ...ev };
    } catch (err) {
      if (err instanceof RequestError) throw new RequestError(`items[${i}]: ${err.message}`);
      throw err;
    }
  });
  const stages = scoring?.scorer.stages;
  const t1 = performance.now();
  if (stages) stages.parse += t1 - t0;
  const answers = scoring
    ? await scoring.scorer.scoreMany(parsed.map((p) => ({ model, event: p.event, eventJson: p.eventJson })))
    : parsed.map(() => NO_SCORING);
  const t2 = performance.now();
  const out = parsed.map((p, i) => answer(p.input, answers[i] as ModelAnswer));
  if (stages) stages.answer += performance.now() - t2;
  return out;
}

/**
 * Fraud answers for a batch of items (the `/fraud/score/batch` body's `items`), scored in this process: what the
 * endpoint answers, without the HTTP request and answer (`@pep/ml/scoring`).
 */
export function scoreFraudItems(scoring: ScoringService | undefined, items: readonly unknown[]) {
  return scoreItems(scoring, 'fraud', items, parseFraud, fraudAnswer) as Promise<ReturnType<typeof fraudAnswer>[]>;
}

export function createApp(opts: AppOptions = {}): Hono {
  const now = opts.now ?? (() => new Date());
  const app = new Hono();
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      // The body is not read: the connection is closed after the answer (kept alive, its unread bytes would hold it
      // open and keep the server from closing).
      onError: (c) =>
        c.json({ error: { code: ML_ERROR_CODES.bodyTooLarge, message: `body over ${MAX_BODY_BYTES} bytes` } }, 413, {
          connection: 'close',
        }),
    }),
  );
  const endpoints = {
    health: 'GET /health',
    fraud: 'POST /fraud/score',
    churn: 'POST /churn/predict',
    retry: 'POST /retry/strategy',
    batches: 'POST /fraud/score/batch, /churn/predict/batch, /retry/strategy/batch',
    recovery: 'POST /recovery/recommend',
  };
  const scoring = opts.scoring;
  app.get(P.health, (c) =>
    c.json({
      status: 'healthy',
      service: 'inference-service',
      model_version: RULES_MODEL_VERSION,
      ...(scoring ? { models: scoring.status() } : {}),
    }),
  );
  if (scoring) {
    app.get('/metrics', async (c) =>
      c.text(await scoring.registry.scrape(), 200, { 'content-type': METRICS_CONTENT_TYPE }),
    );
  }
  const fraudOne = async (b: Body) => {
    const input = parseFraud(b);
    const { event, eventJson } = eventOf(b, input);
    const a = scoring ? await scoring.scorer.score({ model: 'fraud', event, eventJson }) : NO_SCORING;
    return fraudAnswer(input, a);
  };
  const churnOne = async (b: Body) => {
    const input = parseChurn(b);
    const { event, eventJson } = eventOf(b, { event_id: str(b, 'event_id') ?? input.customer_id, ...input });
    const a = scoring ? await scoring.scorer.score({ model: 'churn', event, eventJson }) : NO_SCORING;
    return churnAnswer(predictChurn(input, now()), a);
  };
  app.get('/', (c) => c.json({ service: 'inference-service', model_version: RULES_MODEL_VERSION, endpoints }));
  app.post(P.fraudScore, async (c) => c.json(await fraudOne(await readBody(c.req.raw))));
  app.post(P.churnPredict, async (c) => c.json(await churnOne(await readBody(c.req.raw))));
  app.post(P.retryStrategy, async (c) => c.json(retryStrategy(parseRetry(await readBody(c.req.raw)))));
  app.post(P.recoveryRecommend, async (c) =>
    c.json(recommendRecovery(parseRecovery(await readBody(c.req.raw)), now())),
  );
  // Batch forms: `{"items":[…]}` → `{"results":[…]}` in the same order, for callers that score many events at once
  // (the batch workflow); one invalid item rejects the whole request with its index.
  const batch =
    <I, O>(parse: (b: Body) => I, score: (i: I) => O) =>
    async (c: { req: { raw: Request }; json: (o: unknown) => Response }) => {
      const body = await readBody(c.req.raw);
      const items = body.items;
      if (!Array.isArray(items)) throw new RequestError('items must be an array');
      if (items.length > MAX_BATCH_ITEMS) throw new RequestError(`items holds more than ${MAX_BATCH_ITEMS} entries`);
      const results = items.map((item, i) => {
        if (!item || typeof item !== 'object' || Array.isArray(item))
          throw new RequestError(`items[${i}] must be an object`);
        try {
          return score(parse(item as Body));
        } catch (err) {
          if (err instanceof RequestError) throw new RequestError(`items[${i}]: ${err.message}`);
          throw err;
        }
      });
      return c.json({ results });
    };
  // Fraud and churn batches: parsed item by item (one invalid item rejects the request with its index), then scored
  // as micro-batches (one Redis pipeline and one ONNX run per batch): scoreItems, shared with in-process callers.
  const modelBatch =
    <I>(model: 'fraud' | 'churn', parse: ItemParser<I>, answer: (input: I, a: ModelAnswer) => unknown) =>
    async (c: { req: { raw: Request }; json: (o: unknown) => Response }) => {
      const body = await readBody(c.req.raw);
      return c.json({ results: await scoreItems(scoring, model, body.items, parse, answer) });
    };
  app.post(P.fraudScoreBatch, modelBatch('fraud', parseFraud, fraudAnswer));
  app.post(
    P.churnPredictBatch,
    modelBatch('churn', parseChurn, (i, a) => churnAnswer(predictChurn(i, now()), a)),
  );
  app.post(P.retryStrategyBatch, batch(parseRetry, retryStrategy));
  app.notFound((c) => c.json({ error: { code: ML_ERROR_CODES.notFound, message: 'no such route' } }, 404));
  app.onError((err, c) => {
    if (err instanceof RequestError) return c.json({ error: { code: err.code, message: err.message } }, 422);
    log.error('inference request failed', { path: c.req.path, error: String(err) });
    return c.json({ error: { code: ML_ERROR_CODES.internal, message: 'internal error' } }, 500);
  });
  return app;
}
