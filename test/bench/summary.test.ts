// The harness summary (bench/harness/summary.ts) and its markdown
// (bench/harness/render.ts): SUMMARY.md tables, the README block, merging a
// partial run into the last summary, and the exit status.
import { describe, expect, it } from 'vitest';
import type { Figure } from '../../bench/harness/figures.js';
import { README_END, README_START, measuredSpan, renderReadmeBlock, renderSummaryMarkdown, replaceReadmeBlock } from '../../bench/harness/render.js';
import { exitCodeFor, figuresById, mergeOutcomes, parseSummary, type BenchmarkOutcome, type HarnessSummary } from '../../bench/harness/summary.js';

const failover: Figure = {
  id: 'failover.firstWriteMs',
  label: 'failover: kill -9 of the leader → first acknowledged write',
  unit: 'ms',
  better: 'lower',
  value: { median: 692, min: 507, max: 795, runs: 7 },
  target: { comparison: '<=', value: 1500, source: 'issue 4' },
  headline: true,
};

const ingest: Figure = {
  id: 'ingest.ws.batch5000.pointsPerSecond',
  label: 'ingest, 3 nodes, WebSocket, 5,000-point puts, 8 in flight',
  unit: 'points/s',
  better: 'higher',
  value: { median: 120_033, min: 104_000, max: 130_500, runs: 3 },
  target: { comparison: '>=', value: 300_000, source: 'issue 6' },
  headline: true,
  samples: [120_033, 104_000, 130_500],
};

const ackP99: Figure = { id: 'ingest.ws.batch5000.ackP99Ms', label: 'ingest ack p99 | WebSocket', unit: 'ms', better: 'lower', value: { median: 559, min: 500, max: 600, runs: 3 }, headline: false };

function outcome(name: string, status: BenchmarkOutcome['status'], figures: Figure[], reason?: string): BenchmarkOutcome {
  return { name, title: name, status, ...(reason === undefined ? {} : { reason }), command: `node dist/bench/${name}.js`, mode: 'full', date: '2026-11-21T11:00:00.000Z', durationSeconds: 12.4, loadAverages: [2.5, 7.25], figures };
}

function summary(benchmarks: BenchmarkOutcome[]): HarnessSummary {
  return {
    format: 'tsraft-bench-summary',
    version: 1,
    mode: 'full',
    command: 'node dist/bench/run.js --all',
    startedAt: '2026-11-21T11:00:00.000Z',
    finishedAt: '2026-11-21T11:30:00.000Z',
    machine: { cpuModel: 'AMD EPYC', cores: 2, memoryBytes: 25_276_502_016, platform: 'linux', release: '6.1', arch: 'x64', node: 'v20.20.2' },
    loadAverage: { start: 2.5, end: 7.25 },
    versions: { tsraft: '0.1.0', commit: 'abc1234', ws: '8.23.0' },
    dataset: { devops: { path: '../shared/data/devops-1d.put.gz', bytes: 8_075_214, sha256: '5a67b548c9ebcf1d', points: 1_209_600 }, nab: null },
    benchmarks,
    peers: {},
    comparisons: { rows: [], missing: ['etcd: no peer results'] },
  };
}

describe('SUMMARY.md', () => {
  const md = renderSummaryMarkdown(summary([outcome('ingest', 'ok', [ingest, ackP99]), { ...outcome('failover', 'ok', [failover]), commit: 'abc1234 + changes' }, outcome('backup', 'skipped', [], '../shared/data/devops-1d.put.gz not found')]));

  it('puts every headline figure in one table with median, range, runs, target, verdict and command', () => {
    expect(md).toContain('| ingest, 3 nodes, WebSocket, 5,000-point puts, 8 in flight | **120.0 k points/s** (104.0 k–130.5 k) | 3 | ≥ 300.0 k points/s (issue 6) | **no** | `node dist/bench/ingest.js` |');
    expect(md).toContain('| **692 ms** (507–795) | 7 | ≤ 1,500 ms (issue 4) | yes |');
  });

  it('keeps secondary figures out of the headline table and escapes pipes in cells', () => {
    const headline = md.slice(md.indexOf('## Headline figures'), md.indexOf('## Against'));
    expect(headline).not.toContain('ack p99');
    expect(md).toContain('ingest ack p99 \\| WebSocket');
  });

  it('lists a skipped benchmark with its reason, and the machine, versions, dataset and load', () => {
    expect(md).toContain('| backup | **skipped**: ../shared/data/devops-1d.put.gz not found |');
    expect(md).toContain('2 × AMD EPYC, 23.5 GiB memory, linux 6.1 x64, Node v20.20.2');
    expect(md).toContain('tsraft 0.1.0, commit abc1234, ws 8.23.0');
    expect(md).toContain('sha256 `5a67b548c9ebcf1d`, 1,209,600 points');
    expect(md).toContain('| 2.5–7.3 |');
    expect(md).toContain('1-minute load average 2.5–7.3 before the benchmarks');
    expect(md).toContain('- Not compared: etcd: no peer results.');
    expect(md).toContain('| 12 s | 2.5–7.3 | abc1234 + changes | `node dist/bench/failover.js` |');
  });

  it('says so at the top when the figures come from the quick mode', () => {
    const quick = renderSummaryMarkdown({ ...summary([]), mode: 'quick' });
    expect(quick.split('\n')[0]).toBe('# Benchmark summary (quick mode)');
  });
});

describe('the README block', () => {
  const block = renderReadmeBlock(summary([outcome('failover', 'ok', [failover])]));

  it('replaces only what lies between the markers', () => {
    const readme = `# tsraft\n\n## Benchmarks\n\nintro\n\n${README_START}\nold table\n${README_END}\n\n## After\n`;
    const updated = replaceReadmeBlock(readme, block)!;
    expect(updated.startsWith('# tsraft\n\n## Benchmarks\n\nintro\n\n')).toBe(true);
    expect(updated.endsWith('\n\n## After\n')).toBe(true);
    expect(updated).not.toContain('old table');
    expect(updated).toContain('Latest run: 2026-11-21 11:00 UTC to 2026-11-21 11:00 UTC');
    expect(replaceReadmeBlock(updated, block)).toBe(updated);
  });

  it('leaves a README without the markers alone', () => {
    expect(replaceReadmeBlock('# tsraft\n', block)).toBeNull();
    expect(replaceReadmeBlock(`${README_END}\n${README_START}\n`, block)).toBeNull();
  });
});

describe('measuredSpan', () => {
  it('runs from the first benchmark to the end of the last, whatever command wrote the summary last', () => {
    const early = { ...outcome('compression', 'ok', []), date: '2026-11-21T10:00:00.000Z', durationSeconds: 60, loadAverages: [1] };
    const late = { ...outcome('ingest', 'ok', []), date: '2026-11-21T12:00:00.000Z', durationSeconds: 30, loadAverages: [9, 4] };
    const span = measuredSpan({ ...summary([late, early]), startedAt: '2026-11-21T12:00:00.000Z' });
    expect(span).toEqual({ from: '2026-11-21T10:00:00.000Z', to: '2026-11-21T12:00:30.000Z', loads: [9, 4, 1] });
  });
});

describe('summary.json', () => {
  it('round-trips through parseSummary', () => {
    const s = summary([outcome('failover', 'ok', [failover])]);
    expect(parseSummary(JSON.stringify(s), 'summary.json')).toEqual(s);
  });

  it('refuses a file that is not a harness summary', () => {
    expect(() => parseSummary('{"format":"other","version":1}', 'x.json')).toThrow(/not a bench summary/);
    expect(() => parseSummary(JSON.stringify({ ...summary([]), version: 2 }), 'x.json')).toThrow(/version 2/);
  });

  it('replaces the benchmarks that ran again and keeps the others in registry order', () => {
    const merged = mergeOutcomes([outcome('compression', 'ok', []), outcome('ingest', 'ok', [ingest]), outcome('failover', 'ok', [failover])], [outcome('ingest', 'failed', [], 'exit status 1')], ['compression', 'query', 'ingest', 'failover']);
    expect(merged.map((b) => `${b.name}:${b.status}`)).toEqual(['compression:ok', 'ingest:failed', 'failover:ok']);
  });

  it('indexes the figures of benchmarks that ran, with their date', () => {
    const ids = figuresById({ benchmarks: [outcome('ingest', 'ok', [ingest]), outcome('failover', 'failed', [failover])] });
    expect([...ids.keys()]).toEqual(['ingest.ws.batch5000.pointsPerSecond']);
    expect(ids.get('ingest.ws.batch5000.pointsPerSecond')!.date).toBe('2026-11-21T11:00:00.000Z');
  });

  it('exits non-zero only when a benchmark failed, not when one was skipped', () => {
    expect(exitCodeFor([outcome('a', 'ok', []), outcome('b', 'skipped', [], 'no data')])).toBe(0);
    expect(exitCodeFor([outcome('a', 'ok', []), outcome('b', 'failed', [], 'exit status 1')])).toBe(1);
  });
});
