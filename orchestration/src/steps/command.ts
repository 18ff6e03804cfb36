/**
 * Steps that run another package's command (`npm run -s <script> -- <args>` at the repository root): the way the
 * lakehouse, dbt and ML work plugs into the graph without the orchestrator importing their code. A command is
 * available when the root package.json has its script; it runs with a timeout, is killed on cancellation, and its
 * output is bounded. The last line of stdout that parses as a JSON object is its result. Not for steps that
 * write to PostgreSQL themselves (they get a transaction from the run context instead).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JsonObject, StepEnv } from '../step.ts';

/** Output kept per stream (the tail: errors are at the end). */
export const MAX_COMMAND_OUTPUT_BYTES = 256 * 1024;

export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The last stdout line that is a JSON object, if any. */
  readonly json: JsonObject | null;
  readonly durationMs: number;
}

/** Why the npm script is missing, or null when the root package.json has it. */
export function scriptMissing(repoRoot: string, script: string, owner: string): string | null {
  try {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      scripts?: Record<string, string>;
    };
    return pkg.scripts?.[script] ? null : `no "${script}" script in package.json yet (${owner})`;
  } catch (err) {
    return `cannot read package.json: ${(err as Error).message}`;
  }
}

function keepTail(acc: string, chunk: string): string {
  const s = acc + chunk;
  return s.length > MAX_COMMAND_OUTPUT_BYTES ? s.slice(s.length - MAX_COMMAND_OUTPUT_BYTES) : s;
}

export function lastJsonObject(stdout: string): JsonObject | null {
  const lines = stdout.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] as string).trim();
    if (!line.startsWith('{')) continue;
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as JsonObject;
    } catch {
      // not JSON: keep looking upwards
    }
  }
  // A pretty-printed object at the end of the output: it starts at the last line that is exactly `{`.
  for (let i = lines.length - 1; i >= 0; i--) {
    if ((lines[i] as string) !== '{') continue;
    try {
      const v = JSON.parse(lines.slice(i).join('\n')) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as JsonObject;
    } catch {
      // not the start of the last object
    }
  }
  return null;
}

/** Runs `npm run -s <script> -- ...args` in the repository root. Never throws for a non-zero exit: returns it. */
export function runNpmScript(
  env: StepEnv,
  script: string,
  args: readonly string[],
  opts: { timeoutMs: number; signal?: AbortSignal; onOutput?: () => void },
): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', script, '--', ...args], {
      cwd: env.repoRoot,
      env: { ...env.env, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    let killedBy: string | null = null;
    // npm starts the script in its own shell: kill the whole process group.
    const kill = (why: string) => {
      killedBy = why;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => kill(`timed out after ${opts.timeoutMs} ms`), opts.timeoutMs);
    const onAbort = () => kill('cancelled');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout = keepTail(stdout, c);
      opts.onOutput?.();
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr = keepTail(stderr, c);
      opts.onOutput?.();
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (killedBy) {
        reject(new Error(`npm run ${script} ${args.join(' ')}: ${killedBy}; stderr: ${stderr.slice(-2000)}`));
        return;
      }
      resolve({ code, signal, stdout, stderr, json: lastJsonObject(stdout), durationMs: Date.now() - started });
    });
  });
}

/** The last lines of a command's output, for a failure reason. */
export function outputTail(r: CommandResult, lines = 20): string {
  const text = `${r.stdout}\n${r.stderr}`.trim().split('\n');
  return text.slice(-lines).join('\n');
}
