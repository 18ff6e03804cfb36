/**
 * Child process for the "killed mid-transaction" test: opens a transaction (AddPartitionsToTxn, Produce,
 * AddOffsetsToTxn, TxnOffsetCommit, all acknowledged) and never ends it; prints "open" and waits to be killed.
 * Arguments: transactional id, output topic, group id, input topic.
 */

import { KafkaCluster } from '../src/cluster.ts';
import { decodeProduceResponse } from '../src/protocol.ts';
import { TransactionalProducer } from '../src/transaction.ts';
import {
  decodeAddPartitionsToTxnResponse,
  decodeErrorCodeResponse,
  decodeTxnOffsetCommitResponse,
  encodeAddOffsetsToTxnRequest,
  encodeAddPartitionsToTxnRequest,
  encodeOpaqueProduceRequest,
  encodeTxnOffsetCommitRequest,
} from '../src/transaction-protocol.ts';
import { BROKERS, recordsSection } from './helpers.ts';

const [tid, topic, groupId, input] = process.argv.slice(2) as [string, string, string, string];
const cluster = new KafkaCluster({ brokers: BROKERS, clientId: 'kafka-wire-test-child' });
const producer = new TransactionalProducer({ cluster, transactionalId: tid, transactionTimeoutMs: 60_000 });
await producer.init();
const ident = { transactionalId: tid, ...producer.identity };
const txnNode = await cluster.coordinator('transaction', tid);
const added = await cluster.send(
  txnNode,
  (id) => encodeAddPartitionsToTxnRequest(id, cluster.clientId, ident, [{ topic, partition: 0 }]),
  decodeAddPartitionsToTxnResponse,
);
if (added.some((p) => p.errorCode !== 0)) throw new Error(`AddPartitionsToTxn: ${JSON.stringify(added)}`);
const leader = await cluster.leaderFor(topic, 0);
const section = recordsSection(
  Array.from({ length: 5 }, (_, i) => ({ key: `killed-${i}`, value: `v${i}` })),
  Date.now(),
);
const produced = await cluster.send(
  leader,
  (id) =>
    encodeOpaqueProduceRequest(id, cluster.clientId, { ...ident, acks: -1, timeoutMs: 10_000 }, [
      { topic, partition: 0, ...section, baseSequence: 0 },
    ]),
  decodeProduceResponse,
);
if (produced.some((p) => p.errorCode !== 0)) throw new Error(`Produce: ${JSON.stringify(produced)}`);
const code = await cluster.send(
  txnNode,
  (id) => encodeAddOffsetsToTxnRequest(id, cluster.clientId, ident, groupId),
  decodeErrorCodeResponse,
);
if (code !== 0) throw new Error(`AddOffsetsToTxn: ${code}`);
const groupNode = await cluster.coordinator('group', groupId);
const committed = await cluster.send(
  groupNode,
  (id) =>
    encodeTxnOffsetCommitRequest(id, cluster.clientId, {
      ...ident,
      groupId,
      generationId: -1,
      memberId: '',
      groupInstanceId: null,
      partitions: [{ topic: input, partition: 0, offset: 5n }],
    }),
  decodeTxnOffsetCommitResponse,
);
if (committed.some((p) => p.errorCode !== 0)) throw new Error(`TxnOffsetCommit: ${JSON.stringify(committed)}`);
process.stdout.write('open\n');
setInterval(() => undefined, 60_000); // wait for SIGKILL
