// Checks that need a tool from outside npm (promtool, Chromium), which
// `make test` installs with apt-get (Makefile, target test-tools). A missing
// tool fails the test with the command that installs it: a green run means
// every check ran, on CI and on a developer's machine alike.

export interface RequiredTool {
  /** What is missing, e.g. "promtool" or "/usr/bin/chromium". */
  name: string;
  /** The command that installs it, e.g. "sudo apt-get install prometheus". */
  install: string;
}

export const PROMTOOL: RequiredTool = { name: 'promtool', install: 'sudo apt-get install prometheus' };
export const CHROMIUM: RequiredTool = { name: '/usr/bin/chromium', install: 'sudo apt-get install chromium' };

/** Ends a test that cannot run without `tool` with a failure saying how to install it. */
export function missingTool(tool: RequiredTool): never {
  throw new Error(`${tool.name} is not installed, so this check cannot run: install it with \`${tool.install}\` (\`make test\` installs it when apt-get is available)`);
}
