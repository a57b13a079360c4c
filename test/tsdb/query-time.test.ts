import { describe, expect, it } from 'vitest';
import { parseDurationMs, parseQueryTime } from '../../src/tsdb/query/time.js';
import { TsraftError } from '../../src/errors.js';

const NOW = 1_700_000_000_000; // 2023/11/14-22:13:20 UTC
const at = (value: unknown, timezone: string | null = null): number => parseQueryTime(value, 'start', { nowMs: NOW, timezone });

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof TsraftError ? e.code : `not a TsraftError: ${String(e)}`;
  }
  return undefined;
}

describe('absolute query times', () => {
  it('reads up to ten digits as seconds and more as milliseconds', () => {
    expect(at('1700000000')).toBe(1_700_000_000_000);
    expect(at('1700000000123')).toBe(1_700_000_000_123);
    expect(at('60')).toBe(60_000);
    expect(at(1_700_000_000)).toBe(1_700_000_000_000);
  });

  it('reads seconds with a millisecond fraction and the ms suffix', () => {
    expect(at('1700000000.5')).toBe(1_700_000_000_500);
    expect(at('1700000000.123')).toBe(1_700_000_000_123);
    expect(at('1700000000123ms')).toBe(1_700_000_000_123);
  });

  it('reads the date formats in UTC', () => {
    expect(at('2023/11/14-22:13:20')).toBe(NOW);
    expect(at('2023/11/14 22:13:20')).toBe(NOW);
    expect(at('2023/11/14-22:13')).toBe(NOW - 20_000);
    expect(at('2023/11/14 22:13')).toBe(NOW - 20_000);
    expect(at('2023/11/14')).toBe(Date.UTC(2023, 10, 14));
  });

  it('reads dates in a given time zone, daylight saving included', () => {
    expect(at('2023/11/14-17:13:20', 'America/New_York')).toBe(NOW); // EST, UTC-5
    expect(at('2023/07/01-12:00:00', 'America/New_York')).toBe(Date.UTC(2023, 6, 1, 16)); // EDT, UTC-4
    expect(at('2023/11/15-07:13:20', 'Asia/Tokyo')).toBe(NOW);
    expect(at('2023/11/14-22:13:20', 'UTC')).toBe(NOW);
  });
});

describe('relative query times', () => {
  it('counts back from the given now in every unit', () => {
    expect(at('now')).toBe(NOW);
    expect(at('500ms-ago')).toBe(NOW - 500);
    expect(at('30s-ago')).toBe(NOW - 30_000);
    expect(at('5m-ago')).toBe(NOW - 300_000);
    expect(at('1h-ago')).toBe(NOW - 3_600_000);
    expect(at('2d-ago')).toBe(NOW - 2 * 86_400_000);
    expect(at('1w-ago')).toBe(NOW - 7 * 86_400_000);
    expect(at('1n-ago')).toBe(NOW - 30 * 86_400_000);
    expect(at('1y-ago')).toBe(NOW - 365 * 86_400_000);
    expect(at('1H-AGO')).toBe(NOW - 3_600_000);
  });

  it('parses downsample-style durations', () => {
    expect(parseDurationMs('1m', 'interval')).toBe(60_000);
    expect(parseDurationMs('15s', 'interval')).toBe(15_000);
    expect(parseDurationMs('250ms', 'interval')).toBe(250);
  });
});

describe('bad query times', () => {
  it.each([
    ['an unknown unit', '1x-ago'],
    ['a zero duration', '0h-ago'],
    ['a missing amount', 'h-ago'],
    ['a month that does not exist', '2023/13/01'],
    ['a day that does not exist', '2023/02/30'],
    ['an hour that does not exist', '2023/02/03-24:00:00'],
    ['a date in another layout', '2023-11-14'],
    ['words', 'yesterday'],
    ['a fraction with four digits', '1700000000.1234'],
    ['a negative number', -5],
    ['a time before the epoch', '100y-ago'],
    ['an empty string', ''],
  ])('rejects %s with TSR_ERR_INVALID_QUERY', (_what, value) => {
    expect(codeOf(() => at(value))).toBe('TSR_ERR_INVALID_QUERY');
  });

  it('rejects an unknown time zone', () => {
    expect(codeOf(() => at('2023/11/14', 'Mars/Olympus_Mons'))).toBe('TSR_ERR_INVALID_QUERY');
  });

  it('names the field in the message', () => {
    expect(() => parseQueryTime('soon', 'end', { nowMs: NOW })).toThrow(/end/);
  });
});
