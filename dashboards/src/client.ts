/**
 * A small client for the parts of Superset's REST API the platform uses: log in (JWT plus the CSRF token and session
 * cookie that Superset's write endpoints require), list dashboards, charts, datasets and databases, import and export
 * asset bundles, run a chart's query. Every request has a timeout; errors carry the status and Superset's message,
 * never a password.
 *
 * Not a general Superset SDK, and not for the browser tests (they drive the real UI in Chromium).
 */

export class SupersetError extends Error {
  override readonly name = 'SupersetError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export interface SupersetLogin {
  readonly url: string;
  readonly username: string;
  readonly password: string;
}

export interface ListedDashboard {
  readonly id: number;
  readonly uuid?: string;
  readonly slug: string | null;
  readonly dashboard_title: string;
}

/** Longest a single API call may take (an import of a large bundle is the slowest). */
const REQUEST_TIMEOUT_MS = 120_000;
/** Page size and page bound for list calls: the platform has tens of assets, not thousands. */
const PAGE_SIZE = 100;
const MAX_PAGES = 50;

/** Rison for the few shapes the list and export endpoints take: numbers, strings, arrays and flat objects. */
export function rison(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? '!t' : '!f';
  if (value === null) return '!n';
  if (typeof value === 'string') {
    return /^[A-Za-z_][\w.-]*$/.test(value) ? value : `'${value.replace(/!/g, '!!').replace(/'/g, "!'")}'`;
  }
  if (Array.isArray(value)) return `!(${value.map(rison).join(',')})`;
  if (typeof value === 'object') {
    return `(${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}:${rison(v)}`)
      .join(',')})`;
  }
  throw new Error(`rison: unsupported value ${String(value)}`);
}

/** The message of a Superset error body (`{"message": …}` or `{"errors": [{"message": …}]}`), else the text. */
function errorMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { message?: unknown; errors?: { message?: string }[]; msg?: string };
    if (body.errors?.length) return body.errors.map((e) => e.message ?? '').join('; ');
    if (body.message !== undefined)
      return typeof body.message === 'string' ? body.message : JSON.stringify(body.message);
    if (body.msg) return body.msg;
  } catch {}
  return text.slice(0, 500);
}

export class SupersetClient {
  private accessToken = '';
  private csrfToken = '';
  private cookie = '';

  private constructor(private readonly login: SupersetLogin) {}

  /** Logs in with the admin credentials; throws SupersetError (401) when they are refused. */
  static async connect(login: SupersetLogin): Promise<SupersetClient> {
    const client = new SupersetClient(login);
    await client.authenticate();
    return client;
  }

  get url(): string {
    return this.login.url;
  }

  private async authenticate(): Promise<void> {
    const res = await fetch(`${this.login.url}/api/v1/security/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        username: this.login.username,
        password: this.login.password,
        provider: 'db',
        refresh: false,
      }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await res.text();
    if (!res.ok) {
      throw new SupersetError(
        `Superset at ${this.login.url} refused the login of ${this.login.username} (HTTP ${res.status}: ${errorMessage(text)})`,
        res.status,
      );
    }
    this.accessToken = (JSON.parse(text) as { access_token: string }).access_token;
    const csrf = await fetch(`${this.login.url}/api/v1/security/csrf_token/`, {
      headers: { authorization: `Bearer ${this.accessToken}` },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const csrfText = await csrf.text();
    if (!csrf.ok) throw new SupersetError(`csrf_token: HTTP ${csrf.status}: ${errorMessage(csrfText)}`, csrf.status);
    this.csrfToken = (JSON.parse(csrfText) as { result: string }).result;
    // The CSRF token is bound to the session cookie that came with it.
    this.cookie = csrf.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
  }

  /**
   * One API call; `body` is JSON or multipart form data. Resolves with the raw response once it is OK. A 401 (the
   * access token expired: Superset's last 15 minutes, and a benchmark runs longer) logs in again and retries once.
   */
  async request(method: string, path: string, body?: unknown, retried = false): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.accessToken}`,
      'X-CSRFToken': this.csrfToken,
      // Superset's CSRF check also compares the referrer with its own host.
      referer: `${this.login.url}/`,
    };
    if (this.cookie) headers.cookie = this.cookie;
    let payload: FormData | string | undefined;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${this.login.url}${path}`, {
      method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    if (res.status === 401 && !retried) {
      await res.body?.cancel();
      await this.authenticate();
      return this.request(method, path, body, true);
    }
    if (!res.ok) {
      const text = await res.text();
      throw new SupersetError(`${method} ${path.split('?')[0]}: HTTP ${res.status}: ${errorMessage(text)}`, res.status);
    }
    return res;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return (await (await this.request(method, path, body)).json()) as T;
  }

  /** Every row of a list endpoint (`/api/v1/<resource>/`), page by page, with the given columns. */
  async list<T>(resource: string, columns: readonly string[]): Promise<T[]> {
    const rows: T[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const q = rison({ columns: [...columns], page, page_size: PAGE_SIZE });
      const body = await this.json<{ count: number; result: T[] }>(
        'GET',
        `/api/v1/${resource}/?q=${encodeURIComponent(q)}`,
      );
      rows.push(...body.result);
      if (rows.length >= body.count || body.result.length === 0) return rows;
    }
    throw new Error(`${resource}: more than ${MAX_PAGES * PAGE_SIZE} rows`);
  }

  dashboards(): Promise<ListedDashboard[]> {
    return this.list<ListedDashboard>('dashboard', ['id', 'uuid', 'slug', 'dashboard_title']);
  }

  /**
   * Imports an asset bundle (databases, datasets, charts, dashboards) with Superset's "assets" importer, which
   * overwrites every asset of the bundle by uuid in one transaction. `passwords` maps a database file of the bundle
   * (`databases/x.yaml`) to its password.
   */
  async importAssets(zip: Uint8Array, passwords: Readonly<Record<string, string>>): Promise<void> {
    const form = new FormData();
    form.append('bundle', new Blob([zip], { type: 'application/zip' }), 'bundle.zip');
    form.append('passwords', JSON.stringify(passwords));
    await this.request('POST', '/api/v1/assets/import/', form);
  }

  /** Every asset Superset holds, as its export zip. */
  async exportAssets(): Promise<Uint8Array> {
    const res = await this.request('GET', '/api/v1/assets/export/');
    return new Uint8Array(await res.arrayBuffer());
  }
}
