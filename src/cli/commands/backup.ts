// `tsraft backup ...`: create, verify, restore, list, inspect, keygen
// (docs/backup-format.md; operations: docs/operations.md). Wired into the
// dispatcher (src/cli/commands.ts) as `case 'backup'`.
//
// Exit codes: 0 success; 10 a backup (or archive) that fails verification;
// other errors go to the dispatcher (1, or 2 for a bad command line).
import { writeFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createBackup, type CreateProgress } from '../../backup/create.js';
import { generateKeyHex, loadKeyFile, type BackupKey } from '../../backup/crypto.js';
import { formatBytes, formatInspect, formatList, inspectBackup, listBackups } from '../../backup/inspect.js';
import { parseRestoreTarget } from '../../backup/pitr.js';
import { terminalProgress } from '../../backup/progress.js';
import { restoreIntoDataDir } from '../../backup/restore.js';
import { verifyBackup } from '../../backup/verify.js';
import { catalogRows, formatCatalog } from '../../backup/destinations/catalog.js';
import { isS3Url, openDestination, s3SettingsOf, splitBackupLocation } from '../../backup/destinations/open.js';
import { createBackupAt, withDownloadedBackup } from '../../backup/destinations/remote.js';
import type { S3Settings } from '../../backup/destinations/s3.js';
import { listCatalog, readManifestAt } from '../../backup/destinations/transfer.js';
import { summarize } from '../../backup/inspect.js';
import type { BackupManifest } from '../../backup/manifest.js';
import { pruneDestination } from '../../backup/retention-prune.js';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { runDrill } from '../../backup/drill.js';
import { join } from 'node:path';
import { loadNodeConfig } from '../../config/load.js';
import { TsraftError, isTsraftError, rethrowIfBug } from '../../errors.js';
import { EXIT_CODES } from '../../node/exit-codes.js';

export const BACKUP_USAGE = `usage:
  tsraft backup create --endpoint URL --out DIR [--base PREV_DIR] [--encrypt-key FILE] [--token T] [--skip-verify]
                       stream a consistent backup from a node (online; incremental with --base)
  tsraft backup verify DIR [--encrypt-key FILE] [--json]
                       check every file, page and count without restoring (exit 10 on corruption)
  tsraft backup restore DIR --config NODE_CONFIG [--force] [--encrypt-key FILE] [--keep-cluster-id]
                       [--until INDEX|TIME --archive ARCHIVE_DIR]
                       seed a node of a new cluster (run for each founding node)
  tsraft backup list DIR... [--json]      what each backup holds
  tsraft backup list DEST [--json]        every backup of a destination and its chain
  tsraft backup inspect DIR [--json]      one backup in detail
  tsraft backup prune DEST --keep-last N [--keep-daily D] [--dry-run] [--json]
                       delete old backups (never one a kept incremental is built on)
  tsraft backup drill --from DEST --endpoint URL... [--backup NAME] [--token T] [--encrypt-key FILE]
                       [--window 24h] [--settle 1h] [--json]
                       restore the latest backup into a temporary node and compare its state digest and
                       query answers with the live cluster at the backup's index (exit 10 on a mismatch)
  tsraft backup keygen --out FILE         a new 32-byte encryption key (hex, mode 0600)

Every DIR may also be a backup in S3, s3://bucket/prefix/NAME, and DEST a directory
or s3://bucket/prefix. S3 settings: --s3-endpoint URL, --s3-region R, else the AWS
environment (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). docs/backup-service.md

--until takes a log index (digits) or an ISO-8601 time (the leader-stamped time of
the entries). Format: docs/backup-format.md`;

/** Exit code of a backup or archive that fails verification. */
export const EXIT_CORRUPT_BACKUP = EXIT_CODES.corruptData;

export interface BackupIo {
  print(line: string): void;
  /** Where progress bars go (only when it is a terminal). Default process.stderr. */
  progressStream?: NodeJS.WriteStream;
}

type Options = ParseArgsConfig['options'];
type Values = Record<string, string | boolean | string[] | undefined>;

function usage(message: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { usage: true } });
}

function parse(args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: parsed.values as Values, positionals: parsed.positionals };
  } catch (error) {
    // parseArgs reports a bad command line as a TypeError coded ERR_PARSE_ARGS_*: user input, not a bug.
    if (!String((error as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS')) rethrowIfBug(error);
    throw usage((error as Error).message);
  }
}

function str(values: Values, name: string): string | null {
  const v = values[name];
  return typeof v === 'string' && v !== '' ? v : null;
}

function required(values: Values, name: string): string {
  const v = str(values, name);
  if (v === null) throw usage(`--${name} is required`);
  return v;
}

function onePositional(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw usage(`expected exactly one ${what}, got ${positionals.length}`);
  return positionals[0]!;
}

function keyOf(values: Values): BackupKey | null {
  const path = str(values, 'encrypt-key');
  return path === null ? null : loadKeyFile(path);
}

const S3_FLAGS: Options = { 's3-endpoint': { type: 'string' }, 's3-region': { type: 'string' } };

/** S3 settings from --s3-endpoint/--s3-region; credentials come from the environment. */
function s3Of(values: Values): Partial<S3Settings> {
  const settings: Partial<S3Settings> = {};
  const endpoint = str(values, 's3-endpoint');
  if (endpoint !== null) {
    if (!/^https?:\/\/[^/]+/.test(endpoint)) throw usage(`--s3-endpoint must be an http:// or https:// URL, got ${endpoint}`);
    settings.endpoint = endpoint;
  }
  const region = str(values, 's3-region');
  if (region !== null) settings.region = region;
  return settings;
}

/** Whether `path` names one backup (it has a manifest) rather than a destination holding backups. */
async function isOneBackup(path: string, s3: Partial<S3Settings>): Promise<boolean> {
  if (!isS3Url(path)) return !existsSync(path) || existsSync(join(path, 'manifest.json'));
  if (!/^s3:\/\/[^/]+\/[^/]/.test(path)) return false;
  const { root, name } = splitBackupLocation(path);
  const dest = openDestination(root, s3);
  try {
    return (await dest.stat(`${name}/manifest.json`)) !== null;
  } finally {
    await dest.close();
  }
}

/** 90s, 15m, 24h, 7d or plain milliseconds. */
function duration(text: string, name: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(text);
  if (match === null) throw usage(`--${name} must be a duration such as 30m, 24h or 7d, got ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

function count(text: string, name: string, min: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > 100_000) throw usage(`--${name} must be an integer in [${min}, 100000], got ${text}`);
  return Number(text);
}

async function readRemoteManifest(location: string, s3: Partial<S3Settings>): Promise<BackupManifest> {
  const { root, name } = splitBackupLocation(location);
  const dest = openDestination(root, s3);
  try {
    const found = await readManifestAt(dest, name);
    if (found === null) throw new TsraftError('TSR_ERR_BACKUP_CORRUPT', `${location}/manifest.json is missing: not a backup, or an incomplete one`, { details: { file: `${location}/manifest.json` } });
    return found.manifest;
  } finally {
    await dest.close();
  }
}

function endpointsOf(values: Values): string[] {
  const raw = values.endpoint;
  const list = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (list.length === 0) throw usage('--endpoint is required (a node client URL such as http://127.0.0.1:8080)');
  for (const e of list) if (!/^https?:\/\/[^/]+/.test(e)) throw usage(`--endpoint must be an http:// or https:// URL, got ${e}`);
  return list;
}

/** Runs a verification step; a corrupt backup prints why and exits 10. */
function corruptExit(io: BackupIo, dir: string, error: unknown): number {
  rethrowIfBug(error);
  if (isTsraftError(error) && (error.code === 'TSR_ERR_BACKUP_CORRUPT' || error.code === 'TSR_ERR_ARCHIVE_CORRUPT')) {
    io.print(`FAILED ${dir}: ${error.message} [${error.code}]`);
    return EXIT_CORRUPT_BACKUP;
  }
  throw error;
}

export async function runBackupCommand(argv: string[], io: BackupIo): Promise<number> {
  const [sub, ...rest] = argv;
  const stream = io.progressStream ?? process.stderr;
  switch (sub) {
    case 'create': {
      const { values, positionals } = parse(rest, {
        endpoint: { type: 'string', multiple: true },
        out: { type: 'string' },
        base: { type: 'string' },
        'encrypt-key': { type: 'string' },
        token: { type: 'string' },
        'skip-verify': { type: 'boolean' },
        ...S3_FLAGS,
      });
      if (positionals.length > 0) throw usage(`unexpected argument ${positionals[0]}`);
      const outDir = required(values, 'out');
      const key = keyOf(values);
      const token = str(values, 'token') ?? process.env.TSRAFT_TOKEN ?? null;
      const endpoints = endpointsOf(values);
      const bar = terminalProgress('backup', stream);
      let lastError: unknown = null;
      for (const endpoint of endpoints) {
        try {
          const common = {
            endpoint,
            key,
            token,
            verify: values['skip-verify'] !== true,
            onProgress: (p: CreateProgress) => bar?.update(p.receivedBytes, p.stateBytes, `${p.files} files${p.reusedFiles > 0 ? `, ${p.reusedFiles} reused` : ''}`),
          };
          // A backup in S3 is staged locally (verified there), then uploaded: docs/backup-service.md.
          const result = isS3Url(outDir)
            ? { ...(await createBackupAt({ ...common, location: outDir, base: str(values, 'base'), s3: s3Of(values) })), dir: outDir }
            : await createBackup({ ...common, outDir, baseDir: str(values, 'base') });
          bar?.finish();
          const m = result.manifest;
          io.print(
            `backup ${m.backupId} of cluster ${m.clusterId} at index ${m.raft.index} (${m.leaderTime}): ${m.seriesCount} series, ${m.pointCount} points` +
              `\n  written to ${result.dir}: ${formatBytes(m.totals.storedBytes)} stored` +
              (m.base === null ? '' : `, ${formatBytes(m.totals.reusedBytes)} reused from ${m.base.path}`) +
              (m.encryption === null ? '' : ', encrypted (AES-256-GCM)') +
              (result.verified === null ? '\n  not verified (--skip-verify)' : `\n  verified: ${result.verified.rebuild.filesRead} files, state sha256 ${result.verified.rebuild.stateSha256}`),
          );
          return 0;
        } catch (error) {
          bar?.finish();
          rethrowIfBug(error);
          // Only "this node cannot serve" moves on to the next endpoint.
          if (isTsraftError(error) && (error.code === 'TSR_ERR_UNREACHABLE' || error.code === 'TSR_ERR_BACKUP_IN_PROGRESS' || error.code === 'TSR_ERR_SHUTTING_DOWN' || error.code === 'TSR_ERR_READ_INDEX_FAILED' || error.code === 'TSR_ERR_NO_LEADER')) {
            lastError = error;
            continue;
          }
          throw error;
        }
      }
      throw lastError;
    }
    case 'verify': {
      const { values, positionals } = parse(rest, { 'encrypt-key': { type: 'string' }, json: { type: 'boolean' }, ...S3_FLAGS });
      const dir = onePositional(positionals, 'backup directory');
      const key = keyOf(values);
      const bar = terminalProgress('verify', stream);
      try {
        const check = (local: string): ReturnType<typeof verifyBackup> => verifyBackup(local, { key, onProgress: (done, total) => bar?.update(done, total) });
        const result = isS3Url(dir) ? { ...(await withDownloadedBackup(dir, s3Of(values), check)), dir } : check(dir);
        bar?.finish();
        const m = result.manifest;
        if (values.json === true) {
          io.print(JSON.stringify({ ok: true, dir: result.dir, backupId: m.backupId, index: m.raft.index, seriesCount: result.rebuild.seriesCount, pointCount: result.rebuild.pointCount, files: result.rebuild.filesRead, storedBytesRead: result.rebuild.storedBytesRead, stateSha256: result.rebuild.stateSha256, stateHash: result.rebuild.stateHash, warnings: result.warnings }, null, 2));
        } else {
          io.print(`OK ${result.dir}: backup ${m.backupId} at index ${m.raft.index}, ${result.rebuild.seriesCount} series, ${result.rebuild.pointCount} points; ${result.rebuild.filesRead} files (${formatBytes(result.rebuild.storedBytesRead)}) checked; state sha256 ${result.rebuild.stateSha256}`);
          for (const w of result.warnings) io.print(`warning: ${w}`);
        }
        return 0;
      } catch (error) {
        bar?.finish();
        return corruptExit(io, dir, error);
      }
    }
    case 'restore': {
      const { values, positionals } = parse(rest, {
        config: { type: 'string' },
        force: { type: 'boolean' },
        'encrypt-key': { type: 'string' },
        'keep-cluster-id': { type: 'boolean' },
        until: { type: 'string' },
        archive: { type: 'string' },
        ...S3_FLAGS,
      });
      const dir = onePositional(positionals, 'backup directory');
      const configPath = required(values, 'config');
      const until = str(values, 'until');
      const archive = str(values, 'archive');
      if (until !== null && archive === null) throw usage('--until needs --archive ARCHIVE_DIR (the log archive of the source cluster)');
      if (archive !== null && until === null) throw usage('--archive is only used with --until');
      const target = until === null ? null : parseRestoreTarget(until);
      const config = loadNodeConfig(configPath);
      const bar = terminalProgress('restore', stream);
      try {
        const restore = (local: string): ReturnType<typeof restoreIntoDataDir> =>
          restoreIntoDataDir(local, config, {
            key: keyOf(values),
            force: values.force === true,
            keepClusterId: values['keep-cluster-id'] === true,
            until: target,
            archiveDir: archive,
            onProgress: (done, total) => bar?.update(done, total),
          });
        // S3 settings: the flags, else the node configuration's backup.s3 section, else the environment.
        const result = isS3Url(dir) ? await withDownloadedBackup(dir, { ...s3SettingsOf(config.backup.s3), ...s3Of(values) }, restore) : await restore(dir);
        bar?.finish();
        const replay = result.replay;
        io.print(
          `restored node ${config.nodeId} of cluster ${config.clusterId} into ${result.dataDir}` +
            `\n  from backup ${result.manifest.backupId} (index ${result.manifest.raft.index}): now at index ${result.index}, term ${result.term}; ${result.seriesCount} series, ${result.pointCount} points; stateHash ${result.stateHash}` +
            (replay === null ? '' : `\n  replayed ${replay.replayedEntries} archived entries (leader time now ${new Date(replay.leaderTimeMs).toISOString()})`) +
            (replay?.archiveEndedEarly === true ? `\n  warning: the archive ends before ${until}; later entries may not have been archived` : ''),
        );
        return 0;
      } catch (error) {
        bar?.finish();
        return corruptExit(io, dir, error);
      }
    }
    case 'list': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' }, ...S3_FLAGS });
      if (positionals.length === 0) throw usage('list needs at least one backup directory or a destination');
      const s3 = s3Of(values);
      if (positionals.length === 1 && !(await isOneBackup(positionals[0]!, s3))) {
        // A destination: every backup in it, with its chain.
        const dest = openDestination(positionals[0]!, s3);
        try {
          const rows = catalogRows(await listCatalog(dest));
          io.print(values.json === true ? JSON.stringify({ destination: dest.url, backups: rows }, null, 2) : formatCatalog(dest.url, rows));
          return rows.some((r) => r.status === 'unreadable' || r.status === 'broken-chain') ? EXIT_CORRUPT_BACKUP : 0;
        } finally {
          await dest.close();
        }
      }
      const rows = [];
      for (const p of positionals) {
        if (!isS3Url(p)) {
          rows.push(...listBackups([p]));
          continue;
        }
        try {
          rows.push({ dir: p, summary: summarize(p, await readRemoteManifest(p, s3)), problem: null });
        } catch (error) {
          rethrowIfBug(error);
          rows.push({ dir: p, summary: null, problem: (error as Error).message });
        }
      }
      rows.sort((a, b) => (a.summary?.index ?? -1) - (b.summary?.index ?? -1) || a.dir.localeCompare(b.dir));
      io.print(values.json === true ? JSON.stringify(rows, null, 2) : formatList(rows));
      return rows.some((r) => r.summary === null) ? EXIT_CORRUPT_BACKUP : 0;
    }
    case 'inspect': {
      const { values, positionals } = parse(rest, { json: { type: 'boolean' }, ...S3_FLAGS });
      const dir = onePositional(positionals, 'backup directory');
      try {
        const { summary, manifest } = isS3Url(dir) ? await (async () => { const m = await readRemoteManifest(dir, s3Of(values)); return { summary: summarize(dir, m), manifest: m }; })() : inspectBackup(dir);
        io.print(values.json === true ? JSON.stringify({ summary, manifest }, null, 2) : formatInspect(summary, manifest));
        return 0;
      } catch (error) {
        return corruptExit(io, dir, error);
      }
    }
    case 'prune': {
      const { values, positionals } = parse(rest, { 'keep-last': { type: 'string' }, 'keep-daily': { type: 'string' }, 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, ...S3_FLAGS });
      const root = onePositional(positionals, 'destination');
      const keepLast = count(required(values, 'keep-last'), 'keep-last', 1);
      const keepDailyDays = count(str(values, 'keep-daily') ?? '0', 'keep-daily', 0);
      const dest = openDestination(root, s3Of(values));
      try {
        const result = await pruneDestination(dest, { keepLast, keepDailyDays }, { nowMs: Date.now(), dryRun: values['dry-run'] === true });
        if (values.json === true) {
          io.print(JSON.stringify({ destination: dest.url, keep: Object.fromEntries(result.decision.keep), remove: result.decision.remove, deleted: result.deleted, deletedIncomplete: result.deletedIncomplete, broken: result.decision.broken, abortedUploads: result.abortedUploads }, null, 2));
        } else {
          for (const [name, why] of result.decision.keep) io.print(`keep    ${name} (${why === 'base' ? 'a kept incremental is built on it' : why === 'last' ? `one of the last ${keepLast}` : 'newest of its day'})`);
          for (const name of result.decision.remove) io.print(`${values['dry-run'] === true ? 'would delete' : 'deleted'} ${name}`);
          for (const name of result.deletedIncomplete) io.print(`deleted ${name} (incomplete)`);
          for (const name of result.decision.broken) io.print(`warning: ${name} is kept but its chain is broken (a base is missing)`);
        }
        return 0;
      } finally {
        await dest.close();
      }
    }
    case 'drill': {
      const { values, positionals } = parse(rest, {
        from: { type: 'string' },
        backup: { type: 'string' },
        endpoint: { type: 'string', multiple: true },
        token: { type: 'string' },
        'encrypt-key': { type: 'string' },
        window: { type: 'string' },
        settle: { type: 'string' },
        json: { type: 'boolean' },
        ...S3_FLAGS,
      });
      if (positionals.length > 0) throw usage(`unexpected argument ${positionals[0]}`);
      const dest = openDestination(required(values, 'from'), s3Of(values));
      try {
        const result = await runDrill({
          destination: dest,
          backupName: str(values, 'backup'),
          key: keyOf(values),
          endpoints: endpointsOf(values),
          token: str(values, 'token') ?? process.env.TSRAFT_TOKEN ?? null,
          workDir: tmpdir(),
          windowMs: duration(str(values, 'window') ?? '24h', 'window'),
          settleMs: duration(str(values, 'settle') ?? '1h', 'settle'),
        });
        if (values.json === true) io.print(JSON.stringify(result, null, 2));
        else {
          io.print(`${result.pass ? 'PASS' : 'FAIL'} drill of ${dest.url}/${result.backup.name} (backup ${result.backup.backupId}, ${result.backup.kind}, index ${result.backup.index}) in ${(result.durationMs / 1000).toFixed(1)} s`);
          io.print(`  restored state digest ${result.restoredDigest}; compared with ${result.digests.map((d) => `${d.source} ${d.match === null ? '(not available)' : d.match ? 'match' : 'MISMATCH'}`).join(', ') || 'nothing'}`);
          io.print(`  queries: ${result.queries.filter((q) => q.match).length} of ${result.queries.length} metrics answer the same (${new Date(result.window.startMs).toISOString()} – ${new Date(result.window.endMs).toISOString()})`);
          for (const reason of result.reasons) io.print(`  reason: ${reason}`);
        }
        return result.pass ? 0 : EXIT_CORRUPT_BACKUP;
      } catch (error) {
        return corruptExit(io, dest.url, error);
      } finally {
        await dest.close();
      }
    }
    case 'keygen': {
      const { values, positionals } = parse(rest, { out: { type: 'string' } });
      if (positionals.length > 0) throw usage(`unexpected argument ${positionals[0]}`);
      const out = required(values, 'out');
      try {
        writeFileSync(out, generateKeyHex() + '\n', { mode: 0o600, flag: 'wx' });
      } catch (error) {
        rethrowIfBug(error);
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new TsraftError('TSR_ERR_TARGET_NOT_EMPTY', `${out} exists: a key file is never overwritten (losing it loses the backups encrypted with it)`);
        throw error;
      }
      io.print(`wrote a new backup key to ${out} (keep a copy: backups encrypted with it cannot be read without it)`);
      return 0;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.print(BACKUP_USAGE);
      return sub === undefined ? EXIT_CODES.usage : 0;
    default:
      throw usage(`unknown backup command ${JSON.stringify(sub)}: expected create, verify, restore, list, inspect, prune, drill or keygen`);
  }
}
