// Which backups of a destination to keep (docs/backup-service.md,
// "Retention"): the newest `keepLast`, plus the newest backup of each UTC day
// for the last `keepDailyDays` days, plus — always — every backup a kept
// incremental is built on, down to its full backup. Everything else may go.
//
// Pure: the caller lists the destination, this decides, the caller deletes
// in the returned order (dependents before their bases, so an interrupted
// prune never leaves a backup whose base is gone).
import { assert } from '../errors.js';

export interface RetentionPolicy {
  /** Newest complete backups kept, ≥ 1. */
  keepLast: number;
  /** One backup (the newest) of each of the last D UTC days, today included; 0: none. */
  keepDailyDays: number;
}

export interface RetainedCandidate {
  name: string;
  /** When the backup's state was captured (Unix ms): manifest createdAt. */
  createdAtMs: number;
  /** Raft index of the backup: the order of backups. */
  index: number;
  /** The backup it is built on, or null for a full backup. */
  base: string | null;
}

export type KeepReason = 'last' | 'daily' | 'base';

export interface RetentionDecision {
  /** Kept backups with the first reason each is kept for. */
  keep: Map<string, KeepReason>;
  /** Backups to delete, dependents before their bases. */
  remove: string[];
  /** Kept backups whose chain is already broken (a base missing): reported, kept. */
  broken: string[];
}

const DAY_MS = 86_400_000;

export function checkPolicy(policy: RetentionPolicy): RetentionPolicy {
  assert(Number.isSafeInteger(policy.keepLast) && policy.keepLast >= 1, `retention keepLast ${policy.keepLast} must be ≥ 1`);
  assert(Number.isSafeInteger(policy.keepDailyDays) && policy.keepDailyDays >= 0, `retention keepDailyDays ${policy.keepDailyDays} must be ≥ 0`);
  return policy;
}

/** Decides what to keep at time `nowMs` (Unix ms) among complete backups. */
export function decideRetention(backups: readonly RetainedCandidate[], policy: RetentionPolicy, nowMs: number): RetentionDecision {
  checkPolicy(policy);
  const byName = new Map(backups.map((b) => [b.name, b]));
  assert(byName.size === backups.length, 'decideRetention: duplicate backup names');
  const newestFirst = [...backups].sort((a, b) => b.index - a.index || b.createdAtMs - a.createdAtMs || (a.name < b.name ? 1 : -1));
  const keep = new Map<string, KeepReason>();
  for (const b of newestFirst.slice(0, policy.keepLast)) keep.set(b.name, 'last');
  if (policy.keepDailyDays > 0) {
    const today = Math.floor(nowMs / DAY_MS);
    const seenDays = new Set<number>();
    for (const b of newestFirst) {
      const day = Math.floor(b.createdAtMs / DAY_MS);
      if (day > today || day <= today - policy.keepDailyDays || seenDays.has(day)) continue;
      seenDays.add(day);
      if (!keep.has(b.name)) keep.set(b.name, 'daily');
    }
  }
  // The closure: a kept backup's bases are kept, whatever the policy says.
  const broken: string[] = [];
  for (const name of [...keep.keys()]) {
    let base = byName.get(name)!.base;
    let depth = 0;
    while (base !== null) {
      const below = byName.get(base);
      // A missing base (or a cycle, which only a forged manifest could make) breaks the chain.
      if (below === undefined || depth++ > backups.length) {
        broken.push(name);
        break;
      }
      if (!keep.has(base)) keep.set(base, 'base');
      base = below.base;
    }
  }
  // Dependents first: a backup is deeper in its chain than its base, so
  // deepest first removes every dependent before the base it needs.
  const depthOf = (name: string): number => {
    let depth = 0;
    let base = byName.get(name)!.base;
    while (base !== null && depth <= backups.length) {
      depth++;
      base = byName.get(base)?.base ?? null;
    }
    return depth;
  };
  const remove = newestFirst
    .filter((b) => !keep.has(b.name))
    .map((b) => ({ name: b.name, depth: depthOf(b.name) }))
    .sort((a, b) => b.depth - a.depth)
    .map((b) => b.name);
  return { keep, remove, broken: [...new Set(broken)].sort() };
}
