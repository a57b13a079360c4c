// A minimal JSON-over-HTTP helper for the CLI's admin commands (status,
// cluster membership) and the dev launcher's readiness probes. Every request
// has a deadline; an endpoint that cannot be reached is TSR_ERR_UNREACHABLE.
import { TsraftError, rethrowIfBug } from '../errors.js';

export interface JsonResponse {
  status: number;
  body: unknown;
}

/** Largest response body read, bytes: status documents are small. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export async function requestJson(url: string, options: { method?: string; body?: unknown; timeoutMs: number }): Promise<JsonResponse> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: options.method ?? 'GET',
      headers: options.body === undefined ? {} : { 'content-type': 'application/json' },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs),
    });
  } catch (error) {
    rethrowIfBug(isFetchFailure(error) ? null : error);
    const name = (error as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new TsraftError('TSR_ERR_TIMEOUT', `${url} did not answer within ${options.timeoutMs} ms`, { cause: error, details: { url } });
    }
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new TsraftError('TSR_ERR_UNREACHABLE', `cannot reach ${url} (${cause?.code ?? cause?.message ?? (error as Error).message})`, { cause: error, details: { endpoints: [url] } });
  }
  const text = await response.text();
  if (text.length > MAX_RESPONSE_BYTES) throw new TsraftError('TSR_ERR_INTERNAL', `${url} answered with more than ${MAX_RESPONSE_BYTES} bytes`);
  let body: unknown = null;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  return { status: response.status, body };
}

/** fetch() reports network failures as TypeError('fetch failed'): not our bug. */
function isFetchFailure(error: unknown): boolean {
  return error instanceof TypeError && /fetch failed/.test(error.message);
}

/** The TsraftError a JSON error body `{"error": {code, message, details}}` describes, or null. */
export function errorFromBody(body: unknown): { code: string; message: string; details: Record<string, unknown> } | null {
  if (typeof body !== 'object' || body === null) return null;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return null;
  const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
  if (typeof code !== 'string') return null;
  return { code, message: typeof message === 'string' ? message : code, details: typeof details === 'object' && details !== null ? (details as Record<string, unknown>) : {} };
}

/** Join an endpoint (`http://host:port`, with or without a trailing slash) and a path. */
export function endpointUrl(endpoint: string, path: string): string {
  return endpoint.replace(/\/+$/, '') + path;
}
