// `tsraft backup create`: asks a node for a consistent snapshot stream (a
// pack, docs/backup-format.md) and writes it into a backup directory as it
// arrives: memory holds one network chunk, never a file. With a base backup,
// the node sends references for the files the base already has, and the new
// directory stores only new files. With a key, every file is encrypted on the
// way to disk. The manifest is written last (atomically), and the new backup
// is then verified end to end.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join, relative, resolve } from 'node:path';
import { ERROR_CODES, TsraftError, assert, rethrowIfBug, type ErrorCode } from '../errors.js';
import { DATA_FOLDER, MANIFEST_FILE, ROLE_EXTENSION, sha256Hex, toHex, type BackupLayout, type FileRole } from './constants.js';
import { FileEncryptor, storedFileName, type BackupKey } from './crypto.js';
import { writeFileAtomically } from './fs-util.js';
import { decodeGroupFile, decodeRootIndex } from './data-files.js';
import { decodeManifest, encodeManifest, sealManifest, type BackupManifest, type ManifestFile } from './manifest.js';
import { readPack, type PackRecordHeader } from './pack.js';
import { BACKUP_ROUTE_PATH } from './route.js';
import { readSeriesHeader } from './series-pages.js';
import { DirectorySource, readManifestFile } from './source.js';
import { verifyBackup, type VerifyResult } from './verify.js';

/** Waiting for the node's answer (headers) is bounded; the stream itself is not. */
const RESPONSE_HEADERS_TIMEOUT_MS = 120_000;
/** A stream that stalls this long is broken. */
const STREAM_IDLE_TIMEOUT_MS = 120_000;
/** Reporting the outcome to the node is best effort and brief. */
const REPORT_TIMEOUT_MS = 5_000;

export interface CreateProgress {
  /** Bytes of the pack received so far. */
  receivedBytes: number;
  /** The node's estimate of the whole state, bytes (null when unknown). */
  stateBytes: number | null;
  files: number;
  reusedFiles: number;
}

export interface CreateBackupOptions {
  /** A node's client URL, http(s)://host:port. */
  endpoint: string;
  outDir: string;
  baseDir?: string | null;
  key?: BackupKey | null;
  /** Sent as `Authorization: Bearer` when the node requires client tokens. */
  token?: string | null;
  /** Layout of a full backup (default: the node chooses; an incremental keeps its base's). For tests and benchmarks. */
  layout?: BackupLayout | null;
  /** Verify the new backup end to end once written (default true). */
  verify?: boolean;
  onProgress?: (progress: CreateProgress) => void;
}

export interface CreateBackupResult {
  dir: string;
  manifest: BackupManifest;
  /** Pack bytes received from the node. */
  receivedBytes: number;
  verified: VerifyResult | null;
  /** Whether the node took the report of this backup (POST /backups, its backup metrics). */
  reported: boolean;
}

interface BaseInfo {
  dir: string;
  source: DirectorySource;
  manifestSha256: string;
  /** content id → role, for every file of the base. */
  contentIds: Map<string, FileRole>;
}

function roleOfName(name: string): FileRole {
  const ext = name.slice(name.lastIndexOf('.') + 1);
  for (const [role, e] of Object.entries(ROLE_EXTENSION)) if (e === ext) return role as FileRole;
  throw new TsraftError('TSR_ERR_BACKUP_STREAM', `the node sent a file of unknown kind: ${name}`);
}

function contentIdOfName(name: string): string {
  const id = name.slice(DATA_FOLDER.length + 1, name.lastIndexOf('.'));
  assert(/^[0-9a-f]{64}$/.test(id), `pack file name ${name} was checked by the reader`);
  return id;
}

/** The content ids a base backup holds (reads its index and group files). */
function loadBase(baseDir: string, key: BackupKey | null): BaseInfo {
  const dir = resolve(baseDir);
  const { bytes } = readManifestFile(dir);
  const source = DirectorySource.open(dir, { key });
  if (source.manifest.encryption === null && key !== null) {
    throw new TsraftError('TSR_ERR_BACKUP_KEY', `base backup ${dir} is not encrypted; an encrypted backup cannot reuse its files (make a full backup, or drop --encrypt-key)`);
  }
  const contentIds = new Map<string, FileRole>();
  const index = source.readIndex();
  const root = decodeRootIndex(index.bytes, index.file);
  contentIds.set(sha256Hex(index.bytes), 'index');
  contentIds.set(toHex(root.sessionsId), 'sessions');
  for (const g of root.groups) {
    const id = toHex(g.fileId);
    contentIds.set(id, 'group');
    const groupFile = source.readById(id, 'group');
    const grp = decodeGroupFile(groupFile.bytes, groupFile.file, g.group, (header) => readSeriesHeader(header).blockSpanMs);
    for (const seg of grp.segments) contentIds.set(toHex(seg.id), 'segment');
  }
  return { dir, source, manifestSha256: sha256Hex(bytes), contentIds };
}

function prepareOutDir(outDir: string): void {
  if (existsSync(outDir) && readdirSync(outDir).length > 0) {
    throw new TsraftError('TSR_ERR_TARGET_NOT_EMPTY', `backup directory ${outDir} is not empty: choose a new directory for each backup`, { details: { dir: outDir } });
  }
  mkdirSync(join(outDir, DATA_FOLDER), { recursive: true });
}

function streamError(message: string, cause?: unknown): TsraftError {
  return new TsraftError('TSR_ERR_BACKUP_STREAM', message, cause === undefined ? {} : { cause });
}

/** POSTs the request and resolves with the response once its headers arrive. */
function postForPack(endpoint: string, body: unknown, token: string | null): Promise<IncomingMessage> {
  const url = new URL(BACKUP_ROUTE_PATH, endpoint.endsWith('/') ? endpoint : endpoint + '/');
  const payload = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': payload.length, accept: 'application/vnd.tsraft.backup-pack' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const requester = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const req = requester(url, { method: 'POST', headers });
    const timer = setTimeout(() => req.destroy(new TsraftError('TSR_ERR_TIMEOUT', `${url.origin} did not answer within ${RESPONSE_HEADERS_TIMEOUT_MS} ms`)), RESPONSE_HEADERS_TIMEOUT_MS);
    req.on('response', (res) => {
      clearTimeout(timer);
      res.setTimeout(STREAM_IDLE_TIMEOUT_MS, () => res.destroy(streamError(`the backup stream from ${url.origin} stalled for ${STREAM_IDLE_TIMEOUT_MS} ms`)));
      resolvePromise(res);
    });
    req.on('error', (error) => {
      clearTimeout(timer);
      if (error instanceof TsraftError) reject(error);
      else reject(new TsraftError('TSR_ERR_UNREACHABLE', `cannot reach ${url.origin} (${(error as NodeJS.ErrnoException).code ?? error.message})`, { cause: error, details: { endpoints: [endpoint] } }));
    });
    req.end(payload);
  });
}

async function errorFromResponse(res: IncomingMessage, endpoint: string): Promise<TsraftError> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > 1 << 20) break;
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    const code = body.error?.code;
    if (typeof code === 'string' && code in ERROR_CODES) {
      return new TsraftError(code as ErrorCode, `${endpoint}: ${body.error?.message ?? code}`, { details: body.error?.details ?? {} });
    }
  } catch (error) {
    rethrowIfBug(error);
  }
  return streamError(`${endpoint} answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
}

/** The node's record of the backups taken from it (POST /backups, docs/metrics.md).
 *  Best effort: a node that does not answer does not fail the backup. */
async function reportToNode(options: CreateBackupOptions, record: Record<string, unknown>): Promise<boolean> {
  const url = new URL('/backups', options.endpoint);
  const payload = Buffer.from(JSON.stringify(record));
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': payload.length };
  if (options.token != null) headers.authorization = `Bearer ${options.token}`;
  const requester = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise) => {
    const req = requester(url, { method: 'POST', headers, timeout: REPORT_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolvePromise(res.statusCode === 200));
      res.on('error', () => resolvePromise(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolvePromise(false));
    req.end(payload);
  });
}

/** Streams a consistent backup from a node into `outDir` (see the file comment). */
export async function createBackup(options: CreateBackupOptions): Promise<CreateBackupResult> {
  const outDir = resolve(options.outDir);
  const key = options.key ?? null;
  const base = options.baseDir == null ? null : loadBase(options.baseDir, key);
  if (base !== null && resolve(base.dir) === outDir) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', '--base must be another directory than --out');
  const created = !existsSync(outDir);
  prepareOutDir(outDir);
  const startedAtMs = Date.now();
  try {
    const result = await receive(outDir, options, key, base);
    let verified: VerifyResult | null = null;
    const report = (verification: 'verified' | 'failed' | 'not-verified', error?: unknown): Promise<boolean> =>
      reportToNode(options, {
        id: result.manifest.backupId,
        startedAtMs,
        durationSeconds: (Date.now() - startedAtMs) / 1000,
        sizeBytes: result.manifest.totals.storedBytes,
        raftIndex: result.manifest.raft.index,
        outcome: 'success',
        verification,
        kind: result.manifest.base === null ? 'full' : 'incremental',
        ...(error === undefined ? {} : { error: (error as Error).message }),
      });
    if (options.verify !== false) {
      try {
        verified = verifyBackup(outDir, { key });
      } catch (error) {
        rethrowIfBug(error);
        await report('failed', error);
        throw error;
      }
    }
    const reported = await report(verified === null ? 'not-verified' : 'verified');
    return { ...result, verified, reported };
  } catch (error) {
    // Nothing half-written is left behind: without a manifest it is no backup.
    rmSync(join(outDir, MANIFEST_FILE), { force: true });
    rmSync(join(outDir, DATA_FOLDER), { recursive: true, force: true });
    if (created) rmSync(outDir, { recursive: true, force: true });
    throw error;
  }
}

async function receive(outDir: string, options: CreateBackupOptions, key: BackupKey | null, base: BaseInfo | null): Promise<Omit<CreateBackupResult, 'verified' | 'reported'>> {
  const layout: BackupLayout | null = base === null ? (options.layout ?? null) : base.source.manifest.layout;
  const res = await postForPack(options.endpoint, { have: base === null ? [] : [...base.contentIds.keys()], layout }, options.token ?? null);
  if (res.statusCode !== 200) throw await errorFromResponse(res, options.endpoint);
  const stateHeader = Number(res.headers['x-tsraft-backup-state-bytes']);
  const progress: CreateProgress = { receivedBytes: 0, stateBytes: Number.isFinite(stateHeader) ? stateHeader : null, files: 0, reusedFiles: 0 };
  const entries = new Map<string, ManifestFile>();
  /** Pack name → what the stream announced, to check against its manifest. */
  const received = new Map<string, { size: number; sha256: string }>();
  let current: { header: PackRecordHeader; handle: FileHandle; name: string; hash: ReturnType<typeof createHash>; size: number; encryptor: FileEncryptor | null } | null = null;
  let serverManifest: BackupManifest | null = null;

  const writeStored = async (bytes: Uint8Array): Promise<void> => {
    assert(current !== null, 'writeStored outside a file');
    if (bytes.length === 0) return;
    current.hash.update(bytes);
    current.size += bytes.length;
    await current.handle.write(bytes);
  };

  try {
    await readPack(
      (async function* () {
        try {
          for await (const chunk of res) {
            progress.receivedBytes += (chunk as Buffer).length;
            yield chunk as Uint8Array;
          }
        } catch (error) {
          rethrowIfBug(error);
          if (error instanceof TsraftError) throw error;
          throw streamError(`the backup stream from ${options.endpoint} broke (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); nothing was kept`, error);
        }
      })(),
      {
        onFileStart: async (header) => {
          const role = roleOfName(header.name);
          const id = contentIdOfName(header.name);
          if (id !== toHex(header.sha256)) throw streamError(`the node sent ${header.name} whose digest is not its name`);
          const name = storedFileName(id, role, key);
          const handle = await open(join(outDir, name), 'wx');
          current = { header, handle, name, hash: createHash('sha256'), size: 0, encryptor: key === null ? null : new FileEncryptor(key, name) };
          if (current.encryptor !== null) await writeStored(current.encryptor.header);
        },
        onFileData: async (chunk) => {
          assert(current !== null, 'file data outside a file');
          await writeStored(current.encryptor === null ? chunk : current.encryptor.update(chunk));
        },
        onFileEnd: async (header) => {
          assert(current !== null && current.header === header, 'file end without its start');
          if (current.encryptor !== null) await writeStored(current.encryptor.final());
          await current.handle.sync();
          await current.handle.close();
          entries.set(current.name, { name: current.name, role: roleOfName(header.name), bytes: current.size, sha256: current.hash.digest('hex'), location: 'here' });
          received.set(header.name, { size: header.size, sha256: toHex(header.sha256) });
          current = null;
          progress.files++;
          options.onProgress?.(progress);
        },
        onRef: (header) => {
          const id = contentIdOfName(header.name);
          const role = roleOfName(header.name);
          if (base === null || base.contentIds.get(id) !== role) throw streamError(`the node referred to ${header.name}, which the base backup does not hold`);
          const name = storedFileName(id, role, key);
          const there = base.source.manifest.files.find((f) => f.name === name);
          if (there === undefined) throw streamError(`the base backup ${base.dir} does not list ${name}`);
          entries.set(name, { name, role, bytes: there.bytes, sha256: there.sha256, location: 'base' });
          received.set(header.name, { size: header.size, sha256: toHex(header.sha256) });
          progress.files++;
          progress.reusedFiles++;
          options.onProgress?.(progress);
        },
        onManifest: (bytes) => {
          serverManifest = decodeManifest(bytes, `${options.endpoint} (streamed manifest)`);
        },
      },
    );
  } finally {
    const open = current as { handle: FileHandle } | null;
    if (open !== null) await open.handle.close().catch(() => undefined);
  }
  const server = serverManifest as BackupManifest | null;
  assert(server !== null, 'readPack requires a manifest');
  // The stream's manifest must describe exactly what arrived.
  if (server.files.length !== received.size) throw streamError(`the node's manifest lists ${server.files.length} files, ${received.size} arrived`);
  for (const f of server.files) {
    const got = received.get(f.name);
    if (got === undefined || got.size !== f.bytes || got.sha256 !== f.sha256) throw streamError(`the node's manifest and the streamed ${f.name} disagree`);
  }
  const { manifestSha256: _serverHash, totals: _serverTotals, ...described } = server;
  const manifest = sealManifest({
    ...described,
    encryption: key === null ? null : { algorithm: 'AES-256-GCM', kdf: 'HKDF-SHA256', keyCheck: key.keyCheck },
    base: base === null ? null : { path: relative(outDir, base.dir) || '.', backupId: base.source.manifest.backupId, manifestSha256: base.manifestSha256 },
    files: [...entries.values()],
  });
  await writeFileAtomically(join(outDir, MANIFEST_FILE), encodeManifest(manifest));
  return { dir: outDir, manifest, receivedBytes: progress.receivedBytes };
}
