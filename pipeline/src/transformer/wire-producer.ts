/**
 * The wire transformer's output side: kafka-wire's TransactionalProducer behind the transformer's OutputProducer
 * interface. exactly_once: one transaction per fetch (AddPartitionsToTxn, Produce, AddOffsetsToTxn, TxnOffsetCommit
 * with the group generation, EndTxn), with the transformer's stable transactional id. at_least_once: the producer's
 * idempotent mode (no transaction, no offsets; the transformer commits offsets after the acks).
 */
import { TransactionalProducer } from '@pep/kafka-wire/transaction';
import type { OutputProducerFactory } from './wire-transformer.ts';

export const wireProducerFactory: OutputProducerFactory = (cluster, cfg, core) => {
  const eos = cfg.mode === 'exactly_once';
  const producer = new TransactionalProducer({
    cluster,
    transactionalId: eos ? cfg.transactionalId : null,
    transactionTimeoutMs: cfg.transactionTimeoutMs,
    // One partition's batch stays under the broker's message.max.bytes (TRANSFORMER_MAX_REQUEST_BYTES); a request may
    // carry several partitions' batches (the producer's own bound).
    maxBatchBytes: cfg.maxRequestBytes,
    ...(core.crc32c ? { crc32c: core.crc32c } : {}),
  });
  return {
    init: () => producer.init(),
    send: async (batches, offsets) => {
      // After a failed transaction the producer needs a new InitProducerId (which also completes or aborts a
      // transaction whose outcome was unknown) before the next one.
      if (producer.status === 'needs_init') await producer.init();
      if (eos) await producer.commit({ batches, offsets });
      else await producer.send(batches);
    },
    close: async () => {
      producer.close();
    },
  };
};
