// Runs Prometheus's promtool (Debian package `prometheus`, installed by
// `make test` when apt-get is available). A test that needs it and does not
// find it calls missingTool(PROMTOOL) (test/required-tool.ts): a failure
// naming the tool and how to install it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CANDIDATES = ['/usr/bin/promtool', '/usr/local/bin/promtool'];

/** The promtool binary, or null when it is not installed. */
export function findPromtool(): string | null {
  for (const path of CANDIDATES) if (existsSync(path)) return path;
  const which = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : null;
}

export interface PromtoolRun {
  code: number | null;
  output: string;
}

export function runPromtool(promtool: string, args: string[], input?: string): PromtoolRun {
  const run = spawnSync(promtool, args, { input, encoding: 'utf8', timeout: 30_000 });
  return { code: run.status, output: `${run.stdout ?? ''}${run.stderr ?? ''}` };
}
