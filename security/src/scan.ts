/**
 * Reading back what the platform stored, for the security suite and benchmark: whole topics (read committed), the
 * rows of a run, and an independent leak check (issue 13: card numbers and signatures never reach a normalized
 * event, a DLQ record, a quarantine row, a payment row or a log line). The check does not reuse the redaction's own
 * detector: it decodes every layer a reader could decode (JSON escapes via parsing, percent and XML escapes, base64
 * runs) and looks for the planted card numbers' digits in order, grouped by the contract's separators (spaces, dashes,
 * underscores, `+`), and for the planted signatures verbatim.
 */
import type { Kafka, KafkaMessage } from 'kafkajs';
import type pg from 'pg';

export interface StoredRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Record<string, string>;
}

/** Every record of the topics (read committed), up to their high watermarks at the time of the call. */
export async function readAll(kafka: Kafka, topics: readonly string[], timeoutMs = 120_000): Promise<StoredRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, bigint>();
  for (const topic of topics)
    for (const p of await admin.fetchTopicOffsets(topic))
      if (BigInt(p.high) > BigInt(p.low)) ends.set(`${topic}/${p.partition}`, BigInt(p.high) - 1n);
  await admin.disconnect();
  const out: StoredRecord[] = [];
  if (ends.size === 0) return out;
  const consumer = kafka.consumer({
    groupId: `security-reader-${Date.now()}-${Math.random()}`,
    readUncommitted: false,
  });
  await consumer.connect();
  const remaining = new Set(ends.keys());
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topics.join(', ')}: ${remaining.size} partitions not read to their end`)),
        timeoutMs,
      );
      void consumer.run({
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          const id = `${batch.topic}/${batch.partition}`;
          for (const m of batch.messages) out.push(toRecord(batch.topic, batch.partition, m));
          const end = ends.get(id);
          // A transaction's commit marker can be the last offset: reaching the batch's end counts too.
          if (end !== undefined && BigInt(batch.lastOffset()) >= end) remaining.delete(id);
          if (remaining.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

function toRecord(topic: string, partition: number, m: KafkaMessage): StoredRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[k] = String(v);
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key ? m.key.toString('utf8') : null,
    value: m.value ? m.value.toString('utf8') : '',
    headers,
  };
}

/** Every string inside a JSON value (keys too), or the text itself when it is not JSON. */
export function stringsOf(text: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return [text];
  }
  const out: string[] = [];
  const walk = (x: unknown, depth: number) => {
    if (depth > 64) return;
    if (typeof x === 'string') out.push(x);
    else if (Array.isArray(x)) for (const y of x) walk(y, depth + 1);
    else if (x && typeof x === 'object')
      for (const [k, y] of Object.entries(x)) {
        out.push(k);
        walk(y, depth + 1);
      }
  };
  walk(v, 0);
  return out;
}

function percentDecode(s: string): string {
  return s
    .replace(/\+/g, ' ')
    .replace(/%([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

function xmlDecode(s: string): string {
  return s
    .replace(/&#x([0-9a-fA-F]{1,6});/g, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&#([0-9]{1,7});/g, (_, d: string) => String.fromCodePoint(Number(d)));
}

function jsonEscapes(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Every reading of a stored string a person or a parser could make. */
export function decodings(s: string, depth = 0): string[] {
  const out = new Set<string>([s]);
  const pd = percentDecode(s);
  out.add(pd);
  out.add(xmlDecode(s));
  out.add(jsonEscapes(s));
  if (depth < 2) {
    for (const m of pd.matchAll(/(?:[A-Za-z0-9+/]|\n){24,}={0,2}/g)) {
      const decoded = Buffer.from(m[0], 'base64').toString('utf8');
      for (const d of decodings(decoded, depth + 1)) out.add(d);
      for (const inner of stringsOf(decoded)) for (const d of decodings(inner, depth + 1)) out.add(d);
    }
  }
  return [...out];
}

export interface Leak {
  readonly where: string;
  readonly what: string;
  readonly sample: string;
}

/** Signatures shorter than this are not looked for (too likely to occur by chance). */
const SIGNATURE_MIN = 16;
const HASH_BASE = 0x01000193;

/** Rabin–Karp hash of `s[at, at + SIGNATURE_MIN)`, 32-bit. */
function windowHash(s: string, at: number): number {
  let h = 0;
  for (let i = at; i < at + SIGNATURE_MIN; i++) h = (Math.imul(h, HASH_BASE) + s.charCodeAt(i)) >>> 0;
  return h;
}

/** HASH_BASE ** (SIGNATURE_MIN - 1), 32-bit: the weight of the character that leaves the window. */
const LEAVING_WEIGHT = (() => {
  let w = 1;
  for (let i = 1; i < SIGNATURE_MIN; i++) w = Math.imul(w, HASH_BASE) >>> 0;
  return w;
})();

/**
 * Finds any of many signatures inside a string in time linear in the string's length, however many signatures there
 * are (the full-size fuzz collects ~70,000; testing each with indexOf against every stored string took hours): a
 * rolling hash of each 16-character window is looked up among the hashes of the signatures' first 16 characters,
 * and a hit is confirmed by comparing the whole signature.
 */
export class SignatureMatcher {
  private readonly byPrefixHash = new Map<number, string[]>();

  constructor(signatures: Iterable<string>) {
    for (const sig of new Set(signatures)) {
      if (sig.length < SIGNATURE_MIN) continue;
      const h = windowHash(sig, 0);
      const list = this.byPrefixHash.get(h);
      if (list) list.push(sig);
      else this.byPrefixHash.set(h, [sig]);
    }
  }

  /** Each signature that occurs in `s`, once, with the position of its first occurrence. */
  find(s: string): { sig: string; at: number }[] {
    const found: { sig: string; at: number }[] = [];
    if (this.byPrefixHash.size === 0 || s.length < SIGNATURE_MIN) return found;
    let seen: Set<string> | undefined;
    let h = windowHash(s, 0);
    for (let at = 0; ; at++) {
      const list = this.byPrefixHash.get(h);
      if (list) {
        for (const sig of list) {
          if (seen?.has(sig) || !s.startsWith(sig, at)) continue;
          seen ??= new Set();
          seen.add(sig);
          found.push({ sig, at });
        }
      }
      const next = at + SIGNATURE_MIN;
      if (next >= s.length) return found;
      const leaving = Math.imul(s.charCodeAt(at), LEAVING_WEIGHT);
      h = (Math.imul((h - leaving) >>> 0, HASH_BASE) + s.charCodeAt(next)) >>> 0;
    }
  }
}

/**
 * Card numbers (digits in order, anything but digits between them, within one string) and signatures (verbatim, at
 * least 16 characters) in the stored strings. Pass a SignatureMatcher when scanning many collections with one set.
 */
export function findLeaks(
  where: string,
  values: Iterable<string>,
  pans: readonly string[],
  signatures: readonly string[] | SignatureMatcher,
): Leak[] {
  const leaks: Leak[] = [];
  const matcher = signatures instanceof SignatureMatcher ? signatures : new SignatureMatcher(signatures);
  for (const value of values) {
    for (const s of decodings(value)) {
      // The card-number spellings of the contract: digits, grouped by spaces, dashes, underscores or `+`.
      const digits = s.replace(/[ \-_+]+/g, '');
      for (const pan of pans) {
        const at = digits.indexOf(pan);
        if (at >= 0)
          leaks.push({ where, what: `card ${pan.slice(0, 4)}…`, sample: digits.slice(Math.max(0, at - 80), at + 40) });
      }
      for (const { at } of matcher.find(s))
        leaks.push({ where, what: 'signature', sample: s.slice(Math.max(0, at - 120), at + 60) });
    }
  }
  return leaks;
}

/** The strings of stored records: values (every JSON string inside), keys and header values. */
export function recordStrings(records: readonly StoredRecord[]): string[] {
  const out: string[] = [];
  for (const r of records) {
    out.push(...stringsOf(r.value));
    if (r.key !== null) out.push(r.key);
    out.push(...Object.values(r.headers));
  }
  return out;
}

/** Every column of the rows as text (bytea as UTF-8, jsonb as its JSON strings). */
export function rowStrings(rows: readonly Record<string, unknown>[]): string[] {
  const out: string[] = [];
  for (const row of rows)
    for (const v of Object.values(row)) {
      if (v === null || v === undefined) continue;
      if (Buffer.isBuffer(v)) out.push(...stringsOf(v.toString('utf8')));
      else if (typeof v === 'object') out.push(...stringsOf(JSON.stringify(v)));
      else out.push(String(v));
    }
  return out;
}

/** Each line of a JSON-lines log as its strings (non-JSON lines whole). */
export function logStrings(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => stringsOf(l));
}

/** The stored rows of a platform run: payment rows of its events, its quarantine and review rows. */
export async function runRows(
  pool: pg.Pool,
  run: { eventIds: readonly string[]; webhooksDlq: string; validationDlq: string },
) {
  const payments = await pool.query('SELECT * FROM payment_events WHERE event_id = ANY($1)', [run.eventIds]);
  const webhook = await pool.query('SELECT * FROM webhook_quarantine WHERE kafka_topic = $1', [run.webhooksDlq]);
  const validation = await pool.query('SELECT * FROM validation_quarantine WHERE kafka_topic = $1', [
    run.validationDlq,
  ]);
  const reviews = await pool.query('SELECT * FROM quarantine_reviews WHERE dlq_topic = $1', [run.validationDlq]);
  return { payments: payments.rows, webhook: webhook.rows, validation: validation.rows, reviews: reviews.rows };
}
