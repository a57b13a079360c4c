// Re-verification of stored backups (docs/backup-service.md,
// "Re-verification"): a backup that verified when it was written can rot
// later in its storage. On the leader, every reverify.intervalMs one backup
// of the destination is downloaded (with the files it reuses from its bases)
// at most maxBytesPerSecond, and verified end to end: every file's size and
// SHA-256, every page decoded, the rebuilt state's digest. The rebuild yields
// to the event loop between groups of series, so the node keeps serving.
// Order: backups this node has not verified yet, newest first; then the one
// verified longest ago. A failure is reported (metric, log, /status) and asks
// the scheduler for a full backup next, so no new backup builds on damage.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TsraftError, rethrowIfBug } from '../errors.js';
import type { MetricFamilies } from '../metrics/definitions.js';
import type { Logger } from '../node/logger.js';
import type { Clock } from '../util/clock.js';
import type { BackupKey } from './crypto.js';
import { ByteRateLimiter } from './destinations/rate-limit.js';
import { downloadBackup, listCatalog } from './destinations/transfer.js';
import type { Destination } from './destinations/types.js';
import { rebuildStateSteps, type RebuildResult } from './rebuild.js';
import { DirectorySource } from './source.js';

/** Verifications remembered (names of backups, bounded). */
const MAX_REMEMBERED = 10_000;

export interface ReverifyOptions {
  destination: Destination;
  key: BackupKey | null;
  intervalMs: number;
  maxBytesPerSecond: number;
  /** Where downloads go while they are checked (a folder in the data directory). */
  workDir: string;
  isLeader: () => boolean;
  /** Called when a backup is damaged (the scheduler then takes a full backup). */
  onDamaged?: (name: string, error: TsraftError) => void;
  clock: Clock;
  log: Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;
  families: MetricFamilies;
  /** Pause between groups during the rebuild (default: one turn of the event loop). */
  pause?: () => Promise<void>;
}

export interface ReverifyOutcome {
  name: string;
  ok: boolean;
  atMs: number;
  bytesRead: number;
  /** The damaged file and why (failures). */
  error: string | null;
  file: string | null;
  result: RebuildResult | null;
}

const immediate = (): Promise<void> => new Promise((resolvePromise) => setImmediate(resolvePromise));

export class Reverifier {
  readonly name = 'reverify';
  private readonly verifiedAt = new Map<string, number>();
  private readonly limiter: ByteRateLimiter;
  private cancelTimer: (() => void) | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private last: ReverifyOutcome | null = null;
  private lastFailure: ReverifyOutcome | null = null;
  private lastSuccessMs = 0;

  constructor(private readonly options: ReverifyOptions) {
    this.limiter = new ByteRateLimiter(options.maxBytesPerSecond, options.clock);
    options.families.destinationLastVerified.set({ destination: options.destination.url }, 0);
    for (const result of ['success', 'failure'] as const) options.families.reverifyRuns.inc({ destination: options.destination.url, result }, 0);
  }

  start(): void {
    if (this.options.intervalMs <= 0 || this.stopped) return;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer?.();
    this.cancelTimer = null;
    await this.running?.catch(() => undefined);
  }

  status(): { destination: string; intervalMs: number; maxBytesPerSecond: number; verified: number; lastSuccessMs: number; last: ReverifyOutcome | null; lastFailure: ReverifyOutcome | null } {
    const strip = (o: ReverifyOutcome | null): ReverifyOutcome | null => (o === null ? null : { ...o, result: null });
    return { destination: this.options.destination.url, intervalMs: this.options.intervalMs, maxBytesPerSecond: this.options.maxBytesPerSecond, verified: this.verifiedAt.size, lastSuccessMs: this.lastSuccessMs, last: strip(this.last), lastFailure: strip(this.lastFailure) };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.options.clock.setTimer(this.options.intervalMs, () => {
      this.cancelTimer = null;
      const run = this.options.isLeader() ? this.runOnce() : Promise.resolve(null);
      this.running = run.then(
        () => this.schedule(),
        (error: unknown) => {
          rethrowIfBug(error);
          this.options.log.warn('re-verification could not run', { destination: this.options.destination.url, error: (error as Error).message });
          this.schedule();
        },
      );
    });
  }

  /** The backup to verify next, or null when the destination holds none. */
  async pickNext(): Promise<string | null> {
    const complete = (await listCatalog(this.options.destination)).filter((e) => e.manifest !== null);
    if (complete.length === 0) return null;
    const never = complete.filter((e) => !this.verifiedAt.has(e.name));
    if (never.length > 0) return never[never.length - 1]!.name;
    return [...complete].sort((a, b) => this.verifiedAt.get(a.name)! - this.verifiedAt.get(b.name)!)[0]!.name;
  }

  /** Verifies one backup (the next in order, or `name`). */
  async runOnce(name?: string): Promise<ReverifyOutcome | null> {
    const target = name ?? (await this.pickNext());
    if (target === null) return null;
    return this.verify(target);
  }

  async verify(name: string): Promise<ReverifyOutcome> {
    const { destination: dest, families, log } = this.options;
    const mirror = mkdtempSync(join(this.options.workDir, 'reverify-'));
    let bytesRead = 0;
    let outcome: ReverifyOutcome;
    try {
      const { dir } = await downloadBackup(dest, name, mirror, {
        onChunk: async (bytes) => {
          if (this.stopped) throw new TsraftError('TSR_ERR_SHUTTING_DOWN', 'the node is stopping');
          bytesRead += bytes;
          families.reverifyReadBytes.inc({ destination: dest.url }, bytes);
          await this.limiter.take(bytes);
        },
      });
      const source = DirectorySource.open(dir, { key: this.options.key });
      const steps = rebuildStateSteps(source);
      const pause = this.options.pause ?? immediate;
      let step = steps.next();
      while (step.done !== true) {
        await pause();
        step = steps.next();
      }
      outcome = { name, ok: true, atMs: this.options.clock.nowMs(), bytesRead, error: null, file: null, result: step.value };
    } catch (error) {
      rethrowIfBug(error);
      const e = error as TsraftError;
      // The destination failing to answer is not damage: it is retried at the next turn.
      if (!(e instanceof TsraftError) || (e.code !== 'TSR_ERR_BACKUP_CORRUPT' && e.code !== 'TSR_ERR_BACKUP_KEY' && e.code !== 'TSR_ERR_BACKUP_UNSUPPORTED' && e.code !== 'TSR_ERR_BACKUP_NOT_FOUND')) throw error;
      outcome = { name, ok: false, atMs: this.options.clock.nowMs(), bytesRead, error: `${e.code}: ${e.message}`, file: typeof e.details.file === 'string' ? e.details.file : null, result: null };
    } finally {
      rmSync(mirror, { recursive: true, force: true });
    }
    this.verifiedAt.delete(name);
    this.verifiedAt.set(name, outcome.atMs);
    if (this.verifiedAt.size > MAX_REMEMBERED) this.verifiedAt.delete(this.verifiedAt.keys().next().value as string);
    this.last = outcome;
    families.reverifyRuns.inc({ destination: dest.url, result: outcome.ok ? 'success' : 'failure' });
    if (outcome.ok) {
      this.lastSuccessMs = outcome.atMs;
      families.destinationLastVerified.set({ destination: dest.url }, outcome.atMs / 1000);
      log.info('re-verified a stored backup', { destination: dest.url, name, bytesRead, stateSha256: outcome.result?.stateSha256 });
    } else {
      this.lastFailure = outcome;
      log.error('a stored backup failed re-verification: it cannot be restored', { destination: dest.url, name, file: outcome.file ?? '', error: outcome.error });
      this.options.onDamaged?.(name, new TsraftError('TSR_ERR_BACKUP_CORRUPT', outcome.error ?? 'damaged', { details: { file: outcome.file } }));
    }
    return outcome;
  }
}
