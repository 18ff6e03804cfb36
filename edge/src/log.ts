/**
 * Structured logger: one JSON object per line on stdout, constant message strings, data in fields, and a child
 * logger per request so that every line written while handling a request carries its request_id.
 * Not a general logging framework: no transports, no buffering (stdout is the contract with the supervisor).
 */

import type { LogLevel } from './config.ts';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
  isEnabled(level: LogLevel): boolean;
}

export type LineWriter = (line: string) => void;

const stdoutWriter: LineWriter = (line) => {
  process.stdout.write(`${line}\n`);
};

function errorFields(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...(v.cause ? { cause: String(v.cause) } : {}) };
  return v;
}

export function createLogger(level: LogLevel, base: Fields = {}, write: LineWriter = stdoutWriter): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (RANK[lvl] < min) return;
    const rec: Fields = { ts: new Date().toISOString(), level: lvl, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = errorFields(v);
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
    isEnabled: (lvl) => RANK[lvl] >= min,
  };
}
