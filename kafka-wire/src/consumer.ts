/**
 * GroupConsumer: a hand-written Kafka consumer for the transformer's data path. Classic group membership (JoinGroup,
 * SyncGroup with a round-robin assignment computed by the leader, Heartbeat on a timer, LeaveGroup on close) and a
 * pull-style fetch loop: `poll()` sends ONE Fetch per partition leader carrying every owned partition (bounded bytes
 * in total and per partition, a max wait), and returns each partition's raw `records` bytes as views into the
 * response, untouched (record decoding is core-native's job). The caller moves positions with `seek()` after it has
 * dealt with a batch, so it decides what counts as consumed.
 *
 * Rebalances: a heartbeat answered REBALANCE_IN_PROGRESS / ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID only marks the
 * member as needing to rejoin; the caller finishes (or aborts) the batch in hand, and the next `poll()` rejoins.
 * Every batch carries the generation it was fetched under (`FetchBatch.member`), which the caller sends with its
 * transactional offset commit (KIP-447): the group coordinator rejects a commit from a generation that is gone,
 * so a member that stalled past its session (a zombie) cannot commit stale work. Revoked partitions simply stop
 * being fetched; positions of newly assigned partitions come from the group's committed offsets (OffsetFetch with
 * require_stable, so a pending transactional commit of the previous owner is waited for), else the reset policy.
 *
 * Not for: compression, record decoding, static membership beyond passing a group instance id, cooperative
 * rebalancing, topic pattern subscriptions or partitions added while running.
 */
import { hasKafkaCode, type KafkaCluster, sleep } from './cluster.ts';
import {
  checkListedOffsets,
  decodeFetchResponse,
  decodeListOffsetsResponse,
  encodeFetchRequest,
  encodeListOffsetsRequest,
  FETCH_API,
  type FetchedPartition,
  ISOLATION,
  type IsolationLevel,
  LIST_OFFSETS_API,
  OFFSET_SPEC,
} from './fetch.ts';
import {
  assignRoundRobin,
  checkGroupError,
  decodeAssignment,
  decodeHeartbeatResponse,
  decodeJoinGroupResponse,
  decodeLeaveGroupResponse,
  decodeOffsetCommitResponse,
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
  GROUP_APIS,
  ROUND_ROBIN,
  type TopicOffsets,
} from './group.ts';
import { KafkaProtocolError } from './protocol.ts';

export type OffsetResetPolicy = 'earliest' | 'latest' | 'none';

/** Minimal structured logger (the pipeline's Logger fits). */
export interface ConsumerLogger {
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

export interface GroupConsumerOptions {
  readonly cluster: KafkaCluster;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** KIP-345 static membership id; null for a dynamic member. */
  readonly groupInstanceId?: string | null;
  readonly sessionTimeoutMs: number;
  /** How long the coordinator waits for members to rejoin during a rebalance. */
  readonly rebalanceTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly isolationLevel?: IsolationLevel;
  readonly maxWaitMs: number;
  readonly minBytes?: number;
  /**
   * Fetch max wait (with min_bytes 1) after a round without records: an idle consumer long-polls instead of asking
   * every `maxWaitMs`, and still gets the first new record at once. Default `maxWaitMs` (no long poll).
   */
  readonly idleMaxWaitMs?: number;
  /** Bytes per Fetch response at most (per leader). */
  readonly maxBytes: number;
  readonly maxBytesPerPartition: number;
  readonly resetPolicy: OffsetResetPolicy;
  /** Bounded retries of the join and of OffsetFetch while a transactional commit is pending. */
  readonly maxJoinAttempts?: number;
  /** How long positions may wait for a pending transactional offset commit (UNSTABLE_OFFSET_COMMIT). */
  readonly stableOffsetsTimeoutMs?: number;
  readonly log?: ConsumerLogger;
  /** Called after each completed join with the new assignment (topic -> partitions). */
  readonly onAssigned?: (assignment: ReadonlyMap<string, readonly number[]>, member: MemberGeneration) => void;
}

/** The group generation a batch was fetched under: what TxnOffsetCommit must carry (KIP-447). */
export interface MemberGeneration {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

export interface FetchedSet extends FetchedPartition {
  /** The position this partition was fetched from. */
  readonly fetchOffset: bigint;
}

export interface FetchBatch {
  readonly member: MemberGeneration;
  /** Partitions that returned records (errors are handled inside the consumer). */
  readonly sets: readonly FetchedSet[];
  /** Every fetched partition's high watermark and last stable offset (for lag), including empty ones. */
  readonly watermarks: readonly { topic: string; partition: number; highWatermark: bigint; lastStableOffset: bigint }[];
}

/** Thrown for conditions that need the operator (e.g. FENCED_INSTANCE_ID, no offset with reset policy none). */
export class ConsumerFatalError extends Error {
  override readonly name = 'ConsumerFatalError';
}

const REJOIN_CODES = [22, 25, 27]; // ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS
const COORDINATOR_CODES = [14, 15, 16]; // LOAD_IN_PROGRESS, NOT_AVAILABLE, NOT_COORDINATOR
const STALE_LEADER_CODES = [3, 5, 6, 74, 75]; // UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, NOT_LEADER…, epochs
const FETCH_LANE = 'fetch';
const JOIN_LANE = 'join';
const HEARTBEAT_LANE = 'heartbeat';

const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** A Fetch in flight to one leader; `settled` never rejects (the error is kept). */
interface InFlightFetch {
  readonly keys: readonly string[];
  readonly longPoll: boolean;
  done: boolean;
  result: FetchedSet[];
  error?: unknown;
  settled: Promise<void>;
}

export class GroupConsumer {
  private readonly cluster: KafkaCluster;
  private readonly opts: GroupConsumerOptions;
  private readonly isolation: IsolationLevel;
  private readonly instanceId: string | null;
  private memberId = '';
  private generationId = -1;
  private assignment = new Map<string, number[]>();
  private readonly positions = new Map<string, bigint>();
  private rejoinNeeded = true;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private heartbeatInFlight = false;
  private closed = false;
  private fatal: Error | null = null;
  /** When the coordinator last confirmed this member (a join or a successful heartbeat). */
  private confirmedAtMs = 0;
  private fetchFailures = 0;
  /** Consecutive rounds that returned no records (the next fetches long-poll when idleMaxWaitMs is set). */
  private idleRounds = 0;
  private readonly idleMaxWaitMs: number;
  /** The Fetch in flight per leader (at most one); the partitions it covers are fetched nowhere else meanwhile. */
  private readonly inFlight = new Map<number, InFlightFetch>();

  constructor(opts: GroupConsumerOptions) {
    if (opts.topics.length === 0) throw new RangeError('GroupConsumer needs at least one topic');
    if (opts.heartbeatIntervalMs >= opts.sessionTimeoutMs)
      throw new RangeError('heartbeatIntervalMs must be below sessionTimeoutMs');
    this.cluster = opts.cluster;
    this.opts = opts;
    this.isolation = opts.isolationLevel ?? ISOLATION.readCommitted;
    this.instanceId = opts.groupInstanceId ?? null;
    this.idleMaxWaitMs = opts.idleMaxWaitMs ?? opts.maxWaitMs;
  }

  /** The current membership (null before the first join or while rejoining). */
  get member(): MemberGeneration | null {
    if (this.rejoinNeeded || this.generationId < 0) return null;
    return {
      groupId: this.opts.groupId,
      generationId: this.generationId,
      memberId: this.memberId,
      groupInstanceId: this.instanceId,
    };
  }

  /** Partitions owned now (topic -> partitions). */
  get assigned(): ReadonlyMap<string, readonly number[]> {
    return this.assignment;
  }

  get needsRejoin(): boolean {
    return this.rejoinNeeded;
  }

  /** Milliseconds since the coordinator last confirmed this member. */
  get confirmedAgeMs(): number {
    return Date.now() - this.confirmedAtMs;
  }

  /** Position of a partition (the next offset to fetch), if owned and known. */
  position(topic: string, partition: number): bigint | undefined {
    return this.positions.get(key(topic, partition));
  }

  /** Moves a partition's position (after the caller dealt with records up to `offset` - 1). Unowned: ignored. */
  seek(topic: string, partition: number, offset: bigint): void {
    const k = key(topic, partition);
    if (this.positions.has(k)) this.positions.set(k, offset);
  }

  /** Joins the group and loads positions; `poll()` does this on its own, this only makes start-up errors early. */
  async start(): Promise<void> {
    // A broker without one of the versions this consumer speaks stops it here, with the API named.
    await this.cluster.checkApis(
      [FETCH_API, LIST_OFFSETS_API, ...Object.values(GROUP_APIS)].map((a) => ({
        key: a.key,
        version: a.version,
      })),
    );
    await this.cluster.refresh([...this.opts.topics]);
    await this.ensureJoined();
  }

  /**
   * One fetch round: rejoins first if a rebalance is pending, then one Fetch per leader for every owned partition.
   * Returns the partitions that have records (possibly none after the max wait).
   *
   * Idle long-poll (`idleMaxWaitMs`): after a round that returned no records, the next Fetch to each leader waits up
   * to `idleMaxWaitMs` with min_bytes 1, so the broker answers as soon as one record arrives and an idle consumer
   * sends a few fetches a second instead of one per `maxWaitMs`. Such a long poll is not awaited by the round once
   * another leader's fetch brought records: it stays in flight (its partitions are not fetched elsewhere meanwhile)
   * and a later round takes its answer, if the positions it was fetched from are still current.
   */
  async poll(): Promise<FetchBatch> {
    this.throwIfUnusable();
    await this.ensureJoined();
    const member = this.member as MemberGeneration;
    // An owned partition without a position (a rewind or a post-join load that failed part-way) is loaded from the
    // committed offsets before anything is fetched: it is not "nothing assigned", and idling would stall it until
    // the next rebalance.
    const unpositioned: { topic: string; partition: number }[] = [];
    for (const [topic, partitions] of this.assignment)
      for (const partition of partitions)
        if (!this.positions.has(key(topic, partition))) unpositioned.push({ topic, partition });
    if (unpositioned.length > 0) await this.loadPositions(unpositioned);
    const idle = this.idleRounds > 0 && this.idleMaxWaitMs > this.opts.maxWaitMs;
    const byLeader = new Map<number, { topic: string; partition: number; fetchOffset: bigint }[]>();
    const fetching = new Set([...this.inFlight.values()].flatMap((f) => f.keys));
    let owned = 0;
    for (const [topic, partitions] of this.assignment) {
      for (const partition of partitions) {
        const fetchOffset = this.positions.get(key(topic, partition));
        if (fetchOffset === undefined) continue;
        owned++;
        if (fetching.has(key(topic, partition))) continue;
        const leader = await this.cluster.leaderFor(topic, partition);
        if (this.inFlight.has(leader)) continue;
        const list = byLeader.get(leader) ?? [];
        list.push({ topic, partition, fetchOffset });
        byLeader.set(leader, list);
      }
    }
    if (owned === 0) {
      // Nothing assigned (more members than partitions): wait like a fetch would, keep heartbeating. (Every owned
      // partition has a position here: missing ones were loaded above.)
      await sleep(this.opts.maxWaitMs);
      return { member, sets: [], watermarks: [] };
    }
    for (const [leader, parts] of byLeader) this.startFetch(leader, parts, idle);
    // Every plain fetch is awaited (under load the round carries every leader's records); long polls only until
    // some fetch has answered: the round then returns what it has and leaves them in flight.
    for (;;) {
      const pending = [...this.inFlight.values()];
      const open = pending.filter((f) => !f.done);
      if (open.length === 0) break;
      if (open.every((f) => f.longPoll) && pending.some((f) => f.done)) break;
      await Promise.race(open.map((f) => f.settled));
    }
    const sets: FetchedSet[] = [];
    const watermarks: FetchBatch['watermarks'][number][] = [];
    let failed: unknown = null;
    for (const [leader, f] of [...this.inFlight]) {
      if (!f.done) continue;
      this.inFlight.delete(leader);
      if (f.error !== undefined) {
        failed ??= f.error;
        continue;
      }
      for (const p of f.result) {
        // A later seek, rewind or rebalance moved this partition while the answer waited: drop it.
        if (this.positions.get(key(p.topic, p.partition)) !== p.fetchOffset) continue;
        watermarks.push({
          topic: p.topic,
          partition: p.partition,
          highWatermark: p.highWatermark,
          lastStableOffset: p.lastStableOffset,
        });
        if (p.records.length > 0) sets.push(p);
      }
    }
    if (failed) {
      // A broker that failed (connection lost, timeout) may have lost leadership: refetch metadata, back off.
      this.fetchFailures++;
      this.cluster.markStale();
      this.opts.log?.warn('fetch failed, retrying', { err: failed, failures: this.fetchFailures });
      if (sets.length === 0) await sleep(Math.min(1000, 20 * 2 ** Math.min(this.fetchFailures, 6)));
    } else this.fetchFailures = 0;
    this.idleRounds = sets.length === 0 && !failed ? this.idleRounds + 1 : 0;
    return { member, sets, watermarks };
  }

  /** Starts one Fetch to `leader` for `parts`; its answer is taken by the round that finds it done. */
  private startFetch(
    leader: number,
    parts: { topic: string; partition: number; fetchOffset: bigint }[],
    longPoll: boolean,
  ): void {
    const keys = parts.map((p) => key(p.topic, p.partition));
    const f: InFlightFetch = { keys, longPoll, done: false, result: [], settled: Promise.resolve() };
    f.settled = this.fetchFrom(leader, parts, longPoll).then(
      (r) => {
        f.result = r;
        f.done = true;
      },
      (err: unknown) => {
        f.error = err ?? new Error('fetch failed');
        f.done = true;
      },
    );
    this.inFlight.set(leader, f);
  }

  private async fetchFrom(
    leader: number,
    parts: { topic: string; partition: number; fetchOffset: bigint }[],
    longPoll = false,
  ): Promise<FetchedSet[]> {
    const byTopic = new Map<string, { partition: number; fetchOffset: bigint; maxBytes: number }[]>();
    const from = new Map<string, bigint>();
    for (const p of parts) {
      const list = byTopic.get(p.topic) ?? [];
      list.push({ partition: p.partition, fetchOffset: p.fetchOffset, maxBytes: this.opts.maxBytesPerPartition });
      byTopic.set(p.topic, list);
      from.set(key(p.topic, p.partition), p.fetchOffset);
    }
    const res = await this.cluster.send(
      leader,
      (id) =>
        encodeFetchRequest(id, this.cluster.clientId, {
          maxWaitMs: longPoll ? this.idleMaxWaitMs : this.opts.maxWaitMs,
          minBytes: longPoll ? 1 : (this.opts.minBytes ?? 1),
          maxBytes: this.opts.maxBytes,
          isolationLevel: this.isolation,
          topics: [...byTopic].map(([topic, partitions]) => ({ topic, partitions })),
        }),
      decodeFetchResponse,
      FETCH_LANE,
    );
    const out: FetchedSet[] = [];
    const outOfRange: { topic: string; partition: number }[] = [];
    for (const p of res.partitions) {
      const fetchOffset = from.get(key(p.topic, p.partition));
      if (fetchOffset === undefined) continue; // not asked for: ignore
      // The position moved (seek) or the partition was revoked while this fetch was in flight: drop the answer.
      if (this.positions.get(key(p.topic, p.partition)) !== fetchOffset) continue;
      if (p.errorCode === 0) out.push({ ...p, fetchOffset });
      else if (p.errorCode === 1) outOfRange.push(p);
      else if (STALE_LEADER_CODES.includes(p.errorCode)) this.cluster.markStale(p.topic);
      else throw new KafkaProtocolError(p.errorCode, `Fetch(${p.topic}/${p.partition})`);
    }
    if (outOfRange.length > 0) await this.resetOffsets(outOfRange, 'fetch offset out of range');
    return out;
  }

  // ---------- membership ----------

  private async ensureJoined(): Promise<void> {
    if (!this.rejoinNeeded) return;
    this.stopHeartbeats();
    const maxAttempts = this.opts.maxJoinAttempts ?? 30;
    let lastErr: unknown = null;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      this.throwIfUnusable();
      this.stopHeartbeats();
      try {
        if (await this.joinOnce()) {
          this.rejoinNeeded = false;
          this.confirmedAtMs = Date.now();
          // Heartbeat while positions load: OffsetFetch may wait for another member's pending transaction for
          // longer than the session timeout, and a silent member would be evicted meanwhile.
          this.startHeartbeats();
          await this.loadPositions();
          // A heartbeat may have reported a new rebalance while positions loaded: join again before fetching.
          if (this.rejoinNeeded) continue;
          this.opts.onAssigned?.(this.assignment, this.member as MemberGeneration);
          return;
        }
        lastErr = null;
      } catch (err) {
        this.stopHeartbeats();
        if (err instanceof ConsumerFatalError) throw err;
        lastErr = err;
        if (hasKafkaCode(err, ...COORDINATOR_CODES) || !(err instanceof KafkaProtocolError))
          this.cluster.forgetCoordinator('group', this.opts.groupId);
        this.opts.log?.warn('group join failed, retrying', { err, attempt });
        await sleep(Math.min(2000, 50 * 2 ** Math.min(attempt, 6)));
      }
    }
    throw new Error(`could not join group ${this.opts.groupId} after ${maxAttempts} attempts`, { cause: lastErr });
  }

  /** One JoinGroup + SyncGroup round; false when the broker asks to go again (member id issued, rebalance). */
  private async joinOnce(): Promise<boolean> {
    const coordinator = await this.cluster.coordinator('group', this.opts.groupId);
    const join = await this.cluster.send(
      coordinator,
      (id) =>
        encodeJoinGroupRequest(id, this.cluster.clientId, {
          groupId: this.opts.groupId,
          sessionTimeoutMs: this.opts.sessionTimeoutMs,
          rebalanceTimeoutMs: this.opts.rebalanceTimeoutMs,
          memberId: this.memberId,
          groupInstanceId: this.instanceId,
          protocols: [{ name: ROUND_ROBIN, metadata: encodeSubscription(this.opts.topics) }],
        }),
      decodeJoinGroupResponse,
      JOIN_LANE,
    );
    if (join.errorCode === 79) {
      // MEMBER_ID_REQUIRED (KIP-394): the broker issued our id; join again with it.
      this.memberId = join.memberId;
      return false;
    }
    if (join.errorCode === 25) {
      this.memberId = '';
      return false;
    }
    if (join.errorCode === 27) return false;
    if (join.errorCode === 82) throw new ConsumerFatalError(`JoinGroup: FENCED_INSTANCE_ID (${this.instanceId})`);
    checkGroupError(join.errorCode, 'JoinGroup', this.opts.groupId);
    this.memberId = join.memberId;
    this.generationId = join.generationId;
    if (join.protocolName !== ROUND_ROBIN)
      throw new ConsumerFatalError(
        `group ${this.opts.groupId} chose protocol '${join.protocolName}', not ${ROUND_ROBIN}`,
      );

    let assignments: { memberId: string; assignment: Buffer }[] = [];
    if (join.leader === join.memberId) {
      const members = join.members.map((m) => ({
        memberId: m.memberId,
        topics: decodeSubscription(m.metadata).topics,
      }));
      const counts = new Map<string, number>();
      for (const t of new Set(members.flatMap((m) => m.topics))) {
        counts.set(t, await this.cluster.partitionCount(t));
      }
      const plan = assignRoundRobin(members, counts);
      assignments = [...plan].map(([memberId, a]) => ({ memberId, assignment: encodeAssignment(a) }));
    }
    const sync = await this.cluster.send(
      coordinator,
      (id) =>
        encodeSyncGroupRequest(id, this.cluster.clientId, {
          groupId: this.opts.groupId,
          generationId: this.generationId,
          memberId: this.memberId,
          groupInstanceId: this.instanceId,
          assignments,
        }),
      decodeSyncGroupResponse,
      JOIN_LANE,
    );
    if (sync.errorCode === 25) {
      this.memberId = '';
      return false;
    }
    if (sync.errorCode === 22 || sync.errorCode === 27) return false;
    checkGroupError(sync.errorCode, 'SyncGroup', this.opts.groupId);
    const subscribed = new Set(this.opts.topics);
    this.assignment = new Map([...decodeAssignment(sync.assignment)].filter(([t]) => subscribed.has(t)));
    const owned = new Set<string>();
    for (const [t, ps] of this.assignment) for (const p of ps) owned.add(key(t, p));
    // Revoked partitions are dropped; positions of kept ones are reloaded from the committed offsets below.
    this.positions.clear();
    this.opts.log?.info('partitions assigned', {
      assignment: Object.fromEntries(this.assignment),
      generation: this.generationId,
      member_id: this.memberId,
      leader: join.leader === join.memberId,
    });
    return true;
  }

  /**
   * Positions from the group's committed offsets (waiting out pending transactional commits), else the reset policy:
   * of `parts` (default: every owned partition). A coordinator that cannot be found or reached (it moved, its broker
   * died) is looked up again until the deadline, like an OffsetFetch that failed.
   */
  private async loadPositions(parts?: readonly { topic: string; partition: number }[]): Promise<void> {
    const grouped = new Map<string, number[]>();
    if (parts) for (const p of parts) grouped.set(p.topic, [...(grouped.get(p.topic) ?? []), p.partition]);
    const topics = [...(parts ? grouped : this.assignment)].map(([topic, partitions]) => ({ topic, partitions }));
    if (topics.length === 0) return;
    const deadline = Date.now() + (this.opts.stableOffsetsTimeoutMs ?? 120_000);
    for (let attempt = 1; ; attempt++) {
      let res: ReturnType<typeof decodeOffsetFetchResponse>;
      try {
        const coordinator = await this.cluster.coordinator('group', this.opts.groupId);
        res = await this.cluster.send(
          coordinator,
          (id) => encodeOffsetFetchRequest(id, this.cluster.clientId, this.opts.groupId, topics, true),
          decodeOffsetFetchResponse,
        );
      } catch (err) {
        // A Kafka error of the lookup other than "coordinator not there yet" (e.g. not authorized) is final.
        const final = err instanceof KafkaProtocolError && !COORDINATOR_CODES.includes(err.code);
        if (final || Date.now() > deadline) throw err;
        this.cluster.forgetCoordinator('group', this.opts.groupId);
        await sleep(Math.min(1000, 20 * 2 ** Math.min(attempt, 6)));
        continue;
      }
      const unstable =
        res.errorCode === 88 ||
        res.partitions.some((p) => p.errorCode === 88 || COORDINATOR_CODES.includes(p.errorCode));
      if (COORDINATOR_CODES.includes(res.errorCode) || unstable) {
        // UNSTABLE_OFFSET_COMMIT: a transaction holding offsets for these partitions is still open (the previous
        // owner's): reading now could return an offset that is about to move; wait for it to end (bounded).
        if (Date.now() > deadline)
          throw new Error(`group ${this.opts.groupId}: offsets still unstable after waiting (pending transaction)`);
        if (COORDINATOR_CODES.includes(res.errorCode)) this.cluster.forgetCoordinator('group', this.opts.groupId);
        await sleep(Math.min(500, 10 * 2 ** Math.min(attempt, 6)));
        continue;
      }
      checkGroupError(res.errorCode, 'OffsetFetch', this.opts.groupId);
      const missing: { topic: string; partition: number }[] = [];
      for (const p of res.partitions) {
        if (p.errorCode !== 0) throw new KafkaProtocolError(p.errorCode, `OffsetFetch(${p.topic}/${p.partition})`);
        if (p.offset >= 0n) this.positions.set(key(p.topic, p.partition), p.offset);
        else missing.push(p);
      }
      if (missing.length > 0) {
        try {
          await this.resetOffsets(missing, 'no committed offset');
        } catch (err) {
          // A leader that died or moved (resetOffsets marked its metadata stale): ask again, within the deadline.
          const final =
            err instanceof ConsumerFatalError ||
            (err instanceof KafkaProtocolError && !STALE_LEADER_CODES.includes(err.code));
          if (final || Date.now() > deadline) throw err;
          await sleep(Math.min(1000, 20 * 2 ** Math.min(attempt, 6)));
          continue;
        }
      }
      return;
    }
  }

  /** Sets positions of `parts` by the reset policy (ListOffsets earliest / latest). */
  private async resetOffsets(parts: { topic: string; partition: number }[], why: string): Promise<void> {
    const policy = this.opts.resetPolicy;
    if (policy === 'none')
      throw new ConsumerFatalError(
        `${why} for ${parts.map((p) => `${p.topic}/${p.partition}`).join(', ')} and offset reset policy is none`,
      );
    const timestamp = policy === 'earliest' ? OFFSET_SPEC.earliest : OFFSET_SPEC.latest;
    const byLeader = new Map<number, Map<string, { partition: number; timestamp: bigint }[]>>();
    for (const p of parts) {
      const leader = await this.cluster.leaderFor(p.topic, p.partition);
      const topics = byLeader.get(leader) ?? new Map();
      topics.set(p.topic, [...(topics.get(p.topic) ?? []), { partition: p.partition, timestamp }]);
      byLeader.set(leader, topics);
    }
    for (const [leader, topics] of byLeader) {
      let listed: ReturnType<typeof decodeListOffsetsResponse>;
      try {
        listed = await this.cluster.send(
          leader,
          (id) =>
            encodeListOffsetsRequest(
              id,
              this.cluster.clientId,
              this.isolation,
              [...topics].map(([topic, partitions]) => ({ topic, partitions })),
            ),
          decodeListOffsetsResponse,
        );
        checkListedOffsets(listed);
      } catch (err) {
        // A connection error (the leader died) or a moved leader: the next lookup refetches metadata.
        if (!(err instanceof KafkaProtocolError) || hasKafkaCode(err, ...STALE_LEADER_CODES))
          for (const t of topics.keys()) this.cluster.markStale(t);
        throw err;
      }
      for (const l of listed) {
        this.positions.set(key(l.topic, l.partition), l.offset);
        this.opts.log?.info('offset reset', {
          topic: l.topic,
          partition: l.partition,
          offset: String(l.offset),
          policy,
          why,
        });
      }
    }
  }

  // ---------- heartbeats ----------

  private startHeartbeats(): void {
    this.stopHeartbeats();
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), this.opts.heartbeatIntervalMs);
    this.heartbeatTimer.unref?.();
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private async heartbeat(): Promise<void> {
    if (this.heartbeatInFlight || this.rejoinNeeded || this.closed) return;
    this.heartbeatInFlight = true;
    const generationId = this.generationId;
    try {
      const coordinator = await this.cluster.coordinator('group', this.opts.groupId);
      const { errorCode } = await this.cluster.send(
        coordinator,
        (id) =>
          encodeHeartbeatRequest(id, this.cluster.clientId, {
            groupId: this.opts.groupId,
            generationId,
            memberId: this.memberId,
            groupInstanceId: this.instanceId,
          }),
        decodeHeartbeatResponse,
        HEARTBEAT_LANE,
      );
      if (generationId !== this.generationId) return; // a rejoin happened meanwhile
      if (errorCode === 0) this.confirmedAtMs = Date.now();
      else if (REJOIN_CODES.includes(errorCode)) {
        if (errorCode === 25) this.memberId = '';
        this.rejoinNeeded = true;
        this.stopHeartbeats();
        this.opts.log?.info('rebalance: rejoin needed', { code: errorCode, generation: generationId });
      } else if (COORDINATOR_CODES.includes(errorCode)) {
        this.cluster.forgetCoordinator('group', this.opts.groupId);
      } else if (errorCode === 82) {
        this.fatal = new ConsumerFatalError(`Heartbeat: FENCED_INSTANCE_ID (${this.instanceId})`);
        this.stopHeartbeats();
      } else this.opts.log?.warn('heartbeat error', { code: errorCode });
    } catch (err) {
      // Connection trouble: find the coordinator again; the session timeout decides whether we are still a member.
      this.cluster.forgetCoordinator('group', this.opts.groupId);
      this.opts.log?.warn('heartbeat failed', { err });
    } finally {
      this.heartbeatInFlight = false;
    }
  }

  // ---------- offsets (at_least_once) and shutdown ----------

  /** Commits offsets outside a transaction (OffsetCommit with this member's generation). */
  async commitOffsets(member: MemberGeneration, topics: readonly TopicOffsets[]): Promise<void> {
    if (topics.length === 0) return;
    const coordinator = await this.cluster.coordinator('group', this.opts.groupId);
    let errors: ReturnType<typeof decodeOffsetCommitResponse>;
    try {
      errors = await this.cluster.send(
        coordinator,
        (id) => encodeOffsetCommitRequest(id, this.cluster.clientId, member, topics),
        decodeOffsetCommitResponse,
      );
    } catch (err) {
      this.cluster.forgetCoordinator('group', this.opts.groupId);
      throw err;
    }
    for (const e of errors) {
      if (e.errorCode === 0) continue;
      if (COORDINATOR_CODES.includes(e.errorCode)) this.cluster.forgetCoordinator('group', this.opts.groupId);
      if (REJOIN_CODES.includes(e.errorCode)) this.rejoinNeeded = true;
      throw new KafkaProtocolError(e.errorCode, `OffsetCommit(${e.topic}/${e.partition})`);
    }
  }

  /**
   * Makes the next `poll()` rejoin the group: for a caller that learned from another API (e.g. TxnOffsetCommit
   * answered ILLEGAL_GENERATION) that this member's generation is gone, before a heartbeat says so.
   */
  requestRejoin(): void {
    this.rejoinNeeded = true;
    this.stopHeartbeats();
  }

  /** Reloads every position from the committed offsets (after a failed transaction, to redo its records). */
  async rewind(): Promise<void> {
    if (this.rejoinNeeded) return; // the rejoin reloads positions anyway
    this.positions.clear();
    await this.loadPositions();
  }

  private throwIfUnusable(): void {
    if (this.fatal) throw this.fatal;
    if (this.closed) throw new Error('GroupConsumer is closed');
  }

  /** Stops heartbeats and leaves the group so the partitions move at once (best effort, bounded by `timeoutMs`). */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopHeartbeats();
    if (!this.memberId) return;
    const leave = async () => {
      const coordinator = await this.cluster.coordinator('group', this.opts.groupId);
      const res = await this.cluster.send(
        coordinator,
        (id) =>
          encodeLeaveGroupRequest(id, this.cluster.clientId, this.opts.groupId, [
            { memberId: this.memberId, groupInstanceId: this.instanceId },
          ]),
        decodeLeaveGroupResponse,
      );
      if (res.errorCode !== 0 && res.errorCode !== 25) checkGroupError(res.errorCode, 'LeaveGroup', this.opts.groupId);
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        leave(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`LeaveGroup took more than ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      this.opts.log?.warn('leave group failed (the session timeout will remove the member)', { err });
    } finally {
      clearTimeout(timer);
      this.memberId = '';
      this.generationId = -1;
      this.assignment = new Map();
      this.positions.clear();
    }
  }
}
