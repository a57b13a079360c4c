// Raft peer messaging over WebSockets (docs/transport.md).
//
//  - One connection per peer pair. Both nodes dial; when two authenticated
//    connections exist for a pair, both sides keep the one dialed by the
//    lower node id (the newest if that leaves a tie) and close the other.
//  - Every connection starts with a mutual HMAC challenge–response over the
//    cluster secret (handshake.ts); only then are Raft messages exchanged.
//  - send() encodes each message once into a bounded per-peer queue; one
//    flush per event-loop turn packs each peer's queue into as few frames as
//    fit maxFrameBytes (usually one).
//  - A lost connection is redialed with jittered exponential backoff
//    (injected PRNG and clock).
//  - Nothing a peer sends can throw into the Raft core: bad frames and
//    messages are dropped and counted in stats().
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { assert, TsraftError, type ErrorCode } from '../errors.js';
import type { Message, NodeId, Prng } from '../raft/types.js';
import { systemClock, type Clock } from '../util/clock.js';
import { SeededPrng } from '../util/prng.js';
import { Backoff } from './backoff.js';
import { buildMessagesFrame, decodeMessagesPayload, encodeMessage, FrameKind, isDroppableMessage, MESSAGES_FRAME_OVERHEAD_BYTES, parseFrame } from './frame-codec.js';
import {
  checkHello,
  computeProof,
  decodeChallenge,
  decodeHello,
  decodeProof,
  decodeReject,
  encodeChallenge,
  encodeHello,
  encodeProof,
  encodeReject,
  encodeWelcome,
  HANDSHAKE_PROTOCOL,
  MAX_HANDSHAKE_FRAME_BYTES,
  MIN_SECRET_BYTES,
  newNonce,
  proofMatches,
  type HandshakeContext,
} from './handshake.js';
import { PeerQueue } from './peer-queue.js';
import type { Transport } from './types.js';

export const DEFAULT_PEER_PATH = '/raft';

export interface TransportLimits {
  /** Largest frame sent or accepted, in bytes. Must exceed the largest single
   *  Raft message (maxAppendBytes or snapshotChunkBytes, 1 MiB by default,
   *  plus a little overhead). Default 8 MiB; at least 64 KiB. */
  maxFrameBytes: number;
  /** Messages waiting per peer. Default 10,000. */
  maxQueuedMessagesPerPeer: number;
  /** Bytes waiting per peer. Default 32 MiB; at least maxFrameBytes. */
  maxQueuedBytesPerPeer: number;
  /** Flushing to a peer pauses while its socket holds more unsent bytes than this. Default 8 MiB. */
  maxSocketBufferedBytes: number;
  /** A connection must complete the handshake within this many milliseconds. Default 5,000. */
  handshakeTimeoutMs: number;
  /** Reconnect backoff: first delay cap and largest delay, in milliseconds. Defaults 100 and 5,000. */
  minReconnectDelayMs: number;
  maxReconnectDelayMs: number;
  /** Inbound connections still in the handshake; more are refused with 503. Default 64. */
  maxPendingHandshakes: number;
  /** Peers tracked (configured plus those that connected in). Default 256. */
  maxPeers: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  maxFrameBytes: 8 * 1024 * 1024,
  maxQueuedMessagesPerPeer: 10_000,
  maxQueuedBytesPerPeer: 32 * 1024 * 1024,
  maxSocketBufferedBytes: 8 * 1024 * 1024,
  handshakeTimeoutMs: 5_000,
  minReconnectDelayMs: 100,
  maxReconnectDelayMs: 5_000,
  maxPendingHandshakes: 64,
  maxPeers: 256,
};

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that signed the peers' certificates; default: the system's. */
  caFile?: string;
}

export interface TransportLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
}

export interface WsTransportOptions {
  nodeId: NodeId;
  clusterId: string;
  /** The cluster secret (UTF-8 or bytes, at least 16 bytes). It never crosses the wire. */
  secret: string | Uint8Array;
  /** Serve wss/https and dial peers with wss when set. */
  tls?: TlsFiles;
  /** HTTP path peers connect to. Default '/raft'. */
  path?: string;
  clock?: Clock;
  /** Jitter for reconnect delays. Default: seeded from the node id. */
  prng?: Prng;
  logger?: TransportLogger;
  limits?: Partial<TransportLimits>;
}

export type DropReason =
  /** The peer's queue was full (backpressure; Raft retransmits). */
  | 'queue-full'
  /** A queued heartbeat was evicted to make room for another message. */
  | 'heartbeat-evicted'
  /** One message alone is larger than a frame may be. */
  | 'too-large'
  /** Queued for a peer whose dial failed. */
  | 'unreachable'
  /** Addressed to a peer with no address and no connection. */
  | 'no-route'
  /** Received but not a valid message. */
  | 'malformed'
  /** `from`/`to` do not match the connection's peers. */
  | 'misaddressed'
  /** Received before any handler was registered. */
  | 'no-handler'
  /** Sent after, or still queued at, close(). */
  | 'closed';

export interface PeerStats {
  connected: boolean;
  /** Authenticated connections: 1 normally, 2 for a moment while a duplicate closes. */
  connections: number;
  bytesSent: number;
  bytesReceived: number;
  messagesSent: number;
  messagesReceived: number;
  framesSent: number;
  framesReceived: number;
  /** Connections established after the first one (the peer came back). */
  reconnects: number;
  /** Dial attempts that failed before authenticating. */
  dialFailures: number;
  queuedMessages: number;
  queuedBytes: number;
}

export interface TransportStats {
  peers: Record<NodeId, PeerStats>;
  /** Handshakes refused or failed for a wrong secret or cluster id (both directions). */
  authFailures: number;
  /** Handshakes that broke the protocol or timed out. */
  handshakeFailures: number;
  /** Frames dropped whole: bad version, not CBOR, unknown kind. */
  malformedFrames: number;
  /** Incoming frames over maxFrameBytes (the connection is closed with 1009). */
  oversizedFrames: number;
  droppedMessages: Record<DropReason, number>;
}

type ConnState = 'connecting' | 'await-challenge' | 'await-welcome' | 'await-hello' | 'await-proof' | 'open' | 'closed';

interface Conn {
  /** Increasing: a larger id is a newer connection. */
  id: number;
  ws: WebSocket;
  direction: 'outbound' | 'inbound';
  /** Dialed (outbound) or claimed in the hello (inbound, trusted once open). */
  peerId: NodeId | null;
  /** For logs: the peer id if known and the address. */
  where: string;
  state: ConnState;
  /** Set once the handshake succeeded; stays set while the connection closes. */
  authenticated: boolean;
  clientNonce: Uint8Array | null;
  serverNonce: Uint8Array | null;
  cancelHandshakeTimer: (() => void) | null;
  /** Inbound only: frees this connection's slot among the pending handshakes. */
  releasePending: (() => void) | null;
  closed: Promise<void>;
  markClosed: () => void;
}

interface Peer {
  id: NodeId;
  url: string | null;
  queue: PeerQueue;
  active: Conn | null;
  /** Authenticated connections: normally one, briefly two while a duplicate closes. */
  open: Set<Conn>;
  dialing: Conn | null;
  backoff: Backoff;
  cancelRedial: (() => void) | null;
  everConnected: boolean;
  stats: Omit<PeerStats, 'connected' | 'connections' | 'queuedMessages' | 'queuedBytes'>;
}

/**
 * The masking key of frames this node sends on connections it dialed. Masking
 * (RFC 6455 §5.3) protects HTTP intermediaries from frames crafted by scripts
 * in browsers; both ends here are tsraft nodes. With an all-zero key ws neither
 * copies nor XORs a payload on the way out, and the receiver skips unmasking:
 * two passes over every append's entries saved.
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/** WebSocket close codes (4000–4999 are for applications). */
const CLOSE_REFUSED = 4001;
const CLOSE_DUPLICATE = 4002;
const CLOSE_PROTOCOL = 4003;
const CLOSE_REMOVED = 4004;
const CLOSE_TOO_MANY_PEERS = 4005;
/** Bound on the distinct (peer, reason) pairs logged once. */
const MAX_LOGGED_ONCE = 1024;

const consoleLogger: TransportLogger = {
  warn: (message, fields) => console.warn(`[transport] ${message}`, fields ?? ''),
  info: (message, fields) => console.info(`[transport] ${message}`, fields ?? ''),
};

export class WsTransport implements Transport {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly path: string;
  private readonly secret: Uint8Array;
  private readonly limits: TransportLimits;
  private readonly clock: Clock;
  private readonly prng: Prng;
  private readonly logger: TransportLogger;
  private readonly tls: { cert: Buffer; key: Buffer; ca: Buffer | undefined } | null;
  private readonly wss: WebSocketServer;

  private handler: ((message: Message) => void) | null = null;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly conns = new Set<Conn>();
  private nextConnId = 1;
  private pendingInbound = 0;
  private flushHandle: NodeJS.Immediate | null = null;
  private readonly loggedOnce = new Set<string>();
  private readonly attached: Array<{ server: HttpServer; listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void }> = [];
  private ownedServer: HttpServer | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly counters: Omit<TransportStats, 'peers'> = {
    authFailures: 0,
    handshakeFailures: 0,
    malformedFrames: 0,
    oversizedFrames: 0,
    droppedMessages: { 'queue-full': 0, 'heartbeat-evicted': 0, 'too-large': 0, unreachable: 0, 'no-route': 0, malformed: 0, misaddressed: 0, 'no-handler': 0, closed: 0 },
  };

  constructor(options: WsTransportOptions) {
    this.nodeId = options.nodeId;
    this.clusterId = options.clusterId;
    this.path = options.path ?? DEFAULT_PEER_PATH;
    this.secret = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret.slice();
    this.limits = { ...DEFAULT_TRANSPORT_LIMITS, ...options.limits };
    this.clock = options.clock ?? systemClock;
    this.prng = options.prng ?? new SeededPrng(seedFrom(options.nodeId));
    this.logger = options.logger ?? consoleLogger;
    validateOptions(this.nodeId, this.clusterId, this.secret, this.limits, this.path);
    this.tls = options.tls === undefined ? null : readTlsFiles(options.tls);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxFrameBytes, perMessageDeflate: false, clientTracking: false });
  }

  // ---- Transport interface -------------------------------------------------

  send(messages: Message[]): void {
    for (const message of messages) this.sendOne(message);
  }

  onMessage(handler: (message: Message) => void): void {
    this.handler = handler;
  }

  setPeers(peers: Record<NodeId, string>): void {
    if (this.closed) return;
    for (const [id, rawUrl] of Object.entries(peers)) {
      if (id === this.nodeId) continue;
      const url = this.normalizeUrl(id, rawUrl);
      const existing = this.peers.get(id);
      if (existing === undefined) {
        const peer = this.createPeer(id, url);
        if (peer !== null) this.maybeDial(peer);
      } else if (existing.url !== url) {
        existing.url = url;
        existing.cancelRedial?.();
        existing.cancelRedial = null;
        existing.backoff.reset();
        if (existing.dialing !== null) this.closeConn(existing.dialing, 1000, 'peer address changed');
        this.maybeDial(existing);
      }
    }
    for (const peer of [...this.peers.values()]) {
      if (!(peer.id in peers)) this.removePeer(peer);
    }
  }

  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  // ---- serving ---------------------------------------------------------------

  /** Serve peers on a server of our own (https when TLS is configured). */
  async listen(port: number, host = '127.0.0.1'): Promise<{ port: number; url: string }> {
    assert(this.ownedServer === null, 'WsTransport.listen called twice');
    assert(!this.closed, 'WsTransport.listen after close()');
    const server = this.tls === null ? createHttpServer() : createHttpsServer({ cert: this.tls.cert, key: this.tls.key });
    server.on('request', (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('this port speaks the tsraft peer protocol over WebSocket\n');
    });
    this.ownedServer = server;
    this.attach(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const scheme = this.tls === null ? 'ws' : 'wss';
    const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return { port: address.port, url: `${scheme}://${shownHost}:${address.port}${this.path}` };
  }

  /** Serve peers on an existing HTTP(S) server (the node's peer port) at
   *  `path`; upgrades for other paths are left to other listeners. The caller
   *  keeps owning the server: close() detaches but does not close it. */
  attach(server: HttpServer, path: string = this.path): void {
    assert(path.startsWith('/'), `attach: path '${path}' must start with '/'`);
    const listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => this.onUpgrade(server, path, req, socket, head);
    server.on('upgrade', listener);
    this.attached.push({ server, listener });
  }

  stats(): TransportStats {
    const peers: Record<NodeId, PeerStats> = {};
    for (const peer of this.peers.values()) {
      peers[peer.id] = { ...peer.stats, connected: peer.active !== null, connections: peer.open.size, queuedMessages: peer.queue.length, queuedBytes: peer.queue.bytes };
    }
    return { ...this.counters, droppedMessages: { ...this.counters.droppedMessages }, peers };
  }

  // ---- sending ---------------------------------------------------------------

  private sendOne(message: Message): void {
    if (this.closed) return this.drop('closed');
    if (message.to === this.nodeId || message.from !== this.nodeId) return this.drop('misaddressed');
    const peer = this.peers.get(message.to);
    if (peer === undefined || (peer.url === null && peer.active === null)) return this.drop('no-route');
    const bytes = encodeMessage(message);
    if (bytes.length + MESSAGES_FRAME_OVERHEAD_BYTES > this.limits.maxFrameBytes) return this.drop('too-large');
    const result = peer.queue.push({ bytes, droppable: isDroppableMessage(message) });
    this.counters.droppedMessages['heartbeat-evicted'] += result.evicted;
    if (!result.accepted) this.drop('queue-full');
    if (peer.active !== null) this.scheduleFlush();
    else this.maybeDial(peer);
  }

  private drop(reason: DropReason, count = 1): void {
    this.counters.droppedMessages[reason] += count;
  }

  private scheduleFlush(): void {
    if (this.flushHandle !== null || this.closed) return;
    // One flush per event-loop turn: everything sent during this turn shares a frame.
    this.flushHandle = setImmediate(() => {
      this.flushHandle = null;
      this.flushAll();
    });
  }

  private flushAll(): void {
    for (const peer of this.peers.values()) {
      const conn = peer.active;
      if (conn === null || conn.ws.readyState !== WebSocket.OPEN) continue;
      while (peer.queue.length > 0 && conn.ws.bufferedAmount < this.limits.maxSocketBufferedBytes) {
        const batch = peer.queue.takeUpTo(this.limits.maxFrameBytes - MESSAGES_FRAME_OVERHEAD_BYTES);
        assert(batch.length > 0, 'flushAll: a queued message does not fit a frame');
        const frame = buildMessagesFrame(batch);
        assert(frame.length <= this.limits.maxFrameBytes, 'flushAll: frame over the limit');
        // The callback runs once the frame is handed to the socket: if the
        // buffer limit paused this peer, that is the moment to go on.
        conn.ws.send(frame, { binary: true }, (error) => {
          if (error === undefined || error === null) {
            if (peer.queue.length > 0) this.scheduleFlush();
          }
        });
        peer.stats.framesSent += 1;
        peer.stats.messagesSent += batch.length;
        peer.stats.bytesSent += frame.length;
      }
    }
  }

  // ---- peers and dialing -----------------------------------------------------

  private createPeer(id: NodeId, url: string | null): Peer | null {
    if (this.peers.size >= this.limits.maxPeers) {
      this.logOnce(`peers-full`, 'warn', `peer table full (${this.limits.maxPeers}): ignoring peer ${id}`);
      return null;
    }
    const peer: Peer = {
      id,
      url,
      queue: new PeerQueue(this.limits.maxQueuedMessagesPerPeer, this.limits.maxQueuedBytesPerPeer),
      active: null,
      open: new Set(),
      dialing: null,
      backoff: new Backoff(this.prng, this.limits.minReconnectDelayMs, this.limits.maxReconnectDelayMs),
      cancelRedial: null,
      everConnected: false,
      stats: { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, framesSent: 0, framesReceived: 0, reconnects: 0, dialFailures: 0 },
    };
    this.peers.set(id, peer);
    return peer;
  }

  private removePeer(peer: Peer): void {
    peer.cancelRedial?.();
    peer.cancelRedial = null;
    this.drop('no-route', peer.queue.clear());
    for (const conn of [...peer.open]) this.closeConn(conn, CLOSE_REMOVED, 'peer removed from the cluster');
    if (peer.dialing !== null) this.closeConn(peer.dialing, CLOSE_REMOVED, 'peer removed from the cluster');
    this.peers.delete(peer.id);
  }

  private maybeDial(peer: Peer): void {
    if (this.closed || peer.url === null || peer.active !== null || peer.dialing !== null || peer.cancelRedial !== null) return;
    this.dial(peer, peer.url);
  }

  private scheduleRedial(peer: Peer): void {
    if (this.closed || peer.url === null || peer.active !== null || peer.dialing !== null || peer.cancelRedial !== null) return;
    if (this.peers.get(peer.id) !== peer) return;
    peer.cancelRedial = this.clock.setTimer(peer.backoff.nextDelayMs(), () => {
      peer.cancelRedial = null;
      this.maybeDial(peer);
    });
  }

  private dial(peer: Peer, url: string): void {
    const ws = new WebSocket(url, {
      maxPayload: this.limits.maxFrameBytes,
      perMessageDeflate: false,
      handshakeTimeout: this.limits.handshakeTimeoutMs,
      generateMask: zeroMask,
      ...(this.tls?.ca === undefined ? {} : { ca: this.tls.ca }),
    });
    const conn = this.track(ws, 'outbound', peer.id, `${peer.id} at ${url}`);
    conn.state = 'connecting';
    peer.dialing = conn;
    ws.on('open', () => {
      if (conn.state !== 'connecting') return;
      conn.clientNonce = newNonce();
      conn.state = 'await-challenge';
      ws.send(encodeHello({ protocol: HANDSHAKE_PROTOCOL, clusterId: this.clusterId, clientId: this.nodeId, serverId: peer.id, clientNonce: conn.clientNonce }));
    });
    ws.on('error', (error: Error) => {
      if (conn.state === 'connecting') {
        this.logOnce(`${peer.id}|unreachable`, 'info', `cannot reach peer ${peer.id} at ${url}: ${error.message}; retrying with backoff`);
      }
    });
  }

  // ---- accepting ---------------------------------------------------------------

  private onUpgrade(server: HttpServer, path: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = new URL(req.url ?? '/', 'http://peer').pathname;
    if (pathname !== path) {
      // Other paths belong to other listeners on a shared server; on our own, nobody else answers.
      if (server === this.ownedServer) refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (this.closed) return refuseUpgrade(socket, 503, 'Service Unavailable');
    if (this.pendingInbound >= this.limits.maxPendingHandshakes) {
      this.logOnce('pending-full', 'warn', `refusing peer connections: ${this.pendingInbound} handshakes already pending`);
      return refuseUpgrade(socket, 503, 'Service Unavailable');
    }
    this.pendingInbound += 1;
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    let counted = true;
    const uncount = (): void => {
      if (counted) this.pendingInbound -= 1;
      counted = false;
    };
    socket.once('close', uncount);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closed) {
        uncount();
        ws.terminate();
        return;
      }
      const conn = this.track(ws, 'inbound', null, remote);
      conn.state = 'await-hello';
      // pendingInbound is released when the handshake completes or the socket closes.
      conn.releasePending = uncount;
    });
  }

  // ---- connections -------------------------------------------------------------

  private track(ws: WebSocket, direction: Conn['direction'], peerId: NodeId | null, where: string): Conn {
    let markClosed!: () => void;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    const conn: Conn = { id: this.nextConnId++, ws, direction, peerId, where, state: 'connecting', authenticated: false, clientNonce: null, serverNonce: null, cancelHandshakeTimer: null, releasePending: null, closed, markClosed };
    this.conns.add(conn);
    conn.cancelHandshakeTimer = this.clock.setTimer(this.limits.handshakeTimeoutMs, () => {
      conn.cancelHandshakeTimer = null;
      if (conn.state === 'open' || conn.state === 'closed') return;
      this.counters.handshakeFailures += 1;
      this.logOnce(`${conn.peerId ?? conn.where}|handshake-timeout`, 'warn', `peer handshake with ${conn.where} timed out after ${this.limits.handshakeTimeoutMs} ms`);
      ws.terminate();
    });
    ws.on('message', (data: RawData, isBinary: boolean) => this.onFrame(conn, data, isBinary));
    ws.on('error', (error: Error & { code?: string }) => {
      if (error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
        this.counters.oversizedFrames += 1;
        this.logOnce(`${conn.peerId ?? conn.where}|oversized`, 'warn', `peer ${conn.where} sent a frame over ${this.limits.maxFrameBytes} bytes; connection closed`);
      }
    });
    ws.on('close', () => this.onClose(conn));
    return conn;
  }

  private onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    // A duplicate being closed still delivers what its peer sent before it
    // learned of the tie-break: those frames are authenticated, and dropping
    // them would lose the first messages of almost every new pair.
    if (this.closed || (conn.state === 'closed' && !conn.authenticated)) return;
    const bytes = toBytes(data);
    if (!conn.authenticated) return this.onHandshakeFrame(conn, bytes, isBinary);
    const peer = this.peers.get(conn.peerId!);
    if (peer !== undefined) {
      peer.stats.bytesReceived += bytes.length;
      peer.stats.framesReceived += 1;
    }
    const parsed = isBinary ? parseFrame(bytes, this.limits.maxFrameBytes) : null;
    if (parsed === null || !parsed.ok || parsed.kind !== FrameKind.messages) {
      this.counters.malformedFrames += 1;
      return;
    }
    const decoded = decodeMessagesPayload(parsed.payload);
    if (decoded.frameMalformed) {
      this.counters.malformedFrames += 1;
      return;
    }
    this.drop('malformed', decoded.malformed);
    for (const message of decoded.messages) {
      if (message.from !== conn.peerId || message.to !== this.nodeId) {
        this.drop('misaddressed');
        continue;
      }
      if (this.handler === null) {
        this.drop('no-handler');
        continue;
      }
      if (peer !== undefined) peer.stats.messagesReceived += 1;
      this.handler(message);
    }
  }

  private onHandshakeFrame(conn: Conn, bytes: Uint8Array, isBinary: boolean): void {
    const parsed = isBinary && bytes.length <= MAX_HANDSHAKE_FRAME_BYTES ? parseFrame(bytes, MAX_HANDSHAKE_FRAME_BYTES) : null;
    if (parsed === null || !parsed.ok) return this.failHandshake(conn, 'TSR_ERR_PEER_PROTOCOL', 'sent a malformed handshake frame');
    if (parsed.kind === FrameKind.reject) return this.onReject(conn, parsed.payload);
    switch (conn.state) {
      case 'await-hello':
        if (parsed.kind === FrameKind.hello) return this.onHello(conn, parsed.payload);
        break;
      case 'await-proof':
        if (parsed.kind === FrameKind.proof) return this.onProof(conn, parsed.payload);
        break;
      case 'await-challenge':
        if (parsed.kind === FrameKind.challenge) return this.onChallenge(conn, parsed.payload);
        break;
      case 'await-welcome':
        if (parsed.kind === FrameKind.welcome) return this.onAuthenticated(conn);
        break;
      default:
        break;
    }
    this.failHandshake(conn, 'TSR_ERR_PEER_PROTOCOL', `sent frame kind ${parsed.kind} during handshake state ${conn.state}`);
  }

  /** Server: the client introduced itself. */
  private onHello(conn: Conn, payload: Uint8Array): void {
    const hello = decodeHello(payload);
    if (hello === null) return this.failHandshake(conn, 'TSR_ERR_PEER_PROTOCOL', 'sent a malformed hello');
    conn.peerId = hello.clientId;
    conn.where = `${hello.clientId} from ${conn.where}`;
    const refusal = checkHello(hello, { nodeId: this.nodeId, clusterId: this.clusterId });
    if (refusal !== null) return this.failHandshake(conn, refusal.code, refusal.message);
    conn.clientNonce = hello.clientNonce;
    conn.serverNonce = newNonce();
    conn.state = 'await-proof';
    conn.ws.send(encodeChallenge(conn.serverNonce, computeProof(this.secret, 'server', this.handshakeContext(conn))));
  }

  /** Client: the server proved itself and challenged us. */
  private onChallenge(conn: Conn, payload: Uint8Array): void {
    const challenge = decodeChallenge(payload);
    if (challenge === null) return this.failHandshake(conn, 'TSR_ERR_PEER_PROTOCOL', 'sent a malformed challenge');
    conn.serverNonce = challenge.serverNonce;
    const context = this.handshakeContext(conn);
    if (!proofMatches(this.secret, 'server', context, challenge.serverProof)) {
      return this.failHandshake(conn, 'TSR_ERR_PEER_AUTH_FAILED', 'its proof does not match the cluster secret');
    }
    conn.state = 'await-welcome';
    conn.ws.send(encodeProof(computeProof(this.secret, 'client', context)));
  }

  /** Server: the client answered the challenge. */
  private onProof(conn: Conn, payload: Uint8Array): void {
    const proof = decodeProof(payload);
    if (proof === null) return this.failHandshake(conn, 'TSR_ERR_PEER_PROTOCOL', 'sent a malformed proof');
    if (!proofMatches(this.secret, 'client', this.handshakeContext(conn), proof)) {
      return this.failHandshake(conn, 'TSR_ERR_PEER_AUTH_FAILED', 'its proof does not match the cluster secret');
    }
    conn.ws.send(encodeWelcome());
    this.onAuthenticated(conn);
  }

  /** The other side refused the handshake (a server refusing us, or a
   *  client that found our proof wrong); it says why. */
  private onReject(conn: Conn, payload: Uint8Array): void {
    const reject = decodeReject(payload) ?? { code: 'TSR_ERR_PEER_PROTOCOL', message: 'refused without a readable reason' };
    if (reject.code === 'TSR_ERR_PEER_AUTH_FAILED' || reject.code === 'TSR_ERR_PEER_CLUSTER_MISMATCH') this.counters.authFailures += 1;
    else this.counters.handshakeFailures += 1;
    this.logOnce(`${conn.peerId ?? conn.where}|refused|${reject.code}`, 'warn', `peer ${conn.where} refused the handshake: ${reject.message} (${reject.code})`, { code: reject.code });
    this.closeConn(conn, CLOSE_REFUSED, 'refused');
  }

  private failHandshake(conn: Conn, code: ErrorCode, why: string): void {
    if (code === 'TSR_ERR_PEER_AUTH_FAILED' || code === 'TSR_ERR_PEER_CLUSTER_MISMATCH') this.counters.authFailures += 1;
    else this.counters.handshakeFailures += 1;
    const role = conn.direction === 'inbound' ? 'refused peer' : 'refusing peer';
    this.logOnce(`${conn.peerId ?? conn.where}|${code}`, 'warn', `${role} ${conn.where}: ${why} (${code})`, { code });
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.send(encodeReject(code, why));
    this.closeConn(conn, code === 'TSR_ERR_PEER_PROTOCOL' ? CLOSE_PROTOCOL : CLOSE_REFUSED, 'handshake failed');
  }

  private handshakeContext(conn: Conn): HandshakeContext {
    assert(conn.peerId !== null && conn.clientNonce !== null && conn.serverNonce !== null, 'handshakeContext: incomplete handshake');
    return conn.direction === 'outbound'
      ? { clusterId: this.clusterId, clientId: this.nodeId, serverId: conn.peerId, clientNonce: conn.clientNonce, serverNonce: conn.serverNonce }
      : { clusterId: this.clusterId, clientId: conn.peerId, serverId: this.nodeId, clientNonce: conn.clientNonce, serverNonce: conn.serverNonce };
  }

  private onAuthenticated(conn: Conn): void {
    assert(conn.peerId !== null, 'onAuthenticated: no peer id');
    conn.cancelHandshakeTimer?.();
    conn.cancelHandshakeTimer = null;
    conn.releasePending?.();
    conn.releasePending = null;
    const peer = this.peers.get(conn.peerId) ?? this.createPeer(conn.peerId, null);
    if (peer === null) return this.closeConn(conn, CLOSE_TOO_MANY_PEERS, 'too many peers');
    conn.state = 'open';
    conn.authenticated = true;
    if (peer.dialing === conn) peer.dialing = null;
    peer.open.add(conn);
    const hadActive = peer.active !== null;
    peer.active = this.chooseConnection(peer);
    for (const other of [...peer.open]) if (other !== peer.active) this.closeConn(other, CLOSE_DUPLICATE, 'duplicate connection');
    if (!hadActive) {
      if (peer.everConnected) peer.stats.reconnects += 1;
      peer.everConnected = true;
      this.loggedOnce.delete(`${peer.id}|unreachable`);
    }
    peer.backoff.reset();
    peer.cancelRedial?.();
    peer.cancelRedial = null;
    if (peer.queue.length > 0) this.scheduleFlush();
  }

  /** Both ends pick the same survivor: dialed by the lower node id, then the newest. */
  private chooseConnection(peer: Peer): Conn | null {
    const preferredDialer = this.nodeId < peer.id ? this.nodeId : peer.id;
    let best: Conn | null = null;
    for (const conn of peer.open) {
      if (conn.state !== 'open') continue;
      const dialer = conn.direction === 'outbound' ? this.nodeId : peer.id;
      const rank = (dialer === preferredDialer ? 1 : 0) * 2 ** 40 + conn.id;
      const bestRank = best === null ? -1 : ((best.direction === 'outbound' ? this.nodeId : peer.id) === preferredDialer ? 1 : 0) * 2 ** 40 + best.id;
      if (rank > bestRank) best = conn;
    }
    return best;
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    const wasOpen = conn.state === 'open';
    conn.state = 'closed';
    this.detach(conn, wasOpen);
    if (conn.ws.readyState === WebSocket.OPEN) conn.ws.close(code, reason);
    else conn.ws.terminate();
  }

  private onClose(conn: Conn): void {
    const wasOpen = conn.state === 'open';
    if (conn.state !== 'closed') {
      conn.state = 'closed';
      this.detach(conn, wasOpen);
    }
    this.conns.delete(conn);
    conn.markClosed();
  }

  /** Forget a connection that is closing; redial if the peer has none left. */
  private detach(conn: Conn, wasOpen: boolean): void {
    conn.cancelHandshakeTimer?.();
    conn.cancelHandshakeTimer = null;
    if (conn.peerId === null) return;
    const peer = this.peers.get(conn.peerId);
    if (peer === undefined) return;
    const wasDialing = peer.dialing === conn;
    if (wasDialing) peer.dialing = null;
    if (!wasOpen && !wasDialing) return; // an inbound connection that never authenticated
    peer.open.delete(conn);
    if (peer.active === conn) peer.active = this.chooseConnection(peer);
    if (peer.active !== null || this.closed) return;
    if (wasDialing) {
      peer.stats.dialFailures += 1;
      // Messages queued for an unreachable peer are stale by the time it is back; Raft resends.
      this.drop('unreachable', peer.queue.clear());
    } else if (peer.url === null) {
      this.drop('no-route', peer.queue.clear());
    }
    this.scheduleRedial(peer);
  }

  private async closeNow(): Promise<void> {
    this.closed = true;
    if (this.flushHandle !== null) clearImmediate(this.flushHandle);
    this.flushHandle = null;
    for (const peer of this.peers.values()) {
      peer.cancelRedial?.();
      peer.cancelRedial = null;
      this.drop('closed', peer.queue.clear());
    }
    const waits: Promise<void>[] = [];
    for (const conn of this.conns) {
      conn.cancelHandshakeTimer?.();
      conn.cancelHandshakeTimer = null;
      conn.state = 'closed';
      waits.push(conn.closed);
      // Raft tolerates the loss of whatever was in flight; do not wait for peers to answer.
      conn.ws.terminate();
    }
    await Promise.all(waits);
    for (const { server, listener } of this.attached) server.off('upgrade', listener);
    this.attached.length = 0;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    const server = this.ownedServer;
    if (server !== null) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  // ---- helpers -----------------------------------------------------------------

  private normalizeUrl(id: NodeId, raw: string): string {
    let url: URL;
    try {
      url = new URL(raw);
    } catch (error) {
      // URL throws TypeError for an unparsable string: configuration input, not our bug.
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `peer ${id}: address '${raw}' is not a URL`, { cause: error });
    }
    const schemes: Record<string, string> = { 'http:': 'ws:', 'ws:': 'ws:', 'https:': 'wss:', 'wss:': 'wss:' };
    const scheme = schemes[url.protocol];
    if (scheme === undefined) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `peer ${id}: address '${raw}' must use ws, wss, http or https`);
    url.protocol = this.tls !== null ? 'wss:' : scheme;
    if (url.pathname === '' || url.pathname === '/') url.pathname = this.path;
    return url.toString();
  }

  private logOnce(key: string, level: 'warn' | 'info', message: string, fields?: Record<string, unknown>): void {
    if (this.loggedOnce.has(key)) return;
    if (this.loggedOnce.size >= MAX_LOGGED_ONCE) this.loggedOnce.delete(this.loggedOnce.values().next().value!);
    this.loggedOnce.add(key);
    this.logger[level](message, { node: this.nodeId, ...fields });
  }
}

function validateOptions(nodeId: string, clusterId: string, secret: Uint8Array, limits: TransportLimits, path: string): void {
  const invalid = (field: string, why: string): TsraftError => new TsraftError('TSR_ERR_INVALID_ARGUMENT', `transport ${field} ${why}`, { details: { field } });
  if (nodeId.length === 0 || nodeId.length > 255) throw invalid('nodeId', 'must be 1–255 characters');
  if (clusterId.length === 0 || clusterId.length > 255) throw invalid('clusterId', 'must be 1–255 characters');
  if (secret.length < MIN_SECRET_BYTES) throw invalid('secret', `must be at least ${MIN_SECRET_BYTES} bytes`);
  if (!path.startsWith('/')) throw invalid('path', "must start with '/'");
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) throw invalid(`limits.${name}`, `must be a positive integer, not ${value}`);
  }
  if (limits.maxFrameBytes < 64 * 1024) throw invalid('limits.maxFrameBytes', 'must be at least 64 KiB');
  if (limits.maxQueuedBytesPerPeer < limits.maxFrameBytes) throw invalid('limits.maxQueuedBytesPerPeer', 'must be at least maxFrameBytes');
  if (limits.maxReconnectDelayMs < limits.minReconnectDelayMs) throw invalid('limits.maxReconnectDelayMs', 'must be at least minReconnectDelayMs');
}

function readTlsFiles(tls: TlsFiles): { cert: Buffer; key: Buffer; ca: Buffer | undefined } {
  const read = (field: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `transport tls.${field}: cannot read '${path}': ${(error as Error).message}`, { cause: error, details: { field: `tls.${field}` } });
    }
  };
  return { cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile), ca: tls.caFile === undefined ? undefined : read('caFile', tls.caFile) };
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return new Uint8Array(Buffer.concat(data));
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A stable per-node seed for reconnect jitter when no PRNG is injected. */
function seedFrom(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
