/**
 * The classic consumer-group protocol and the group's offsets, encoded and decoded by hand (pure functions, no I/O):
 * JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3 (the newest non-flexible versions; all carry
 * group_instance_id), OffsetCommit v5 (non-flexible) and OffsetFetch v7 (flexible: the first version with
 * require_stable, so that offsets of a pending transaction are waited for instead of read stale).
 *
 * The group uses protocol type `consumer` with the standard ConsumerProtocol Subscription / Assignment v0 encoding,
 * so `kafka-consumer-groups.sh --describe` and kafkajs's admin understand it, and the assignment strategy
 * `roundrobin` (Java's RoundRobinAssignor rule: every subscribed topic-partition, sorted, dealt to the members
 * sorted by member id). Versions checked against the Kafka 4.1 broker's ApiVersions (KIP-896 removed older ones).
 */
import { RequestWriter, ResponseReader } from './consumer-codec.ts';
import { KafkaProtocolError } from './protocol.ts';

export const GROUP_APIS = {
  offsetCommit: { key: 8, version: 5 },
  offsetFetch: { key: 9, version: 7 },
  joinGroup: { key: 11, version: 5 },
  heartbeat: { key: 12, version: 3 },
  leaveGroup: { key: 13, version: 3 },
  syncGroup: { key: 14, version: 3 },
} as const;

export const CONSUMER_PROTOCOL_TYPE = 'consumer';
export const ROUND_ROBIN = 'roundrobin';

// ---------- ConsumerProtocol Subscription / Assignment v0 ----------

export function encodeSubscription(topics: readonly string[]): Buffer {
  const w = new RequestWriter();
  w.int16(0)
    .array([...topics].sort(), (t) => w.string(t))
    .bytes(Buffer.alloc(0)); // user_data: empty, as kafkajs writes it
  return w.finish().subarray(4);
}

export function decodeSubscription(bytes: Buffer): { version: number; topics: string[] } {
  const r = new ResponseReader(bytes);
  const version = r.int16();
  const topics = r.array(() => r.string() ?? '');
  // Versions >= 1 append user_data, owned partitions, generation, rack: not needed for the assignment.
  return { version, topics };
}

/** topic -> partitions. */
export type Assignment = ReadonlyMap<string, readonly number[]>;

export function encodeAssignment(assignment: Assignment): Buffer {
  const w = new RequestWriter();
  const topics = [...assignment.keys()].sort();
  w.int16(0)
    .array(topics, (t) => {
      w.string(t).array(assignment.get(t) ?? [], (p) => w.int32(p));
    })
    .bytes(Buffer.alloc(0));
  return w.finish().subarray(4);
}

export function decodeAssignment(bytes: Buffer | null): Map<string, number[]> {
  const out = new Map<string, number[]>();
  // An empty assignment (a member that got nothing) may come as zero bytes.
  if (!bytes || bytes.length < 2) return out;
  const r = new ResponseReader(bytes);
  r.int16(); // version: every version starts with the same assigned_partitions layout
  r.array(() => {
    const topic = r.string() ?? '';
    out.set(
      topic,
      r.array(() => r.int32()),
    );
  });
  return out;
}

/**
 * Round-robin over all topic-partitions (topics sorted, partitions ascending) to the members sorted by id, each
 * partition to the next member subscribed to its topic. Deterministic: same inputs, same assignment.
 */
export function assignRoundRobin(
  members: readonly { memberId: string; topics: readonly string[] }[],
  partitionCounts: ReadonlyMap<string, number>,
): Map<string, Map<string, number[]>> {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const out = new Map<string, Map<string, number[]>>(sorted.map((m) => [m.memberId, new Map()]));
  const topics = [...new Set(sorted.flatMap((m) => m.topics))].sort();
  let next = 0;
  for (const topic of topics) {
    const count = partitionCounts.get(topic) ?? 0;
    for (let p = 0; p < count; p++) {
      for (let tries = 0; tries < sorted.length; tries++) {
        const m = sorted[next % sorted.length] as (typeof sorted)[number];
        next++;
        if (!m.topics.includes(topic)) continue;
        const a = out.get(m.memberId) as Map<string, number[]>;
        a.set(topic, [...(a.get(topic) ?? []), p]);
        break;
      }
    }
  }
  return out;
}

// ---------- JoinGroup v5 ----------

export interface JoinGroupRequest {
  readonly groupId: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** '' on the first join. */
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly protocols: readonly { readonly name: string; readonly metadata: Buffer }[];
}

export function encodeJoinGroupRequest(correlationId: number, clientId: Buffer, req: JoinGroupRequest): Buffer {
  const w = new RequestWriter();
  w.header(GROUP_APIS.joinGroup.key, GROUP_APIS.joinGroup.version, correlationId, clientId, false);
  w.string(req.groupId)
    .int32(req.sessionTimeoutMs)
    .int32(req.rebalanceTimeoutMs)
    .string(req.memberId)
    .string(req.groupInstanceId)
    .string(CONSUMER_PROTOCOL_TYPE)
    .array(req.protocols, (p) => {
      w.string(p.name).bytes(p.metadata);
    });
  return w.finish();
}

export interface JoinGroupResponse {
  readonly errorCode: number;
  readonly generationId: number;
  readonly protocolName: string;
  readonly leader: string;
  readonly memberId: string;
  /** Filled for the leader only. */
  readonly members: readonly {
    readonly memberId: string;
    readonly groupInstanceId: string | null;
    readonly metadata: Buffer;
  }[];
}

export function decodeJoinGroupResponse(body: Buffer): JoinGroupResponse {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const generationId = r.int32();
  const protocolName = r.string() ?? '';
  const leader = r.string() ?? '';
  const memberId = r.string() ?? '';
  const members = r.array(() => ({
    memberId: r.string() ?? '',
    groupInstanceId: r.string(),
    metadata: r.bytes() ?? Buffer.alloc(0),
  }));
  return { errorCode, generationId, protocolName, leader, memberId, members };
}

// ---------- SyncGroup v3 ----------

export interface SyncGroupRequest {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  /** The leader sends every member's assignment; followers send none. */
  readonly assignments: readonly { readonly memberId: string; readonly assignment: Buffer }[];
}

export function encodeSyncGroupRequest(correlationId: number, clientId: Buffer, req: SyncGroupRequest): Buffer {
  const w = new RequestWriter();
  w.header(GROUP_APIS.syncGroup.key, GROUP_APIS.syncGroup.version, correlationId, clientId, false);
  w.string(req.groupId)
    .int32(req.generationId)
    .string(req.memberId)
    .string(req.groupInstanceId)
    .array(req.assignments, (a) => {
      w.string(a.memberId).bytes(a.assignment);
    });
  return w.finish();
}

export function decodeSyncGroupResponse(body: Buffer): { errorCode: number; assignment: Buffer | null } {
  const r = new ResponseReader(body);
  r.int32(); // throttle_time_ms
  const errorCode = r.int16();
  const assignment = r.bytes();
  return { errorCode, assignment };
}

// ---------- Heartbeat v3 ----------

export interface MemberRef {
  readonly groupId: string;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

export function encodeHeartbeatRequest(correlationId: number, clientId: Buffer, m: MemberRef): Buffer {
  const w = new RequestWriter(64 + m.groupId.length + m.memberId.length);
  w.header(GROUP_APIS.heartbeat.key, GROUP_APIS.heartbeat.version, correlationId, clientId, false);
  w.string(m.groupId).int32(m.generationId).string(m.memberId).string(m.groupInstanceId);
  return w.finish();
}

export function decodeHeartbeatResponse(body: Buffer): { errorCode: number } {
  const r = new ResponseReader(body);
  r.int32();
  return { errorCode: r.int16() };
}

// ---------- LeaveGroup v3 ----------

export function encodeLeaveGroupRequest(
  correlationId: number,
  clientId: Buffer,
  groupId: string,
  members: readonly { memberId: string; groupInstanceId: string | null }[],
): Buffer {
  const w = new RequestWriter();
  w.header(GROUP_APIS.leaveGroup.key, GROUP_APIS.leaveGroup.version, correlationId, clientId, false);
  w.string(groupId).array(members, (m) => {
    w.string(m.memberId).string(m.groupInstanceId);
  });
  return w.finish();
}

export function decodeLeaveGroupResponse(body: Buffer): {
  errorCode: number;
  members: { memberId: string; errorCode: number }[];
} {
  const r = new ResponseReader(body);
  r.int32();
  const errorCode = r.int16();
  const members = r.array(() => {
    const memberId = r.string() ?? '';
    r.string(); // group_instance_id
    return { memberId, errorCode: r.int16() };
  });
  return { errorCode, members };
}

// ---------- OffsetCommit v5 (at_least_once) ----------

export interface TopicOffsets {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly offset: bigint }[];
}

export function encodeOffsetCommitRequest(
  correlationId: number,
  clientId: Buffer,
  member: Omit<MemberRef, 'groupInstanceId'>,
  topics: readonly TopicOffsets[],
): Buffer {
  const w = new RequestWriter();
  w.header(GROUP_APIS.offsetCommit.key, GROUP_APIS.offsetCommit.version, correlationId, clientId, false);
  w.string(member.groupId)
    .int32(member.generationId)
    .string(member.memberId)
    .array(topics, (t) => {
      w.string(t.topic).array(t.partitions, (p) => {
        w.int32(p.partition).int64(p.offset).string(null); // committed_metadata
      });
    });
  return w.finish();
}

export interface PartitionError {
  readonly topic: string;
  readonly partition: number;
  readonly errorCode: number;
}

export function decodeOffsetCommitResponse(body: Buffer): PartitionError[] {
  const r = new ResponseReader(body);
  r.int32();
  const out: PartitionError[] = [];
  r.array(() => {
    const topic = r.string() ?? '';
    r.array(() => {
      const partition = r.int32();
      out.push({ topic, partition, errorCode: r.int16() });
    });
  });
  return out;
}

// ---------- OffsetFetch v7 (flexible) ----------

export function encodeOffsetFetchRequest(
  correlationId: number,
  clientId: Buffer,
  groupId: string,
  topics: readonly { topic: string; partitions: readonly number[] }[],
  requireStable: boolean,
): Buffer {
  const w = new RequestWriter();
  w.header(GROUP_APIS.offsetFetch.key, GROUP_APIS.offsetFetch.version, correlationId, clientId, true);
  w.compactString(groupId)
    .compactArray(topics, (t) => {
      w.compactString(t.topic)
        .compactArray(t.partitions, (p) => w.int32(p))
        .tags();
    })
    .bool(requireStable)
    .tags();
  return w.finish();
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  /** -1 when the group has no committed offset for the partition. */
  readonly offset: bigint;
  readonly errorCode: number;
}

export interface OffsetFetchResponse {
  readonly errorCode: number;
  readonly partitions: readonly CommittedOffset[];
}

/** `body` starts with the response header's tagged fields (response header v1 of flexible versions). */
export function decodeOffsetFetchResponse(body: Buffer): OffsetFetchResponse {
  const r = new ResponseReader(body);
  r.tags(); // response header v1
  r.int32(); // throttle_time_ms
  const partitions: CommittedOffset[] = [];
  r.compactArray(() => {
    const topic = r.compactString() ?? '';
    r.compactArray(() => {
      const partition = r.int32();
      const offset = r.int64();
      r.int32(); // committed_leader_epoch
      r.compactString(); // metadata
      const errorCode = r.int16();
      r.tags();
      partitions.push({ topic, partition, offset, errorCode });
    });
    r.tags();
  });
  const errorCode = r.int16();
  r.tags();
  return { errorCode, partitions };
}

/** Throws a KafkaProtocolError for a group-level error code. */
export function checkGroupError(errorCode: number, api: string, groupId: string): void {
  if (errorCode !== 0) throw new KafkaProtocolError(errorCode, `${api}(group ${groupId})`);
}
