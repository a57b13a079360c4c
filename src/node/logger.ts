// The node's log: one line per event on stderr,
//   2025-01-02T03:04:05.678Z info  n1 message key=value key="with spaces"
// readable in a terminal and easy to grep. Levels below the configured one
// are dropped.
import type { LogLevel } from '../config/types.js';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** One field value is cut to this many characters (a stack trace stays readable). */
const MAX_FIELD_CHARS = 4096;

export function createLogger(options: { nodeId: string; level: LogLevel; write?: (line: string) => void; nowMs?: () => number }): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const nowMs = options.nowMs ?? Date.now;
  const threshold = LEVEL_RANK[options.level];
  const log = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (LEVEL_RANK[level] < threshold) return;
    let line = `${new Date(nowMs()).toISOString()} ${level.padEnd(5)} ${options.nodeId} ${message}`;
    for (const [key, value] of Object.entries(fields ?? {})) line += ` ${key}=${formatValue(value)}`;
    write(line + '\n');
  };
  return {
    debug: (message, fields) => log('debug', message, fields),
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  };
}

function formatValue(value: unknown): string {
  let text: string;
  if (value instanceof Error) text = value.stack ?? `${value.name}: ${value.message}`;
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'bigint') text = value.toString();
  else text = JSON.stringify(value) ?? String(value);
  if (text.length > MAX_FIELD_CHARS) text = text.slice(0, MAX_FIELD_CHARS) + '…';
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}
