import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createTopicsAndWait, waitForTopics } from './admin.ts';

type Metadata = {
  topics: { name: string; partitions: { partitionId: number; leader: number; partitionErrorCode?: number }[] }[];
};

/** A stand-in admin whose answers follow a script: what a KRaft broker says right after CreateTopics. */
function scriptedAdmin(metadata: (() => Metadata)[], offsetsFailures = 0) {
  const calls = { metadata: 0, offsets: 0, created: [] as string[] };
  return {
    calls,
    createTopics: async ({ topics }: { topics: { topic: string }[] }) => {
      calls.created.push(...topics.map((t) => t.topic));
      return true;
    },
    fetchTopicMetadata: async () => {
      const step = metadata[Math.min(calls.metadata++, metadata.length - 1)] as () => Metadata;
      return step();
    },
    fetchTopicOffsets: async () => {
      if (calls.offsets++ < offsetsFailures) throw new Error('This server does not host this topic-partition');
      return [];
    },
  };
}

const unknown = () => {
  throw new Error('This server does not host this topic-partition');
};
const noLeader = (): Metadata => ({ topics: [{ name: 't', partitions: [{ partitionId: 0, leader: -1 }] }] });
const ready = (): Metadata => ({
  topics: [{ name: 't', partitions: [{ partitionId: 0, leader: 1, partitionErrorCode: 0 }] }],
});

test('waits through unknown-topic answers, leaderless partitions and a failing ListOffsets', async () => {
  const admin = scriptedAdmin([unknown, unknown, noLeader, ready], 2);
  // biome-ignore lint/suspicious/noExplicitAny: the stand-in implements the three calls used
  assert.equal(await createTopicsAndWait(admin as any, [{ topic: 't', numPartitions: 1 }], { intervalMs: 1 }), true);
  assert.deepEqual(admin.calls.created, ['t']);
  assert.ok(admin.calls.metadata >= 6, `metadata probed ${admin.calls.metadata} times`);
  assert.equal(admin.calls.offsets, 3);
});

test('gives up after the deadline and says why', async () => {
  const admin = scriptedAdmin([noLeader]);
  await assert.rejects(
    // biome-ignore lint/suspicious/noExplicitAny: the stand-in implements the calls used
    waitForTopics(admin as any, ['t'], { timeoutMs: 30, intervalMs: 5 }),
    /topics t not usable after 30 ms: no leader yet for t/,
  );
});
