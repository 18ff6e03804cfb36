/**
 * Structured logger for the pipeline consumers: one JSON object per line on stdout, constant message strings,
 * data in fields (topic, partition, offsets, counts). Not a logging framework: no transports, no buffering.
 * `PIPELINE_LOG_FORMAT=pretty` prints a readable line for local use.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Fields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export type LineWriter = (line: string) => void;

function fieldValue(v: unknown): unknown {
  if (v instanceof Error) {
    return { name: v.name, message: v.message, ...(v.cause ? { cause: String(v.cause) } : {}) };
  }
  if (typeof v === 'bigint') return v.toString();
  return v;
}

export function createLogger(
  level: LogLevel = 'info',
  base: Fields = {},
  write: LineWriter = (line) => process.stdout.write(`${line}\n`),
  pretty = process.env.PIPELINE_LOG_FORMAT === 'pretty',
): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (RANK[lvl] < min) return;
    const rec: Fields = { ts: new Date().toISOString(), level: lvl, msg, ...base };
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
  };
}

/** A logger that drops everything (tests that assert on behaviour, not on log lines). */
export const silentLogger: Logger = createLogger('error', {}, () => undefined);
