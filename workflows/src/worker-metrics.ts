/**
 * The worker's one scraped port (`WORKER_METRICS_PORT`, the pod's `prometheus.io/port`): GET /metrics serves the
 * process's own registries (the in-process fraud scorer's `inference_*` metrics when `WORKER_FRAUD_SCORING=in-process`,
 * the process gauges, this exporter's own health) followed by Temporal's runtime metrics. Temporal's Prometheus
 * exporter is a server of its own inside the SDK's Rust core; it is bound to an internal loopback port
 * (`WORKER_TEMPORAL_METRICS_PORT`, default: a free one picked at start) and its text is fetched at every scrape with a
 * bounded timeout and appended. Families are unique in the answer: a family already served by an earlier source
 * (e.g. `process_resident_memory_bytes` from two registries) is dropped from the later one, HELP, TYPE and samples.
 * When Temporal's exporter does not answer, ours is still served, `worker_temporal_metrics_up` is 0, and the failure
 * is logged once per outage (and once more when it answers again).
 */
import { createServer } from 'node:net';
import type { Logger } from '@pep/contracts/log';
import type { Registry } from '@pep/contracts/metrics';

/** Something that renders Prometheus text (a @pep/contracts/metrics Registry). */
export type MetricsSource = Pick<Registry, 'scrape'>;

const SAMPLE_SUFFIXES = ['', '_bucket', '_sum', '_count', '_total', '_created', '_info'];

/** The metric name of a sample line (`name{labels} value` or `name value`). */
const sampleName = (line: string): string => {
  const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  return m ? m[0] : line;
};

interface Block {
  readonly name: string;
  readonly lines: string[];
}

/** Splits one exposition into its metric families (HELP/TYPE lines with their samples), in order. */
function familiesOf(text: string): Block[] {
  const blocks: Block[] = [];
  let cur: Block | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('# EOF')) continue;
    const meta = /^# (?:HELP|TYPE) (\S+)/.exec(line);
    let name: string;
    if (meta) name = meta[1] as string;
    else if (line.startsWith('#')) {
      // Any other comment stays with the family it is in.
      if (cur) cur.lines.push(line);
      continue;
    } else {
      const s = sampleName(line);
      const family = cur?.name;
      name = family !== undefined && SAMPLE_SUFFIXES.some((x) => s === family + x) ? family : s;
    }
    if (!cur || cur.name !== name) {
      cur = { name, lines: [] };
      blocks.push(cur);
    }
    cur.lines.push(line);
  }
  return blocks;
}

/**
 * Concatenates expositions; a family already present in an earlier text is left out of the later ones (Prometheus
 * rejects a scrape with a family twice). Within one text, families are kept as they are.
 */
export function mergeExpositions(texts: readonly string[]): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const text of texts) {
    const blocks = familiesOf(text).filter((b) => !seen.has(b.name));
    for (const b of blocks) out.push(...b.lines);
    for (const b of blocks) seen.add(b.name);
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

export interface WorkerMetricsOptions {
  /** This process's own metrics (exporter health, process gauges); rendered first. */
  readonly own: Registry;
  /** Further registries, read at every scrape (the in-process scorer's once it has started). */
  readonly sources: () => readonly MetricsSource[];
  /** Temporal's runtime exporter, e.g. `http://127.0.0.1:40123/metrics`; null when it is not installed. */
  readonly temporalUrl: string | null;
  /**
   * False until the worker has connected (Temporal's exporter binds when its runtime starts, at the first
   * connection): scrapes before that are served without Temporal's part, not counted or logged as failures.
   */
  readonly temporalStarted?: () => boolean;
  /** Bound on one fetch of Temporal's text. */
  readonly timeoutMs: number;
  readonly log: Pick<Logger, 'info' | 'warn'>;
  /** Injected by the tests; global fetch by default. */
  readonly fetch?: typeof fetch;
}

/** Longest Temporal text accepted (its exporter's answer is tens of KB). */
const MAX_TEMPORAL_BYTES = 8 * 1024 * 1024;

/** The worker's /metrics source: `own`, then `sources()`, then Temporal's exporter's text, families unique. */
export function workerMetrics(opts: WorkerMetricsOptions): MetricsSource {
  const doFetch = opts.fetch ?? fetch;
  const up = opts.own.gauge(
    'worker_temporal_metrics_up',
    "1 when Temporal's runtime exporter (the internal WORKER_TEMPORAL_METRICS_PORT) answered this scrape, 0 when its metrics are missing from it",
  );
  const failures = opts.own.counter(
    'worker_temporal_metrics_failures_total',
    "Scrapes served without Temporal's runtime metrics (its exporter failed, answered an error or timed out)",
  );
  let down = false;
  const temporal = async (): Promise<string> => {
    if (!opts.temporalUrl || !(opts.temporalStarted?.() ?? true)) {
      up.set({}, 0);
      return '';
    }
    try {
      const res = await doFetch(opts.temporalUrl, { signal: AbortSignal.timeout(opts.timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      if (text.length > MAX_TEMPORAL_BYTES) throw new Error(`answer of ${text.length} characters`);
      up.set({}, 1);
      if (down) opts.log.info("Temporal's runtime metrics answer again", { url: opts.temporalUrl });
      down = false;
      return text;
    } catch (err) {
      up.set({}, 0);
      failures.inc();
      if (!down)
        opts.log.warn("Temporal's runtime metrics unavailable: serving the worker's own metrics without them", {
          url: opts.temporalUrl,
          error: (err as Error).message,
        });
      down = true;
      return '';
    }
  };
  up.set({}, 0);
  failures.inc({}, 0);
  return {
    async scrape() {
      // Temporal's text first (it sets the up gauge that our own registry then renders), fetched while ours render.
      const [theirs, ...ours] = await Promise.all([temporal(), ...opts.sources().map((s) => s.scrape())]);
      return mergeExpositions([await opts.own.scrape(), ...ours, theirs]);
    },
  };
}

/** A TCP port free on 127.0.0.1 right now (for Temporal's internal exporter when no port is configured). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
