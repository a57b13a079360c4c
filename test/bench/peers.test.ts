// Our figures as ratios to etcd's and VictoriaMetrics' (bench/harness/peers.ts),
// from fixtures shaped like bench/peers' result files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeRatios, ratioSpread, readEtcd, readVm, type OurFigure } from '../../bench/harness/peers.js';
import { JsonReader } from '../../bench/harness/result-file.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const fixture = (name: string): JsonReader => JsonReader.parse(readFileSync(join(FIXTURES, name), 'utf8'), `fixtures/${name}`);

const DATE = '2026-11-21T12:00:00.000Z';
const one = (median: number): OurFigure['value'] => ({ median, min: median, max: median, runs: 1 });

function ours(): Map<string, OurFigure> {
  return new Map<string, OurFigure>([
    ['single-point.ws.c1.opsPerSecond', { value: one(140), unit: 'ops/s', date: DATE }],
    ['single-point.ws.c16.opsPerSecond', { value: { median: 6000, min: 5000, max: 7000, runs: 3 }, unit: 'ops/s', date: DATE }],
    ['single-point.ws.c64.opsPerSecond', { value: one(12_000), unit: 'ops/s', date: DATE }],
    ['single-point.ws.c1.p50Ms', { value: one(4.8), unit: 'ms', date: DATE }],
    ['ingest-devops.http.pointsPerSecond', { value: one(125_000), unit: 'points/s', date: DATE }],
    ['compression.devops.bytesPerPoint', { value: one(1.575), unit: 'bytes/point', date: DATE }],
  ]);
}

describe('reading the peer result files', () => {
  it('takes the primary protocol of the etcd results', () => {
    const etcd = readEtcd(fixture('peers-etcd.json'));
    expect(etcd.protocol).toBe('grpc');
    expect(etcd.opsPerSecond.get(16)).toEqual({ runs: 5, median: 3000, min: 2500, max: 3300 });
    expect(etcd.version).toBe('3.4.23');
    expect(etcd.loadAverages).toEqual([3.75, 13.05]);
  });

  it('reads VictoriaMetrics ingest, lossless bytes/point and whether it was bit-exact', () => {
    const vm = readVm(fixture('peers-victoria-metrics.json'));
    expect(vm.ingestPointsPerSecond.median).toBe(500_000);
    expect(vm.bytesPerPointDataPlusIndex.median).toBe(2);
    expect(vm.lossless).toBe(true);
  });
});

describe('ratioSpread', () => {
  it('divides the medians and takes the range from the extremes', () => {
    expect(ratioSpread({ median: 6000, min: 5000, max: 7000, runs: 3 }, { median: 3000, min: 2500, max: 3300, runs: 5 })).toEqual({ median: 2, min: 5000 / 3300, max: 7000 / 2500, runs: 3 });
  });

  it('refuses a peer figure that is not positive', () => {
    expect(() => ratioSpread(one(1), one(0))).toThrow(RangeError);
  });
});

describe('computeRatios', () => {
  it('checks the 2× etcd target at concurrency 16 and 64 only', () => {
    const { rows } = computeRatios(ours(), readEtcd(fixture('peers-etcd.json')), readVm(fixture('peers-victoria-metrics.json')));
    const row = (id: string) => rows.find((r) => r.id === id)!;
    expect(row('ratio.single-point.c16').ratio.median).toBe(2);
    expect(row('ratio.single-point.c16').met).toBe(true);
    expect(row('ratio.single-point.c64').ratio.median).toBe(2.4);
    expect(row('ratio.single-point.c64').met).toBe(true);
    expect(row('ratio.single-point.c1').met).toBeNull();
    expect(row('ratio.single-point.c1.p50').ratio.median).toBe(4);
  });

  it('sets our devops ingest and bytes/point against VictoriaMetrics', () => {
    const { rows } = computeRatios(ours(), null, readVm(fixture('peers-victoria-metrics.json')));
    const ingest = rows.find((r) => r.id === 'ratio.ingest.devops')!;
    expect(ingest.ratio.median).toBe(0.25);
    const bytes = rows.find((r) => r.id === 'ratio.bytesPerPoint.codec')!;
    expect(bytes.ratio.median).toBeCloseTo(0.7875, 10);
    expect(bytes.met).toBe(true);
    expect(bytes.note).toMatch(/both bit-exact/);
  });

  it('says what could not be compared instead of inventing a row', () => {
    const { rows, missing } = computeRatios(new Map(), null, readVm(fixture('peers-victoria-metrics.json')));
    expect(rows).toHaveLength(0);
    expect(missing.some((m) => m.startsWith('etcd: no peer results'))).toBe(true);
    expect(missing.some((m) => m.includes('ingest-devops.http.pointsPerSecond is not in this summary'))).toBe(true);
  });

  it('refuses to divide figures of different units', () => {
    const wrong = new Map<string, OurFigure>([['ingest-devops.http.pointsPerSecond', { value: one(1), unit: 'ms', date: DATE }]]);
    expect(() => computeRatios(wrong, null, readVm(fixture('peers-victoria-metrics.json')))).toThrow(/expects points\/s/);
  });
});
