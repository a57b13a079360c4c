// Peer messaging. Implemented over ws + CBOR for real nodes and by the
// simulator's network for simulated ones.
import type { Message, NodeId } from '../raft/types.js';

export interface Transport {
  /** Queue messages for delivery; never blocks. Delivery is best effort:
   *  Raft tolerates loss, reordering and duplication. */
  send(messages: Message[]): void;
  /** Register the single receiver of incoming messages. */
  onMessage(handler: (message: Message) => void): void;
  /** Peer addresses (node id → URL); called when membership changes. */
  setPeers(peers: Record<NodeId, string>): void;
  close(): Promise<void>;
}
