// Validates a parsed configuration file and fills in the defaults. Every
// problem is collected (not just the first) and named by its path in the file:
// `config.peers.n2: not a ws:// or wss:// URL`. Unknown fields are errors, so a
// misspelt option never silently falls back to its default.
import { isAbsolute, resolve } from 'node:path';
import type { ClientToken } from '../api/auth.js';
import { MIN_TOKEN_BYTES } from '../api/auth.js';
import { DEFAULT_CLIENT_API_LIMITS, type ClientApiLimits } from '../api/limits.js';
import { TsraftError, assert } from '../errors.js';
import { DEFAULT_STATE_MACHINE_OPTIONS, type TimeSeriesStateMachineOptions } from '../tsdb/state-machine.js';
import { MIN_SECRET_BYTES } from '../transport/handshake.js';
import { DEFAULT_BACKUP, DEFAULT_BACKUP_S3, type BackupConfig, type BackupS3Config, type BackupScheduleConfig } from './types.js';
import { DEFAULTS, DEFAULT_LIMITS, DEFAULT_LOG_ARCHIVE, DEFAULT_RETENTION, DEFAULT_SELF_MONITORING, DEFAULT_STATE_STORAGE, type StateStorageConfig, type ClientApiConfig, type LogArchiveConfig, type LogLevel, type NodeConfig, type NodeLimits, type RetentionConfig, type SelfMonitoringConfig, type TlsConfig } from './types.js';

export { MIN_SECRET_BYTES };
export const MAX_SECRET_BYTES = 1024;
/** Members named in `peers` (and `clientUrls`); far more than any Raft group needs. */
export const MAX_PEERS = 64;
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const CLUSTER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
/** Client tokens in one configuration. */
export const MAX_CLIENT_TOKENS = 256;
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface ConfigProblem {
  /** Path of the field, e.g. `config.peers.n2`. */
  field: string;
  problem: string;
}

/** The raw file before the secret file is read: `secretFile` stays a path. */
export type ValidatedConfig = Omit<NodeConfig, 'secret'> & { secret: Uint8Array | null; secretFile: string | null };

export function invalidConfig(problems: readonly ConfigProblem[], source: string): TsraftError {
  assert(problems.length > 0, 'invalidConfig without problems');
  const lines = problems.map((p) => `${p.field}: ${p.problem}`);
  return new TsraftError('TSR_ERR_INVALID_CONFIG', `invalid configuration ${source}: ${lines.join('; ')}`, {
    details: { source, problems: problems.map((p) => ({ ...p })) },
  });
}

/** Reads fields of one JSON object, recording problems instead of throwing. */
class ObjectReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly object: Record<string, unknown>,
    readonly path: string,
    private readonly problems: ConfigProblem[],
  ) {}

  static of(value: unknown, path: string, problems: ConfigProblem[]): ObjectReader | null {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push({ field: path, problem: `must be a JSON object, got ${describe(value)}` });
      return null;
    }
    return new ObjectReader(value as Record<string, unknown>, path, problems);
  }

  field(name: string): string {
    return `${this.path}.${name}`;
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.object, name) && this.object[name] !== undefined;
  }

  raw(name: string): unknown {
    this.seen.add(name);
    return this.has(name) ? this.object[name] : undefined;
  }

  problem(name: string, problem: string): void {
    this.problems.push({ field: this.field(name), problem });
  }

  string(name: string, options: { required?: boolean; fallback?: string; pattern?: RegExp; patternText?: string } = {}): string | null {
    const value = this.raw(name);
    if (value === undefined) {
      if (options.required === true) this.problem(name, 'is required');
      return options.fallback ?? null;
    }
    if (typeof value !== 'string') {
      this.problem(name, `must be a string, got ${describe(value)}`);
      return options.fallback ?? null;
    }
    if (value.length === 0) {
      this.problem(name, 'must not be empty');
      return options.fallback ?? null;
    }
    if (options.pattern !== undefined && !options.pattern.test(value)) {
      this.problem(name, `must be ${options.patternText ?? `of the form ${options.pattern}`}, got ${JSON.stringify(value)}`);
      return options.fallback ?? null;
    }
    return value;
  }

  integer(name: string, fallback: number, min: number, max: number, unit = ''): number {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      this.problem(name, `must be an integer${unit}, got ${describe(value)}`);
      return fallback;
    }
    if (value < min || value > max) {
      this.problem(name, `must lie in [${min}, ${max}]${unit}, got ${value}`);
      return fallback;
    }
    return value;
  }

  boolean(name: string, fallback: boolean): boolean {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean') {
      this.problem(name, `must be true or false, got ${describe(value)}`);
      return fallback;
    }
    return value;
  }

  /** Call last: every field not read is unknown. */
  rejectUnknown(): void {
    for (const name of Object.keys(this.object)) {
      if (!this.seen.has(name)) this.problem(name, 'unknown field (see docs/configuration.md for the accepted fields)');
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)}`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Parses a peer URL; returns a problem text or null when it is fine. */
export function peerUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `not a ws:// or wss:// URL: ${JSON.stringify(url)}`;
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') return `not a ws:// or wss:// URL: ${JSON.stringify(url)}`;
  if (parsed.port === '') return `must name a port (ws://host:port), got ${JSON.stringify(url)}`;
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry credentials (the cluster secret authenticates peers)';
  return null;
}

function httpUrlProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `not an http:// or https:// URL: ${JSON.stringify(url)}`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `not an http:// or https:// URL: ${JSON.stringify(url)}`;
  return null;
}

function readUrlMap(
  reader: ObjectReader,
  name: string,
  check: (url: string) => string | null,
  problems: ConfigProblem[],
): Record<string, string> {
  const result: Record<string, string> = {};
  const value = reader.raw(name);
  if (value === undefined) return result;
  const map = ObjectReader.of(value, reader.field(name), problems);
  if (map === null) return result;
  const ids = Object.keys(value as object);
  if (ids.length > MAX_PEERS) {
    reader.problem(name, `lists ${ids.length} nodes, at most ${MAX_PEERS} are allowed`);
    return result;
  }
  for (const id of ids) {
    if (!ID_PATTERN.test(id)) {
      map.problem(id, 'is not a valid node id (1–64 characters: letters, digits, _ . -, starting with a letter or digit)');
      map.raw(id);
      continue;
    }
    const url = map.string(id, { required: true });
    if (url === null) continue;
    const problem = check(url);
    if (problem !== null) map.problem(id, problem);
    else result[id] = url;
  }
  return result;
}

function readLimits(reader: ObjectReader, problems: ConfigProblem[]): NodeLimits {
  const value = reader.raw('limits');
  if (value === undefined) return { ...DEFAULT_LIMITS };
  const limits = ObjectReader.of(value, reader.field('limits'), problems);
  if (limits === null) return { ...DEFAULT_LIMITS };
  const bytes = (name: keyof NodeLimits, min: number, max: number): number => limits.integer(name, DEFAULT_LIMITS[name], min, max, ' bytes');
  const count = (name: keyof NodeLimits, max: number): number => limits.integer(name, DEFAULT_LIMITS[name], 1, max);
  const result: NodeLimits = {
    maxFrameBytes: bytes('maxFrameBytes', 64 * 1024, 1 * GiB),
    maxPeerQueueMessages: count('maxPeerQueueMessages', 10_000_000),
    maxPeerQueueBytes: bytes('maxPeerQueueBytes', 64 * 1024, 16 * GiB),
    maxPendingProposals: count('maxPendingProposals', 10_000_000),
    maxProposalBytes: bytes('maxProposalBytes', 1024, 512 * MiB),
    maxInflightMsgs: count('maxInflightMsgs', 100_000),
    maxInflightBytes: bytes('maxInflightBytes', 1024, 16 * GiB),
    maxAppendBytes: bytes('maxAppendBytes', 1024, 512 * MiB),
    maxCommittedBytesPerReady: bytes('maxCommittedBytesPerReady', 1024, 16 * GiB),
    maxUncommittedBytes: bytes('maxUncommittedBytes', 1024, 16 * GiB),
    snapshotChunkBytes: bytes('snapshotChunkBytes', 1024, 64 * MiB),
    maxPendingReads: count('maxPendingReads', 10_000_000),
    maxHttpBodyBytes: bytes('maxHttpBodyBytes', 1024, 1 * GiB),
    maxHttpConnections: count('maxHttpConnections', 1_000_000),
  };
  limits.rejectUnknown();
  // A message must fit in one frame with room for its envelope, or it never leaves the node.
  const half = Math.floor(result.maxFrameBytes / 2);
  for (const name of ['maxAppendBytes', 'snapshotChunkBytes', 'maxProposalBytes'] as const) {
    if (result[name] > half) limits.problem(name, `must be at most maxFrameBytes / 2 (${half} bytes) so one message fits in a peer frame, got ${result[name]}`);
  }
  if (result.maxPeerQueueBytes < result.maxFrameBytes) {
    limits.problem('maxPeerQueueBytes', `must be at least maxFrameBytes (${result.maxFrameBytes} bytes), got ${result.maxPeerQueueBytes}`);
  }
  return result;
}

function readTls(reader: ObjectReader, baseDir: string, problems: ConfigProblem[]): TlsConfig | null {
  const value = reader.raw('tls');
  if (value === undefined || value === null) return null;
  const tls = ObjectReader.of(value, reader.field('tls'), problems);
  if (tls === null) return null;
  const certFile = tls.string('certFile', { required: true });
  const keyFile = tls.string('keyFile', { required: true });
  const caFile = tls.string('caFile');
  tls.rejectUnknown();
  if (certFile === null || keyFile === null) return null;
  return { certFile: resolve(baseDir, certFile), keyFile: resolve(baseDir, keyFile), caFile: caFile === null ? null : resolve(baseDir, caFile) };
}

function readTsdb(reader: ObjectReader, problems: ConfigProblem[]): TimeSeriesStateMachineOptions {
  const value = reader.raw('tsdb');
  const result: TimeSeriesStateMachineOptions = { ...DEFAULT_STATE_MACHINE_OPTIONS };
  if (value === undefined) return result;
  const tsdb = ObjectReader.of(value, reader.field('tsdb'), problems);
  if (tsdb === null) return result;
  for (const name of Object.keys(DEFAULT_STATE_MACHINE_OPTIONS) as (keyof TimeSeriesStateMachineOptions)[]) {
    result[name] = tsdb.integer(name, DEFAULT_STATE_MACHINE_OPTIONS[name], 1, Number.MAX_SAFE_INTEGER);
  }
  tsdb.rejectUnknown();
  return result;
}

function readClientApi(reader: ObjectReader, httpHost: string, problems: ConfigProblem[]): ClientApiConfig {
  const result: ClientApiConfig = { tokens: [], limits: { ...DEFAULT_CLIENT_API_LIMITS }, telnetHost: httpHost, telnetPort: null };
  const value = reader.raw('clientApi');
  if (value === undefined) return result;
  const api = ObjectReader.of(value, reader.field('clientApi'), problems);
  if (api === null) return result;
  const tokens = api.raw('tokens');
  if (tokens !== undefined) {
    if (!Array.isArray(tokens)) api.problem('tokens', `must be an array of {token, access, name}, got ${describe(tokens)}`);
    else if (tokens.length > MAX_CLIENT_TOKENS) api.problem('tokens', `lists ${tokens.length} tokens, at most ${MAX_CLIENT_TOKENS} are allowed`);
    else {
      tokens.forEach((item: unknown, i: number) => {
        const entry = ObjectReader.of(item, api.field(`tokens[${i}]`), problems);
        if (entry === null) return;
        const token = entry.string('token', { required: true });
        const access = entry.string('access', { fallback: 'read-write' });
        const name = entry.string('name');
        entry.rejectUnknown();
        if (token !== null && Buffer.byteLength(token, 'utf8') < MIN_TOKEN_BYTES) entry.problem('token', `must be at least ${MIN_TOKEN_BYTES} bytes`);
        else if (access !== 'read-only' && access !== 'read-write') entry.problem('access', `must be read-only or read-write, got ${JSON.stringify(access)}`);
        else if (token !== null) {
          const parsed: ClientToken = { token, access };
          if (name !== null) parsed.name = name;
          result.tokens.push(parsed);
        }
      });
    }
  }
  const limitsValue = api.raw('limits');
  if (limitsValue !== undefined) {
    const limits = ObjectReader.of(limitsValue, api.field('limits'), problems);
    if (limits !== null) {
      for (const name of Object.keys(DEFAULT_CLIENT_API_LIMITS) as (keyof ClientApiLimits)[]) {
        result.limits[name] = limits.integer(name, DEFAULT_CLIENT_API_LIMITS[name], 1, Number.MAX_SAFE_INTEGER);
      }
      limits.rejectUnknown();
    }
  }
  result.telnetHost = api.string('telnetHost', { fallback: httpHost }) ?? httpHost;
  if (api.has('telnetPort') && api.raw('telnetPort') !== null) result.telnetPort = api.integer('telnetPort', 0, 0, 65535);
  else api.raw('telnetPort');
  api.rejectUnknown();
  return result;
}

const HOUR_MS = 3_600_000;

function readRetention(reader: ObjectReader, problems: ConfigProblem[]): RetentionConfig {
  const result: RetentionConfig = { ...DEFAULT_RETENTION };
  const value = reader.raw('retention');
  if (value === undefined) return result;
  const section = ObjectReader.of(value, reader.field('retention'), problems);
  if (section === null) return result;
  result.retentionMs = section.integer('retentionMs', DEFAULT_RETENTION.retentionMs, 0, 100 * 366 * 24 * HOUR_MS, ' ms');
  if (result.retentionMs > 0 && result.retentionMs < HOUR_MS) {
    problems.push({ field: section.field('retentionMs'), problem: `must be 0 (keep everything) or at least ${HOUR_MS} ms (1 hour), got ${result.retentionMs}` });
  }
  result.checkIntervalMs = section.integer('checkIntervalMs', DEFAULT_RETENTION.checkIntervalMs, 1_000, 24 * HOUR_MS, ' ms');
  section.rejectUnknown();
  return result;
}

function readStorage(reader: ObjectReader, problems: ConfigProblem[]): StateStorageConfig {
  const result: StateStorageConfig = { ...DEFAULT_STATE_STORAGE };
  const value = reader.raw('storage');
  if (value === undefined) return result;
  const section = ObjectReader.of(value, reader.field('storage'), problems);
  if (section === null) return result;
  result.residentBlockBytes = section.integer('residentBlockBytes', DEFAULT_STATE_STORAGE.residentBlockBytes, 0, 2 ** 40, ' bytes');
  result.decodedBlockCacheBytes = section.integer('decodedBlockCacheBytes', DEFAULT_STATE_STORAGE.decodedBlockCacheBytes, 0, 2 ** 40, ' bytes');
  result.checkpointEveryEntries = section.integer('checkpointEveryEntries', DEFAULT_STATE_STORAGE.checkpointEveryEntries, 1, 1_000_000_000);
  result.checkpointEveryBytes = section.integer('checkpointEveryBytes', DEFAULT_STATE_STORAGE.checkpointEveryBytes, 1024, 2 ** 40, ' bytes');
  result.checkpointEveryMs = section.integer('checkpointEveryMs', DEFAULT_STATE_STORAGE.checkpointEveryMs, 10, 86_400_000, ' ms');
  section.rejectUnknown();
  return result;
}

function readLogArchive(reader: ObjectReader, problems: ConfigProblem[], baseDir: string): LogArchiveConfig {
  const result: LogArchiveConfig = { ...DEFAULT_LOG_ARCHIVE };
  const value = reader.raw('logArchive');
  if (value === undefined || value === null) return result;
  const section = ObjectReader.of(value, reader.field('logArchive'), problems);
  if (section === null) return result;
  const dir = section.raw('dir');
  if (typeof dir !== 'string' || dir.length === 0) {
    problems.push({ field: section.field('dir'), problem: 'must be a non-empty path (the archive directory)' });
  } else {
    result.dir = resolve(baseDir, dir);
  }
  result.maxSegmentBytes = section.integer('maxSegmentBytes', DEFAULT_LOG_ARCHIVE.maxSegmentBytes, 4096, 1 << 30, ' bytes');
  section.rejectUnknown();
  return result;
}

function readSelfMonitoring(reader: ObjectReader, problems: ConfigProblem[]): SelfMonitoringConfig {
  const result: SelfMonitoringConfig = { ...DEFAULT_SELF_MONITORING };
  const value = reader.raw('selfMonitoring');
  if (value === undefined) return result;
  const section = ObjectReader.of(value, reader.field('selfMonitoring'), problems);
  if (section === null) return result;
  result.enabled = section.boolean('enabled', DEFAULT_SELF_MONITORING.enabled);
  result.intervalMs = section.integer('intervalMs', DEFAULT_SELF_MONITORING.intervalMs, 1_000, 3_600_000, ' ms');
  section.rejectUnknown();
  return result;
}

const DAY_MS = 24 * HOUR_MS;

/** A backup destination as written in the file: s3://bucket/prefix or a directory (made absolute). */
function readDestination(section: ObjectReader, name: string, baseDir: string, required: boolean): string | null {
  const value = section.string(name, { required });
  if (value === null) return null;
  if (value.startsWith('s3://')) {
    if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^/]+)*\/?$/.test(value)) {
      section.problem(name, `must be s3://bucket/prefix (bucket: 3–63 lowercase letters, digits, . and -), got ${JSON.stringify(value)}`);
      return null;
    }
    return value.replace(/\/+$/, '');
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    section.problem(name, `must be a directory or an s3://bucket/prefix URL, got ${JSON.stringify(value)}`);
    return null;
  }
  return resolve(baseDir, value);
}

function readBackupS3(section: ObjectReader, problems: ConfigProblem[], baseDir: string): BackupS3Config {
  const result: BackupS3Config = { ...DEFAULT_BACKUP_S3 };
  const value = section.raw('s3');
  if (value === undefined) return result;
  const s3 = ObjectReader.of(value, section.field('s3'), problems);
  if (s3 === null) return result;
  result.endpoint = s3.string('endpoint');
  if (result.endpoint !== null) {
    const problem = httpUrlProblem(result.endpoint);
    if (problem !== null) s3.problem('endpoint', problem);
  }
  result.region = s3.string('region');
  result.accessKeyId = s3.string('accessKeyId');
  result.secretAccessKey = s3.string('secretAccessKey');
  const secretFile = s3.string('secretAccessKeyFile');
  result.secretAccessKeyFile = secretFile === null ? null : resolve(baseDir, secretFile);
  result.sessionToken = s3.string('sessionToken');
  if (s3.has('forcePathStyle')) result.forcePathStyle = s3.boolean('forcePathStyle', false);
  else s3.raw('forcePathStyle');
  result.partSizeBytes = s3.integer('partSizeBytes', DEFAULT_BACKUP_S3.partSizeBytes, 5 * MiB, 5 * GiB, ' bytes');
  result.multipartThresholdBytes = s3.integer('multipartThresholdBytes', DEFAULT_BACKUP_S3.multipartThresholdBytes, 5 * MiB, 5 * GiB, ' bytes');
  result.maxAttempts = s3.integer('maxAttempts', DEFAULT_BACKUP_S3.maxAttempts, 1, 10);
  s3.rejectUnknown();
  if (result.secretAccessKey !== null && result.secretAccessKeyFile !== null) s3.problem('secretAccessKeyFile', 'give either secretAccessKey or secretAccessKeyFile, not both');
  const hasSecret = result.secretAccessKey !== null || result.secretAccessKeyFile !== null;
  if ((result.accessKeyId === null) !== !hasSecret) s3.problem(result.accessKeyId === null ? 'accessKeyId' : 'secretAccessKey', 'give accessKeyId and a secret key together (or neither: the AWS environment then provides them)');
  return result;
}

function readBackupSchedule(section: ObjectReader, problems: ConfigProblem[], baseDir: string): BackupScheduleConfig | null {
  const value = section.raw('schedule');
  if (value === undefined || value === null) return null;
  const schedule = ObjectReader.of(value, section.field('schedule'), problems);
  if (schedule === null) return null;
  const destination = readDestination(schedule, 'destination', baseDir, true);
  const intervalMs = schedule.integer('intervalMs', HOUR_MS, 1_000, 366 * DAY_MS, ' ms');
  const fullEvery = schedule.integer('fullEvery', 24, 1, 32);
  const retention = { keepLast: 24, keepDailyDays: 7 };
  const retentionValue = schedule.raw('retention');
  if (retentionValue !== undefined) {
    const r = ObjectReader.of(retentionValue, schedule.field('retention'), problems);
    if (r !== null) {
      retention.keepLast = r.integer('keepLast', retention.keepLast, 1, 100_000);
      retention.keepDailyDays = r.integer('keepDailyDays', retention.keepDailyDays, 0, 36_600);
      r.rejectUnknown();
    }
  }
  const claimTimeoutMs = schedule.integer('claimTimeoutMs', HOUR_MS, 1_000, 7 * DAY_MS, ' ms');
  const retryDelayMs = schedule.integer('retryDelayMs', 300_000, 1_000, DAY_MS, ' ms');
  schedule.rejectUnknown();
  if (destination === null) return null;
  return { destination, intervalMs, fullEvery, retention, claimTimeoutMs, retryDelayMs };
}

function readBackup(reader: ObjectReader, problems: ConfigProblem[], baseDir: string): BackupConfig {
  const result: BackupConfig = {
    ...DEFAULT_BACKUP,
    reverify: { ...DEFAULT_BACKUP.reverify },
    drill: { ...DEFAULT_BACKUP.drill },
    scrub: { ...DEFAULT_BACKUP.scrub },
    digest: { ...DEFAULT_BACKUP.digest },
    s3: { ...DEFAULT_BACKUP_S3 },
  };
  const value = reader.raw('backup');
  if (value === undefined || value === null) return result;
  const section = ObjectReader.of(value, reader.field('backup'), problems);
  if (section === null) return result;
  result.schedule = readBackupSchedule(section, problems, baseDir);
  result.s3 = readBackupS3(section, problems, baseDir);
  const keyFile = section.string('encryptKeyFile');
  result.encryptKeyFile = keyFile === null ? null : resolve(baseDir, keyFile);
  const sub = (name: 'reverify' | 'drill' | 'scrub' | 'digest'): ObjectReader | null => {
    const raw = section.raw(name);
    return raw === undefined ? null : ObjectReader.of(raw, section.field(name), problems);
  };
  const reverify = sub('reverify');
  if (reverify !== null) {
    result.reverify.intervalMs = reverify.integer('intervalMs', DEFAULT_BACKUP.reverify.intervalMs, 0, 366 * DAY_MS, ' ms');
    result.reverify.maxBytesPerSecond = reverify.integer('maxBytesPerSecond', DEFAULT_BACKUP.reverify.maxBytesPerSecond, 64 * 1024, 10 * GiB, ' bytes/s');
    reverify.rejectUnknown();
    if (result.reverify.intervalMs > 0 && result.reverify.intervalMs < 1_000) reverify.problem('intervalMs', `must be 0 (off) or at least 1000 ms, got ${result.reverify.intervalMs}`);
  }
  const drill = sub('drill');
  if (drill !== null) {
    result.drill.intervalMs = drill.integer('intervalMs', DEFAULT_BACKUP.drill.intervalMs, 0, 366 * DAY_MS, ' ms');
    result.drill.maxBytesPerSecond = drill.integer('maxBytesPerSecond', DEFAULT_BACKUP.drill.maxBytesPerSecond, 64 * 1024, 10 * GiB, ' bytes/s');
    drill.rejectUnknown();
    if (result.drill.intervalMs > 0 && result.drill.intervalMs < 60_000) drill.problem('intervalMs', `must be 0 (off) or at least 60000 ms, got ${result.drill.intervalMs}`);
  }
  const scrub = sub('scrub');
  if (scrub !== null) {
    result.scrub.enabled = scrub.boolean('enabled', DEFAULT_BACKUP.scrub.enabled);
    result.scrub.maxBytesPerSecond = scrub.integer('maxBytesPerSecond', DEFAULT_BACKUP.scrub.maxBytesPerSecond, 4 * 1024, 10 * GiB, ' bytes/s');
    result.scrub.passIntervalMs = scrub.integer('passIntervalMs', DEFAULT_BACKUP.scrub.passIntervalMs, 0, 366 * DAY_MS, ' ms');
    scrub.rejectUnknown();
  }
  const digest = sub('digest');
  if (digest !== null) {
    result.digest.intervalMs = digest.integer('intervalMs', DEFAULT_BACKUP.digest.intervalMs, 0, 366 * DAY_MS, ' ms');
    digest.rejectUnknown();
    if (result.digest.intervalMs > 0 && result.digest.intervalMs < 1_000) digest.problem('intervalMs', `must be 0 (off) or at least 1000 ms, got ${result.digest.intervalMs}`);
  }
  section.rejectUnknown();
  if (result.drill.intervalMs > 0 && result.schedule === null) section.problem('drill', 'scheduled drills restore the latest scheduled backup: configure backup.schedule too');
  return result;
}

/**
 * Validates the parsed JSON of a configuration file. `baseDir` resolves
 * relative paths (dataDir, secretFile, TLS files): the directory of the file,
 * so a node starts the same whatever its working directory. Throws
 * TSR_ERR_INVALID_CONFIG listing every problem.
 */
export function validateNodeConfig(raw: unknown, options: { baseDir: string; source: string }): ValidatedConfig {
  assert(isAbsolute(options.baseDir), `validateNodeConfig: baseDir ${options.baseDir} is not absolute`);
  const problems: ConfigProblem[] = [];
  const root = ObjectReader.of(raw, 'config', problems);
  if (root === null) throw invalidConfig(problems, options.source);

  const nodeId = root.string('nodeId', { required: true, pattern: ID_PATTERN, patternText: '1–64 letters, digits, _ . - (starting with a letter or digit)' });
  const clusterId = root.string('clusterId', { required: true, pattern: CLUSTER_ID_PATTERN, patternText: '1–128 letters, digits, _ . : - (starting with a letter or digit)' });
  const dataDir = root.string('dataDir', { required: true });

  const secretText = root.string('secret');
  const secretFile = root.string('secretFile');
  let secret: Uint8Array | null = null;
  if (root.has('secret') && root.has('secretFile')) root.problem('secretFile', 'give either secret or secretFile, not both');
  else if (!root.has('secret') && !root.has('secretFile')) root.problem('secret', 'is required (or secretFile): the cluster secret peers authenticate with');
  if (secretText !== null) {
    secret = new TextEncoder().encode(secretText);
    const problem = secretProblem(secret);
    if (problem !== null) root.problem('secret', problem);
  }

  const httpHost = root.string('httpHost', { fallback: DEFAULTS.httpHost }) ?? DEFAULTS.httpHost;
  const httpPort = root.integer('httpPort', DEFAULTS.httpPort, 0, 65535);
  const peerHost = root.string('peerHost', { fallback: DEFAULTS.peerHost }) ?? DEFAULTS.peerHost;
  const peerPort = root.integer('peerPort', DEFAULTS.peerPort, 0, 65535);
  const join = root.boolean('join', DEFAULTS.join);
  const peers = readUrlMap(root, 'peers', peerUrlProblem, problems);
  const clientUrls = readUrlMap(root, 'clientUrls', httpUrlProblem, problems);
  const tls = readTls(root, options.baseDir, problems);

  let peerUrl = root.string('peerUrl');
  if (peerUrl !== null) {
    const problem = peerUrlProblem(peerUrl);
    if (problem !== null) {
      root.problem('peerUrl', problem);
      peerUrl = null;
    }
  }
  if (nodeId !== null && peerUrl === null) peerUrl = peers[nodeId] ?? `${tls === null ? 'ws' : 'wss'}://${hostForUrl(peerHost)}:${peerPort}`;
  if (nodeId !== null && peerUrl !== null && peers[nodeId] !== undefined && peers[nodeId] !== peerUrl) {
    root.problem('peerUrl', `differs from config.peers.${nodeId} (${peers[nodeId]}); give one address for this node`);
  }

  if (!root.has('peers')) {
    if (!join) root.problem('peers', 'is required: the founding members, node id → peer URL (including this node)');
  } else if (nodeId !== null && !join && peers[nodeId] === undefined && Object.keys(peers).length > 0) {
    root.problem('peers', `must include this node (${nodeId}) unless join is true`);
  }
  if (nodeId !== null && join && peers[nodeId] !== undefined && Object.keys(peers).length === 1) {
    root.problem('peers', 'a joining node must list at least one existing member to reach');
  }
  const scheme = tls === null ? 'ws:' : 'wss:';
  for (const [id, url] of Object.entries(peers)) {
    if (new URL(url).protocol !== scheme) {
      problems.push({ field: `config.peers.${id}`, problem: tls === null ? `is wss:// but no tls section is configured` : `tls is configured, so peer URLs must be wss://, got ${url}` });
    }
  }

  const tickIntervalMs = root.integer('tickIntervalMs', DEFAULTS.tickIntervalMs, 1, 60_000, ' ms');
  const heartbeatIntervalTicks = root.integer('heartbeatIntervalTicks', DEFAULTS.heartbeatIntervalTicks, 1, 1_000);
  const electionTimeoutTicks = root.integer('electionTimeoutTicks', DEFAULTS.electionTimeoutTicks, 3, 10_000);
  if (electionTimeoutTicks < 2 * heartbeatIntervalTicks + 1) {
    root.problem('electionTimeoutTicks', `must be at least 2 × heartbeatIntervalTicks + 1 (${2 * heartbeatIntervalTicks + 1}), got ${electionTimeoutTicks}`);
  }
  const snapshotEveryEntries = root.integer('snapshotEveryEntries', DEFAULTS.snapshotEveryEntries, 1, 1_000_000_000);
  const snapshotEveryBytes = root.integer('snapshotEveryBytes', DEFAULTS.snapshotEveryBytes, 1024, 2 ** 40, ' bytes');
  const logEntriesKeptAfterSnapshot = root.integer('logEntriesKeptAfterSnapshot', DEFAULTS.logEntriesKeptAfterSnapshot, 0, 1_000_000_000);
  const shutdownTimeoutMs = root.integer('shutdownTimeoutMs', DEFAULTS.shutdownTimeoutMs, 0, 600_000, ' ms');
  const logLevelText = root.string('logLevel', { fallback: DEFAULTS.logLevel }) ?? DEFAULTS.logLevel;
  let logLevel: LogLevel = DEFAULTS.logLevel;
  if ((LOG_LEVELS as readonly string[]).includes(logLevelText)) logLevel = logLevelText as LogLevel;
  else root.problem('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevelText)}`);
  const limits = readLimits(root, problems);
  const tsdb = readTsdb(root, problems);
  const storage = readStorage(root, problems);
  const clientApi = readClientApi(root, httpHost, problems);
  const selfMonitoring = readSelfMonitoring(root, problems);
  const retention = readRetention(root, problems);
  const logArchive = readLogArchive(root, problems, options.baseDir);
  const backup = readBackup(root, problems, options.baseDir);
  // Comments in JSON are not possible; a "$comment" field is allowed and ignored.
  root.raw('$comment');
  root.rejectUnknown();

  if (problems.length > 0) throw invalidConfig(problems, options.source);
  assert(nodeId !== null && clusterId !== null && dataDir !== null && peerUrl !== null, 'validateNodeConfig: required fields missing without a problem');
  return {
    configPath: null,
    nodeId,
    clusterId,
    dataDir: resolve(options.baseDir, dataDir),
    secret,
    secretFile: secretFile === null ? null : resolve(options.baseDir, secretFile),
    httpHost,
    httpPort,
    peerHost,
    peerPort,
    peerUrl,
    peers,
    clientUrls,
    join,
    tickIntervalMs,
    electionTimeoutTicks,
    heartbeatIntervalTicks,
    snapshotEveryEntries,
    snapshotEveryBytes,
    logEntriesKeptAfterSnapshot,
    shutdownTimeoutMs,
    logLevel,
    tls,
    limits,
    tsdb,
    storage,
    clientApi,
    selfMonitoring,
    retention,
    logArchive,
    backup,
  };
}

/** A problem with the secret's bytes, or null. */
export function secretProblem(secret: Uint8Array): string | null {
  if (secret.length < MIN_SECRET_BYTES) return `must be at least ${MIN_SECRET_BYTES} bytes, got ${secret.length}`;
  if (secret.length > MAX_SECRET_BYTES) return `must be at most ${MAX_SECRET_BYTES} bytes, got ${secret.length}`;
  return null;
}

function hostForUrl(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
