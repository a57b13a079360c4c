// What /metrics exposes: every family the operations issue asks for, named by
// Prometheus conventions, documented in docs/metrics.md, accepted by
// `promtool check metrics`, and filled from the node's state at scrape time.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { NodeMetrics, type NodeMetricsSource } from '../../src/metrics/node-metrics.js';
import type { ReplicaStatus } from '../../src/replica/types.js';
import type { TransportStats } from '../../src/transport/ws-transport.js';
import type { StateMachineStats } from '../../src/tsdb/state-machine.js';
import { PROMTOOL, missingTool } from '../required-tool.js';
import { findPromtool, runPromtool } from './promtool.js';

const promtool = findPromtool();

function replicaStatus(overrides: Partial<ReplicaStatus> = {}): ReplicaStatus {
  return {
    id: 'n1',
    lifecycle: 'running',
    role: 'leader',
    learner: false,
    leader: 'n1',
    leaderUrl: 'ws://n1',
    term: 3,
    commitIndex: 100,
    appliedIndex: 99,
    lastIndex: 110,
    snapshotIndex: 50,
    members: [
      { id: 'n1', url: 'ws://n1', role: 'leader' },
      { id: 'n2', url: 'ws://n2', role: 'follower' },
      { id: 'n3', url: 'ws://n3', role: 'learner' },
    ],
    progress: {
      n2: { match: 104, next: 105, state: 'replicate', recentActive: true, inflightMsgs: 1, isLearner: false },
      n3: { match: 10, next: 11, state: 'probe', recentActive: true, inflightMsgs: 0, isLearner: true },
    },
    pendingProposals: 4,
    pendingReads: 2,
    ...overrides,
  } as ReplicaStatus;
}

function peer(bytesSent: number, connected = true): TransportStats['peers'][string] {
  return { connected, connections: connected ? 1 : 0, bytesSent, bytesReceived: 2 * bytesSent, messagesSent: 10, messagesReceived: 11, framesSent: 5, framesReceived: 6, reconnects: 1, dialFailures: 3, queuedMessages: 0, queuedBytes: 0 };
}

function transportStats(peers: TransportStats['peers']): TransportStats {
  return {
    peers,
    authFailures: 2,
    handshakeFailures: 1,
    malformedFrames: 0,
    oversizedFrames: 0,
    droppedMessages: { 'queue-full': 1, 'heartbeat-evicted': 0, 'too-large': 0, unreachable: 0, 'no-route': 0, malformed: 0, misaddressed: 0, 'no-handler': 0, closed: 0 },
  };
}

const smStats: StateMachineStats = { appliedIndex: 99, lastLeaderTimeMs: 0, seriesCount: 12, pointCount: 1000, encodedBytes: 2000, sessionCount: 3 };

function metricsWith(source: Partial<NodeMetricsSource>): NodeMetrics {
  const metrics = new NodeMetrics({ nodeId: 'n1', clusterId: 'test-cluster', version: '0.0.0-test', disk: null });
  metrics.attach({ replicaStatus: () => null, transportStats: () => null, stateMachineStats: () => null, ...source });
  return metrics;
}

/** Sample lines of the exposition: name{labels} value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

/** The families the operations issue lists, by area. */
const REQUIRED_FAMILIES = [
  // Raft
  'tsraft_raft_has_leader', 'tsraft_raft_is_leader', 'tsraft_raft_term', 'tsraft_raft_commit_index', 'tsraft_raft_applied_index',
  'tsraft_raft_leader_changes_total', 'tsraft_raft_elections_total', 'tsraft_raft_proposals_committed_total', 'tsraft_raft_proposals_applied_total',
  'tsraft_raft_proposals_failed_total', 'tsraft_raft_proposals_pending', 'tsraft_raft_round_trip_seconds', 'tsraft_raft_snapshots_sent_total',
  'tsraft_raft_snapshots_received_total', 'tsraft_raft_follower_lag_entries',
  // Storage
  'tsraft_storage_sync_duration_seconds', 'tsraft_storage_log_entries', 'tsraft_storage_log_bytes', 'tsraft_storage_leveldb_size_bytes',
  // Time series
  'tsraft_tsdb_series', 'tsraft_tsdb_points_ingested_total', 'tsraft_tsdb_points_rejected_total', 'tsraft_tsdb_query_duration_seconds',
  'tsraft_tsdb_segment_bytes', 'tsraft_tsdb_compression_ratio',
  // Transport
  'tsraft_transport_sent_bytes_total', 'tsraft_transport_received_bytes_total', 'tsraft_transport_sent_messages_total',
  'tsraft_transport_received_messages_total', 'tsraft_transport_reconnects_total', 'tsraft_transport_auth_failures_total',
  // Backup
  'tsraft_backup_last_success_timestamp_seconds', 'tsraft_backup_last_duration_seconds', 'tsraft_backup_last_size_bytes', 'tsraft_snapshot_duration_seconds',
  // Process defaults: CPU, memory, event-loop lag
  'process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds',
];

// `destination`: the backup destinations of the node's configuration (one with backup.schedule).
const BOUNDED_LABELS = new Set(['peer', 'message', 'operation', 'reason', 'result', 'code', 'kind', 'node_id', 'cluster_id', 'version', 'le', 'type', 'space', 'major', 'minor', 'patch', 'destination', 'source']);

describe('/metrics exposition', () => {
  it('has every family the operations issue lists', () => {
    const names = new Set(metricsWith({}).registry.getMetricsAsArray().map((m) => m.name));
    for (const name of REQUIRED_FAMILIES) expect(names, name).toContain(name);
  });

  it('follows Prometheus naming: tsraft_ prefix, counters and only counters end in _total, base units last', () => {
    const families = metricsWith({}).registry.getMetricsAsArray();
    for (const family of families) {
      const { name } = family;
      // prom-client declares `type` as an enum; at run time it is the text 'counter', 'gauge', ...
      const type = String(family.type);
      if (!name.startsWith('tsraft_')) {
        // prom-client's standard process families keep their standard names.
        expect(name, name).toMatch(/^(process|nodejs)_/);
        continue;
      }
      expect(name).toMatch(/^tsraft_[a-z][a-z0-9_]*[a-z0-9]$/);
      if (type === 'counter') expect(name, name).toMatch(/_total$/);
      else expect(name, name).not.toMatch(/_total$/);
      const base = name.replace(/_total$/, '');
      expect(base, `${name}: non-base unit`).not.toMatch(/_(ms|milliseconds|minutes|hours|kb|kib|mb|mib|percent)(_|$)/);
      for (const unit of ['seconds', 'bytes']) if (base.includes(`_${unit}_`)) throw new Error(`${name}: the unit ${unit} must come last`);
      if (type === 'histogram') expect(name, `${name}: histograms measure seconds here`).toMatch(/_seconds$/);
    }
  });

  it('uses only labels with small closed value sets', () => {
    for (const family of metricsWith({}).registry.getMetricsAsArray()) {
      for (const label of (family as unknown as { labelNames: string[] }).labelNames ?? []) expect(BOUNDED_LABELS, `${family.name}{${label}}`).toContain(label);
    }
  });

  it('documents every tsraft family in docs/metrics.md', () => {
    const doc = readFileSync('docs/metrics.md', 'utf8');
    for (const { name } of metricsWith({}).registry.getMetricsAsArray()) if (name.startsWith('tsraft_')) expect(doc, name).toContain(`\`${name}\``);
  });

  it('passes promtool check metrics, with every family filled', async () => {
    if (promtool === null) return missingTool(PROMTOOL);
    const metrics = metricsWith({ replicaStatus: () => replicaStatus(), transportStats: () => transportStats({ n2: peer(100), n3: peer(5, false) }), stateMachineStats: () => smStats });
    metrics.backups.record({ id: 'b1', startedAtMs: 1_700_000_000_000, durationSeconds: 3, sizeBytes: 10, raftIndex: 5, outcome: 'success', verification: 'verified' });
    const { body, contentType } = await metrics.render();
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const run = runPromtool(promtool, ['check', 'metrics'], body);
    expect(run.code, run.output).toBe(0);
    expect(run.output.trim()).toBe('');
  });

  it('reads the Raft position, per-follower lag and pending work from the replica at scrape time', async () => {
    let status = replicaStatus();
    const metrics = metricsWith({ replicaStatus: () => status });
    let s = samples((await metrics.render()).body);
    expect(s.get('tsraft_raft_is_leader')).toBe(1);
    expect(s.get('tsraft_raft_has_leader')).toBe(1);
    expect(s.get('tsraft_raft_term')).toBe(3);
    expect(s.get('tsraft_raft_follower_lag_entries{peer="n2"}')).toBe(6);
    expect(s.get('tsraft_raft_follower_lag_entries{peer="n3"}')).toBe(100);
    expect(s.get('tsraft_raft_proposals_pending')).toBe(4);
    expect(s.get('tsraft_raft_members{kind="voter"}')).toBe(2);
    expect(s.get('tsraft_raft_members{kind="learner"}')).toBe(1);
    // Commits are counted from the first scrape on.
    expect(s.get('tsraft_raft_proposals_committed_total')).toBe(0);
    status = replicaStatus({ role: 'follower', leader: 'n2', commitIndex: 130, progress: {} });
    s = samples((await metrics.render()).body);
    expect(s.get('tsraft_raft_is_leader')).toBe(0);
    expect(s.get('tsraft_raft_proposals_committed_total')).toBe(30);
    // A follower knows no lag: none is exported.
    expect([...s.keys()].filter((k) => k.startsWith('tsraft_raft_follower_lag_entries'))).toEqual([]);
  });

  it('exports the transport counters per peer and forgets a peer that left', async () => {
    let peers: TransportStats['peers'] = { n2: peer(100), n3: peer(5, false) };
    const metrics = metricsWith({ transportStats: () => transportStats(peers) });
    let s = samples((await metrics.render()).body);
    expect(s.get('tsraft_transport_sent_bytes_total{peer="n2"}')).toBe(100);
    expect(s.get('tsraft_transport_received_bytes_total{peer="n3"}')).toBe(10);
    expect(s.get('tsraft_transport_peer_connected{peer="n3"}')).toBe(0);
    expect(s.get('tsraft_transport_auth_failures_total')).toBe(2);
    expect(s.get('tsraft_transport_dropped_messages_total{reason="queue-full"}')).toBe(1);
    peers = { n2: peer(250) };
    s = samples((await metrics.render()).body);
    expect(s.get('tsraft_transport_sent_bytes_total{peer="n2"}')).toBe(250);
    expect(s.has('tsraft_transport_sent_bytes_total{peer="n3"}')).toBe(false);
  });

  it('derives the compression ratio from 16 raw bytes per point over the encoded bytes', async () => {
    const metrics = metricsWith({ stateMachineStats: () => smStats });
    const s = samples((await metrics.render()).body);
    expect(s.get('tsraft_tsdb_compression_ratio')).toBe(8);
    expect(s.get('tsraft_tsdb_series')).toBe(12);
    expect(s.get('tsraft_tsdb_points')).toBe(1000);
    expect(s.get('tsraft_node_info{node_id="n1",cluster_id="test-cluster",version="0.0.0-test"}')).toBe(1);
  });

  it('counts elections, leader changes and installed snapshots from the replica observer', async () => {
    const metrics = metricsWith({});
    const seen: string[] = [];
    const observer = metrics.observer({ onSoftState: (_id, soft) => seen.push(`${soft.role}@${soft.term}`) });
    observer.onSoftState!('n1', { role: 'follower', leader: null, term: 1 });
    observer.onSoftState!('n1', { role: 'candidate', leader: null, term: 2 });
    observer.onSoftState!('n1', { role: 'candidate', leader: null, term: 3 });
    observer.onSoftState!('n1', { role: 'leader', leader: 'n1', term: 3 });
    observer.onSoftState!('n1', { role: 'follower', leader: 'n2', term: 4 });
    observer.onSnapshotInstalled!('n1', { index: 10, term: 4, config: { voters: [], learners: [], contexts: {} }, sizeBytes: 9 });
    const s = samples((await metrics.render()).body);
    expect(seen).toEqual(['follower@1', 'candidate@2', 'candidate@3', 'leader@3', 'follower@4']);
    expect(s.get('tsraft_raft_elections_total')).toBe(2);
    expect(s.get('tsraft_raft_leader_changes_total')).toBe(2);
    expect(s.get('tsraft_raft_snapshots_received_total')).toBe(1);
  });
});
