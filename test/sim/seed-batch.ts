// Runs a batch of simulator seeds and reports every failing seed with its
// violations and the command that replays it.
import { expect } from 'vitest';
import type { SimOptions } from '../../sim/types.js';
import { runSeed } from '../../sim/world.js';

export async function expectSeedsPass(first: number, last: number, options: Partial<Omit<SimOptions, 'seed'>> = {}): Promise<void> {
  const failures: string[] = [];
  for (let seed = first; seed <= last; seed++) {
    const r = await runSeed({ ...options, seed });
    if (!r.ok) {
      const replay = `npm run sim -- --seed ${seed} --nodes ${options.nodes ?? 3} --faults ${options.faults ?? 'all'}`;
      failures.push(`seed ${seed}: ${r.violations.map((v) => `[${v.checker}] ${v.message}`).join('; ')} (replay: ${replay})\n    ${(r.trace_tail ?? []).slice(-15).join('\n    ')}`);
    }
  }
  expect(failures, failures.join('\n')).toEqual([]);
}
