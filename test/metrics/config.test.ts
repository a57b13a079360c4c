// config/prometheus.yml, config/alerts.yml and config/grafana-dashboard.json:
// promtool accepts them, every alert fires on its scenario
// (alerts.promtool.yml), and they only name metrics a node exports.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeMetrics } from '../../src/metrics/node-metrics.js';
import { PROMTOOL, missingTool } from '../required-tool.js';
import { findPromtool, runPromtool } from './promtool.js';

const promtool = findPromtool();
const temp = mkdtempSync(join(tmpdir(), 'tsraft-metrics-config-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** Every series name a node can export (histograms: _bucket, _sum, _count too), plus Prometheus's `up`. */
function exportedNames(): Set<string> {
  const metrics = new NodeMetrics({ nodeId: 'n1', clusterId: 'c', version: 'test', disk: null });
  const names = new Set<string>(['up']);
  for (const family of metrics.registry.getMetricsAsArray()) {
    names.add(family.name);
    if (String(family.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(family.name + suffix);
  }
  return names;
}

function metricNamesIn(expr: string): string[] {
  return [...expr.matchAll(/\b((?:tsraft|process|nodejs)_[a-z0-9_]+|up)\b(?![a-z_]*\()/g)].map((m) => m[1]!);
}

interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Array<{ expr: string; refId: string }>;
}

const dashboard = JSON.parse(readFileSync('config/grafana-dashboard.json', 'utf8')) as { title: string; uid: string; panels: DashboardPanel[]; templating: { list: Array<{ name: string }> } };
const alertsText = readFileSync('config/alerts.yml', 'utf8');

describe('config/prometheus.yml', () => {
  it('scrapes the three local nodes of make run on ports 8080 to 8082', () => {
    const text = readFileSync('config/prometheus.yml', 'utf8');
    expect(text).toMatch(/metrics_path: \/metrics/);
    expect(text).toContain("targets: ['127.0.0.1:8080', '127.0.0.1:8081', '127.0.0.1:8082']");
    expect(text).toMatch(/rule_files:\s*\n\s*- alerts\.yml/);
  });

  it('passes promtool check config (which also checks the alert rules it loads)', () => {
    if (promtool === null) return missingTool(PROMTOOL);
    const run = runPromtool(promtool, ['check', 'config', 'config/prometheus.yml']);
    expect(run.code, run.output).toBe(0);
  });
});

describe('config/alerts.yml', () => {
  it('passes promtool check rules', () => {
    if (promtool === null) return missingTool(PROMTOOL);
    const run = runPromtool(promtool, ['check', 'rules', 'config/alerts.yml']);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('fires every alert on its scenario and none on a healthy cluster (promtool test rules)', () => {
    if (promtool === null) return missingTool(PROMTOOL);
    const run = runPromtool(promtool, ['test', 'rules', 'test/metrics/alerts.promtool.yml']);
    expect(run.code, run.output).toBe(0);
  });

  it('has a firing scenario for every alert it defines', () => {
    const alerts = [...alertsText.matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    const scenarios = readFileSync('test/metrics/alerts.promtool.yml', 'utf8');
    expect(alerts.length).toBeGreaterThanOrEqual(10);
    for (const alert of alerts) expect(scenarios, alert).toMatch(new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`));
  });

  it('covers no leader, leader changes, slow fsync, follower lag, stale and failing backups and a filling disk', () => {
    for (const alert of ['TsraftNoLeader', 'TsraftFrequentLeaderChanges', 'TsraftSlowFsync', 'TsraftFollowerLagging', 'TsraftBackupStale', 'TsraftBackupFailing', 'TsraftDiskFilling']) {
      expect(alertsText).toContain(`- alert: ${alert}\n`);
    }
  });

  it('names only metrics a node exports', () => {
    const exported = exportedNames();
    const used = metricNamesIn(alertsText.replace(/^\s*#.*$/gm, '').replace(/(summary|description): .*$/gm, ''));
    expect(used.length).toBeGreaterThan(10);
    for (const name of used) expect(exported, `${name} in config/alerts.yml`).toContain(name);
  });
});

describe('config/grafana-dashboard.json', () => {
  const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');

  it('is a dashboard with unique panel ids laid out on the 24-column grid', () => {
    expect(dashboard.title).toBe('tsraft');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(['datasource', 'job', 'instance']);
  });

  it('charts every metric family a node exports', () => {
    const used = new Set(queryPanels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricNamesIn(t.expr))));
    const families = new NodeMetrics({ nodeId: 'n1', clusterId: 'c', version: 'test', disk: null }).registry.getMetricsAsArray().map((m) => m.name).filter((n) => n.startsWith('tsraft_'));
    const charted = (family: string): boolean => [...used].some((name) => name === family || name.startsWith(`${family}_`));
    const missing = families.filter((f) => !charted(f) && !['tsraft_raft_last_index', 'tsraft_raft_snapshot_index', 'tsraft_raft_members', 'tsraft_raft_reads_pending', 'tsraft_transport_dial_failures_total', 'tsraft_transport_queued_messages', 'tsraft_transport_queued_bytes', 'tsraft_transport_handshake_failures_total', 'tsraft_backup_last_failure_timestamp_seconds', 'tsraft_snapshot_last_timestamp_seconds', 'tsraft_storage_filesystem_size_bytes'].includes(f));
    expect(missing).toEqual([]);
  });

  it('names only metrics a node exports', () => {
    const exported = exportedNames();
    for (const p of queryPanels) for (const t of p.targets ?? []) for (const name of metricNamesIn(t.expr)) expect(exported, `${name} in panel "${p.title}"`).toContain(name);
  });

  it('has PromQL that promtool parses (dashboard variables replaced)', () => {
    if (promtool === null) return missingTool(PROMTOOL);
    const rules = queryPanels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        record: `dashboard:panel_${p.id}_${t.refId.toLowerCase()}`,
        expr: t.expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', 'tsraft').replaceAll('$instance', '.*'),
      })),
    );
    expect(rules.length).toBeGreaterThan(30);
    // JSON is YAML: promtool reads the rule file as is.
    const file = join(temp, 'dashboard-rules.yml');
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
    const run = runPromtool(promtool, ['check', 'rules', file]);
    expect(run.code, run.output).toBe(0);
  });
});
