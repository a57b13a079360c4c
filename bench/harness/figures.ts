// The bench harness's unit of account: a figure (one measured quantity with
// its median, min and max over runs), the target an issue sets for it, and
// the arithmetic on them: merging repeated invocations of a benchmark,
// checking a target, formatting a value for the summary.
//
// Pure functions only (no I/O): test/bench/ exercises them on fixtures.

/** Median, min and max over `runs` samples. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export type Unit = 'points/s' | 'ops/s' | 'ms' | 'bytes/point' | 'MB/s' | 'percent' | 'times';

export type Better = 'higher' | 'lower';

/** A target from an issue: `value comparison target` must hold for the median. */
export interface Target {
  comparison: '>=' | '<=' | '<' | '>';
  value: number;
  /** Where the target comes from, e.g. "issue 5". */
  source: string;
  /** What the number stands for when it is derived, e.g. "2× etcd 3.4's 3,300". */
  meaning?: string;
}

export interface Figure {
  /** Stable identifier, e.g. "ingest.ws.batch5000.pointsPerSecond". */
  id: string;
  label: string;
  unit: Unit;
  better: Better;
  value: Spread;
  /** The same on every run (sizes of deterministic encodings): shown without a range. */
  exact?: boolean;
  target?: Target;
  /** Headline figures make the main table; the others the detail table. */
  headline: boolean;
  note?: string;
  /** One value per harness invocation when the harness repeated the benchmark. */
  samples?: number[];
}

/** Median (mean of the middle two for an even count), min and max. */
export function spreadOf(samples: readonly number[]): Spread {
  if (samples.length === 0) throw new RangeError('spreadOf: no samples');
  for (const s of samples) if (!Number.isFinite(s)) throw new RangeError(`spreadOf: sample ${s} is not finite`);
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** A single measurement as a spread of one run. */
export function single(value: number): Spread {
  return spreadOf([value]);
}

/** The spread of f(x) when f is decreasing (seconds → MB/s): min and max swap. */
export function invertSpread(s: Spread, f: (x: number) => number): Spread {
  return { median: f(s.median), min: f(s.max), max: f(s.min), runs: s.runs };
}

/**
 * Joins the figures of several invocations of one benchmark (the harness
 * runs a benchmark whose script measures each figure once several times):
 * each figure's value becomes the spread of the invocations' medians, in the
 * order figures first appeared. With one invocation the figures stay as the
 * script reported them (their own runs, min and max).
 */
export function mergeInvocations(invocations: readonly (readonly Figure[])[]): Figure[] {
  if (invocations.length === 0) return [];
  if (invocations.length === 1) return invocations[0]!.map((f) => ({ ...f }));
  const order: string[] = [];
  const byId = new Map<string, { first: Figure; samples: number[] }>();
  for (const figures of invocations) {
    for (const f of figures) {
      const seen = byId.get(f.id);
      if (seen === undefined) {
        byId.set(f.id, { first: f, samples: [f.value.median] });
        order.push(f.id);
      } else {
        if (seen.first.unit !== f.unit) throw new Error(`figure ${f.id} changed unit between runs (${seen.first.unit} → ${f.unit})`);
        seen.samples.push(f.value.median);
      }
    }
  }
  return order.map((id) => {
    const { first, samples } = byId.get(id)!;
    return { ...first, value: spreadOf(samples), samples };
  });
}

/** Whether the median meets the target; null when there is none. */
export function meetsTarget(value: number, target: Target | undefined): boolean | null {
  if (target === undefined) return null;
  switch (target.comparison) {
    case '>=':
      return value >= target.value;
    case '<=':
      return value <= target.value;
    case '<':
      return value < target.value;
    case '>':
      return value > target.value;
  }
}

const COMPARISON_TEXT: Record<Target['comparison'], string> = { '>=': '≥', '<=': '≤', '<': '<', '>': '>' };

function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return Math.round(n).toLocaleString('en-US');
}

/** The number alone, rounded for its unit. */
export function formatNumber(unit: Unit, n: number): string {
  switch (unit) {
    case 'points/s':
    case 'ops/s':
      return rate(n);
    case 'ms':
      return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : Math.round(n).toLocaleString('en-US');
    case 'bytes/point':
      return n.toFixed(3);
    case 'MB/s':
      return n < 10 ? n.toFixed(2) : n.toFixed(1);
    case 'percent':
      return n.toFixed(2);
    case 'times':
      return n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0);
  }
}

const UNIT_TEXT: Record<Unit, string> = { 'points/s': 'points/s', 'ops/s': 'ops/s', ms: 'ms', 'bytes/point': 'bytes/point', 'MB/s': 'MB/s', percent: '%', times: '×' };

/** A number with its unit: "120.0 k points/s", "2.68 %", "72.5×". */
export function formatValue(unit: Unit, n: number): string {
  return unit === 'times' ? `${formatNumber(unit, n)}×` : `${formatNumber(unit, n)} ${UNIT_TEXT[unit]}`;
}

/** "median (min–max)", or the median alone for an exact figure or a single run. */
export function formatSpread(unit: Unit, s: Spread, exact = false): string {
  const median = `**${formatValue(unit, s.median)}**`;
  if (exact || s.runs === 1 || s.min === s.max) return median;
  return `${median} (${formatNumber(unit, s.min)}–${formatNumber(unit, s.max)})`;
}

export function formatTarget(unit: Unit, target: Target | undefined): string {
  if (target === undefined) return '—';
  const meaning = target.meaning === undefined ? '' : `, ${target.meaning}`;
  return `${COMPARISON_TEXT[target.comparison]} ${formatValue(unit, target.value)} (${target.source}${meaning})`;
}

export function formatMet(met: boolean | null): string {
  return met === null ? '—' : met ? 'yes' : '**no**';
}
