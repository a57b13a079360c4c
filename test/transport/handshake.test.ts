import { describe, expect, it } from 'vitest';
import { parseFrame } from '../../src/transport/frame-codec.js';
import { checkHello, computeProof, decodeHello, encodeHello, HANDSHAKE_PROTOCOL, newNonce, proofMatches } from '../../src/transport/handshake.js';

const secret = new TextEncoder().encode('correct horse battery staple');
const context = { clusterId: 'c1', clientId: 'n1', serverId: 'n2', clientNonce: newNonce(), serverNonce: newNonce() };

describe('peer handshake proofs', () => {
  it('accepts a proof made with the same secret over the same nonces', () => {
    expect(proofMatches(secret, 'client', context, computeProof(secret, 'client', context))).toBe(true);
  });

  it('rejects a proof made with another secret', () => {
    const other = new TextEncoder().encode('incorrect horse battery staple');
    expect(proofMatches(secret, 'client', context, computeProof(other, 'client', context))).toBe(false);
  });

  it('rejects a server proof replayed as a client proof', () => {
    expect(proofMatches(secret, 'client', context, computeProof(secret, 'server', context))).toBe(false);
  });

  it('rejects a proof replayed on a connection with other nonces', () => {
    const replayed = computeProof(secret, 'client', context);
    expect(proofMatches(secret, 'client', { ...context, serverNonce: newNonce() }, replayed)).toBe(false);
  });

  it('binds the proof to the cluster and both node ids', () => {
    const proof = computeProof(secret, 'client', context);
    expect(proofMatches(secret, 'client', { ...context, clusterId: 'c2' }, proof)).toBe(false);
    expect(proofMatches(secret, 'client', { ...context, clientId: 'n3' }, proof)).toBe(false);
  });
});

describe('hello checks', () => {
  const self = { nodeId: 'n2', clusterId: 'c1' };
  const hello = { protocol: HANDSHAKE_PROTOCOL, clusterId: 'c1', clientId: 'n1', serverId: 'n2', clientNonce: newNonce() };

  it('round-trips a hello through its frame', () => {
    const parsed = parseFrame(encodeHello(hello), 4096);
    expect(parsed.ok && decodeHello(parsed.payload)).toEqual({ ...hello, clientNonce: expect.any(Uint8Array) });
  });

  it('accepts a hello for this node and cluster', () => {
    expect(checkHello(hello, self)).toBeNull();
  });

  it('refuses another cluster, another node, another protocol or our own id', () => {
    expect(checkHello({ ...hello, clusterId: 'c9' }, self)?.code).toBe('TSR_ERR_PEER_CLUSTER_MISMATCH');
    expect(checkHello({ ...hello, serverId: 'n3' }, self)?.code).toBe('TSR_ERR_PEER_WRONG_NODE');
    expect(checkHello({ ...hello, protocol: 99 }, self)?.code).toBe('TSR_ERR_PEER_PROTOCOL');
    expect(checkHello({ ...hello, clientId: 'n2' }, self)?.code).toBe('TSR_ERR_PEER_PROTOCOL');
  });
});
