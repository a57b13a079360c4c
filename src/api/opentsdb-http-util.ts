// Helpers of the OpenTSDB-compatible endpoints: request bodies (gzip or
// deflate accepted, as OpenTSDB 2.2+ does, bounded after decoding), replies,
// and OpenTSDB's error object:
//
//   {"error":{"code":<HTTP status>,"message":"...","details":"..."}}
//
// `details` is a string in OpenTSDB; here it starts with the tsraft error
// code (TSR_ERR_...), followed by the error's details as JSON when it has any.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { TsraftError, rethrowIfBug } from '../errors.js';
import { unauthorized, type Access, type TokenAuth } from './auth.js';

export interface OpenTsdbErrorBody {
  error: { code: number; message: string; details: string };
}

export function openTsdbErrorBody(error: TsraftError): OpenTsdbErrorBody {
  const extra = Object.keys(error.details).length > 0 ? ` ${JSON.stringify(error.details)}` : '';
  return { error: { code: error.httpStatus, message: error.message, details: `${error.code}${extra}` } };
}

function asTsraftError(error: unknown): TsraftError {
  if (error instanceof TsraftError) return error;
  return new TsraftError('TSR_ERR_INTERNAL', 'internal error; see the node log', { cause: error });
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'application/json; charset=UTF-8', headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}

export function sendOpenTsdbJson(res: ServerResponse, status: number, body: string): void {
  sendText(res, status, body);
}

export function sendNoContent(res: ServerResponse): void {
  if (res.headersSent) return;
  res.writeHead(204);
  res.end();
}

export function sendOpenTsdbError(res: ServerResponse, error: unknown): void {
  const e = asTsraftError(error);
  const headers: Record<string, string> = e.code === 'TSR_ERR_UNAUTHORIZED' ? { 'WWW-Authenticate': 'Basic realm="tsraft"' } : {};
  sendText(res, e.httpStatus, JSON.stringify(openTsdbErrorBody(e)), 'application/json; charset=UTF-8', headers);
}

/** Runs an endpoint: OpenTSDB-shaped errors for typed failures; bugs are
 *  answered with 500 and re-thrown so the process crashes loudly. */
export async function runEndpoint(res: ServerResponse, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof TsraftError) {
      sendOpenTsdbError(res, error);
      return;
    }
    sendOpenTsdbError(res, new TsraftError('TSR_ERR_INTERNAL', 'internal error; see the node log'));
    rethrowIfBug(error);
    throw error;
  }
}

export function requireAccess(auth: TokenAuth, req: IncomingMessage, url: URL): Access {
  const access = auth.accessOf(req.headers, url);
  if (access === null) throw unauthorized();
  return access;
}

function bodyTooLarge(maxBytes: number): TsraftError {
  return new TsraftError('TSR_ERR_BODY_TOO_LARGE', `the request body exceeds ${maxBytes} bytes`, { details: { limitBytes: maxBytes } });
}

/** The body as text; gzip/deflate Content-Encoding decoded; more than
 *  `maxBytes` (before or after decoding) is TSR_ERR_BODY_TOO_LARGE. */
export async function readTextBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw bodyTooLarge(maxBytes);
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let source: NodeJS.ReadableStream = req;
  let decoder: Transform | null = null;
  if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip();
  else if (encoding === 'deflate') decoder = createInflate();
  else if (encoding !== 'identity' && encoding !== '') {
    req.resume();
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `unsupported Content-Encoding ${JSON.stringify(encoding)} (gzip, deflate or none)`, { details: { field: 'Content-Encoding' } });
  }
  if (decoder !== null) source = req.pipe(decoder);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of source) {
      const buffer = chunk as Buffer;
      total += buffer.length;
      if (total > maxBytes) {
        req.resume();
        decoder?.destroy();
        throw bodyTooLarge(maxBytes);
      }
      chunks.push(buffer);
    }
  } catch (error) {
    if (error instanceof TsraftError) throw error;
    rethrowIfBug(error);
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `the request body could not be read (${(error as Error).message})`, { details: { field: 'body' } });
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

/** OpenTSDB reads a flag as present, unless its value is "false". */
export function flag(url: URL, ...names: string[]): boolean {
  for (const name of names) {
    if (!url.searchParams.has(name)) continue;
    const value = url.searchParams.get(name)!.toLowerCase();
    if (value !== 'false' && value !== '0') return true;
  }
  return false;
}
