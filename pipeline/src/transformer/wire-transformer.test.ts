/**
 * Unit tests of the wire transformer's decisions that need no broker: how a failed step is classified (fatal
 * producer fencing, group fencing that rejoins, everything else retried) and which implementation
 * TRANSFORMER_CLIENT selects. The Kafka behaviour itself is tested against the broker in pipeline/test/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaProtocolError } from '@pep/kafka-wire/protocol';
import { TransactionError } from '@pep/kafka-wire/transaction';
import { ConfigError, loadTransformerConfig } from '../lib/config.ts';
import { silentLogger } from '../lib/log.ts';
import { createTransformer } from './create.ts';
import { Transformer } from './transformer.ts';
import { classifyFailure, WireTransformer } from './wire-transformer.ts';

const flags = { fenced: false, groupFenced: false, retriable: true, aborted: true, outcomeUnknown: false };

test('a fenced producer is fatal, a fenced group member rejoins, anything else is retried', () => {
  assert.equal(
    classifyFailure(new TransactionError('produce', 90, { ...flags, fenced: true, retriable: false }, 'fenced')),
    'producer_fenced',
  );
  assert.equal(
    classifyFailure(new TransactionError('txn_offset_commit', 22, { ...flags, groupFenced: true }, 'stale')),
    'group_fenced',
  );
  assert.equal(classifyFailure(new TransactionError('produce', null, flags, 'socket closed')), 'retry');
  // at_least_once: OffsetCommit refused for a stale generation
  assert.equal(classifyFailure(new KafkaProtocolError(25, 'OffsetCommit(t/0)')), 'group_fenced');
  assert.equal(classifyFailure(new KafkaProtocolError(6, 'Fetch(t/0)')), 'retry');
  assert.equal(classifyFailure(new Error('timeout')), 'retry');
});

test('TRANSFORMER_CLIENT picks the implementation; wire needs a core with transformRecordSets', () => {
  const normalizeOnly = { kind: 'x', normalizeBatch: () => ({}) as never };
  const wireCfg = loadTransformerConfig({ TRANSFORMER_CLIENT: 'wire' });
  const kafkajsCfg = loadTransformerConfig({ TRANSFORMER_CLIENT: 'kafkajs' });
  assert.ok(createTransformer(kafkajsCfg, normalizeOnly, silentLogger) instanceof Transformer);
  assert.throws(() => createTransformer(wireCfg, normalizeOnly, silentLogger), ConfigError);
  const withTransform = { ...normalizeOnly, transformRecordSets: () => ({}) as never };
  assert.ok(createTransformer(wireCfg, withTransform, silentLogger) instanceof WireTransformer);
});
