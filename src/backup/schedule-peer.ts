// Node-to-node maintenance requests over the client HTTP port
// (docs/backup-service.md, "Maintenance routes"): a taker that is no longer
// the leader sends its backup record to the leader, nodes compare state
// digests, the scrubber fetches a healthy copy of a segment. They are
// authenticated with the cluster secret every member holds:
//
//   X-Tsraft-Peer: <nodeId> <unix ms> <hex HMAC-SHA256(secret, "tsraft-maintenance-v1\n" +
//                  method + "\n" + path?query + "\n" + nodeId + "\n" + unix ms + "\n" + hex SHA-256(body))>
//
// A request more than MAX_CLOCK_SKEW_MS away from the receiver's clock, from
// a node id outside the configuration, or with a wrong HMAC gets 401.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ERROR_CODES, TsraftError, rethrowIfBug, type ErrorCode } from '../errors.js';

export const PEER_HEADER = 'x-tsraft-peer';
const DOMAIN = 'tsraft-maintenance-v1';
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

function mac(secret: Uint8Array, method: string, path: string, nodeId: string, timeMs: number, body: Uint8Array): string {
  const bodyHash = createHash('sha256').update(body).digest('hex');
  return createHmac('sha256', secret).update(`${DOMAIN}\n${method}\n${path}\n${nodeId}\n${timeMs}\n${bodyHash}`).digest('hex');
}

export function signPeerRequest(secret: Uint8Array, nodeId: string, method: string, path: string, body: Uint8Array, nowMs: number): string {
  return `${nodeId} ${nowMs} ${mac(secret, method, path, nodeId, nowMs, body)}`;
}

/** The authenticated sender's node id; throws TSR_ERR_UNAUTHORIZED. */
export function verifyPeerRequest(secret: Uint8Array, req: IncomingMessage, body: Uint8Array, isMember: (nodeId: string) => boolean, nowMs: number): string {
  const header = req.headers[PEER_HEADER];
  const parts = typeof header === 'string' ? header.split(' ') : [];
  const refuse = (why: string): never => {
    throw new TsraftError('TSR_ERR_UNAUTHORIZED', `maintenance request refused: ${why}`);
  };
  if (parts.length !== 3) refuse(`missing or malformed ${PEER_HEADER} header`);
  const [nodeId, timeText, given] = parts as [string, string, string];
  const timeMs = Number(timeText);
  if (!Number.isSafeInteger(timeMs) || Math.abs(nowMs - timeMs) > MAX_CLOCK_SKEW_MS) refuse('the request time is too far from this node\'s clock');
  if (!isMember(nodeId)) refuse(`${nodeId} is not a member of this cluster`);
  const expected = Buffer.from(mac(secret, req.method ?? 'GET', req.url ?? '/', nodeId, timeMs, body), 'hex');
  const got = Buffer.from(/^[0-9a-f]{64}$/.test(given) ? given : '', 'hex');
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) refuse('wrong signature (another cluster secret?)');
  return nodeId;
}

export interface PeerResponse {
  status: number;
  body: Buffer;
}

export interface PeerRequestOptions {
  baseUrl: string;
  method: 'GET' | 'POST';
  /** Path with query. */
  path: string;
  body?: Uint8Array;
  secret: Uint8Array;
  nodeId: string;
  timeoutMs: number;
  maxResponseBytes: number;
}

/** Sends a signed request; network failures are TSR_ERR_PEER_UNAVAILABLE. */
export function peerRequest(options: PeerRequestOptions): Promise<PeerResponse> {
  const url = new URL(options.path, options.baseUrl);
  const body = options.body ?? new Uint8Array(0);
  const headers: Record<string, string | number> = {
    [PEER_HEADER]: signPeerRequest(options.secret, options.nodeId, options.method, url.pathname + url.search, body, Date.now()),
    'content-length': body.length,
  };
  if (body.length > 0) headers['content-type'] = 'application/octet-stream';
  const requester = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolvePromise, reject) => {
    const fail = (why: string, cause?: unknown): void =>
      reject(new TsraftError('TSR_ERR_PEER_UNAVAILABLE', `${url.origin}${url.pathname}: ${why}`, { ...(cause === undefined ? {} : { cause }), details: { url: url.origin } }));
    const req = requester(url, { method: options.method, headers, timeout: options.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxResponseBytes) {
          res.destroy();
          fail(`the answer exceeds ${options.maxResponseBytes} bytes`);
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', (error) => fail(error.message, error));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on('error', (error) => fail((error as NodeJS.ErrnoException).code ?? error.message, error));
    req.end(body);
  });
}

/** The TsraftError a JSON error answer carries (or a generic one). */
export function errorOfAnswer(answer: PeerResponse, what: string): TsraftError {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    const code = parsed.error?.code;
    if (typeof code === 'string' && code in ERROR_CODES) return new TsraftError(code as ErrorCode, `${what}: ${parsed.error?.message ?? code}`, { details: parsed.error?.details ?? {} });
  } catch (error) {
    rethrowIfBug(error);
  }
  return new TsraftError('TSR_ERR_PEER_UNAVAILABLE', `${what}: HTTP ${answer.status}`);
}
