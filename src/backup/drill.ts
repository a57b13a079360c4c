// Restore drills (docs/backup-service.md, "Restore drills"): a backup nobody
// restored is a hope, not a backup. A drill
//   1. takes the latest complete backup of a destination (or a named one),
//   2. downloads it with the files it reuses from its bases,
//   3. restores it into a temporary single-node cluster started in this
//      process (its own data directory, HTTP on 127.0.0.1 port 0),
//   4. compares the restored node's state digest with the digest recorded in
//      the backup and with the digests the live cluster's nodes computed at the
//      backup's index,
//   5. runs a set of queries (per metric: hourly point counts and sums over a
//      window ending `settleMs` before the backup's leader time) on the
//      restored node and on the live cluster and compares the answers,
//   6. reports pass or fail with the reasons, and removes everything it made.
// Used by `tsraft backup drill --from DEST` and by the node's scheduled drill.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseNodeConfig } from '../config/load.js';
import { TsraftError, rethrowIfBug } from '../errors.js';
import type { BackupKey } from './crypto.js';
import { downloadBackup, listCatalog, type TransferOptions } from './destinations/transfer.js';
import type { Destination } from './destinations/types.js';
import type { BackupManifest } from './manifest.js';
import { restoreIntoDataDir } from './restore.js';
import { ByteRateLimiter } from './destinations/rate-limit.js';
import type { MetricFamilies } from '../metrics/definitions.js';
import type { Logger } from '../node/logger.js';
import type { Clock } from '../util/clock.js';

const HOUR_MS = 3_600_000;
/** Metrics whose queries are compared (the first, in name order). */
export const DEFAULT_DRILL_METRICS = 20;
const REQUEST_TIMEOUT_MS = 30_000;

export interface DrillOptions {
  destination: Destination;
  /** A backup of the destination; default the latest complete one (highest Raft index). */
  backupName?: string | null;
  key?: BackupKey | null;
  /** Client URLs of the live cluster's nodes. */
  endpoints: readonly string[];
  token?: string | null;
  /** Where the temporary node and the download go (removed afterwards). */
  workDir: string;
  transfer?: TransferOptions;
  /** Query window length, ms. Default 24 h. */
  windowMs?: number;
  /** The newest data before the backup is left out of the comparison (late writes may still change it), ms. Default 1 h. */
  settleMs?: number;
  maxMetrics?: number;
}

export interface DrillDigestCheck {
  /** 'manifest' (recorded when the backup was taken) or a live node's id or URL. */
  source: string;
  digest: string | null;
  match: boolean | null;
}

export interface DrillQueryCheck {
  metric: string;
  match: boolean;
  restoredSeries: number;
}

export interface DrillResult {
  pass: boolean;
  reasons: string[];
  backup: { name: string; backupId: string; index: number; createdAt: string; leaderTime: string; kind: 'full' | 'incremental' };
  restoredDigest: string;
  digests: DrillDigestCheck[];
  queries: DrillQueryCheck[];
  window: { startMs: number; endMs: number };
  durationMs: number;
}

async function getJson(url: string, token: string | null): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch (error) {
    rethrowIfBug(error);
  }
  return { status: response.status, body };
}

/** JSON with object keys sorted, so two answers compare by content. */
function canonical(value: unknown): string {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    return v;
  };
  return JSON.stringify(sort(value));
}

async function pickBackup(dest: Destination, name: string | null): Promise<{ name: string; manifest: BackupManifest }> {
  const complete = (await listCatalog(dest)).filter((e) => e.manifest !== null);
  if (name !== null) {
    const found = complete.find((e) => e.name === name);
    if (found === undefined) throw new TsraftError('TSR_ERR_BACKUP_NOT_FOUND', `${dest.url} holds no complete backup named ${name}`, { details: { destination: dest.url, name } });
    return { name, manifest: found.manifest! };
  }
  const latest = complete[complete.length - 1];
  if (latest === undefined) throw new TsraftError('TSR_ERR_BACKUP_NOT_FOUND', `${dest.url} holds no complete backup to drill`, { details: { destination: dest.url } });
  return { name: latest.name, manifest: latest.manifest! };
}

export async function runDrill(options: DrillOptions): Promise<DrillResult> {
  const started = Date.now();
  const token = options.token ?? null;
  const { name, manifest } = await pickBackup(options.destination, options.backupName ?? null);
  const root = mkdtempSync(join(options.workDir, 'drill-'));
  const reasons: string[] = [];
  // Imported here: the node imports the backup service, which may run drills.
  const { TsraftNode } = await import('../node/node.js');
  const { createLogger } = await import('../node/logger.js');
  let node: Awaited<ReturnType<typeof TsraftNode.start>> | null = null;
  try {
    const { dir } = await downloadBackup(options.destination, name, join(root, 'backups'), options.transfer ?? {});
    const config = parseNodeConfig(
      {
        nodeId: 'drill',
        clusterId: `drill-${randomBytes(6).toString('hex')}`,
        dataDir: 'node',
        secret: randomBytes(24).toString('hex'),
        httpHost: '127.0.0.1',
        httpPort: 0,
        peerHost: '127.0.0.1',
        peerPort: 0,
        // A one-node cluster never dials its own peer URL.
        peers: { drill: 'ws://127.0.0.1:1' },
        shutdownTimeoutMs: 2_000,
        logLevel: 'error',
        backup: { scrub: { enabled: false }, digest: { intervalMs: 0 }, reverify: { intervalMs: 0 } },
      },
      { baseDir: root, configPath: null },
    );
    await restoreIntoDataDir(dir, config, { key: options.key ?? null });
    const fatal: unknown[] = [];
    node = await TsraftNode.start(config, createLogger({ nodeId: 'drill', level: 'error', write: () => undefined }), { onFatal: (error) => fatal.push(error) });
    const restoredUrl = `http://127.0.0.1:${node.boundHttpPort}`;
    const deadline = Date.now() + 30_000;
    while (node.replica.status().role !== 'leader' || node.replica.appliedIndex < manifest.raft.index) {
      if (Date.now() > deadline || fatal.length > 0) throw new TsraftError('TSR_ERR_DRILL_FAILED', `the restored node did not come up${fatal.length > 0 ? `: ${(fatal[0] as Error).message}` : ''}`, { details: { reason: 'start' } });
      await new Promise((r) => setTimeout(r, 25));
    }
    const restored = node.stateMachine.stateDigest();

    // Digests: the one recorded with the backup, and the live replicas' at its index.
    const digests: DrillDigestCheck[] = [];
    if (manifest.stateDigest !== undefined) {
      const match = manifest.stateDigest.digest === restored.digest && manifest.stateDigest.index === restored.index;
      digests.push({ source: 'manifest', digest: manifest.stateDigest.digest, match });
      if (!match) reasons.push(`the restored state's digest ${restored.digest} (index ${restored.index}) differs from the digest ${manifest.stateDigest.digest} recorded when the backup was taken`);
    }
    for (const endpoint of options.endpoints) {
      try {
        const answer = await getJson(new URL(`/api/maintenance/digests?index=${manifest.raft.index}`, endpoint).toString(), token);
        if (answer.status !== 200) throw new Error(`HTTP ${answer.status}`);
        const body = answer.body as { nodeId: string; digests: Array<{ index: number; digest: string }> };
        const live = body.digests.find((d) => d.index === manifest.raft.index) ?? null;
        const match = live === null ? null : live.digest === restored.digest;
        digests.push({ source: body.nodeId, digest: live?.digest ?? null, match });
        if (match === false) reasons.push(`the restored state's digest ${restored.digest} differs from node ${body.nodeId}'s digest ${live!.digest} at index ${manifest.raft.index}`);
      } catch (error) {
        rethrowIfBug(error);
        digests.push({ source: endpoint, digest: null, match: null });
      }
    }

    // Queries: per metric, hourly counts and sums over the settled window, restored vs live.
    const windowMs = options.windowMs ?? 24 * HOUR_MS;
    const endMs = manifest.leaderTimeMs - (options.settleMs ?? HOUR_MS);
    const startMs = endMs - windowMs;
    // The metrics of either side: a metric missing on one side is a difference too.
    const maxMetrics = options.maxMetrics ?? DEFAULT_DRILL_METRICS;
    const suggest = `/api/suggest?type=metrics&max=${maxMetrics}`;
    const names = new Set<string>();
    const restoredMetrics = await getJson(`${restoredUrl}${suggest}`, null);
    if (Array.isArray(restoredMetrics.body)) for (const m of restoredMetrics.body as string[]) names.add(m);
    for (const endpoint of options.endpoints) {
      try {
        const live = await getJson(new URL(suggest, endpoint).toString(), token);
        if (live.status !== 200 || !Array.isArray(live.body)) continue;
        for (const m of live.body as string[]) names.add(m);
        break;
      } catch (error) {
        rethrowIfBug(error);
      }
    }
    const metrics = [...names].sort().slice(0, maxMetrics);
    const queries: DrillQueryCheck[] = [];
    for (const metric of metrics) {
      const path = `/api/query?start=${startMs}&end=${endMs}&m=${encodeURIComponent(`sum:1h-count:${metric}`)}&m=${encodeURIComponent(`sum:1h-sum:${metric}`)}&msResolution=true`;
      const mine = await getJson(`${restoredUrl}${path}`, null);
      let theirs: { status: number; body: unknown } | null = null;
      for (const endpoint of options.endpoints) {
        try {
          theirs = await getJson(new URL(path, endpoint).toString(), token);
          if (theirs.status === 200) break;
        } catch (error) {
          rethrowIfBug(error);
        }
      }
      if (theirs === null || theirs.status !== 200) throw new TsraftError('TSR_ERR_UNREACHABLE', `no live node answered the drill's queries (${options.endpoints.join(', ')})`, { details: { endpoints: [...options.endpoints] } });
      const match = mine.status === 200 && canonical(mine.body) === canonical(theirs.body);
      queries.push({ metric, match, restoredSeries: Array.isArray(mine.body) ? mine.body.length : 0 });
      if (!match) reasons.push(`query of ${metric} (hourly counts and sums, ${new Date(startMs).toISOString()} – ${new Date(endMs).toISOString()}) answers differently on the restored node and the live cluster`);
    }
    return {
      pass: reasons.length === 0,
      reasons,
      backup: { name, backupId: manifest.backupId, index: manifest.raft.index, createdAt: manifest.createdAt, leaderTime: manifest.leaderTime, kind: manifest.base === null ? 'full' : 'incremental' },
      restoredDigest: restored.digest,
      digests,
      queries,
      window: { startMs, endMs },
      durationMs: Date.now() - started,
    };
  } finally {
    if (node !== null) await node.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

export interface ScheduledDrillOptions {
  destination: Destination;
  key: BackupKey | null;
  intervalMs: number;
  maxBytesPerSecond: number;
  workDir: string;
  isLeader: () => boolean;
  /** Client URLs of the live cluster (this node's first). */
  endpoints: () => string[];
  token: string | null;
  clock: Clock;
  log: Pick<Logger, 'info' | 'warn' | 'error'>;
  families: MetricFamilies;
}

/** The node's scheduled drill (backup.drill): on the leader, every intervalMs. */
export class ScheduledDrill {
  readonly name = 'drill';
  private cancelTimer: (() => void) | null = null;
  private running: Promise<unknown> | null = null;
  private stopped = false;
  private last: (Omit<DrillResult, 'queries'> & { queries: number; atMs: number }) | { pass: false; error: string; atMs: number } | null = null;

  constructor(private readonly options: ScheduledDrillOptions) {}

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

  status(): { intervalMs: number; last: ScheduledDrill['last'] } {
    return { intervalMs: this.options.intervalMs, last: this.last };
  }

  private schedule(): void {
    if (this.stopped) return;
    this.cancelTimer = this.options.clock.setTimer(this.options.intervalMs, () => {
      this.cancelTimer = null;
      this.running = (this.options.isLeader() ? this.runOnce() : Promise.resolve()).then(() => this.schedule());
    });
  }

  async runOnce(): Promise<boolean> {
    const { families, log, clock } = this.options;
    const limiter = new ByteRateLimiter(this.options.maxBytesPerSecond, clock);
    let pass = false;
    try {
      const result = await runDrill({
        destination: this.options.destination,
        key: this.options.key,
        endpoints: this.options.endpoints(),
        token: this.options.token,
        workDir: this.options.workDir,
        transfer: { onChunk: (bytes) => limiter.take(bytes) },
      });
      pass = result.pass;
      this.last = { ...result, queries: result.queries.length, atMs: clock.nowMs() };
      if (pass) log.info('restore drill passed', { backup: result.backup.name, index: result.backup.index, digest: result.restoredDigest, queries: result.queries.length });
      else log.error('restore drill failed', { backup: result.backup.name, reasons: result.reasons.join('; ') });
    } catch (error) {
      rethrowIfBug(error);
      this.last = { pass: false, error: (error as Error).message, atMs: clock.nowMs() };
      log.error('restore drill failed', { error: (error as Error).message });
    }
    families.drillRuns.inc({ result: pass ? 'pass' : 'fail' });
    families.drillLastResult.set(pass ? 1 : 0);
    families.drillLastTimestamp.set(clock.nowMs() / 1000);
    return pass;
  }
}
