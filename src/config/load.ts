// Loads a node's configuration file: read, parse JSON, validate, read the
// secret file. Every failure is TSR_ERR_INVALID_CONFIG naming the field (or the
// file) and what is wrong; `tsraft serve` turns it into exit code 3.
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { rethrowIfBug } from '../errors.js';
import { fileErrorReason } from '../util/file-errors.js';
import type { NodeConfig } from './types.js';
import { invalidConfig, secretProblem, validateNodeConfig } from './validate.js';

/** Configuration files are small; a larger file is a mistake (a data file passed by accident). */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;

export function loadNodeConfig(path: string): NodeConfig {
  const configPath = resolve(path);
  const text = readSmallFile(configPath, 'config', MAX_CONFIG_FILE_BYTES);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    rethrowIfBug(error);
    throw invalidConfig([{ field: 'config', problem: `is not valid JSON (${(error as Error).message})` }], configPath);
  }
  return parseNodeConfig(raw, { baseDir: dirname(configPath), configPath });
}

/** Validates an already-parsed configuration; relative paths resolve against baseDir. */
export function parseNodeConfig(raw: unknown, options: { baseDir: string; configPath: string | null }): NodeConfig {
  const source = options.configPath ?? '(inline configuration)';
  const validated = validateNodeConfig(raw, { baseDir: resolve(options.baseDir), source });
  let secret = validated.secret;
  if (validated.secretFile !== null) {
    // A trailing newline is what editors and `openssl rand -hex 32 > file` leave; it is not part of the secret.
    const text = readSmallFile(validated.secretFile, 'config.secretFile', 64 * 1024).replace(/\r?\n$/, '');
    secret = new TextEncoder().encode(text);
    const problem = secretProblem(secret);
    if (problem !== null) throw invalidConfig([{ field: 'config.secretFile', problem: `the secret in ${validated.secretFile} ${problem}` }], source);
  }
  if (secret === null) throw invalidConfig([{ field: 'config.secret', problem: 'is required' }], source);
  const { secretFile: _secretFile, ...rest } = validated;
  return { ...rest, secret, configPath: options.configPath };
}

function readSmallFile(path: string, field: string, maxBytes: number): string {
  try {
    const size = statSync(path).size;
    if (size > maxBytes) throw invalidConfig([{ field, problem: `${path} is ${size} bytes, more than the ${maxBytes} allowed` }], path);
    return readFileSync(path, 'utf8');
  } catch (error) {
    rethrowIfBug(error);
    if ((error as { code?: string }).code === 'TSR_ERR_INVALID_CONFIG') throw error;
    throw invalidConfig([{ field, problem: `cannot read ${path}: ${fileErrorReason(error)}` }], path);
  }
}
