// A Transport decorator that measures Raft round trips per peer: from an
// append (or heartbeat) leaving this node to the peer's answer arriving. It
// also counts snapshots a follower confirmed installing. Messages pass through
// unchanged, in order; only timestamps are kept, in bounded per-peer queues.
import type { Message, NodeId } from '../raft/types.js';
import type { Transport } from '../transport/types.js';
import { assert } from '../errors.js';
import { RTT_MESSAGES, type MetricFamilies } from './definitions.js';
import { monotonicSeconds, type MonotonicSeconds } from './instrumented-storage.js';

/** Appends remembered per peer awaiting an answer; far above the Raft in-flight window (64). */
export const MAX_TRACKED_APPENDS_PER_PEER = 1024;

interface PeerTiming {
  /** Appends in send order: the index the peer acknowledges on success, and when it left. */
  appends: Array<{ lastIndex: number; sentAt: number }>;
  /** The oldest heartbeat not answered yet. */
  heartbeatSentAt: number | null;
}

export class InstrumentedTransport implements Transport {
  private readonly peers = new Map<NodeId, PeerTiming>();
  private handler: ((message: Message) => void) | null = null;

  constructor(
    private readonly inner: Transport,
    private readonly families: MetricFamilies,
    private readonly now: MonotonicSeconds = monotonicSeconds,
  ) {
    inner.onMessage((message) => {
      this.onReceived(message);
      this.handler?.(message);
    });
  }

  send(messages: Message[]): void {
    const at = this.now();
    for (const m of messages) {
      if (m.type === 'append') {
        const timing = this.timingOf(m.to);
        if (timing.appends.length >= MAX_TRACKED_APPENDS_PER_PEER) timing.appends.shift();
        timing.appends.push({ lastIndex: m.prevIndex + m.entries.length, sentAt: at });
      } else if (m.type === 'heartbeat') {
        const timing = this.timingOf(m.to);
        timing.heartbeatSentAt ??= at;
      }
    }
    this.inner.send(messages);
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  setPeers(peers: Record<NodeId, string>): void {
    for (const id of [...this.peers.keys()]) {
      if (Object.hasOwn(peers, id)) continue;
      this.peers.delete(id);
      for (const message of RTT_MESSAGES) this.families.roundTrip.remove({ peer: id, message });
    }
    this.inner.setPeers(peers);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Peers with timing state (bounded by the membership). */
  get trackedPeers(): number {
    return this.peers.size;
  }

  private timingOf(peer: NodeId): PeerTiming {
    let timing = this.peers.get(peer);
    if (timing === undefined) {
      timing = { appends: [], heartbeatSentAt: null };
      this.peers.set(peer, timing);
    }
    return timing;
  }

  private onReceived(m: Message): void {
    if (m.type === 'snapshot-resp') {
      if (m.done && !m.reject) this.families.snapshotsSent.inc();
      return;
    }
    if (m.type !== 'append-resp' && m.type !== 'heartbeat-resp') return;
    // Answers from peers we never sent to (or that were removed) are ignored.
    const timing = this.peers.get(m.from);
    if (timing === undefined) return;
    const at = this.now();
    if (m.type === 'heartbeat-resp') {
      if (timing.heartbeatSentAt === null) return;
      this.families.roundTrip.observe({ peer: m.from, message: 'heartbeat' }, Math.max(0, at - timing.heartbeatSentAt));
      timing.heartbeatSentAt = null;
      return;
    }
    if (m.reject) {
      // The leader probes backwards from here: earlier sends will not be answered as sent.
      timing.appends.length = 0;
      return;
    }
    // Acknowledge every append up to m.index; time the first one sent for exactly m.index.
    let matched: number | null = null;
    let drop = 0;
    for (const sent of timing.appends) {
      if (sent.lastIndex > m.index) break;
      if (sent.lastIndex === m.index && matched === null) matched = sent.sentAt;
      drop++;
    }
    timing.appends.splice(0, drop);
    assert(timing.appends.length <= MAX_TRACKED_APPENDS_PER_PEER, 'InstrumentedTransport: append queue over its bound');
    if (matched !== null) this.families.roundTrip.observe({ peer: m.from, message: 'append' }, Math.max(0, at - matched));
  }
}
