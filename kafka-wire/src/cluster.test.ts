/**
 * Unit tests of the cluster's wire pieces: FindCoordinator v2 encoded byte for byte as kafkajs encodes it (full
 * request with header), its response decoded from bytes laid out per the protocol spec, broker-list parsing and the
 * bounded retry helper.
 */

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import {
  backoffMs,
  decodeFindCoordinatorResponse,
  encodeFindCoordinatorRequest,
  KafkaCluster,
  parseBrokerList,
  withRetry,
} from './cluster.ts';
import { KafkaProtocolError } from './protocol.ts';

const require = createRequire(import.meta.url);

interface KafkajsRequest {
  apiKey: number;
  apiVersion: number;
  encode: () => Promise<{ buffer: Buffer }>;
}
const kafkajsRequest = require('kafkajs/src/protocol/request.js') as (a: {
  correlationId: number;
  clientId: string;
  request: KafkajsRequest;
}) => Promise<{ buffer: Buffer }>;

describe('FindCoordinator v2', () => {
  it('encodes a transaction-coordinator lookup exactly as kafkajs does', async () => {
    const v2 = require('kafkajs/src/protocol/requests/findCoordinator/v2/request.js') as (a: {
      coordinatorKey: string;
      coordinatorType: number;
    }) => KafkajsRequest;
    for (const [type, code] of [
      ['transaction', 1],
      ['group', 0],
    ] as const) {
      const expected = await kafkajsRequest({
        correlationId: 77,
        clientId: 'pep-test',
        request: v2({ coordinatorKey: 'txn-é-1', coordinatorType: code }),
      });
      const ours = encodeFindCoordinatorRequest(77, Buffer.from('pep-test'), type, 'txn-é-1');
      assert.deepEqual(ours, expected.buffer);
    }
  });

  it('decodes a response laid out per the spec', () => {
    const host = Buffer.from('broker-2.local');
    const b = Buffer.alloc(4 + 2 + 2 + 4 + 2 + host.length + 4);
    let at = b.writeInt32BE(0, 0); // throttle_time_ms
    at = b.writeInt16BE(0, at); // error_code
    at = b.writeInt16BE(-1, at); // error_message null
    at = b.writeInt32BE(2, at); // node_id
    at = b.writeInt16BE(host.length, at);
    at += host.copy(b, at);
    b.writeInt32BE(19092, at);
    assert.deepEqual(decodeFindCoordinatorResponse(b), {
      errorCode: 0,
      errorMessage: null,
      nodeId: 2,
      host: 'broker-2.local',
      port: 19092,
    });
  });

  it('decodes an error with its message', () => {
    const msg = Buffer.from('loading');
    const b = Buffer.alloc(4 + 2 + 2 + msg.length + 4 + 2 + 4);
    let at = b.writeInt32BE(0, 0);
    at = b.writeInt16BE(14, at);
    at = b.writeInt16BE(msg.length, at);
    at += msg.copy(b, at);
    at = b.writeInt32BE(-1, at);
    at = b.writeInt16BE(0, at);
    b.writeInt32BE(-1, at);
    const res = decodeFindCoordinatorResponse(b);
    assert.equal(res.errorCode, 14);
    assert.equal(res.errorMessage, 'loading');
  });

  it('rejects a truncated response', () => {
    assert.throws(() => decodeFindCoordinatorResponse(Buffer.alloc(7)), /truncated/);
  });
});

describe('broker list and retry', () => {
  it('parses host:port lists and names a bad entry', () => {
    assert.deepEqual(parseBrokerList(['127.0.0.1:9092', 'kafka-1:19092']), [
      { host: '127.0.0.1', port: 9092 },
      { host: 'kafka-1', port: 19092 },
    ]);
    assert.throws(() => parseBrokerList(['localhost']), /localhost/);
    assert.throws(() => parseBrokerList([]), /no Kafka bootstrap/);
    assert.throws(() => new KafkaCluster({ brokers: ['x:0'], clientId: 'c' }), /x:0/);
  });

  it('retries retriable errors up to the limit, then throws the last error', async () => {
    let calls = 0;
    const policy = { maxAttempts: 4, initialBackoffMs: 1, maxBackoffMs: 2 };
    await assert.rejects(
      withRetry(
        policy,
        (e) => e instanceof KafkaProtocolError && e.code === 15,
        async () => {
          calls++;
          throw new KafkaProtocolError(15, 'FindCoordinator');
        },
      ),
      /COORDINATOR_NOT_AVAILABLE/,
    );
    assert.equal(calls, 4);
  });

  it('does not retry a non-retriable error and returns a later success', async () => {
    let calls = 0;
    const policy = { maxAttempts: 5, initialBackoffMs: 1, maxBackoffMs: 2 };
    await assert.rejects(
      withRetry(
        policy,
        () => false,
        async () => {
          calls++;
          throw new KafkaProtocolError(30, 'FindCoordinator');
        },
      ),
      /GROUP_AUTHORIZATION_FAILED/,
    );
    assert.equal(calls, 1);
    const seen: number[] = [];
    const v = await withRetry(
      policy,
      () => true,
      async (attempt) => {
        seen.push(attempt);
        if (attempt < 3) throw new Error('not yet');
        return 'ok';
      },
    );
    assert.equal(v, 'ok');
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('backs off exponentially within bounds', () => {
    const p = { maxAttempts: 10, initialBackoffMs: 10, maxBackoffMs: 100 };
    for (let i = 0; i < 50; i++) {
      const first = backoffMs(p, 1);
      assert.ok(first >= 5 && first <= 10, String(first));
      const late = backoffMs(p, 9);
      assert.ok(late >= 50 && late <= 100, String(late));
    }
  });
});
