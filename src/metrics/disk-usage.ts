// Disk figures for the storage metrics: bytes of a folder (LevelDB, snapshots)
// and the free space of the data directory's filesystem. Walking a folder costs
// a stat per file, so results are cached for a few seconds: frequent scrapes
// (or several Prometheus servers) do not turn into a stat storm.
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { rethrowIfBug } from '../errors.js';

/** Files visited per folder walk; LevelDB keeps a few hundred at most. */
export const MAX_FILES_PER_WALK = 100_000;
export const DISK_CACHE_MS = 5_000;

export interface DiskFigures {
  /** null when the folder does not exist (yet). */
  leveldbBytes: number | null;
  snapshotBytes: number | null;
  filesystemAvailBytes: number | null;
  filesystemSizeBytes: number | null;
}

export interface DiskPaths {
  dataDir: string;
  leveldbDir: string;
  snapshotDir: string;
}

/** Total bytes of the regular files below `dir`; null when it does not exist. */
export async function folderBytes(dir: string, maxFiles = MAX_FILES_PER_WALK): Promise<number | null> {
  let total = 0;
  let visited = 0;
  const pending = [dir];
  let first = true;
  while (pending.length > 0 && visited < maxFiles) {
    const current = pending.pop()!;
    let names: import('node:fs').Dirent[];
    try {
      names = await readdir(current, { withFileTypes: true });
    } catch (error) {
      rethrowIfBug(error);
      if (first) return null;
      continue; // removed while we walked (LevelDB compaction)
    }
    first = false;
    for (const entry of names) {
      if (visited >= maxFiles) break;
      const path = join(current, entry.name);
      if (entry.isDirectory()) {
        pending.push(path);
      } else if (entry.isFile()) {
        visited++;
        try {
          total += (await stat(path)).size;
        } catch (error) {
          rethrowIfBug(error);
        }
      }
    }
  }
  return total;
}

export class DiskUsage {
  private cached: { atMs: number; figures: DiskFigures } | null = null;
  private running: Promise<DiskFigures> | null = null;

  constructor(
    private readonly paths: DiskPaths,
    private readonly nowMs: () => number = Date.now,
  ) {}

  async figures(): Promise<DiskFigures> {
    if (this.cached !== null && this.nowMs() - this.cached.atMs < DISK_CACHE_MS) return this.cached.figures;
    this.running ??= this.measure().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async measure(): Promise<DiskFigures> {
    const [leveldbBytes, snapshotBytes, fs] = await Promise.all([folderBytes(this.paths.leveldbDir), folderBytes(this.paths.snapshotDir), filesystemOf(this.paths.dataDir)]);
    const figures: DiskFigures = { leveldbBytes, snapshotBytes, filesystemAvailBytes: fs?.availBytes ?? null, filesystemSizeBytes: fs?.sizeBytes ?? null };
    this.cached = { atMs: this.nowMs(), figures };
    return figures;
  }
}

async function filesystemOf(dir: string): Promise<{ availBytes: number; sizeBytes: number } | null> {
  try {
    const s = await statfs(dir);
    return { availBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
  } catch (error) {
    rethrowIfBug(error);
    return null;
  }
}
