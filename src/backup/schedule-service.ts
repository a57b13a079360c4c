// Backups as a running service on one node (docs/backup-service.md): the
// state digests and their comparison, the backup schedule, re-verification
// of stored backups and restore drills, wired to the node's replica, state
// machine, metrics and HTTP server. src/node/node.ts creates one per node and
// forwards every applied entry to onApplied().
import type { TokenAuth } from '../api/auth.js';
import type { HttpServer } from '../api/http-server.js';
import type { NodeConfig } from '../config/types.js';
import { rethrowIfBug } from '../errors.js';
import type { BackupRecorder } from '../metrics/backup-history.js';
import type { MetricFamilies } from '../metrics/definitions.js';
import type { Logger } from '../node/logger.js';
import type { Entry } from '../raft/types.js';
import type { Replica } from '../replica/replica.js';
import type { ApplyResult, TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { Clock } from '../util/clock.js';
import { loadKeyFile, type BackupKey } from './crypto.js';
import type { Membership } from './manifest.js';
import { openDestination, s3SettingsOf } from './destinations/open.js';
import type { Destination } from './destinations/types.js';
import { DigestMonitor } from './schedule-digests.js';
import { registerMaintenanceRoutes } from './schedule-routes.js';
import { BackupScheduler } from './schedule.js';
import { Reverifier } from './reverify.js';
import { ScheduledDrill } from './drill.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface BackupServiceParts {
  config: NodeConfig;
  replica: Replica<ApplyResult>;
  stateMachine: TimeSeriesStateMachine;
  families: MetricFamilies;
  recorder: BackupRecorder;
  auth: Pick<TokenAuth, 'accessOf'>;
  clock: Clock;
  log: Logger;
  /** This node's client URL when clientUrls does not name it (http://host:bound port). */
  ownUrl?: () => string;
}

/** Extra jobs (re-verification, drills, scrubbing) plug in with this shape. */
export interface MaintenanceJob {
  readonly name: string;
  start(): void;
  stop(): Promise<void>;
  status(): unknown;
}

export class BackupService {
  readonly digests: DigestMonitor;
  readonly scheduler: BackupScheduler | null;
  readonly destination: Destination | null;
  readonly key: BackupKey | null;
  readonly reverifier: Reverifier | null = null;
  private readonly jobs: MaintenanceJob[] = [];
  private started = false;

  constructor(private readonly parts: BackupServiceParts) {
    const { config, replica, stateMachine, families, clock, log } = parts;
    const backup = config.backup;
    const isLeader = (): boolean => replica.status().role === 'leader';
    const peerUrls = (): Record<string, string> => this.peerUrls();
    this.digests = new DigestMonitor({
      nodeId: config.nodeId,
      secret: config.secret,
      intervalMs: backup.digest.intervalMs,
      stateMachine,
      isLeader,
      propose: (data) => replica.propose(data),
      peerUrls,
      clock,
      log,
      families,
    });
    this.key = backup.encryptKeyFile === null ? null : loadKeyFile(backup.encryptKeyFile);
    const schedule = backup.schedule;
    this.destination = schedule === null ? null : openDestination(schedule.destination, s3SettingsOf(backup.s3));
    this.scheduler =
      schedule === null || this.destination === null
        ? null
        : new BackupScheduler({
            nodeId: config.nodeId,
            clusterId: config.clusterId,
            secret: config.secret,
            config: schedule,
            destination: this.destination,
            key: this.key,
            stateMachine,
            digestAt: (index) => this.digests.digestAt(index),
            leader: () => {
              const status = replica.status();
              return { isLeader: status.role === 'leader', leaderId: status.leader };
            },
            propose: (data) => replica.propose(data),
            capturePosition: (index) => ({ term: replica.termAt(index) ?? null, membership: this.membership() }),
            peerUrls,
            clock,
            log,
            families,
            recorder: parts.recorder,
          });
    if (this.scheduler !== null && this.destination !== null && backup.reverify.intervalMs > 0) {
      const scheduler = this.scheduler;
      this.reverifier = new Reverifier({
        destination: this.destination,
        key: this.key,
        intervalMs: backup.reverify.intervalMs,
        maxBytesPerSecond: backup.reverify.maxBytesPerSecond,
        workDir: this.workDir(),
        isLeader,
        onDamaged: (name) => scheduler.requestFull(`${name} failed re-verification`),
        clock,
        log,
        families,
      });
      this.addJob(this.reverifier);
    }
    if (this.destination !== null && backup.drill.intervalMs > 0) {
      this.addJob(
        new ScheduledDrill({
          destination: this.destination,
          key: this.key,
          intervalMs: backup.drill.intervalMs,
          maxBytesPerSecond: backup.drill.maxBytesPerSecond,
          workDir: this.workDir(),
          isLeader,
          endpoints: () => {
            const urls = this.peerUrls();
            const own = urls[config.nodeId] ?? (parts.ownUrl?.() ?? null);
            return [...(own === null ? [] : [own]), ...Object.entries(urls).filter(([id]) => id !== config.nodeId).map(([, url]) => url)];
          },
          token: config.clientApi.tokens[0]?.token ?? null,
          clock,
          log,
          families,
        }),
      );
    }
  }

  /** Client URLs of the members this node can reach (config clientUrls). */
  peerUrls(): Record<string, string> {
    const urls: Record<string, string> = {};
    const members = new Set([...Object.keys(this.parts.config.peers), ...this.parts.replica.status().members.map((m) => m.id)]);
    for (const id of members) {
      const url = this.parts.config.clientUrls[id];
      if (url !== undefined) urls[id] = url;
    }
    return urls;
  }

  private membership(): Membership {
    const membership: Membership = { voters: [], learners: [], peerUrls: {} };
    for (const m of this.parts.replica.status().members) {
      (m.role === 'learner' ? membership.learners : membership.voters).push(m.id);
      membership.peerUrls[m.id] = m.url;
    }
    membership.voters.sort();
    membership.learners.sort();
    return membership;
  }

  /** A folder of the data directory for downloads being checked (re-verification, drills). */
  workDir(): string {
    const dir = join(this.parts.config.dataDir, 'backup-work');
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  addJob(job: MaintenanceJob): void {
    this.jobs.push(job);
    if (this.started) job.start();
  }

  /** Every entry the replica applies, in order, before the next one. */
  onApplied(entry: Entry, result: unknown): void {
    const r = result as ApplyResult | undefined;
    // The digest first: a scheduled backup records the digest of its index.
    this.digests.onApplied(entry, r);
    this.scheduler?.onApplied(entry, r);
  }

  /** After the replica replayed its log. */
  start(): void {
    this.started = true;
    this.digests.start();
    this.scheduler?.start();
    for (const job of this.jobs) job.start();
  }

  async stop(): Promise<void> {
    this.digests.stop();
    await this.scheduler?.stop();
    for (const job of this.jobs) {
      try {
        await job.stop();
      } catch (error) {
        rethrowIfBug(error);
        this.parts.log.warn(`stopping ${job.name} failed`, { error: (error as Error).message });
      }
    }
    await this.destination?.close();
  }

  status(): Record<string, unknown> {
    const jobs: Record<string, unknown> = {};
    for (const job of this.jobs) jobs[job.name] = job.status();
    return { schedule: this.scheduler?.status() ?? null, digests: this.digests.status(), ...jobs };
  }

  registerRoutes(server: HttpServer): void {
    const { config, replica } = this.parts;
    registerMaintenanceRoutes(server, {
      secret: config.secret,
      isMember: (id) => id in config.peers || replica.status().members.some((m) => m.id === id),
      auth: this.parts.auth,
      nodeId: config.nodeId,
      appliedIndex: () => replica.appliedIndex,
      isLeader: () => replica.status().role === 'leader',
      leaderHint: () => {
        const leader = replica.status().leader;
        return { leader, leaderClientUrl: leader === null ? null : (config.clientUrls[leader] ?? null) };
      },
      propose: (data) => replica.propose(data),
      digestAt: (index) => this.digests.digestAt(index),
      recentDigests: (limit) => this.digests.recent(limit),
      status: () => this.status(),
      nowMs: () => this.parts.clock.nowMs(),
    });
  }
}

