// In-memory RaftLogStore and SnapshotStore for the simulator, on a MemoryDisk
// (memory-disk.ts) that models what is durable and when. They store the very
// bytes the real stores write (same entry codec, records and snapshot file
// layout), so checksums are real and corruption is detected the same way.
//
// A node's log and snapshot stores share one MemoryDisk: crash() on either
// (or on the disk) loses both stores' unsynced writes, as a power loss would.
// After a crash, open new stores on the same disk (the restarted process);
// operations on stores opened before the crash never settle.
import { createHash } from 'node:crypto';
import { assert, rethrowIfBug, TsraftError } from '../errors.js';
import type { SnapshotMeta } from '../raft/types.js';
import type { SnapshotSink, SnapshotStore } from './types.js';
import { entryKey, KvRaftLogStore, openLogState, type KvLogBackend, type KvOp, type LogStoreState } from './kv-log-store.js';
import { MemoryDisk, type DiskOp } from './memory-disk.js';
import { decodeSnapshotMeta, encodeSnapshotMeta } from './record-codec.js';
import { bytesEqual, corruptSnapshot, decodeSnapshotFile, decodeSnapshotHeader, encodeSnapshotFile, sameSnapshot } from './snapshot-file-codec.js';
import { MAX_SNAPSHOT_CHUNK_BYTES } from './file-snapshot-store.js';

export { MemoryDisk, type DiskOp, type MemoryDiskOptions } from './memory-disk.js';

const LOG_KEY_PREFIX = 'log/';
const SNAPSHOT_KEY = 'snap/snapshot.tsrs';
const INCOMING_META_KEY = 'snap/incoming.meta';
const INCOMING_DATA_KEY = 'snap/incoming.data';

function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** Lower-case hex keeps byte order: comparing the strings compares the bytes. */
function logKey(key: Uint8Array): string {
  return LOG_KEY_PREFIX + toHex(key);
}

const NEVER = new Promise<never>(() => {});

/** Operations of a store opened before the last crash never settle: its process is gone. */
function guardGeneration<T>(disk: MemoryDisk, generation: number, operation: () => Promise<T>): Promise<T> {
  return disk.generation === generation ? operation() : NEVER;
}

class MemoryLogBackend implements KvLogBackend {
  private readonly generation: number;

  constructor(private readonly disk: MemoryDisk) {
    this.generation = disk.generation;
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return guardGeneration(this.disk, this.generation, async () => this.disk.read(logKey(key)));
  }

  range(gte: Uint8Array, lt: Uint8Array, options: { reverse?: boolean; limit?: number } = {}): Promise<Array<[Uint8Array, Uint8Array]>> {
    return guardGeneration(this.disk, this.generation, async () => {
      const low = logKey(gte);
      const high = logKey(lt);
      let keys = this.disk.keys(LOG_KEY_PREFIX).filter((key) => key >= low && key < high);
      if (options.reverse === true) keys.reverse();
      if (options.limit !== undefined && options.limit >= 0) keys = keys.slice(0, options.limit);
      return keys.map((key): [Uint8Array, Uint8Array] => [fromHex(key.slice(LOG_KEY_PREFIX.length)), this.disk.read(key)!]);
    });
  }

  write(ops: KvOp[], sync = true): Promise<void> {
    return guardGeneration(this.disk, this.generation, () =>
      this.disk.write(
        ops.map((op): DiskOp => (op.type === 'put' ? { type: 'put', key: logKey(op.key), value: op.value } : { type: 'del', key: logKey(op.key) })),
        { sync },
      ),
    );
  }

  deleteRange(gte: Uint8Array, lt: Uint8Array): Promise<void> {
    return guardGeneration(this.disk, this.generation, () => {
      const low = logKey(gte);
      const high = logKey(lt);
      const ops = this.disk
        .keys(LOG_KEY_PREFIX)
        .filter((key) => key >= low && key < high)
        .map((key): DiskOp => ({ type: 'del', key }));
      // Unsynced like LevelDB's clear(): a crash before the next synced write undoes it.
      return ops.length === 0 ? Promise.resolve() : this.disk.write(ops, { sync: false });
    });
  }

  async close(): Promise<void> {}
}

export class MemoryRaftLogStore extends KvRaftLogStore {
  private constructor(
    backend: KvLogBackend,
    state: LogStoreState,
    readonly disk: MemoryDisk,
  ) {
    super(backend, state);
  }

  /** Open the log on `disk` (a fresh disk, or the one a crashed node used). */
  static async open(disk: MemoryDisk): Promise<MemoryRaftLogStore> {
    const backend = new MemoryLogBackend(disk);
    return new MemoryRaftLogStore(backend, await openLogState(backend), disk);
  }

  crash(): void {
    this.disk.crash();
  }

  tornLastWrite(): boolean {
    return this.disk.tornLastWrite();
  }

  wipe(): void {
    this.disk.wipe();
  }

  /** Flip a bit inside entry `index`'s stored term, so load() reports it. */
  corruptEntry(index: number): void {
    this.disk.flipBit(logKey(entryKey(index)), 9 * 8 + 3);
  }
}

/** Default size of the chunks readData() yields (the file store reads 1 MiB). */
export const MEMORY_SNAPSHOT_READ_CHUNK_BYTES = 64 * 1024;

export class MemorySnapshotStore implements SnapshotStore {
  private readonly generation: number;
  private closed = false;

  constructor(
    readonly disk: MemoryDisk,
    /** readData() yields chunks of this many bytes: small ones let a test or
     *  the simulator stop a process in the middle of an install. */
    private readonly readChunkBytes = MEMORY_SNAPSHOT_READ_CHUNK_BYTES,
  ) {
    assert(Number.isSafeInteger(readChunkBytes) && readChunkBytes >= 1, `MemorySnapshotStore: readChunkBytes ${readChunkBytes}`);
    this.generation = disk.generation;
  }

  save(meta: SnapshotMeta, data: Uint8Array): Promise<void> {
    return this.run(() => this.disk.write([{ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotFile(meta, data) }]));
  }

  /** Collects the streamed bytes, then writes the file as save() does (the
   *  simulator's disk holds a snapshot as one value anyway). */
  saveStream(base: Omit<SnapshotMeta, 'sizeBytes'>, produce: (sink: SnapshotSink) => Promise<number>): Promise<SnapshotMeta> {
    return this.run(async () => {
      const chunks: Uint8Array[] = [];
      let sizeBytes = 0;
      const produced = await produce({
        write: async (bytes) => {
          chunks.push(bytes.slice());
          sizeBytes += bytes.length;
        },
      });
      assert(produced === sizeBytes, `saveStream: the producer wrote ${produced} bytes, the sink received ${sizeBytes}`);
      const data = new Uint8Array(sizeBytes);
      let at = 0;
      for (const c of chunks) {
        data.set(c, at);
        at += c.length;
      }
      const meta: SnapshotMeta = { ...base, sizeBytes };
      await this.disk.write([{ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotFile(meta, data) }]);
      return meta;
    });
  }

  load(): Promise<{ meta: SnapshotMeta; data: Uint8Array } | null> {
    return this.run(async () => {
      const file = this.disk.read(SNAPSHOT_KEY);
      if (file === undefined) return null;
      const { meta, data } = decodeSnapshotFile(file, SNAPSHOT_KEY);
      return { meta, data: data.slice() };
    });
  }

  loadMeta(): Promise<SnapshotMeta | null> {
    return this.run(async () => {
      const file = this.disk.read(SNAPSHOT_KEY);
      return file === undefined ? null : decodeSnapshotFile(file, SNAPSHOT_KEY).meta;
    });
  }

  /** Yields copies of the stored data; checks its SHA-256 at the end, as the file store does. */
  async *readData(meta: SnapshotMeta): AsyncGenerator<Uint8Array, void, void> {
    assert(!this.closed, 'snapshot store used after close()');
    await this.run(async () => undefined);
    const file = this.disk.read(SNAPSHOT_KEY);
    const header = file === undefined ? null : decodeSnapshotHeader(file, SNAPSHOT_KEY);
    if (header === null || !sameSnapshot(header.meta, meta)) {
      throw new TsraftError('TSR_ERR_SNAPSHOT_UNAVAILABLE', `snapshot ${meta.index} (term ${meta.term}) is not the local snapshot (${header === null ? 'none' : `local is ${header.meta.index}`})`, {
        details: { index: meta.index, localIndex: header?.meta.index ?? null },
      });
    }
    // Stored values are never changed in place: a replacement meanwhile leaves `file` intact.
    const data = file!.subarray(header.headerBytes);
    const hash = createHash('sha256');
    for (let at = 0; at < data.length; at += this.readChunkBytes) {
      const chunk = data.slice(at, Math.min(data.length, at + this.readChunkBytes));
      hash.update(chunk);
      yield chunk;
      // A process that crashed meanwhile reads no further.
      await this.run(async () => undefined);
    }
    if (data.length !== meta.sizeBytes) throw corruptSnapshot(SNAPSHOT_KEY, `data is ${data.length} bytes, the header says ${meta.sizeBytes}`);
    if (!bytesEqual(new Uint8Array(hash.digest()), header.sha256)) throw corruptSnapshot(SNAPSHOT_KEY, 'data SHA-256 mismatch');
  }

  readChunk(meta: SnapshotMeta, offset: number, length: number): Promise<Uint8Array> {
    return this.run(async () => {
      assert(Number.isSafeInteger(offset) && offset >= 0 && Number.isSafeInteger(length) && length >= 0, `readChunk: bad range ${offset}+${length}`);
      assert(length <= MAX_SNAPSHOT_CHUNK_BYTES, `readChunk: ${length} bytes exceeds ${MAX_SNAPSHOT_CHUNK_BYTES}`);
      const file = this.disk.read(SNAPSHOT_KEY);
      let localMeta: SnapshotMeta | null = null;
      let headerBytes = 0;
      if (file !== undefined) {
        // Offset 0 starts a send: verify everything then, as the file store does.
        const header = decodeSnapshotHeader(file, SNAPSHOT_KEY);
        if (offset === 0) decodeSnapshotFile(file, SNAPSHOT_KEY);
        localMeta = header.meta;
        headerBytes = header.headerBytes;
      }
      if (localMeta === null || !sameSnapshot(localMeta, meta)) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_UNAVAILABLE', `snapshot ${meta.index} (term ${meta.term}) is not the local snapshot (${localMeta === null ? 'none' : `local is ${localMeta.index}`})`, {
          details: { index: meta.index, localIndex: localMeta?.index ?? null },
        });
      }
      assert(offset + length <= meta.sizeBytes, `readChunk: ${offset}+${length} beyond the ${meta.sizeBytes}-byte snapshot`);
      if (file!.length < headerBytes + offset + length) throw corruptSnapshot(SNAPSHOT_KEY, 'file cut short');
      return file!.slice(headerBytes + offset, headerBytes + offset + length);
    });
  }

  incomingOffset(meta: SnapshotMeta): Promise<number> {
    return this.run(async () => {
      const incoming = this.incomingMeta();
      if (incoming === null || !sameSnapshot(incoming, meta)) return 0;
      return Math.min(this.disk.read(INCOMING_DATA_KEY)?.length ?? 0, meta.sizeBytes);
    });
  }

  writeIncomingChunk(meta: SnapshotMeta, offset: number, data: Uint8Array): Promise<void> {
    return this.run(async () => {
      if (!(Number.isSafeInteger(offset) && offset >= 0 && offset + data.length <= meta.sizeBytes)) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `snapshot chunk ${offset}+${data.length} lies outside the ${meta.sizeBytes}-byte snapshot ${meta.index}`);
      }
      if (offset === 0) {
        await this.disk.write([
          { type: 'put', key: INCOMING_META_KEY, value: encodeSnapshotMeta(meta) },
          { type: 'put', key: INCOMING_DATA_KEY, value: data },
        ]);
        return;
      }
      const incoming = this.incomingMeta();
      const size = incoming !== null && sameSnapshot(incoming, meta) ? (this.disk.read(INCOMING_DATA_KEY)?.length ?? 0) : 0;
      if (incoming === null || !sameSnapshot(incoming, meta) || offset > size) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_INCOMPLETE', `snapshot ${meta.index} chunk at ${offset} does not continue the ${size} bytes received`, { details: { index: meta.index, expectedOffset: size } });
      }
      await this.disk.write([{ type: 'write', key: INCOMING_DATA_KEY, offset, data }]);
    });
  }

  promoteIncoming(meta: SnapshotMeta): Promise<void> {
    return this.run(async () => {
      const incoming = this.incomingMeta();
      const stored = this.disk.read(INCOMING_DATA_KEY);
      const size = incoming !== null && sameSnapshot(incoming, meta) ? (stored?.length ?? 0) : 0;
      if (incoming === null || !sameSnapshot(incoming, meta) || size !== meta.sizeBytes) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_INCOMPLETE', `snapshot ${meta.index} has ${size} of ${meta.sizeBytes} bytes`, { details: { index: meta.index, expectedOffset: size } });
      }
      await this.disk.write([
        { type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotFile(meta, stored!) },
        { type: 'del', key: INCOMING_META_KEY },
        { type: 'del', key: INCOMING_DATA_KEY },
      ]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  crash(): void {
    this.disk.crash();
  }

  wipe(): void {
    this.disk.wipe();
  }

  /** Flip the last bit of the local snapshot's data, so load() reports it. */
  corruptSnapshot(): void {
    const file = this.disk.read(SNAPSHOT_KEY);
    assert(file !== undefined, 'corruptSnapshot: there is no local snapshot');
    this.disk.flipBit(SNAPSHOT_KEY, file.length * 8 - 1);
  }

  private incomingMeta(): SnapshotMeta | null {
    const record = this.disk.read(INCOMING_META_KEY);
    if (record === undefined) return null;
    try {
      return decodeSnapshotMeta(record);
    } catch (error) {
      rethrowIfBug(error);
      return null;
    }
  }

  private run<T>(operation: () => Promise<T>): Promise<T> {
    assert(!this.closed, 'snapshot store used after close()');
    return guardGeneration(this.disk, this.generation, operation);
  }
}
