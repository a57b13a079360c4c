// How the bench harness reads each benchmark's result file
// (bench/harness/result-file.ts, bench/harness/registry.ts), on small
// fixtures shaped like the files the scripts write.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCHMARKS, commandFor, extractBackup, extractCompression, extractIngest, extractQuery, extractSimSpeed, extractSinglePoint } from '../../bench/harness/registry.js';
import { JsonReader, ResultFormatError } from '../../bench/harness/result-file.js';
import type { Figure } from '../../bench/harness/figures.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function fixture(name: string): JsonReader {
  return JsonReader.parse(readFileSync(join(FIXTURES, name), 'utf8'), `fixtures/${name}`);
}

function byId(figures: Figure[], id: string): Figure {
  const f = figures.find((x) => x.id === id);
  if (f === undefined) throw new Error(`no figure ${id} in ${figures.map((x) => x.id).join(', ')}`);
  return f;
}

describe('JsonReader', () => {
  it('names the file and the path of a missing field', () => {
    const r = new JsonReader({ results: [{ api: 'ws' }] }, 'ingest.json');
    expect(() => r.items('results')[0]!.num('pointsPerSecond')).toThrow(/ingest\.json: results\[0\]\.pointsPerSecond is not a finite number/);
    expect(() => r.get('rows')).toThrow(ResultFormatError);
  });

  it('refuses text that is not JSON', () => {
    expect(() => JsonReader.parse('{"name": ', 'x.json')).toThrow(/x\.json: not JSON/);
  });

  it('refuses a spread whose median lies outside its min and max', () => {
    const r = new JsonReader({ s: { median: 10, min: 11, max: 12, runs: 3 } }, 'f.json');
    expect(() => r.spread('s')).toThrow(/is not a spread/);
  });

  it('treats null as absent for optional fields', () => {
    const r = new JsonReader({ rejoin: null }, 'f.json');
    expect(r.optional('rejoin')).toBeNull();
    expect(r.has('rejoin')).toBe(false);
  });
});

describe('extractors', () => {
  it('ingest: one points/s figure per row, the 300 k target only on WebSocket 5,000-point puts', () => {
    const figures = extractIngest(fixture('ingest.json'));
    const ws5000 = byId(figures, 'ingest.ws.batch5000.pointsPerSecond');
    expect(ws5000.value).toEqual({ median: 120_033, min: 120_033, max: 120_033, runs: 1 });
    expect(ws5000.target).toEqual({ comparison: '>=', value: 300_000, source: 'issue 6' });
    expect(byId(figures, 'ingest.http.batch5000.pointsPerSecond').target).toBeUndefined();
    expect(byId(figures, 'ingest.ws.batch1.ackP99Ms').value.median).toBe(155.68);
    expect(figures.filter((f) => f.target !== undefined)).toHaveLength(1);
  });

  it('single-point: targets twice the etcd figure at 16 and 64, and p50 ≤ 1 ms at 1, WebSocket only', () => {
    const figures = extractSinglePoint(fixture('single-point.json'));
    expect(byId(figures, 'single-point.ws.c16.opsPerSecond').target?.value).toBe(6600);
    expect(byId(figures, 'single-point.ws.c64.opsPerSecond').target?.value).toBe(10_800);
    expect(byId(figures, 'single-point.ws.c1.opsPerSecond').target).toBeUndefined();
    expect(byId(figures, 'single-point.ws.c1.p50Ms').target).toEqual({ comparison: '<=', value: 1, source: 'issue 6' });
    expect(byId(figures, 'single-point.http.c16.opsPerSecond').target).toBeUndefined();
  });

  it('compression: bytes/point as an exact figure; no devops figures when the file was skipped', () => {
    const full = extractCompression(fixture('compression.json'));
    const bpp = byId(full, 'compression.devops.bytesPerPoint');
    expect(bpp.exact).toBe(true);
    expect(bpp.target?.value).toBe(0.85);
    expect(byId(full, 'compression.encode.pointsPerSecond').value).toEqual({ median: 2744268.9, min: 1962671.7, max: 4484218.9, runs: 7 });
    expect(full.some((f) => f.id.startsWith('compression.nab'))).toBe(false);

    const noDevops = extractCompression(fixture('compression-no-devops.json'));
    expect(noDevops.map((f) => f.id)).toEqual(['compression.nab.bytesPerPoint', 'compression.nab.bytesPerPointDayBlocks']);
  });

  it('query: cold and warm latency per query, the 50 ms target on the two queries issue 5 names', () => {
    const figures = extractQuery(fixture('query.json'));
    expect(figures).toHaveLength(6);
    expect(byId(figures, 'query.cold.p99-1m-avg-sys-cpu-user').value.median).toBe(63.1);
    expect(byId(figures, 'query.cold.p99-1m-avg-sys-cpu-user').target).toEqual({ comparison: '<', value: 50, source: 'issue 5' });
    expect(byId(figures, 'query.warm.sum-sys-cpu-user-raw-no-downsampling').target).toBeUndefined();
  });

  it('backup: MB/s and points/s from the seconds (slowest run gives the minimum), incremental share in percent', () => {
    const figures = extractBackup(fixture('backup.json'));
    expect(byId(figures, 'backup.verify.mbPerSecond').value).toEqual({ median: 1, min: 0.5, max: 2, runs: 3 });
    expect(byId(figures, 'backup.create.pointsPerSecond').value).toEqual({ median: 1_000_000, min: 500_000, max: 2_000_000, runs: 3 });
    const inc = byId(figures, 'backup.incremental.storedPercent');
    expect(inc.value.median).toBeCloseTo(2.68, 10);
    expect(inc.target).toEqual({ comparison: '<', value: 10, source: 'issue 7' });
    expect(byId(figures, 'backup.stateBytesPerPoint').value.median).toBe(2);
    expect(figures.some((f) => f.id.startsWith('backup.rejoin'))).toBe(false);
  });

  it('sim-speed: one figure per configuration, the 100× target on 3 nodes with all faults', () => {
    const s = (median: number): object => ({ median, min: median / 2, max: median * 2, runs: 10 });
    const r = new JsonReader({ target: { speedupAtLeast: 100 }, simSeconds: 60, ops: 3000, rows: [{ config: '3 nodes, no faults', speedup: s(99) }, { config: '3 nodes, all faults', speedup: s(187) }] }, 'sim-speed.json');
    const figures = extractSimSpeed(r);
    expect(figures.map((f) => f.id)).toEqual(['sim.speedup.3-nodes-no-faults', 'sim.speedup.3-nodes-all-faults']);
    expect(figures[1]!.target).toEqual({ comparison: '>=', value: 100, source: 'issue 3' });
    expect(figures[0]!.target).toBeUndefined();
  });
});

describe('the registry', () => {
  it('has one entry per benchmark name, each with a quick mode that runs once', () => {
    const names = BENCHMARKS.map((b) => b.name);
    expect(new Set(names).size).toBe(names.length);
    for (const b of BENCHMARKS) expect(b.invocations.quick).toBe(1);
  });

  it('gives throughput benchmarks at least three runs in full mode', () => {
    for (const name of ['ingest', 'single-point']) expect(BENCHMARKS.find((b) => b.name === name)!.invocations.full).toBeGreaterThanOrEqual(3);
  });

  it('writes the reproducing command with the harness repetition', () => {
    const ingest = BENCHMARKS.find((b) => b.name === 'ingest')!;
    expect(commandFor(ingest, 'full')).toBe('node dist/bench/ingest.js --duration-s 10 (×3)');
    expect(commandFor(ingest, 'quick')).toBe('node dist/bench/ingest.js --duration-s 2');
  });
});

describe('backup-service result file', () => {
  it('gives MB/s per step, the digest time and the scrubbing cost against the issue 10 target', async () => {
    const { extractBackupService } = await import('../../bench/harness/registry.js');
    const figures = extractBackupService(fixture('backup-service.json'));
    const full = byId(figures, 'backupService.step0.mbPerSecond');
    expect(full.value.median).toBeCloseTo(10); // 2 MB in 0.2 s
    expect(full.value.min).toBeCloseTo(5); // slowest run
    expect(byId(figures, 'backupService.step1.mbPerSecond').value.median).toBeCloseTo(2);
    expect(byId(figures, 'backupService.digestMs').value.median).toBe(6);
    const scrub = byId(figures, 'backupService.scrubCostPercent');
    expect(scrub.value.median).toBe(2.5);
    expect(scrub.target).toEqual({ comparison: '<', value: 5, source: 'issue 10' });
  });
});
