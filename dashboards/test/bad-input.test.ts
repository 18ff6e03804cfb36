/**
 * Bad input on a dashboard: a mart table missing from a DuckDB marts file, a database whose password is wrong, and
 * Trino down (registered through a relay that is then closed: the database points at a closed port, while the
 * stack's Trino keeps serving everyone else). The page still loads (the healthy chart beside them renders), each
 * failing chart shows Superset's error in its box, and the browser check names exactly the failing charts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stackUp, supersetSettings } from '@pep/stack';
import { chartFailures, DashboardBrowser } from '../src/browser.ts';
import { importZip } from '../src/bundle.ts';
import type { SupersetClient } from '../src/client.ts';
import { databaseEnvironment, postgresTarget } from '../src/databases.ts';
import { connect } from '../src/provision.ts';
import {
  BAD_INPUT_CHARTS,
  BAD_INPUT_SLUG,
  BAD_INPUT_TITLE,
  badInputBundle,
  type Relay,
  removeBadInput,
  tcpRelay,
} from './bad-input.ts';

const SCREENSHOTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts', 'screenshots');

describe('bad input on a dashboard', { timeout: 900_000 }, () => {
  const settings = supersetSettings();
  const scratch = mkdtempSync(join(tmpdir(), 'pep-dashboards-bad-input-'));
  const martsPath = join(scratch, 'marts-without-the-mart.duckdb');
  let client: SupersetClient;
  let browser: DashboardBrowser;
  let relay: Relay | undefined;

  before(async () => {
    await stackUp({ only: ['postgres', 'superset', 'trino'] });
    client = await connect(settings);
    await removeBadInput(client);
    browser = await DashboardBrowser.launch(settings.url);
    await browser.login(settings.url, settings.adminUser, settings.adminPassword);
  });

  after(async () => {
    await relay?.close();
    await browser?.close();
    if (client) await removeBadInput(client);
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Imports the bad-input dashboard (with a Trino chart when `trinoUrl` is given); returns its chart names. */
  async function importBadInput(trinoUrl?: string): Promise<string[]> {
    const bundle = await badInputBundle(postgresTarget(databaseEnvironment().databaseUrl), martsPath, trinoUrl);
    const { zip, passwords } = importZip(bundle.files, bundle.databases);
    await client.importAssets(zip, passwords);
    return [
      BAD_INPUT_CHARTS.healthy,
      BAD_INPUT_CHARTS.missingTable,
      ...(trinoUrl ? [BAD_INPUT_CHARTS.trinoDown] : []),
      BAD_INPUT_CHARTS.wrongPassword,
    ];
  }

  function openBadInput(charts: readonly string[]) {
    const target = { title: BAD_INPUT_TITLE, url: `${settings.url}/superset/dashboard/${BAD_INPUT_SLUG}/`, charts };
    return browser.open(target, { screenshotDir: SCREENSHOTS });
  }

  test('a missing mart and a wrong password: the page loads, each chart shows its error, the check names them', async () => {
    const charts = await importBadInput();
    const report = await openBadInput(charts);
    assert.notEqual(report.loadMs, null, 'every chart settled');
    const byName = new Map(report.charts.map((c) => [c.name, c]));
    assert.equal(byName.get(BAD_INPUT_CHARTS.healthy)?.state, 'rendered');
    const missing = byName.get(BAD_INPUT_CHARTS.missingTable);
    assert.equal(missing?.state, 'error');
    assert.match(missing?.message ?? '', /pep_test_mart_that_does_not_exist/);
    const wrong = byName.get(BAD_INPUT_CHARTS.wrongPassword);
    assert.equal(wrong?.state, 'error');
    assert.match(wrong?.message ?? '', /password authentication failed/);
    const failures = chartFailures(report, charts);
    assert.equal(failures.length, 2, failures.join('\n'));
    assert.ok(failures[0]?.startsWith(`${BAD_INPUT_TITLE} / ${BAD_INPUT_CHARTS.missingTable}: error: `), failures[0]);
    assert.ok(failures[1]?.startsWith(`${BAD_INPUT_TITLE} / ${BAD_INPUT_CHARTS.wrongPassword}: error: `), failures[1]);
  });

  test('Trino down: the Trino chart shows the connection error, the others are unaffected, the check names it', async () => {
    await removeBadInput(client);
    // Superset connects to a database when it registers it: register through a relay to the stack's Trino, then
    // close the relay, so that the registered address is a closed port.
    relay = await tcpRelay(databaseEnvironment().trinoUrl);
    const charts = await importBadInput(relay.url);
    await relay.close();
    relay = undefined;
    const report = await openBadInput(charts);
    assert.notEqual(report.loadMs, null, 'every chart settled');
    const byName = new Map(report.charts.map((c) => [c.name, c]));
    const trino = byName.get(BAD_INPUT_CHARTS.trinoDown);
    assert.equal(trino?.state, 'error', JSON.stringify(report.charts));
    assert.match(trino?.message ?? '', /Connection refused/);
    assert.equal(byName.get(BAD_INPUT_CHARTS.healthy)?.state, 'rendered');
    const failures = chartFailures(report, charts);
    const failing = [BAD_INPUT_CHARTS.missingTable, BAD_INPUT_CHARTS.trinoDown, BAD_INPUT_CHARTS.wrongPassword];
    assert.equal(failures.length, failing.length, failures.join('\n'));
    failing.forEach((name, i) => {
      assert.ok(failures[i]?.startsWith(`${BAD_INPUT_TITLE} / ${name}: error: `), failures.join('\n'));
    });
  });
});
