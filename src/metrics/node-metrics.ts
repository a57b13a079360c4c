// The metrics of one node: the registry of every family (definitions.ts),
// the decorators the node wraps around its log store, transport and state
// machine, the replica observer, and the scrape: gauges that describe state
// (Raft position, transport counters, series, disk) are read from their
// sources when /metrics is asked, so nothing polls in the background.
//
// Wiring (src/node/node.ts):
//   const metrics = new NodeMetrics({ nodeId, clusterId, version, disk: { dataDir, leveldbDir, snapshotDir } });
//   new Replica({ logStore: metrics.wrapLogStore(store), transport: metrics.wrapTransport(t),
//                 stateMachine: metrics.wrapStateMachine(sm), observer: metrics.observer(theNodesObserver), ... });
//   metrics.attach({ replicaStatus, transportStats, stateMachineStats });
//   registerMetricsRoutes(http, metrics);   // GET /metrics, GET/POST /backups
import type { Registry } from 'prom-client';
import type { SnapshotMeta } from '../raft/types.js';
import type { ReplicaObserver, ReplicaStatus, ReplicatedStateMachine } from '../replica/types.js';
import type { RaftLogStore } from '../storage/types.js';
import type { TransportStats } from '../transport/ws-transport.js';
import type { Transport } from '../transport/types.js';
import type { StateMachineStats } from '../tsdb/state-machine.js';
import { assert } from '../errors.js';
import { BackupHistory } from './backup-history.js';
import { clientApiMetrics, type ClientApiMetrics } from './client-api-metrics.js';
import { createMetricFamilies, type MetricFamilies } from './definitions.js';
import { DiskUsage, type DiskPaths } from './disk-usage.js';
import { InstrumentedLogStore, SnapshotTimer } from './instrumented-storage.js';
import { InstrumentedTransport } from './instrumented-transport.js';

/** Raw bytes of one point before compression: an 8-byte timestamp and an 8-byte value. */
export const RAW_BYTES_PER_POINT = 16;

export interface NodeMetricsSource {
  /** null before the replica exists. */
  replicaStatus(): ReplicaStatus | null;
  transportStats(): TransportStats | null;
  stateMachineStats(): StateMachineStats | null;
  /** The state machine's storage (checkpoints, residency); absent or null when not persisted. */
  storageStats?(): { checkpointIndex: number; checkpoints: number; checkpointBytes: number; residentBlockBytes: number; evictedBlocks: number } | null;
}

export interface NodeMetricsOptions {
  nodeId: string;
  clusterId: string;
  version: string;
  /** Folders measured for the storage gauges; null skips them (tests in memory). */
  disk: DiskPaths | null;
}

export class NodeMetrics {
  readonly registry: Registry;
  readonly families: MetricFamilies;
  readonly backups: BackupHistory;
  readonly clientApi: ClientApiMetrics;
  readonly nodeId: string;
  private readonly disk: DiskUsage | null;
  private source: NodeMetricsSource | null = null;
  private logStore: InstrumentedLogStore | null = null;
  private snapshotTimer: SnapshotTimer<unknown> | null = null;
  private lastSeenCommit: number | null = null;
  private lastLeader: string | null = null;
  private lastRole: string | null = null;
  private lastTerm = 0;

  constructor(options: NodeMetricsOptions) {
    const { registry, families } = createMetricFamilies();
    this.registry = registry;
    this.families = families;
    this.nodeId = options.nodeId;
    this.backups = new BackupHistory(families);
    this.clientApi = clientApiMetrics(families);
    this.disk = options.disk === null ? null : new DiskUsage(options.disk);
    families.nodeInfo.set({ node_id: options.nodeId, cluster_id: options.clusterId, version: options.version }, 1);
  }

  /** Where scrape-time values come from (the node, once its parts exist). */
  attach(source: NodeMetricsSource): void {
    this.source = source;
  }

  wrapLogStore(store: RaftLogStore): RaftLogStore {
    assert(this.logStore === null, 'NodeMetrics.wrapLogStore called twice');
    this.logStore = new InstrumentedLogStore(store, this.families);
    return this.logStore;
  }

  wrapTransport(transport: Transport): Transport {
    return new InstrumentedTransport(transport, this.families);
  }

  wrapStateMachine<R>(stateMachine: ReplicatedStateMachine<R>): ReplicatedStateMachine<R> {
    assert(this.snapshotTimer === null, 'NodeMetrics.wrapStateMachine called twice');
    const timer = new SnapshotTimer<R>(stateMachine, this.families);
    this.snapshotTimer = timer as SnapshotTimer<unknown>;
    return timer;
  }

  /** A ReplicaObserver that counts Raft events, then calls `inner`'s callbacks. */
  observer(inner: ReplicaObserver = {}): ReplicaObserver {
    const f = this.families;
    return {
      onSoftState: (id, soft) => {
        if (soft.leader !== null && soft.leader !== this.lastLeader) f.leaderChanges.inc();
        if (soft.leader !== null) this.lastLeader = soft.leader;
        if (soft.role === 'candidate' && (this.lastRole !== 'candidate' || this.lastTerm !== soft.term)) f.elections.inc();
        this.lastRole = soft.role;
        this.lastTerm = soft.term;
        inner.onSoftState?.(id, soft);
      },
      onApplied: (id, entry, result) => {
        f.proposalsApplied.inc();
        inner.onApplied?.(id, entry, result);
      },
      onSnapshotInstalled: (id, meta) => {
        f.snapshotsReceived.inc();
        inner.onSnapshotInstalled?.(id, meta);
      },
      onSnapshotTaken: (id, meta: SnapshotMeta, data) => {
        this.snapshotTimer?.snapshotTaken(meta);
        inner.onSnapshotTaken?.(id, meta, data);
      },
      onPersisted: (id, entries) => {
        inner.onPersisted?.(id, entries);
      },
    };
  }

  /** Totals already added to the storage counters. */
  private seenStorage = { checkpoints: 0, checkpointBytes: 0, evictedBlocks: 0 };

  /** Brings every scrape-time gauge up to date. */
  async refresh(): Promise<void> {
    const f = this.families;
    const status = this.source?.replicaStatus() ?? null;
    if (status !== null) this.refreshRaft(status);
    const transport = this.source?.transportStats() ?? null;
    if (transport !== null) this.refreshTransport(transport);
    const sm = this.source?.stateMachineStats() ?? null;
    if (sm !== null) {
      f.series.set(sm.seriesCount);
      f.points.set(sm.pointCount);
      f.segmentBytes.set(sm.encodedBytes);
      f.compressionRatio.set(sm.encodedBytes > 0 ? (sm.pointCount * RAW_BYTES_PER_POINT) / sm.encodedBytes : 0);
      f.sessions.set(sm.sessionCount);
    }
    const storage = this.source?.storageStats?.() ?? null;
    if (storage !== null) {
      // Counters follow the node's running totals (which only grow within a process).
      f.checkpoints.inc(Math.max(0, storage.checkpoints - this.seenStorage.checkpoints));
      f.checkpointBytes.inc(Math.max(0, storage.checkpointBytes - this.seenStorage.checkpointBytes));
      f.evictedBlocks.inc(Math.max(0, storage.evictedBlocks - this.seenStorage.evictedBlocks));
      this.seenStorage = { checkpoints: storage.checkpoints, checkpointBytes: storage.checkpointBytes, evictedBlocks: storage.evictedBlocks };
      f.checkpointIndex.set(storage.checkpointIndex);
      f.residentBlockBytes.set(storage.residentBlockBytes);
    }
    if (this.logStore !== null) {
      f.logEntries.set(this.logStore.size.entries);
      f.logBytes.set(this.logStore.size.bytes);
    }
    if (this.disk !== null) {
      const disk = await this.disk.figures();
      setOrRemove(f.leveldbSize, disk.leveldbBytes);
      setOrRemove(f.snapshotDirSize, disk.snapshotBytes);
      setOrRemove(f.filesystemAvail, disk.filesystemAvailBytes);
      setOrRemove(f.filesystemSize, disk.filesystemSizeBytes);
    }
  }

  /** The Prometheus text exposition of every family, freshly refreshed. */
  async render(): Promise<{ contentType: string; body: string }> {
    await this.refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private refreshRaft(status: ReplicaStatus): void {
    const f = this.families;
    f.hasLeader.set(status.leader === null ? 0 : 1);
    f.isLeader.set(status.role === 'leader' ? 1 : 0);
    f.term.set(status.term);
    f.commitIndex.set(status.commitIndex);
    f.appliedIndex.set(status.appliedIndex);
    f.lastIndex.set(status.lastIndex);
    f.snapshotIndex.set(status.snapshotIndex);
    f.proposalsPending.set(status.pendingProposals);
    f.readsPending.set(status.pendingReads);
    f.members.set({ kind: 'voter' }, status.members.filter((m) => m.role !== 'learner').length);
    f.members.set({ kind: 'learner' }, status.members.filter((m) => m.role === 'learner').length);
    // Counted since this process first looked: a restart starts the counter again.
    if (this.lastSeenCommit !== null && status.commitIndex > this.lastSeenCommit) f.proposalsCommitted.inc(status.commitIndex - this.lastSeenCommit);
    if (this.lastSeenCommit === null || status.commitIndex > this.lastSeenCommit) this.lastSeenCommit = status.commitIndex;
    // Lag exists only where progress is known: on the leader. Followers export none.
    f.followerLag.reset();
    if (status.role === 'leader') {
      for (const member of status.members) {
        if (member.id === status.id) continue;
        const progress = status.progress[member.id];
        if (progress === undefined) continue;
        f.followerLag.set({ peer: member.id }, Math.max(0, status.lastIndex - progress.match));
      }
    }
  }

  private refreshTransport(stats: TransportStats): void {
    const f = this.families;
    // Cumulative counts kept by the transport: exported as they are.
    for (const family of [f.sentBytes, f.receivedBytes, f.sentMessages, f.receivedMessages, f.reconnects, f.dialFailures]) family.reset();
    for (const family of [f.peerConnected, f.queuedMessages, f.queuedBytes]) family.reset();
    for (const [peer, p] of Object.entries(stats.peers)) {
      f.sentBytes.inc({ peer }, p.bytesSent);
      f.receivedBytes.inc({ peer }, p.bytesReceived);
      f.sentMessages.inc({ peer }, p.messagesSent);
      f.receivedMessages.inc({ peer }, p.messagesReceived);
      f.reconnects.inc({ peer }, p.reconnects);
      f.dialFailures.inc({ peer }, p.dialFailures);
      f.peerConnected.set({ peer }, p.connected ? 1 : 0);
      f.queuedMessages.set({ peer }, p.queuedMessages);
      f.queuedBytes.set({ peer }, p.queuedBytes);
    }
    f.authFailures.reset();
    f.authFailures.inc(stats.authFailures);
    f.handshakeFailures.reset();
    f.handshakeFailures.inc(stats.handshakeFailures);
    f.droppedMessages.reset();
    for (const [reason, count] of Object.entries(stats.droppedMessages)) f.droppedMessages.inc({ reason }, count);
  }
}

function setOrRemove(gauge: MetricFamilies['leveldbSize'], value: number | null): void {
  if (value === null) gauge.reset();
  else gauge.set(value);
}
