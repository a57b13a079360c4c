// Client endpoint URLs: a node is named by its client HTTP URL
// (http://host:port), its WebSocket URL (ws://host:port/ws) or host:port;
// all become the WebSocket URL the client dials.
import { TsraftError } from '../errors.js';

export function toWebSocketUrl(endpoint: string): string {
  let text = endpoint.trim();
  if (!/^[a-z]+:\/\//i.test(text)) text = `http://${text}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `endpoint ${JSON.stringify(endpoint)} is not a URL or host:port`, { details: { field: 'endpoints' } });
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `endpoint ${JSON.stringify(endpoint)} must be http(s):// or ws(s)://`, { details: { field: 'endpoints' } });
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws';
  url.search = '';
  url.hash = '';
  return url.toString();
}

/** The leader's WebSocket URL from a NOT_LEADER error or a hello, if known. */
export function leaderUrlFrom(details: Record<string, unknown>): string | null {
  const candidate = details.leaderClientUrl ?? details.leaderUrl;
  if (typeof candidate !== 'string' || candidate === '') return null;
  // A peer URL (the replica's leaderUrl) is not a client endpoint.
  if (details.leaderClientUrl === undefined && /^wss?:/.test(candidate)) return null;
  try {
    return toWebSocketUrl(candidate);
  } catch {
    return null;
  }
}
