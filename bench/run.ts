// The bench harness: runs the benchmarks one after another (each its own
// process, in its own process group: the machine has 2 cores), reads each
// one's bench/results/<name>.json, and writes bench/results/summary.json,
// bench/results/SUMMARY.md and the README's Benchmarks table.
//
//   node dist/bench/run.js --all      every benchmark, full length (make bench)
//   node dist/bench/run.js --quick    a short version, under 2 minutes (make bench-quick);
//                                     results in bench/results/quick/, README untouched
//   node dist/bench/run.js --peers    after bench/peers/setup.sh (make bench-peers): runs our
//                                     side of the comparisons again, in the same session as the
//                                     peers, and adds the ratio rows; never runs the peers
//   node dist/bench/run.js --render   no runs: SUMMARY.md and README from summary.json
//   options: --only a,b (those benchmarks, kept with the rest of the last summary), --no-readme
//
// A benchmark that cannot run here (no ../shared/data, a script not built)
// is listed as skipped with the reason; one that crashes or times out as
// failed. The harness always writes the summary, and exits 1 only when a
// benchmark failed.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { mergeInvocations, type Figure } from './harness/figures.js';
import { computeRatios, readEtcd, readVm, type EtcdSide, type OurFigure, type VmSide } from './harness/peers.js';
import { BENCHMARKS, benchmarkNamed, commandFor, type BenchmarkDef, type Mode } from './harness/registry.js';
import { renderReadmeBlock, renderSummaryMarkdown, replaceReadmeBlock } from './harness/render.js';
import { JsonReader } from './harness/result-file.js';
import { exitCodeFor, figuresById, mergeOutcomes, parseSummary, type BenchmarkOutcome, type DatasetDescription, type HarnessSummary, type PeerVersions } from './harness/summary.js';
import { repoRoot, sharedDataDir } from './lib.js';

type Action = 'all' | 'quick' | 'peers' | 'render';

interface Options {
  action: Action;
  mode: Mode;
  only: string[] | null;
  readme: boolean;
}

const USAGE = 'usage: node dist/bench/run.js --all | --quick | --peers | --render [--only NAME,NAME] [--no-readme]';

/** A benchmark invocation that runs longer than this is stopped and counted as failed. */
const TIMEOUT_MS: Record<Mode, number> = { full: 45 * 60_000, quick: 4 * 60_000 };
/** Lines of a child's output kept to explain a skip or a failure. */
const TAIL_LINES = 30;

function parseOptions(argv: readonly string[]): Options {
  const actions: Action[] = [];
  let only: string[] | null = null;
  let readme = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--all') actions.push('all');
    else if (a === '--quick') actions.push('quick');
    else if (a === '--peers') actions.push('peers');
    else if (a === '--render') actions.push('render');
    else if (a === '--no-readme') readme = false;
    else if (a === '--only') {
      const v = argv[++i];
      if (v === undefined) usage('--only needs a list of benchmark names');
      only = v.split(',').filter((n) => n !== '');
      for (const n of only) if (benchmarkNamed(n) === undefined) usage(`--only: no benchmark named ${n} (known: ${BENCHMARKS.map((b) => b.name).join(', ')})`);
    } else usage(`unknown argument ${a}`);
  }
  if (actions.length !== 1) usage('give exactly one of --all, --quick, --peers, --render');
  const action = actions[0]!;
  return { action, mode: action === 'quick' ? 'quick' : 'full', only, readme };
}

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------
// Children

interface ChildResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  stdoutTail: string[];
  stderrTail: string[];
}

let running: { pid: number } | null = null;
/** Set by SIGINT/SIGTERM: the running benchmark is being stopped and no other may start. */
let stopping = false;

/** Ends a child's whole process group (the benchmark and the nodes it started). */
function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroup(pid: number): Promise<void> {
  killGroup(pid, 'SIGTERM');
  for (let i = 0; i < 100 && groupAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  if (groupAlive(pid)) killGroup(pid, 'SIGKILL');
}

function pushTail(tail: string[], line: string): void {
  tail.push(line);
  if (tail.length > TAIL_LINES) tail.shift();
}

async function runChild(name: string, script: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ChildResult> {
  // detached: its own process group, so a timeout or Ctrl-C ends the tsraft
  // processes it started too, and the terminal's Ctrl-C reaches only us.
  const child = spawn(process.execPath, [script, ...args], { cwd: repoRoot(), env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const result: ChildResult = { exitCode: null, signal: null, timedOut: false, stdoutTail: [], stderrTail: [] };
  if (child.pid !== undefined) {
    running = { pid: child.pid };
    // A signal that came while this child was being started.
    if (stopping) void stopGroup(child.pid);
  }
  const prefix = `[${name}] `;
  const out = createInterface({ input: child.stdout });
  out.on('line', (line) => {
    process.stdout.write(prefix + line + '\n');
    pushTail(result.stdoutTail, line);
  });
  const err = createInterface({ input: child.stderr });
  err.on('line', (line) => {
    process.stderr.write(prefix + line + '\n');
    pushTail(result.stderrTail, line);
  });
  const timer = setTimeout(() => {
    result.timedOut = true;
    if (child.pid !== undefined) void stopGroup(child.pid);
  }, timeoutMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c, s) => resolve([c, s]));
  });
  clearTimeout(timer);
  // Whatever the benchmark left behind in its group (it should leave nothing).
  if (child.pid !== undefined && groupAlive(child.pid)) await stopGroup(child.pid);
  running = null;
  result.exitCode = code;
  result.signal = signal;
  return result;
}

function failureReason(r: ChildResult, timeoutMs: number): string {
  const what = r.timedOut ? `timed out after ${Math.round(timeoutMs / 60_000)} min` : r.signal !== null ? `killed by ${r.signal}` : `exit status ${r.exitCode}`;
  const lastError = [...r.stderrTail].reverse().find((l) => /error|Error|failed|assert/.test(l)) ?? r.stderrTail[r.stderrTail.length - 1];
  return lastError === undefined ? what : `${what}: ${lastError.trim().slice(0, 300)}`;
}

/** Why a benchmark that exited 0 wrote no result: its own words, if it said. */
function skipReason(r: ChildResult): string {
  const said = [...r.stdoutTail].reverse().find((l) => /skip|absent|not found|nothing to measure/i.test(l)) ?? r.stdoutTail[r.stdoutTail.length - 1];
  return said === undefined ? 'wrote no result file' : `wrote no result file: ${said.trim().slice(0, 300)}`;
}

// ---------------------------------------------------------------------------
// One benchmark

function resultsDirFor(mode: Mode): string {
  return process.env.TSRAFT_BENCH_RESULTS_DIR ?? join(repoRoot(), 'bench', 'results', ...(mode === 'quick' ? ['quick'] : []));
}

async function runBenchmark(def: BenchmarkDef, mode: Mode, resultsDir: string): Promise<BenchmarkOutcome> {
  const started = Date.now();
  const base = { name: def.name, title: def.title, mode, date: new Date(started).toISOString(), command: commandFor(def, mode), loadAverages: [] as number[], commit: commitDescription() };
  const done = (status: BenchmarkOutcome['status'], figures: Figure[], reason?: string): BenchmarkOutcome => ({
    ...base,
    status,
    ...(reason === undefined ? {} : { reason }),
    durationSeconds: (Date.now() - started) / 1000,
    figures,
  });
  const data = sharedDataDir();
  const missing = def.requires.filter((f) => data === null || !existsSync(join(data, f)));
  if (missing.length > 0) return done('skipped', [], `../shared/data/${missing.join(', ../shared/data/')} not found`);
  const script = join(repoRoot(), 'dist', 'bench', def.script);
  if (!existsSync(script)) return done('skipped', [], `dist/bench/${def.script} is not built (bench/${def.script.replace(/\.js$/, '.ts')} missing?)`);
  const env = { ...process.env, TSRAFT_BENCH_RESULTS_DIR: resultsDir };
  const resultFile = join(resultsDir, `${def.name}.json`);
  const invocations: Figure[][] = [];
  const times = def.invocations[mode];
  for (let i = 0; i < times; i++) {
    if (stopping) return done('failed', invocations.length === 0 ? [] : mergeInvocations(invocations), 'interrupted');
    base.loadAverages.push(Math.round(loadavg()[0]! * 100) / 100);
    if (times > 1) console.log(`bench: ${def.name}, run ${i + 1} of ${times}`);
    const startedRun = Date.now();
    // The benchmark's temporary directories (node data, backups) go under one
    // directory per invocation, removed here even when the benchmark was
    // killed before it could clean up.
    const scratch = mkdtempSync(join(tmpdir(), 'tsraft-bench-run-'));
    let r: ChildResult;
    try {
      r = await runChild(def.name, script, def.args[mode], { ...env, TMPDIR: scratch }, TIMEOUT_MS[mode]);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    if (r.exitCode !== 0) return done('failed', [], failureReason(r, TIMEOUT_MS[mode]));
    // A result file older than this run is an earlier run's: the benchmark skipped itself.
    if (!existsSync(resultFile) || statSync(resultFile).mtimeMs < startedRun - 1000) return done('skipped', [], skipReason(r));
    try {
      const figures = def.extract(JsonReader.parse(readFileSync(resultFile, 'utf8'), relative(repoRoot(), resultFile)));
      if (figures.length === 0) return done('skipped', [], `${relative(repoRoot(), resultFile)} holds no figures (data absent?)`);
      invocations.push(figures);
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      return done('failed', [], `reading its result: ${(error as Error).message}`);
    }
  }
  return done('ok', mergeInvocations(invocations));
}

// ---------------------------------------------------------------------------
// Machine, versions, dataset, peers

function machine(): HarnessSummary['machine'] {
  return { cpuModel: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), platform: process.platform, release: release(), arch: arch(), node: process.version };
}

/**
 * HEAD's short hash, with "+ changes" when tracked files under src/ or
 * bench/ differ from it: the working tree is shared, and a benchmark measures
 * what is built, committed or not.
 */
function commitDescription(): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: repoRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no', '--', 'src', 'bench', 'sim') === '' ? head : `${head} + changes`;
  } catch {
    return 'unknown';
  }
}

function versions(): Record<string, string> {
  const root = repoRoot();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
  const out: Record<string, string> = { tsraft: pkg.version, commit: commitDescription() };
  for (const dep of [...Object.keys(pkg.dependencies ?? {}), 'typescript']) {
    const path = join(root, 'node_modules', dep, 'package.json');
    if (existsSync(path)) out[dep] = (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  }
  return out;
}

function countCsv(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += countCsv(join(dir, entry.name));
    else if (entry.name.endsWith('.csv')) n++;
  }
  return n;
}

function describeDevops(path: string): NonNullable<DatasetDescription['devops']> {
  const gz = readFileSync(path);
  const text = gunzipSync(gz);
  let points = 0;
  let lineStart = 0;
  for (let i = text.indexOf(10); i >= 0; i = text.indexOf(10, lineStart)) {
    if (i > lineStart) points++;
    lineStart = i + 1;
  }
  if (lineStart < text.length) points++;
  return { path: '../shared/data/devops-1d.put.gz', bytes: gz.length, sha256: createHash('sha256').update(gz).digest('hex').slice(0, 16), points };
}

function dataset(): DatasetDescription {
  const data = sharedDataDir();
  const devopsPath = data === null ? null : join(data, 'devops-1d.put.gz');
  const nabPath = data === null ? null : join(data, 'nab');
  return {
    devops: devopsPath !== null && existsSync(devopsPath) ? describeDevops(devopsPath) : null,
    nab: nabPath !== null && existsSync(nabPath) ? { path: '../shared/data/nab/', files: countCsv(nabPath) } : null,
  };
}

/** The peer results bench/peers/ wrote (always in bench/results/); a file that cannot be read is reported, not fatal. */
function readPeers(): { etcd: EtcdSide | null; vm: VmSide | null; problems: string[] } {
  const dir = join(repoRoot(), 'bench', 'results');
  const problems: string[] = [];
  const read = <T>(file: string, reader: (r: JsonReader) => T): T | null => {
    const path = join(dir, file);
    if (!existsSync(path)) return null;
    try {
      return reader(JsonReader.parse(readFileSync(path, 'utf8'), `bench/results/${file}`));
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) throw error;
      problems.push(`bench/results/${file} could not be read: ${(error as Error).message}`);
      return null;
    }
  };
  return { etcd: read('peers-etcd.json', readEtcd), vm: read('peers-victoria-metrics.json', readVm), problems };
}

function loadPreviousSummary(path: string, mode: Mode): HarnessSummary | null {
  if (!existsSync(path)) return null;
  try {
    const s = parseSummary(readFileSync(path, 'utf8'), relative(repoRoot(), path));
    return s.mode === mode ? s : null;
  } catch (error) {
    if (error instanceof TypeError || error instanceof RangeError) throw error;
    console.log(`bench: ignoring ${path}: ${(error as Error).message}`);
    return null;
  }
}

// ---------------------------------------------------------------------------

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const { mode } = options;
  const resultsDir = resultsDirFor(mode);
  mkdirSync(resultsDir, { recursive: true });
  const summaryPath = join(resultsDir, 'summary.json');
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg()[0]!;
  const command = `node dist/bench/run.js ${process.argv.slice(2).join(' ')}`;

  const selected =
    options.only !== null
      ? BENCHMARKS.filter((b) => options.only!.includes(b.name))
      : options.action === 'render'
        ? []
        : options.action === 'peers'
          ? BENCHMARKS.filter((b) => b.peerCounterpart)
          : [...BENCHMARKS];
  // A full run replaces the summary; a partial one keeps the other benchmarks' last results.
  const partial = options.only !== null || options.action === 'peers' || options.action === 'render';
  const previous = partial ? loadPreviousSummary(summaryPath, mode) : null;
  if (options.action === 'render' && previous === null) usage(`--render: no ${relative(repoRoot(), summaryPath)} from an earlier run`);

  // The children run in their own process groups, so a Ctrl-C reaches only
  // the harness: it stops the running benchmark's group, starts nothing more,
  // and leaves the last summary as it was.
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`bench: ${signal}: stopping the running benchmark; the last summary is left as it was\n`);
    if (running !== null) void stopGroup(running.pid);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const fresh: BenchmarkOutcome[] = [];
  for (const def of selected) {
    if (stopping) break;
    console.log(`bench: ${def.name} (${commandFor(def, mode)}), 1-minute load average ${loadavg()[0]!.toFixed(2)}`);
    const outcome = await runBenchmark(def, mode, resultsDir);
    fresh.push(outcome);
    console.log(`bench: ${def.name} ${outcome.status}${outcome.reason === undefined ? '' : `: ${outcome.reason}`} (${Math.round(outcome.durationSeconds)} s)`);
  }
  if (stopping) {
    process.exitCode = 130;
    return;
  }

  const benchmarks = mergeOutcomes(previous?.benchmarks ?? [], fresh, BENCHMARKS.map((b) => b.name));
  const peers = readPeers();
  const ours = new Map<string, OurFigure>([...figuresById({ benchmarks })].map(([id, f]) => [id, { value: f.figure.value, unit: f.figure.unit, date: f.date }]));
  const comparisons = computeRatios(ours, peers.etcd, peers.vm);
  comparisons.missing.push(...peers.problems);
  const peerVersions: PeerVersions = {};
  if (peers.etcd !== null) peerVersions.etcd = { version: peers.etcd.version, packageVersion: peers.etcd.packageVersion, date: peers.etcd.date };
  if (peers.vm !== null) peerVersions.victoriaMetrics = { version: peers.vm.version, date: peers.vm.date };
  const summary: HarnessSummary = {
    format: 'tsraft-bench-summary',
    version: 1,
    mode,
    command,
    startedAt: options.action === 'render' && previous !== null ? previous.startedAt : startedAt,
    finishedAt: options.action === 'render' && previous !== null ? previous.finishedAt : new Date().toISOString(),
    // --render describes the runs that made the figures, not the moment of rendering.
    machine: options.action === 'render' && previous !== null ? previous.machine : machine(),
    loadAverage: options.action === 'render' && previous !== null ? previous.loadAverage : { start: loadAtStart, end: loadavg()[0]! },
    versions: options.action === 'render' && previous !== null ? previous.versions : versions(),
    dataset: options.action === 'render' && previous !== null ? previous.dataset : dataset(),
    benchmarks,
    peers: peerVersions,
    comparisons,
  };
  writeFileSync(summaryPath, JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(resultsDir, 'SUMMARY.md'), renderSummaryMarkdown(summary));
  console.log(`bench: wrote ${relative(repoRoot(), summaryPath)} and SUMMARY.md`);
  if (mode === 'full' && options.readme) {
    const readmePath = join(repoRoot(), 'README.md');
    const updated = replaceReadmeBlock(readFileSync(readmePath, 'utf8'), renderReadmeBlock(summary));
    if (updated === null) console.log('bench: README.md has no bench-summary markers; left as it is');
    else {
      writeFileSync(readmePath, updated);
      console.log('bench: updated the Benchmarks table in README.md');
    }
  }
  for (const b of benchmarks.filter((x) => x.status !== 'ok')) console.log(`bench: ${b.name} ${b.status}: ${b.reason ?? ''}`);
  process.exitCode = exitCodeFor(fresh);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) await main();
