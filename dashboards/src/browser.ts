/**
 * Opens Superset dashboards in a real headless Chromium (Debian's package, driven by playwright-core) the way a
 * person does, and reports each chart's state once the page has settled: rendered, error (with Superset's message),
 * empty (the query returned no rows) or still loading at the deadline. The state comes from the page itself (what
 * Superset draws in the chart's box) and from the chart's data request (its HTTP status, error and row count).
 * Also the load time: navigation start until every chart shown at first has settled, for `dashboard_load_p95_ms`.
 * A dashboard with tabs shows (and Superset queries) only the first tab's charts; the check then opens every other tab
 * in turn and waits for its charts too, so that every chart of every tab is checked, and times each tab.
 *
 * Not a general Superset page model: it knows the login form and the dashboard's chart boxes, nothing else.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { aptInstall } from '@pep/stack/prereq';
import {
  type Browser,
  type BrowserContext,
  chromium,
  type Page,
  type Request,
  type Response,
  type Route,
} from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH?.trim() || '/usr/bin/chromium';

/**
 * Flags for a headless Chromium on these machines: no sandbox when running as root (Chromium refuses otherwise), and
 * nothing that reaches out to Google's services (the network is closed; without these flags Chromium keeps opening
 * connections that are refused).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Chromium's flag that resolves every host name but `baseUrl`'s (and loopback) to nothing. */
export function hostResolverRules(baseUrl: string): string {
  const host = new URL(baseUrl).hostname;
  const keep = [...new Set([host, 'localhost', '127.0.0.1', '[::1]'])].map((h) => `EXCLUDE ${h}`);
  return `--host-resolver-rules=MAP * ~NOTFOUND, ${keep.join(', ')}`;
}

/** Installs Debian's chromium when it is missing (root only; otherwise says what to install). */
export function ensureChromium(log: (m: string) => void = () => {}): string {
  if (!existsSync(CHROMIUM_PATH)) aptInstall(['chromium'], 'the browser tests need Chromium', log);
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`Chromium is not at ${CHROMIUM_PATH} (set CHROMIUM_PATH)`);
  return CHROMIUM_PATH;
}

/** How often the page is read while charts load: the load time's resolution. */
const POLL_MS = 100;

/**
 * `truncated`: the chart drew, but its query returned as many rows as the chart's row limit, so what it shows may be
 * part of the data (Superset only hints at it in a corner): the chart's grain or limit is wrong for the data.
 */
export type ChartState = 'rendered' | 'error' | 'empty' | 'truncated' | 'loading';

export interface ChartReport {
  readonly name: string;
  readonly id: number | null;
  readonly vizType: string | null;
  readonly state: ChartState;
  /** Superset's error text, or why the chart counts as empty or loading. */
  readonly message?: string;
  /** Rows the chart's query returned (from its data request), when seen. */
  readonly rows?: number;
  /** Rows its SQL returned before Superset's post-processing (pivots of time series), when seen. */
  readonly sqlRows?: number;
  /** The row limit its data request asked for (the largest of its queries'), when it set one. */
  readonly rowLimit?: number;
  /** Its data request: sent → answer received (ms); the server's part, the network's and the browser's queue. */
  readonly requestMs?: number;
  /** From navigation start (ms): its data request answered, and the check first saw it settled on the page. */
  readonly answeredAtMs?: number;
  readonly settledAtMs?: number;
  /** The SQL Superset ran for it (one per query of its data request), when its answer said. */
  readonly sql?: readonly string[];
}

/**
 * Where a load's time went, in ms from navigation start: Superset's page and JavaScript until the first chart data
 * request leaves the browser, the chart queries until the last answer arrives, then drawing until the check saw
 * every chart settled. `slowestChartMs`: the longest single chart data request (request sent → answer received).
 */
export interface LoadPhases {
  readonly firstChartRequestMs: number | null;
  readonly lastChartResponseMs: number | null;
  readonly slowestChartMs: number | null;
  readonly chartRequests: number;
  /** Chart data answers Superset served from its data cache (`is_cached`). */
  readonly cachedAnswers: number;
}

/** One tab of a dashboard, opened by the check after the first one had settled. */
export interface TabReport {
  readonly title: string;
  /** Click on the tab until every chart in it settled; null when some never did. */
  readonly loadMs: number | null;
  readonly screenshot?: string;
}

export interface DashboardReport {
  readonly title: string;
  readonly url: string;
  /**
   * Navigation start until every chart shown at first settled (rendered, error or empty): the whole dashboard, or
   * its first tab when it has tabs; null when some never did.
   */
  readonly loadMs: number | null;
  /** The first view's load (its chart requests; later tabs' requests are not counted here). */
  readonly phases: LoadPhases;
  /** Every chart of every tab. */
  readonly charts: readonly ChartReport[];
  readonly screenshot?: string;
  /** The tabs opened after the first (none for a dashboard without tabs). */
  readonly tabs: readonly TabReport[];
  /**
   * Navigation start until the charts of every tab settled, the check opening each next tab as soon as the previous
   * one settled (equal to `loadMs` without tabs); null when some chart never settled.
   */
  readonly allTabsMs: number | null;
}

export interface DashboardTargetTab {
  /** The TAB node's id in the dashboard's layout (`TAB-…`). */
  readonly id: string;
  readonly title: string;
  /** Names of the charts placed in this tab. */
  readonly charts: readonly string[];
}

export interface DashboardTarget {
  readonly title: string;
  readonly url: string;
  /** Names of the charts the dashboard must show (the check fails when one is not on the page). */
  readonly charts: readonly string[];
  /** Its tabs in layout order, the first being the one shown at first; none: every chart shows at once. */
  readonly tabs?: readonly DashboardTargetTab[];
}

/** "Revenue / Net revenue by provider: error: …" for each chart that is not rendered, plus missing charts. */
export function chartFailures(report: DashboardReport, expected?: readonly string[]): string[] {
  const out = report.charts
    .filter((c) => c.state !== 'rendered')
    .map((c) => `${report.title} / ${c.name}: ${c.state}${c.message ? `: ${c.message}` : ''}`);
  for (const name of expected ?? []) {
    if (!report.charts.some((c) => c.name === name)) out.push(`${report.title} / ${name}: not on the page`);
  }
  return out;
}

export interface DataResponse {
  /** When the request left and its answer arrived (ms since the epoch). */
  readonly sentAt: number;
  readonly answeredAt: number;
  readonly status: number;
  readonly rows?: number;
  readonly sqlRows?: number;
  readonly rowLimit?: number;
  /** The request paged on the server (a table's server pagination): its row limit is a page, not a cut. */
  readonly paged?: boolean;
  readonly sql?: readonly string[];
  readonly cached?: boolean;
  readonly error?: string;
}

/** One chart box as the page shows it (evaluated inside the page). */
export interface BoxState {
  readonly name: string;
  readonly id: number | null;
  readonly vizType: string | null;
  readonly state: ChartState;
  readonly message?: string;
}

/**
 * Runs in the page (plain JavaScript, so that no build step rewrites it): whether the dashboard's content area is
 * there, and the state of every chart box on show (the boxes of a hidden tab have no layout box and are left out). Error:
 * Superset's error alert in the box. Empty: its "No results" state. Rendered: the chart's container holds drawn
 * content (an ECharts canvas or SVG, a table, a big number). Anything else is still loading; a box still loading is
 * scrolled into view, since Superset renders only the charts in the viewport (dashboard virtualization).
 */
const READ_PAGE = `(() => ({ ready: !!document.querySelector('[data-test="dashboard-content-wrapper"]'), boxes: [...document.querySelectorAll('[data-test="chart-grid-component"]')].filter((box) => box.getClientRects().length > 0).map((box) => {
  const name = box.getAttribute('data-test-chart-name') || '(unnamed chart)';
  const idAttr = box.getAttribute('data-test-chart-id');
  const base = { name, id: idAttr ? Number(idAttr) : null, vizType: box.getAttribute('data-test-viz-type') };
  const text = (box.innerText || '').replace(/\\s+/g, ' ').trim();
  const alert = box.querySelector('[data-test="error-tooltip"], [role="alert"], .ant-alert-error, [data-test="alert"], .error-alert');
  if (alert) return { ...base, state: 'error', message: (alert.innerText || text).replace(/\\s+/g, ' ').trim().slice(0, 500) };
  if (/No results were returned for this query/i.test(text)) return { ...base, state: 'empty', message: 'no results were returned for the query' };
  const container = box.querySelector('[data-test="slice-container"]');
  const loading = box.querySelector('[data-test="loading-indicator"], .loading') || /\\bWaiting on\\b/.test(text);
  const drawn = container && container.querySelector('canvas, svg, table, .header-line, .superset-legacy-chart-big-number');
  if (container && drawn && !loading) return { ...base, state: 'rendered' };
  box.scrollIntoView({ block: 'center' });
  return { ...base, state: 'loading' };
}) }))()`;

interface PageState {
  readonly ready: boolean;
  readonly boxes: BoxState[];
}

export interface OpenOptions {
  /** How long the charts may take to settle (default 120 s: a busy 2-core machine is slow). */
  readonly timeoutMs?: number;
  /** Folder for a full-page screenshot named after the dashboard. */
  readonly screenshotDir?: string;
}

/** Records each chart-data answer of the page by chart id: when it was sent and answered, its status, rows, error. */
function chartDataRecorder() {
  const data = new Map<number, DataResponse>();
  const pending: Promise<void>[] = [];
  const sent = new Map<Request, number>();
  const onRequest = (req: Request) => {
    if (req.url().includes('/api/v1/chart/data')) sent.set(req, Date.now());
  };
  const onResponse = (res: Response) => {
    if (!res.url().includes('/api/v1/chart/data')) return;
    const answeredAt = Date.now();
    const sentAt = sent.get(res.request()) ?? answeredAt;
    pending.push(
      readChartData(res, sentAt, answeredAt)
        .then(([slice, d]) => {
          data.set(slice, d);
        })
        .catch(() => {}),
    );
  };
  return { data, pending, onRequest, onResponse };
}

/** One chart-data answer: the chart id it was for, and what it said. */
async function readChartData(res: Response, sentAt: number, answeredAt: number): Promise<[number, DataResponse]> {
  const slice = Number(JSON.parse(new URL(res.url()).searchParams.get('form_data') ?? '{}').slice_id);
  let asked: { queries?: { row_limit?: number | null; is_rowcount?: boolean }[]; form_data?: Record<string, unknown> } =
    {};
  try {
    asked = JSON.parse(res.request().postData() ?? '{}');
  } catch {}
  const limits = (asked.queries ?? [])
    .map((q) => q.row_limit)
    .filter((n): n is number => typeof n === 'number' && n > 0);
  const paged = asked.form_data?.server_pagination === true || (asked.queries ?? []).some((q) => q.is_rowcount);
  let body: {
    result?: {
      rowcount?: number;
      sql_rowcount?: number | null;
      query?: string | null;
      error?: string | null;
      is_cached?: boolean | null;
    }[];
    message?: string;
    errors?: { message: string }[];
  } = {};
  try {
    body = await res.json();
  } catch {}
  const result = body.result ?? [];
  const error =
    body.errors?.map((e) => e.message).join('; ') ||
    (typeof body.message === 'string' ? body.message : undefined) ||
    result.map((r) => r.error).find((e) => e) ||
    undefined;
  return [
    slice,
    {
      sentAt,
      answeredAt,
      status: res.status(),
      ...(result.length > 0 ? { rows: result.reduce((n, r) => n + (r.rowcount ?? 0), 0) } : {}),
      ...(result.some((r) => typeof r.sql_rowcount === 'number')
        ? { sqlRows: Math.max(...result.map((r) => r.sql_rowcount ?? 0)) }
        : {}),
      ...(limits.length > 0 ? { rowLimit: Math.max(...limits) } : {}),
      ...(paged ? { paged } : {}),
      ...(result.some((r) => r.query) ? { sql: result.map((r) => r.query ?? '') } : {}),
      ...(result.length > 0 && result.every((r) => r.is_cached === true) ? { cached: true } : {}),
      ...(error ? { error } : {}),
    },
  ];
}

/** Each chart as last seen on the page, with the verdict of its data request where the page alone could mislead. */
export function chartReports(
  seen: ReadonlyMap<string, BoxState>,
  settledAt: ReadonlyMap<string, number>,
  data: ReadonlyMap<number, DataResponse>,
  started: number,
  timeoutMs: number,
): ChartReport[] {
  return [...seen.entries()].map(([key, box]): ChartReport => {
    const d = box.id === null ? undefined : data.get(box.id);
    const at = settledAt.get(key);
    const b: BoxState & Omit<ChartReport, keyof BoxState> = {
      ...box,
      ...(d?.sqlRows !== undefined ? { sqlRows: d.sqlRows } : {}),
      ...(d?.rowLimit !== undefined ? { rowLimit: d.rowLimit } : {}),
      ...(d ? { requestMs: d.answeredAt - d.sentAt, answeredAtMs: d.answeredAt - started } : {}),
      ...(d?.sql ? { sql: d.sql } : {}),
      ...(at !== undefined ? { settledAtMs: at - started } : {}),
    };
    const rows = d?.rows;
    // The data request's verdict wins where the page alone could mislead (an error drawn as an empty box).
    if (d && (d.status >= 400 || d.error) && b.state !== 'loading') {
      return {
        ...b,
        state: 'error',
        message: b.state === 'error' ? b.message : (d.error ?? `HTTP ${d.status}`),
        ...(rows !== undefined ? { rows } : {}),
      };
    }
    if (d && rows === 0 && b.state === 'rendered') {
      return { ...b, state: 'empty', message: 'the query returned no rows', rows };
    }
    // Rows up to the limit: Superset cut the answer there, and the chart shows part of the data without saying so.
    const returned = d?.sqlRows ?? rows;
    if (
      d &&
      !d.paged &&
      d.rowLimit !== undefined &&
      returned !== undefined &&
      returned >= d.rowLimit &&
      b.state === 'rendered'
    ) {
      return {
        ...b,
        state: 'truncated',
        message: `the query returned ${returned} rows, its row limit: the chart may show part of the data`,
        ...(rows !== undefined ? { rows } : {}),
      };
    }
    return {
      ...b,
      ...(rows !== undefined ? { rows } : {}),
      ...(b.state === 'loading' ? { message: `not settled after ${timeoutMs} ms` } : {}),
    };
  });
}

/** Where the first view's load went: its chart requests are those sent before it settled (all, when it never did). */
function loadPhases(data: ReadonlyMap<number, DataResponse>, loadedAt: number | null, started: number): LoadPhases {
  const first = [...data.values()].filter((d) => loadedAt === null || d.sentAt <= loadedAt);
  return {
    firstChartRequestMs: first.length === 0 ? null : Math.min(...first.map((d) => d.sentAt)) - started,
    lastChartResponseMs: first.length === 0 ? null : Math.max(...first.map((d) => d.answeredAt)) - started,
    slowestChartMs: first.length === 0 ? null : Math.max(...first.map((d) => d.answeredAt - d.sentAt)),
    chartRequests: first.length,
    cachedAnswers: first.filter((d) => d.cached).length,
  };
}

export class DashboardBrowser {
  private constructor(
    private readonly browser: Browser,
    private readonly context: BrowserContext,
    private readonly page: Page,
  ) {}

  /**
   * Starts headless Chromium with a fresh profile; every host name but `baseUrl`'s resolves to nothing, so requests to
   * other hosts fail at once. Superset's pages link web fonts from the internet: refused at once instead of waiting
   * for a closed network. Done in Chromium's resolver, not with Playwright's request routing: routing turns the
   * browser's HTTP cache off, so every load fetched Superset's ~10 MB of JavaScript again (a person's browser keeps
   * it: Superset serves its hashed assets with a one-year max-age).
   */
  static async launch(baseUrl: string): Promise<DashboardBrowser> {
    const browser = await chromium.launch({
      executablePath: ensureChromium(),
      args: [...CHROMIUM_ARGS, hostResolverRules(baseUrl)],
      headless: true,
    });
    try {
      const context = await browser.newContext({ viewport: { width: 1600, height: 2400 } });
      const page = await context.newPage();
      return new DashboardBrowser(browser, context, page);
    } catch (err) {
      await browser.close();
      throw err;
    }
  }

  /** Logs in through Superset's login form; throws with Superset's message when it is refused. */
  async login(baseUrl: string, username: string, password: string): Promise<void> {
    const page = this.page;
    // The login page's event-log beacon (POST /superset/log/) leaves as the form is submitted; Superset answers it,
    // unauthenticated, with the old session cookie, and when that answer lands after the login's it replaces the
    // logged-in session (CI: the login's 302 was followed by a redirect back to /login/). Not sent during the login.
    const dropBeacon = (route: Route) => route.abort();
    await page.route('**/superset/log/**', dropBeacon);
    try {
      await page.goto(`${baseUrl}/login/`, { waitUntil: 'domcontentloaded' });
      await page.fill('[data-test="username-input"]', username);
      await page.fill('[data-test="password-input"]', password);
      await page.click('[data-test="login-button"]');
      const outcome = await Promise.race([
        page
          .waitForURL((u) => !u.pathname.startsWith('/login'), { waitUntil: 'commit', timeout: 60_000 })
          .then(() => 'ok' as const),
        page
          .waitForSelector('[role="alert"], .ant-alert-error, .ant-message-error', { timeout: 60_000 })
          .then(async (el) => `refused: ${(await el?.textContent())?.trim() ?? ''}`),
      ]);
      if (outcome !== 'ok') throw new Error(`Superset login of ${username} ${outcome}`);
    } finally {
      await page.unroute('**/superset/log/**', dropBeacon);
    }
  }

  /**
   * Opens one dashboard and waits until every chart shown has settled (or the deadline); then opens each other tab
   * of it, if any, and waits for its charts the same way. See the module comment.
   */
  async open(target: DashboardTarget, opts: OpenOptions = {}): Promise<DashboardReport> {
    const page = this.page;
    const timeoutMs = opts.timeoutMs ?? 120_000;
    const { data, pending, onRequest, onResponse } = chartDataRecorder();
    // The views the check settles in turn: the dashboard as it opens (its first tab, when it has tabs), then every
    // other tab, clicked.
    const views: { tab?: DashboardTargetTab; charts: readonly string[] }[] =
      target.tabs && target.tabs.length > 0
        ? target.tabs.map((tab) => ({ tab, charts: tab.charts }))
        : [{ charts: target.charts }];
    // Each chart box as last seen while its view was on show (a hidden tab's boxes cannot be read).
    const seen = new Map<string, BoxState>();
    // When the check first saw each chart settled (ms since the epoch).
    const settledAt = new Map<string, number>();
    const screenshotFile = (suffix: string) => {
      if (!opts.screenshotDir) return undefined;
      mkdirSync(opts.screenshotDir, { recursive: true });
      const name = `${target.title}${suffix}`.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      return join(opts.screenshotDir, `${name}.png`);
    };
    /** Polls the page until the view's charts are all on show and settled; the settle time, or null at the deadline. */
    const settle = async (expected: number, deadline: number): Promise<number | null> => {
      // Polled with page.evaluate (CDP), not waitForFunction: Superset's Content-Security-Policy forbids the eval
      // that a string predicate needs, and the check must see the page under its real policy.
      for (;;) {
        const { ready, boxes } = (await page.evaluate(READ_PAGE)) as PageState;
        const now = Date.now();
        for (const box of boxes) {
          const key = box.id === null ? box.name : String(box.id);
          seen.set(key, box);
          if (box.state !== 'loading' && !settledAt.has(key)) settledAt.set(key, now);
        }
        if (ready && boxes.length >= expected && boxes.every((b) => b.state !== 'loading')) return Date.now();
        if (Date.now() > deadline) return null;
        await sleep(POLL_MS);
      }
    };
    page.on('request', onRequest);
    page.on('response', onResponse);
    const started = Date.now();
    try {
      await page.goto(target.url, { waitUntil: 'commit', timeout: timeoutMs });
      const loadedAt = await settle(views[0]?.charts.length ?? 0, started + timeoutMs);
      const screenshot = screenshotFile('');
      if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
      const tabs: TabReport[] = [];
      let lastAt = loadedAt;
      for (const view of views.slice(1)) {
        const tab = view.tab as DashboardTargetTab;
        const clicked = Date.now();
        await page.click(`[role="tab"][aria-controls$="-panel-${tab.id}"]`, { timeout: timeoutMs });
        const at = await settle(view.charts.length, clicked + timeoutMs);
        const shot = screenshotFile(`-${tab.title}`);
        if (shot) await page.screenshot({ path: shot, fullPage: true });
        tabs.push({
          title: tab.title,
          loadMs: at === null ? null : at - clicked,
          ...(shot ? { screenshot: shot } : {}),
        });
        lastAt = lastAt === null || at === null ? null : at;
      }
      await Promise.all(pending);
      const charts = chartReports(seen, settledAt, data, started, timeoutMs);
      const phases = loadPhases(data, loadedAt, started);
      return {
        title: target.title,
        url: target.url,
        loadMs: loadedAt === null ? null : loadedAt - started,
        phases,
        charts,
        ...(screenshot ? { screenshot } : {}),
        tabs,
        allTabsMs: lastAt === null ? null : lastAt - started,
      };
    } finally {
      page.off('request', onRequest);
      page.off('response', onResponse);
    }
  }

  /** Empties the browser's HTTP cache: the next open is a first visit's (every asset fetched from Superset). */
  async clearCache(): Promise<void> {
    const cdp = await this.context.newCDPSession(this.page);
    try {
      await cdp.send('Network.clearBrowserCache');
    } finally {
      await cdp.detach();
    }
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
    await this.browser.close();
  }
}
