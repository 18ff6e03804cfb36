/**
 * The dashboards as a person sees them: after a short simulated run of the whole platform (`npm start` with signed
 * webhooks from all four providers, invalid payloads and bad signatures mixed in) and a dbt build of the gold marts
 * over what the lake sink wrote (the orchestrator's daily step, run here at once), headless Chromium logs in to
 * Superset, opens every dashboard of the bundle and waits until every chart has settled. The test fails on any
 * chart error, empty chart or chart missing from the page, naming each one. Screenshots go to
 * dashboards/artifacts/screenshots/ (git-ignored), load times to dashboards/artifacts/load-times.json.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stackUp, supersetSettings } from '@pep/stack';
import { chartFailures, DashboardBrowser, type DashboardReport } from '../src/browser.ts';
import { readBundle } from '../src/bundle.ts';
import { platformDatabases } from '../src/databases.ts';
import { buildMarts } from '../src/marts.ts';
import { dashboardLinks } from '../src/provision.ts';
import { type SimulatedRun, simulatedRun } from '../src/simulated-run.ts';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');

describe('dashboards in a real browser after a short simulated run', { timeout: 1_800_000 }, () => {
  let run: SimulatedRun | undefined;
  let browser: DashboardBrowser | undefined;
  const settings = supersetSettings();

  before(async () => {
    await stackUp();
    run = await simulatedRun({ rate: 20, durationS: 10 });
    await buildMarts((m) => console.error(`dbt: ${m}`));
    browser = await DashboardBrowser.launch(settings.url);
    await browser.login(settings.url, settings.adminUser, settings.adminPassword);
  });

  after(async () => {
    await browser?.close();
    await run?.stop();
  });

  test('npm start printed the dashboard address and the login once the platform was up', () => {
    const out = run?.output ?? '';
    assert.ok(out.includes(`dashboards at ${settings.url}/ (user ${settings.adminUser}`), out.slice(-3000));
    for (const slug of ['operations', 'revenue', 'payments', 'fraud', 'ml']) {
      assert.ok(
        out.includes(`${settings.url}/superset/dashboard/${slug}/`),
        `npm start did not print the ${slug} dashboard`,
      );
    }
  });

  test('every dashboard renders every chart, with data and without an error', async (t) => {
    const dashboards = dashboardLinks(readBundle(), await platformDatabases(), settings.url);
    const reports: DashboardReport[] = [];
    const failures: string[] = [];
    for (const d of dashboards) {
      const report = await (browser as DashboardBrowser).open(d, { screenshotDir: join(ARTIFACTS, 'screenshots') });
      reports.push(report);
      failures.push(...chartFailures(report, d.charts));
      t.diagnostic(
        `${d.title}: ${report.charts.length} charts, settled in ${report.loadMs ?? '-'} ms (first chart request at ${report.phases.firstChartRequestMs ?? '-'} ms, last answer at ${report.phases.lastChartResponseMs ?? '-'} ms; ${report.screenshot})${report.tabs.length > 0 ? `; every tab settled at ${report.allTabsMs ?? '-'} ms (${report.tabs.map((x) => `${x.title}: ${x.loadMs ?? '-'} ms`).join(', ')})` : ''}`,
      );
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(join(ARTIFACTS, 'load-times.json'), `${JSON.stringify(reports, null, 2)}\n`);
    assert.deepEqual(failures, [], `charts that failed:\n${failures.join('\n')}`);
    assert.ok(reports.every((r) => r.loadMs !== null));
  });
});
