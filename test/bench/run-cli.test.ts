// The harness's command line (dist/bench/run.js, built by `make test`):
// argument errors, and --render, which runs no benchmark, on a results
// directory of fixtures (TSRAFT_BENCH_RESULTS_DIR) with the README left alone.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HarnessSummary } from '../../bench/harness/summary.js';

const RUN = resolve(import.meta.dirname, '..', '..', 'dist', 'bench', 'run.js');
const dirs: string[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function resultsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsraft-bench-cli-'));
  dirs.push(dir);
  return dir;
}

function run(args: string[], dir: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [RUN, ...args], { env: { ...process.env, TSRAFT_BENCH_RESULTS_DIR: dir }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const summary: HarnessSummary = {
  format: 'tsraft-bench-summary',
  version: 1,
  mode: 'full',
  command: 'node dist/bench/run.js --all',
  startedAt: '2026-11-21T11:00:00.000Z',
  finishedAt: '2026-11-21T11:20:00.000Z',
  machine: { cpuModel: 'Test CPU', cores: 2, memoryBytes: 2 ** 33, platform: 'linux', release: '6.1', arch: 'x64', node: 'v20.0.0' },
  loadAverage: { start: 1, end: 2 },
  versions: { tsraft: '0.1.0', commit: 'fixture' },
  dataset: { devops: null, nab: null },
  // In registry order (the harness keeps that order when it rewrites the summary).
  benchmarks: [
    { name: 'query', title: 'Query latency', status: 'skipped', reason: '../shared/data/devops-1d.put.gz not found', command: 'node dist/bench/query.js --runs 15', mode: 'full', date: '2026-11-21T11:01:00.000Z', durationSeconds: 0, loadAverages: [], figures: [] },
    {
      name: 'failover',
      title: 'Failover',
      status: 'ok',
      command: 'node dist/bench/failover.js --runs 9',
      mode: 'full',
      date: '2026-11-21T11:00:00.000Z',
      durationSeconds: 39,
      loadAverages: [1.5],
      commit: 'fixture',
      figures: [{ id: 'failover.firstWriteMs', label: 'failover: kill -9 of the leader → first acknowledged write', unit: 'ms', better: 'lower', value: { median: 783, min: 545, max: 969, runs: 9 }, target: { comparison: '<=', value: 1500, source: 'issue 4' }, headline: true }],
    },
  ],
  peers: {},
  comparisons: { rows: [], missing: [] },
};

describe('node dist/bench/run.js', () => {
  it('asks for exactly one action', () => {
    const dir = resultsDir();
    const none = run([], dir);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/give exactly one of --all, --quick, --peers, --render/);
    expect(run(['--all', '--quick'], dir).status).toBe(2);
  });

  it('refuses a benchmark name it does not know', () => {
    const r = run(['--all', '--only', 'nosuch'], resultsDir());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no benchmark named nosuch/);
  });

  it('cannot render without an earlier summary', () => {
    const r = run(['--render', '--no-readme'], resultsDir());
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--render: no .*summary\.json/);
  });

  it('renders SUMMARY.md from summary.json without running anything, keeping the machine the figures came from', () => {
    const dir = resultsDir();
    writeFileSync(join(dir, 'summary.json'), JSON.stringify(summary));
    const r = run(['--render', '--no-readme'], dir);
    expect(r.status).toBe(0);
    const md = readFileSync(join(dir, 'SUMMARY.md'), 'utf8');
    expect(md).toContain('| failover: kill -9 of the leader → first acknowledged write | **783 ms** (545–969) | 9 | ≤ 1,500 ms (issue 4) | yes | `node dist/bench/failover.js --runs 9` |');
    expect(md).toContain('| query | **skipped**: ../shared/data/devops-1d.put.gz not found |');
    expect(md).toContain('2 × Test CPU');
    const rewritten = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as HarnessSummary;
    expect(rewritten.benchmarks).toEqual(summary.benchmarks);
    expect(rewritten.versions).toEqual(summary.versions);
  });
});
