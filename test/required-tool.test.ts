import { describe, expect, it } from 'vitest';
import { PROMTOOL, missingTool, underCi } from './required-tool.js';

/** Stands in for vitest's context.skip, which throws to end the test. */
class Skipped extends Error {}
const context = {
  skip: (note?: string): never => {
    throw new Skipped(note);
  },
};

describe('a check whose tool is missing', () => {
  it('takes CI=true or CI=1 for CI, and an unset, empty, 0 or false CI for a developer machine', () => {
    expect([{ CI: 'true' }, { CI: '1' }, { CI: 'TRUE' }].map((env) => underCi(env))).toEqual([true, true, true]);
    expect([{}, { CI: '' }, { CI: '0' }, { CI: 'false' }].map((env) => underCi(env))).toEqual([false, false, false, false]);
  });

  it('fails under CI with a message saying how to install the tool', () => {
    expect(() => missingTool(context, PROMTOOL, { CI: 'true' })).toThrow(/promtool is not installed.*CI=true.*sudo apt-get install prometheus/);
    expect(() => missingTool(context, PROMTOOL, { CI: 'true' })).not.toThrow(Skipped);
  });

  it('skips outside CI, saying which tool is missing and how to install it', () => {
    const warn = console.warn;
    const printed: string[] = [];
    console.warn = (line: string) => printed.push(line);
    try {
      expect(() => missingTool(context, PROMTOOL, {})).toThrow(Skipped);
      expect(() => missingTool(context, PROMTOOL, {})).toThrow(/promtool is not installed, so this check did not run: install it with `sudo apt-get install prometheus`/);
    } finally {
      console.warn = warn;
    }
    expect(printed[0]).toMatch(/^skipped: promtool is not installed/);
  });
});
