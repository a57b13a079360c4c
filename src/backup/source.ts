// Where a rebuild reads a backup's files from: a backup directory (with its
// chain of base backups) or an in-memory pack. Every read checks the stored
// size and SHA-256 against the manifest, decrypts, and checks the plaintext
// against its content id, so the rebuild only ever sees verified bytes.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { MANIFEST_FILE, MAX_BASE_CHAIN, MAX_FILE_BYTES, MAX_MANIFEST_BYTES, corruptBackup, sha256Hex, toHex, type FileRole } from './constants.js';
import { checkKey, decryptFile, storedFileName, type BackupKey } from './crypto.js';
import { decodeManifest, type BackupManifest, type ManifestFile } from './manifest.js';

export interface SourceFile {
  /** Plaintext bytes. */
  bytes: Uint8Array;
  /** Where they came from, for messages (a path). */
  file: string;
}

export abstract class BackupSource {
  private readonly byName: Map<string, ManifestFile>;
  private readonly unreadNames: Set<string>;
  private storedBytesRead = 0;

  protected constructor(
    readonly manifest: BackupManifest,
    readonly key: BackupKey | null,
    /** The backup, for messages: a directory or "pack". */
    readonly label: string,
  ) {
    this.byName = new Map(manifest.files.map((f) => [f.name, f]));
    this.unreadNames = new Set(this.byName.keys());
    assert(this.byName.size === manifest.files.length, 'BackupSource: duplicate file names');
  }

  /** The manifest's path, for messages. */
  get manifestPath(): string {
    return this.label === 'pack' ? 'pack:manifest.json' : join(this.label, MANIFEST_FILE);
  }

  /** Bytes of stored files read so far (progress). */
  get bytesRead(): number {
    return this.storedBytesRead;
  }

  /** The stored bytes of a manifest entry, and a path naming them. */
  protected abstract loadStored(entry: ManifestFile): SourceFile;

  /** Files of the manifest no read has asked for yet. */
  unread(): string[] {
    return [...this.unreadNames].sort();
  }

  readIndex(): SourceFile {
    const entries = this.manifest.files.filter((f) => f.role === 'index');
    assert(entries.length === 1, 'the manifest was checked to hold one index file');
    return this.readEntry(entries[0]!, null);
  }

  /** The plaintext of the file with this content id (hex) and role. */
  readById(contentId: string, role: FileRole): SourceFile {
    const name = storedFileName(contentId, role, this.key);
    const entry = this.byName.get(name);
    if (entry === undefined || entry.role !== role) {
      throw corruptBackup(join(this.label, name), `the backup needs this ${role} file but its manifest does not list it`, { contentId });
    }
    return this.readEntry(entry, contentId);
  }

  private readEntry(entry: ManifestFile, contentId: string | null): SourceFile {
    const stored = this.loadStored(entry);
    this.unreadNames.delete(entry.name);
    this.storedBytesRead += stored.bytes.length;
    if (stored.bytes.length !== entry.bytes) {
      throw corruptBackup(stored.file, `size is ${stored.bytes.length} bytes, the manifest says ${entry.bytes} (truncated or altered)`);
    }
    const digest = sha256Hex(stored.bytes);
    if (digest !== entry.sha256) throw corruptBackup(stored.file, 'SHA-256 mismatch: the file was altered');
    if (this.key === null) {
      // Unencrypted: the name is the content id, and the digest just matched it.
      if (contentId !== null && digest !== contentId) throw corruptBackup(stored.file, 'content does not match its content id');
      return stored;
    }
    const plain = decryptFile(this.key, entry.name, stored.bytes, stored.file);
    if (contentId !== null && sha256Hex(plain) !== contentId) throw corruptBackup(stored.file, 'decrypted content does not match its content id');
    return { bytes: plain, file: stored.file };
  }
}

// ---------------------------------------------------------------------------

interface ChainLevel {
  dir: string;
  manifest: BackupManifest;
}

/** Reads manifest.json of `dir`, fully checked; TSR_ERR_BACKUP_CORRUPT when missing or bad. */
export function readManifestFile(dir: string): { manifest: BackupManifest; bytes: Uint8Array; path: string } {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) {
    const why = existsSync(dir) ? 'is missing: not a backup, or an incomplete one (a backup is complete once its manifest is written)' : 'does not exist';
    throw corruptBackup(path, `${existsSync(dir) ? 'manifest' : 'backup directory'} ${why}`);
  }
  const size = statSync(path).size;
  if (size > MAX_MANIFEST_BYTES) throw corruptBackup(path, `manifest of ${size} bytes is larger than ${MAX_MANIFEST_BYTES}`);
  const bytes = new Uint8Array(readFileSync(path));
  return { manifest: decodeManifest(bytes, path), bytes, path };
}

export interface OpenDirectoryOptions {
  key?: BackupKey | null;
}

/** A backup directory and its chain of bases. */
export class DirectorySource extends BackupSource {
  private constructor(
    manifest: BackupManifest,
    key: BackupKey | null,
    readonly dir: string,
    /** chain[0] is this backup; chain[k + 1] the base of chain[k]. */
    readonly chain: readonly ChainLevel[],
  ) {
    super(manifest, key, dir);
  }

  /** Opens a backup: checks its manifest, the key, and every base manifest. */
  static open(dir: string, options: OpenDirectoryOptions = {}): DirectorySource {
    const root = resolve(dir);
    const { manifest } = readManifestFile(root);
    const key = manifest.encryption === null ? null : checkKey(options.key ?? null, manifest.encryption.keyCheck, root);
    const chain: ChainLevel[] = [{ dir: root, manifest }];
    let level = chain[0]!;
    while (level.manifest.base !== null) {
      if (chain.length > MAX_BASE_CHAIN) throw corruptBackup(join(level.dir, MANIFEST_FILE), `chain of base backups is longer than ${MAX_BASE_CHAIN}`);
      const ref = level.manifest.base;
      const baseDir = isAbsolute(ref.path) ? ref.path : resolve(level.dir, ref.path);
      const base = readManifestFile(baseDir);
      if (sha256Hex(base.bytes) !== ref.manifestSha256 || base.manifest.backupId !== ref.backupId) {
        throw corruptBackup(base.path, `is not the base backup ${join(level.dir, MANIFEST_FILE)} was made from (its manifest changed or another backup is at ${baseDir})`);
      }
      if ((base.manifest.encryption?.keyCheck ?? null) !== (manifest.encryption?.keyCheck ?? null)) {
        throw corruptBackup(base.path, 'base backup is encrypted differently from the backup built on it');
      }
      level = { dir: baseDir, manifest: base.manifest };
      chain.push(level);
    }
    return new DirectorySource(manifest, key, root, chain);
  }

  protected loadStored(entry: ManifestFile): SourceFile {
    let k = 0;
    let current: ManifestFile = entry;
    while (current.location === 'base') {
      k++;
      const level = this.chain[k];
      assert(level !== undefined, 'a base location implies a base backup (checked by the manifest)');
      const there = level.manifest.files.find((f) => f.name === entry.name);
      if (there === undefined || there.sha256 !== entry.sha256 || there.bytes !== entry.bytes) {
        throw corruptBackup(join(level.dir, entry.name), `the backup ${this.chain[k - 1]!.dir} reuses this file from its base, but the base does not list it`);
      }
      current = there;
    }
    const path = join(this.chain[k]!.dir, entry.name);
    try {
      const size = statSync(path).size;
      if (size > MAX_FILE_BYTES) throw corruptBackup(path, `file of ${size} bytes is larger than ${MAX_FILE_BYTES}`);
      return { bytes: new Uint8Array(readFileSync(path)), file: path };
    } catch (error) {
      rethrowIfBug(error);
      if (error instanceof TsraftError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      throw corruptBackup(path, code === 'ENOENT' ? 'file is missing' : `cannot read the file (${code ?? (error as Error).message})`);
    }
  }
}

/** A backup held in memory: the files of an unpacked pack. */
export class MemorySource extends BackupSource {
  constructor(
    manifest: BackupManifest,
    private readonly files: ReadonlyMap<string, Uint8Array>,
    key: BackupKey | null = null,
    label = 'pack',
  ) {
    super(manifest, key, label);
  }

  protected loadStored(entry: ManifestFile): SourceFile {
    const bytes = this.files.get(entry.name);
    if (bytes === undefined) throw corruptBackup(`${this.label}:${entry.name}`, 'file is missing');
    return { bytes, file: `${this.label}:${entry.name}` };
  }
}

export { toHex };
