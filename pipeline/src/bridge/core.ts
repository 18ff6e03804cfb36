/**
 * The delivery loop of the bridge, independent of Kafka and Temporal so that its guarantees are unit-tested:
 * messages of one partition batch are handled in chunks of at most `maxInFlight` (in groups of `groupSize`, one
 * workflow start each); a chunk's offsets are resolved
 * (and so committed) only after every message in it was acknowledged; a failing message is retried with capped
 * exponential backoff until it succeeds or the consumer stops — it is never skipped (the original bridge skipped a
 * message after 5 failures because a later commit moved past it).
 */

export class BridgeStoppedError extends Error {
  override readonly name = 'BridgeStoppedError';
}

export interface RetryOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** False once the consumer is stopping or the partition was revoked: give up without committing. */
  readonly isActive: () => boolean;
  readonly onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` until it resolves; between failures waits initialMs × 2^(n−1), capped at maxMs. */
export async function retryUntilDone<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const sleep = opts.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    if (!opts.isActive()) throw new BridgeStoppedError('consumer stopped before the message was acknowledged');
    try {
      return await fn();
    } catch (err) {
      const delay = Math.min(opts.initialMs * 2 ** Math.min(attempt - 1, 30), opts.maxMs);
      opts.onRetry?.(err, attempt, delay);
      await sleep(delay);
    }
  }
}

export interface BatchMessage {
  readonly offset: string;
}

export interface BatchControl<M extends BatchMessage> {
  readonly messages: readonly M[];
  readonly maxInFlight: number;
  /** Messages handed to one `handle` call (1: one workflow per event; more: one batch workflow per group). */
  readonly groupSize: number;
  /** Handles one group of consecutive messages; resolves once its effect is acknowledged (throws to be retried). */
  readonly handle: (group: readonly M[]) => Promise<void>;
  readonly retry: Omit<RetryOptions, 'isActive'>;
  readonly isActive: () => boolean;
  readonly resolveOffset: (offset: string) => void;
  readonly commit: () => Promise<void>;
  readonly heartbeat: () => Promise<void>;
  /** Awaited before each chunk's starts (backpressure: waits while Temporal's backlog is over its bound). */
  readonly beforeChunk?: () => Promise<void>;
}

/** Processes one partition batch; returns the number of messages acknowledged and committed. */
export async function processBatch<M extends BatchMessage>(c: BatchControl<M>): Promise<number> {
  let done = 0;
  for (let i = 0; i < c.messages.length; i += c.maxInFlight) {
    await c.beforeChunk?.();
    if (!c.isActive()) return done;
    const chunk = c.messages.slice(i, i + c.maxInFlight);
    const groups: M[][] = [];
    for (let g = 0; g < chunk.length; g += c.groupSize) groups.push(chunk.slice(g, g + c.groupSize));
    const results = await Promise.allSettled(
      groups.map((g) => retryUntilDone(() => c.handle(g), { ...c.retry, isActive: c.isActive })),
    );
    // All or nothing per chunk: an unacknowledged message keeps every later offset uncommitted.
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) {
      if (failed.reason instanceof BridgeStoppedError) return done;
      throw failed.reason;
    }
    c.resolveOffset((chunk[chunk.length - 1] as M).offset);
    await c.commit();
    await c.heartbeat();
    done += chunk.length;
  }
  return done;
}
