// One tsraft node inside a process: the client HTTP server, LevelDB storage,
// the WebSocket peer transport, the replica and the time-series state machine,
// wired together, started in dependency order and stopped in reverse.
//
// Start: HTTP first (so /health answers and a port clash fails fast, before any
// disk is touched), then the database, the stores, the peer listener, the
// replica (which replays the log), then the client routes.
// Stop (SIGTERM): refuse new requests, hand leadership to a follower when this
// node leads, let requests in flight finish, stop the replica, close the
// transport and the stores, close LevelDB.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { TokenAuth } from '../api/auth.js';
import { registerConsoleRoutes } from '../api/console/routes.js';
import { HttpServer } from '../api/http-server.js';
import { registerMetricsRoutes } from '../api/metrics-route.js';
import { registerStatusRoutes, type MemberStatus, type NodeLifecycle, type NodeStatus } from '../api/status.js';
import type { NodeConfig } from '../config/types.js';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { NodeMetrics } from '../metrics/node-metrics.js';
import type { ConfigState } from '../raft/types.js';
import { Replica } from '../replica/replica.js';
import type { ReplicaStatus } from '../replica/types.js';
import { FileSnapshotStore } from '../storage/file-snapshot-store.js';
import { LevelRaftLogStore, type RootLevel } from '../storage/level-log-store.js';
import { LevelStateMachineStore } from '../storage/state-machine-store.js';
import { TsdbCheckpointer, loadPersistedState, storeBlockReader } from '../replica/tsdb-persistence.js';
import { WsTransport } from '../transport/ws-transport.js';
import { TimeSeriesStateMachine, type ApplyResult, type PersistedBlockReader } from '../tsdb/state-machine.js';
import { systemClock } from '../util/clock.js';
import { SeededPrng } from '../util/prng.js';
import { registerAdminRoutes } from './admin-routes.js';
import type { Logger } from './logger.js';
import { mountClientRoutes, type ClientSurfaces } from './routes.js';
import { RetentionScheduler } from './retention.js';
import { registerBackupRoutes, nodeBackupSource } from '../backup/route.js';
import { BackupFormatStateMachine } from '../backup/state-machine-adapter.js';
import { LogArchiver } from '../backup/log-archive.js';
import { SelfMonitor } from './self-monitor.js';
import { BackupService } from '../backup/schedule-service.js';
import { Scrubber } from './scrubber.js';

/** Subfolders of the data directory (docs/operations.md, "Data directory"). */
export const DB_FOLDER = 'db';
export const SNAPSHOT_FOLDER = 'snapshots';
/** On SIGTERM a leader waits at most this long for a follower to take over. */
const MAX_HANDOFF_MS = 1_500;

export interface NodeHooks {
  /** The replica stopped on a fatal error (storage failure or bug): the process must exit. */
  onFatal(error: unknown): void;
}

export class TsraftNode {
  readonly config: NodeConfig;
  readonly log: Logger;
  readonly http: HttpServer;
  readonly stateMachine: TimeSeriesStateMachine;
  private lifecycle: NodeLifecycle = 'starting';
  private readonly startedAtMs = Date.now();
  readonly version: string;
  private db: RootLevel | null = null;
  private logStore: LevelRaftLogStore | null = null;
  private snapshotStore: FileSnapshotStore | null = null;
  /** The state machine's records in LevelDB (docs/storage.md, "State machine"). */
  private stateStore: LevelStateMachineStore | null = null;
  private checkpointer: TsdbCheckpointer | null = null;
  /** Reads sealed blocks back from stateStore (set when it opens). */
  private storedBlocks: PersistedBlockReader | null = null;
  /** Applied index of the state machine as loaded from LevelDB at start (0: none stored). */
  private loadedIndex = 0;
  private transportValue: WsTransport | null = null;
  private replicaValue: Replica<ApplyResult> | null = null;
  private client: ClientSurfaces | null = null;
  private httpPort = 0;
  private peerPort = 0;
  private stopping: Promise<void> | null = null;
  private removedLogged = false;
  /** Prometheus metrics of this node (src/metrics, docs/metrics.md). */
  readonly metrics: NodeMetrics;
  private selfMonitor: SelfMonitor | null = null;
  private retention: RetentionScheduler | null = null;
  private archiver: LogArchiver | null = null;
  /** Scheduled backups, digests, re-verification, drills, scrubbing (docs/backup-service.md). */
  private backupService: BackupService | null = null;

  private constructor(config: NodeConfig, log: Logger, version: string) {
    this.config = config;
    this.log = log;
    this.version = version;
    this.stateMachine = new TimeSeriesStateMachine(config.tsdb, {
      decodedBlockCacheBytes: config.storage.decodedBlockCacheBytes,
      residentBlockBytes: config.storage.residentBlockBytes,
      // Blocks leave memory only after a checkpoint wrote them, so the store exists by then.
      blockReader: {
        readBlock: (seriesId, startMs) => {
          assert(this.storedBlocks !== null, 'a sealed block was evicted before the state store opened');
          return this.storedBlocks.readBlock(seriesId, startMs);
        },
      },
    });
    this.metrics = new NodeMetrics({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      version,
      disk: { dataDir: config.dataDir, leveldbDir: join(config.dataDir, DB_FOLDER), snapshotDir: join(config.dataDir, SNAPSHOT_FOLDER) },
    });
    this.http = new HttpServer({
      maxBodyBytes: config.limits.maxHttpBodyBytes,
      maxConnections: config.limits.maxHttpConnections,
      log: (level, message, fields) => log[level](message, fields),
    });
  }

  /** Start a node. On failure everything already opened is closed again and the error is thrown. */
  static async start(config: NodeConfig, log: Logger, hooks: NodeHooks): Promise<TsraftNode> {
    const node = new TsraftNode(config, log, await readVersion());
    try {
      await node.startNow(hooks);
    } catch (error) {
      await node.closeResources();
      throw error;
    }
    return node;
  }

  get replica(): Replica<ApplyResult> {
    assert(this.replicaValue !== null, 'TsraftNode.replica before start');
    return this.replicaValue;
  }

  /** The state machine's records in LevelDB (maintenance tools, tests); null before start. */
  get stateMachineStore(): LevelStateMachineStore | null {
    return this.stateStore;
  }

  get transport(): WsTransport {
    assert(this.transportValue !== null, 'TsraftNode.transport before start');
    return this.transportValue;
  }

  /** The bound client HTTP port (differs from the configuration when it asked for 0). */
  get boundHttpPort(): number {
    return this.httpPort;
  }

  get boundPeerPort(): number {
    return this.peerPort;
  }

  private async startNow(hooks: NodeHooks): Promise<void> {
    const { config, log } = this;
    registerStatusRoutes(this.http, { status: () => this.status() });
    registerMetricsRoutes(this.http, { metrics: this.metrics, auth: new TokenAuth(config.clientApi.tokens) });
    registerConsoleRoutes(this.http, { status: { status: () => this.status() } });
    this.metrics.attach({
      replicaStatus: () => this.replicaValue?.status() ?? null,
      transportStats: () => this.transportValue?.stats() ?? null,
      stateMachineStats: () => this.stateMachine.stats(),
      storageStats: () => (this.checkpointer === null ? null : this.storageStatus()),
    });
    this.httpPort = (await this.http.listen(config.httpHost, config.httpPort)).port;
    log.info('client HTTP listening', { address: `${config.httpHost}:${this.httpPort}` });

    await mkdir(config.dataDir, { recursive: true });
    const db: RootLevel = new ClassicLevel(join(config.dataDir, DB_FOLDER), { createIfMissing: true });
    await db.open();
    this.db = db;
    this.logStore = await LevelRaftLogStore.open({ db });
    this.stateStore = new LevelStateMachineStore(db);
    this.storedBlocks = storeBlockReader(this.stateStore);
    if (await loadPersistedState(this.stateMachine, this.stateStore)) {
      this.loadedIndex = this.stateMachine.coveredIndex;
      const stats = this.stateMachine.stats();
      log.info('loaded the state machine from LevelDB', { appliedIndex: this.loadedIndex, series: stats.seriesCount, points: stats.pointCount });
    }
    const checkpointer = new TsdbCheckpointer(() => this.stateMachine, this.stateStore);
    this.checkpointer = checkpointer;
    this.snapshotStore = await FileSnapshotStore.open(join(config.dataDir, SNAPSHOT_FOLDER));

    const transport = new WsTransport({
      nodeId: config.nodeId,
      clusterId: config.clusterId,
      secret: config.secret,
      tls: config.tls === null ? undefined : { certFile: config.tls.certFile, keyFile: config.tls.keyFile, caFile: config.tls.caFile ?? undefined },
      logger: { warn: (message, fields) => log.warn(`transport: ${message}`, fields), info: (message, fields) => log.info(`transport: ${message}`, fields) },
      limits: {
        maxFrameBytes: config.limits.maxFrameBytes,
        maxQueuedMessagesPerPeer: config.limits.maxPeerQueueMessages,
        maxQueuedBytesPerPeer: config.limits.maxPeerQueueBytes,
      },
    });
    this.transportValue = transport;
    const peer = await transport.listen(config.peerPort, config.peerHost);
    this.peerPort = peer.port;
    log.info('peer transport listening', { address: `${config.peerHost}:${peer.port}`, url: config.peerUrl });

    const bootstrap: ConfigState | null = config.join
      ? null
      : { voters: Object.keys(config.peers).sort(), learners: [], contexts: { ...config.peers } };
    const replica = new Replica<ApplyResult>({
      id: config.nodeId,
      logStore: this.metrics.wrapLogStore(this.logStore),
      snapshotStore: this.snapshotStore,
      transport: this.metrics.wrapTransport(transport),
      joinPeers: config.join ? config.peers : null,
      clock: systemClock,
      prng: new SeededPrng(randomSeed()),
      // Snapshot = backup: the local snapshot and what InstallSnapshot sends
      // are packs of the verified backup format (docs/backup-format.md).
      // Installed snapshots stream into LevelDB: memory holds one backup group, not the state.
      stateMachine: this.metrics.wrapStateMachine(
        new BackupFormatStateMachine(this.stateMachine, {
          clusterId: config.clusterId,
          nodeId: config.nodeId,
          install: { store: this.stateStore, onInstalled: (summary) => log.info('installed a snapshot into the state store', { ...summary }) },
        }),
      ),
      bootstrap,
      raft: {
        electionTimeoutTicks: config.electionTimeoutTicks,
        heartbeatIntervalTicks: config.heartbeatIntervalTicks,
        maxInflightMsgs: config.limits.maxInflightMsgs,
        maxInflightBytes: config.limits.maxInflightBytes,
        maxAppendBytes: config.limits.maxAppendBytes,
        maxCommittedBytesPerReady: config.limits.maxCommittedBytesPerReady,
        maxUncommittedBytes: config.limits.maxUncommittedBytes,
        snapshotChunkBytes: config.limits.snapshotChunkBytes,
        maxPendingReads: config.limits.maxPendingReads,
      },
      tickIntervalMs: config.tickIntervalMs,
      snapshotEveryEntries: config.snapshotEveryEntries,
      snapshotEveryBytes: config.snapshotEveryBytes,
      logEntriesKeptAfterSnapshot: config.logEntriesKeptAfterSnapshot,
      persistence: checkpointer,
      persistEveryEntries: config.storage.checkpointEveryEntries,
      persistEveryBytes: config.storage.checkpointEveryBytes,
      persistEveryMs: config.storage.checkpointEveryMs,
      maxPendingProposals: config.limits.maxPendingProposals,
      maxProposalBytes: config.limits.maxProposalBytes,
      maxPendingReads: config.limits.maxPendingReads,
      observer: this.metrics.observer({
        onSoftState: (_id, soft) => log.info('raft state', { role: soft.role, leader: soft.leader, term: soft.term }),
        onSnapshotInstalled: (_id, meta) => {
          log.info('installed a snapshot from the leader', { index: meta.index, term: meta.term, bytes: meta.sizeBytes });
          // Live subscriptions missed the points inside the snapshot: end them with a gap error.
          this.client?.service.onSnapshotInstalled(meta.index);
        },
        onSnapshotTaken: (_id, meta) => log.debug('took a local snapshot', { index: meta.index, bytes: meta.sizeBytes }),
        // Live subscriptions see every applied write (entries without a result are config changes and no-ops).
        onApplied: (_id, entry, result) => {
          this.archiver?.append(entry);
          this.backupService?.onApplied(entry, result);
          if (result !== undefined) this.client?.service.onApplied(entry.index, entry.data, result as ApplyResult);
        },
      }),
      onFatal: (error) => hooks.onFatal(error),
    });
    this.replicaValue = replica;
    if (config.logArchive.dir !== null) {
      // Point-in-time recovery: every applied entry goes to checksummed archive segments.
      this.archiver = await LogArchiver.open({
        dir: config.logArchive.dir,
        clusterId: config.clusterId,
        maxSegmentBytes: config.logArchive.maxSegmentBytes,
        onError: (error) => log.error('log archiving stopped', { dir: config.logArchive.dir, error: (error as Error).message }),
      });
      log.info('log archiving on', { dir: config.logArchive.dir, lastIndex: this.archiver.status().lastIndex });
    }
    this.backupService = new BackupService({
      config,
      replica,
      stateMachine: this.stateMachine,
      families: this.metrics.families,
      recorder: this.metrics.backups,
      auth: new TokenAuth(config.clientApi.tokens),
      clock: systemClock,
      log,
      ownUrl: () => `http://${config.httpHost.includes(':') ? `[${config.httpHost}]` : config.httpHost}:${this.httpPort}`,
    });
    await replica.start();
    const started = replica.status();
    log.info('replica started', { applied: started.appliedIndex, lastIndex: started.lastIndex, term: started.term, members: started.members.map((m) => m.id).join(',') || '(none yet)' });

    registerAdminRoutes(this.http, this);
    registerBackupRoutes(
      this.http,
      nodeBackupSource({ replica, stateMachine: this.stateMachine, clusterId: config.clusterId, nodeId: config.nodeId, auth: new TokenAuth(config.clientApi.tokens) }),
      { recorder: this.metrics.backups },
    );
    this.backupService.registerRoutes(this.http);
    if (config.backup.scrub.enabled) {
      const service = this.backupService;
      const scrubber = new Scrubber({
        nodeId: config.nodeId,
        secret: config.secret,
        maxBytesPerSecond: config.backup.scrub.maxBytesPerSecond,
        passIntervalMs: config.backup.scrub.passIntervalMs,
        stateMachine: this.stateMachine,
        peerUrls: () => service.peerUrls(),
        isMember: (id) => id in config.peers || replica.status().members.some((m) => m.id === id),
        snapshotDir: join(config.dataDir, SNAPSHOT_FOLDER),
        clock: systemClock,
        log,
        families: this.metrics.families,
      });
      scrubber.registerRoutes(this.http);
      service.addJob(scrubber);
    }
    this.client = await mountClientRoutes(this.http, this);
    if (config.selfMonitoring.enabled) {
      this.selfMonitor = new SelfMonitor({ nodeId: config.nodeId, intervalMs: config.selfMonitoring.intervalMs, metrics: this.metrics, service: this.client.metered, clock: systemClock, log });
      this.selfMonitor.start();
    }
    if (config.retention.retentionMs > 0) {
      this.retention = new RetentionScheduler({
        retentionMs: config.retention.retentionMs,
        checkIntervalMs: config.retention.checkIntervalMs,
        clock: systemClock,
        isLeader: () => this.replicaValue?.status().role === 'leader',
        propose: (data) => this.replica.propose(data),
        log,
      });
      this.retention.start();
    }
    this.backupService.start();
    this.lifecycle = 'running';
  }

  /** The state machine's storage, for /status (docs/http-api.md). */
  storageStatus(): { loadedIndex: number; checkpointIndex: number; checkpoints: number; checkpointBytes: number; residentBlockBytes: number; maxResidentBlockBytes: number; evictedBlocks: number } {
    const residency = this.stateMachine.residencyStats();
    const stats = this.checkpointer?.stats;
    return {
      loadedIndex: this.loadedIndex,
      checkpointIndex: stats?.writtenIndex ?? this.loadedIndex,
      checkpoints: stats?.checkpoints ?? 0,
      checkpointBytes: stats?.bytesWritten ?? 0,
      residentBlockBytes: residency.residentWrittenBytes,
      maxResidentBlockBytes: residency.maxResidentBytes,
      evictedBlocks: residency.evictedBlocks,
    };
  }

  status(): NodeStatus & { backupService: Record<string, unknown> | null; storage: ReturnType<TsraftNode['storageStatus']> } {
    const replica = this.replicaValue;
    const base: ReplicaStatus | null = replica === null ? null : replica.status();
    const clientUrls = this.config.clientUrls;
    const members: MemberStatus[] = (base?.members ?? []).map((m) => ({
      id: m.id,
      url: m.url,
      role: m.role,
      clientUrl: clientUrls[m.id] ?? null,
      match: base?.progress[m.id]?.match ?? null,
    }));
    let lifecycle = this.lifecycle;
    if (lifecycle === 'running' && base !== null && members.length > 0 && !members.some((m) => m.id === this.config.nodeId) && base.appliedIndex > 0) {
      lifecycle = 'removed';
      if (!this.removedLogged) {
        this.removedLogged = true;
        this.log.warn('this node is no longer a member of the cluster; stop it and delete its data directory');
      }
    }
    const leader = base?.leader ?? null;
    let transport: NodeStatus['transport'] = null;
    if (this.transportValue !== null) {
      const stats = this.transportValue.stats();
      const peers: NonNullable<NodeStatus['transport']>['peers'] = {};
      for (const [id, peer] of Object.entries(stats.peers)) peers[id] = { connected: peer.connected, reconnects: peer.reconnects, dialFailures: peer.dialFailures };
      transport = { authFailures: stats.authFailures, handshakeFailures: stats.handshakeFailures, peers };
    }
    return {
      id: this.config.nodeId,
      role: base === null ? 'follower' : base.learner ? 'learner' : base.role,
      leader,
      term: base?.term ?? 0,
      commitIndex: base?.commitIndex ?? 0,
      appliedIndex: base?.appliedIndex ?? 0,
      members,
      clusterId: this.config.clusterId,
      lifecycle,
      leaderClientUrl: leader === null ? null : (clientUrls[leader] ?? null),
      lastIndex: base?.lastIndex ?? 0,
      snapshotIndex: base?.snapshotIndex ?? 0,
      transport,
      uptimeSeconds: Math.floor((Date.now() - this.startedAtMs) / 1000),
      version: this.version,
      backupService: this.backupService?.status() ?? null,
      storage: this.storageStatus(),
    };
  }

  /** Decorate a NOT_LEADER error with the leader's client URL, when known. */
  withLeaderClientUrl(error: unknown): unknown {
    if (!(error instanceof TsraftError) || error.code !== 'TSR_ERR_NOT_LEADER') return error;
    const leader = typeof error.details.leader === 'string' ? error.details.leader : null;
    const leaderClientUrl = leader === null ? null : (this.config.clientUrls[leader] ?? null);
    return new TsraftError('TSR_ERR_NOT_LEADER', error.message, { details: { ...error.details, leaderClientUrl } });
  }

  /** Graceful stop (SIGTERM). Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.stopNow();
    return this.stopping;
  }

  private async stopNow(): Promise<void> {
    const graceMs = this.config.shutdownTimeoutMs;
    const deadline = Date.now() + graceMs;
    this.lifecycle = 'stopping';
    this.log.info('stopping', { graceMs });
    await this.selfMonitor?.stop();
    await this.retention?.stop();
    await this.backupService?.stop();
    await this.handOffLeadership(Math.min(MAX_HANDOFF_MS, graceMs / 2));
    // New requests are refused from here on; those in flight still complete
    // because the replica keeps running until they are done.
    await this.http.close(Math.max(0, deadline - Date.now()));
    if (this.replicaValue !== null) await this.replicaValue.stop(Math.max(0, deadline - Date.now()));
    await this.closeResources();
    this.log.info('stopped');
  }

  /** A leader that stops hands over first, so clients see no election timeout. */
  private async handOffLeadership(timeoutMs: number): Promise<void> {
    const replica = this.replicaValue;
    if (replica === null || timeoutMs <= 0) return;
    const status = replica.status();
    if (status.role !== 'leader') return;
    let best: { id: string; match: number } | null = null;
    for (const member of status.members) {
      if (member.id === this.config.nodeId || member.role === 'learner') continue;
      const match = status.progress[member.id]?.match ?? 0;
      if (best === null || match > best.match) best = { id: member.id, match };
    }
    if (best === null) return;
    try {
      await replica.transferLeader(best.id, { timeoutMs });
      this.log.info('handed leadership over before stopping', { to: best.id });
    } catch (error) {
      rethrowIfBug(error);
      this.log.warn('leadership handoff failed; stopping anyway', { to: best.id, error: (error as Error).message });
    }
  }

  /** Close whatever is open, in reverse order of opening. Used by stop and by a failed start. */
  async closeResources(): Promise<void> {
    const steps: Array<[string, () => Promise<void>]> = [
      ['self-monitoring', async () => this.selfMonitor?.stop()],
      ['retention', async () => this.retention?.stop()],
      ['backup service', async () => this.backupService?.stop()],
      ['http', () => this.http.close(0)],
      ['telnet listener', async () => this.client?.telnet?.close()],
      ['client service', async () => this.client?.service.close()],
      ['replica', async () => this.replicaValue?.stop(0)],
      ['log archive', async () => this.archiver?.close()],
      ['transport', async () => this.transportValue?.close()],
      ['snapshot store', async () => this.snapshotStore?.close()],
      ['log store', async () => this.logStore?.close()],
      ['database', async () => (this.db !== null && this.db.status === 'open' ? this.db.close() : undefined)],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        rethrowIfBug(error);
        this.log.warn(`closing the ${what} failed`, { error: (error as Error).message });
      }
    }
  }
}

function randomSeed(): number {
  // Jitter for election timeouts must differ between nodes and between restarts.
  return (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0;
}

async function readVersion(): Promise<string> {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(await readFile(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsraft' && typeof pkg.version === 'string') return pkg.version;
    } catch (error) {
      rethrowIfBug(error);
    }
  }
  return 'unknown';
}
