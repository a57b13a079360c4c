// Query times as OpenTSDB's DateTime.parseDateTimeString and parseDuration
// read them. "now" is passed in: the state machine reads no clock.
//
//   absolute  1700000000 (≤ 10 digits: seconds), 1700000000123 (ms),
//             1700000000.123 (seconds.millis), 1700000000123ms,
//             yyyy/MM/dd-HH:mm:ss, yyyy/MM/dd HH:mm:ss, yyyy/MM/dd-HH:mm,
//             yyyy/MM/dd HH:mm, yyyy/MM/dd  (UTC unless a timezone is given)
//   relative  <n><unit>-ago, units ms s m h d w n(30 d) y(365 d); `now`
import { TsraftError, rethrowIfBug } from '../../errors.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
  n: 30 * 86_400_000,
  y: 365 * 86_400_000,
};

function invalid(message: string, part: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_QUERY', message, { details: { part } });
}

/**
 * Parses `<positive integer><unit>` into milliseconds (units as above,
 * case-insensitive). `what` names the field in error messages.
 */
export function parseDurationMs(text: string, what: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d|w|n|y)$/i.exec(text);
  if (match === null) {
    throw invalid(`Invalid ${what} '${text}': expected <integer><unit> with unit one of ms, s, m, h, d, w, n, y`, what);
  }
  const amount = Number(match[1]);
  const unitMs = UNIT_MS[match[2]!.toLowerCase()]!;
  if (amount <= 0) throw invalid(`Invalid ${what} '${text}': the duration must be greater than zero`, what);
  const ms = amount * unitMs;
  if (!Number.isSafeInteger(ms)) throw invalid(`Invalid ${what} '${text}': the duration is too large`, what);
  return ms;
}

export interface TimeParseOptions {
  /** The instant relative times count back from, Unix ms. */
  nowMs: number;
  /** IANA time zone for absolute dates; null or undefined means UTC. */
  timezone?: string | null;
}

/**
 * Parses a query start or end (string, or integer number as JSON allows) into
 * Unix milliseconds. `what` ('start' or 'end') names the field in errors.
 */
export function parseQueryTime(value: unknown, what: string, options: TimeParseOptions): number {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(`Invalid ${what} time ${value}: expected a non-negative integer`, what);
    text = String(value);
  } else if (typeof value === 'bigint') {
    throw invalid(`Invalid ${what} time ${value}: out of range`, what);
  } else if (typeof value === 'string') {
    text = value.trim();
  } else {
    throw invalid(`Invalid ${what} time: expected a string or an integer`, what);
  }
  if (text === '') throw invalid(`Missing ${what} time`, what);
  const lower = text.toLowerCase();
  if (lower === 'now') return options.nowMs;
  if (lower.endsWith('-ago')) {
    const ms = options.nowMs - parseDurationMs(text.slice(0, -4), `${what} time`);
    if (ms < 0) throw invalid(`Invalid ${what} time '${text}': before the Unix epoch`, what);
    return ms;
  }
  if (/^[0-9]+ms$/.test(text)) return checkEpochMs(Number(text.slice(0, -2)), text, what);
  if (text.includes('/') || text.includes(':')) return parseAbsoluteDate(text, what, options.timezone ?? null);
  if (/^[0-9]{10}\.[0-9]{1,3}$/.test(text)) {
    const [seconds, fraction] = text.split('.') as [string, string];
    return checkEpochMs(Number(seconds) * 1000 + Number(fraction.padEnd(3, '0')), text, what);
  }
  if (/^[0-9]+$/.test(text)) {
    // OpenTSDB's rule: up to 10 digits are seconds, more are milliseconds.
    const n = Number(text);
    return checkEpochMs(text.length <= 10 ? n * 1000 : n, text, what);
  }
  throw invalid(`Invalid ${what} time '${text}': expected a relative time like 1h-ago, a Unix timestamp or yyyy/MM/dd-HH:mm:ss`, what);
}

function checkEpochMs(ms: number, text: string, what: string): number {
  // 9999999999999 ms is OpenTSDB's largest accepted timestamp (year 2286).
  if (!Number.isSafeInteger(ms) || ms > 9_999_999_999_999) throw invalid(`Invalid ${what} time '${text}': out of range`, what);
  return ms;
}

const DATE_FORMATS: Array<{ re: RegExp; name: string }> = [
  { re: /^(\d{4})\/(\d{2})\/(\d{2})$/, name: 'yyyy/MM/dd' },
  { re: /^(\d{4})\/(\d{2})\/(\d{2})[- ](\d{2}):(\d{2})$/, name: 'yyyy/MM/dd-HH:mm' },
  { re: /^(\d{4})\/(\d{2})\/(\d{2})[- ](\d{2}):(\d{2}):(\d{2})$/, name: 'yyyy/MM/dd-HH:mm:ss' },
];

function parseAbsoluteDate(text: string, what: string, timezone: string | null): number {
  for (const { re } of DATE_FORMATS) {
    const m = re.exec(text);
    if (m === null) continue;
    const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const [hour, minute, second] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
    // Strict where Java's lenient SimpleDateFormat would roll 2024/13/45 over.
    const probe = new Date(Date.UTC(year, month - 1, day));
    if (month < 1 || month > 12 || probe.getUTCDate() !== day || probe.getUTCMonth() !== month - 1 || hour > 23 || minute > 59 || second > 59) {
      throw invalid(`Invalid ${what} date '${text}': no such date or time`, what);
    }
    const wallMs = Date.UTC(year, month - 1, day, hour, minute, second);
    const ms = timezone === null ? wallMs : zonedWallTimeToUtc(wallMs, timezone);
    if (ms < 0) throw invalid(`Invalid ${what} date '${text}': before the Unix epoch`, what);
    return ms;
  }
  throw invalid(`Invalid ${what} date '${text}': expected yyyy/MM/dd, yyyy/MM/dd-HH:mm or yyyy/MM/dd-HH:mm:ss`, what);
}

/** Throws TSR_ERR_INVALID_QUERY unless `timezone` names a zone Intl knows. */
export function validateTimezone(timezone: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
  } catch (e) {
    // An unknown zone is a RangeError by specification: expected, not a bug.
    if (!(e instanceof RangeError)) rethrowIfBug(e);
    throw invalid(`Unknown timezone '${timezone}'`, 'timezone');
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of `timezone` from UTC at the instant `utcMs`, in ms. */
function zoneOffsetMs(utcMs: number, timezone: string): number {
  let fmt = formatters.get(timezone);
  if (fmt === undefined) {
    validateTimezone(timezone);
    fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    // Bounded: one entry per distinct zone name that passed validation.
    if (formatters.size < 1024) formatters.set(timezone, fmt);
  }
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(new Date(utcMs))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - (utcMs - (((utcMs % 1000) + 1000) % 1000));
}

/** The instant at which clocks in `timezone` show `wallMs` (read as UTC fields). */
function zonedWallTimeToUtc(wallMs: number, timezone: string): number {
  const first = wallMs - zoneOffsetMs(wallMs, timezone);
  const second = wallMs - zoneOffsetMs(first, timezone);
  return second;
}
