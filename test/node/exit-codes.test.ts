import { describe, expect, it } from 'vitest';
import { AssertionError, TsraftError } from '../../src/errors.js';
import { EXIT_CODES, exitCodeFor } from '../../src/node/exit-codes.js';

function levelError(code: string, message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code });
}

describe('fatal errors map to distinct exit codes', () => {
  it('maps corruption codes, whatever layer wrapped them, to 10', () => {
    expect(exitCodeFor(new TsraftError('TSR_ERR_CORRUPT_LOG', 'entry 7'))).toBe(EXIT_CODES.corruptData);
    expect(exitCodeFor(new Error('apply failed', { cause: new TsraftError('TSR_ERR_CORRUPT_ENTRY', 'x') }))).toBe(EXIT_CODES.corruptData);
    expect(exitCodeFor(levelError('LEVEL_CORRUPTION', 'Corruption: block checksum mismatch'))).toBe(EXIT_CODES.corruptData);
  });

  it('tells a full disk (12) from another I/O error (13)', () => {
    expect(exitCodeFor(levelError('LEVEL_IO_ERROR', 'IO error: /data/db/000005.log: No space left on device'))).toBe(EXIT_CODES.diskFull);
    expect(exitCodeFor(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).toBe(EXIT_CODES.diskFull);
    expect(exitCodeFor(levelError('LEVEL_IO_ERROR', 'IO error: /data/db/LOCK: Input/output error'))).toBe(EXIT_CODES.ioError);
    expect(exitCodeFor(Object.assign(new Error('read-only'), { code: 'EROFS' }))).toBe(EXIT_CODES.ioError);
  });

  it('maps a locked data directory to 5 and a busy port to 4', () => {
    expect(exitCodeFor(levelError('LEVEL_DATABASE_NOT_OPEN', 'Database failed to open', levelError('LEVEL_LOCKED', 'lock held')))).toBe(EXIT_CODES.dataDirLocked);
    expect(exitCodeFor(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }))).toBe(EXIT_CODES.addressInUse);
  });

  it('maps configuration and format errors to 3 and 11, and anything else to 1', () => {
    expect(exitCodeFor(new TsraftError('TSR_ERR_INVALID_CONFIG', 'x'))).toBe(EXIT_CODES.config);
    expect(exitCodeFor(new TsraftError('TSR_ERR_STORAGE_FORMAT', 'x'))).toBe(EXIT_CODES.storageFormat);
    expect(exitCodeFor(new AssertionError('bug'))).toBe(EXIT_CODES.internal);
    expect(exitCodeFor('a string')).toBe(EXIT_CODES.internal);
  });

  it('gives every exit code its own number', () => {
    const values = Object.values(EXIT_CODES);
    expect(new Set(values).size).toBe(values.length);
  });
});
