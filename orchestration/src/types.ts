/**
 * Shapes passed between the orchestration workflows and activities (workflow files import these as types only).
 */
import type { RunIdentity } from './history.ts';
import type { JsonObject, RetryPolicy } from './step.ts';

/** Upper bound on partitions a backfill runs at once. */
export const MAX_BACKFILL_CONCURRENCY = 8;

export type Trigger = string;

export interface PlanInput {
  readonly step: string;
  readonly partition: string;
  readonly force?: boolean;
}

export type PlanAction = 'run' | 'unchanged' | 'waiting' | 'blocked' | 'unavailable';

export interface StepPlan {
  readonly step: string;
  readonly partition: string;
  readonly action: PlanAction;
  readonly reason: string;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number;
  readonly heartbeatTimeoutMs: number;
}

export interface ExecuteInput {
  readonly step: string;
  readonly partition: string;
  readonly trigger: Trigger;
  readonly force?: boolean;
}

export interface ExecuteResult {
  readonly status: 'succeeded' | 'halted' | 'unchanged' | 'waiting' | 'blocked';
  readonly runId?: string;
  readonly outputVersion?: string;
  readonly changed: boolean;
  readonly outputs?: JsonObject;
  readonly reason?: string;
  /** The run had committed before its worker died; this attempt reported it instead of redoing it. */
  readonly resumed?: boolean;
}

export interface EndRecord {
  readonly identity: RunIdentity;
  readonly status: 'failed' | 'blocked' | 'unavailable';
  readonly reason: string;
  readonly errorType: string;
  readonly retryable: boolean;
}

/** What a StepWorkflow returns (and a PartitionWorkflow collects per step). */
export interface StepResult {
  readonly step: string;
  readonly partition: string;
  readonly status: 'succeeded' | 'halted' | 'unchanged' | 'waiting' | 'blocked' | 'unavailable' | 'failed';
  readonly reason?: string;
  readonly errorType?: string;
  readonly runId?: string | null;
  readonly changed?: boolean;
  readonly outputs?: JsonObject;
  readonly workflowId?: string;
}

export interface StepWorkflowInput {
  readonly step: string;
  readonly partition: string;
  readonly trigger: Trigger;
  readonly force?: boolean;
}

export interface PartitionWorkflowInput {
  readonly partition: string;
  /** Steps to consider, in graph order; each runs only when its inputs changed. */
  readonly steps: readonly string[];
  readonly trigger: Trigger;
  readonly force?: boolean;
}

export interface PartitionResult {
  readonly partition: string;
  readonly steps: readonly StepResult[];
}

export interface TickInput {
  readonly schedule: string;
  readonly steps: readonly string[];
  /** `last-closed`: the partition that ended last (yesterday, the previous window); `current-and-previous`: both. */
  readonly partitions: 'last-closed' | 'current-and-previous';
  /** Hash of the schedule definition that started this tick (schedules apply compares it). */
  readonly definitionHash: string;
}

export interface TickPlan {
  readonly partitions: readonly string[];
  readonly steps: readonly string[];
}

export interface BackfillRequest {
  readonly from: string;
  readonly to: string;
  readonly steps?: readonly string[];
  readonly concurrency?: number;
  readonly force?: boolean;
}

export interface BackfillPlan {
  readonly partitions: readonly string[];
  readonly steps: readonly string[];
}

export interface BackfillProgress {
  readonly total: number;
  readonly done: number;
  readonly running: readonly string[];
  readonly results: readonly PartitionResult[];
}
