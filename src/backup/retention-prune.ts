// Applies a retention policy to a destination: lists it, decides with
// decideRetention(), deletes what may go (manifest first, dependents before
// bases), removes incomplete backups left by interrupted uploads, and aborts
// multipart uploads abandoned long ago. Used by the node's backup service
// after each scheduled backup and by `tsraft backup prune DEST`.
import { rethrowIfBug } from '../errors.js';
import { deleteBackup, listCatalog, type CatalogEntry } from './destinations/transfer.js';
import type { Destination } from './destinations/types.js';
import { decideRetention, type RetentionDecision, type RetentionPolicy } from './retention.js';

export interface PruneOptions {
  nowMs: number;
  /** Backups never deleted, complete or not (the one being uploaded right now). */
  protect?: ReadonlySet<string>;
  /** Also delete incomplete backups (no manifest) not in `protect`. Default true. */
  deleteIncomplete?: boolean;
  /** Abort multipart uploads started before nowMs − this, ms. Default 24 h; 0 skips. */
  staleUploadMs?: number;
  /** Decide and report, delete nothing. */
  dryRun?: boolean;
}

export interface PruneResult {
  decision: RetentionDecision;
  catalog: CatalogEntry[];
  deleted: string[];
  deletedIncomplete: string[];
  abortedUploads: number;
}

export async function pruneDestination(dest: Destination, policy: RetentionPolicy, options: PruneOptions): Promise<PruneResult> {
  const protect = options.protect ?? new Set<string>();
  const catalog = await listCatalog(dest);
  const complete = catalog.filter((e) => e.manifest !== null);
  const decision = decideRetention(
    complete.map((e) => {
      const created = Date.parse(e.manifest!.createdAt);
      return { name: e.name, createdAtMs: Number.isFinite(created) ? created : 0, index: e.manifest!.raft.index, base: e.base };
    }),
    policy,
    options.nowMs,
  );
  const deleted: string[] = [];
  const deletedIncomplete: string[] = [];
  let abortedUploads = 0;
  if (options.dryRun !== true) {
    for (const name of decision.remove) {
      if (protect.has(name)) continue;
      await deleteBackup(dest, name);
      deleted.push(name);
    }
    if (options.deleteIncomplete !== false) {
      for (const e of catalog) {
        // An unreadable manifest is not "incomplete": it is evidence, left for an operator.
        if (e.manifest !== null || protect.has(e.name) || !e.problem?.startsWith('incomplete')) continue;
        await deleteBackup(dest, e.name);
        deletedIncomplete.push(e.name);
      }
    }
    const staleMs = options.staleUploadMs ?? 24 * 3_600_000;
    if (staleMs > 0) {
      try {
        abortedUploads = await dest.abortIncompleteUploads('', options.nowMs - staleMs);
      } catch (error) {
        rethrowIfBug(error);
        // Best effort: the uploads stay invisible, the next prune retries.
      }
    }
  }
  return { decision, catalog, deleted, deletedIncomplete, abortedUploads };
}
