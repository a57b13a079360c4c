// A worker thread of the simulator's CLI (--workers N): runs the seeds it is
// given, one after another, and posts each result to the main thread. Each
// seed's run is deterministic whichever thread runs it.
import { parentPort, workerData } from 'node:worker_threads';
import type { SimOptions } from './types.js';
import { runSeed } from './world.js';

interface WorkerInput {
  base: Omit<SimOptions, 'seed'>;
  seeds: number[];
}

const input = workerData as WorkerInput;
for (const seed of input.seeds) {
  const result = await runSeed({ ...input.base, seed });
  parentPort!.postMessage(result);
}
