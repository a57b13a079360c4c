// The simulated network. Messages travel as the real peer frames (encoded by
// src/transport/frame-codec.ts and decoded again at the receiver), one frame
// per destination per send, with faults drawn from the run's PRNG: loss,
// delay (and so reordering), duplication, and partitions that cut links in
// one or both directions. A frame in flight to a process that died is lost
// (its connection broke); frames from a node whose disk was wiped are lost
// too, so a rebuilt node never receives answers meant for its old self.
import type { Message, NodeId } from '../src/raft/types.js';
import { buildMessagesFrame, decodeMessagesPayload, encodeMessage, FrameKind, parseFrame } from '../src/transport/frame-codec.js';
import type { Transport } from '../src/transport/types.js';
import type { SeededPrng } from '../src/util/prng.js';
import { gated, type EventGate } from './clock.js';
import type { Scheduler } from './scheduler.js';
import type { Trace } from './trace.js';

export interface NetworkFaults {
  /** Probability a frame is lost. */
  dropRate: number;
  /** Probability a frame is delivered twice. */
  duplicateRate: number;
  /** One-way delay, uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability a frame is delayed by up to spikeDelayMs more (reordering). */
  spikeRate: number;
  spikeDelayMs: number;
}

export const QUIET_NETWORK: Readonly<NetworkFaults> = Object.freeze({
  dropRate: 0,
  duplicateRate: 0,
  minDelayMs: 1,
  maxDelayMs: 3,
  spikeRate: 0,
  spikeDelayMs: 0,
});

/** Largest frame the simulated peers accept (as the real transport's default). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export interface NetworkStats {
  framesSent: number;
  framesDelivered: number;
  framesDropped: number;
  framesDuplicated: number;
  messagesDelivered: number;
  /** Messages the frame codec failed to decode (our own valid messages: a codec bug). */
  messagesMalformed: number;
  /** Client-protocol frames between nodes (forwarded puts and their answers). */
  clientFramesSent: number;
  clientFramesDropped: number;
}

/** One direction of a connection between two nodes (SimNetwork.carry). */
export interface FrameStream {
  lastSentMs: number;
  lastArrivalMs: number;
}

class SimEndpoint implements Transport {
  handler: ((m: Message) => void) | null = null;
  closed = false;
  peers: Record<NodeId, string> = {};

  constructor(
    readonly network: SimNetwork,
    readonly nodeId: NodeId,
    readonly createdAtMs: number,
    readonly diskEpoch: number,
    readonly gate: EventGate,
  ) {}

  send(messages: Message[]): void {
    if (!this.closed) this.network.transmit(this, messages);
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  setPeers(peers: Record<NodeId, string>): void {
    this.peers = { ...peers };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export class SimNetwork {
  faults: NetworkFaults = { ...QUIET_NETWORK };
  /** Scripted scenarios may rewrite or drop (null) messages as they are sent. */
  transform: ((m: Message) => Message | null) | null = null;
  /** Called for each message a node sends, delivered or not (checkers hook in here). */
  onSend: ((m: Message) => void) | null = null;
  /** Called after each message is handed to its receiver (checkers hook in here). */
  afterDeliver: ((to: NodeId, m: Message) => void) | null = null;
  readonly stats: NetworkStats = { framesSent: 0, framesDelivered: 0, framesDropped: 0, framesDuplicated: 0, messagesDelivered: 0, messagesMalformed: 0, clientFramesSent: 0, clientFramesDropped: 0 };
  /** Links that lose everything: "from>to". */
  private readonly cuts = new Set<string>();
  private readonly endpoints = new Map<NodeId, SimEndpoint>();
  private readonly diskEpochs = new Map<NodeId, number>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly prng: SeededPrng,
    private readonly trace: Trace,
  ) {}

  /** A new process of `nodeId` connects (its previous connections are gone). */
  attach(nodeId: NodeId, gate: EventGate): Transport {
    this.endpoints.get(nodeId)?.close();
    const endpoint = new SimEndpoint(this, nodeId, this.scheduler.nowMs, this.diskEpochs.get(nodeId) ?? 0, gate);
    this.endpoints.set(nodeId, endpoint);
    return endpoint;
  }

  /** The process of `nodeId` died: frames in flight to it are lost. */
  detach(nodeId: NodeId): void {
    const endpoint = this.endpoints.get(nodeId);
    if (endpoint !== undefined) endpoint.closed = true;
    this.endpoints.delete(nodeId);
  }

  /** `nodeId`'s disk was wiped: frames its earlier processes sent are lost. */
  forgetSender(nodeId: NodeId): void {
    this.diskEpochs.set(nodeId, (this.diskEpochs.get(nodeId) ?? 0) + 1);
  }

  // ---- partitions

  cutLink(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`);
  }

  isolate(id: NodeId, all: readonly NodeId[]): void {
    for (const other of all) {
      if (other === id) continue;
      this.cuts.add(`${id}>${other}`);
      this.cuts.add(`${other}>${id}`);
    }
  }

  /** Cut every link between different groups. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    for (const g of groups) for (const h of groups) if (g !== h) for (const a of g) for (const b of h) this.cuts.add(`${a}>${b}`);
  }

  heal(): void {
    this.cuts.clear();
  }

  get partitioned(): boolean {
    return this.cuts.size > 0;
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cuts.has(`${from}>${to}`);
  }

  // ---- delivery

  transmit(sender: SimEndpoint, messages: Message[]): void {
    const byDestination = new Map<NodeId, Message[]>();
    for (const original of messages) {
      this.onSend?.(original);
      const m = this.transform === null ? original : this.transform(original);
      if (m === null) continue;
      const list = byDestination.get(m.to);
      if (list === undefined) byDestination.set(m.to, [m]);
      else list.push(m);
    }
    const sentAtMs = this.scheduler.nowMs;
    for (const [to, group] of byDestination) {
      this.stats.framesSent++;
      if (this.isCut(sender.nodeId, to) || this.prng.chance(this.faults.dropRate)) {
        this.stats.framesDropped++;
        continue;
      }
      const frame = buildMessagesFrame(group.map(encodeMessage));
      const copies = this.prng.chance(this.faults.duplicateRate) ? 2 : 1;
      if (copies === 2) this.stats.framesDuplicated++;
      for (let c = 0; c < copies; c++) {
        this.scheduler.after(this.delay(), () => this.deliver(sender, to, frame, sentAtMs));
      }
    }
  }

  /** One client-protocol frame (a forwarded put or its answer, on a
   *  WebSocket between two nodes) from `from` to `to`: lost on a cut link,
   *  by the drop rate, or when the sender's disk was wiped meanwhile;
   *  otherwise `arrive` runs after the network's delay (no duplicates: a
   *  WebSocket runs on TCP). On one `stream` (a direction of one
   *  connection) frames arrive in order, and frames sent in one instant
   *  arrive together (they left in one write). The caller checks the
   *  processes at both ends. */
  carry(from: NodeId, to: NodeId, arrive: () => void, stream?: FrameStream): void {
    this.stats.clientFramesSent++;
    if (this.isCut(from, to) || this.prng.chance(this.faults.dropRate)) {
      this.stats.clientFramesDropped++;
      return;
    }
    const diskEpoch = this.diskEpochs.get(from) ?? 0;
    const now = this.scheduler.nowMs;
    let arriveAtMs: number;
    if (stream === undefined) arriveAtMs = now + this.delay();
    else {
      arriveAtMs = stream.lastSentMs === now ? stream.lastArrivalMs : Math.max(stream.lastArrivalMs, now + this.delay());
      stream.lastSentMs = now;
      stream.lastArrivalMs = arriveAtMs;
    }
    this.scheduler.at(arriveAtMs, () => {
      if (this.isCut(from, to) || (this.diskEpochs.get(from) ?? 0) !== diskEpoch) {
        this.stats.clientFramesDropped++;
        return;
      }
      arrive();
    });
  }

  private delay(): number {
    const f = this.faults;
    let d = f.minDelayMs + this.prng.nextFloat() * (f.maxDelayMs - f.minDelayMs);
    if (f.spikeRate > 0 && this.prng.chance(f.spikeRate)) d += this.prng.nextFloat() * f.spikeDelayMs;
    return Math.round(d * 100) / 100;
  }

  private deliver(sender: SimEndpoint, to: NodeId, frame: Uint8Array, sentAtMs: number): void {
    const target = this.endpoints.get(to);
    const lost =
      target === undefined ||
      target.closed ||
      target.createdAtMs > sentAtMs ||
      (this.diskEpochs.get(sender.nodeId) ?? 0) !== sender.diskEpoch ||
      this.isCut(sender.nodeId, to);
    if (lost) {
      this.stats.framesDropped++;
      return;
    }
    gated(this.scheduler, target.gate, () => {
      if (target.closed || target.handler === null) return;
      const parsed = parseFrame(frame, MAX_FRAME_BYTES);
      if (!parsed.ok || parsed.kind !== FrameKind.messages) {
        this.stats.messagesMalformed++;
        return;
      }
      const decoded = decodeMessagesPayload(parsed.payload);
      this.stats.messagesMalformed += decoded.malformed + (decoded.frameMalformed ? 1 : 0);
      this.stats.framesDelivered++;
      for (const m of decoded.messages) {
        this.stats.messagesDelivered++;
        this.trace.recordMessage(m);
        target.handler(m);
        this.afterDeliver?.(to, m);
      }
    })();
  }
}
