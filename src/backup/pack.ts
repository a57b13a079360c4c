// The pack: a backup directory as one byte stream (docs/backup-format.md,
// "The pack: one stream"). The node streams one to `tsraft backup create`;
// BackupFormatStateMachine uses one as its Raft snapshot. The reader checks
// every record header's CRC, every file's size and SHA-256 as it streams by,
// and that the `end` record arrives; memory stays bounded by one read buffer.
import { createHash } from 'node:crypto';
import { TsraftError, assert } from '../errors.js';
import { crc32c } from '../tsdb/codec/crc32c.js';
import { MANIFEST_FILE, MAX_FILE_BYTES, PACK_MAGIC, PACK_VERSION, bytesEqual, sha256, startsWith } from './constants.js';

export const PACK_TYPE_FILE = 1;
export const PACK_TYPE_REF = 2;
export const PACK_TYPE_MANIFEST = 3;
export const PACK_TYPE_END = 4;
export const PACK_HEADER_BYTES = 10;
const MAX_NAME_BYTES = 256;
const DIGEST_BYTES = 32;
/** type + name length + size + digest + crc, without the name. */
const RECORD_FIXED_BYTES = 1 + 2 + 4 + DIGEST_BYTES + 4;
const END_RECORD_BYTES = 1 + 4 + 4;
const PACK_NAME = /^(manifest\.json|data\/[0-9a-f]{64}\.(idx|grp|seg|ses))$/;

const utf8 = new TextEncoder();

function packError(message: string, details: Record<string, unknown> = {}): TsraftError {
  return new TsraftError('TSR_ERR_BACKUP_CORRUPT', `backup pack: ${message}`, { details: { file: 'pack', ...details } });
}

// ---------------------------------------------------------------------------
// Writing

export function encodePackHeader(): Uint8Array {
  const out = new Uint8Array(PACK_HEADER_BYTES);
  out.set(PACK_MAGIC, 0);
  out[4] = PACK_VERSION;
  out[5] = 0;
  new DataView(out.buffer).setUint32(6, crc32c(out.subarray(0, 6)), true);
  return out;
}

/** The header of a file, ref or manifest record (the data follows for file and manifest). */
export function encodePackRecordHeader(type: number, name: string, size: number, digest: Uint8Array): Uint8Array {
  assert(type === PACK_TYPE_FILE || type === PACK_TYPE_REF || type === PACK_TYPE_MANIFEST, `pack record type ${type}`);
  assert(PACK_NAME.test(name) && Number.isSafeInteger(size) && size >= 0 && size <= MAX_FILE_BYTES && digest.length === DIGEST_BYTES, `pack record ${name} (${size} bytes)`);
  const nameBytes = utf8.encode(name);
  const out = new Uint8Array(RECORD_FIXED_BYTES + nameBytes.length);
  const view = new DataView(out.buffer);
  out[0] = type;
  view.setUint16(1, nameBytes.length, true);
  out.set(nameBytes, 3);
  let at = 3 + nameBytes.length;
  view.setUint32(at, size, true);
  at += 4;
  out.set(digest, at);
  at += DIGEST_BYTES;
  view.setUint32(at, crc32c(out.subarray(0, at)), true);
  return out;
}

export function encodePackEnd(recordCount: number): Uint8Array {
  const out = new Uint8Array(END_RECORD_BYTES);
  const view = new DataView(out.buffer);
  out[0] = PACK_TYPE_END;
  view.setUint32(1, recordCount, true);
  view.setUint32(5, crc32c(out.subarray(0, 5)), true);
  return out;
}

export interface PackEntry {
  name: string;
  bytes: Uint8Array;
}

/** A whole pack in memory: files, then the manifest, then end. */
export function encodePack(files: readonly PackEntry[], manifest: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [encodePackHeader()];
  for (const f of files) parts.push(encodePackRecordHeader(PACK_TYPE_FILE, f.name, f.bytes.length, sha256(f.bytes)), f.bytes);
  parts.push(encodePackRecordHeader(PACK_TYPE_MANIFEST, MANIFEST_FILE, manifest.length, sha256(manifest)), manifest);
  parts.push(encodePackEnd(files.length + 1));
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Writes a pack record by record to `write` (awaited: the sink's
 * backpressure), the same bytes encodePack gives for the same files: header,
 * files, manifest, end. A file whose name is already in the pack is skipped
 * (names are content ids, so its bytes are those already written), as
 * encodePack's callers de-duplicate. Holds only the names written.
 */
export class PackWriter {
  /** Name → size of every file written (one entry per file of the pack). */
  private readonly written = new Map<string, number>();
  private records = 0;
  private bytesWritten = 0;
  private phase: 'new' | 'files' | 'done' = 'new';

  constructor(private readonly write: (chunk: Uint8Array) => Promise<void>) {}

  get sizeBytes(): number {
    return this.bytesWritten;
  }

  private async emit(chunk: Uint8Array): Promise<void> {
    this.bytesWritten += chunk.length;
    await this.write(chunk);
  }

  async start(): Promise<void> {
    assert(this.phase === 'new', 'PackWriter.start twice');
    this.phase = 'files';
    await this.emit(encodePackHeader());
  }

  /** False when a file of this name is already in the pack (nothing written). */
  async file(name: string, bytes: Uint8Array): Promise<boolean> {
    assert(this.phase === 'files', `PackWriter.file(${name}) ${this.phase === 'new' ? 'before start' : 'after finish'}`);
    const previous = this.written.get(name);
    if (previous !== undefined) {
      assert(previous === bytes.length, `pack file ${name} written with ${previous} bytes, again with ${bytes.length}`);
      return false;
    }
    this.written.set(name, bytes.length);
    this.records++;
    await this.emit(encodePackRecordHeader(PACK_TYPE_FILE, name, bytes.length, sha256(bytes)));
    await this.emit(bytes);
    return true;
  }

  /** The manifest and the end record; returns the pack's size. */
  async finish(manifest: Uint8Array): Promise<number> {
    assert(this.phase === 'files', 'PackWriter.finish before start or twice');
    this.phase = 'done';
    await this.emit(encodePackRecordHeader(PACK_TYPE_MANIFEST, MANIFEST_FILE, manifest.length, sha256(manifest)));
    await this.emit(manifest);
    await this.emit(encodePackEnd(this.records + 1));
    return this.bytesWritten;
  }
}

export function isPack(bytes: Uint8Array): boolean {
  return startsWith(bytes, PACK_MAGIC);
}

// ---------------------------------------------------------------------------
// Reading (streaming)

export interface PackRecordHeader {
  type: number;
  name: string;
  size: number;
  sha256: Uint8Array;
}

export interface PackHandler {
  /** A file record starts; its data follows in onFileData calls. */
  onFileStart(header: PackRecordHeader): void | Promise<void>;
  onFileData(chunk: Uint8Array): void | Promise<void>;
  /** All bytes arrived and their SHA-256 matched. */
  onFileEnd(header: PackRecordHeader): void | Promise<void>;
  onRef(header: PackRecordHeader): void | Promise<void>;
  /** The manifest bytes (size and SHA-256 checked). */
  onManifest(bytes: Uint8Array): void | Promise<void>;
}

/** Pulls exact byte counts out of an async stream of chunks. */
class ChunkReader {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private pending: Uint8Array = new Uint8Array(0);
  private done = false;
  bytesRead = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const next = await this.iterator.next();
    if (next.done === true) {
      this.done = true;
      return false;
    }
    // A plain Uint8Array view: Buffer.prototype.slice does not copy, and
    // sockets hand out Buffers on shared pools.
    const value = next.value as Uint8Array | ArrayBuffer;
    const chunk = value instanceof Uint8Array ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength) : new Uint8Array(value);
    this.pending = this.pending.length === 0 ? chunk : concat(this.pending, chunk);
    return true;
  }

  /** Exactly n bytes, or an error naming `what` when the stream ends first. */
  async exact(n: number, what: string): Promise<Uint8Array> {
    while (this.pending.length < n) {
      if (!(await this.fill())) throw packError(`stream ended in the middle of ${what} (after ${this.bytesRead + this.pending.length} bytes): the backup is incomplete`, { reason: 'truncated' });
    }
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.bytesRead += n;
    return out;
  }

  /** Up to `max` bytes (at least one), as they arrive. */
  async some(max: number, what: string): Promise<Uint8Array> {
    if (this.pending.length === 0 && !(await this.fill())) throw packError(`stream ended in the middle of ${what}: the backup is incomplete`, { reason: 'truncated' });
    const n = Math.min(max, this.pending.length);
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.bytesRead += n;
    return out;
  }

  async atEnd(): Promise<boolean> {
    if (this.pending.length > 0) return false;
    return !(await this.fill()) && this.pending.length === 0;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function checkPackHeader(header: Uint8Array): void {
  if (!startsWith(header, PACK_MAGIC)) throw packError('bad magic: not a tsraft backup pack');
  if (header[4] !== PACK_VERSION) throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `backup pack version ${header[4]} is not supported (this build reads ${PACK_VERSION})`);
  if (new DataView(header.buffer, header.byteOffset).getUint32(6, true) !== crc32c(header.subarray(0, 6))) throw packError('header checksum mismatch');
}

function parseRecordHeader(fixed: Uint8Array, nameBytes: Uint8Array, tail: Uint8Array): PackRecordHeader {
  const all = concat(concat(fixed, nameBytes), tail);
  const view = new DataView(all.buffer);
  const crcAt = all.length - 4;
  if (view.getUint32(crcAt, true) !== crc32c(all.subarray(0, crcAt))) throw packError('record header checksum mismatch');
  const name = new TextDecoder().decode(nameBytes);
  if (!PACK_NAME.test(name)) throw packError(`record names ${JSON.stringify(name)}, not a backup file`);
  const size = view.getUint32(3 + nameBytes.length, true);
  if (size > MAX_FILE_BYTES) throw packError(`${name} claims ${size} bytes, more than ${MAX_FILE_BYTES}`);
  return { type: all[0]!, name, size, sha256: all.slice(3 + nameBytes.length + 4, crcAt) };
}

export interface PackReadResult {
  records: number;
  bytes: number;
}

/** Reads a whole pack from a stream, calling the handler as records arrive.
 *  Throws TSR_ERR_BACKUP_CORRUPT (truncated, bad checksum, bad digest). */
export async function readPack(source: AsyncIterable<Uint8Array>, handler: PackHandler, chunkBytes = 1 << 20): Promise<PackReadResult> {
  const r = new ChunkReader(source);
  checkPackHeader(await r.exact(PACK_HEADER_BYTES, 'the pack header'));
  let records = 0;
  let sawManifest = false;
  for (;;) {
    const type = (await r.exact(1, 'a record type'))[0]!;
    if (type === PACK_TYPE_END) {
      const rest = await r.exact(END_RECORD_BYTES - 1, 'the end record');
      const all = concat(Uint8Array.of(type), rest);
      const view = new DataView(all.buffer);
      if (view.getUint32(5, true) !== crc32c(all.subarray(0, 5))) throw packError('end record checksum mismatch');
      if (view.getUint32(1, true) !== records) throw packError(`end record counts ${view.getUint32(1, true)} records, ${records} arrived`);
      if (!sawManifest) throw packError('ended without a manifest');
      if (!(await r.atEnd())) throw packError('bytes follow the end record');
      return { records, bytes: r.bytesRead };
    }
    if (type !== PACK_TYPE_FILE && type !== PACK_TYPE_REF && type !== PACK_TYPE_MANIFEST) throw packError(`unknown record type ${type}`);
    if (sawManifest) throw packError('a record follows the manifest');
    const lengthBytes = (await r.exact(2, 'a record header')).slice();
    const nameLength = lengthBytes[0]! | (lengthBytes[1]! << 8);
    if (nameLength === 0 || nameLength > MAX_NAME_BYTES) throw packError(`record name of ${nameLength} bytes`);
    const nameBytes = (await r.exact(nameLength, 'a record name')).slice();
    const tail = (await r.exact(4 + DIGEST_BYTES + 4, 'a record header')).slice();
    const header = parseRecordHeader(concat(Uint8Array.of(type), lengthBytes), nameBytes, tail);
    records++;
    if (type === PACK_TYPE_REF) {
      await handler.onRef(header);
      continue;
    }
    if ((type === PACK_TYPE_MANIFEST) !== (header.name === MANIFEST_FILE)) throw packError(`record type ${type} does not fit name ${header.name}`);
    const hash = createHash('sha256');
    if (type === PACK_TYPE_FILE) {
      await handler.onFileStart(header);
      let left = header.size;
      while (left > 0) {
        const chunk = await r.some(Math.min(left, chunkBytes), header.name);
        hash.update(chunk);
        left -= chunk.length;
        await handler.onFileData(chunk);
      }
      if (!bytesEqual(new Uint8Array(hash.digest()), header.sha256)) throw packError(`${header.name}: SHA-256 mismatch`, { name: header.name });
      await handler.onFileEnd(header);
    } else {
      const bytes = (await r.exact(header.size, 'the manifest')).slice();
      if (!bytesEqual(sha256(bytes), header.sha256)) throw packError('manifest SHA-256 mismatch');
      sawManifest = true;
      await handler.onManifest(bytes);
    }
  }
}

export interface UnpackedPack {
  files: Map<string, Uint8Array>;
  refs: Map<string, PackRecordHeader>;
  manifest: Uint8Array;
}

/** Reads a whole pack held in memory (the InstallSnapshot payload). */
export function unpackSync(bytes: Uint8Array): UnpackedPack {
  const files = new Map<string, Uint8Array>();
  const refs = new Map<string, PackRecordHeader>();
  let manifest: Uint8Array | null = null;
  let at = 0;
  const take = (n: number, what: string): Uint8Array => {
    if (at + n > bytes.length) throw packError(`ends in the middle of ${what}`, { reason: 'truncated' });
    const out = bytes.subarray(at, at + n);
    at += n;
    return out;
  };
  checkPackHeader(take(PACK_HEADER_BYTES, 'the pack header'));
  let records = 0;
  for (;;) {
    const type = take(1, 'a record type')[0]!;
    if (type === PACK_TYPE_END) {
      const all = bytes.subarray(at - 1, at + END_RECORD_BYTES - 1);
      take(END_RECORD_BYTES - 1, 'the end record');
      const view = new DataView(all.buffer, all.byteOffset, all.byteLength);
      if (view.getUint32(5, true) !== crc32c(all.subarray(0, 5))) throw packError('end record checksum mismatch');
      if (view.getUint32(1, true) !== records) throw packError(`end record counts ${view.getUint32(1, true)} records, ${records} present`);
      if (manifest === null) throw packError('ended without a manifest');
      if (at !== bytes.length) throw packError('bytes follow the end record');
      return { files, refs, manifest };
    }
    if (type !== PACK_TYPE_FILE && type !== PACK_TYPE_REF && type !== PACK_TYPE_MANIFEST) throw packError(`unknown record type ${type}`);
    if (manifest !== null) throw packError('a record follows the manifest');
    const lengthBytes = take(2, 'a record header');
    const nameLength = lengthBytes[0]! | (lengthBytes[1]! << 8);
    if (nameLength === 0 || nameLength > MAX_NAME_BYTES) throw packError(`record name of ${nameLength} bytes`);
    const nameBytes = take(nameLength, 'a record name');
    const header = parseRecordHeader(Uint8Array.of(type, lengthBytes[0]!, lengthBytes[1]!), nameBytes, take(4 + DIGEST_BYTES + 4, 'a record header'));
    records++;
    if (type === PACK_TYPE_REF) {
      refs.set(header.name, header);
      continue;
    }
    if ((type === PACK_TYPE_MANIFEST) !== (header.name === MANIFEST_FILE)) throw packError(`record type ${type} does not fit name ${header.name}`);
    const data = take(header.size, header.name);
    if (!bytesEqual(sha256(data), header.sha256)) throw packError(`${header.name}: SHA-256 mismatch`, { name: header.name });
    if (type === PACK_TYPE_MANIFEST) manifest = data;
    else {
      if (files.has(header.name)) throw packError(`${header.name} appears twice`);
      files.set(header.name, data);
    }
  }
}
