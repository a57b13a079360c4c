// One behavioural suite for every SnapshotStore implementation (files on disk
// and the simulator's memory disk).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TsraftError } from '../../src/errors.js';
import type { SnapshotStore } from '../../src/storage/types.js';
import { snapshotMeta } from './raft-log-store.suite.js';

export interface SnapshotStoreHarness {
  /** Open a store on the durable medium (after close(), this is a restart). */
  open(): Promise<SnapshotStore>;
  /** Damage the local snapshot's bytes while no store is open. */
  corruptSnapshot(): Promise<void>;
  destroy(): Promise<void>;
}

export function pattern(sizeBytes: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(sizeBytes);
  let x = seed;
  for (let i = 0; i < sizeBytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** Every chunk of a stream, concatenated (and collected into `into`). */
async function readAll(chunks: AsyncIterable<Uint8Array>, into: Uint8Array[] = []): Promise<Uint8Array> {
  for await (const chunk of chunks) into.push(chunk.slice());
  return new Uint8Array(Buffer.concat(into));
}

async function errorCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TsraftError) return error.code;
    throw error;
  }
  throw new Error('expected the promise to reject');
}

export function describeSnapshotStore(name: string, createHarness: () => Promise<SnapshotStoreHarness>): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    let harness: SnapshotStoreHarness;
    let store: SnapshotStore | null = null;

    beforeEach(async () => {
      harness = await createHarness();
      store = await harness.open();
    });
    afterEach(async () => {
      await store?.close();
      await harness.destroy();
    });

    async function reopen(): Promise<SnapshotStore> {
      await store!.close();
      store = null;
      store = await harness.open();
      return store;
    }

    it('has no snapshot when fresh', async () => {
      expect(await store!.load()).toBeNull();
    });

    it('loads back the snapshot it saved, after a restart too', async () => {
      const data = pattern(10_000);
      await store!.save(snapshotMeta(7, 2, data.length), data);
      const loaded = await reopen().then((s) => s.load());
      expect(loaded?.meta).toEqual(snapshotMeta(7, 2, data.length));
      expect(Buffer.from(loaded!.data).equals(Buffer.from(data))).toBe(true);
    });

    it('replaces the local snapshot atomically with a newer one', async () => {
      await store!.save(snapshotMeta(7, 2, 100), pattern(100, 1));
      await store!.save(snapshotMeta(9, 3, 50), pattern(50, 2));
      const loaded = await reopen().then((s) => s.load());
      expect(loaded?.meta.index).toBe(9);
      expect([...loaded!.data]).toEqual([...pattern(50, 2)]);
    });

    it('stores a streamed snapshot as save() stores the same bytes, and serves its chunks', async () => {
      // Pieces smaller and larger than any write buffer, and empty ones.
      const data = pattern(2_700_000, 4);
      const cuts = [0, 1, 1, 70_000, 70_013, 1_700_000, 1_700_000, 2_699_999, data.length];
      const { sizeBytes: _size, ...base } = snapshotMeta(21, 5, data.length);
      const meta = await store!.saveStream(base, async (sink) => {
        for (let i = 1; i < cuts.length; i++) await sink.write(data.subarray(cuts[i - 1]!, cuts[i]!));
        return data.length;
      });
      expect(meta).toEqual(snapshotMeta(21, 5, data.length));
      const chunk = await store!.readChunk(meta, 1_000_000, 300_000);
      expect(Buffer.from(chunk).equals(Buffer.from(data.subarray(1_000_000, 1_300_000)))).toBe(true);
      const loaded = await reopen().then((s) => s.load());
      expect(loaded?.meta).toEqual(meta);
      expect(Buffer.from(loaded!.data).equals(Buffer.from(data))).toBe(true);
    });

    it('stores an empty streamed snapshot', async () => {
      const { sizeBytes: _size, ...base } = snapshotMeta(2, 1, 0);
      expect((await store!.saveStream(base, async () => 0)).sizeBytes).toBe(0);
      expect((await reopen().then((s) => s.load()))?.data.length).toBe(0);
    });

    it('keeps the old snapshot when the stream fails halfway', async () => {
      await store!.save(snapshotMeta(7, 2, 100), pattern(100, 1));
      const { sizeBytes: _size, ...base } = snapshotMeta(9, 3, 0);
      const failed = store!.saveStream(base, async (sink) => {
        await sink.write(pattern(1_500_000, 3));
        throw new TsraftError('TSR_ERR_CORRUPT_STATE', 'a block could not be read back');
      });
      expect(await errorCode(failed)).toBe('TSR_ERR_CORRUPT_STATE');
      expect((await store!.load())?.meta.index).toBe(7);
      const loaded = await reopen().then((s) => s.load());
      expect(loaded?.meta).toEqual(snapshotMeta(7, 2, 100));
      expect([...loaded!.data]).toEqual([...pattern(100, 1)]);
    });

    it('reads chunks of the local snapshot', async () => {
      const data = pattern(1000);
      const meta = snapshotMeta(5, 1, data.length);
      await store!.save(meta, data);
      const chunks = [await store!.readChunk(meta, 0, 400), await store!.readChunk(meta, 400, 400), await store!.readChunk(meta, 800, 200)];
      expect([...chunks.flatMap((c) => [...c])]).toEqual([...data]);
    });

    it('refuses to read chunks of a snapshot that is not the local one', async () => {
      await store!.save(snapshotMeta(5, 1, 10), pattern(10));
      expect(await errorCode(store!.readChunk(snapshotMeta(4, 1, 10), 0, 10))).toBe('TSR_ERR_SNAPSHOT_UNAVAILABLE');
    });

    it('assembles an incoming snapshot from chunks, resuming after a restart', async () => {
      const data = pattern(3000, 9);
      const meta = snapshotMeta(40, 4, data.length);
      expect(await store!.incomingOffset(meta)).toBe(0);
      await store!.writeIncomingChunk(meta, 0, data.subarray(0, 1000));
      await store!.writeIncomingChunk(meta, 1000, data.subarray(1000, 2000));
      const restarted = await reopen();
      expect(await restarted.incomingOffset(meta)).toBe(2000);
      expect(await restarted.incomingOffset(snapshotMeta(41, 4, data.length))).toBe(0);
      await restarted.writeIncomingChunk(meta, 2000, data.subarray(2000));
      await restarted.promoteIncoming(meta);
      expect(await restarted.loadMeta()).toEqual(meta);
      expect([...(await readAll(restarted.readData(meta)))]).toEqual([...data]);
      const loaded = await reopen().then((s) => s.load());
      expect(loaded?.meta.index).toBe(40);
      expect([...loaded!.data]).toEqual([...data]);
      expect(await store!.incomingOffset(meta)).toBe(0);
    });

    it('accepts a repeated chunk (the leader resent it)', async () => {
      const data = pattern(200);
      const meta = snapshotMeta(3, 1, data.length);
      await store!.writeIncomingChunk(meta, 0, data.subarray(0, 100));
      await store!.writeIncomingChunk(meta, 100, data.subarray(100, 200));
      await store!.writeIncomingChunk(meta, 100, data.subarray(100, 200));
      await store!.promoteIncoming(meta);
      expect([...(await store!.load())!.data]).toEqual([...data]);
    });

    it('refuses a chunk that skips ahead, naming the offset it expects', async () => {
      const meta = snapshotMeta(3, 1, 300);
      await store!.writeIncomingChunk(meta, 0, pattern(100));
      try {
        await store!.writeIncomingChunk(meta, 200, pattern(100));
        throw new Error('expected a refusal');
      } catch (error) {
        expect((error as TsraftError).code).toBe('TSR_ERR_SNAPSHOT_INCOMPLETE');
        expect((error as TsraftError).details.expectedOffset).toBe(100);
      }
    });

    it('refuses a chunk of another snapshot than the one being received', async () => {
      await store!.writeIncomingChunk(snapshotMeta(3, 1, 300), 0, pattern(100));
      expect(await errorCode(store!.writeIncomingChunk(snapshotMeta(4, 1, 300), 100, pattern(100)))).toBe('TSR_ERR_SNAPSHOT_INCOMPLETE');
    });

    it('refuses a chunk that overruns the snapshot size', async () => {
      expect(await errorCode(store!.writeIncomingChunk(snapshotMeta(3, 1, 50), 0, pattern(100)))).toBe('TSR_ERR_INVALID_ARGUMENT');
    });

    it('restarts the incoming snapshot when a chunk at offset 0 arrives', async () => {
      const meta = snapshotMeta(3, 1, 100);
      await store!.writeIncomingChunk(snapshotMeta(2, 1, 500), 0, pattern(400));
      await store!.writeIncomingChunk(meta, 0, pattern(100, 5));
      expect(await store!.incomingOffset(meta)).toBe(100);
      await store!.promoteIncoming(meta);
      expect([...(await store!.load())!.data]).toEqual([...pattern(100, 5)]);
    });

    it('refuses to promote an incomplete snapshot and keeps the old one', async () => {
      await store!.save(snapshotMeta(1, 1, 10), pattern(10));
      const meta = snapshotMeta(3, 1, 300);
      await store!.writeIncomingChunk(meta, 0, pattern(100));
      expect(await errorCode(store!.promoteIncoming(meta))).toBe('TSR_ERR_SNAPSHOT_INCOMPLETE');
      expect((await store!.load())?.meta.index).toBe(1);
    });

    it('promotes an empty snapshot', async () => {
      const meta = snapshotMeta(3, 1, 0);
      await store!.writeIncomingChunk(meta, 0, new Uint8Array(0));
      await store!.promoteIncoming(meta);
      expect((await store!.load())?.meta.index).toBe(3);
      expect((await readAll(store!.readData(meta))).length).toBe(0);
    });

    it('detects a corrupted snapshot on load and before sending it', async () => {
      const data = pattern(5000);
      const meta = snapshotMeta(12, 3, data.length);
      await store!.save(meta, data);
      await store!.close();
      store = null;
      await harness.corruptSnapshot();
      store = await harness.open();
      expect(await errorCode(store.load())).toBe('TSR_ERR_CORRUPT_SNAPSHOT');
      expect(await errorCode(store.loadMeta())).toBe('TSR_ERR_CORRUPT_SNAPSHOT');
      expect(await errorCode(store.readChunk(meta, 0, 100))).toBe('TSR_ERR_CORRUPT_SNAPSHOT');
      // A stream hands out the bytes, then fails its last step: read to the end, damage is never accepted.
      const chunks: Uint8Array[] = [];
      expect(await errorCode(readAll(store.readData(meta), chunks))).toBe('TSR_ERR_CORRUPT_SNAPSHOT');
      expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(data.length);
    });

    it('loads the metadata alone, and streams the data of the local snapshot in bounded chunks', async () => {
      expect(await store!.loadMeta()).toBeNull();
      const data = pattern(2_500_000, 6);
      const meta = snapshotMeta(17, 4, data.length);
      await store!.save(meta, data);
      const restarted = await reopen();
      expect(await restarted.loadMeta()).toEqual(meta);
      const chunks: Uint8Array[] = [];
      const all = await readAll(restarted.readData(meta), chunks);
      expect(Buffer.from(all).equals(Buffer.from(data))).toBe(true);
      expect(chunks.length).toBeGreaterThan(1);
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(1024 * 1024);
    });

    it('refuses to stream a snapshot that is not the local one', async () => {
      expect(await errorCode(readAll(store!.readData(snapshotMeta(5, 1, 10))))).toBe('TSR_ERR_SNAPSHOT_UNAVAILABLE');
      await store!.save(snapshotMeta(5, 1, 10), pattern(10));
      expect(await errorCode(readAll(store!.readData(snapshotMeta(6, 1, 10))))).toBe('TSR_ERR_SNAPSHOT_UNAVAILABLE');
    });

    it('streams a promoted snapshot as it arrived, and keeps serving a stream begun before a replacement', async () => {
      const first = pattern(300_000, 2);
      const firstMeta = snapshotMeta(8, 2, first.length);
      for (let at = 0; at < first.length; at += 100_000) await store!.writeIncomingChunk(firstMeta, at, first.subarray(at, at + 100_000));
      await store!.promoteIncoming(firstMeta);
      const iterator = store!.readData(firstMeta)[Symbol.asyncIterator]();
      const head = await iterator.next();
      await store!.save(snapshotMeta(9, 2, 10), pattern(10, 3));
      const rest: Uint8Array[] = [head.value as Uint8Array];
      for (let step = await iterator.next(); step.done !== true; step = await iterator.next()) rest.push(step.value);
      expect(Buffer.concat(rest).equals(Buffer.from(first))).toBe(true);
      expect((await store!.loadMeta())?.index).toBe(9);
    });
  });
}
