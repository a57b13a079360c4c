// The node side of `tsraft backup create`: `POST /api/backup/snapshot` (or
// GET) on the client HTTP port streams a consistent backup of the state as a
// pack (docs/backup-format.md, "The node's backup endpoint").
//
// Consistency: a linearizable read barrier first (the backup holds every write
// acknowledged before the request), then, in one turn of the event loop, a copy
// of the state machine snapshot together with the Raft index, term and
// membership it is exactly at. Streaming then proceeds file by file with
// backpressure, yielding to the event loop between files, so writes continue.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { unauthorized, type TokenAuth } from '../api/auth.js';
import { readBody, type HttpServer, type RouteHandler } from '../api/http-server.js';
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import type { ApplyResult } from '../tsdb/state-machine.js';
import type { TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import type { BackupRecorder } from '../metrics/backup-history.js';
import type { Replica } from '../replica/replica.js';
import { HEX_DIGEST, MANIFEST_FILE, fromHex, layoutProblem, sha256, type BackupLayout } from './constants.js';
import { exportBackupFiles } from './export.js';
import { encodeManifest, type Membership } from './manifest.js';
import { PACK_TYPE_FILE, PACK_TYPE_MANIFEST, PACK_TYPE_REF, encodePackEnd, encodePackHeader, encodePackRecordHeader } from './pack.js';
import { PageCache } from './series-pages.js';
import { manifestFor, type CaptureInfo, type ListedFile } from './snapshot-pack.js';

export const BACKUP_ROUTE_PATH = '/api/backup/snapshot';
export const PACK_CONTENT_TYPE = 'application/vnd.tsraft.backup-pack';
/** The request body lists content ids (~67 bytes each in JSON). */
export const MAX_BACKUP_REQUEST_BYTES = 16 * 1024 * 1024;

export interface BackupCapture {
  /** TimeSeriesStateMachine.snapshot() bytes. */
  tssm: Uint8Array;
  info: CaptureInfo;
}

/** What the route needs from a node. */
export interface BackupRouteSource {
  /** Resolves once this node has applied every entry committed when it was
   *  called (a linearizable read barrier); rejects when that cannot be confirmed. */
  readBarrier(): Promise<void>;
  /** Synchronous: the state machine snapshot and the Raft position it is at. */
  capture(): BackupCapture;
  /** Throws (TSR_ERR_UNAUTHORIZED / TSR_ERR_FORBIDDEN) to refuse a request. */
  authorize?(req: IncomingMessage): void;
}

export interface BackupRouteOptions {
  /** Backup streams served at once; more get TSR_ERR_BACKUP_IN_PROGRESS. Default 1; 1–16. */
  maxConcurrentBackups?: number;
  /** Page bytes of sealed blocks kept between backups, so a later backup
   *  cuts only the blocks that changed. Default 64 MiB; 0 disables. */
  pageCacheBytes?: number;
  /** Told how each stream ended (the node's backup metrics and GET /backups). */
  recorder?: BackupRecorder;
}

interface BackupRequest {
  have: Set<string>;
  layout: BackupLayout | null;
}

function invalid(message: string, field: string): TsraftError {
  return new TsraftError('TSR_ERR_INVALID_ARGUMENT', message, { details: { field } });
}

function parseRequest(body: Buffer): BackupRequest {
  if (body.length === 0) return { have: new Set(), layout: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    rethrowIfBug(error);
    throw invalid(`the request body is not valid JSON (${(error as Error).message})`, 'body');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalid('the request body must be a JSON object {"have": [...], "layout": {...}}', 'body');
  const { have, layout } = parsed as { have?: unknown; layout?: unknown };
  const ids = new Set<string>();
  if (have !== undefined) {
    if (!Array.isArray(have) || !have.every((id) => typeof id === 'string' && HEX_DIGEST.test(id))) throw invalid('have must be a list of content ids (64 lowercase hex digits)', 'have');
    for (const id of have as string[]) ids.add(id);
  }
  let chosen: BackupLayout | null = null;
  if (layout !== undefined && layout !== null) {
    const l = layout as BackupLayout;
    const candidate = { pagesPerBlock: l.pagesPerBlock, seriesPerGroup: l.seriesPerGroup, minSegmentBytes: l.minSegmentBytes };
    const problem = layoutProblem(candidate);
    if (problem !== null) throw invalid(`layout: ${problem}`, 'layout');
    chosen = candidate;
  }
  return { have: ids, layout: chosen };
}

/** res.write with backpressure; rejects when the client went away. */
function writeChunk(res: ServerResponse, chunk: Uint8Array): Promise<void> {
  if (res.destroyed || res.writableEnded) return Promise.reject(new TsraftError('TSR_ERR_BACKUP_STREAM', 'the client closed the backup stream'));
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const onDrain = (): void => {
      res.off('close', onClose);
      resolvePromise();
    };
    const onClose = (): void => {
      res.off('drain', onDrain);
      reject(new TsraftError('TSR_ERR_BACKUP_STREAM', 'the client closed the backup stream'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolvePromise) => setImmediate(resolvePromise));

export function createBackupHandler(source: BackupRouteSource, options: BackupRouteOptions = {}): RouteHandler {
  const maxConcurrent = options.maxConcurrentBackups ?? 1;
  assert(Number.isSafeInteger(maxConcurrent) && maxConcurrent >= 1 && maxConcurrent <= 16, `maxConcurrentBackups ${maxConcurrent} outside [1, 16]`);
  let active = 0;
  const cacheBytes = options.pageCacheBytes ?? 64 * 1024 * 1024;
  const cache = cacheBytes > 0 ? new PageCache(1_000_000, cacheBytes) : null;
  return async ({ req, res, method }) => {
    source.authorize?.(req);
    if (active >= maxConcurrent) {
      throw new TsraftError('TSR_ERR_BACKUP_IN_PROGRESS', `this node already streams ${active} backup(s); retry when it finishes`, { details: { active, limit: maxConcurrent } });
    }
    active++;
    try {
      const request = method === 'POST' ? parseRequest(await readBody(req, MAX_BACKUP_REQUEST_BYTES)) : { have: new Set<string>(), layout: null };
      await source.readBarrier();
      const startedAtMs = Date.now();
      const { tssm, info } = source.capture();
      const progress: StreamProgress = { sentBytes: 0, backupId: null };
      const report = (outcome: 'success' | 'failure', error?: unknown): void => {
        options.recorder?.record({
          id: progress.backupId ?? `unfinished-${info.raftIndex}-${startedAtMs}`,
          startedAtMs,
          durationSeconds: (Date.now() - startedAtMs) / 1000,
          sizeBytes: progress.sentBytes,
          raftIndex: info.raftIndex,
          outcome,
          verification: 'not-verified',
          kind: request.have.size > 0 ? 'incremental' : 'full',
          ...(error === undefined ? {} : { error: (error as Error).message }),
        });
      };
      try {
        await streamPack(res, tssm, info, request, cache, progress);
      } catch (error) {
        report('failure', error);
        throw error;
      }
      report('success');
    } finally {
      active--;
    }
  };
}

interface StreamProgress {
  sentBytes: number;
  /** Known once the manifest is built. */
  backupId: string | null;
}

async function streamPack(res: ServerResponse, tssm: Uint8Array, info: CaptureInfo, request: BackupRequest, cache: PageCache | null, progress: StreamProgress): Promise<void> {
  const write = (r: ServerResponse, chunk: Uint8Array): Promise<void> => {
    progress.sentBytes += chunk.length;
    return writeChunk(r, chunk);
  };
  const files = exportBackupFiles(tssm, { layout: request.layout, cache });
  res.writeHead(200, {
    'Content-Type': PACK_CONTENT_TYPE,
    'Cache-Control': 'no-store',
    'X-Tsraft-Backup-Index': String(info.raftIndex),
    'X-Tsraft-Backup-State-Bytes': String(tssm.length),
  });
  await write(res, encodePackHeader());
  const listed = new Map<string, ListedFile>();
  let records = 0;
  let step = files.next();
  while (step.done !== true) {
    const f = step.value;
    if (f === null) {
      // Between series: let the node serve writes, reads and heartbeats.
      await yieldToEventLoop();
      step = files.next();
      continue;
    }
    if (!listed.has(f.name)) {
      listed.set(f.name, { name: f.name, role: f.role, bytes: f.bytes.length, sha256: f.id });
      records++;
      if (request.have.has(f.id)) {
        await write(res, encodePackRecordHeader(PACK_TYPE_REF, f.name, f.bytes.length, fromHex(f.id)));
      } else {
        await write(res, encodePackRecordHeader(PACK_TYPE_FILE, f.name, f.bytes.length, fromHex(f.id)));
        await write(res, f.bytes);
      }
    }
    await yieldToEventLoop();
    step = files.next();
  }
  const sealed = manifestFor(step.value, [...listed.values()], info);
  progress.backupId = sealed.backupId;
  const manifest = encodeManifest(sealed);
  await write(res, encodePackRecordHeader(PACK_TYPE_MANIFEST, MANIFEST_FILE, manifest.length, sha256(manifest)));
  await write(res, manifest);
  await write(res, encodePackEnd(records + 1));
  res.end();
}

export function registerBackupRoutes(server: HttpServer, source: BackupRouteSource, options: BackupRouteOptions = {}): void {
  server.route(['GET', 'POST'], BACKUP_ROUTE_PATH, createBackupHandler(source, options));
}

export interface NodeBackupParts {
  replica: Pick<Replica<ApplyResult>, 'readBarrier' | 'status' | 'termAt' | 'appliedIndex'>;
  stateMachine: Pick<TimeSeriesStateMachine, 'snapshot' | 'appliedIndex'> & Partial<Pick<TimeSeriesStateMachine, 'stateDigest'>>;
  clusterId: string;
  nodeId: string;
  /** The node's client tokens: a backup holds every point, so it needs a
   *  valid token (read-only is enough: it could read every point anyway). */
  auth?: Pick<TokenAuth, 'accessOf'>;
}

/** The BackupRouteSource of a running node (src/node wires it). */
export function nodeBackupSource(parts: NodeBackupParts): BackupRouteSource {
  const { replica, stateMachine } = parts;
  return {
    readBarrier: async () => {
      await replica.readBarrier({ consistency: 'linearizable' });
    },
    capture: () => {
      const status = replica.status();
      const raftIndex = replica.appliedIndex;
      const tssm = stateMachine.snapshot();
      // Every backup records the digest of its state (docs/backup-service.md): same turn, same state.
      const digest = stateMachine.stateDigest?.() ?? null;
      assert(stateMachine.appliedIndex <= raftIndex, `state machine applied ${stateMachine.appliedIndex} beyond the replica's ${raftIndex}`);
      const membership: Membership = { voters: [], learners: [], peerUrls: {} };
      for (const m of status.members) {
        (m.role === 'learner' ? membership.learners : membership.voters).push(m.id);
        membership.peerUrls[m.id] = m.url;
      }
      membership.voters.sort();
      membership.learners.sort();
      return {
        tssm,
        info: {
          clusterId: parts.clusterId,
          nodeId: parts.nodeId,
          raftIndex,
          raftTerm: replica.termAt(raftIndex) ?? status.term,
          membership,
          createdAtMs: Date.now(),
          ...(digest === null ? {} : { stateDigest: { algorithm: digest.algorithm, index: digest.index, digest: digest.digest } }),
        },
      };
    },
    authorize: (req) => {
      if (parts.auth === undefined) return;
      if (parts.auth.accessOf(req.headers, new URL(req.url ?? '/', 'http://node')) === null) throw unauthorized();
    },
  };
}
