// The peer handshake (docs/transport.md, "Handshake"): mutual challenge–
// response with HMAC-SHA256 keyed by the cluster secret. Both sides prove they
// hold the secret over both fresh nonces; the secret never crosses the wire.
//
//   client → server  hello      [protocol, clusterId, clientId, serverId, clientNonce]
//   server → client  challenge  [serverNonce, serverProof]
//   client → server  proof      [clientProof]
//   server → client  welcome    []
//   either → other   reject     [code, message]   then close
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { assert, type ErrorCode } from '../errors.js';
import { buildFrame, decodeCbor, FrameKind, MAX_ID_CHARS } from './frame-codec.js';

export const HANDSHAKE_PROTOCOL = 1;
export const NONCE_BYTES = 32;
export const PROOF_BYTES = 32;
/** Handshake frames are tiny; anything larger before authentication is refused. */
export const MAX_HANDSHAKE_FRAME_BYTES = 4096;
/** Secrets shorter than this are refused at configuration time. */
export const MIN_SECRET_BYTES = 16;
const MAX_REJECT_MESSAGE_CHARS = 512;

export type ProofRole = 'server' | 'client';

/** What both proofs are computed over. */
export interface HandshakeContext {
  clusterId: string;
  clientId: string;
  serverId: string;
  clientNonce: Uint8Array;
  serverNonce: Uint8Array;
}

export interface Hello {
  protocol: number;
  clusterId: string;
  clientId: string;
  serverId: string;
  clientNonce: Uint8Array;
}

export function newNonce(): Uint8Array {
  return new Uint8Array(randomBytes(NONCE_BYTES));
}

/**
 * HMAC-SHA256(secret, label | len-prefixed clusterId, serverId, clientId |
 * clientNonce | serverNonce). The label differs per role, so a server's proof
 * can never be replayed as a client's; each nonce is fresh per connection, so
 * no proof can be replayed on another connection.
 */
export function computeProof(secret: Uint8Array, role: ProofRole, context: HandshakeContext): Uint8Array {
  assert(context.clientNonce.length === NONCE_BYTES && context.serverNonce.length === NONCE_BYTES, 'computeProof: nonce length');
  const hmac = createHmac('sha256', secret);
  hmac.update(role === 'server' ? 'tsraft-peer-v1 server proof' : 'tsraft-peer-v1 client proof');
  for (const field of [context.clusterId, context.serverId, context.clientId]) {
    const bytes = Buffer.from(field, 'utf8');
    const length = Buffer.alloc(2);
    length.writeUInt16BE(bytes.length);
    hmac.update(length).update(bytes);
  }
  hmac.update(context.clientNonce).update(context.serverNonce);
  return new Uint8Array(hmac.digest());
}

export function proofMatches(secret: Uint8Array, role: ProofRole, context: HandshakeContext, proof: Uint8Array): boolean {
  if (proof.length !== PROOF_BYTES) return false;
  return timingSafeEqual(computeProof(secret, role, context), proof);
}

export const encodeHello = (hello: Hello): Uint8Array =>
  buildFrame(FrameKind.hello, [hello.protocol, hello.clusterId, hello.clientId, hello.serverId, hello.clientNonce]);
export const encodeChallenge = (serverNonce: Uint8Array, serverProof: Uint8Array): Uint8Array => buildFrame(FrameKind.challenge, [serverNonce, serverProof]);
export const encodeProof = (clientProof: Uint8Array): Uint8Array => buildFrame(FrameKind.proof, [clientProof]);
export const encodeWelcome = (): Uint8Array => buildFrame(FrameKind.welcome, []);
export const encodeReject = (code: ErrorCode, message: string): Uint8Array => buildFrame(FrameKind.reject, [code, message.slice(0, MAX_REJECT_MESSAGE_CHARS)]);

const isString = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isBytesOf = (v: unknown, length: number): v is Uint8Array => v instanceof Uint8Array && v.length === length;

function payloadArray(payload: Uint8Array, length: number): unknown[] | null {
  const decoded = decodeCbor(payload);
  if (decoded === undefined || !Array.isArray(decoded.value) || decoded.value.length !== length) return null;
  return decoded.value as unknown[];
}

/** The hello, or null when it does not fit the schema (a protocol error). */
export function decodeHello(payload: Uint8Array): Hello | null {
  const items = payloadArray(payload, 5);
  if (items === null) return null;
  const [protocol, clusterId, clientId, serverId, clientNonce] = items;
  if (typeof protocol !== 'number' || !Number.isSafeInteger(protocol)) return null;
  if (!isString(clusterId, MAX_ID_CHARS) || !isString(clientId, MAX_ID_CHARS) || !isString(serverId, MAX_ID_CHARS) || !isBytesOf(clientNonce, NONCE_BYTES)) return null;
  return { protocol, clusterId, clientId, serverId, clientNonce };
}

export function decodeChallenge(payload: Uint8Array): { serverNonce: Uint8Array; serverProof: Uint8Array } | null {
  const items = payloadArray(payload, 2);
  if (items === null || !isBytesOf(items[0], NONCE_BYTES) || !isBytesOf(items[1], PROOF_BYTES)) return null;
  return { serverNonce: items[0], serverProof: items[1] };
}

export function decodeProof(payload: Uint8Array): Uint8Array | null {
  const items = payloadArray(payload, 1);
  return items !== null && isBytesOf(items[0], PROOF_BYTES) ? items[0] : null;
}

export function decodeReject(payload: Uint8Array): { code: string; message: string } | null {
  const items = payloadArray(payload, 2);
  if (items === null || !isString(items[0], 64) || typeof items[1] !== 'string') return null;
  return { code: items[0], message: items[1].slice(0, MAX_REJECT_MESSAGE_CHARS) };
}

/** Whether a hello is acceptable to this server; the refusal names why. */
export function checkHello(hello: Hello, self: { nodeId: string; clusterId: string }): { code: ErrorCode; message: string } | null {
  if (hello.protocol !== HANDSHAKE_PROTOCOL) {
    return { code: 'TSR_ERR_PEER_PROTOCOL', message: `peer protocol ${hello.protocol} is not supported (this node speaks ${HANDSHAKE_PROTOCOL})` };
  }
  if (hello.clusterId !== self.clusterId) {
    return { code: 'TSR_ERR_PEER_CLUSTER_MISMATCH', message: `cluster id '${hello.clusterId}' does not match this node's cluster` };
  }
  if (hello.serverId !== self.nodeId) {
    return { code: 'TSR_ERR_PEER_WRONG_NODE', message: `dialed node '${hello.serverId}' but reached node '${self.nodeId}'` };
  }
  if (hello.clientId === self.nodeId) {
    return { code: 'TSR_ERR_PEER_PROTOCOL', message: `peer claims this node's own id '${self.nodeId}'` };
  }
  return null;
}
