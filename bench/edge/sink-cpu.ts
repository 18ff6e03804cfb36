/**
 * CPU cost per record of the Kafka sink (kafka-wire's IdempotentProducer) on the calling thread: batches of N ~1 KiB records with
 * the edge's six headers, one batch in flight, acks=all, to the bench topic. Usage:
 *   bun bench/edge/sink-cpu.ts [records per batch=32] [batches=300]      (or node --import tsx …)
 */
import { randomUUID } from 'node:crypto';
import { serviceAddresses } from '@pep/contracts';
import { createLogger } from '@pep/contracts/log';
import { loadChecksum } from '@pep/edge/native-checksum';
import type { OutRecord } from '@pep/edge/sink';
import { IdempotentProducer } from '@pep/kafka-wire/idempotent-producer';

const perBatch = Number(process.argv[2] ?? 32);
const batches = Number(process.argv[3] ?? 300);
const topic = process.env.BENCH_SINK_TOPIC ?? 'bench.edge.webhooks.stripe.payment_intent';
const value = Buffer.alloc(1024, 120);
const checksum = await loadChecksum(); // CORE_NATIVE_IMPL=js measures the JS CRC-32C
const sink = new IdempotentProducer({
  brokers: [...serviceAddresses().kafkaBrokers],
  clientId: 'sink-cpu',
  requestTimeoutMs: 10_000,
  producers: 1,
  log: createLogger('warn', { service: 'sink-cpu' }),
  crc32c: checksum.crc32c,
  ...(process.env.EDGE_NATIVE ? { nativeSockets: process.env.EDGE_NATIVE === '1' } : {}),
});
const batch = (i: number): OutRecord[] =>
  Array.from({ length: perBatch }, (_, j) => ({
    topic,
    key: `pi_${(i * perBatch + j) % 97}`,
    value,
    headers: {
      'received-at': new Date().toISOString(),
      'request-id': randomUUID(),
      provider: 'stripe',
      'content-type': 'application/json',
      'event-id': `evt_${i}_${j}`,
      'event-type': 'payment_intent.succeeded',
    },
  }));
await sink.connect();
for (let i = 0; i < 50; i++) await sink.send(batch(i)); // warm-up
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let i = 0; i < batches; i++) await sink.send(batch(i));
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const n = batches * perBatch;
console.log(
  JSON.stringify({
    runtime: (process.versions as Record<string, string | undefined>).bun ? 'bun' : 'node',
    crc32c: checksum.impl,
    records_per_batch: perBatch,
    cpu_us_per_record: Math.round(((cpu.user + cpu.system) / n) * 100) / 100,
    sys_us_per_record: Math.round((cpu.system / n) * 100) / 100,
    records_per_s: Math.round(n / (wallMs / 1000)),
  }),
);
await sink.close();
process.exit(0);
