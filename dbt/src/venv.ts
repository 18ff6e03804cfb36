/**
 * The dbt toolchain in a project-local virtualenv from PyPI (installed once per machine by the stack's ensureVenv):
 * dbt-core below 1.12 with the DuckDB and Trino adapters, DuckDB pinned to the exact version of the iceberg / avro /
 * httpfs extension wheels (the extension host is not reachable from these machines, so nothing is ever INSTALLed),
 * and pyiceberg for the bronze catalog (snapshot ids, test histories). Not the product's query path.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureVenv, type VenvSpec } from '@pep/stack/install';

export const DUCKDB_VERSION = '1.5.5';
const EXTENSIONS = ['iceberg', 'avro', 'httpfs'] as const;

export const DBT_VENV: VenvSpec = {
  name: 'dbt',
  requirements: [
    // dbt-core 1.12 does not install here (a dependency downloads a wheel from a code host): stay below it.
    'dbt-core==1.11.16',
    'dbt-duckdb==1.11.1',
    'dbt-trino==1.11.0',
    `duckdb==${DUCKDB_VERSION}`,
    ...EXTENSIONS.map((e) => `duckdb-extension-${e}==${DUCKDB_VERSION}`),
    'pyiceberg[sql-postgres,pyarrow,pyiceberg-core]==0.12.0',
  ],
};

export interface DbtToolchain {
  readonly venv: string;
  readonly python: string;
  /** A DuckDB `extension_directory` (`v<version>/linux_amd64/<name>.duckdb_extension`) made of the wheels' files. */
  readonly extensionDirectory: string;
}

export type Log = (message: string) => void;

export async function ensureDbtToolchain(log: Log): Promise<DbtToolchain> {
  const venv = await ensureVenv(DBT_VENV, log);
  const lib = readdirSync(join(venv, 'lib')).find((d) => /^python3\.\d+$/.test(d));
  if (!lib) throw new Error(`no lib/python3.x in ${venv}`);
  const site = join(venv, 'lib', lib, 'site-packages');
  const extensionDirectory = join(venv, 'duckdb-extensions');
  const platformDir = join(extensionDirectory, `v${DUCKDB_VERSION}`, 'linux_amd64');
  mkdirSync(platformDir, { recursive: true });
  for (const ext of EXTENSIONS) {
    const link = join(platformDir, `${ext}.duckdb_extension`);
    const target = join(site, `duckdb_extension_${ext}`, 'extensions', `v${DUCKDB_VERSION}`, `${ext}.duckdb_extension`);
    if (!existsSync(target)) throw new Error(`the ${ext} extension wheel has no ${target}`);
    if (!existsSync(link)) symlinkSync(target, link);
  }
  return { venv, python: join(venv, 'bin', 'python'), extensionDirectory };
}

export interface PythonResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last stdout line parsed as JSON (the helpers' answer), undefined when it is not JSON. */
  readonly answer: unknown;
  /** The tail of stderr (progress and tracebacks). */
  readonly stderr: string;
  readonly stdout: string;
}

/** Output kept from a helper script (its answer is one line; progress goes to stderr). */
const MAX_OUTPUT_CHARS = 1 << 20;

/**
 * Runs one of the package's Python helpers (`python/*.py`) in the toolchain's interpreter: one JSON answer as the
 * last stdout line. Never rejects for a non-zero exit (the caller decides); rejects when Python cannot start.
 */
export function runPython(
  tools: DbtToolchain,
  args: readonly string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    stdin?: string;
    onStderrLine?: (line: string) => void;
    timeoutMs?: number;
  } = {},
): Promise<PythonResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tools.python, [...args], {
      env: opts.env ?? process.env,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60 * 60_000);
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout = (stdout + c).slice(-MAX_OUTPUT_CHARS);
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr = (stderr + c).slice(-MAX_OUTPUT_CHARS);
      if (opts.onStderrLine) for (const line of c.split('\n')) if (line.trim()) opts.onStderrLine(line);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      let answer: unknown;
      try {
        answer = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        answer = undefined;
      }
      resolve({ code, signal, answer, stderr, stdout });
    });
    if (opts.stdin !== undefined) child.stdin?.end(opts.stdin);
  });
}
