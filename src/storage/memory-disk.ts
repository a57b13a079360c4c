// A simulated disk for the deterministic simulator: named byte values whose
// writes become durable only when the simulator says so. It models the
// durability contract the real stores rely on:
//   - write() is visible to reads at once (the page cache) but durable only
//     when its completion runs; its promise resolves then, and not before;
//   - syncing write k makes every earlier write durable too (one log, fsync
//     flushes everything before it);
//   - an unsynced write (sync: false) resolves at once and becomes durable
//     only with a later synced write;
//   - crash() forgets every write not yet durable, as a power loss would.
// Nothing here reads a clock or timer: completion is handed to `schedule`,
// which the simulator controls (default: complete at once).
import { assert } from '../errors.js';

export type DiskOp =
  | { type: 'put'; key: string; value: Uint8Array }
  | { type: 'del'; key: string }
  /** Write `data` into the value at `offset`, growing it (zero-filled) as needed. */
  | { type: 'write'; key: string; offset: number; data: Uint8Array };

export interface MemoryDiskOptions {
  /** Called once per write with the function that makes it durable. The
   *  simulator may run it later, in any order, or never (then crash()). */
  schedule?: (complete: () => void) => void;
  /** Bound on writes not yet durable. Default 65,536. */
  maxPendingWrites?: number;
}

interface PendingWrite {
  id: number;
  ops: DiskOp[];
  resolve: () => void;
}

export class MemoryDisk {
  private durable = new Map<string, Uint8Array>();
  /** durable + every pending write applied in order: what reads see. */
  private visible = new Map<string, Uint8Array>();
  private pending: PendingWrite[] = [];
  private nextWriteId = 1;
  /** Bumped by crash()/wipe() so completions of forgotten writes do nothing. */
  private generationNumber = 0;
  private readonly schedule: (complete: () => void) => void;
  private readonly maxPendingWrites: number;

  constructor(options: MemoryDiskOptions = {}) {
    this.schedule = options.schedule ?? ((complete) => complete());
    this.maxPendingWrites = options.maxPendingWrites ?? 65_536;
  }

  /** Changes on every crash() and wipe(): stores opened before are stale. */
  get generation(): number {
    return this.generationNumber;
  }

  get pendingWrites(): number {
    return this.pending.length;
  }

  /** The current value (do not mutate: values are shared, copied on write). */
  read(key: string): Uint8Array | undefined {
    return this.visible.get(key);
  }

  /** Keys starting with `prefix`, in ascending order. */
  keys(prefix: string): string[] {
    const keys: string[] = [];
    for (const key of this.visible.keys()) if (key.startsWith(prefix)) keys.push(key);
    return keys.sort();
  }

  /** Apply `ops` atomically; the promise resolves once they are durable, or
   *  with `sync` false at once (durable when a later synced write is). */
  write(ops: DiskOp[], options: { sync?: boolean } = {}): Promise<void> {
    assert(this.pending.length < this.maxPendingWrites, `MemoryDisk: ${this.pending.length} writes pending, bound ${this.maxPendingWrites}`);
    const copied = ops.map(copyOp);
    applyOps(this.visible, copied);
    const id = this.nextWriteId++;
    const generation = this.generationNumber;
    if (options.sync === false) {
      // Pending like any write (a crash forgets it, completeThrough of a later
      // synced write makes it durable), but nobody waits for a sync.
      this.pending.push({ id, ops: copied, resolve: () => {} });
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.pending.push({ id, ops: copied, resolve });
      this.schedule(() => {
        if (generation === this.generationNumber) this.completeThrough(id);
      });
    });
  }

  /** Power loss: every write not yet durable is forgotten. Their promises
   *  never settle (the process that awaited them is gone). */
  crash(): void {
    this.pending = [];
    this.visible = new Map(this.durable);
    this.generationNumber += 1;
  }

  /** The process is killed (kill -9) and the machine stays up: every write it
   *  issued is in the operating system's page cache and survives, synced or
   *  not. Stores opened before are stale (their pending promises never
   *  settle), as after crash(). */
  kill(): void {
    for (const write of this.pending) applyOps(this.durable, write.ops);
    this.crash();
  }

  /**
   * Power loss in the middle of the last pending write: earlier pending
   * writes reach the disk whole, the last one only in part (the first half
   * of its operations, the last of those cut to half its bytes). Returns
   * false when nothing was pending (then it is a plain crash).
   */
  tornLastWrite(): boolean {
    const last = this.pending.at(-1);
    if (last === undefined) {
      this.crash();
      return false;
    }
    for (const write of this.pending.slice(0, -1)) applyOps(this.durable, write.ops);
    const keep = Math.ceil(last.ops.length / 2);
    const torn = last.ops.slice(0, keep);
    const cut = torn.at(-1);
    if (cut !== undefined && cut.type === 'put') torn[torn.length - 1] = { ...cut, value: cut.value.slice(0, Math.floor(cut.value.length / 2)) };
    if (cut !== undefined && cut.type === 'write') torn[torn.length - 1] = { ...cut, data: cut.data.slice(0, Math.floor(cut.data.length / 2)) };
    applyOps(this.durable, torn);
    this.crash();
    return true;
  }

  /** Flip one bit of a stored value (durable and visible): media corruption. */
  flipBit(key: string, bitOffset: number): void {
    const value = this.visible.get(key);
    assert(value !== undefined, `flipBit: no value at ${key}`);
    assert(bitOffset >= 0 && bitOffset < value.length * 8, `flipBit: bit ${bitOffset} outside ${value.length} bytes`);
    for (const map of [this.durable, this.visible]) {
      const stored = map.get(key);
      if (stored === undefined) continue;
      const flipped = stored.slice();
      flipped[bitOffset >> 3]! ^= 1 << (bitOffset & 7);
      map.set(key, flipped);
    }
  }

  /** The disk is lost: everything, durable or not, is gone. */
  wipe(): void {
    this.durable = new Map();
    this.crash();
  }

  private completeThrough(id: number): void {
    while (this.pending.length > 0 && this.pending[0]!.id <= id) {
      const write = this.pending.shift()!;
      applyOps(this.durable, write.ops);
      write.resolve();
    }
  }
}

function copyOp(op: DiskOp): DiskOp {
  if (op.type === 'put') return { type: 'put', key: op.key, value: op.value.slice() };
  if (op.type === 'write') {
    assert(Number.isSafeInteger(op.offset) && op.offset >= 0, `MemoryDisk: bad offset ${op.offset}`);
    return { type: 'write', key: op.key, offset: op.offset, data: op.data.slice() };
  }
  return { type: 'del', key: op.key };
}

/** Values in the maps are never mutated in place, so durable and visible can share them. */
function applyOps(map: Map<string, Uint8Array>, ops: DiskOp[]): void {
  for (const op of ops) {
    if (op.type === 'put') map.set(op.key, op.value);
    else if (op.type === 'del') map.delete(op.key);
    else {
      const old = map.get(op.key) ?? new Uint8Array(0);
      const grown = new Uint8Array(Math.max(old.length, op.offset + op.data.length));
      grown.set(old, 0);
      grown.set(op.data, op.offset);
      map.set(op.key, grown);
    }
  }
}
