// Options shared by the client commands (put, query, import, export): which
// nodes to talk to and how, plus the streams a command writes to (so tests
// can run commands in-process).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { TsraftError } from '../../errors.js';
import { connect, type TsraftClient } from '../../client/index.js';

export interface CommandIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr is a terminal (progress bars). */
  stderrIsTty: boolean;
  env: Record<string, string | undefined>;
}

export function processIo(): CommandIo {
  // `tsraft export ... | head`: a reader that stops early ends the command
  // quietly, as other command-line tools do.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, stderrIsTty: process.stderr.isTTY === true, env: process.env };
}

export type ClientCommand = (args: string[], io: CommandIo) => Promise<number>;

export const DEFAULT_ENDPOINT = 'http://127.0.0.1:8080';

export const CONNECTION_OPTIONS = {
  endpoint: { type: 'string', multiple: true, short: 'e' },
  token: { type: 'string' },
  'timeout-ms': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export function usageError(message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { usage: true } });
}

export interface ParsedCommandArgs {
  values: Record<string, string | boolean | string[] | undefined> & { endpoint?: string[]; token?: string; 'timeout-ms'?: string };
  positionals: string[];
}

export function parseCommandArgs(args: string[], options: NonNullable<ParseArgsConfig['options']>, allowPositionals: boolean): ParsedCommandArgs {
  try {
    const parsed = parseArgs({ args, options: { ...CONNECTION_OPTIONS, ...options }, strict: true, allowPositionals });
    return { values: parsed.values as ParsedCommandArgs['values'], positionals: parsed.positionals };
  } catch (error) {
    throw usageError((error as Error).message);
  }
}

/** A string option's value (undefined when absent). */
export function stringOption(values: ParsedCommandArgs['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

export function integerOption(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || !/^[0-9]+$/.test(value) || n < min || n > max) throw usageError(`--${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
  return n;
}

/** Endpoints from --endpoint (repeatable, comma-separated), TSRAFT_ENDPOINTS, or the default. */
export function endpointsOf(values: { endpoint?: string[] }, env: CommandIo['env']): string[] {
  const raw = values.endpoint ?? (env.TSRAFT_ENDPOINTS !== undefined ? [env.TSRAFT_ENDPOINTS] : [DEFAULT_ENDPOINT]);
  const list = raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (list.length === 0) throw usageError('--endpoint needs a node client URL such as http://127.0.0.1:8080');
  return list;
}

export async function connectFromArgs(values: { endpoint?: string[]; token?: string; 'timeout-ms'?: string }, io: CommandIo): Promise<TsraftClient> {
  return connect(endpointsOf(values, io.env), {
    token: values.token ?? io.env.TSRAFT_TOKEN,
    timeoutMs: integerOption(values['timeout-ms'], 'timeout-ms', 30_000, 1, 3_600_000),
  });
}

/** `k=v,k2=v2` or repeated `k=v` into a tag map. */
export function parseTagList(items: readonly string[], what: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const item of items.flatMap((s) => s.split(','))) {
    const text = item.trim();
    if (text === '') continue;
    const eq = text.indexOf('=');
    if (eq <= 0 || eq === text.length - 1) throw usageError(`${what}: expected key=value, got ${JSON.stringify(text)}`);
    tags[text.slice(0, eq)] = text.slice(eq + 1);
  }
  return tags;
}

export function write(stream: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = stream.write(text, (error) => {
      if (error) reject(error);
    });
    if (ok) resolve();
    else stream.once('drain', () => resolve());
  });
}
