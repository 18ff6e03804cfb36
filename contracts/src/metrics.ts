/**
 * The one Prometheus metrics helper of the platform's services (edge, transformer, quarantine, bridge, lake sink,
 * features consumer, inference, orchestration worker): a registry of counters, labelled gauges, gauges read at scrape
 * time, fixed-bucket histograms and collectors that refresh gauges before a scrape (from a database, say), rendered in
 * the text exposition format, the process's own memory and CPU gauges, and a small HTTP server for GET /metrics and
 * GET /healthz. Deliberately small, because the edge's hot path
 * pays a map lookup and an add per observation (or nothing, through a cached series); not a general client library.
 * Series keys are the label values in call order, so a metric must be called with its labels in one fixed order.
 */
import { createServer, type Server } from 'node:http';

export type Labels = Readonly<Record<string, string>>;

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** `{k="v",…}`, or '' without labels. */
export function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Hot-path series key: the label values in call order (names are fixed per metric). */
function seriesKey(labels: Labels): string {
  let key = '';
  for (const k in labels) key += `${labels[k]}\u0000`;
  return key;
}

interface Metric {
  render(): string;
}

const header = (name: string, help: string, type: string) => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];

/** Series of one labelled value each (counters, gauges). */
class LabelledValues {
  protected readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  get(labels: Labels = {}): number {
    return this.values.get(seriesKey(labels))?.value ?? 0;
  }
  /** The series for fixed labels, for hot paths that cache it: `series.value += 1` skips the label lookup. */
  series(labels: Labels = {}): { value: number } {
    const key = seriesKey(labels);
    let cur = this.values.get(key);
    if (!cur) {
      cur = { labels, value: 0 };
      this.values.set(key, cur);
    }
    return cur;
  }
  protected renderAs(type: string): string {
    const lines = header(this.name, this.help, type);
    for (const v of this.values.values()) lines.push(`${this.name}${labelText(v.labels)} ${v.value}`);
    return lines.join('\n');
  }
}

export class Counter extends LabelledValues implements Metric {
  inc(labels: Labels = {}, by = 1): void {
    this.series(labels).value += by;
  }
  render(): string {
    return this.renderAs('counter');
  }
}

export class Gauge extends LabelledValues implements Metric {
  set(labels: Labels, value: number): void {
    this.series(labels).value = value;
  }
  /** Drops every series (e.g. lag of partitions this member no longer owns after a rebalance). */
  clear(): void {
    this.values.clear();
  }
  render(): string {
    return this.renderAs('gauge');
  }
}

/** A gauge without labels whose value is read when scraped (queue lengths, bytes in flight). */
export class ScrapeGauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string {
    return [...header(this.name, this.help, 'gauge'), `${this.name} ${this.read()}`].join('\n');
  }
}

/** One labelled series of a histogram; hot paths may cache it and call `observe` directly. */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Labels,
    private readonly buckets: readonly number[],
  ) {
    this.counts = new Array(buckets.length).fill(0);
  }
  observe(value: number): void {
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= (this.buckets[i] as number)) {
        (this.counts[i] as number)++;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

export class Histogram implements Metric {
  private readonly all = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[],
  ) {}
  series(labels: Labels = {}): HistogramSeries {
    const key = seriesKey(labels);
    let s = this.all.get(key);
    if (!s) {
      s = new HistogramSeries(labels, this.buckets);
      this.all.set(key, s);
    }
    return s;
  }
  observe(value: number, labels: Labels = {}): void {
    this.series(labels).observe(value);
  }
  count(labels: Labels = {}): number {
    return this.all.get(seriesKey(labels))?.count ?? 0;
  }
  render(): string {
    const lines = header(this.name, this.help, 'histogram');
    for (const s of this.all.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i] as number;
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/**
 * Reading a text page: the sum of `name` over its series (`name{…} v` and `name v`; a histogram's `name_count` is a
 * name too) whose line contains `filter` (e.g. `kind="dlq"`), or null when the page has no such series.
 */
export function seriesSum(page: string, name: string, filter = ''): number | null {
  let sum: number | null = null;
  for (const line of page.split('\n')) {
    if (!(line.startsWith(`${name}{`) || line.startsWith(`${name} `)) || !line.includes(filter)) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** The content type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The metrics of one process, rendered in registration order. */
export class Registry {
  private readonly metrics: Metric[] = [];
  private readonly collectors: (() => Promise<void> | void)[] = [];
  private add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string): Gauge {
    return this.add(new Gauge(name, help));
  }
  scrapeGauge(name: string, help: string, read: () => number): ScrapeGauge {
    return this.add(new ScrapeGauge(name, help, read));
  }
  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, buckets));
  }
  /** Runs before every scrape (gauges read from a database at scrape time); a failing collector fails the scrape. */
  collect(collector: () => Promise<void> | void): void {
    this.collectors.push(collector);
  }
  /** The exposition text as it is now (collectors not run: the edge's synchronous /metrics). */
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
  /** Runs the collectors, then renders. */
  async scrape(): Promise<string> {
    await Promise.all(this.collectors.map((c) => c()));
    return this.render();
  }
}

/**
 * The process's own gauges, read at scrape time: resident memory, V8 heap in use and the start time (the gauges of
 * prom-client's default metrics, under the same names).
 */
export function registerProcessMetrics(registry: Registry): void {
  const started = Math.round(Date.now() / 1000 - process.uptime());
  registry.scrapeGauge('process_resident_memory_bytes', 'Resident memory size in bytes', () =>
    process.memoryUsage.rss(),
  );
  registry.scrapeGauge('nodejs_heap_size_used_bytes', 'V8 heap in use in bytes', () => process.memoryUsage().heapUsed);
  registry.scrapeGauge(
    'process_start_time_seconds',
    'Start time of the process since the Unix epoch in seconds',
    () => started,
  );
}

/** Serves GET /metrics (Prometheus text) and GET /healthz on `port` (0 picks a free port). */
export async function serveMetrics(registry: Pick<Registry, 'scrape'>, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry.scrape().then(
        (text) => {
          res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'metrics_unavailable', message: (err as Error).message } }));
        },
      );
    } else if (req.method === 'GET' && req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"not_found","message":"GET /metrics or /healthz"}}');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
