/**
 * Helpers for the edge's integration tests against the real local Kafka (`npm run stack:up`): spawn the edge as a
 * real process (Bun by default), sign provider requests, and read back what landed on the topics since a mark.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { serviceAddresses } from '@pep/contracts';
import '@pep/contracts/kafkajs-read-committed';
import { freePort } from '@pep/stack/ports';
import { Kafka, logLevel } from 'kafkajs';
import { adyenSignature, adyenSigningString } from '../src/providers/adyen.ts';
import { squareSignature } from '../src/providers/square.ts';
import { stripeSignature } from '../src/providers/stripe.ts';

export { freePort };

export const EDGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const BUN = fileURLToPath(new URL('../../node_modules/.bin/bun', import.meta.url));
export const brokers = [...serviceAddresses().kafkaBrokers];

export const SECRETS = {
  stripe: 'whsec_test_secret_for_dev',
  square: 'sq_signature_key_for_dev',
  adyenHex: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056',
};

export interface EdgeProcess {
  readonly url: string;
  readonly proc: ChildProcess;
  readonly output: () => string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  kill9(): Promise<void>;
}

const READY_TIMEOUT_MS = 60_000;

export async function spawnEdge(
  env: Record<string, string> = {},
  opts: { runtime?: 'bun' | 'node'; waitReady?: boolean; executable?: string } = {},
): Promise<EdgeProcess> {
  const port = await freePort();
  const cmd = opts.executable ?? (opts.runtime === 'node' ? process.execPath : BUN);
  const args = opts.executable ? [] : opts.runtime === 'node' ? ['--import', 'tsx', 'src/main.ts'] : ['src/main.ts'];
  // A compiled executable gets nothing but its configuration (an edge node has no Node, Bun or node_modules).
  const baseEnv = opts.executable ? { PATH: '/usr/bin:/bin', KAFKA_BROKERS: brokers.join(',') } : process.env;
  const proc = spawn(cmd, args, {
    cwd: opts.executable ? '/' : EDGE_DIR,
    env: {
      ...baseEnv,
      NODE_ENV: 'development',
      EDGE_PORT: String(port),
      EDGE_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => {
    out += d;
  });
  proc.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const path = opts.waitReady === false ? '/healthz' : '/readyz';
  // Startup compiles the sources (tsx on Node) and connects to Kafka: seconds on a loaded 2-core machine, over 20 s
  // at times (seen: the Node run); the deadline only catches an edge that never gets ready.
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`edge exited early (${proc.exitCode}):\n${out}`);
    try {
      const res = await fetch(url + path);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`edge not ready within ${READY_TIMEOUT_MS / 1000} s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    proc,
    output: () => out,
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

// ---------- signed requests ----------

export function stripeRequest(body: string, opts: { secret?: string; t?: number } = {}): RequestInit {
  const t = opts.t ?? Math.floor(Date.now() / 1000);
  const sig = stripeSignature(opts.secret ?? SECRETS.stripe, String(t), Buffer.from(body)).toString('hex');
  return {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'stripe-signature': `t=${t},v1=${sig}` },
  };
}

export const stripeEvent = (id: string, type = 'payment_intent.succeeded', objectId = `pi_${id}`) =>
  JSON.stringify({
    id,
    object: 'event',
    type,
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    data: { object: { id: objectId, object: 'payment_intent', amount: 2000, currency: 'usd', customer: 'cus_1' } },
  });

export function squareRequest(body: string, notificationUrl: string): RequestInit {
  const sig = squareSignature(SECRETS.square, notificationUrl, Buffer.from(body)).toString('base64');
  return {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'x-square-hmacsha256-signature': sig },
  };
}

export function adyenBody(psp: string, value = 2000): string {
  const item: Record<string, unknown> = {
    pspReference: psp,
    merchantAccountCode: 'TestMerchant',
    merchantReference: `order_${psp}`,
    amount: { value, currency: 'EUR' },
    eventCode: 'AUTHORISATION',
    success: 'true',
    eventDate: new Date().toISOString(),
  };
  const key = Buffer.from(SECRETS.adyenHex, 'hex');
  item.additionalData = { hmacSignature: adyenSignature(key, adyenSigningString(item) as string).toString('base64') };
  return JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] });
}

// ---------- reading back from Kafka ----------

export interface TopicMark {
  readonly topic: string;
  readonly offsets: { partition: number; offset: string }[];
}

export interface ReadMessage {
  readonly topic: string;
  readonly partition: number;
  readonly key: string | null;
  readonly value: Buffer;
  readonly headers: Record<string, string>;
}

const kafka = () => new Kafka({ clientId: 'edge-test', brokers, logLevel: logLevel.NOTHING, retry: { retries: 5 } });

/** The current end offsets of the topics: messages written after this call are read by readSince. */
export async function markTopics(topics: readonly string[]): Promise<TopicMark[]> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    return await Promise.all(
      topics.map(async (topic) => ({
        topic,
        offsets: (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.high })),
      })),
    );
  } finally {
    await admin.disconnect();
  }
}

/** Reads everything written after the marks until `done(messages)` holds or the timeout passes. */
export async function readSince(
  marks: readonly TopicMark[],
  done: (msgs: readonly ReadMessage[]) => boolean,
  timeoutMs = 20_000,
): Promise<ReadMessage[]> {
  const consumer = kafka().consumer({ groupId: `edge-test-${randomUUID()}`, sessionTimeout: 10_000 });
  const msgs: ReadMessage[] = [];
  await consumer.connect();
  try {
    for (const m of marks) await consumer.subscribe({ topic: m.topic, fromBeginning: false });
    let resolveDone: () => void = () => undefined;
    const finished = new Promise<void>((r) => {
      resolveDone = r;
    });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        msgs.push({
          topic,
          partition,
          key: message.key?.toString() ?? null,
          value: message.value ?? Buffer.alloc(0),
          headers,
        });
        if (done(msgs)) resolveDone();
      },
    });
    for (const m of marks)
      for (const o of m.offsets) consumer.seek({ topic: m.topic, partition: o.partition, offset: o.offset });
    if (done(msgs)) return msgs;
    // the timer cleared once done: left running, it kept the test file's process alive for up to timeoutMs
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([finished, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
    return msgs;
  } finally {
    await consumer.disconnect();
  }
}

/** Waits until the broker answers a metadata request (other suites may be restarting the shared broker). */
export async function waitForKafka(timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const admin = new Kafka({
      clientId: 'edge-test-wait',
      brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      await admin.fetchTopicOffsets('webhooks.dlq');
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(`Kafka not reachable within ${timeoutMs} ms: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
