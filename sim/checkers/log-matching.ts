// Log matching (Raft Figure 3): if two logs hold an entry with the same index
// and term, they are identical in every entry up to that index. Checked on
// the logs as the nodes' disks hold them (written, synced or not), read with
// the real entry codec; an entry whose checksum fails is corruption the
// simulator injected and is left out (the node detects it when it reads it).
import type { NodeId } from '../../src/raft/types.js';
import { decodeEntry } from '../../src/storage/entry-codec.js';
import type { MemoryDisk } from '../../src/storage/memory-disk.js';
import { digestBytes } from '../digest.js';
import type { Violations } from './violations.js';

/** The simulator disk's key prefix of Raft log entries: "log/" + hex("e"). */
const ENTRY_KEY_PREFIX = 'log/65';

export interface DiskEntry {
  term: number;
  digest: string;
}

export function readDiskLog(disk: MemoryDisk): Map<number, DiskEntry> {
  const log = new Map<number, DiskEntry>();
  for (const key of disk.keys(ENTRY_KEY_PREFIX)) {
    const index = parseInt(key.slice(ENTRY_KEY_PREFIX.length), 16);
    const value = disk.read(key);
    if (value === undefined || !Number.isSafeInteger(index)) continue;
    try {
      const entry = decodeEntry(value, index);
      log.set(index, { term: entry.term, digest: `${entry.kind}/${digestBytes(entry.data)}` });
    } catch {
      // A flipped bit or a torn write: detected by the checksum, never used.
    }
  }
  return log;
}

export function checkLogMatching(logs: ReadonlyMap<NodeId, Map<number, DiskEntry>>, violations: Violations): void {
  const ids = [...logs.keys()];
  for (let x = 0; x < ids.length; x++) {
    for (let y = x + 1; y < ids.length; y++) {
      const a = logs.get(ids[x]!)!;
      const b = logs.get(ids[y]!)!;
      let top = 0;
      for (const i of a.keys()) if (b.has(i) && i > top) top = i;
      let matchedAt = 0;
      for (let i = top; i >= 1; i--) {
        const ea = a.get(i);
        const eb = b.get(i);
        if (ea === undefined || eb === undefined) continue;
        if (matchedAt === 0) {
          if (ea.term === eb.term) {
            matchedAt = i;
            if (ea.digest !== eb.digest) {
              violations.report('log-matching', `${ids[x]} and ${ids[y]} hold different entries at index ${i} with the same term ${ea.term}`, { index: i, term: ea.term });
              return;
            }
          }
          continue;
        }
        if (ea.term !== eb.term || ea.digest !== eb.digest) {
          violations.report('log-matching', `${ids[x]} and ${ids[y]} agree at index ${matchedAt} but differ at ${i} (terms ${ea.term} and ${eb.term})`, {
            matchedAt,
            index: i,
          });
          return;
        }
      }
    }
  }
}
