// Checks that need a tool from outside npm (promtool, Chromium), which
// `make test` installs with apt-get (Makefile, target test-tools). Under CI
// (environment variable CI set, as CI services do: CI=true) a missing tool
// fails the test, so a green CI run means every check ran. Elsewhere the test
// is skipped and says which tool is missing and how to install it.
import type { TestContext } from 'vitest';

export interface RequiredTool {
  /** What is missing, e.g. "promtool" or "/usr/bin/chromium". */
  name: string;
  /** The command that installs it, e.g. "sudo apt-get install prometheus". */
  install: string;
}

export const PROMTOOL: RequiredTool = { name: 'promtool', install: 'sudo apt-get install prometheus' };
export const CHROMIUM: RequiredTool = { name: '/usr/bin/chromium', install: 'sudo apt-get install chromium' };

/** Whether the tests run under CI: CI set to anything but "", "0" or "false". */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== '0' && value !== 'false';
}

/** Ends a test that cannot run without `tool`: fails under CI, skips (saying why) elsewhere. */
export function missingTool(context: Pick<TestContext, 'skip'>, tool: RequiredTool, env: NodeJS.ProcessEnv = process.env): never {
  const how = `install it with \`${tool.install}\` (\`make test\` installs it when apt-get is available)`;
  if (underCi(env)) throw new Error(`${tool.name} is not installed, and under CI (CI=${env.CI}) a check that cannot run fails: ${how}`);
  const message = `${tool.name} is not installed, so this check did not run: ${how}`;
  console.warn(`skipped: ${message}`);
  return context.skip(message);
}
