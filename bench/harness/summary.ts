// The harness's own result: bench/results/summary.json (every figure of
// every benchmark with its runs, plus the machine, versions and dataset),
// from which SUMMARY.md and the README's Benchmarks section are rendered.
import type { Figure } from './figures.js';
import type { RatioTable } from './peers.js';
import type { Mode } from './registry.js';
import { JsonReader, ResultFormatError } from './result-file.js';

export type Status = 'ok' | 'skipped' | 'failed';

export interface BenchmarkOutcome {
  name: string;
  title: string;
  status: Status;
  /** Why it was skipped or what failed. */
  reason?: string;
  /** The command line that reproduces its figures. */
  command: string;
  mode: Mode;
  /** When it started (ISO 8601). */
  date: string;
  durationSeconds: number;
  /** 1-minute load average at the start of each invocation (2 shared cores: figures move with it). */
  loadAverages: number[];
  /** The git commit the code was built from, "+ changes" when src/ or bench/ differed from it. */
  commit?: string;
  figures: Figure[];
}

export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  platform: string;
  release: string;
  arch: string;
  node: string;
}

export interface DatasetDescription {
  /** sha256: the first 16 hex digits; points: its put lines. */
  devops: { path: string; bytes: number; sha256: string; points: number } | null;
  nab: { path: string; files: number } | null;
}

export interface PeerVersions {
  etcd?: { version: string; packageVersion: string | null; date: string };
  victoriaMetrics?: { version: string; date: string };
}

export interface HarnessSummary {
  format: 'tsraft-bench-summary';
  version: 1;
  mode: Mode;
  /** The harness command that wrote this summary last. */
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineDescription;
  loadAverage: { start: number; end: number };
  /** tsraft's version and commit, and the versions of the packages it runs on. */
  versions: Record<string, string>;
  dataset: DatasetDescription;
  benchmarks: BenchmarkOutcome[];
  peers: PeerVersions;
  comparisons: RatioTable;
}

/** Figures of benchmarks that ran, by id, with the date their benchmark ran. */
export function figuresById(summary: Pick<HarnessSummary, 'benchmarks'>): Map<string, { figure: Figure; date: string; benchmark: string }> {
  const out = new Map<string, { figure: Figure; date: string; benchmark: string }>();
  for (const b of summary.benchmarks) {
    if (b.status !== 'ok') continue;
    for (const f of b.figures) out.set(f.id, { figure: f, date: b.date, benchmark: b.name });
  }
  return out;
}

/**
 * Replaces the outcomes of the benchmarks that ran again (`--peers` reruns
 * our side of the comparisons), keeping the others and the registry order.
 */
export function mergeOutcomes(previous: readonly BenchmarkOutcome[], fresh: readonly BenchmarkOutcome[], order: readonly string[]): BenchmarkOutcome[] {
  const byName = new Map(previous.map((b) => [b.name, b]));
  for (const b of fresh) byName.set(b.name, b);
  const rank = (name: string): number => {
    const i = order.indexOf(name);
    return i < 0 ? order.length : i;
  };
  return [...byName.values()].sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** Reads a summary.json written by an earlier run; checks the fields the renderer relies on. */
export function parseSummary(text: string, file: string): HarnessSummary {
  const r = JsonReader.parse(text, file);
  if (r.str('format') !== 'tsraft-bench-summary') throw new ResultFormatError(`${file}: not a bench summary (format ${r.str('format')})`);
  if (r.num('version') !== 1) throw new ResultFormatError(`${file}: summary version ${r.num('version')} is not 1`);
  for (const b of r.items('benchmarks')) {
    b.str('name');
    b.str('status');
    b.str('date');
    for (const f of b.items('figures')) {
      f.str('id');
      f.str('unit');
      f.spread('value');
    }
  }
  return r.value as HarnessSummary;
}

/** The exit status of a harness run: non-zero only when a benchmark crashed. */
export function exitCodeFor(outcomes: readonly BenchmarkOutcome[]): number {
  return outcomes.some((b) => b.status === 'failed') ? 1 : 0;
}
