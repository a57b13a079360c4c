#!/usr/bin/env node
// The simulator's command line (docs/simulator.md):
//   node dist/sim/cli.js --seed 42
//   node dist/sim/cli.js --seeds 1-1000 --faults all --nodes 3
//   node dist/sim/cli.js --scenario figure8 --inject-bug commit-old-term
// One JSON line per seed on stdout, then a summary line. Exit 1 on any
// violation, with the seed, the violations and the trace tail on stderr.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { BUG_NAMES, FAULT_PROFILES, SCENARIO_NAMES, type BugName, type FaultProfile, type ScenarioName, type SeedResult, type SimOptions } from './types.js';
import { DEFAULT_OPTIONS, runSeed } from './world.js';

interface CliOptions {
  seeds: number[];
  base: Omit<SimOptions, 'seed'>;
  historyDir: string;
  stopOnFailure: boolean;
  /** Worker threads running seeds in parallel (results still print in seed order). */
  workers: number;
}

const USAGE = `usage: sim [--seed N | --seeds A-B] [--nodes 3|5] [--faults ${FAULT_PROFILES.join('|')}]
           [--ops N] [--sim-seconds T] [--scenario ${SCENARIO_NAMES.join('|')}]
           [--inject-bug ${BUG_NAMES.join('|')}] [--history-dir DIR] [--keep-going] [--trace] [--workers N]`;

function fail(message: string): never {
  process.stderr.write(`sim: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function positiveInt(flag: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isSafeInteger(n) || n < 0) fail(`${flag} needs a non-negative integer, got ${raw}`);
  return n;
}

function parseSeeds(raw: string | undefined): number[] {
  if (raw === undefined) fail('--seeds needs a range like 1-300 or a list like 1,5,9');
  const seeds: number[] = [];
  for (const part of raw.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m === null) fail(`--seeds: bad range ${part}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 1_000_000) fail(`--seeds: bad range ${part}`);
    for (let s = lo; s <= hi; s++) seeds.push(s);
  }
  return seeds;
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const base: Omit<SimOptions, 'seed'> = { ...DEFAULT_OPTIONS };
  let seeds: number[] = [1];
  let historyDir = 'test-artifacts/sim';
  let keepGoing = false;
  let workers = 1;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--seed':
        seeds = [positiveInt(flag, value())];
        break;
      case '--seeds':
        seeds = parseSeeds(value());
        break;
      case '--nodes': {
        const n = positiveInt(flag, value());
        if (n !== 3 && n !== 5) fail('--nodes must be 3 or 5');
        base.nodes = n;
        break;
      }
      case '--faults': {
        const f = value();
        if (!(FAULT_PROFILES as readonly string[]).includes(f ?? '')) fail(`--faults must be one of ${FAULT_PROFILES.join(', ')}`);
        base.faults = f as FaultProfile;
        break;
      }
      case '--ops':
        base.ops = positiveInt(flag, value());
        break;
      case '--sim-seconds': {
        const t = Number(value());
        if (!(t > 0 && t <= 86_400)) fail('--sim-seconds must be in (0, 86400]');
        base.simSeconds = t;
        break;
      }
      case '--scenario': {
        const s = value();
        if (!(SCENARIO_NAMES as readonly string[]).includes(s ?? '')) fail(`--scenario must be one of ${SCENARIO_NAMES.join(', ')}`);
        base.scenario = s as ScenarioName;
        break;
      }
      case '--inject-bug': {
        const b = value();
        if (!(BUG_NAMES as readonly string[]).includes(b ?? '')) fail(`--inject-bug must be one of ${BUG_NAMES.join(', ')}`);
        base.injectBug = b as BugName;
        break;
      }
      case '--history-dir':
        historyDir = value() ?? fail('--history-dir needs a directory');
        break;
      case '--keep-going':
        keepGoing = true;
        break;
      case '--trace':
        base.traceSink = (line) => process.stderr.write(`${line}\n`);
        break;
      case '--workers': {
        const n = positiveInt(flag, value());
        if (n < 1 || n > availableParallelism() * 2) fail(`--workers must be in [1, ${availableParallelism() * 2}]`);
        workers = n;
        break;
      }
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${flag}`);
    }
  }
  // Hunting a planted bug stops at the first seed that catches it.
  // A trace sink cannot cross threads: tracing runs in this thread.
  if (base.traceSink !== undefined) workers = 1;
  return { seeds, base, historyDir, stopOnFailure: base.injectBug !== null && !keepGoing, workers: Math.min(workers, seeds.length) };
}

function seedLine(r: SeedResult): string {
  const { trace_tail: _tail, history: _history, ...line } = r;
  return JSON.stringify(line);
}

function replayCommand(r: SeedResult, base: Omit<SimOptions, 'seed'>): string {
  const parts = ['npm run sim --', `--seed ${r.seed}`, `--nodes ${base.nodes}`, `--faults ${base.faults}`, `--ops ${base.ops}`, `--sim-seconds ${base.simSeconds}`];
  if (base.scenario !== null) parts.push(`--scenario ${base.scenario}`);
  if (base.injectBug !== null) parts.push(`--inject-bug ${base.injectBug}`);
  return parts.join(' ');
}

/** Results in seed order, from this thread or from `cli.workers` worker
 *  threads (seeds dealt round-robin; each worker runs its own in order). */
function resultsInSeedOrder(cli: CliOptions): { results: AsyncGenerator<SeedResult>; stop: () => Promise<void> } {
  if (cli.workers <= 1) {
    return {
      results: (async function* () {
        for (const seed of cli.seeds) yield await runSeed({ ...cli.base, seed });
      })(),
      stop: async () => {},
    };
  }
  const arrived = new Map<number, SeedResult>();
  let wake: (() => void) | null = null;
  let failure: unknown = null;
  const workers: Worker[] = [];
  for (let w = 0; w < cli.workers; w++) {
    const seeds = cli.seeds.filter((_, i) => i % cli.workers === w);
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { base: cli.base, seeds } });
    worker.on('message', (r: SeedResult) => {
      arrived.set(r.seed, r);
      wake?.();
    });
    worker.on('error', (error) => {
      failure = error;
      wake?.();
    });
    workers.push(worker);
  }
  return {
    results: (async function* () {
      for (const seed of cli.seeds) {
        while (!arrived.has(seed)) {
          if (failure !== null) throw failure;
          await new Promise<void>((resolve) => (wake = resolve));
        }
        const r = arrived.get(seed)!;
        arrived.delete(seed);
        yield r;
      }
    })(),
    stop: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

async function main(): Promise<void> {
  const cli = parseArgs(process.argv.slice(2));
  const wallStart = performance.now();
  let failed = 0;
  let violations = 0;
  let acked = 0;
  let lost = 0;
  let reads = 0;
  let simSeconds = 0;
  let runWallSeconds = 0;
  let ran = 0;
  const failedSeeds: number[] = [];
  let lastHash = '';
  const totals: Record<(typeof SUMMED_COUNTERS)[number], number> = Object.fromEntries(SUMMED_COUNTERS.map((c) => [c, 0])) as Record<(typeof SUMMED_COUNTERS)[number], number>;
  let maxInFlight = 0;
  const stream = resultsInSeedOrder(cli);
  for await (const r of stream.results) {
    const seed = r.seed;
    ran++;
    process.stdout.write(`${seedLine(r)}\n`);
    acked += r.acked_writes;
    lost += r.lost_writes;
    reads += r.reads_checked;
    for (const c of SUMMED_COUNTERS) totals[c] += r[c];
    maxInFlight = Math.max(maxInFlight, r.max_in_flight);
    simSeconds += r.sim_seconds;
    runWallSeconds += r.wall_seconds;
    lastHash = r.trace_hash;
    if (!r.ok) {
      failed++;
      violations += r.violations.length;
      failedSeeds.push(seed);
      const report = [`seed ${seed} FAILED (${r.violations.length} violation(s))`, ...r.violations.map((v) => `  [${v.checker}] at ${v.atMs} ms: ${v.message}`)];
      if (r.history !== undefined) {
        mkdirSync(cli.historyDir, { recursive: true });
        const file = join(cli.historyDir, `seed-${seed}-history.json`);
        writeFileSync(file, JSON.stringify({ seed, violations: r.violations, history: r.history }, null, 1));
        report.push(`  client history written to ${file}`);
      }
      report.push('  trace tail:', ...(r.trace_tail ?? []).map((l) => `    ${l}`), `  replay: ${replayCommand(r, cli.base)}`);
      process.stderr.write(`${report.join('\n')}\n`);
      if (cli.stopOnFailure) break;
    }
  }
  await stream.stop();
  const wallSeconds = (performance.now() - wallStart) / 1000;
  const summary: Record<string, unknown> = {
    summary: true,
    seeds: ran,
    failed,
    violations,
    acked_writes: acked,
    lost_writes: lost,
    reads_checked: reads,
    ...totals,
    max_in_flight: maxInFlight,
    sim_seconds: Math.round(simSeconds * 1000) / 1000,
    wall_seconds: Math.round(wallSeconds * 1000) / 1000,
    speedup: runWallSeconds > 0 ? Math.round((simSeconds / runWallSeconds) * 10) / 10 : null,
    failed_seeds: failedSeeds.slice(0, 100),
    nodes: cli.base.nodes,
    faults: cli.base.faults,
    scenario: cli.base.scenario,
    inject_bug: cli.base.injectBug,
  };
  if (ran === 1) summary.trace_hash = lastHash;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = failed > 0 ? 1 : 0;
}

/** Per-seed counters the summary line adds up (pipelining, the query path, forwarding). */
const SUMMED_COUNTERS = [
  'linearizable_reads',
  'stale_reads',
  'pipelined_writes',
  'write_retries',
  'out_of_order_writes',
  'duplicate_writes',
  'expired_writes',
  'anywhere_writes',
  'forwarded_puts',
  'forwarded_not_leader',
  'forward_timeouts',
  'forward_in_flight_refused',
  'forwarded_together',
] as const;

await main();
