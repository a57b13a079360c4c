import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, TsraftError, rethrowIfBug, AssertionError } from '../src/errors.js';

describe('error codes', () => {
  const documented = new Set(readFileSync('docs/errors.md', 'utf8').match(/TSR_ERR_[A-Z0-9_]+/g) ?? []);
  const defined = new Set(Object.keys(ERROR_CODES));

  it('documents every code defined in src/errors.ts', () => {
    expect([...defined].filter((c) => !documented.has(c))).toEqual([]);
  });

  it('defines every code documented in docs/errors.md', () => {
    expect([...documented].filter((c) => !defined.has(c))).toEqual([]);
  });

  it('documents the same HTTP status as the code table', () => {
    const doc = readFileSync('docs/errors.md', 'utf8');
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\``));
      expect(row, code).toBeDefined();
      expect(row!.split('|')[2]!.trim(), code).toBe(String(info.httpStatus));
    }
  });

  it('carries code, details and cause', () => {
    const cause = new Error('disk');
    const err = new TsraftError('TSR_ERR_NOT_LEADER', 'not leader', { details: { leader: 'n2' }, cause });
    expect(err.code).toBe('TSR_ERR_NOT_LEADER');
    expect(err.details).toEqual({ leader: 'n2' });
    expect(err.cause).toBe(cause);
    expect(err.httpStatus).toBe(421);
    expect(err).toBeInstanceOf(Error);
  });

  it('re-throws bugs from catch blocks but not expected failures', () => {
    expect(() => rethrowIfBug(new TypeError('x'))).toThrow(TypeError);
    expect(() => rethrowIfBug(new AssertionError('x'))).toThrow(AssertionError);
    expect(() => rethrowIfBug(new TsraftError('TSR_ERR_TIMEOUT', 'slow'))).not.toThrow();
  });
});
