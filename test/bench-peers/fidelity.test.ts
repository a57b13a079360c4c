// The bit-for-bit check behind the VictoriaMetrics comparison
// (bench/peers/victoria-metrics.ts): it must call an exact export lossless and
// catch each kind of loss a peer could introduce.
import { describe, expect, it } from 'vitest';
import type { DevopsDataset, DevopsPoint } from '../../bench/peers/devops-data.js';
import { seriesKey } from '../../bench/peers/devops-data.js';
import { buildPutBodies, compareExport } from '../../bench/peers/victoria-metrics.js';

function point(seriesIndex: number, timestampText: string, valueText: string): DevopsPoint {
  const timestampMs = timestampText.length === 13 ? Number(timestampText) : Number(timestampText) * 1000;
  return { seriesIndex, timestampText, timestampMs, valueText, value: Number(valueText), isInteger: !/[.eE]/.test(valueText) };
}

function dataset(): DevopsDataset {
  const cpuTags = { host: 'h00', cpu: '0' };
  const latencyTags = { host: 'h00', endpoint: '/api/a' };
  return {
    path: 'in-memory',
    series: [
      { metric: 'sys.cpu.user', tags: cpuTags, key: seriesKey('sys.cpu.user', cpuTags) },
      { metric: 'app.http.latency_ms', tags: latencyTags, key: seriesKey('app.http.latency_ms', latencyTags) },
    ],
    points: [
      point(0, '1700000000', '36.45'),
      point(1, '1700000000486', '22.247'),
      point(0, '1700000010', '18.90'),
      point(1, '1700000010535', '116.539'),
      point(0, '1700000020', '7516192768'),
    ],
  };
}

/** What an exact peer would export for the dataset. */
function exactExport(ds: DevopsDataset): Map<string, { timestampsMs: number[]; values: number[] }> {
  const out = new Map<string, { timestampsMs: number[]; values: number[] }>();
  for (const p of ds.points) {
    const key = ds.series[p.seriesIndex]!.key;
    const s = out.get(key) ?? { timestampsMs: [], values: [] };
    s.timestampsMs.push(p.timestampMs);
    s.values.push(p.value);
    out.set(key, s);
  }
  return out;
}

function nextUp(x: number): number {
  const f = new Float64Array([x]);
  const u = new BigUint64Array(f.buffer);
  u[0]! += 1n;
  return f[0]!;
}

describe('compareExport', () => {
  it('calls an export with every point bit-exact lossless', () => {
    const ds = dataset();
    const { report } = compareExport(ds, exactExport(ds));
    expect(report.lossless).toBe(true);
    expect(report.bitExactValues).toBe(5);
  });

  it('catches a value one unit in the last place away', () => {
    const ds = dataset();
    const exported = exactExport(ds);
    const latency = exported.get(ds.series[1]!.key)!;
    latency.values[0] = nextUp(latency.values[0]!);
    const { report } = compareExport(ds, exported);
    expect(report.lossless).toBe(false);
    expect(report.changedValues).toBe(1);
    expect(report.changedByUlps['1']).toBe(1);
    expect(report.byMetric['app.http.latency_ms']!.changed).toBe(1);
  });

  it('catches a millisecond timestamp trimmed to the second as one missing and one extra point', () => {
    const ds = dataset();
    const exported = exactExport(ds);
    exported.get(ds.series[1]!.key)!.timestampsMs[1] = 1700000010000;
    const { report } = compareExport(ds, exported);
    expect(report.lossless).toBe(false);
    expect(report.missingPoints).toBe(1);
    expect(report.extraPoints).toBe(1);
  });

  it('catches a whole series left out and reports it under its metric', () => {
    const ds = dataset();
    const exported = exactExport(ds);
    exported.delete(ds.series[1]!.key);
    const { report, alignedValues } = compareExport(ds, exported);
    expect(report.missingPoints).toBe(2);
    expect(report.byMetric['app.http.latency_ms']!.missing).toBe(2);
    expect(Number.isNaN(alignedValues[1]!)).toBe(true);
    expect(alignedValues[0]).toBe(36.45);
  });

  it('tells -0 from 0', () => {
    const ds = dataset();
    ds.points[0] = point(0, '1700000000', '0.0');
    const exported = exactExport(ds);
    exported.get(ds.series[0]!.key)!.values[0] = -0;
    expect(compareExport(ds, exported).report.changedByUlps['sign differs']).toBe(1);
  });
});

describe('buildPutBodies', () => {
  it('sends the file\'s own timestamp and value text, batch by batch', () => {
    const ds = dataset();
    const bodies = buildPutBodies(ds, 2);
    expect(bodies).toHaveLength(3);
    const first = JSON.parse(bodies[0]!.toString('utf8')) as { metric: string; timestamp: number; value: number; tags: Record<string, string> }[];
    expect(first[1]).toEqual({ metric: 'app.http.latency_ms', tags: { host: 'h00', endpoint: '/api/a' }, timestamp: 1700000000486, value: 22.247 });
    expect(bodies[1]!.toString('utf8')).toContain('"value":18.90}');
  });
});
