// Client tokens (docs/protocol.md, "Authentication"). A node configured with
// tokens refuses clients without one of them: a WebSocket upgrade gets HTTP
// 401, an HTTP request OpenTSDB's error object with 401; a read-only token
// that writes gets TSR_ERR_FORBIDDEN. With no tokens configured the API is
// open (read-write for everyone), as OpenTSDB's is.
//
// A token may come as `Authorization: Bearer <token>`, as the password (or,
// with an empty password, the user) of HTTP Basic auth (tcollector and
// Grafana send Basic auth), or as the `token` query parameter (browsers
// cannot set headers on a WebSocket). Tokens are compared by SHA-256 digest
// with a constant-time comparison.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TsraftError, assert } from '../errors.js';

export type TokenAccess = 'read-only' | 'read-write';

export interface ClientToken {
  token: string;
  access: TokenAccess;
  /** For logs only. */
  name?: string;
}

/** What an authenticated (or open) client may do. */
export type Access = TokenAccess;

/** Shortest token accepted in configuration, bytes. */
export const MIN_TOKEN_BYTES = 16;
const MAX_TOKEN_CHARS = 1024;

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class TokenAuth {
  private readonly entries: Array<{ digest: Buffer; access: TokenAccess }>;

  constructor(tokens: readonly ClientToken[] = []) {
    this.entries = tokens.map((t) => {
      if (Buffer.byteLength(t.token, 'utf8') < MIN_TOKEN_BYTES) {
        throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `client token ${t.name ?? ''} is shorter than ${MIN_TOKEN_BYTES} bytes`, { details: { field: 'tokens' } });
      }
      assert(t.access === 'read-only' || t.access === 'read-write', `bad token access ${String(t.access)}`);
      return { digest: digest(t.token), access: t.access };
    });
  }

  /** Whether clients must present a token. */
  get required(): boolean {
    return this.entries.length > 0;
  }

  /** The access a presented token grants, or null for none / an unknown one. */
  accessOfToken(token: string | null): Access | null {
    if (!this.required) return 'read-write';
    if (token === null || token.length === 0 || token.length > MAX_TOKEN_CHARS) return null;
    const d = digest(token);
    let found: Access | null = null;
    // Compare against every entry so timing does not reveal which matched.
    for (const e of this.entries) if (timingSafeEqual(d, e.digest)) found = e.access;
    return found;
  }

  /** Access of an HTTP request (or WebSocket upgrade) from its headers and URL. */
  accessOf(headers: IncomingHttpHeaders, url: URL): Access | null {
    return this.accessOfToken(tokenFromRequest(headers, url));
  }
}

export function tokenFromRequest(headers: IncomingHttpHeaders, url: URL): string | null {
  const authorization = headers.authorization;
  if (typeof authorization === 'string') {
    const space = authorization.indexOf(' ');
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
    const rest = space < 0 ? '' : authorization.slice(space + 1).trim();
    if (scheme === 'bearer') return rest;
    if (scheme === 'basic') {
      const decoded = Buffer.from(rest, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return decoded;
      const password = decoded.slice(colon + 1);
      return password !== '' ? password : decoded.slice(0, colon);
    }
  }
  return url.searchParams.get('token');
}

export function unauthorized(): TsraftError {
  return new TsraftError('TSR_ERR_UNAUTHORIZED', 'a valid client token is required (Authorization: Bearer <token>, Basic auth, or ?token=)', {
    details: {},
  });
}

export function forbidden(operation: string): TsraftError {
  return new TsraftError('TSR_ERR_FORBIDDEN', `the token is read-only and cannot ${operation}`, { details: { operation } });
}
