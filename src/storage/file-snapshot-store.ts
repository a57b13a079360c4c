// Snapshot bytes as files in one directory (docs/storage.md, "Snapshot files"):
//   snapshot.tsrs        the local snapshot (header + data)
//   snapshot.tsrs.tmp    a replacement being written; renamed over the above
//   incoming.meta        metadata of the snapshot being received (sealed record)
//   incoming.tsrs        its bytes so far, laid out as a snapshot file (room
//                        for the header, then each chunk at its offset): a
//                        complete one becomes snapshot.tsrs by a rename
// Replacement is write-temp, fsync, rename, fsync the directory, so a crash
// leaves either the old or the new snapshot, never a mix. Verification and
// reads stream the file through a 1 MiB buffer: no operation holds a whole
// snapshot in memory except load() and save(), kept for small states and tests.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert, rethrowIfBug, TsraftError } from '../errors.js';
import type { SnapshotMeta } from '../raft/types.js';
import type { SnapshotSink, SnapshotStore } from './types.js';
import { decodeSnapshotMeta, encodeSnapshotMeta } from './record-codec.js';
import {
  SNAPSHOT_PREFIX_BYTES,
  bytesEqual,
  corruptSnapshot,
  decodeSnapshotFile,
  decodeSnapshotHeader,
  encodeSnapshotHeader,
  sameSnapshot,
  sha256,
  snapshotHeaderBytes,
  snapshotHeaderLength,
  type SnapshotHeader,
} from './snapshot-file-codec.js';

export const SNAPSHOT_FILE = 'snapshot.tsrs';
const TEMP_FILE = 'snapshot.tsrs.tmp';
const INCOMING_META_FILE = 'incoming.meta';
const INCOMING_META_TEMP = 'incoming.meta.tmp';
const INCOMING_FILE = 'incoming.tsrs';
/** Where an older build kept the incoming bytes (without header room): removed at open. */
const LEGACY_INCOMING_DATA_FILE = 'incoming.data';
/** A single chunk read is bounded; the Raft core asks for snapshotChunkBytes (1 MiB). */
export const MAX_SNAPSHOT_CHUNK_BYTES = 64 * 1024 * 1024;
/** A streamed snapshot reaches the file in writes of up to this many bytes. */
export const SNAPSHOT_WRITE_BUFFER_BYTES = 1024 * 1024;
/** Verification and readData() read the file this many bytes at a time. */
export const SNAPSHOT_READ_BUFFER_BYTES = 1024 * 1024;
/** Operations run one at a time; more than this waiting means a caller stopped awaiting. */
export const MAX_QUEUED_SNAPSHOT_OPERATIONS = 1024;

export class FileSnapshotStore implements SnapshotStore {
  private tail: Promise<void> = Promise.resolve();
  private queuedOperations = 0;
  private closed = false;
  /** Header of snapshot.tsrs, cached after save/load (null: unknown or none). */
  private current: { meta: SnapshotMeta; headerBytes: number } | null = null;
  /** Whether snapshot.tsrs was verified end to end since it was last written. */
  private currentVerified = false;

  private constructor(readonly directory: string) {}

  static async open(directory: string): Promise<FileSnapshotStore> {
    await mkdir(directory, { recursive: true });
    // A temp file is a replacement that never completed: the old snapshot stands.
    await rm(join(directory, TEMP_FILE), { force: true });
    await rm(join(directory, INCOMING_META_TEMP), { force: true });
    // An incoming snapshot in the older layout is received again from offset 0.
    await rm(join(directory, LEGACY_INCOMING_DATA_FILE), { force: true });
    return new FileSnapshotStore(directory);
  }

  save(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    return this.serialize(() => this.saveNow(meta, data));
  }

  saveStream(meta: Omit<SnapshotMeta, 'sizeBytes'>, produce: (sink: SnapshotSink) => Promise<number>): Promise<SnapshotMeta> {
    return this.serialize(() => this.saveStreamNow(meta, produce));
  }

  load(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
    return this.serialize(async () => {
      const file = await readOptional(this.path(SNAPSHOT_FILE));
      if (file === null) {
        this.current = null;
        return null;
      }
      const { meta, data } = decodeSnapshotFile(file, this.path(SNAPSHOT_FILE));
      this.current = { meta, headerBytes: file.length - data.length };
      this.currentVerified = true;
      return { meta, data: data.slice() };
    });
  }

  loadMeta(): Promise<SnapshotMeta | null> {
    return this.serialize(async () => {
      this.currentVerified = false;
      return (await this.currentHeader())?.meta ?? null;
    });
  }

  /** Not queued behind the other operations (an install reads for a long
   *  time): it reads the file it opened, which a rename by save() leaves intact. */
  async *readData(meta: SnapshotMeta): AsyncGenerator<Uint8Array, void, void> {
    assert(!this.closed, 'snapshot store used after close()');
    const path = this.path(SNAPSHOT_FILE);
    const handle = await openIfExists(path);
    if (handle === null) throw unavailable(meta, null);
    try {
      const header = await readHeader(handle, path);
      if (!sameSnapshot(header.meta, meta)) throw unavailable(meta, header.meta);
      const hash = createHash('sha256');
      let position = header.headerBytes;
      let left = meta.sizeBytes;
      while (left > 0) {
        // A fresh buffer each time: the consumer may keep views of what it got.
        const chunk = new Uint8Array(Math.min(left, SNAPSHOT_READ_BUFFER_BYTES));
        const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
        if (bytesRead === 0) throw corruptSnapshot(path, `data ends after ${meta.sizeBytes - left} of ${meta.sizeBytes} bytes`);
        const got = chunk.subarray(0, bytesRead);
        hash.update(got);
        position += bytesRead;
        left -= bytesRead;
        yield got;
      }
      // The last step fails on damage: a consumer reading to the end never accepts it.
      if ((await handle.stat()).size !== position) throw corruptSnapshot(path, `data is longer than the ${meta.sizeBytes} bytes the header says`);
      if (!bytesEqual(new Uint8Array(hash.digest()), header.sha256)) throw corruptSnapshot(path, 'data SHA-256 mismatch');
    } finally {
      await handle.close();
    }
  }

  readChunk(meta: SnapshotMeta, offset: number, length: number): Promise<Uint8Array> {
    return this.serialize(async () => {
      assert(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0, `readChunk: bad range ${offset}+${length}`);
      assert(length <= MAX_SNAPSHOT_CHUNK_BYTES, `readChunk: ${length} bytes exceeds ${MAX_SNAPSHOT_CHUNK_BYTES}`);
      // A send starts at offset 0: verify the whole file then, so rot that
      // appeared after startup is never shipped to a follower.
      if (offset === 0) this.currentVerified = false;
      const current = await this.currentHeader();
      if (current === null || !sameSnapshot(current.meta, meta)) throw unavailable(meta, current?.meta ?? null);
      assert(offset + length <= meta.sizeBytes, `readChunk: ${offset}+${length} beyond the ${meta.sizeBytes}-byte snapshot`);
      const handle = await open(this.path(SNAPSHOT_FILE), 'r');
      try {
        const chunk = new Uint8Array(length);
        const { bytesRead } = await handle.read(chunk, 0, length, current.headerBytes + offset);
        if (bytesRead !== length) throw corruptSnapshot(this.path(SNAPSHOT_FILE), `read ${bytesRead} of ${length} bytes at ${offset}: file cut short`);
        return chunk;
      } finally {
        await handle.close();
      }
    });
  }

  incomingOffset(meta: SnapshotMeta): Promise<number> {
    return this.serialize(async () => {
      const incoming = await this.incomingMeta();
      if (incoming === null || !sameSnapshot(incoming, meta)) return 0;
      return Math.min(await this.incomingSize(meta), meta.sizeBytes);
    });
  }

  writeIncomingChunk(meta: SnapshotMeta, offset: number, data: Uint8Array): Promise<void> {
    return this.serialize(async () => {
      if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + data.length <= meta.sizeBytes)) {
        // Peer input: a bad chunk is refused, never a crash.
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `snapshot chunk ${offset}+${data.length} lies outside the ${meta.sizeBytes}-byte snapshot ${meta.index}`);
      }
      const headerBytes = snapshotHeaderLength(meta);
      if (offset === 0) {
        // The old incoming bytes go first (durably), so a crash never pairs
        // them with the new metadata.
        await rm(this.path(INCOMING_FILE), { force: true });
        await this.syncDirectory();
        await this.writeFileSynced(INCOMING_META_TEMP, encodeSnapshotMeta(meta));
        await rename(this.path(INCOMING_META_TEMP), this.path(INCOMING_META_FILE));
        await this.writeFileSynced(INCOMING_FILE, data, headerBytes);
        await this.syncDirectory();
        return;
      }
      const incoming = await this.incomingMeta();
      const size = incoming !== null && sameSnapshot(incoming, meta) ? await this.incomingSize(meta) : 0;
      if (incoming === null || !sameSnapshot(incoming, meta) || offset > size) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_INCOMPLETE', `snapshot ${meta.index} chunk at ${offset} does not continue the ${size} bytes received`, { details: { index: meta.index, expectedOffset: size } });
      }
      const handle = await open(this.path(INCOMING_FILE), 'r+');
      try {
        await handle.write(data, 0, data.length, headerBytes + offset);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    });
  }

  /** The incoming file already has the snapshot file's layout: hash its data
   *  (streamed), write the header into the room left for it, fsync, rename it
   *  over snapshot.tsrs, fsync the directory. No copy, no whole read. */
  promoteIncoming(meta: SnapshotMeta): Promise<void> {
    return this.serialize(async () => {
      const incoming = await this.incomingMeta();
      const size = incoming !== null && sameSnapshot(incoming, meta) ? await this.incomingSize(meta) : 0;
      if (incoming === null || !sameSnapshot(incoming, meta) || size !== meta.sizeBytes) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_INCOMPLETE', `snapshot ${meta.index} has ${size} of ${meta.sizeBytes} bytes`, { details: { index: meta.index, expectedOffset: size } });
      }
      const headerBytes = snapshotHeaderLength(meta);
      const handle = await open(this.path(INCOMING_FILE), 'r+');
      try {
        const digest = await hashRange(handle, headerBytes, meta.sizeBytes, this.path(INCOMING_FILE));
        const header = encodeSnapshotHeader(meta, digest);
        assert(header.length === headerBytes, `promoteIncoming: header of ${header.length} bytes, ${headerBytes} reserved`);
        await writeAll(handle, header, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(this.path(INCOMING_FILE), this.path(SNAPSHOT_FILE));
      await this.syncDirectory();
      this.current = { meta, headerBytes };
      this.currentVerified = true;
      await rm(this.path(INCOMING_META_FILE), { force: true });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
  }

  private async saveNow(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    assert(data.length === meta.sizeBytes, `save: snapshot ${meta.index} has ${data.length} bytes, meta says ${meta.sizeBytes}`);
    const header = encodeSnapshotHeader(meta, sha256(data));
    const handle = await open(this.path(TEMP_FILE), 'w');
    try {
      await handle.write(header, 0, header.length, 0);
      await handle.write(data, 0, data.length, header.length);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(this.path(TEMP_FILE), this.path(SNAPSHOT_FILE));
    await this.syncDirectory();
    this.current = { meta, headerBytes: header.length };
    this.currentVerified = true;
  }

  /** As saveNow, the data streamed: written after room for the header (its
   *  size does not depend on the data size: a fixed-width field), hashed as
   *  it goes; the header goes in last, then the same sync, rename and
   *  directory sync. A failure removes the temp file: the old snapshot stands. */
  private async saveStreamNow(base: Omit<SnapshotMeta, 'sizeBytes'>, produce: (sink: SnapshotSink) => Promise<number>): Promise<SnapshotMeta> {
    const headerBytes = encodeSnapshotHeader({ ...base, sizeBytes: 0 }, new Uint8Array(32)).length;
    let meta: SnapshotMeta;
    try {
      const handle = await open(this.path(TEMP_FILE), 'w');
      try {
        const sink = new FileSnapshotSink(handle, headerBytes);
        const produced = await produce(sink);
        const { sizeBytes, sha256: digest } = await sink.finish();
        assert(produced === sizeBytes, `saveStream: the producer wrote ${produced} bytes, the sink received ${sizeBytes}`);
        meta = { ...base, sizeBytes };
        const header = encodeSnapshotHeader(meta, digest);
        assert(header.length === headerBytes, `saveStream: header of ${header.length} bytes, ${headerBytes} reserved`);
        await handle.write(header, 0, header.length, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      // Cleanup only: every error, bug or not, goes on to the caller.
      await rm(this.path(TEMP_FILE), { force: true });
      throw error;
    }
    await rename(this.path(TEMP_FILE), this.path(SNAPSHOT_FILE));
    await this.syncDirectory();
    this.current = { meta, headerBytes };
    this.currentVerified = true;
    return meta;
  }

  /** The local snapshot's header; the file is verified end to end (streamed)
   *  unless it was since it was last written. */
  private async currentHeader(): Promise<{ meta: SnapshotMeta; headerBytes: number } | null> {
    if (this.current !== null && this.currentVerified) return this.current;
    const path = this.path(SNAPSHOT_FILE);
    const handle = await openIfExists(path);
    if (handle === null) return (this.current = null);
    try {
      const header = await readHeader(handle, path);
      const dataBytes = (await handle.stat()).size - header.headerBytes;
      if (dataBytes !== header.meta.sizeBytes) throw corruptSnapshot(path, `data is ${dataBytes} bytes, the header says ${header.meta.sizeBytes}`);
      if (!bytesEqual(await hashRange(handle, header.headerBytes, dataBytes, path), header.sha256)) throw corruptSnapshot(path, 'data SHA-256 mismatch');
      this.current = { meta: header.meta, headerBytes: header.headerBytes };
    } finally {
      await handle.close();
    }
    this.currentVerified = true;
    return this.current;
  }

  private async incomingMeta(): Promise<SnapshotMeta | null> {
    const record = await readOptional(this.path(INCOMING_META_FILE));
    if (record === null) return null;
    try {
      return decodeSnapshotMeta(record);
    } catch (error) {
      rethrowIfBug(error);
      // A damaged incoming record only costs a resend from offset 0.
      return null;
    }
  }

  /** Data bytes of the incoming snapshot `meta` received so far. */
  private async incomingSize(meta: SnapshotMeta): Promise<number> {
    try {
      return Math.max(0, (await stat(this.path(INCOMING_FILE))).size - snapshotHeaderLength(meta));
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
  }

  private async writeFileSynced(name: string, bytes: Uint8Array, position = 0): Promise<void> {
    const handle = await open(this.path(name), 'w');
    try {
      await writeAll(handle, bytes, position);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** fsync the directory so a rename or a new file survives a power loss. */
  private async syncDirectory(): Promise<void> {
    const handle = await open(this.directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private path(name: string): string {
    return join(this.directory, name);
  }

  private serialize<T>(operation: () => Promise<T>): Promise<T> {
    assert(!this.closed, 'snapshot store used after close()');
    assert(this.queuedOperations < MAX_QUEUED_SNAPSHOT_OPERATIONS, `snapshot store has ${this.queuedOperations} queued operations: callers must await them`);
    this.queuedOperations += 1;
    const run = this.tail.then(operation).finally(() => {
      this.queuedOperations -= 1;
    });
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Collects small writes into one buffer and writes large ones through,
 *  at increasing file positions, hashing everything in order. */
class FileSnapshotSink implements SnapshotSink {
  private readonly buffer = new Uint8Array(SNAPSHOT_WRITE_BUFFER_BYTES);
  private buffered = 0;
  private position: number;
  private bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private finished = false;

  constructor(
    private readonly handle: FileHandle,
    startPosition: number,
  ) {
    this.position = startPosition;
  }

  async write(bytes: Uint8Array): Promise<void> {
    assert(!this.finished, 'snapshot sink written after the snapshot was saved');
    this.hash.update(bytes);
    this.bytes += bytes.length;
    if (this.buffered + bytes.length <= this.buffer.length) {
      this.buffer.set(bytes, this.buffered);
      this.buffered += bytes.length;
      return;
    }
    await this.flush();
    if (bytes.length < this.buffer.length) {
      this.buffer.set(bytes, 0);
      this.buffered = bytes.length;
      return;
    }
    await this.writeAll(bytes);
  }

  async finish(): Promise<{ sizeBytes: number; sha256: Uint8Array }> {
    await this.flush();
    this.finished = true;
    return { sizeBytes: this.bytes, sha256: new Uint8Array(this.hash.digest()) };
  }

  private async flush(): Promise<void> {
    if (this.buffered === 0) return;
    await this.writeAll(this.buffer.subarray(0, this.buffered));
    this.buffered = 0;
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, this.position);
      assert(bytesWritten > 0, 'snapshot write made no progress');
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }
}

function unavailable(wanted: SnapshotMeta, local: SnapshotMeta | null): TsraftError {
  return new TsraftError('TSR_ERR_SNAPSHOT_UNAVAILABLE', `snapshot ${wanted.index} (term ${wanted.term}) is not the local snapshot (${local === null ? 'none' : `local is ${local.index}`})`, {
    details: { index: wanted.index, localIndex: local?.index ?? null },
  });
}

/** The verified header of an open snapshot file (the data is not read). */
async function readHeader(handle: FileHandle, what: string): Promise<SnapshotHeader> {
  const prefix = new Uint8Array(SNAPSHOT_PREFIX_BYTES);
  const first = await handle.read(prefix, 0, prefix.length, 0);
  const headerBytes = snapshotHeaderBytes(prefix.subarray(0, first.bytesRead), what);
  const header = new Uint8Array(headerBytes);
  const all = await handle.read(header, 0, headerBytes, 0);
  return decodeSnapshotHeader(header.subarray(0, all.bytesRead), what);
}

/** SHA-256 of `length` bytes from `position`, read through one buffer. */
async function hashRange(handle: FileHandle, position: number, length: number, what: string): Promise<Uint8Array> {
  const hash = createHash('sha256');
  const buffer = new Uint8Array(Math.min(Math.max(length, 1), SNAPSHOT_READ_BUFFER_BYTES));
  let at = position;
  let left = length;
  while (left > 0) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(left, buffer.length), at);
    if (bytesRead === 0) throw corruptSnapshot(what, `data ends after ${length - left} of ${length} bytes`);
    hash.update(buffer.subarray(0, bytesRead));
    at += bytesRead;
    left -= bytesRead;
  }
  return new Uint8Array(hash.digest());
}

async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done, position + done);
    assert(bytesWritten > 0, 'snapshot write made no progress');
    done += bytesWritten;
  }
}

async function readOptional(path: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

/** The file opened for reading, or null when it does not exist. */
async function openIfExists(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return null;
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
