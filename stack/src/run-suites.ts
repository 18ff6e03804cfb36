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

const MAX_FAILURE_LINES = 24;
const clip = (l: string) => (l.length > 300 ? `${l.slice(0, 300)}…` : l);

/** Node's TAP reporter (what it prints into a pipe): each failed leaf, its failure type and first error line. */
function tapFailures(lines: readonly string[]): string[] {
  const out: string[] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)not ok \d+ - (.*)$/.exec(line);
    if (!m) return;
    const indent = `${m[1]}  `;
    let type = '';
    let error = '';
    for (let j = i + 1; j < lines.length; j++) {
      const l = lines[j] as string;
      if (l === `${indent}...` || !l.startsWith(indent)) break;
      const field = /^(failureType|error): (.*)$/.exec(l.slice(indent.length));
      if (field?.[1] === 'failureType') type = (field[2] as string).replace(/'/g, '');
      if (field?.[1] === 'error') {
        error = field[2] === '|-' || field[2] === '>-' ? (lines[j + 1] ?? '').trim() : (field[2] as string);
      }
    }
    // A suite whose children failed says only that; its children are listed themselves.
    if (type === 'subtestsFailed') return;
    out.push(clip(`✖ ${m[2]}${type && type !== 'testCodeFailure' ? ` (${type})` : ''}`));
    if (error) out.push(`    ${clip(error.replace(/^'|'$/g, ''))}`);
  });
  return out;
}

/** Node's spec reporter (a terminal): the "✖ failing tests:" section, each failure with its first message lines. */
function specFailures(lines: readonly string[]): string[] {
  const out: string[] = [];
  const section = lines.findIndex((l) => /^✖ failing tests:/.test(l));
  if (section < 0) return out;
  for (let i = section + 1; i < lines.length; i++) {
    if (!/^\s*✖ /.test(lines[i] as string)) continue;
    out.push(clip((lines[i] as string).trim()));
    let kept = 0;
    for (let j = i + 1; j < lines.length && kept < 2 && !/^\s*✖ |^test at /.test(lines[j] as string); j++) {
      const l = (lines[j] as string).trim();
      if (l === '' || /^at\s/.test(l) || /^ℹ /.test(l)) continue;
      out.push(`    ${clip(l)}`);
      kept++;
    }
  }
  return out;
}

/** `bun test`: "(fail) name" lines, each with the error line bun printed before it. */
function bunFailures(lines: readonly string[]): string[] {
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('(fail) ')) return;
    out.push(clip(line));
    for (let j = i - 1; j >= Math.max(0, i - 60); j--) {
      const l = (lines[j] as string).trim();
      if (/^\((pass|fail|skip)\) /.test(l)) break;
      if (/^(error|\w*Error)\b/.test(l)) {
        out.push(`    ${clip(l)}`);
        break;
      }
    }
  });
  return out;
}

/**
 * The failed tests' names and first error lines, from whichever runner printed the output (Node's TAP or spec
 * reporter, `bun test`): what a CI summary shows so that a failure can be diagnosed from the summary alone.
 */
export function failureDigest(output: string): string[] {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  const lines = output.replace(/\u001b\[[0-9;]*m/g, '').split('\n');
  const digest = [...tapFailures(lines), ...specFailures(lines), ...bunFailures(lines)];
  return digest.length > MAX_FAILURE_LINES
    ? [...digest.slice(0, MAX_FAILURE_LINES), `… ${digest.length - MAX_FAILURE_LINES} more lines`]
    : digest;
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
