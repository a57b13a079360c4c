// The snapshot file layout (docs/storage.md, "Snapshot file"): a header with
// magic, version, the snapshot metadata and the SHA-256 of the data, sealed by
// a CRC-32C of the header, then the data bytes. The file and memory snapshot
// stores both write exactly these bytes.
import { createHash } from 'node:crypto';
import { assert, TsraftError } from '../errors.js';
import type { SnapshotMeta } from '../raft/types.js';
import { crc32c } from '../tsdb/codec/crc32c.js';
import { decodeSnapshotMetaPayload, encodeSnapshotMetaPayload, MAX_CONFIG_BYTES } from './record-codec.js';

export const SNAPSHOT_MAGIC = Uint8Array.of(0x54, 0x53, 0x52, 0x53); // "TSRS"
export const SNAPSHOT_FILE_VERSION = 1;
/** magic(4) + version(1) + meta length(4): enough to learn the header size. */
export const SNAPSHOT_PREFIX_BYTES = 9;
const SHA256_BYTES = 32;
const MAX_META_BYTES = 28 + MAX_CONFIG_BYTES;

export interface SnapshotHeader {
  meta: SnapshotMeta;
  sha256: Uint8Array;
  /** Bytes before the data: the data of the file starts here. */
  headerBytes: number;
}

export function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function encodeSnapshotHeader(meta: SnapshotMeta, dataSha256: Uint8Array): Uint8Array {
  assert(dataSha256.length === SHA256_BYTES, 'encodeSnapshotHeader: digest length');
  const metaPayload = encodeSnapshotMetaPayload(meta);
  const header = new Uint8Array(SNAPSHOT_PREFIX_BYTES + metaPayload.length + SHA256_BYTES + 4);
  const view = new DataView(header.buffer);
  header.set(SNAPSHOT_MAGIC, 0);
  view.setUint8(4, SNAPSHOT_FILE_VERSION);
  view.setUint32(5, metaPayload.length);
  header.set(metaPayload, SNAPSHOT_PREFIX_BYTES);
  header.set(dataSha256, SNAPSHOT_PREFIX_BYTES + metaPayload.length);
  const crcAt = header.length - 4;
  view.setUint32(crcAt, crc32c(header.subarray(0, crcAt)));
  return header;
}

/** Bytes of the header of a snapshot with this metadata: it does not depend on
 *  the data (a fixed-width size field), so the data may be written first. */
export function snapshotHeaderLength(meta: SnapshotMeta): number {
  return SNAPSHOT_PREFIX_BYTES + encodeSnapshotMetaPayload(meta).length + SHA256_BYTES + 4;
}

/** The full header size announced by the first SNAPSHOT_PREFIX_BYTES bytes. */
export function snapshotHeaderBytes(prefix: Uint8Array, what: string): number {
  if (prefix.length < SNAPSHOT_PREFIX_BYTES) throw corruptSnapshot(what, `file is ${prefix.length} bytes, shorter than its header`);
  for (let i = 0; i < SNAPSHOT_MAGIC.length; i++) if (prefix[i] !== SNAPSHOT_MAGIC[i]) throw corruptSnapshot(what, 'bad magic (not a tsraft snapshot)');
  if (prefix[4] !== SNAPSHOT_FILE_VERSION) throw corruptSnapshot(what, `unknown snapshot file version ${prefix[4]}`);
  const metaLength = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).getUint32(5);
  if (metaLength > MAX_META_BYTES) throw corruptSnapshot(what, `metadata length ${metaLength} is implausible`);
  return SNAPSHOT_PREFIX_BYTES + metaLength + SHA256_BYTES + 4;
}

/** Decode and verify a header (the file's first snapshotHeaderBytes() bytes). */
export function decodeSnapshotHeader(header: Uint8Array, what: string): SnapshotHeader {
  const headerBytes = snapshotHeaderBytes(header, what);
  if (header.length < headerBytes) throw corruptSnapshot(what, `header is cut short (${header.length} of ${headerBytes} bytes)`);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const crcAt = headerBytes - 4;
  if (view.getUint32(crcAt) !== crc32c(header.subarray(0, crcAt))) throw corruptSnapshot(what, 'header checksum mismatch');
  const metaLength = view.getUint32(5);
  let meta: SnapshotMeta;
  try {
    meta = decodeSnapshotMetaPayload(header.subarray(SNAPSHOT_PREFIX_BYTES, SNAPSHOT_PREFIX_BYTES + metaLength), what);
  } catch (error) {
    if (error instanceof TsraftError) throw corruptSnapshot(what, error.message);
    throw error;
  }
  const sha = header.slice(SNAPSHOT_PREFIX_BYTES + metaLength, crcAt);
  assert(sha.length === SHA256_BYTES, 'decodeSnapshotHeader: digest slice');
  return { meta, sha256: sha, headerBytes };
}

/** Verify a whole snapshot file's bytes and return its metadata and data (a view). */
export function decodeSnapshotFile(file: Uint8Array, what: string): { meta: SnapshotMeta; data: Uint8Array } {
  const header = decodeSnapshotHeader(file, what);
  const data = file.subarray(header.headerBytes);
  if (data.length !== header.meta.sizeBytes) throw corruptSnapshot(what, `data is ${data.length} bytes, the header says ${header.meta.sizeBytes}`);
  if (!bytesEqual(sha256(data), header.sha256)) throw corruptSnapshot(what, 'data SHA-256 mismatch');
  return { meta: header.meta, data };
}

export function encodeSnapshotFile(meta: SnapshotMeta, data: Uint8Array): Uint8Array {
  assert(data.length === meta.sizeBytes, `snapshot ${meta.index}: ${data.length} data bytes, meta says ${meta.sizeBytes}`);
  const header = encodeSnapshotHeader(meta, sha256(data));
  const file = new Uint8Array(header.length + data.length);
  file.set(header, 0);
  file.set(data, header.length);
  return file;
}

export function corruptSnapshot(what: string, why: string): TsraftError {
  return new TsraftError('TSR_ERR_CORRUPT_SNAPSHOT', `snapshot ${what} is corrupt: ${why}`, { details: { file: what } });
}

export function sameSnapshot(a: SnapshotMeta, b: SnapshotMeta): boolean {
  return a.index === b.index && a.term === b.term && a.sizeBytes === b.sizeBytes;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
