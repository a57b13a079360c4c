// The web console in headless Chromium (Debian's chromium, driven by
// playwright-core; no browser is ever downloaded) against a real 3-node
// cluster: the cluster view shows the leader and follows a leader change
// live, the data view suggests metrics, runs an OpenTSDB query and charts its
// points, the backup view shows "no backups" and then a reported backup.
// Screenshots go to test-artifacts/ (gitignored).
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../node/process-harness.js';
import { CHROMIUM as CHROMIUM_TOOL, missingTool } from '../required-tool.js';

const CHROMIUM = CHROMIUM_TOOL.name;
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'];
const ARTIFACTS = 'test-artifacts';
const UI_TIMEOUT_MS = 15_000;

let cluster: TestCluster | null = null;
let browser: Browser | null = null;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return;
  mkdirSync(ARTIFACTS, { recursive: true });
  cluster = await TestCluster.create({ nodes: 3, config: { selfMonitoring: { enabled: true, intervalMs: 1_000 } } });
  cluster.startAll();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true, timeout: 30_000 });
});

afterAll(async () => {
  await browser?.close();
  await cluster?.destroy();
});

/** Points every 30 s over the last 20 minutes for two hosts, written through `id`. */
async function writeSeries(c: TestCluster, id: string): Promise<number> {
  const nowSeconds = Math.floor(Date.now() / 1000);
  const points = [];
  for (let i = 0; i < 40; i++) {
    for (const host of ['web1', 'web2']) {
      points.push({ metric: 'console.test.cpu', timestamp: nowSeconds - 1200 + i * 30, value: (host === 'web1' ? 40 : 20) + 10 * Math.sin(i / 4), tags: { host } });
    }
  }
  const response = await fetch(`${c.url(id)}/api/put?summary`, { method: 'POST', body: JSON.stringify(points), headers: { 'content-type': 'application/json' } });
  expect(await response.json()).toMatchObject({ success: points.length, failed: 0 });
  return points.length;
}

async function text(page: Page, testId: string): Promise<string> {
  return (await page.locator(`[data-testid=${testId}]`).textContent())?.trim() ?? '';
}

describe('web console', () => {
  it('shows the cluster and its leader, charts a query, lists backups, and follows a leader change live', async () => {
    if (browser === null || cluster === null) return missingTool(CHROMIUM_TOOL);
    const c = cluster;
    const leader = await c.waitForLeader();
    const viewer = c.nodes.map((n) => n.id).find((id) => id !== leader)!;
    const written = await writeSeries(c, viewer);
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // Failed requests are checked by status below (one query is refused on purpose).
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console error: ${message.text()}`);
    });
    page.on('response', (response) => {
      const refusedOnPurpose = response.status() === 400 && response.url().includes('nosuchaggregator');
      if (response.status() >= 400 && !refusedOnPurpose) problems.push(`HTTP ${response.status()} for ${response.url()}`);
    });
    const external: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(c.url(viewer))) external.push(request.url());
    });
    try {
      // Cluster view: the leader, every member healthy.
      await page.goto(`${c.url(viewer)}/`);
      await page.waitForFunction((expected) => document.querySelector('[data-testid=leader]')?.textContent === expected, leader, { timeout: UI_TIMEOUT_MS });
      await page.locator('[data-testid=members] tbody tr[data-health=healthy]').nth(2).waitFor({ timeout: UI_TIMEOUT_MS });
      expect(await page.locator('[data-testid=members] tbody tr[data-member]').count()).toBe(3);
      expect(await page.locator(`[data-testid=members] tr[data-member=${leader}]`).getAttribute('data-role')).toBe('leader');
      expect(await text(page, 'healthy')).toBe('3 / 3');
      expect(await text(page, 'cluster-id')).toBe(c.clusterId);
      await page.screenshot({ path: `${ARTIFACTS}/console-cluster.png`, fullPage: true });

      // Data view: suggest, query, chart.
      await page.click('a.tab[data-view=data]');
      await page.fill('[data-testid=metric-input]', 'console.te');
      await page.waitForFunction(() => [...document.querySelectorAll('#metric-suggest option')].some((o) => (o as HTMLOptionElement).value === 'console.test.cpu'), null, { timeout: UI_TIMEOUT_MS });
      await page.fill('[data-testid=metric-input]', 'console.test.cpu');
      await page.fill('input[name=tags]', 'host=w');
      await page.waitForFunction(() => [...document.querySelectorAll('#tag-suggest option')].map((o) => (o as HTMLOptionElement).value).join(' ') === 'host=web1 host=web2', null, { timeout: UI_TIMEOUT_MS });
      await page.fill('input[name=tags]', 'host=*');
      expect(await page.inputValue('[data-testid=query-input]')).toBe('sum:console.test.cpu{host=*}');
      await page.click('[data-range="1h-ago"]');
      await page.waitForFunction(() => Number(document.querySelector('[data-testid=result-summary]')?.getAttribute('data-points') ?? '0') > 0, null, { timeout: UI_TIMEOUT_MS });
      expect(await page.locator('[data-testid=result-summary]').getAttribute('data-points')).toBe(String(written));
      expect(await page.locator('[data-testid=result-summary]').getAttribute('data-series')).toBe('2');
      await expect.poll(() => page.locator('[data-testid=chart] canvas').count(), { timeout: UI_TIMEOUT_MS }).toBeGreaterThan(0);
      const box = await page.locator('[data-testid=chart] canvas').first().boundingBox();
      expect(box!.width).toBeGreaterThan(300);
      expect(box!.height).toBeGreaterThan(200);
      expect(await page.locator('[data-testid=series-table] tbody tr').allTextContents()).toEqual([
        expect.stringContaining('console.test.cpu{host=web1}'),
        expect.stringContaining('console.test.cpu{host=web2}'),
      ]);
      // A query the engine refuses is shown, not thrown.
      await page.fill('[data-testid=query-input]', 'nosuchaggregator:console.test.cpu');
      await page.click('[data-testid=run-query]');
      await page.locator('[data-testid=result-summary].error').waitFor({ timeout: UI_TIMEOUT_MS });
      // The self-monitoring series are there to chart too.
      await page.fill('[data-testid=query-input]', 'sum:tsraft.raft.applied_index{host=*}');
      await page.click('[data-range="5m-ago"]');
      await page.waitForFunction(() => document.querySelector('[data-testid=result-summary]')?.getAttribute('data-series') === '3', null, { timeout: UI_TIMEOUT_MS });
      await page.fill('[data-testid=query-input]', 'sum:console.test.cpu{host=*}');
      await page.click('[data-range="1h-ago"]');
      await page.waitForFunction((n) => document.querySelector('[data-testid=result-summary]')?.getAttribute('data-points') === n, String(written), { timeout: UI_TIMEOUT_MS });
      await page.screenshot({ path: `${ARTIFACTS}/console-data.png`, fullPage: true });

      // Backup view: none yet, then one reported to this node.
      await page.click('a.tab[data-view=backups]');
      await page.locator('[data-testid=no-backups]').waitFor({ state: 'visible', timeout: UI_TIMEOUT_MS });
      const record = { id: 'nightly-2024-06-01', startedAtMs: Date.now() - 60_000, durationSeconds: 7.2, sizeBytes: 5_242_880, raftIndex: 1234, outcome: 'success', verification: 'verified', kind: 'full' };
      const posted = await fetch(`${c.url(viewer)}/backups`, { method: 'POST', body: JSON.stringify(record), headers: { 'content-type': 'application/json' } });
      expect(posted.status).toBe(200);
      await page.click('a.tab[data-view=cluster]');
      await page.click('a.tab[data-view=backups]');
      await page.locator('[data-testid=backups] tr[data-backup="nightly-2024-06-01"]').waitFor({ timeout: UI_TIMEOUT_MS });
      expect(await page.locator('[data-testid=backups] tr[data-backup="nightly-2024-06-01"]').textContent()).toMatch(/full.*success.*verified.*5\.0 MiB.*7\.2 s.*1,234/);
      expect(await page.locator('[data-testid=no-backups]').isVisible()).toBe(false);
      await page.screenshot({ path: `${ARTIFACTS}/console-backups.png`, fullPage: true });

      // Live refresh: the leader dies, the page shows the new one.
      await page.click('a.tab[data-view=cluster]');
      await c.kill9(leader);
      const newLeader = await c.waitForLeader(15_000);
      await page.waitForFunction((expected) => document.querySelector('[data-testid=leader]')?.textContent === expected, newLeader, { timeout: UI_TIMEOUT_MS });
      await page.locator(`[data-testid=members] tr[data-member=${leader}][data-health=unreachable]`).waitFor({ timeout: UI_TIMEOUT_MS });
      await page.screenshot({ path: `${ARTIFACTS}/console-after-failover.png`, fullPage: true });

      expect(external).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
