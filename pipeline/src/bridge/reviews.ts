/**
 * DLQ review registration, apart from payments (issue 13): validation-DLQ records become bounded review summaries,
 * cut into groups (one INSERT of pending quarantine_reviews rows per group, review-store.ts) registered at a bounded
 * rate. A flood of invalid events is then a few INSERTs a second and a Kafka lag, never a workflow per record in front
 * of the payment path (which waited while 40,781 per-record review workflows queued), and no work at all on the
 * Temporal server the payments use. Pure helpers, unit-tested; the consumer loop is in bridge.ts.
 */
import {
  MAX_REVIEW_ERROR_CHARS,
  MAX_REVIEW_GROUP_BYTES,
  MAX_REVIEW_GROUP_ITEMS,
  MAX_REVIEW_ITEM_ERRORS,
  type ReviewItem,
  reviewGroupWorkflowId,
  reviewKeyOfRecord,
  sourceCoordinates,
} from '@pep/contracts';
import { maskCards } from '@pep/contracts/redact';
import { storedRecord } from '../quarantine/rows.ts';

export { sourceCoordinates };

export interface DlqMessage {
  readonly offset: string;
  readonly key?: Buffer | null;
  readonly value: Buffer | null;
}

/** The record of a validation-DLQ message (an object), or a `parse_error` stand-in; never throws. */
export function dlqRecordOf(m: DlqMessage): Record<string, unknown> {
  try {
    const v = JSON.parse((m.value ?? Buffer.alloc(0)).toString('utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : { parse_error: 'not an object' };
  } catch (err) {
    return { parse_error: maskCards(`not JSON: ${(err as Error).message}`) };
  }
}

/**
 * The DLQ message's fingerprint as its quarantine row stores it (record_sha256, hex): the review is joined to that row
 * by DLQ coordinates AND fingerprint, as coordinates are reused after a topic is re-created.
 */
export function dlqRecordSha256(m: DlqMessage): string {
  return storedRecord({ key: m.key ?? null, value: m.value }).sha256.toString('hex');
}

/** Review key of a record (reviewKeyOfRecord): its raw coordinates and timestamp, else the DLQ message's own. */
export function reviewKeyOf(
  dlqTopic: string,
  partition: number,
  offset: string,
  record: Record<string, unknown>,
  sha256Hex: string | null = null,
) {
  return reviewKeyOfRecord(record, { topic: dlqTopic, partition, offset, sha256Hex });
}

const text = (v: unknown, max: number): string | null => (typeof v === 'string' ? maskCards(v).slice(0, max) : null);

/** The bounded review summary of one validation-DLQ message; never throws. */
export function reviewItem(dlqTopic: string, partition: number, m: DlqMessage): ReviewItem {
  const r = dlqRecordOf(m);
  const s = sourceCoordinates(r);
  const errors = Array.isArray(r.validation_errors) ? r.validation_errors.slice(0, MAX_REVIEW_ITEM_ERRORS) : [];
  const parseError = text(r.parse_error, MAX_REVIEW_ERROR_CHARS);
  const sha = dlqRecordSha256(m);
  return {
    key: reviewKeyOf(dlqTopic, partition, m.offset, r, sha),
    dlqOffset: m.offset,
    dlqRecordSha256: sha,
    eventId: text(r.event_id, 512),
    provider: text(r.provider, 64),
    failureReason: text(r.failure_reason, 128) ?? (parseError ? 'UNREADABLE_DLQ_RECORD' : null),
    validationErrors: parseError
      ? [{ field: 'record', code: 'UNREADABLE_DLQ_RECORD', message: parseError }]
      : errors.map((e: unknown) => {
          const x = (e && typeof e === 'object' ? e : {}) as Record<string, unknown>;
          return {
            field: text(x.field, MAX_REVIEW_ERROR_CHARS) ?? '',
            code: text(x.code, MAX_REVIEW_ERROR_CHARS) ?? '',
            message: text(x.message, MAX_REVIEW_ERROR_CHARS) ?? '',
          };
        }),
    source: { topic: s.topic === null ? null : s.topic.slice(0, 249), partition: s.partition, offset: s.offset },
    itemIndex: s.item,
  };
}

/** One review group: consecutive DLQ messages of one partition and their summaries. */
export interface ReviewGroup<M extends DlqMessage> {
  readonly workflowId: string;
  readonly messages: readonly M[];
  readonly items: readonly ReviewItem[];
}

/**
 * Cuts one partition's DLQ messages into review groups of at most `maxItems` records and MAX_REVIEW_GROUP_BYTES of
 * summaries each, in offset order; each group's workflow id names its offset range.
 */
export function cutReviewGroups<M extends DlqMessage>(
  dlqTopic: string,
  partition: number,
  messages: readonly M[],
  maxItems: number,
): ReviewGroup<M>[] {
  const limit = Math.max(1, Math.min(maxItems, MAX_REVIEW_GROUP_ITEMS));
  const groups: ReviewGroup<M>[] = [];
  let msgs: M[] = [];
  let items: ReviewItem[] = [];
  let bytes = 0;
  const flush = () => {
    if (msgs.length === 0) return;
    const first = (msgs[0] as M).offset;
    const last = (msgs[msgs.length - 1] as M).offset;
    groups.push({ workflowId: reviewGroupWorkflowId(dlqTopic, partition, first, last), messages: msgs, items });
    msgs = [];
    items = [];
    bytes = 0;
  };
  for (const m of messages) {
    const item = reviewItem(dlqTopic, partition, m);
    const size = JSON.stringify(item).length;
    if (msgs.length >= limit || (msgs.length > 0 && bytes + size > MAX_REVIEW_GROUP_BYTES)) flush();
    msgs.push(m);
    items.push(item);
    bytes += size;
  }
  flush();
  return groups;
}

/**
 * Spaces group starts to at most `perS` a second (one token, refilled continuously): a backlog of DLQ records is
 * registered at a bounded rate whatever its size.
 */
export class StartPacer {
  private nextAtMs = 0;
  constructor(
    private readonly perS: number,
    private readonly nowMs: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Waits for the next start slot (in steps of at most 250 ms, so a stopping consumer is not held). */
  async wait(isActive: () => boolean): Promise<void> {
    const interval = 1000 / this.perS;
    for (;;) {
      const now = this.nowMs();
      if (now >= this.nextAtMs) {
        this.nextAtMs = Math.max(this.nextAtMs, now - interval) + interval;
        return;
      }
      if (!isActive()) return;
      await this.sleep(Math.min(250, this.nextAtMs - now));
    }
  }
}
