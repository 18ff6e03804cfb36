/**
 * Every published provider example and every Braintree sample kind, sent through the running platform: the real edge
 * (Bun, its own port) and the real transformer (native core) as child processes against the local stack's Kafka. Each
 * request is signed as its provider signs it (Stripe with the official SDK's test header, Square's HMAC over URL +
 * body, Adyen per item and whole-body with the official library's HMAC, Braintree by the official SDK), with fresh
 * ids, and must be answered 200; then its one outcome is checked against its case (src/cases.ts): the normalized
 * event's type, status, amount, currency and object, or the validation-DLQ codes, or the record kept in
 * `webhooks.<provider>.other`, and never a `webhooks.dlq` record. Outputs are matched to requests by the request id
 * the edge stamps on every record and the transformer copies.
 *
 * Needs the local stack (`npm run stack:up`): Kafka. The transformer writes to private output topics and its group
 * starts at the end of the raw topics, so nothing else's records are re-read and the shared output topics are
 * untouched.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hmacValidator } from '@adyen/api-library';
import {
  LOCAL_WEBHOOK_SECRETS,
  OTHER_TOPICS,
  type Provider,
  RAW_TOPICS,
  serviceAddresses,
  TOPICS,
} from '@pep/contracts';
import { hasCardNumber } from '@pep/contracts/redact';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import '@pep/contracts/kafkajs-read-committed';
import { freePort } from '@pep/stack/ports';
import { Kafka, logLevel } from 'kafkajs';
import Stripe from 'stripe';
import { EXAMPLE_CASES, type ExampleCase } from '../src/cases.ts';
import { braintreeForm, braintreeSample, loadExamples } from '../src/examples.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUN = `${ROOT}node_modules/.bin/bun`;
const brokers = [...serviceAddresses().kafkaBrokers];
const run = randomBytes(4).toString('hex');
const normalizedTopic = `conformance-${run}.payments.normalized`;
const dlqTopic = `conformance-${run}.payments.validation.dlq`;
const transformerGroup = `conformance-${run}-transformer`;
const kafka = new Kafka({ clientId: 'conformance', brokers, logLevel: logLevel.NOTHING });
const stripe = new Stripe('sk_test_conformance');
const adyenHmac = new hmacValidator();

const WAIT_MS = 120_000;
const children: ChildProcess[] = [];
let edgeUrl = '';
let squareUrl = '';

function start(cmd: string, args: string[], cwd: string, env: Record<string, string>): ChildProcess {
  const p = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout?.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  p.stderr?.on('data', (d) => {
    out = (out + d).slice(-20_000);
  });
  p.once('exit', (code) => {
    if (code !== 0 && code !== null) console.error(`# ${cmd} ${args.join(' ')} exited ${code}:\n${out}`);
  });
  children.push(p);
  return p;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Received {
  readonly topic: string;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

/** Every record of `topics` from `from` (offsets per partition, else the start) up to the current ends. */
async function read(topics: readonly string[], from: Map<string, string> = new Map()): Promise<Received[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ranges: { topic: string; partition: number; start: bigint; end: bigint }[] = [];
  try {
    for (const topic of topics) {
      for (const o of await admin.fetchTopicOffsets(topic)) {
        const start = BigInt(from.get(`${topic}/${o.partition}`) ?? o.low);
        if (BigInt(o.high) > start) ranges.push({ topic, partition: o.partition, start, end: BigInt(o.high) });
      }
    }
  } finally {
    await admin.disconnect();
  }
  const out: Received[] = [];
  if (ranges.length === 0) return out;
  const consumer = kafka.consumer({ groupId: `conformance-reader-${randomUUID()}`, readUncommitted: false });
  await consumer.connect();
  const pending = new Set(ranges.map((r) => `${r.topic}/${r.partition}`));
  try {
    await consumer.subscribe({ topics: [...new Set(ranges.map((r) => r.topic))], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topics.join(', ')} timed out`)), 60_000);
      consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
        const r = ranges.find((x) => x.topic === e.payload.topic && x.partition === e.payload.partition);
        if (r && BigInt(e.payload.lastOffset) + 1n >= r.end) pending.delete(`${r.topic}/${r.partition}`);
        if (pending.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      void consumer.run({
        eachBatch: async ({ batch }) => {
          const r = ranges.find((x) => x.topic === batch.topic && x.partition === batch.partition);
          for (const m of batch.messages) {
            if (!r || BigInt(m.offset) < r.start || BigInt(m.offset) >= r.end) continue;
            const headers: Record<string, string> = {};
            for (const [h, v] of Object.entries(m.headers ?? {})) if (v !== undefined) headers[h] = v.toString();
            out.push({ topic: batch.topic, value: m.value ?? Buffer.alloc(0), headers });
          }
        },
      });
      for (const r of ranges) consumer.seek({ topic: r.topic, partition: r.partition, offset: r.start.toString() });
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

async function endOffsets(topics: readonly string[]): Promise<Map<string, string>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const m = new Map<string, string>();
    for (const t of topics) for (const o of await admin.fetchTopicOffsets(t)) m.set(`${t}/${o.partition}`, o.high);
    return m;
  } finally {
    await admin.disconnect();
  }
}

/** A request signed as its provider signs it, with fresh ids, and what its outputs must say. */
interface Sent {
  readonly c: ExampleCase;
  readonly requestId: string;
  /** The expected object id, after the fresh ids. */
  readonly objectId: string | null;
  /** The provider's own type as sent (Stripe/Square `type`, Adyen first `eventCode`, Braintree kind). */
  readonly providerType: string;
  readonly status: number;
  readonly answer: string;
}

/**
 * A random id: the prefix and 16 random hex digits, drawn again in the rare case they hold a card number as the
 * transformer reads one (`hasCardNumber`: 13 to 19 digits with a card brand's leading digits and length that pass
 * Luhn; such an id is refused with CARD_NUMBER_IN_ID, card numbers are never stored).
 */
function fresh(prefix: string): string {
  for (;;) {
    const suffix = randomBytes(8).toString('hex');
    if (!hasCardNumber(suffix)) return `${prefix}${suffix}`;
  }
}

/**
 * A pspReference as Adyen's classic integration writes it: 16 digits starting with 8 or 9, here always Luhn-valid (as
 * about 1 in 10 real ones is by chance). No card brand's range starts with 8 or 9, so the transformer accepts it: the
 * suite would lose these events to the validation DLQ if the card rule took any Luhn-valid 16-digit run for a card.
 */
function adyenPspReference(): string {
  const digits = [8 + ((randomBytes(1)[0] as number) % 2), ...[...randomBytes(14)].map((b) => b % 10)];
  let sum = 0;
  for (let k = 0; k < digits.length; k++) {
    // From the right, the check digit (appended below) is not doubled, the digit before it is, and so on.
    const d = digits[digits.length - 1 - k] as number;
    sum += k % 2 === 0 ? (d * 2 > 9 ? d * 2 - 9 : d * 2) : d;
  }
  return `${digits.join('')}${(10 - (sum % 10)) % 10}`;
}

function stripeRequest(body: Buffer): { body: string; headers: Record<string, string> } {
  const doc = JSON.parse(body.toString('utf8'));
  doc.id = fresh('evt_conf');
  const payload = JSON.stringify(doc, null, 2); // Stripe sends 2-space indented JSON
  const header = stripe.webhooks.generateTestHeaderString({
    payload,
    secret: LOCAL_WEBHOOK_SECRETS.STRIPE_WEBHOOK_SECRET,
  });
  return { body: payload, headers: { 'content-type': 'application/json', 'stripe-signature': header } };
}

function squareRequest(body: Buffer): { body: string; headers: Record<string, string> } {
  const doc = JSON.parse(body.toString('utf8'));
  doc.event_id = randomUUID();
  const payload = JSON.stringify(doc); // Square sends compact JSON
  const sig = createHmac('sha256', LOCAL_WEBHOOK_SECRETS.SQUARE_WEBHOOK_SIGNATURE_KEY)
    .update(squareUrl + payload)
    .digest('base64');
  return { body: payload, headers: { 'content-type': 'application/json', 'x-square-hmacsha256-signature': sig } };
}

function adyenRequest(body: Buffer): { body: string; headers: Record<string, string>; psp: string } {
  const doc = JSON.parse(body.toString('utf8'));
  const psp = adyenPspReference();
  const key = LOCAL_WEBHOOK_SECRETS.ADYEN_HMAC_KEY;
  if (Array.isArray(doc.notificationItems)) {
    for (const w of doc.notificationItems) {
      const item = w.NotificationRequestItem;
      item.pspReference = psp;
      item.additionalData = { ...(item.additionalData ?? {}) };
      delete item.additionalData.hmacSignature;
      item.additionalData.hmacSignature = adyenHmac.calculateHmac(item, key);
    }
    return { body: JSON.stringify(doc), headers: { 'content-type': 'application/json' }, psp };
  }
  doc.data.pspReference = psp;
  const payload = JSON.stringify(doc, null, 2);
  return {
    body: payload,
    headers: { 'content-type': 'application/json', HmacSignature: adyenHmac.calculateHmac(payload, key) },
    psp,
  };
}

async function send(c: ExampleCase, body: Buffer | null): Promise<Sent> {
  const requestId = fresh(`conf-${c.provider}-`);
  let providerType = c.name;
  if (body !== null && c.provider !== 'braintree') {
    const doc = JSON.parse(body.toString('utf8'));
    providerType = doc.notificationItems?.[0]?.NotificationRequestItem?.eventCode ?? doc.type;
  }
  let req: { body: string; headers: Record<string, string> };
  let objectId = c.event?.object_id ?? null;
  if (c.provider === 'stripe') req = stripeRequest(body as Buffer);
  else if (c.provider === 'square') req = squareRequest(body as Buffer);
  else if (c.provider === 'adyen') {
    const a = adyenRequest(body as Buffer);
    req = a;
    objectId = objectId === null ? null : a.psp;
  } else {
    const id = fresh('conf_');
    const sample = braintreeSample(c.name, id, {
      publicKey: LOCAL_WEBHOOK_SECRETS.BRAINTREE_PUBLIC_KEY,
      privateKey: LOCAL_WEBHOOK_SECRETS.BRAINTREE_PRIVATE_KEY,
    });
    req = { body: braintreeForm(sample), headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    if (objectId === '$id') objectId = id;
  }
  const res = await fetch(`${edgeUrl}/webhooks/${c.provider}`, {
    method: 'POST',
    body: req.body,
    headers: { ...req.headers, 'x-request-id': requestId },
  });
  return { c, requestId, objectId, providerType, status: res.status, answer: await res.text() };
}

describe('every provider example through the running platform', () => {
  const sent: Sent[] = [];
  let marks = new Map<string, string>();
  const shared = [...Object.values(OTHER_TOPICS), TOPICS.webhooksDlq];

  before(async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await createTopicsAndWait(admin, [
        { topic: normalizedTopic, numPartitions: 3, replicationFactor: 1 },
        { topic: dlqTopic, numPartitions: 1, replicationFactor: 1 },
      ]);
      // The transformer starts at the raw topics' ends: only what this test sends is transformed.
      for (const topic of Object.values(RAW_TOPICS)) {
        const ends = await admin.fetchTopicOffsets(topic);
        await admin.setOffsets({
          groupId: transformerGroup,
          topic,
          partitions: ends.map((o) => ({ partition: o.partition, offset: o.high })),
        });
      }
    } finally {
      await admin.disconnect();
    }
    marks = await endOffsets(shared);

    const port = await freePort();
    edgeUrl = `http://127.0.0.1:${port}`;
    squareUrl = `${edgeUrl}/webhooks/square`;
    start(BUN, ['src/main.ts'], `${ROOT}edge`, {
      NODE_ENV: 'development',
      EDGE_PORT: String(port),
      EDGE_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      SQUARE_NOTIFICATION_URL: squareUrl,
    });
    start(process.execPath, ['--import', 'tsx', 'src/transformer/main.ts'], `${ROOT}pipeline`, {
      CORE_NATIVE_IMPL: 'native',
      TRANSFORMER_GROUP_ID: transformerGroup,
      TRANSFORMER_TRANSACTIONAL_ID: `${transformerGroup}-0`,
      TRANSFORMER_NORMALIZED_TOPIC: normalizedTopic,
      TRANSFORMER_DLQ_TOPIC: dlqTopic,
      TRANSFORMER_METRICS_PORT: '0',
      PIPELINE_LOG_LEVEL: 'warn',
    });
    await until('the edge to be ready', async () => {
      const r = await fetch(`${edgeUrl}/readyz`);
      return r.ok ? true : undefined;
    });
  });

  after(async () => {
    for (const p of children) p.kill('SIGTERM');
    await Promise.all(
      children.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : Promise.resolve())),
    );
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [normalizedTopic, dlqTopic] }).catch(() => undefined);
    await admin.deleteGroups([transformerGroup]).catch(() => undefined);
    await admin.disconnect();
  });

  it('answers 200 to every example, signed as its provider signs it', async () => {
    const bodies = new Map(loadExamples().map((e) => [`${e.provider}/${e.name}`, e.body]));
    for (const c of EXAMPLE_CASES) {
      const s = await send(c, bodies.get(`${c.provider}/${c.name}`) ?? null);
      sent.push(s);
    }
    const refused = sent
      .filter((s) => s.status !== 200)
      .map((s) => `${s.c.provider}/${s.c.name}: ${s.status} ${s.answer}`);
    assert.deepEqual(refused, []);
    for (const s of sent.filter((x) => x.c.provider === 'adyen')) assert.equal(s.answer, '[accepted]');
    const counts = (p: Provider) => sent.filter((s) => s.c.provider === p).length;
    assert.deepEqual(
      [counts('stripe'), counts('square'), counts('adyen')],
      [31, 25, 47],
      'every published example was sent',
    );
  });

  it('ends each example in the place its case states, with its type, status, amount and currency', async () => {
    assert.ok(sent.length > 0, 'the requests were sent');
    const raw = sent.filter((s) => !s.c.topic.endsWith('.other'));
    const outputs = await until('every raw example to reach payments.normalized or the validation DLQ', async () => {
      const got = await read([normalizedTopic, dlqTopic]);
      const seen = new Set(got.map((r) => r.headers['request-id']));
      return raw.every((s) => seen.has(s.requestId)) ? got : undefined;
    });
    const kept = await until('every other example to reach webhooks.<provider>.other', async () => {
      const got = await read(shared, marks);
      const seen = new Set(got.filter((r) => r.topic.endsWith('.other')).map((r) => r.headers['request-id']));
      return sent.filter((s) => s.c.topic.endsWith('.other')).every((s) => seen.has(s.requestId)) ? got : undefined;
    });

    const problems: string[] = [];
    for (const s of sent) {
      const c = s.c;
      const mine = outputs.filter((r) => r.headers['request-id'] === s.requestId);
      const events = mine.filter((r) => r.topic === normalizedTopic).map((r) => JSON.parse(r.value.toString('utf8')));
      const dlq = mine.filter((r) => r.topic === dlqTopic).map((r) => JSON.parse(r.value.toString('utf8')));
      const other = kept.filter((r) => r.headers['request-id'] === s.requestId);
      const where = `${c.provider}/${c.name}`;
      if (other.some((r) => r.topic === TOPICS.webhooksDlq)) problems.push(`${where}: a webhooks.dlq record`);
      if (c.topic.endsWith('.other')) {
        if (other.filter((r) => r.topic === c.topic).length !== 1) problems.push(`${where}: not kept in ${c.topic}`);
        if (events.length + dlq.length > 0) problems.push(`${where}: kept in ${c.topic} but also transformed`);
        continue;
      }
      if (c.dlq) {
        const codes = dlq.flatMap((d) => d.validation_errors.map((e: { code: string }) => e.code));
        if (events.length !== 0 || JSON.stringify(codes) !== JSON.stringify(c.dlq))
          problems.push(`${where}: expected DLQ ${c.dlq.join(',')}, got ${events.length} events, codes ${codes}`);
        continue;
      }
      const want = c.event;
      if (!want || events.length !== 1 || dlq.length !== 0) {
        problems.push(`${where}: expected one event, got ${events.length} events and ${dlq.length} DLQ records`);
        continue;
      }
      const e = events[0];
      const got = [e.event_type, e.provider_event_type, e.status, e.amount_minor, e.currency, e.object_id, e.provider];
      const expected = [
        want.event_type,
        s.providerType,
        want.status,
        want.amount_minor,
        want.currency,
        s.objectId,
        c.provider,
      ];
      if (JSON.stringify(got) !== JSON.stringify(expected))
        problems.push(`${where}: got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
    assert.deepEqual(problems, []);
    const normalized = outputs.filter((r) => r.topic === normalizedTopic).length;
    const toDlq = outputs.filter((r) => r.topic === dlqTopic).length;
    const mine = new Set(sent.map((x) => x.requestId));
    const toOther = kept.filter((r) => r.topic.endsWith('.other') && mine.has(r.headers['request-id'] ?? '')).length;
    assert.equal(normalized + toDlq + toOther, sent.length, 'one outcome per example, nothing else');
    console.log(
      `# platform: ${sent.length} examples: ${normalized} normalized, ${toDlq} validation DLQ, ${toOther} kept in webhooks.<provider>.other`,
    );
  });
});
