// Stores for the state machine's records (docs/storage.md, "State machine"):
// a LevelDB sublevel beside the Raft log (same database, same write-ahead
// log), and the simulator's MemoryDisk. What the records mean is
// src/tsdb/persisted-state.ts; here they are opaque keys and values.
import type { AbstractSublevel } from 'abstract-level';
import { assert } from '../errors.js';
import type { RootLevel } from './level-log-store.js';
import type { MemoryDisk, DiskOp } from './memory-disk.js';
import type { StateMachineStore } from './types.js';

export const DEFAULT_STATE_MACHINE_SUBLEVEL = 'sm';
const BYTES = { keyEncoding: 'view', valueEncoding: 'view' } as const;
// Durable with the Raft log's next synced batch (one write-ahead log).
const UNSYNCED_WRITE = { sync: false };

type Ops = Parameters<StateMachineStore['write']>[0];

/** Runs async steps one at a time, in call order; a failure fails every later step. */
class WriteQueue {
  private tail: Promise<void> = Promise.resolve();
  private failure: unknown = null;

  run(step: () => Promise<void>): Promise<void> {
    const next = this.tail.then(async () => {
      if (this.failure !== null) throw this.failure;
      try {
        await step();
      } catch (error) {
        this.failure = error;
        throw error;
      }
    });
    this.tail = next.catch(() => {});
    return next;
  }
}

export class LevelStateMachineStore implements StateMachineStore {
  private readonly level: AbstractSublevel<RootLevel, string | Buffer | Uint8Array, Uint8Array, Uint8Array>;
  private readonly queue = new WriteQueue();

  constructor(
    private readonly root: RootLevel,
    sublevel: string = DEFAULT_STATE_MACHINE_SUBLEVEL,
  ) {
    assert(root.status === 'open' || root.status === 'opening', `LevelStateMachineStore: database is ${root.status}`);
    this.level = root.sublevel<Uint8Array, Uint8Array>(sublevel, BYTES) as typeof this.level;
  }

  readRange(gte: Uint8Array, lt: Uint8Array): Promise<Array<[Uint8Array, Uint8Array]>> {
    return this.level.iterator({ gte, lt }).all();
  }

  readSync(key: Uint8Array): Uint8Array | undefined {
    // getSync runs on this thread: a query reads a block without a turn of the event loop.
    return this.root.getSync(this.level.prefixKey(key, 'view'), BYTES) as Uint8Array | undefined;
  }

  clearRange(gte: Uint8Array, lt: Uint8Array): Promise<void> {
    // Native range delete: unsynced batches in key order, no JavaScript per key.
    return this.queue.run(() => this.level.clear({ gte, lt }));
  }

  write(ops: Ops, options: { replaceAll: boolean }): Promise<void> {
    return this.queue.run(async () => {
      // A chained batch on the root with the sublevel's prefix (as the log
      // store does): no per-operation re-encoding by abstract-level.
      const batch = this.root.batch();
      if (options.replaceAll) {
        for await (const key of this.level.keys()) batch.del(this.level.prefixKey(key, 'view'), BYTES);
      }
      for (const op of ops) {
        const key = this.level.prefixKey(op.key, 'view');
        if (op.type === 'put') batch.put(key, op.value, BYTES);
        else batch.del(key, BYTES);
      }
      if (batch.length === 0) {
        await batch.close();
        return;
      }
      await batch.write(UNSYNCED_WRITE);
    });
  }
}

const MEMORY_PREFIX = 'sm/';
const NEVER = new Promise<never>(() => {});

function hexKey(bytes: Uint8Array): string {
  let out = MEMORY_PREFIX;
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

function fromHexKey(key: string): Uint8Array {
  const hex = key.slice(MEMORY_PREFIX.length);
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

/** On the simulator's MemoryDisk (shared with the node's log and snapshot
 *  stores): unsynced writes are lost by a crash unless a later synced write
 *  of the same disk made them durable, as with LevelDB's one log. */
export class MemoryStateMachineStore implements StateMachineStore {
  private readonly generation: number;
  private readonly queue = new WriteQueue();

  constructor(private readonly disk: MemoryDisk) {
    this.generation = disk.generation;
  }

  async readRange(gte: Uint8Array, lt: Uint8Array): Promise<Array<[Uint8Array, Uint8Array]>> {
    const from = hexKey(gte);
    const to = hexKey(lt);
    const out: Array<[Uint8Array, Uint8Array]> = [];
    for (const key of this.disk.keys(MEMORY_PREFIX)) {
      if (key >= from && key < to) out.push([fromHexKey(key), this.disk.read(key)!]);
    }
    return out;
  }

  readSync(key: Uint8Array): Uint8Array | undefined {
    return this.disk.read(hexKey(key));
  }

  clearRange(gte: Uint8Array, lt: Uint8Array): Promise<void> {
    return this.queue.run(async () => {
      if (this.disk.generation !== this.generation) await NEVER;
      const from = hexKey(gte);
      const to = hexKey(lt);
      const dels: DiskOp[] = this.disk.keys(MEMORY_PREFIX).filter((key) => key >= from && key < to).map((key) => ({ type: 'del', key }));
      if (dels.length > 0) await this.disk.write(dels, { sync: false });
    });
  }

  write(ops: Ops, options: { replaceAll: boolean }): Promise<void> {
    return this.queue.run(async () => {
      // The process that opened this store is gone (crash): its writes never land, nor settle.
      if (this.disk.generation !== this.generation) await NEVER;
      const diskOps: DiskOp[] = [];
      if (options.replaceAll) for (const key of this.disk.keys(MEMORY_PREFIX)) diskOps.push({ type: 'del', key });
      for (const op of ops) diskOps.push(op.type === 'put' ? { type: 'put', key: hexKey(op.key), value: op.value } : { type: 'del', key: hexKey(op.key) });
      if (diskOps.length > 0) await this.disk.write(diskOps, { sync: false });
    });
  }
}
