#!/usr/bin/env node
// A small lint step run by `make test`. It enforces the rules the type
// checker cannot: the consensus core and the state machine stay pure
// (no I/O, clock or randomness), and no focused or skipped test is left behind.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, out = []) {
  let names;
  try { names = readdirSync(dir); } catch { return out; }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

const problems = [];
const pureRooms = ['src/raft', 'src/tsdb'];
const impure = [
  [/from\s+['"](node:)?(fs|fs\/promises|net|http|https|http2|tls|dgram|child_process|worker_threads|cluster|os|crypto|timers|perf_hooks)['"]/, 'imports an I/O or platform module'],
  [/from\s+['"](ws|classic-level|cbor-x|prom-client)['"]/, 'imports an I/O library'],
  [/\bDate\.now\s*\(|\bnew Date\s*\(\s*\)|\bperformance\.now\s*\(/, 'reads the clock'],
  [/\bMath\.random\s*\(/, 'draws randomness (inject a seeded PRNG)'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'uses a timer (time comes from tick())'],
  [/\bprocess\./, 'touches the process'],
  [/\brequire\s*\(/, 'uses require'],
];
for (const room of pureRooms) {
  for (const file of walk(room)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/^\s*(\/\/|\*)/.test(line)) return;
      for (const [re, why] of impure) if (re.test(line)) problems.push(`${file}:${i + 1}: ${why}: ${line.trim()}`);
    });
  }
}
for (const room of ['test', 'sim', 'src', 'bench']) {
  for (const file of walk(room)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/\b(it|test|describe)\.(only|skip|todo)\s*\(/.test(line)) problems.push(`${file}:${i + 1}: focused or skipped test left behind`);
      if (/expect\(true\)\.toBe\(true\)|expect\(1\)\.toBe\(1\)/.test(line)) problems.push(`${file}:${i + 1}: assertion that cannot fail`);
    });
  }
}
if (problems.length > 0) {
  console.error(`lint: ${problems.length} problem(s)`);
  for (const p of problems) console.error('  ' + p);
  process.exit(1);
}
console.log('lint: ok');
