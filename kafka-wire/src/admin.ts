/**
 * Topic creation that returns only once the topics can be used: every place that creates topics (the stack, tests,
 * benchmarks) goes through here. kafkajs's `createTopics({ waitForLeaders: true })` is not enough: right after
 * CreateTopics, a KRaft broker may still answer Metadata with UNKNOWN_TOPIC_OR_PARTITION (its metadata cache has not
 * caught up with the controller), which kafkajs's wait does not retry ("This server does not host this
 * topic-partition"), and a broker can list itself as leader before its replica manager hosts the partition. So this
 * waits until Metadata lists every partition with a leader and ListOffsets answers for each, with a deadline.
 * Works on a kafkajs Admin (the control plane's client); no hot path uses it.
 */
import type { Admin, ITopicConfig } from 'kafkajs';

export interface TopicWaitOptions {
  /** Give up after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** Pause between probes (default 100 ms). */
  readonly intervalMs?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until every partition of `topics` is served: Metadata lists the topic's partitions (KRaft publishes them
 * together) each with a leader and no error, and ListOffsets answers for the topic. Throws after the deadline with
 * the last reason.
 */
export async function waitForTopics(
  admin: Pick<Admin, 'fetchTopicMetadata' | 'fetchTopicOffsets'>,
  topics: readonly string[],
  opts: TopicWaitOptions = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let reason = 'not probed yet';
  for (;;) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] });
      const notReady = topics.filter((name) => {
        const t = found.find((x) => x.name === name);
        if (!t || t.partitions.length === 0) return true;
        return t.partitions.some((p) => p.leader < 0 || (p.partitionErrorCode ?? 0) !== 0);
      });
      if (notReady.length === 0) {
        for (const name of topics) await admin.fetchTopicOffsets(name);
        return;
      }
      reason = `no leader yet for ${notReady.join(', ')}`;
    } catch (err) {
      reason = (err as Error).message;
    }
    if (Date.now() >= deadline) {
      throw new Error(`topics ${topics.join(', ')} not usable after ${timeoutMs} ms: ${reason}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/**
 * Creates the topics that do not exist yet and waits until all of them are usable (see waitForTopics). Returns whether
 * any was created (false when all existed, like kafkajs).
 */
export async function createTopicsAndWait(
  admin: Pick<Admin, 'createTopics' | 'fetchTopicMetadata' | 'fetchTopicOffsets'>,
  topics: readonly ITopicConfig[],
  opts: TopicWaitOptions = {},
): Promise<boolean> {
  const created = await admin.createTopics({ topics: [...topics], waitForLeaders: false });
  await waitForTopics(
    admin,
    topics.map((t) => t.topic),
    opts,
  );
  return created;
}
