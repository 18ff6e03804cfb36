/**
 * The benchmark result file of CONTRACT section 1: `bench/results/<target>.json` with the commit, the runtime,
 * the machine, raw metrics and the ratios against their goals. Also the small statistics every target needs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

export interface Metric {
  readonly name: string;
  readonly unit: string;
  readonly value: number;
}

export interface Ratio {
  readonly name: string;
  readonly value: number;
  /**
   * The target the issue sets: the ratio meets it when value >= goal (or <= goal when `lowerIsBetter`). null: no issue
   * sets one (a ratio reported for information, e.g. an estimate); the report lists it apart and never counts it.
   */
  readonly goal: number | null;
  readonly lowerIsBetter?: boolean;
}

export interface BenchResult {
  readonly target: string;
  readonly commit: string;
  readonly runtime: string;
  readonly machine: string;
  readonly quick: boolean;
  readonly finished_at: string;
  readonly metrics: readonly Metric[];
  readonly ratios: readonly Ratio[];
  /** Set when the run failed: why, in one line. The metrics and ratios are what it measured before that. */
  readonly error?: string;
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return 'unknown';
  }
}

export function runtimeName(): string {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return bun ? `bun ${bun}` : `node ${process.versions.node}`;
}

export function machineName(): string {
  const cpu = cpus();
  return `${cpu[0]?.model.trim() ?? 'unknown cpu'} x${cpu.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform}-${process.arch}`;
}

export function writeResult(
  target: string,
  metrics: readonly Metric[],
  ratios: readonly Ratio[],
  runtime: string = runtimeName(),
  error?: string,
): BenchResult {
  const result: BenchResult = {
    target,
    commit: commit(),
    runtime,
    machine: machineName(),
    quick: process.env.BENCH_QUICK === '1',
    finished_at: new Date().toISOString(),
    metrics,
    ratios,
    ...(error ? { error } : {}),
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${target}.json`), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** Whether the ratio meets its goal; null when it has none. */
export function meetsGoal(r: Ratio): boolean | null {
  if (r.goal === null || r.goal === undefined) return null;
  // A ratio that could not be computed (an arm measured nothing: NaN/Infinity, written to JSON as null) misses its goal.
  if (typeof r.value !== 'number' || !Number.isFinite(r.value)) return false;
  return r.lowerIsBetter ? r.value <= r.goal : r.value >= r.goal;
}

/** Rejects when `p` takes longer than `ms`: a hung step fails the benchmark instead of holding the lock. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
