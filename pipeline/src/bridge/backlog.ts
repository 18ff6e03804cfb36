/**
 * Backpressure from Temporal to Kafka: polls the payment task queue's workflow-task backlog (DescribeTaskQueue with
 * stats) and lets the bridge wait while it is over a bound. Without it the bridge starts workflows as fast as Kafka
 * delivers them, the backlog hides inside Temporal, Kafka lag stays 0 and fetched batches stay small; with it the
 * lag builds in Kafka (visible, bounded by retention, not by Temporal's store) and the adaptive bridge batches.
 */
import type { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';

const WORKFLOW_QUEUE = proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW;

export class BacklogGate {
  private backlog = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly opts: {
      readonly connection: Pick<Connection, 'workflowService'>;
      readonly namespace: string;
      readonly taskQueue: string;
      /** Workflow tasks waiting in the queue above which new starts wait. */
      readonly maxBacklog: number;
      readonly pollMs: number;
      readonly onBacklog?: (n: number) => void;
      readonly onError?: (err: unknown) => void;
    },
  ) {}

  /** The last polled backlog (workflow tasks waiting for a worker). */
  get current(): number {
    return this.backlog;
  }

  async poll(): Promise<number> {
    const r = await this.opts.connection.workflowService.describeTaskQueue({
      namespace: this.opts.namespace,
      taskQueue: { name: this.opts.taskQueue },
      taskQueueType: WORKFLOW_QUEUE,
      reportStats: true,
    });
    this.backlog = Number(r.stats?.approximateBacklogCount ?? 0);
    this.opts.onBacklog?.(this.backlog);
    return this.backlog;
  }

  start(): void {
    const tick = async () => {
      try {
        await this.poll();
      } catch (err) {
        // An unreadable backlog must not stop the bridge: it then behaves as without backpressure.
        this.backlog = 0;
        this.opts.onError?.(err);
      }
      if (!this.stopped) this.timer = setTimeout(tick, this.opts.pollMs);
    };
    void tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Resolves once the backlog is at or under the bound, or `isActive` turns false; heartbeats while waiting. */
  async waitBelow(isActive: () => boolean, heartbeat: () => Promise<void>): Promise<void> {
    while (this.backlog > this.opts.maxBacklog && isActive() && !this.stopped) {
      await new Promise((r) => setTimeout(r, this.opts.pollMs));
      await heartbeat();
    }
  }
}
