/**
 * Where the local stack keeps things: state (data, logs, pid files) in a git-ignored `.stack/` folder of the
 * checkout, and downloaded tools (Kafka jars, the Temporal virtualenv) in a per-machine cache outside it, so a
 * fresh clone on a warm machine does not download again.
 */
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const STATE_DIR = resolve(process.env.STACK_DIR ?? join(REPO_ROOT, '.stack'));
export const CACHE_DIR = resolve(process.env.PEP_CACHE_DIR ?? join(homedir(), '.cache', 'payment-event-platform'));

export function serviceStateDir(service: string): string {
  return join(STATE_DIR, service);
}

export function logFile(service: string): string {
  return join(STATE_DIR, 'logs', `${service}.log`);
}

export function pidFile(service: string): string {
  return join(STATE_DIR, 'pids', `${service}.pid`);
}

/** Beside the pid file: the process's start time, which tells it from a later process that got the same pid. */
export function startFile(service: string): string {
  return join(STATE_DIR, 'pids', `${service}.start`);
}
