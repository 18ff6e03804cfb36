/**
 * Byte-level tests of the consumer-side protocol (fetch.ts, group.ts, consumer-codec.ts): every non-flexible
 * request is compared byte for byte with kafkajs's encoder of the same API version (whole frame: size, header,
 * body); OffsetFetch v7 (flexible, which kafkajs does not have) is checked field by field against the protocol
 * spec; responses are built by hand from the spec and decoded; the ConsumerProtocol encodings round-trip through
 * kafkajs's MemberMetadata / MemberAssignment; the round-robin assignment is deterministic and complete.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { RequestWriter, ResponseReader } from './consumer-codec.ts';
import {
  decodeFetchResponse,
  decodeListOffsetsResponse,
  encodeFetchRequest,
  encodeListOffsetsRequest,
  ISOLATION,
  OFFSET_SPEC,
} from './fetch.ts';
import {
  assignRoundRobin,
  decodeAssignment,
  decodeJoinGroupResponse,
  decodeLeaveGroupResponse,
  decodeOffsetFetchResponse,
  decodeSubscription,
  decodeSyncGroupResponse,
  encodeAssignment,
  encodeHeartbeatRequest,
  encodeJoinGroupRequest,
  encodeLeaveGroupRequest,
  encodeOffsetCommitRequest,
  encodeOffsetFetchRequest,
  encodeSubscription,
  encodeSyncGroupRequest,
} from './group.ts';

const require = createRequire(import.meta.url);
type KjsRequest = { apiKey: number; apiVersion: number; encode: () => Promise<unknown> };
const kjsFrame = require('kafkajs/src/protocol/request.js') as (a: {
  correlationId: number;
  clientId: string;
  request: KjsRequest;
}) => Promise<{ buffer: Buffer }>;
const kjs = (path: string) => require(`kafkajs/src/protocol/requests/${path}/request.js`) as (a: unknown) => KjsRequest;
const { MemberMetadata, MemberAssignment } = require('kafkajs/src/consumer/assignerProtocol.js') as {
  MemberMetadata: { encode(a: unknown): Buffer; decode(b: Buffer): { version: number; topics: string[] } };
  MemberAssignment: {
    encode(a: unknown): Buffer;
    decode(b: Buffer): { version: number; assignment: Record<string, number[]> };
  };
};

const CLIENT = 'pep-test';
const clientId = Buffer.from(CLIENT);

async function sameAsKafkajs(ours: Buffer, path: string, args: unknown): Promise<void> {
  const theirs = (await kjsFrame({ correlationId: 42, clientId: CLIENT, request: kjs(path)(args) })).buffer;
  assert.deepEqual(ours.toString('hex'), theirs.toString('hex'));
}

describe('requests are byte-identical to kafkajs', () => {
  it('Fetch v5 with several topics and partitions, read_committed', async () => {
    const ours = encodeFetchRequest(42, clientId, {
      maxWaitMs: 20,
      minBytes: 1,
      maxBytes: 8 << 20,
      isolationLevel: ISOLATION.readCommitted,
      topics: [
        {
          topic: 'webhooks.stripe.charge',
          partitions: [
            { partition: 0, fetchOffset: 0n, maxBytes: 1 << 20 },
            { partition: 2, fetchOffset: 123456789012n, maxBytes: 1 << 20 },
          ],
        },
        { topic: 'webhooks.adyen.notification', partitions: [{ partition: 1, fetchOffset: 7n, maxBytes: 4096 }] },
      ],
    });
    await sameAsKafkajs(ours, 'fetch/v5', {
      replicaId: -1,
      maxWaitTime: 20,
      minBytes: 1,
      maxBytes: 8 << 20,
      isolationLevel: 1,
      topics: [
        {
          topic: 'webhooks.stripe.charge',
          partitions: [
            { partition: 0, fetchOffset: '0', maxBytes: 1 << 20 },
            { partition: 2, fetchOffset: '123456789012', maxBytes: 1 << 20 },
          ],
        },
        { topic: 'webhooks.adyen.notification', partitions: [{ partition: 1, fetchOffset: '7', maxBytes: 4096 }] },
      ],
    });
  });

  it('ListOffsets v2 (earliest and latest)', async () => {
    const ours = encodeListOffsetsRequest(42, clientId, ISOLATION.readCommitted, [
      {
        topic: 't',
        partitions: [
          { partition: 0, timestamp: OFFSET_SPEC.earliest },
          { partition: 1, timestamp: OFFSET_SPEC.latest },
        ],
      },
    ]);
    await sameAsKafkajs(ours, 'listOffsets/v2', {
      replicaId: -1,
      isolationLevel: 1,
      topics: [
        {
          topic: 't',
          partitions: [
            { partition: 0, timestamp: -2 },
            { partition: 1, timestamp: -1 },
          ],
        },
      ],
    });
  });

  it('JoinGroup v5 with the consumer subscription', async () => {
    const metadata = encodeSubscription(['b-topic', 'a-topic']);
    const ours = encodeJoinGroupRequest(42, clientId, {
      groupId: 'g1',
      sessionTimeoutMs: 30_000,
      rebalanceTimeoutMs: 60_000,
      memberId: '',
      groupInstanceId: null,
      protocols: [{ name: 'roundrobin', metadata }],
    });
    await sameAsKafkajs(ours, 'joinGroup/v5', {
      groupId: 'g1',
      sessionTimeout: 30_000,
      rebalanceTimeout: 60_000,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      groupProtocols: [
        { name: 'roundrobin', metadata: MemberMetadata.encode({ version: 0, topics: ['a-topic', 'b-topic'] }) },
      ],
    });
  });

  it('SyncGroup v3 (leader with assignments), Heartbeat v3, LeaveGroup v3, OffsetCommit v5', async () => {
    const assignment = encodeAssignment(new Map([['t', [0, 2]]]));
    await sameAsKafkajs(
      encodeSyncGroupRequest(42, clientId, {
        groupId: 'g1',
        generationId: 3,
        memberId: 'm-1',
        groupInstanceId: null,
        assignments: [{ memberId: 'm-1', assignment }],
      }),
      'syncGroup/v3',
      {
        groupId: 'g1',
        generationId: 3,
        memberId: 'm-1',
        groupInstanceId: null,
        groupAssignment: [
          { memberId: 'm-1', memberAssignment: MemberAssignment.encode({ version: 0, assignment: { t: [0, 2] } }) },
        ],
      },
    );
    await sameAsKafkajs(
      encodeHeartbeatRequest(42, clientId, { groupId: 'g1', generationId: 3, memberId: 'm-1', groupInstanceId: null }),
      'heartbeat/v3',
      { groupId: 'g1', groupGenerationId: 3, memberId: 'm-1', groupInstanceId: null },
    );
    await sameAsKafkajs(
      encodeLeaveGroupRequest(42, clientId, 'g1', [{ memberId: 'm-1', groupInstanceId: null }]),
      'leaveGroup/v3',
      { groupId: 'g1', members: [{ memberId: 'm-1', groupInstanceId: null }] },
    );
    await sameAsKafkajs(
      encodeOffsetCommitRequest(42, clientId, { groupId: 'g1', generationId: 3, memberId: 'm-1' }, [
        { topic: 't', partitions: [{ partition: 1, offset: 99n }] },
      ]),
      'offsetCommit/v5',
      {
        groupId: 'g1',
        groupGenerationId: 3,
        memberId: 'm-1',
        topics: [{ topic: 't', partitions: [{ partition: 1, offset: '99' }] }],
      },
    );
  });
});

describe('OffsetFetch v7 (flexible)', () => {
  it('encodes header v2 and compact fields as the spec says', () => {
    const b = encodeOffsetFetchRequest(7, clientId, 'grp', [{ topic: 'tp', partitions: [0, 5] }], true);
    const r = new ResponseReader(b);
    assert.equal(r.int32(), b.length - 4, 'size');
    assert.equal(r.int16(), 9, 'api key OffsetFetch');
    assert.equal(r.int16(), 7, 'version');
    assert.equal(r.int32(), 7, 'correlation id');
    assert.equal(r.string(), CLIENT, 'client id stays a classic string in header v2');
    assert.equal(r.uvarint(), 0, 'header tagged fields');
    assert.equal(r.compactString(), 'grp');
    assert.equal(r.uvarint(), 2, 'one topic (count + 1)');
    assert.equal(r.compactString(), 'tp');
    assert.equal(r.uvarint(), 3, 'two partitions');
    assert.equal(r.int32(), 0);
    assert.equal(r.int32(), 5);
    assert.equal(r.uvarint(), 0, 'topic tagged fields');
    assert.equal(r.bool(), true, 'require_stable');
    assert.equal(r.uvarint(), 0, 'request tagged fields');
    assert.equal(r.remaining, 0);
  });

  it('decodes a response (with an unknown tagged field skipped)', () => {
    const w = new RequestWriter();
    w.uvarint(0) // response header v1 tags
      .int32(0) // throttle
      .uvarint(2)
      .compactString('tp')
      .uvarint(3)
      .int32(0)
      .int64(41n)
      .int32(-1)
      .compactString('')
      .int16(0)
      .uvarint(1) // one tagged field on this partition
      .uvarint(9)
      .uvarint(2)
      .raw(Buffer.from([1, 2]))
      .int32(5)
      .int64(-1n)
      .int32(-1)
      .compactString(null)
      .int16(88)
      .tags()
      .tags()
      .int16(0)
      .tags();
    const body = w.finish().subarray(4);
    const res = decodeOffsetFetchResponse(body);
    assert.equal(res.errorCode, 0);
    assert.deepEqual(res.partitions, [
      { topic: 'tp', partition: 0, offset: 41n, errorCode: 0 },
      { topic: 'tp', partition: 5, offset: -1n, errorCode: 88 },
    ]);
  });
});

describe('responses', () => {
  it('Fetch v5: partitions with aborted transactions; records are views into the response', () => {
    const recordsA = Buffer.from('0123456789abcdef', 'hex');
    const w = new RequestWriter();
    w.int32(0)
      .int32(1)
      .string('t')
      .int32(2)
      // partition 0: records and one aborted transaction
      .int32(0)
      .int16(0)
      .int64(100n)
      .int64(90n)
      .int64(3n)
      .int32(1)
      .int64(77n)
      .int64(80n)
      .bytes(recordsA)
      // partition 1: OFFSET_OUT_OF_RANGE, null aborted list, null records
      .int32(1)
      .int16(1)
      .int64(-1n)
      .int64(-1n)
      .int64(-1n)
      .int32(-1)
      .bytes(null);
    const body = w.finish().subarray(4);
    const res = decodeFetchResponse(body);
    assert.equal(res.partitions.length, 2);
    const [p0, p1] = res.partitions as [(typeof res.partitions)[0], (typeof res.partitions)[0]];
    assert.equal(p0.topic, 't');
    assert.equal(p0.highWatermark, 100n);
    assert.equal(p0.lastStableOffset, 90n);
    assert.equal(p0.logStartOffset, 3n);
    assert.deepEqual(p0.abortedTransactions, [{ producerId: 77n, firstOffset: 80n }]);
    assert.deepEqual([...p0.records], [...recordsA]);
    assert.equal(p0.records.buffer, body.buffer, 'a view, not a copy');
    assert.equal(p1.errorCode, 1);
    assert.equal(p1.records.length, 0);
    assert.deepEqual(p1.abortedTransactions, []);
  });

  it('Fetch v5: a truncated response throws a clear error instead of reading past the end', () => {
    const w = new RequestWriter();
    w.int32(0).int32(1).string('t').int32(1).int32(0).int16(0).int64(1n).int64(1n).int64(0n).int32(0).int32(1000);
    assert.throws(() => decodeFetchResponse(w.finish().subarray(4)), /truncated Kafka response/);
    const huge = new RequestWriter();
    huge.int32(0).int32(1).string('t').int32(1).int32(0).int16(0).int64(1n).int64(1n).int64(0n).int32(1_000_000);
    assert.throws(() => decodeFetchResponse(huge.finish().subarray(4)), /aborted transactions/);
  });

  it('ListOffsets v2, JoinGroup v5, SyncGroup v3, LeaveGroup v3', () => {
    const lo = new RequestWriter();
    lo.int32(0).int32(1).string('t').int32(1).int32(2).int16(0).int64(-1n).int64(12n);
    assert.deepEqual(decodeListOffsetsResponse(lo.finish().subarray(4)), [
      { topic: 't', partition: 2, errorCode: 0, timestamp: -1n, offset: 12n },
    ]);
    const sub = encodeSubscription(['t']);
    const jg = new RequestWriter();
    jg.int32(0)
      .int16(0)
      .int32(5)
      .string('roundrobin')
      .string('m-1')
      .string('m-2')
      .int32(1)
      .string('m-1')
      .string(null)
      .bytes(sub);
    const join = decodeJoinGroupResponse(jg.finish().subarray(4));
    assert.equal(join.generationId, 5);
    assert.equal(join.leader, 'm-1');
    assert.equal(join.memberId, 'm-2');
    assert.deepEqual(decodeSubscription(join.members[0]?.metadata as Buffer).topics, ['t']);
    const sg = new RequestWriter();
    sg.int32(0).int16(27).bytes(null);
    assert.deepEqual(decodeSyncGroupResponse(sg.finish().subarray(4)), { errorCode: 27, assignment: null });
    const lg = new RequestWriter();
    lg.int32(0).int16(0).int32(1).string('m-1').string(null).int16(25);
    assert.deepEqual(decodeLeaveGroupResponse(lg.finish().subarray(4)), {
      errorCode: 0,
      members: [{ memberId: 'm-1', errorCode: 25 }],
    });
  });
});

describe('ConsumerProtocol and assignment', () => {
  it('subscription and assignment round-trip through kafkajs', () => {
    assert.deepEqual(MemberMetadata.decode(encodeSubscription(['x', 'a'])).topics, ['a', 'x']);
    const enc = encodeAssignment(
      new Map([
        ['b', [1, 3]],
        ['a', [0]],
      ]),
    );
    assert.deepEqual(MemberAssignment.decode(enc).assignment, { a: [0], b: [1, 3] });
    const back = decodeAssignment(MemberAssignment.encode({ version: 1, assignment: { t: [4, 5] } }));
    assert.deepEqual([...back], [['t', [4, 5]]]);
    assert.equal(decodeAssignment(Buffer.alloc(0)).size, 0, 'empty assignment bytes');
  });

  it('round-robin: every partition to exactly one subscribed member, balanced, deterministic', () => {
    const counts = new Map([
      ['a', 3],
      ['b', 4],
      ['c', 2],
    ]);
    const members = [
      { memberId: 'm2', topics: ['a', 'b', 'c'] },
      { memberId: 'm1', topics: ['a', 'b', 'c'] },
      { memberId: 'm3', topics: ['b'] },
    ];
    const out = assignRoundRobin(members, counts);
    const again = assignRoundRobin([...members].reverse(), counts);
    assert.deepEqual(
      [...out].map(([m, a]) => [m, [...a]]),
      [...again].map(([m, a]) => [m, [...a]]),
    );
    const seen = new Map<string, string>();
    for (const [m, a] of out) {
      for (const [t, ps] of a) {
        for (const p of ps) {
          assert.ok(!seen.has(`${t}/${p}`), `${t}/${p} assigned twice`);
          seen.set(`${t}/${p}`, m);
          if (m === 'm3') assert.equal(t, 'b', 'm3 only gets its subscribed topic');
        }
      }
    }
    assert.equal(seen.size, 9, 'every partition assigned');
    const even = assignRoundRobin(
      ['m1', 'm2', 'm3', 'm4'].map((memberId) => ({ memberId, topics: ['a', 'b', 'c'] })),
      counts,
    );
    const sizes = [...even.values()].map((a) => [...a.values()].reduce((n, ps) => n + ps.length, 0));
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced when all subscribe to all: ${sizes}`);
    const solo = assignRoundRobin([{ memberId: 'x', topics: ['a'] }], counts);
    assert.deepEqual([...(solo.get('x') ?? [])], [['a', [0, 1, 2]]]);
  });
});
