#!/usr/bin/env node
// Runs every vitest suite and ends with the one line CI reads:
// "N passed, N failed". The counts come from vitest's JSON report, not its
// console summary, so the line stays stable whatever reporter vitest prints.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, existsSync } from 'node:fs';
import { resolve } from 'node:path';

const resultsPath = resolve('.vitest-results.json');
rmSync(resultsPath, { force: true });

// Property tests use one fixed seed here (test/setup/fast-check-seed.ts):
// FC_SEED=random make test draws new cases, FC_SEED=N replays a run.
const DEFAULT_FAST_CHECK_SEED = '20261121';
const fastCheckSeed = process.env.FC_SEED || DEFAULT_FAST_CHECK_SEED;
console.log(`run-tests: fast-check seed ${fastCheckSeed} (FC_SEED=random to explore, FC_SEED=N to replay)`);

const vitestBin = resolve('node_modules/vitest/vitest.mjs');
const run = spawnSync(
  process.execPath,
  [vitestBin, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${resultsPath}`, ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, FC_SEED: fastCheckSeed } },
);

let passed = 0;
let failed = 0;
if (existsSync(resultsPath)) {
  const report = JSON.parse(readFileSync(resultsPath, 'utf8'));
  passed = report.numPassedTests ?? 0;
  failed = report.numFailedTests ?? 0;
  // A suite that fails to load has no tests but is still a failure.
  for (const file of report.testResults ?? []) {
    if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) failed += 1;
  }
} else {
  failed += 1;
  console.error('run-tests: vitest wrote no JSON report');
}
if (run.status !== 0 && failed === 0) {
  // vitest failed for a reason outside any test (config error, unhandled rejection).
  failed += 1;
  console.error(`run-tests: vitest exited with status ${run.status}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
