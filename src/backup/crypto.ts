// Backup encryption (docs/backup-format.md, "Encryption"): AES-256-GCM per
// file, keys derived with HKDF-SHA256 from a 32-byte key file, file names from
// an HMAC of the content id, and a key check in the manifest so that a wrong
// key is reported as a wrong key.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { DATA_FILE_VERSION, ENCRYPTED_MAGIC, ROLE_EXTENSION, DATA_FOLDER, corruptBackup, startsWith, toHex, type FileRole } from './constants.js';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_CHECK_BYTES = 16;
const HKDF_SALT = 'tsraft-backup-v1';
/** magic + version + nonce. */
export const ENCRYPTED_HEADER_BYTES = ENCRYPTED_MAGIC.length + 1 + NONCE_BYTES;
export const ENCRYPTION_OVERHEAD_BYTES = ENCRYPTED_HEADER_BYTES + TAG_BYTES;

export interface BackupKey {
  readonly aesKey: Buffer;
  readonly nameKey: Buffer;
  /** 32 hex digits, stored in the manifest. */
  readonly keyCheck: string;
  /** Where it came from, for messages. */
  readonly source: string;
}

function keyError(message: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_BACKUP_KEY', message, { details });
}

export function deriveBackupKey(raw: Uint8Array, source: string): BackupKey {
  assert(raw.length === KEY_BYTES, `deriveBackupKey: ${raw.length} bytes`);
  const derive = (info: string, length: number): Buffer => Buffer.from(hkdfSync('sha256', raw, HKDF_SALT, info, length));
  return { aesKey: derive('aes-256-gcm', 32), nameKey: derive('file-names', 32), keyCheck: derive('key-check', KEY_CHECK_BYTES).toString('hex'), source };
}

/** Reads a key file: 32 raw bytes, or 64 hex digits (a trailing newline is ignored). */
export function loadKeyFile(path: string): BackupKey {
  let bytes: Buffer;
  try {
    if (statSync(path).size > 1024) throw keyError(`key file ${path} is larger than a key`, { file: path });
    bytes = readFileSync(path);
  } catch (error) {
    rethrowIfBug(error);
    if (error instanceof TsraftError) throw error;
    throw keyError(`cannot read key file ${path}: ${(error as Error).message}`, { file: path });
  }
  if (bytes.length === KEY_BYTES) return deriveBackupKey(bytes, path);
  const text = bytes.toString('latin1').replace(/\r?\n$/, '');
  if (/^[0-9a-fA-F]{64}$/.test(text)) return deriveBackupKey(Buffer.from(text, 'hex'), path);
  throw keyError(`key file ${path} must hold 32 bytes, raw or as 64 hex digits (it holds ${bytes.length} bytes); create one with tsraft backup keygen --out FILE`, { file: path });
}

export function generateKeyHex(): string {
  return randomBytes(KEY_BYTES).toString('hex');
}

/** Throws TSR_ERR_BACKUP_KEY unless `key` is the key the backup was encrypted with. */
export function checkKey(key: BackupKey | null, keyCheck: string, backup: string): BackupKey {
  if (key === null) throw keyError(`backup ${backup} is encrypted: pass the key with --encrypt-key FILE`, { backup });
  const a = Buffer.from(key.keyCheck, 'hex');
  const b = Buffer.from(keyCheck, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw keyError(`the key in ${key.source} is not the key backup ${backup} was encrypted with`, { backup, keyFile: key.source });
  }
  return key;
}

/** The name of a data file in a backup: its content id, or under encryption
 *  an HMAC of it, so names are stable (dedup) but reveal nothing. */
export function storedFileName(contentId: string, role: FileRole, key: BackupKey | null): string {
  const base = key === null ? contentId : createHmac('sha256', key.nameKey).update(Buffer.from(contentId, 'hex')).digest('hex');
  return `${DATA_FOLDER}/${base}.${ROLE_EXTENSION[role]}`;
}

/** Streaming AES-256-GCM for one file; the name is the additional authenticated data. */
export class FileEncryptor {
  private readonly cipher;
  readonly header: Uint8Array;

  constructor(key: BackupKey, name: string) {
    const nonce = randomBytes(NONCE_BYTES);
    this.cipher = createCipheriv('aes-256-gcm', key.aesKey, nonce);
    this.cipher.setAAD(Buffer.from(name, 'utf8'));
    const header = new Uint8Array(ENCRYPTED_HEADER_BYTES);
    header.set(ENCRYPTED_MAGIC, 0);
    header[ENCRYPTED_MAGIC.length] = DATA_FILE_VERSION;
    header.set(nonce, ENCRYPTED_MAGIC.length + 1);
    this.header = header;
  }

  update(plain: Uint8Array): Uint8Array {
    return new Uint8Array(this.cipher.update(plain));
  }

  /** The last ciphertext bytes followed by the tag. */
  final(): Uint8Array {
    const rest = this.cipher.final();
    const tag = this.cipher.getAuthTag();
    assert(tag.length === TAG_BYTES, 'GCM tag length');
    return new Uint8Array(Buffer.concat([rest, tag]));
  }
}

export function encryptFile(key: BackupKey, name: string, plain: Uint8Array): Uint8Array {
  const enc = new FileEncryptor(key, name);
  const body = enc.update(plain);
  const tail = enc.final();
  const out = new Uint8Array(enc.header.length + body.length + tail.length);
  out.set(enc.header, 0);
  out.set(body, enc.header.length);
  out.set(tail, enc.header.length + body.length);
  return out;
}

/** Decrypts a stored file; a bad header or tag is TSR_ERR_BACKUP_CORRUPT naming `file`. */
export function decryptFile(key: BackupKey, name: string, stored: Uint8Array, file: string): Uint8Array {
  if (stored.length < ENCRYPTION_OVERHEAD_BYTES || !startsWith(stored, ENCRYPTED_MAGIC)) throw corruptBackup(file, 'not an encrypted backup file (bad magic or too short)');
  const version = stored[ENCRYPTED_MAGIC.length];
  if (version !== DATA_FILE_VERSION) throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `${file}: encrypted file version ${version} is not supported`, { details: { file } });
  const nonce = stored.subarray(ENCRYPTED_MAGIC.length + 1, ENCRYPTED_HEADER_BYTES);
  const tag = stored.subarray(stored.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key.aesKey, nonce);
  decipher.setAAD(Buffer.from(name, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    const plain = Buffer.concat([decipher.update(stored.subarray(ENCRYPTED_HEADER_BYTES, stored.length - TAG_BYTES)), decipher.final()]);
    return new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength);
  } catch (error) {
    rethrowIfBug(error);
    throw corruptBackup(file, 'decryption failed: the file was altered (GCM authentication tag mismatch)');
  }
}

export { toHex };
