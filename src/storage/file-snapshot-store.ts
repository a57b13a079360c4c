// Snapshot bytes as files in one directory (docs/storage.md, "Snapshot files"):
//   snapshot.tsrs        the local snapshot (header + data)
//   snapshot.tsrs.tmp    a replacement being written; renamed over the above
//   incoming.meta        metadata of the snapshot being received (sealed record)
//   incoming.data        its bytes so far, written at each chunk's offset
// Replacement is write-temp, fsync, rename, fsync the directory, so a crash
// leaves either the old or the new snapshot, never a mix.
import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { assert, rethrowIfBug, TsraftError } from '../errors.js';
import type { SnapshotMeta } from '../raft/types.js';
import type { SnapshotSink, SnapshotStore } from './types.js';
import { decodeSnapshotMeta, encodeSnapshotMeta } from './record-codec.js';
import { corruptSnapshot, decodeSnapshotFile, encodeSnapshotHeader, sameSnapshot, sha256 } from './snapshot-file-codec.js';

export const SNAPSHOT_FILE = 'snapshot.tsrs';
const TEMP_FILE = 'snapshot.tsrs.tmp';
const INCOMING_META_FILE = 'incoming.meta';
const INCOMING_META_TEMP = 'incoming.meta.tmp';
const INCOMING_DATA_FILE = 'incoming.data';
/** A single chunk read is bounded; the Raft core asks for snapshotChunkBytes (1 MiB). */
export const MAX_SNAPSHOT_CHUNK_BYTES = 64 * 1024 * 1024;
/** A streamed snapshot reaches the file in writes of up to this many bytes. */
export const SNAPSHOT_WRITE_BUFFER_BYTES = 1024 * 1024;
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

  readChunk(meta: SnapshotMeta, offset: number, length: number): Promise<Uint8Array> {
    return this.serialize(async () => {
      assert(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0, `readChunk: bad range ${offset}+${length}`);
      assert(length <= MAX_SNAPSHOT_CHUNK_BYTES, `readChunk: ${length} bytes exceeds ${MAX_SNAPSHOT_CHUNK_BYTES}`);
      // A send starts at offset 0: verify the whole file then, so rot that
      // appeared after startup is never shipped to a follower.
      if (offset === 0) this.currentVerified = false;
      const current = await this.currentHeader();
      if (current === null || !sameSnapshot(current.meta, meta)) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_UNAVAILABLE', `snapshot ${meta.index} (term ${meta.term}) is not the local snapshot (${current === null ? 'none' : `local is ${current.meta.index}`})`, {
          details: { index: meta.index, localIndex: current?.meta.index ?? null },
        });
      }
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
      return Math.min(await this.incomingSize(), meta.sizeBytes);
    });
  }

  writeIncomingChunk(meta: SnapshotMeta, offset: number, data: Uint8Array): Promise<void> {
    return this.serialize(async () => {
      if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + data.length <= meta.sizeBytes)) {
        // Peer input: a bad chunk is refused, never a crash.
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `snapshot chunk ${offset}+${data.length} lies outside the ${meta.sizeBytes}-byte snapshot ${meta.index}`);
      }
      if (offset === 0) {
        await this.writeFileSynced(INCOMING_META_TEMP, encodeSnapshotMeta(meta));
        await rename(this.path(INCOMING_META_TEMP), this.path(INCOMING_META_FILE));
        await this.writeFileSynced(INCOMING_DATA_FILE, data);
        await this.syncDirectory();
        return;
      }
      const incoming = await this.incomingMeta();
      const size = incoming !== null && sameSnapshot(incoming, meta) ? await this.incomingSize() : 0;
      if (incoming === null || !sameSnapshot(incoming, meta) || offset > size) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_INCOMPLETE', `snapshot ${meta.index} chunk at ${offset} does not continue the ${size} bytes received`, { details: { index: meta.index, expectedOffset: size } });
      }
      const handle = await open(this.path(INCOMING_DATA_FILE), 'r+');
      try {
        await handle.write(data, 0, data.length, offset);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    });
  }

  promoteIncoming(meta: SnapshotMeta): Promise<Uint8Array> {
    return this.serialize(async () => {
      const incoming = await this.incomingMeta();
      const size = incoming !== null && sameSnapshot(incoming, meta) ? await this.incomingSize() : 0;
      if (incoming === null || !sameSnapshot(incoming, meta) || size !== meta.sizeBytes) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_INCOMPLETE', `snapshot ${meta.index} has ${size} of ${meta.sizeBytes} bytes`, { details: { index: meta.index, expectedOffset: size } });
      }
      const data = new Uint8Array(await readFile(this.path(INCOMING_DATA_FILE)));
      assert(data.length === meta.sizeBytes, 'promoteIncoming: size changed under us');
      await this.saveNow(meta, data);
      await rm(this.path(INCOMING_META_FILE), { force: true });
      await rm(this.path(INCOMING_DATA_FILE), { force: true });
      return data;
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

  private async currentHeader(): Promise<{ meta: SnapshotMeta; headerBytes: number } | null> {
    if (this.current !== null && this.currentVerified) return this.current;
    const file = await readOptional(this.path(SNAPSHOT_FILE));
    if (file === null) return (this.current = null);
    const { meta, data } = decodeSnapshotFile(file, this.path(SNAPSHOT_FILE));
    this.current = { meta, headerBytes: file.length - data.length };
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

  private async incomingSize(): Promise<number> {
    try {
      return (await stat(this.path(INCOMING_DATA_FILE))).size;
    } catch (error) {
      if (isNotFound(error)) return 0;
      throw error;
    }
  }

  private async writeFileSynced(name: string, bytes: Uint8Array): Promise<void> {
    const handle = await open(this.path(name), 'w');
    try {
      await handle.write(bytes, 0, bytes.length, 0);
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

async function readOptional(path: string): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'ENOENT';
}
