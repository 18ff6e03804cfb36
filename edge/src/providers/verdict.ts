/**
 * The outcome of checking one provider request: either where to write it (topic and key), or why it is refused.
 * Provider modules are pure and synchronous (no I/O), so they are unit-tested without a server or Kafka.
 */

import {
  DLQ_REASONS,
  type DlqReason,
  OTHER_TOPICS,
  type OtherTopic,
  type Provider,
  type RawTopic,
  routeEvent,
} from '@pep/contracts';

export interface Accepted {
  readonly ok: true;
  /**
   * The raw topic of the event's category, or `webhooks.<provider>.other` for a verified, well-formed event of a type
   * outside the event vocabulary (contracts `routeEvent`).
   */
  readonly topic: RawTopic | OtherTopic;
  readonly key: string;
  readonly eventId: string;
  readonly eventType: string;
}

export interface Rejected {
  readonly ok: false;
  readonly status: 400 | 401;
  readonly code: DlqReason;
  /** Safe to return to the caller: never contains a secret, an expected signature or a stack trace. */
  readonly message: string;
  readonly eventId: string | null;
}

export type Verdict = Accepted | Rejected;

/** Lower-cased header lookup (a `Headers` object is one: no wrapper closure per request); null when absent. */
export interface HeaderLookup {
  get(lowerCaseName: string): string | null;
}

/** Upper bound on ids used as Kafka keys and headers; longer ids are treated as malformed. */
export const MAX_ID_CHARS = 255;

export function reject(status: 400 | 401, code: DlqReason, message: string, eventId: string | null = null): Rejected {
  return { ok: false, status, code, message, eventId };
}

export const unauthorized = (code: DlqReason, message: string, eventId: string | null = null) =>
  reject(401, code, message, eventId);
export const badRequest = (code: DlqReason, message: string, eventId: string | null = null) =>
  reject(400, code, message, eventId);

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_ID_CHARS;
}

/** Returns the first candidate that is a usable id (fixed arity: no rest-args array on the request path). */
export function firstId(a: unknown, b: unknown, c?: unknown, d?: unknown, e?: unknown): string | null {
  if (isId(a)) return a;
  if (isId(b)) return b;
  if (isId(c)) return c;
  if (isId(d)) return d;
  if (isId(e)) return e;
  return null;
}

const utf8 = new TextDecoder('utf-8');

/** Parses a JSON body; returns a Rejected on bad JSON. */
export function parseJson(body: Uint8Array): { value: unknown } | Rejected {
  try {
    return { value: JSON.parse(utf8.decode(body)) };
  } catch (err) {
    return badRequest(DLQ_REASONS.invalidJson, `body is not valid JSON: ${(err as Error).message.slice(0, 200)}`);
  }
}

const OTHER: ReadonlySet<string> = new Set(Object.values(OTHER_TOPICS));

/** True for a `webhooks.<provider>.other` topic. */
export function isOtherTopic(topic: string): topic is OtherTopic {
  return OTHER.has(topic);
}

/**
 * The accepted verdict for an event of `types` (Adyen: every item's eventCode): routed by contracts' routeEvent; keyed
 * by `objectKey` (the payment the event is about) on a raw topic, by the event id on `webhooks.<provider>.other`.
 */
export function accepted(
  provider: Provider,
  types: readonly string[],
  objectKey: string,
  eventId: string,
  eventType: string,
): Accepted {
  const topic = routeEvent(provider, types);
  return { ok: true, topic, key: isOtherTopic(topic) ? eventId : objectKey, eventId, eventType };
}
