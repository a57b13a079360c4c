// Takes one scheduled backup from a captured state straight into a
// destination (docs/backup-service.md, "Taking a scheduled backup"): the
// state is cut into the content-addressed files of the backup format
// (docs/backup-format.md); for an incremental, files the base already holds
// become references; new files are encrypted when a key is configured and
// uploaded one at a time (memory: one file); the manifest, which also records
// the state digest at the backup's index and its schedule slot, is written
// last — the commit point — after `beforeCommit` confirmed the claim still
// stands.
import { TsraftError, assert } from '../errors.js';
import type { StateDigest } from '../tsdb/digest.js';
import { MAX_FILE_BYTES, MANIFEST_FILE, sha256Hex, toHex, type FileRole } from './constants.js';
import { encryptFile, decryptFile, storedFileName, type BackupKey } from './crypto.js';
import { decodeGroupFile, decodeRootIndex } from './data-files.js';
import { exportBackupFiles } from './export.js';
import { encodeManifest, sealManifest, type BackupManifest, type ManifestFile } from './manifest.js';
import { readSeriesHeader, type PageCache } from './series-pages.js';
import { manifestFor, type CaptureInfo, type ListedFile } from './snapshot-pack.js';
import { readChain, type ChainLevel } from './destinations/transfer.js';
import { joinKey, type Destination } from './destinations/types.js';
import { corruptBackup } from './constants.js';

export interface ScheduledBackupInput {
  /** TimeSeriesStateMachine.snapshot() at the backup's index. */
  tssm: Uint8Array;
  info: CaptureInfo;
  dest: Destination;
  name: string;
  /** The backup to build on (an incremental), or null for a full backup. */
  baseName: string | null;
  key: BackupKey | null;
  digest: StateDigest;
  schedule: { slot: number; attempt: number };
  cache: PageCache | null;
  /** Throws to abandon the backup before its manifest is written (the claim was taken over). */
  beforeCommit: () => void | Promise<void>;
  /** Awaited between series and files so the node keeps serving. */
  pause: () => Promise<void>;
  /** Awaited before each upload with its size (a rate limiter). */
  onUpload?: (bytes: number) => Promise<void>;
}

export interface ScheduledBackupResult {
  manifest: BackupManifest;
  /** Bytes uploaded (data files and manifest). */
  storedBytes: number;
  files: number;
  reusedFiles: number;
}

interface RemoteBase {
  name: string;
  manifest: BackupManifest;
  manifestSha256: string;
  /** content id → role, for every file of the base's state. */
  contentIds: Map<string, FileRole>;
}

/** Reads the stored bytes of one file of a chain (from the level that stores it), checked and decrypted. */
async function readChainFile(dest: Destination, chain: readonly ChainLevel[], entry: ManifestFile, key: BackupKey | null): Promise<Uint8Array> {
  let level = 0;
  let current = entry;
  while (current.location === 'base') {
    level++;
    const below = chain[level]?.manifest.files.find((f) => f.name === entry.name);
    if (below === undefined) throw corruptBackup(`${dest.url}/${chain[level - 1]!.name}/${entry.name}`, 'reused from a base that does not list it');
    current = below;
  }
  const where = `${dest.url}/${chain[level]!.name}/${entry.name}`;
  const stored = await dest.read(joinKey(chain[level]!.name, entry.name), MAX_FILE_BYTES);
  if (stored === null) throw corruptBackup(where, 'file is missing');
  if (stored.length !== entry.bytes || sha256Hex(stored) !== entry.sha256) throw corruptBackup(where, 'SHA-256 mismatch: the file was altered');
  return key === null ? stored : decryptFile(key, entry.name, stored, where);
}

/** The content ids of a base backup in the destination (its index and group files are read). */
export async function loadRemoteBase(dest: Destination, baseName: string, key: BackupKey | null): Promise<RemoteBase> {
  const chain = await readChain(dest, baseName);
  const top = chain[0]!;
  if ((top.manifest.encryption?.keyCheck ?? null) !== (key?.keyCheck ?? null)) {
    throw new TsraftError('TSR_ERR_BACKUP_KEY', `base backup ${dest.url}/${baseName} is encrypted differently from the configured key: the next backup must be full`);
  }
  const contentIds = new Map<string, FileRole>();
  const indexEntry = top.manifest.files.find((f) => f.role === 'index');
  assert(indexEntry !== undefined, 'a checked manifest lists one index file');
  const indexBytes = await readChainFile(dest, chain, indexEntry, key);
  const root = decodeRootIndex(indexBytes, `${dest.url}/${baseName}/${indexEntry.name}`);
  contentIds.set(sha256Hex(indexBytes), 'index');
  contentIds.set(toHex(root.sessionsId), 'sessions');
  for (const g of root.groups) {
    const id = toHex(g.fileId);
    contentIds.set(id, 'group');
    const name = storedFileName(id, 'group', key);
    const entry = top.manifest.files.find((f) => f.name === name);
    if (entry === undefined) throw corruptBackup(`${dest.url}/${baseName}/${MANIFEST_FILE}`, `does not list its group file ${name}`);
    const bytes = await readChainFile(dest, chain, entry, key);
    const grp = decodeGroupFile(bytes, `${dest.url}/${baseName}/${name}`, g.group, (header) => readSeriesHeader(header).blockSpanMs);
    for (const seg of grp.segments) contentIds.set(toHex(seg.id), 'segment');
  }
  return { name: baseName, manifest: top.manifest, manifestSha256: sha256Hex(top.manifestBytes), contentIds };
}

export async function takeScheduledBackup(input: ScheduledBackupInput): Promise<ScheduledBackupResult> {
  const { dest, name, key } = input;
  const base = input.baseName === null ? null : await loadRemoteBase(dest, input.baseName, key);
  const generator = exportBackupFiles(input.tssm, { layout: base?.manifest.layout ?? null, cache: input.cache });
  const plain = new Map<string, ListedFile>();
  const stored = new Map<string, ManifestFile>();
  let storedBytes = 0;
  let reusedFiles = 0;
  let step = generator.next();
  while (step.done !== true) {
    const f = step.value;
    if (f === null) {
      await input.pause();
      step = generator.next();
      continue;
    }
    if (!plain.has(f.name)) {
      plain.set(f.name, { name: f.name, role: f.role, bytes: f.bytes.length, sha256: f.id });
      const storedName = storedFileName(f.id, f.role, key);
      if (base !== null && base.contentIds.get(f.id) === f.role) {
        const there = base.manifest.files.find((g) => g.name === storedName);
        if (there === undefined) throw corruptBackup(`${dest.url}/${base.name}/${MANIFEST_FILE}`, `does not list ${storedName}, which its index refers to`);
        stored.set(storedName, { name: storedName, role: f.role, bytes: there.bytes, sha256: there.sha256, location: 'base' });
        reusedFiles++;
      } else {
        const bytes = key === null ? f.bytes : encryptFile(key, storedName, f.bytes);
        const sha = key === null ? f.id : sha256Hex(bytes);
        await input.onUpload?.(bytes.length);
        await dest.write(joinKey(name, storedName), bytes, { sha256: sha });
        storedBytes += bytes.length;
        stored.set(storedName, { name: storedName, role: f.role, bytes: bytes.length, sha256: sha, location: 'here' });
      }
    }
    await input.pause();
    step = generator.next();
  }
  const described = manifestFor(step.value, [...plain.values()], input.info);
  assert(described.state.appliedIndex <= input.digest.index && input.info.raftIndex === input.digest.index, 'the digest describes the captured index');
  const { manifestSha256: _hash, totals: _totals, ...draft } = described;
  const manifest = sealManifest({
    ...draft,
    encryption: key === null ? null : { algorithm: 'AES-256-GCM', kdf: 'HKDF-SHA256', keyCheck: key.keyCheck },
    base: base === null ? null : { path: `../${base.name}`, backupId: base.manifest.backupId, manifestSha256: base.manifestSha256 },
    files: [...stored.values()],
    stateDigest: { algorithm: input.digest.algorithm, index: input.digest.index, digest: input.digest.digest },
    schedule: { slot: input.schedule.slot, attempt: input.schedule.attempt, kind: base === null ? 'full' : 'incremental' },
  });
  await input.beforeCommit();
  const bytes = encodeManifest(manifest);
  await dest.write(joinKey(name, MANIFEST_FILE), bytes, { sha256: sha256Hex(bytes) });
  storedBytes += bytes.length;
  return { manifest, storedBytes, files: stored.size, reusedFiles };
}
