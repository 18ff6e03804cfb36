/**
 * What the orchestration CLIs share: a Temporal client, the run-history pool and step environment, the graph, and
 * one way to fail on bad input (a clear message and exit status 2, before anything is started).
 */

import { temporalConnectionOptions } from '@pep/contracts/managed';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type OrchestrationConfig } from './config.ts';
import type { StepGraph } from './graph.ts';
import { createPool } from './history.ts';
import type { StepEnv } from './step.ts';
import { stepEnv } from './step-env.ts';
import { defaultGraph } from './steps/index.ts';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface CliContext {
  readonly config: OrchestrationConfig;
  readonly graph: StepGraph;
  readonly env: StepEnv;
  readonly client: Client;
  close(): Promise<void>;
}

export async function openCli(): Promise<CliContext> {
  const config = loadConfig();
  const pool = createPool(config.databaseUrl, 2);
  const connection = await Connection.connect({
    ...temporalConnectionOptions(config.temporalAddress),
    connectTimeout: '5 seconds',
  });
  return {
    config,
    graph: defaultGraph(),
    env: stepEnv(pool),
    client: new Client({ connection, namespace: config.namespace }),
    async close() {
      await connection.close().catch(() => {});
      await pool.end().catch(() => {});
    },
  };
}

/** Runs a CLI's main: exit 0/1 from its result, 2 for bad input or an error before anything ran. */
export function runCli(name: string, main: () => Promise<number>): void {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      const usage = err instanceof UsageError || (err as Error)?.name === 'PartitionError';
      console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(usage ? 2 : 1);
    },
  );
}

/** Temporal UI link to a workflow. */
export function workflowLink(config: OrchestrationConfig, workflowId: string): string {
  return `${config.uiUrl}/namespaces/${config.namespace}/workflows/${encodeURIComponent(workflowId)}`;
}

/** Whether a worker polls the batch task queue (a backfill or trigger would otherwise wait for nothing). */
export async function hasWorker(ctx: CliContext): Promise<boolean> {
  const res = await ctx.client.workflowService.describeTaskQueue({
    namespace: ctx.config.namespace,
    taskQueue: { name: ctx.config.taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  return (res.pollers ?? []).length > 0;
}

export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) {
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}
