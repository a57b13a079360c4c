// Shared helpers for benchmarks: where the repo and the shared data are,
// summary statistics, and writing results as JSON plus markdown.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, totalmem } from 'node:os';

/** The repository root (benchmarks run from dist/bench/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'Makefile'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the repository root above ${fileURLToPath(import.meta.url)}`);
}

/** ../shared/data beside the repository, or null when it is absent. */
export function sharedDataDir(): string | null {
  const dir = join(repoRoot(), '..', 'shared', 'data');
  return existsSync(dir) ? dir : null;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function stats(samples: number[]): Stats {
  if (samples.length === 0) throw new RangeError('stats: no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, runs: sorted.length };
}

/** Percentile (0–100) of samples by nearest rank. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function machineInfo(): Record<string, unknown> {
  return { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem(), platform: process.platform };
}

/** Where results go: bench/results, or TSRAFT_BENCH_RESULTS_DIR when set
 *  (the harness's quick mode writes there, keeping the full results intact). */
export function resultsDir(): string {
  return process.env.TSRAFT_BENCH_RESULTS_DIR ?? join(repoRoot(), 'bench', 'results');
}

/** Writes <resultsDir>/<name>.json and <name>.md. */
export function writeResults(name: string, json: Record<string, unknown>, markdown: string): void {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const body = { name, date: new Date().toISOString(), machine: machineInfo(), ...json };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(body, null, 2) + '\n');
  writeFileSync(join(dir, `${name}.md`), markdown.endsWith('\n') ? markdown : markdown + '\n');
  console.log(`wrote ${join(dir, name)}.json and ${name}.md`);
}

export function fmt(n: number, digits = 1): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(digits)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(digits)} k`;
  return n.toFixed(digits);
}

/** The value after `--name` on the command line, or `fallback`. */
export function argValue(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1]! : fallback;
}

/** V8's gc(), for a process started with --expose-gc (memory benchmarks' children). */
export function requireGc(who: string): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error(`${who}: run the measuring process with --expose-gc`);
  return gc;
}

/** Resident set size and live JavaScript memory (V8 heap + array buffers), bytes. */
export function memoryNow(): { rss: number; heap: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.arrayBuffers };
}

/** The highest memoryNow() seen by sample() since construction (the baseline). */
export class PeakMemory {
  readonly before = memoryNow();
  peak = { ...this.before };

  constructor(private readonly gc: () => void) {}

  /** Records the memory now; with `collect`, after a full GC (live memory only). */
  sample(collect: boolean): void {
    if (collect) this.gc();
    const now = memoryNow();
    this.peak = { rss: Math.max(this.peak.rss, now.rss), heap: Math.max(this.peak.heap, now.heap) };
  }
}
