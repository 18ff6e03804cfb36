/**
 * Replay republishes exactly the raw records of the window (and provider) from bronze.webhook_events into their
 * raw topics: same key, same body bytes, same headers plus `replayed-from`; records of webhooks.dlq and records
 * outside the window are not replayed. Private catalog and private topics; needs Kafka and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LAKE_TABLES, REPRODUCED_HEADERS, serviceAddresses } from '@pep/contracts';
import { createTopicsAndWait } from '@pep/kafka-wire/admin';
import '@pep/contracts/kafkajs-read-committed';
import { Kafka, logLevel } from 'kafkajs';
import { TableBatchBuilder } from '../src/arrow.ts';
import { replay } from '../src/replay.ts';
import { webhookEventRow } from '../src/rows.ts';
import { LakeWriter } from '../src/writer.ts';
import { removeWarehouse, tag, testConfig } from './helpers.ts';

const cfg = testConfig();
const prefix = `t-replay-${tag()}.`;
const stripe = `${prefix}webhooks.stripe.charge`;
const adyen = `${prefix}webhooks.adyen.notification`;
const dlq = `${prefix}webhooks.dlq`;
const brokers = serviceAddresses().kafkaBrokers;
const kafka = new Kafka({ clientId: 'replay-test', brokers: [...brokers], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const DAY = Date.UTC(2026, 10, 26);

before(async () => {
  await admin.connect();
  await createTopicsAndWait(
    admin,
    [stripe, adyen, dlq].map((topic) => ({ topic, numPartitions: 1 })),
  );
  const writer = await LakeWriter.open(cfg);
  await writer.ensureTable(LAKE_TABLES.webhook_events);
  const b = new TableBatchBuilder(LAKE_TABLES.webhook_events);
  const rec = (topic: string, offset: number, at: number, body: Uint8Array) =>
    webhookEventRow({
      topic,
      partition: 0,
      offset: BigInt(offset),
      timestampMs: at,
      key: Buffer.from(`key-${offset}`),
      value: body,
      headers: { 'received-at': new Date(at).toISOString(), 'request-id': `r${offset}` },
    });
  for (let i = 0; i < 6; i++) b.append(rec(stripe, i, DAY + i * 3600_000, Buffer.from(`{"id":"evt_${i}"}`)));
  b.append(rec(adyen, 0, DAY + 1000, Buffer.from([0x00, 0xff, 0x10])));
  b.append(rec(dlq, 0, DAY + 2000, Buffer.from('{"reason":"invalid_signature"}')));
  b.append(rec(stripe, 6, DAY + 86_400_000 + 5, Buffer.from('{"id":"evt_next_day"}')));
  const w = await writer.write(LAKE_TABLES.webhook_events.qualifiedName, b.finishIpc(), 'replay-test');
  await writer.commit(w.handle, { cursorKey: 'test', expected: { x: null }, next: { x: '1' }, writer: 'replay-test' });
});

after(async () => {
  await admin.deleteTopics({ topics: [stripe, adyen, dlq] }).catch(() => undefined);
  await admin.disconnect();
  await removeWarehouse(cfg);
});

async function readTopic(topic: string, expected: number) {
  const consumer = kafka.consumer({ groupId: `${prefix}reader-${tag()}` });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const got: { key: string; value: Buffer; headers: Record<string, string> }[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`read ${got.length} of ${expected}`)), 30_000);
    void consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
        got.push({ key: String(message.key), value: message.value as Buffer, headers });
        if (got.length >= expected) {
          clearTimeout(timer);
          resolve();
        }
      },
    });
  });
  await consumer.disconnect();
  return got;
}

describe('replay', () => {
  it('republishes the window of one provider, byte for byte, and nothing else', async () => {
    const s = await replay(cfg, { fromMs: DAY, toMs: DAY + 86_400_000, providers: ['stripe'], brokers });
    assert.equal(s.records, 6);
    assert.deepEqual(s.byTopic, { [stripe]: 6 });
    const got = await readTopic(stripe, 6);
    assert.deepEqual(
      got.map((g) => g.value.toString()),
      [0, 1, 2, 3, 4, 5].map((i) => `{"id":"evt_${i}"}`),
    );
    assert.equal(got[2]?.key, 'key-2');
    assert.equal(got[2]?.headers['request-id'], 'r2');
    assert.equal(got[2]?.headers[REPRODUCED_HEADERS.replayedFrom], `${stripe}/0/2`);
  });

  it('keeps binary bodies intact and never replays edge rejections', async () => {
    const s = await replay(cfg, { fromMs: DAY, toMs: DAY + 86_400_000, providers: ['adyen'], brokers });
    assert.deepEqual(s.byTopic, { [adyen]: 1 });
    const [one] = await readTopic(adyen, 1);
    assert.deepEqual([...(one?.value ?? [])], [0x00, 0xff, 0x10]);
    const all = await replay(cfg, { fromMs: DAY, toMs: DAY + 86_400_000, brokers, dryRun: true });
    assert.equal(all.byTopic[dlq], undefined, 'webhooks.dlq records are not replayed');
    assert.equal(all.records, 7);
    await assert.rejects(replay(cfg, { fromMs: DAY, toMs: DAY, brokers }), /--from must be before --to/);
  });
});
