/**
 * Runs the Python side of ml/ (`ml/python/pep_ml`) in the project's training virtualenv, installed once per machine
 * (venv.ts). Output goes to the caller; a non-zero exit is an error carrying the last lines of stderr.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { trainPython } from './venv.ts';

export const PYTHON_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'python');

export class PythonError extends Error {
  override readonly name = 'PythonError';
}

export interface RunPythonOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Stream stderr lines to this function as they come (progress); otherwise they are only kept for errors. */
  readonly onStderr?: (line: string) => void;
  readonly timeoutMs?: number;
}

/** `python -m <module> <args>`; resolves with stdout. */
export async function runPython(module: string, args: readonly string[], opts: RunPythonOptions = {}): Promise<string> {
  const python = await trainPython();
  return new Promise((resolve, reject) => {
    const child = spawn(python, ['-m', module, ...args], {
      cwd: PYTHON_DIR,
      // No usage telemetry from Feast or the MLflow client (the MLflow server runs without it too, stack/): it calls
      // hosts this platform must not depend on, and MLflow's client keeps a session id in the environment of the
      // process (_MLFLOW_TELEMETRY_SESSION_ID) that one train test's MLflow call once failed on.
      env: {
        ...process.env,
        ...opts.env,
        PYTHONPATH: PYTHON_DIR,
        FEAST_USAGE: 'False',
        MLFLOW_DISABLE_TELEMETRY: 'true',
        DO_NOT_TRACK: 'true',
        PYTHONUNBUFFERED: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const errTail: string[] = [];
    let partial = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        errTail.push(l);
        if (errTail.length > 40) errTail.shift();
        opts.onStderr?.(l);
      }
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (partial) errTail.push(partial);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else
        reject(
          new PythonError(
            `python -m ${module} ${args[0] ?? ''} failed (${signal ?? `exit ${code}`}):\n${errTail.slice(-20).join('\n')}`,
          ),
        );
    });
  });
}
