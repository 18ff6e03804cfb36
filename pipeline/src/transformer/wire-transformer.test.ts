/**
 * Unit tests of the wire transformer's decisions that need no broker: how a failed step is classified (fatal
 * producer fencing, group fencing that rejoins, everything else retried). The Kafka behaviour itself is tested against
 * the broker in pipeline/test/.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaProtocolError } from '@pep/kafka-wire/protocol';
import { TransactionError } from '@pep/kafka-wire/transaction';
import { classifyFailure } from './wire-transformer.ts';

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
