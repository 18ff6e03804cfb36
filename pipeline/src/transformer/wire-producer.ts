/**
 * The wire transformer's output side: kafka-wire's producers behind the transformer's OutputProducer interface.
 * exactly_once: one transaction per fetch (AddPartitionsToTxn, Produce, AddOffsetsToTxn, TxnOffsetCommit with the
 * group generation, EndTxn) on a ProducerRotation of two stable transactional ids, `<TRANSFORMER_TRANSACTIONAL_ID>`
 * and `<id>-alt1`: right after a commit the coordinator is still writing that transaction's markers, and the same
 * id's next transaction would wait (CONCURRENT_TRANSACTIONS); the other id starts at once. Both ids are stable, so a
 * restarted instance's init() aborts whatever its predecessor left open. at_least_once: the idempotent producer (no
 * transaction, no offsets; the transformer commits offsets after the acks).
 */
import { ProducerRotation, TransactionalProducer } from '@pep/kafka-wire/transaction';
import type { OutputProducerFactory } from './wire-transformer.ts';

export const wireProducerFactory: OutputProducerFactory = (cluster, cfg, core, stages) => {
  const common = {
    cluster,
    ...(stages ? { stages } : {}),
    transactionTimeoutMs: cfg.transactionTimeoutMs,
    // One partition's batch stays under the broker's message.max.bytes (TRANSFORMER_MAX_REQUEST_BYTES); a request
    // may carry several partitions' batches (the producer's own bound).
    maxBatchBytes: cfg.maxRequestBytes,
    compression: cfg.compression,
    ...(core.crc32c ? { crc32c: core.crc32c } : {}),
  };
  if (cfg.mode === 'exactly_once') {
    const rotation = new ProducerRotation({
      ...common,
      transactionalIds: [cfg.transactionalId, `${cfg.transactionalId}-alt1`],
    });
    return {
      init: () => rotation.init(),
      send: async (batches, offsets) => {
        // After a failed transaction a producer needs a new InitProducerId (which also completes or aborts a
        // transaction whose outcome was unknown) before the next one.
        if (rotation.status === 'needs_init') await rotation.init();
        await rotation.commit({ batches, offsets });
      },
      close: async () => rotation.close(),
    };
  }
  const producer = new TransactionalProducer({ ...common, transactionalId: null });
  return {
    init: () => producer.init(),
    send: async (batches) => {
      if (producer.status === 'needs_init') await producer.init();
      await producer.send(batches);
    },
    close: async () => producer.close(),
  };
};
