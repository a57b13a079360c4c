// Markdown from a harness summary: bench/results/SUMMARY.md, and the block
// between the markers in README.md's Benchmarks section.
import { formatMet, formatNumber, formatSpread, formatTarget, meetsTarget, type Figure } from './figures.js';
import type { RatioRow } from './peers.js';
import type { BenchmarkOutcome, HarnessSummary } from './summary.js';

export const README_START = '<!-- bench-summary:start — written by `make bench` (bench/harness/render.ts); edits here are overwritten -->';
export const README_END = '<!-- bench-summary:end -->';

/** "2026-11-21 11:44 UTC" */
export function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

/** Table cells must not contain a bare pipe. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

export function machineLine(s: HarnessSummary): string {
  const m = s.machine;
  return `${m.cores} × ${m.cpuModel}, ${gib(m.memoryBytes)} memory, ${m.platform} ${m.release} ${m.arch}, Node ${m.node}`;
}

function loadRange(values: readonly number[]): string {
  if (values.length === 0) return '—';
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? lo.toFixed(1) : `${lo.toFixed(1)}–${hi.toFixed(1)}`;
}

/**
 * When the figures in a summary were measured: from the first benchmark's
 * start to the last one's end (a partial run keeps older benchmarks), and the
 * 1-minute load averages recorded before each invocation.
 */
export function measuredSpan(s: HarnessSummary): { from: string; to: string; loads: number[] } {
  if (s.benchmarks.length === 0) return { from: s.startedAt, to: s.finishedAt, loads: [s.loadAverage.start, s.loadAverage.end] };
  const starts = s.benchmarks.map((b) => Date.parse(b.date));
  const ends = s.benchmarks.map((b) => Date.parse(b.date) + b.durationSeconds * 1000);
  const loads = s.benchmarks.flatMap((b) => b.loadAverages);
  return { from: new Date(Math.min(...starts)).toISOString(), to: new Date(Math.max(...ends)).toISOString(), loads: loads.length > 0 ? loads : [s.loadAverage.start, s.loadAverage.end] };
}

function runsText(f: Figure): string {
  if (f.exact === true) return 'exact';
  return String(f.value.runs);
}

interface Row {
  figure: Figure;
  benchmark: BenchmarkOutcome;
}

function rowsOf(s: HarnessSummary, headline: boolean): Row[] {
  return s.benchmarks.filter((b) => b.status === 'ok').flatMap((b) => b.figures.filter((f) => f.headline === headline).map((figure) => ({ figure, benchmark: b })));
}

function labelWithNote(f: Figure): string {
  return f.note === undefined ? f.label : `${f.label} — ${f.note}`;
}

export function figureTable(rows: readonly Row[], withCommand: boolean): string[] {
  const header = withCommand ? '| figure | median (min–max) | runs | target | met | reproduce |' : '| figure | median (min–max) | runs | target | met |';
  const rule = withCommand ? '| --- | ---: | ---: | --- | --- | --- |' : '| --- | ---: | ---: | --- | --- |';
  const lines = [header, rule];
  for (const { figure: f, benchmark } of rows) {
    const cells = [cell(labelWithNote(f)), formatSpread(f.unit, f.value, f.exact === true), runsText(f), cell(formatTarget(f.unit, f.target)), formatMet(meetsTarget(f.value.median, f.target))];
    if (withCommand) cells.push(`\`${cell(benchmark.command)}\``);
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}

function ratioText(r: RatioRow): string {
  const median = `**${formatNumber('times', r.ratio.median)}×**`;
  return r.ratio.min === r.ratio.max ? median : `${median} (${formatNumber('times', r.ratio.min)}–${formatNumber('times', r.ratio.max)})`;
}

export function ratioTable(rows: readonly RatioRow[]): string[] {
  const lines = ['| figure | ours | peer | ours ÷ peer | target | met | measured |', '| --- | ---: | ---: | ---: | --- | --- | --- |'];
  for (const r of rows) {
    const label = r.note === undefined ? r.label : `${r.label} — ${r.note}`;
    const better = r.better === 'higher' ? 'higher is better' : 'lower is better';
    lines.push(
      `| ${cell(label)} (${better}) | ${formatSpread(r.unit, r.ours)} | ${cell(r.peerName)}: ${formatSpread(r.unit, r.peer)} | ${ratioText(r)} | ${cell(r.target === undefined ? '—' : formatTarget('times', r.target))} | ${formatMet(r.met)} | ours ${formatDate(r.oursDate)}; peer ${formatDate(r.peerDate)} |`,
    );
  }
  return lines;
}

function versionsLine(s: HarnessSummary): string {
  const ours = Object.entries(s.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const peers: string[] = [];
  if (s.peers.etcd !== undefined) peers.push(`etcd ${s.peers.etcd.version}${s.peers.etcd.packageVersion === null ? '' : ` (Debian ${s.peers.etcd.packageVersion})`}`);
  if (s.peers.victoriaMetrics !== undefined) peers.push(`VictoriaMetrics (Debian ${s.peers.victoriaMetrics.version})`);
  return peers.length === 0 ? ours : `${ours}; peers: ${peers.join(', ')}`;
}

function datasetLines(s: HarnessSummary): string[] {
  const lines: string[] = [];
  const d = s.dataset.devops;
  lines.push(d === null ? '  - devops: `../shared/data/devops-1d.put.gz` absent; the benchmarks that need it are skipped.' : `  - devops: \`${d.path}\`, ${d.bytes.toLocaleString('en-US')} bytes, sha256 \`${d.sha256}\`, ${d.points.toLocaleString('en-US')} points (put lines).`);
  const n = s.dataset.nab;
  lines.push(n === null ? '  - NAB: `../shared/data/nab/` absent.' : `  - NAB: \`${n.path}\`, ${n.files} CSV files.`);
  lines.push('  - Other workloads are generated by the benchmark scripts (synthetic series for ingest and single-point writes; seeded simulator runs).');
  return lines;
}

function outcomeLines(s: HarnessSummary): string[] {
  const lines = ['| benchmark | status | started | duration | load average at start | commit | command |', '| --- | --- | --- | ---: | ---: | --- | --- |'];
  for (const b of s.benchmarks) {
    const status = b.status === 'ok' ? 'ok' : `**${b.status}**: ${cell(b.reason ?? '')}`;
    lines.push(`| ${b.name} | ${status} | ${formatDate(b.date)} | ${Math.round(b.durationSeconds)} s | ${loadRange(b.loadAverages)} | ${b.commit ?? '—'} | \`${cell(b.command)}\` |`);
  }
  return lines;
}

export function renderSummaryMarkdown(s: HarnessSummary): string {
  const quick = s.mode === 'quick';
  const span = measuredSpan(s);
  const lines = [
    quick ? '# Benchmark summary (quick mode)' : '# Benchmark summary',
    '',
    quick
      ? 'Written by `make bench-quick`: short runs for development, **not** the published figures (those are in bench/results/SUMMARY.md, from `make bench`).'
      : 'Written by the bench harness (`make bench`; `make bench-peers` adds the peer comparison). Every figure is the median of its runs with the min–max range; "exact" marks sizes that are the same on every run.',
    '',
    `- Measured: ${formatDate(span.from)} to ${formatDate(span.to)} (each benchmark's own date is under Runs; last command: \`${s.command}\`).`,
    `- Machine: ${machineLine(s)}. 1-minute load average ${loadRange(span.loads)} before the benchmarks: the ${s.machine.cores} cores are shared with other work, and the throughput figures move with it (each benchmark's load average is under Runs).`,
    `- Versions: ${versionsLine(s)}.`,
    '- Data:',
    ...datasetLines(s),
    '',
    '## Headline figures',
    '',
    ...figureTable(rowsOf(s, true), true),
    '',
  ];
  const c = s.comparisons;
  lines.push('## Against etcd and VictoriaMetrics', '');
  if (c.rows.length > 0) {
    lines.push(
      'Measured on the same machine by `make bench-peers` (bench/peers/, docs/benchmarks.md); ours ÷ peer is the ratio of medians, the range from the extremes (our min ÷ their max, our max ÷ their min).',
      '',
      ...ratioTable(c.rows),
      '',
    );
  }
  if (c.missing.length > 0) lines.push(...c.missing.map((m) => `- Not compared: ${m}.`), '');
  const details = rowsOf(s, false);
  if (details.length > 0) lines.push('## More figures', '', ...figureTable(details, true), '');
  lines.push(
    '## Runs',
    '',
    ...outcomeLines(s),
    '',
    '## Reproduce',
    '',
    '```sh',
    'make bench        # every benchmark, full length (node dist/bench/run.js --all; 15–30 minutes)',
    'make bench-quick  # a short version for development, under 2 minutes (results in bench/results/quick/)',
    'make bench-peers  # etcd and VictoriaMetrics side by side (installs them with apt-get if missing)',
    'node dist/bench/run.js --render   # this file again from bench/results/summary.json and the peer results',
    '```',
    '',
    'Each benchmark also writes its own `bench/results/<name>.json` and `.md`; `bench/results/summary.json` holds every figure above with its samples.',
    '',
  );
  return lines.join('\n');
}

/** The generated part of README.md's Benchmarks section. */
export function renderReadmeBlock(s: HarnessSummary): string {
  const span = measuredSpan(s);
  const lines = [
    README_START,
    '',
    `Latest run: ${formatDate(span.from)} to ${formatDate(span.to)}, on ${machineLine(s)} (1-minute load average ${loadRange(span.loads)}; the cores are shared with other work, so throughput moves with it). Medians with min–max; commands, versions and dataset in [bench/results/SUMMARY.md](bench/results/SUMMARY.md).`,
    '',
    ...figureTable(rowsOf(s, true), false),
    '',
  ];
  if (s.comparisons.rows.length > 0) lines.push('Against the peers (`make bench-peers`, same machine):', '', ...ratioTable(s.comparisons.rows), '');
  const notRun = s.benchmarks.filter((b) => b.status !== 'ok');
  if (notRun.length > 0) lines.push(...notRun.map((b) => `- ${b.title}: ${b.status} (${b.reason ?? ''}).`), '');
  lines.push(README_END);
  return lines.join('\n');
}

/** README with the block between the markers replaced; null when the markers are missing or out of order. */
export function replaceReadmeBlock(readme: string, block: string): string | null {
  const start = readme.indexOf(README_START);
  const end = readme.indexOf(README_END);
  if (start < 0 || end < 0 || end < start) return null;
  return readme.slice(0, start) + block + readme.slice(end + README_END.length);
}
