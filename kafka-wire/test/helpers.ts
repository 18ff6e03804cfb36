/**
 * Shared setup for kafka-wire's integration tests against the local broker (KAFKA_BROKERS, default 127.0.0.1:9092):
 * the broker list, unique names per run, and topic creation through kafkajs's admin (an independent client).
 */

import { createRequire } from 'node:module';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { createTopicsAndWait } from '../src/admin.ts';
import type { KafkaCluster } from '../src/cluster.ts';
import { decompress } from '../src/compression.ts';
import { decodeFetchResponse, encodeFetchRequest, ISOLATION } from '../src/fetch.ts';
import {
  decodeJoinGroupResponse,
  decodeSyncGroupResponse,
  encodeAssignment,
  encodeJoinGroupRequest,
  encodeSubscription,
  encodeSyncGroupRequest,
  ROUND_ROBIN,
} from '../src/group.ts';

export const BROKERS: readonly string[] = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

const RUN = `${Date.now().toString(36)}-${process.pid}`;
let seq = 0;
/** A name unique to this test run (topics, groups, transactional ids). */
export const unique = (prefix: string): string => `${prefix}-${RUN}-${seq++}`;

export const kafkajs = (): Kafka =>
  new Kafka({ brokers: [...BROKERS], clientId: 'kafka-wire-test', logLevel: logLevel.NOTHING });

/** Topics this process created, for `deleteCreatedTopics`. */
const created = new Set<string>();

export async function createTopics(topics: readonly { topic: string; partitions: number }[]): Promise<void> {
  const admin = kafkajs().admin();
  await admin.connect();
  try {
    await createTopicsAndWait(
      admin,
      topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 })),
    );
    for (const t of topics) created.add(t.topic);
  } finally {
    await admin.disconnect();
  }
}

/** Deletes the topics this process created (tests call it last, so runs do not pile up topics on the broker). */
export async function deleteCreatedTopics(): Promise<void> {
  if (created.size === 0) return;
  const admin = kafkajs().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [...created] });
    created.clear();
  } catch (err) {
    console.error(`could not delete test topics: ${(err as Error).message}`);
  } finally {
    await admin.disconnect();
  }
}

export interface TestRecord {
  readonly key: string | null;
  readonly value: string;
  readonly headers?: Readonly<Record<string, string>>;
}

interface KafkajsEncoder {
  buffer: Buffer;
}
const kafkajsRecord = createRequire(import.meta.url)('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (r: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer;
  headers: Record<string, string>;
}) => KafkajsEncoder;

/**
 * A RecordBatch v2 records section (what core-native's transformRecordSets returns) encoded by kafkajs's own Record
 * encoder, so the producer under test is checked against an independent encoding.
 */
export function recordsSection(
  records: readonly TestRecord[],
  timestampMs = Date.now(),
): { records: Buffer; count: number; firstTimestampMs: number; maxTimestampMs: number } {
  const parts = records.map(
    (r, i) =>
      kafkajsRecord({
        offsetDelta: i,
        timestampDelta: 0,
        key: r.key === null ? null : Buffer.from(r.key),
        value: Buffer.from(r.value),
        headers: { ...r.headers },
      }).buffer,
  );
  return {
    records: Buffer.concat(parts),
    count: records.length,
    firstTimestampMs: timestampMs,
    maxTimestampMs: timestampMs,
  };
}

export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Record<string, string>;
}

/**
 * Reads `topics` from the beginning with a kafkajs consumer (read_committed unless told otherwise) until `stop`
 * says so or `timeoutMs` passes, then `settleMs` longer (so a duplicate would show up), and returns every record.
 */
export async function readTopics(
  topics: readonly string[],
  stop: (records: readonly ReadRecord[]) => boolean,
  opts: { readUncommitted?: boolean; timeoutMs?: number; settleMs?: number } = {},
): Promise<ReadRecord[]> {
  const consumer = kafkajs().consumer({
    groupId: unique('kw-reader'),
    readUncommitted: opts.readUncommitted ?? false,
    maxWaitTimeInMs: 100,
  });
  const out: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    let done: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        out.push({
          topic,
          partition,
          offset: message.offset,
          key: message.key === null ? null : message.key.toString(),
          value: message.value?.toString() ?? '',
          headers,
        });
        if (stop(out)) done();
      },
    });
    // the timer cleared once done: left running, it kept the test file's process alive for up to 20 s
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, opts.timeoutMs ?? 20_000);
    });
    await Promise.race([finished, timeout]);
    clearTimeout(timer);
    await new Promise((resolve) => setTimeout(resolve, opts.settleMs ?? 500));
    return out;
  } finally {
    await consumer.disconnect();
  }
}

/** Committed offsets of a group (kafkajs admin), as `topic/partition -> offset` ('-1' when none). */
export async function committedOffsets(groupId: string, topics: readonly string[]): Promise<Map<string, string>> {
  const admin = kafkajs().admin();
  await admin.connect();
  try {
    const res = await admin.fetchOffsets({ groupId, topics: [...topics] });
    const out = new Map<string, string>();
    for (const t of res) for (const p of t.partitions) out.set(`${t.topic}/${p.partition}`, p.offset);
    return out;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Joins (or rejoins) `groupId` as its only member with the consumer-side encoders and returns the membership: a real
 * generation for TxnOffsetCommit's fence. Rejoining with the returned member id starts the next generation.
 */
export async function joinAsOnlyMember(
  cluster: KafkaCluster,
  groupId: string,
  topics: readonly string[],
  memberId = '',
): Promise<{ generationId: number; memberId: string }> {
  const node = await cluster.coordinator('group', groupId);
  const join = (member: string) =>
    cluster.send(
      node,
      (id) =>
        encodeJoinGroupRequest(id, cluster.clientId, {
          groupId,
          sessionTimeoutMs: 30_000,
          rebalanceTimeoutMs: 10_000,
          memberId: member,
          groupInstanceId: null,
          protocols: [{ name: ROUND_ROBIN, metadata: encodeSubscription(topics) }],
        }),
      decodeJoinGroupResponse,
      'group',
    );
  let res = await join(memberId);
  if (res.errorCode === 79) res = await join(res.memberId); // MEMBER_ID_REQUIRED: the first join only hands out an id
  if (res.errorCode !== 0) throw new Error(`JoinGroup failed with code ${res.errorCode}`);
  const joined = res;
  const assignment = encodeAssignment(new Map(topics.map((t) => [t, [0]])));
  const sync = await cluster.send(
    node,
    (id) =>
      encodeSyncGroupRequest(id, cluster.clientId, {
        groupId,
        generationId: joined.generationId,
        memberId: joined.memberId,
        groupInstanceId: null,
        assignments: [{ memberId: joined.memberId, assignment }],
      }),
    decodeSyncGroupResponse,
    'group',
  );
  if (sync.errorCode !== 0) throw new Error(`SyncGroup failed with code ${sync.errorCode}`);
  return { generationId: joined.generationId, memberId: joined.memberId };
}

export interface DecodedRecord {
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: [string, Buffer][];
  /** The codec of the batch the record came in (attributes bits 0-2). */
  readonly codec: number;
}

/**
 * Every data record of a partition's fetched bytes (RecordBatch v2), decompressed with kafka-wire's own codecs:
 * what the conformance tests compare with the maintained clients. Control batches are skipped.
 */
export function decodeRecordBatches(partition: number, bytes: Buffer): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  let at = 0;
  while (at + 61 <= bytes.length) {
    const baseOffset = bytes.readBigInt64BE(at);
    const total = 12 + bytes.readInt32BE(at + 8);
    if (at + total > bytes.length) break; // a truncated last batch
    const attributes = bytes.readInt16BE(at + 21);
    const codec = attributes & 7;
    const count = bytes.readInt32BE(at + 57);
    if ((attributes & 0x20) === 0) {
      const section = bytes.subarray(at + 61, at + total);
      const recs = codec === 0 ? section : decompress(codec, section, 64 << 20);
      const r = { buf: recs, at: 0 };
      const varint = (): number => {
        let z = 0;
        let shift = 0;
        for (;;) {
          const b = r.buf[r.at++] as number;
          z += (b & 0x7f) * 2 ** shift;
          if (b < 0x80) break;
          shift += 7;
        }
        return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      };
      const bytesOf = (): Buffer | null => {
        const n = varint();
        if (n < 0) return null;
        const b = r.buf.subarray(r.at, r.at + n);
        r.at += n;
        return Buffer.from(b);
      };
      for (let i = 0; i < count; i++) {
        varint(); // length
        r.at++; // attributes
        varint(); // timestampDelta
        const offsetDelta = varint();
        const key = bytesOf();
        const value = bytesOf();
        const headers: [string, Buffer][] = [];
        for (let h = varint(); h > 0; h--)
          headers.push([(bytesOf() as Buffer).toString('utf8'), bytesOf() ?? Buffer.alloc(0)]);
        out.push({ partition, offset: baseOffset + BigInt(offsetDelta), key, value, headers, codec });
      }
    }
    at += total;
  }
  return out;
}

/** Every record of `topic` (partitions 0..partitions-1) from offset 0 to the high watermark, via kafka-wire's Fetch. */
export async function fetchAll(cluster: KafkaCluster, topic: string, partitions: number): Promise<DecodedRecord[]> {
  const all: DecodedRecord[] = [];
  for (let p = 0; p < partitions; p++) {
    let offset = 0n;
    for (let round = 0; round < 1000; round++) {
      const node = await cluster.leaderFor(topic, p);
      const res = await cluster.send(
        node,
        (id) =>
          encodeFetchRequest(id, cluster.clientId, {
            maxWaitMs: 100,
            minBytes: 1,
            maxBytes: 8 << 20,
            isolationLevel: ISOLATION.readCommitted,
            topics: [{ topic, partitions: [{ partition: p, fetchOffset: offset, maxBytes: 8 << 20 }] }],
          }),
        decodeFetchResponse,
      );
      const part = res.partitions[0];
      if (part?.errorCode !== 0) throw new Error(`fetch ${topic}/${p}: error ${part?.errorCode}`);
      const recs = decodeRecordBatches(p, part.records).filter((r) => r.offset >= offset);
      all.push(...recs);
      const last = recs.at(-1);
      if (last) offset = last.offset + 1n;
      if (offset >= part.lastStableOffset || (!last && part.records.length === 0)) break;
    }
  }
  return all;
}
