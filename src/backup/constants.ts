// Magic numbers, versions and layout bounds of the backup format
// (docs/backup-format.md). One place, so the document and the code agree.
import { createHash } from 'node:crypto';
import { TsraftError } from '../errors.js';

export const MANIFEST_FILE = 'manifest.json';
export const DATA_FOLDER = 'data';
export const BACKUP_FORMAT = 'tsraft-backup';
export const BACKUP_FORMAT_VERSION = 1;

export const INDEX_MAGIC = ascii('TSBI');
export const GROUP_MAGIC = ascii('TSBG');
export const SEGMENT_MAGIC = ascii('TSBS');
export const SESSIONS_MAGIC = ascii('TSBN');
export const ENCRYPTED_MAGIC = ascii('TSBE');
export const PACK_MAGIC = ascii('TSBP');
export const ARCHIVE_MAGIC = ascii('TSLA');
export const DATA_FILE_VERSION = 1;
export const PACK_VERSION = 1;
export const ARCHIVE_VERSION = 1;

export type FileRole = 'index' | 'group' | 'segment' | 'sessions';
export const FILE_ROLES: readonly FileRole[] = ['index', 'group', 'segment', 'sessions'];
export const ROLE_EXTENSION: Readonly<Record<FileRole, string>> = { index: 'idx', group: 'grp', segment: 'seg', sessions: 'ses' };

export interface BackupLayout {
  /** Pages one time block is cut into (1–64). */
  pagesPerBlock: number;
  /** Series per group (1–2^20): series id s is in group floor(s / seriesPerGroup). */
  seriesPerGroup: number;
  /** A segment file is closed at a content-defined point once it holds this many bytes. */
  minSegmentBytes: number;
}

export const DEFAULT_PAGES_PER_BLOCK = 8;
export const DEFAULT_SERIES_PER_GROUP = 1024;
export const MAX_PAGES_PER_BLOCK = 64;
export const MAX_SERIES_PER_GROUP = 1 << 20;
export const MIN_SEGMENT_BYTES_FLOOR = 16 * 1024;
export const MIN_SEGMENT_BYTES_CEILING = 16 * 1024 * 1024;
/** A segment is cut after any record once it holds this many times minSegmentBytes. */
export const SEGMENT_HARD_CAP_FACTOR = 8;
/** Largest single file in a backup or pack. */
export const MAX_FILE_BYTES = 1024 * 1024 * 1024;
/** Largest manifest read (a manifest lists every file: ~200 bytes each). */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
/** Longest chain of incremental backups resolved. */
export const MAX_BASE_CHAIN = 32;

/** minSegmentBytes for a state of `stateBytes`: about 1/512 of it, a power of two, clamped. */
export function minSegmentBytesFor(stateBytes: number): number {
  let size = MIN_SEGMENT_BYTES_FLOOR;
  while (size < stateBytes / 512 && size < MIN_SEGMENT_BYTES_CEILING) size *= 2;
  return size;
}

export function defaultLayout(stateBytes: number): BackupLayout {
  return { pagesPerBlock: DEFAULT_PAGES_PER_BLOCK, seriesPerGroup: DEFAULT_SERIES_PER_GROUP, minSegmentBytes: minSegmentBytesFor(stateBytes) };
}

/** Null when the layout is within bounds, else what is wrong. */
export function layoutProblem(layout: BackupLayout): string | null {
  const { pagesPerBlock, seriesPerGroup, minSegmentBytes } = layout;
  if (!Number.isSafeInteger(pagesPerBlock) || pagesPerBlock < 1 || pagesPerBlock > MAX_PAGES_PER_BLOCK) return `pagesPerBlock must be an integer in [1, ${MAX_PAGES_PER_BLOCK}], got ${pagesPerBlock}`;
  if (!Number.isSafeInteger(seriesPerGroup) || seriesPerGroup < 1 || seriesPerGroup > MAX_SERIES_PER_GROUP) return `seriesPerGroup must be an integer in [1, ${MAX_SERIES_PER_GROUP}], got ${seriesPerGroup}`;
  if (!Number.isSafeInteger(minSegmentBytes) || minSegmentBytes < 1 || minSegmentBytes > MIN_SEGMENT_BYTES_CEILING) return `minSegmentBytes must be an integer in [1, ${MIN_SEGMENT_BYTES_CEILING}], got ${minSegmentBytes}`;
  return null;
}

export function checkLayout(layout: BackupLayout): BackupLayout {
  const problem = layoutProblem(layout);
  if (problem !== null) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `backup layout: ${problem}`, { details: { field: 'layout' } });
  return layout;
}

function ascii(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export const HEX_DIGEST = /^[0-9a-f]{64}$/;

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function startsWith(bytes: Uint8Array, magic: Uint8Array): boolean {
  if (bytes.length < magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (bytes[i] !== magic[i]) return false;
  return true;
}

/** FNV-1a 32 of an ASCII string: the content-defined cut hash. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A corrupt-backup error naming the file (relative path or absolute). */
export function corruptBackup(file: string, problem: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_BACKUP_CORRUPT', `${file}: ${problem}`, { details: { file, ...details } });
}
