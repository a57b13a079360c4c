// Moving whole backups between a local directory and a destination, and
// reading what a destination holds (docs/backup-service.md).
//
// Upload order is the commit protocol: data files first, manifest.json last,
// so a backup is complete exactly when its manifest is there. A retried
// upload of the same backup skips data files the destination already holds
// whole (same size and SHA-256), and S3 resumes a file that was cut short.
// Download fetches a backup and the files it reuses from its chain of bases
// into a local mirror with the same relative layout, so the backup code reads
// it like any backup directory.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { TsraftError, assert, rethrowIfBug } from '../../errors.js';
import { DATA_FOLDER, MANIFEST_FILE, MAX_BASE_CHAIN, MAX_MANIFEST_BYTES, corruptBackup, sha256Hex } from '../constants.js';
import { decodeManifest, type BackupManifest } from '../manifest.js';
import { BACKUP_NAME_PATTERN, joinKey, type Destination } from './types.js';

export interface TransferProgress {
  files: number;
  totalFiles: number;
  bytes: number;
  /** Files the destination already held whole (skipped). */
  skippedFiles: number;
}

export interface TransferOptions {
  /** Called before each chunk is moved (a rate limiter waits here). */
  onChunk?: (bytes: number) => Promise<void>;
  onProgress?: (progress: TransferProgress) => void;
}

/** The manifest of backup `name` (fully checked), or null when it has none (incomplete or absent). */
export async function readManifestAt(dest: Destination, name: string): Promise<{ manifest: BackupManifest; bytes: Uint8Array } | null> {
  const key = joinKey(name, MANIFEST_FILE);
  const bytes = await dest.read(key, MAX_MANIFEST_BYTES);
  if (bytes === null) return null;
  return { manifest: decodeManifest(bytes, `${dest.url}/${key}`), bytes };
}

/** The backup folder a manifest's base reference points to, in the same destination. */
export function baseNameOf(name: string, manifest: BackupManifest, where: string): string | null {
  if (manifest.base === null) return null;
  const joined = posix.normalize(posix.join(name, manifest.base.path));
  if (joined.includes('/') || joined === '.' || joined === '..' || !BACKUP_NAME_PATTERN.test(joined)) {
    throw corruptBackup(where, `its base ${JSON.stringify(manifest.base.path)} is not another backup of the same destination`);
  }
  return joined;
}

/**
 * Uploads the backup in `localDir` as `name`: every data file its manifest
 * lists as stored here, then the manifest. Refuses when `name` already holds
 * another complete backup.
 */
export async function uploadBackup(localDir: string, dest: Destination, name: string, options: TransferOptions = {}): Promise<{ uploadedBytes: number; skippedFiles: number }> {
  assert(BACKUP_NAME_PATTERN.test(name), `uploadBackup: bad name ${name}`);
  const manifestPath = join(localDir, MANIFEST_FILE);
  if (!existsSync(manifestPath)) throw corruptBackup(manifestPath, 'manifest is missing: only a complete backup is uploaded');
  const manifestBytes = new Uint8Array(await readFile(manifestPath));
  const manifest = decodeManifest(manifestBytes, manifestPath);
  const existing = await dest.read(joinKey(name, MANIFEST_FILE), MAX_MANIFEST_BYTES);
  if (existing !== null) {
    if (sha256Hex(existing) === sha256Hex(manifestBytes)) return { uploadedBytes: 0, skippedFiles: manifest.files.length };
    throw new TsraftError('TSR_ERR_TARGET_NOT_EMPTY', `${dest.url}/${name} already holds another backup: choose a new name for each backup`, { details: { destination: dest.url, key: name } });
  }
  const here = manifest.files.filter((f) => f.location === 'here');
  const progress: TransferProgress = { files: 0, totalFiles: here.length + 1, bytes: 0, skippedFiles: 0 };
  for (const f of here) {
    const path = join(localDir, f.name);
    const key = joinKey(name, f.name);
    const remote = await dest.stat(key);
    if (remote !== null && remote.bytes === f.bytes && remote.sha256 === f.sha256) {
      progress.skippedFiles++;
    } else {
      if (statSync(path).size !== f.bytes) throw corruptBackup(path, `size differs from the manifest (${f.bytes} bytes)`);
      await options.onChunk?.(f.bytes);
      await dest.upload(key, path, { sha256: f.sha256 });
      progress.bytes += f.bytes;
    }
    progress.files++;
    options.onProgress?.(progress);
  }
  // The commit point: from here on the backup is complete.
  await dest.write(joinKey(name, MANIFEST_FILE), manifestBytes, { sha256: sha256Hex(manifestBytes) });
  progress.files++;
  progress.bytes += manifestBytes.length;
  options.onProgress?.(progress);
  return { uploadedBytes: progress.bytes, skippedFiles: progress.skippedFiles };
}

export interface ChainLevel {
  name: string;
  manifest: BackupManifest;
  manifestBytes: Uint8Array;
}

/** The manifests of backup `name` and of every base below it (name first). */
export async function readChain(dest: Destination, name: string): Promise<ChainLevel[]> {
  const chain: ChainLevel[] = [];
  let current: string | null = name;
  while (current !== null) {
    if (chain.length > MAX_BASE_CHAIN) throw corruptBackup(`${dest.url}/${name}`, `chain of base backups is longer than ${MAX_BASE_CHAIN}`);
    const found = await readManifestAt(dest, current);
    if (found === null) {
      if (chain.length === 0) throw new TsraftError('TSR_ERR_BACKUP_NOT_FOUND', `${dest.url} holds no complete backup named ${current}`, { details: { destination: dest.url, name: current } });
      throw corruptBackup(`${dest.url}/${current}/${MANIFEST_FILE}`, `is missing: the base backup of ${chain[chain.length - 1]!.name} was deleted or never completed`);
    }
    chain.push({ name: current, manifest: found.manifest, manifestBytes: found.bytes });
    current = baseNameOf(current, found.manifest, `${dest.url}/${current}/${MANIFEST_FILE}`);
  }
  return chain;
}

/**
 * Downloads backup `name` into `localRoot/<name>`: the manifests of its whole
 * chain and every file its state needs (each from the level that stores it).
 * Returns the local directory of the backup.
 */
export async function downloadBackup(dest: Destination, name: string, localRoot: string, options: TransferOptions = {}): Promise<{ dir: string; chain: ChainLevel[]; bytes: number }> {
  const chain = await readChain(dest, name);
  for (const level of chain) {
    await mkdir(join(localRoot, level.name, DATA_FOLDER), { recursive: true });
    await writeFile(join(localRoot, level.name, MANIFEST_FILE), level.manifestBytes);
  }
  const top = chain[0]!.manifest;
  const progress: TransferProgress = { files: 0, totalFiles: top.files.length, bytes: 0, skippedFiles: 0 };
  for (const f of top.files) {
    // The level that stores the file: the first whose manifest lists it as here.
    let level = 0;
    let entry = f;
    while (entry.location === 'base') {
      level++;
      const below = chain[level]?.manifest.files.find((g) => g.name === f.name);
      if (below === undefined) break; // verification names the broken reference
      entry = below;
    }
    const owner = chain[Math.min(level, chain.length - 1)]!.name;
    const path = join(localRoot, owner, f.name);
    if (!existsSync(path)) {
      try {
        progress.bytes += await dest.download(joinKey(owner, f.name), path, options.onChunk);
      } catch (error) {
        rethrowIfBug(error);
        // A missing object is damage to the backup, reported by verification as such.
        if (error instanceof TsraftError && error.code === 'TSR_ERR_DESTINATION' && /NoSuchKey|does not exist|ENOENT/.test(String(error.details.reason))) continue;
        throw error;
      }
    }
    progress.files++;
    options.onProgress?.(progress);
  }
  return { dir: join(localRoot, name), chain, bytes: progress.bytes };
}

export interface CatalogEntry {
  name: string;
  /** Null for an incomplete backup (objects without a manifest) or an unreadable manifest. */
  manifest: BackupManifest | null;
  /** Why the manifest could not be used. */
  problem: string | null;
  /** The backup it is built on (same destination), or null for a full backup. */
  base: string | null;
}

/** Every backup folder of a destination, oldest first by Raft index then name. */
export async function listCatalog(dest: Destination): Promise<CatalogEntry[]> {
  const entries: CatalogEntry[] = [];
  for (const name of await dest.listFolders()) {
    if (!BACKUP_NAME_PATTERN.test(name)) continue;
    try {
      const found = await readManifestAt(dest, name);
      if (found === null) entries.push({ name, manifest: null, problem: 'incomplete: no manifest.json (an interrupted or unfinished upload)', base: null });
      else entries.push({ name, manifest: found.manifest, problem: null, base: baseNameOf(name, found.manifest, `${dest.url}/${name}`) });
    } catch (error) {
      rethrowIfBug(error);
      if (error instanceof TsraftError && error.code === 'TSR_ERR_DESTINATION') throw error;
      entries.push({ name, manifest: null, problem: (error as Error).message, base: null });
    }
  }
  return entries.sort((a, b) => (a.manifest?.raft.index ?? -1) - (b.manifest?.raft.index ?? -1) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Deletes every object of backup `name`, the manifest first (so it never looks complete while half gone). */
export async function deleteBackup(dest: Destination, name: string): Promise<number> {
  assert(BACKUP_NAME_PATTERN.test(name), `deleteBackup: bad name ${name}`);
  await dest.delete([joinKey(name, MANIFEST_FILE)]);
  const objects = await dest.list(name + '/');
  await dest.delete(objects.map((o) => o.key));
  return objects.length;
}

/** The files of a local backup directory, for tests and messages. */
export function localDataFiles(dir: string): string[] {
  const data = join(dir, DATA_FOLDER);
  return existsSync(data) ? readdirSync(data).map((n) => `${DATA_FOLDER}/${n}`) : [];
}

