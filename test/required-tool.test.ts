import { describe, expect, it } from 'vitest';
import { CHROMIUM, PROMTOOL, missingTool } from './required-tool.js';

describe('a check whose tool is missing', () => {
  it('fails with a message naming the tool and how to install it', () => {
    expect(() => missingTool(PROMTOOL)).toThrow(/promtool is not installed, so this check cannot run: install it with `sudo apt-get install prometheus`/);
    expect(() => missingTool(CHROMIUM)).toThrow(/\/usr\/bin\/chromium is not installed.*sudo apt-get install chromium/);
  });
});
