/**
 * Runs a child command with its output streamed through, and reads the test counts from whatever runner it was:
 * Node's test runner (spec or TAP summary), `bun test`, or `cargo test`. Shared by the test and bench commands.
 */
import { spawn } from 'node:child_process';

export interface Counts {
  passed: number;
  failed: number;
}

const MAX_CAPTURE_CHARS = 8 * 1024 * 1024;

export function countTests(output: string): Counts | undefined {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  const text = output.replace(/\u001b\[[0-9;]*m/g, '');
  let found = false;
  const counts: Counts = { passed: 0, failed: 0 };
  const add = (kind: string, n: string) => {
    found = true;
    if (kind.startsWith('pass')) counts.passed += Number(n);
    else counts.failed += Number(n);
  };
  // node --test: "ℹ pass 12" (spec) or "# pass 12" (TAP)
  for (const m of text.matchAll(/^(?:ℹ|#) (pass|fail) (\d+)$/gm)) add(m[1] as string, m[2] as string);
  // bun test: " 12 pass" / " 0 fail"
  for (const m of text.matchAll(/^\s*(\d+) (pass|fail)$/gm)) add(m[2] as string, m[1] as string);
  // cargo test: "test result: ok. 12 passed; 0 failed; ..."
  for (const m of text.matchAll(/^test result: \w+\. (\d+) passed; (\d+) failed/gm)) {
    add('pass', m[1] as string);
    add('fail', m[2] as string);
  }
  return found ? counts : undefined;
}

export interface RunResult {
  readonly code: number;
  readonly output: string;
}

export function runStreaming(
  command: string,
  args: readonly string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const capture = (chunk: Buffer, sink: NodeJS.WriteStream) => {
      sink.write(chunk);
      output += chunk.toString('utf8');
      if (output.length > MAX_CAPTURE_CHARS) output = output.slice(-MAX_CAPTURE_CHARS / 2);
    };
    child.stdout.on('data', (c: Buffer) => capture(c, process.stdout));
    child.stderr.on('data', (c: Buffer) => capture(c, process.stderr));
    child.on('error', (err) => resolve({ code: 127, output: `${output}\n${err.message}` }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), output }));
  });
}
