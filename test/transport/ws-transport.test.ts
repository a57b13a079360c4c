// WsTransport over real loopback sockets (127.0.0.1, port 0).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HeartbeatMsg, Message } from '../../src/raft/types.js';
import { buildFrame, buildMessagesFrame, encodeCbor, encodeMessage, FrameKind, parseFrame } from '../../src/transport/frame-codec.js';
import { computeProof, decodeChallenge, encodeHello, encodeProof, HANDSHAKE_PROTOCOL, newNonce } from '../../src/transport/handshake.js';
import { WsTransport, type TransportLimits, type WsTransportOptions } from '../../src/transport/ws-transport.js';
import { systemClock, type Clock } from '../../src/util/clock.js';
import { SeededPrng } from '../../src/util/prng.js';

const SECRET = 'a cluster secret of sufficient length';

interface Node {
  transport: WsTransport;
  url: string;
  port: number;
  received: Message[];
  logs: string[];
}

const started: WsTransport[] = [];

async function startNode(nodeId: string, options: Partial<WsTransportOptions> & { port?: number; limits?: Partial<TransportLimits> } = {}): Promise<Node> {
  const logs: string[] = [];
  const transport = new WsTransport({
    nodeId,
    clusterId: 'cluster-1',
    secret: SECRET,
    prng: new SeededPrng(1),
    logger: { warn: (m) => logs.push(m), info: (m) => logs.push(m) },
    ...options,
    limits: { minReconnectDelayMs: 20, maxReconnectDelayMs: 200, ...options.limits },
  });
  started.push(transport);
  const received: Message[] = [];
  transport.onMessage((m) => received.push(m));
  const { url, port } = await transport.listen(options.port ?? 0);
  return { transport, url, port, received, logs };
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.close()));
});

/** Wait until `condition` holds; fail naming `what` after a generous deadline. */
async function waitFor(what: string, condition: () => boolean, deadlineMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const heartbeat = (from: string, to: string, commit = 1): HeartbeatMsg => ({ type: 'heartbeat', from, to, term: 1, commit, readRound: 0 });

function append(from: string, to: string, dataBytes: number, index = 1): Message {
  return { type: 'append', from, to, term: 2, prevIndex: index - 1, prevTerm: 1, commit: 0, entries: [{ index, term: 2, kind: 'normal', data: new Uint8Array(dataBytes).fill(index % 256) }] };
}

async function connectedPair(limitsA: Partial<TransportLimits> = {}, limitsB: Partial<TransportLimits> = {}): Promise<[Node, Node]> {
  const a = await startNode('a', { limits: limitsA });
  const b = await startNode('b', { limits: limitsB });
  a.transport.setPeers({ b: b.url });
  b.transport.setPeers({ a: a.url });
  await waitFor('a single connection each way', () => {
    const [sa, sb] = [a.transport.stats().peers.b, b.transport.stats().peers.a];
    return sa?.connected === true && sb?.connected === true && sa.connections === 1 && sb.connections === 1;
  });
  return [a, b];
}

describe('WsTransport over loopback', () => {
  it('delivers messages both ways over one connection per pair, content intact', async () => {
    const [a, b] = await connectedPair();
    const sent = append('a', 'b', 1000, 7);
    a.transport.send([sent]);
    b.transport.send([heartbeat('b', 'a', 9)]);
    await waitFor('both messages', () => a.received.length === 1 && b.received.length === 1);
    expect(a.received[0]).toEqual(heartbeat('b', 'a', 9));
    const got = b.received[0] as Extract<Message, { type: 'append' }>;
    expect({ ...got, entries: got.entries.map((e) => ({ ...e, data: [...e.data] })) }).toEqual({ ...sent, entries: (sent as typeof got).entries.map((e) => ({ ...e, data: [...e.data] })) });
    expect(a.transport.stats().peers.b!.connections).toBe(1);
    expect(b.transport.stats().peers.a!.connections).toBe(1);
  });

  it('answers over the inbound connection of a peer it has no address for', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    a.transport.setPeers({ b: b.url });
    a.transport.send([heartbeat('a', 'b')]);
    await waitFor('b hears a', () => b.received.length === 1);
    b.transport.send([heartbeat('b', 'a')]);
    await waitFor('a hears b', () => a.received.length === 1);
  });

  it('batches many sends in one event-loop turn into one frame', async () => {
    const [a, b] = await connectedPair();
    const framesBefore = a.transport.stats().peers.b!.framesSent;
    const receivedBefore = b.transport.stats().peers.a!.framesReceived;
    for (let i = 1; i <= 200; i++) a.transport.send([heartbeat('a', 'b', i)]);
    await waitFor('200 messages', () => b.received.length === 200);
    expect(a.transport.stats().peers.b!.framesSent - framesBefore).toBe(1);
    expect(b.transport.stats().peers.a!.framesReceived - receivedBefore).toBe(1);
    expect(b.received.map((m) => (m as HeartbeatMsg).commit)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('splits a queue larger than one frame into several frames', async () => {
    const [a, b] = await connectedPair({ maxFrameBytes: 64 * 1024 });
    for (let i = 1; i <= 10; i++) a.transport.send([append('a', 'b', 20_000, i)]);
    await waitFor('10 appends', () => b.received.length === 10);
    expect(a.transport.stats().peers.b!.framesSent).toBeGreaterThanOrEqual(4);
  });

  it('reconnects after the peer restarts', async () => {
    const [a, b] = await connectedPair();
    a.transport.send([heartbeat('a', 'b')]);
    await waitFor('first delivery', () => b.received.length === 1);
    await b.transport.close();
    await waitFor('a notices', () => a.transport.stats().peers.b!.connected === false);
    const b2 = await startNode('b', { port: b.port });
    b2.transport.setPeers({ a: a.url });
    await waitFor('reconnected', () => a.transport.stats().peers.b!.connected);
    a.transport.send([heartbeat('a', 'b', 2)]);
    await waitFor('delivery after restart', () => b2.received.length === 1);
    expect(a.transport.stats().peers.b!.reconnects).toBeGreaterThanOrEqual(1);
  });

  it('refuses a peer without the cluster secret, counts it and logs the reason once per peer', async () => {
    const a = await startNode('a');
    const intruder = await startNode('x', { secret: 'some other secret of enough length' });
    a.transport.setPeers({ x: intruder.url });
    intruder.transport.setPeers({ a: a.url });
    intruder.transport.send([heartbeat('x', 'a')]);
    a.transport.send([heartbeat('a', 'x')]);
    // Several redials: still refused, still logged once.
    await waitFor('repeated refusals', () => a.transport.stats().authFailures >= 4 && intruder.transport.stats().authFailures >= 4);
    expect(a.received).toEqual([]);
    expect(intruder.received).toEqual([]);
    expect(a.transport.stats().peers.x?.connected).toBe(false);
    const authLogs = a.logs.filter((line) => line.includes('TSR_ERR_PEER_AUTH_FAILED'));
    expect(authLogs.length).toBeGreaterThanOrEqual(1);
    expect(new Set(authLogs).size).toBe(authLogs.length); // no line repeated
    expect(authLogs.length).toBeLessThanOrEqual(2); // one as server, one as client
    expect(authLogs.some((line) => line.includes('x'))).toBe(true);
  });

  it('refuses a peer of another cluster even with the right secret', async () => {
    const a = await startNode('a');
    const stranger = await startNode('s', { clusterId: 'cluster-2' });
    stranger.transport.setPeers({ a: a.url });
    stranger.transport.send([heartbeat('s', 'a')]);
    await waitFor('refusals on both sides', () => a.transport.stats().authFailures >= 2 && stranger.transport.stats().authFailures >= 2);
    expect(a.received).toEqual([]);
    expect(a.logs.filter((line) => line.includes('TSR_ERR_PEER_CLUSTER_MISMATCH'))).toHaveLength(1);
    expect(stranger.logs.filter((line) => line.includes('TSR_ERR_PEER_CLUSTER_MISMATCH'))).toHaveLength(1);
  });

  it('refuses a connection that reaches a different node than the one dialed', async () => {
    const a = await startNode('a');
    const c = await startNode('c');
    a.transport.setPeers({ b: c.url }); // misconfigured: b's address points at c
    a.transport.send([heartbeat('a', 'b')]);
    await waitFor('refusal', () => a.logs.some((line) => line.includes('TSR_ERR_PEER_WRONG_NODE')));
    expect(c.received).toEqual([]);
  });

  it('refuses an oversized frame without crashing and recovers', async () => {
    const [a, b] = await connectedPair({ maxFrameBytes: 1024 * 1024 }, { maxFrameBytes: 64 * 1024 });
    a.transport.send([append('a', 'b', 200_000, 1)]);
    await waitFor('b refuses the frame', () => b.transport.stats().oversizedFrames >= 1);
    // The connection was closed with 1009; a redials and small messages flow again.
    await waitFor('small message delivered', () => {
      a.transport.send([heartbeat('a', 'b', 5)]);
      return b.received.some((m) => m.type === 'heartbeat');
    });
    expect(b.received.some((m) => m.type === 'append')).toBe(false);
  });

  it('drops a message larger than its own frame limit instead of sending it', async () => {
    const [a, b] = await connectedPair({ maxFrameBytes: 64 * 1024 });
    a.transport.send([append('a', 'b', 100_000, 1), heartbeat('a', 'b')]);
    await waitFor('the heartbeat', () => b.received.length === 1);
    expect(a.transport.stats().droppedMessages['too-large']).toBe(1);
  });

  it('drops and counts malformed frames and messages from an authenticated peer', async () => {
    const a = await startNode('a');
    const raw = await rawAuthenticatedClient(a.url, 'r', 'a');
    raw.send(Uint8Array.of(1, FrameKind.messages, 0xff, 0xff)); // not CBOR
    raw.send(Uint8Array.of(9, FrameKind.messages, 0x80)); // unknown version
    raw.send(buildFrame(77 as never, [])); // unknown frame kind
    raw.send('a text frame');
    raw.send(buildFrame(FrameKind.messages, { not: 'an array' }));
    const mixed = encodeCbor([
      [7, 'r', 'a', 1, 1, 0], // valid
      [7, 'r', 'a', 'one', 1, 0], // malformed
      [7, 'mallory', 'a', 1, 1, 0], // spoofed sender
      [7, 'r', 'b', 1, 1, 0], // addressed to someone else
    ]);
    raw.send(concat(Uint8Array.of(1, FrameKind.messages), mixed));
    await waitFor('the valid message', () => a.received.length === 1);
    const stats = a.transport.stats();
    expect(a.received[0]).toEqual({ type: 'heartbeat', from: 'r', to: 'a', term: 1, commit: 1, readRound: 0 });
    expect(stats.malformedFrames).toBe(5);
    expect(stats.droppedMessages.malformed).toBe(1);
    expect(stats.droppedMessages.misaddressed).toBe(2);
    // Still connected and serving: a valid frame after the garbage is delivered.
    raw.send(buildMessagesFrame([encodeMessage(heartbeat('r', 'a', 2))]));
    await waitFor('a later valid message', () => a.received.length === 2);
    raw.close();
  });

  it('refuses a peer that skips the handshake', async () => {
    const a = await startNode('a');
    const ws = new WebSocket(a.url);
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(buildMessagesFrame([encodeMessage(heartbeat('r', 'a'))]));
    expect(await closed).toBe(4003);
    expect(a.received).toEqual([]);
    expect(a.transport.stats().handshakeFailures).toBe(1);
  });

  it('bounds the per-peer queue: heartbeats go first, then new messages are dropped', async () => {
    const b = await startNode('b');
    const a = await startNode('a', { limits: { maxQueuedMessagesPerPeer: 10 } });
    a.transport.setPeers({ b: b.url });
    // All in one turn, before the connection exists: everything waits in the queue.
    for (let i = 1; i <= 5; i++) a.transport.send([heartbeat('a', 'b', i)]);
    for (let i = 1; i <= 12; i++) a.transport.send([append('a', 'b', 10, i)]);
    a.transport.send([heartbeat('a', 'b', 99)]);
    const queued = a.transport.stats();
    expect(queued.peers.b!.queuedMessages).toBe(10);
    expect(queued.droppedMessages['heartbeat-evicted']).toBe(5);
    expect(queued.droppedMessages['queue-full']).toBe(3); // appends 11, 12 and the last heartbeat
    await waitFor('the queued ten delivered', () => b.received.length === 10);
    expect(b.received.map((m) => m.type)).toEqual(Array(10).fill('append'));
    expect(a.transport.stats().peers.b!.queuedMessages).toBe(0);
  });

  it('shares an existing HTTP server with another WebSocket route', async () => {
    const server = createServer((_req, res) => res.end('ok'));
    const other = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req, socket, head) => {
      if (req.url === '/ws') other.handleUpgrade(req, socket, head, (ws) => ws.send('hello from /ws'));
    });
    const shared = new WsTransport({ nodeId: 'a', clusterId: 'cluster-1', secret: SECRET, logger: { warn() {}, info() {} } });
    started.push(shared);
    const received: Message[] = [];
    shared.onMessage((m) => received.push(m));
    shared.attach(server, '/peers');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const b = await startNode('b');
      b.transport.setPeers({ a: `ws://127.0.0.1:${port}/peers` });
      b.transport.send([heartbeat('b', 'a')]);
      await waitFor('delivery on the shared server', () => received.length === 1);
      const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      const greeting = await new Promise<string>((resolve) => client.once('message', (data: Buffer) => resolve(data.toString())));
      expect(greeting).toBe('hello from /ws');
      client.close();
      await shared.close();
      expect(server.listening).toBe(true); // the caller owns the server
    } finally {
      other.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('close() stops dialing, connections, timers and servers', async () => {
    const timers = countingClock();
    const [a, b] = await connectedPair();
    const lonely = await startNode('l', { clock: timers.clock });
    lonely.transport.setPeers({ a: a.url, gone: 'ws://127.0.0.1:1/raft' }); // nothing listens on port 1
    await waitFor('lonely connected to a and redialing gone', () => lonely.transport.stats().peers.a?.connected === true && timers.live() > 0);
    const handlesBefore = tcpHandles();
    await Promise.all([a.transport.close(), b.transport.close(), lonely.transport.close()]);
    expect(timers.live()).toBe(0);
    await waitFor('sockets released', () => tcpHandles() <= handlesBefore - 3);
    lonely.transport.send([heartbeat('l', 'a')]);
    expect(lonely.transport.stats().droppedMessages.closed).toBeGreaterThanOrEqual(1);
  });
});

describe('WsTransport with TLS', () => {
  let certDir: string | null = null;
  const opensslAvailable = (() => {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  beforeAll(async () => {
    if (!opensslAvailable) {
      console.warn('openssl is not installed: the TLS test is skipped');
      return;
    }
    certDir = await mkdtemp(join(tmpdir(), 'tsraft-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return async () => {
      if (certDir !== null) await rm(certDir, { recursive: true, force: true });
    };
  });

  it.skipIf(!opensslAvailable)('exchanges messages over wss when a certificate and key are configured', async () => {
    const tls = { certFile: join(certDir!, 'cert.pem'), keyFile: join(certDir!, 'key.pem'), caFile: join(certDir!, 'cert.pem') };
    const a = await startNode('a', { tls });
    const b = await startNode('b', { tls });
    expect(a.url.startsWith('wss://')).toBe(true);
    a.transport.setPeers({ b: b.url.replace('wss:', 'ws:') }); // rewritten to wss because TLS is on
    b.transport.setPeers({ a: a.url });
    a.transport.send([heartbeat('a', 'b')]);
    await waitFor('delivery over TLS', () => b.received.length === 1);
    b.transport.send([heartbeat('b', 'a')]);
    await waitFor('reply over TLS', () => a.received.length === 1);
  });

  it.skipIf(!opensslAvailable)('refuses a plain-text peer connection on a TLS port', async () => {
    const tls = { certFile: join(certDir!, 'cert.pem'), keyFile: join(certDir!, 'key.pem') };
    const a = await startNode('a', { tls });
    const plain = await startNode('p');
    plain.transport.setPeers({ a: a.url.replace('wss:', 'ws:') });
    plain.transport.send([heartbeat('p', 'a')]);
    await waitFor('a failed dial', () => (plain.transport.stats().peers.a?.dialFailures ?? 0) >= 1);
    expect(a.received).toEqual([]);
  });
});

// ---- helpers ------------------------------------------------------------------

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A bare WebSocket that performs the client side of the handshake by hand. */
async function rawAuthenticatedClient(url: string, clientId: string, serverId: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  const frames: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  ws.on('message', (data: Buffer) => {
    frames.push(new Uint8Array(data));
    wake?.();
  });
  const next = async (): Promise<Uint8Array> => {
    while (frames.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return frames.shift()!;
  };
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const clientNonce = newNonce();
  ws.send(encodeHello({ protocol: HANDSHAKE_PROTOCOL, clusterId: 'cluster-1', clientId, serverId, clientNonce }));
  const challengeFrame = parseFrame(await next(), 4096);
  if (!challengeFrame.ok || challengeFrame.kind !== FrameKind.challenge) throw new Error('expected a challenge');
  const challenge = decodeChallenge(challengeFrame.payload)!;
  const context = { clusterId: 'cluster-1', clientId, serverId, clientNonce, serverNonce: challenge.serverNonce };
  ws.send(encodeProof(computeProof(new TextEncoder().encode(SECRET), 'client', context)));
  const welcome = parseFrame(await next(), 4096);
  if (!welcome.ok || welcome.kind !== FrameKind.welcome) throw new Error('expected a welcome');
  return ws;
}

/** The system clock, counting timers that are set and neither fired nor cancelled. */
function countingClock(): { clock: Clock; live: () => number } {
  let live = 0;
  const clock: Clock = {
    nowMs: () => systemClock.nowMs(),
    setTimer(delayMs, fn) {
      live += 1;
      let done = false;
      const finish = (): void => {
        if (!done) live -= 1;
        done = true;
      };
      const cancel = systemClock.setTimer(delayMs, () => {
        finish();
        fn();
      });
      return () => {
        finish();
        cancel();
      };
    },
  };
  return { clock, live: () => live };
}

function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name.startsWith('TCP')).length;
}
