/**
 * Structured logger shared by every service: one JSON object per line on stdout, constant message strings, data in
 * fields, and child loggers that carry context (a request id, a topic and partition) on every line they write.
 * Errors are reduced to name, message and cause; bigints become strings so that JSON.stringify never throws.
 * Not a logging framework: no transports, no buffering (stdout is the contract with the supervisor).
 * `LOG_FORMAT=pretty` (or the older `PIPELINE_LOG_FORMAT=pretty`) prints a readable line for local use.
 */

import { maskCards } from './redact.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

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

/** Depth to which field values are walked for card numbers (deeper values are written as they are). */
const MAX_MASK_DEPTH = 4;

/**
 * A field as written: errors reduced to name, message and cause; bigints as strings; every string (also inside arrays
 * and plain objects, a few levels deep) with card numbers masked, so no log line carries one (issue 13).
 */
function fieldValue(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return maskCards(v);
  if (v instanceof Error)
    return {
      name: v.name,
      message: maskCards(v.message),
      ...(v.cause ? { cause: maskCards(String(v.cause)) } : {}),
    };
  if (typeof v === 'bigint') return v.toString();
  if (depth >= MAX_MASK_DEPTH || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => fieldValue(x, depth + 1));
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[maskCards(k)] = fieldValue(x, depth + 1);
  return out;
}

function prettyDefault(): boolean {
  const env = typeof process === 'undefined' ? {} : process.env;
  return (env.LOG_FORMAT ?? env.PIPELINE_LOG_FORMAT) === 'pretty';
}

export function createLogger(
  level: LogLevel = 'info',
  base: Fields = {},
  write: LineWriter = stdoutWriter,
  pretty = prettyDefault(),
): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (RANK[lvl] < min) return;
    const rec: Fields = { ts: new Date().toISOString(), level: lvl, msg: maskCards(msg) };
    for (const [k, v] of Object.entries(base)) rec[k] = fieldValue(v);
    if (fields) for (const [k, v] of Object.entries(fields)) rec[k] = fieldValue(v);
    if (pretty) {
      const { ts, level: l, msg: m, ...rest } = rec;
      write(`${String(ts).slice(11, 23)} ${String(l).padEnd(5)} ${m} ${JSON.stringify(rest)}`);
    } else {
      write(JSON.stringify(rec));
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, write, pretty),
    isEnabled: (lvl) => RANK[lvl] >= min,
  };
}

/** A logger that drops everything (tests that assert on behaviour, not on log lines). */
export const silentLogger: Logger = createLogger('error', {}, () => undefined, false);
