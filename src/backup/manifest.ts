// manifest.json (docs/backup-format.md, "manifest.json"): what a backup holds,
// the size and SHA-256 of every file, and a SHA-256 over the manifest itself.
// The file must be the canonical serialisation (sorted keys, two-space
// indentation, final newline), so no byte of it can change unnoticed.
import { TsraftError, rethrowIfBug } from '../errors.js';
import {
  BACKUP_FORMAT,
  BACKUP_FORMAT_VERSION,
  FILE_ROLES,
  HEX_DIGEST,
  corruptBackup,
  layoutProblem,
  sha256Hex,
  type BackupLayout,
  type FileRole,
} from './constants.js';

export interface Membership {
  voters: string[];
  learners: string[];
  peerUrls: Record<string, string>;
}

export interface ManifestFile {
  /** Path inside a backup directory: data/<hex>.<ext>. */
  name: string;
  role: FileRole;
  /** Size of the stored bytes (ciphertext when encrypted). */
  bytes: number;
  /** SHA-256 of the stored bytes, hex. */
  sha256: string;
  location: 'here' | 'base';
}

export interface EncryptionInfo {
  algorithm: 'AES-256-GCM';
  kdf: 'HKDF-SHA256';
  keyCheck: string;
}

export interface BaseReference {
  /** The base directory, relative to this backup's directory. */
  path: string;
  backupId: string;
  manifestSha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  formatVersion: number;
  backupId: string;
  createdAt: string;
  clusterId: string;
  source: { nodeId: string };
  raft: { index: number; term: number | null; membership: Membership | null };
  leaderTimeMs: number;
  leaderTime: string;
  seriesCount: number;
  pointCount: number;
  state: { format: 'TSSM'; formatVersion: number; appliedIndex: number; bytes: number; sha256: string; stateHash: string };
  layout: BackupLayout;
  encryption: EncryptionInfo | null;
  base: BaseReference | null;
  files: ManifestFile[];
  totals: { files: number; bytes: number; storedBytes: number; reusedBytes: number };
  /** Scheduled backups only (docs/backup-service.md): the state digest at raft.index. */
  stateDigest?: { algorithm: string; index: number; digest: string };
  /** Scheduled backups only: the schedule slot and attempt that took it. */
  schedule?: { slot: number; attempt: number; kind: 'full' | 'incremental' };
  manifestSha256: string;
}

export type UnsealedManifest = Omit<BackupManifest, 'manifestSha256' | 'totals'>;

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

/** Sorts the files, computes the totals and the manifest hash. */
export function sealManifest(draft: UnsealedManifest): BackupManifest {
  const files = [...draft.files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let bytes = 0;
  let storedBytes = 0;
  for (const f of files) {
    bytes += f.bytes;
    if (f.location === 'here') storedBytes += f.bytes;
  }
  const body = { ...draft, files, totals: { files: files.length, bytes, storedBytes, reusedBytes: bytes - storedBytes } };
  return { ...body, manifestSha256: sha256Hex(new TextEncoder().encode(canonicalJson(body))) };
}

export function encodeManifest(manifest: BackupManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(manifest));
}

/** Parses and fully checks manifest bytes; `file` names it in errors. */
export function decodeManifest(bytes: Uint8Array, file: string): BackupManifest {
  let text: string;
  let parsed: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // TextDecoder reports bad UTF-8 with a TypeError: here it is bad input, not a bug.
    throw corruptBackup(file, 'manifest is not valid UTF-8');
  }
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    rethrowIfBug(error);
    throw corruptBackup(file, `manifest is not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw corruptBackup(file, 'manifest is not a JSON object');
  const m = parsed as Record<string, unknown>;
  // Integrity first: a flipped byte anywhere (even in the version) is corruption.
  const newer = m.formatVersion !== BACKUP_FORMAT_VERSION ? ` (or it was written by a tsraft that reads format version ${JSON.stringify(m.formatVersion)})` : '';
  if (canonicalJson(m) !== text) throw corruptBackup(file, `manifest was edited: it is not in canonical form (sorted keys, two-space indentation, final newline)${newer}`);
  const { manifestSha256, ...body } = m;
  const expected = sha256Hex(new TextEncoder().encode(canonicalJson(body)));
  if (manifestSha256 !== expected) throw corruptBackup(file, `manifest was edited: its manifestSha256 does not match its contents${newer}`);
  if (m.format !== BACKUP_FORMAT) throw corruptBackup(file, `not a tsraft backup manifest (format ${JSON.stringify(m.format)})`);
  if (m.formatVersion !== BACKUP_FORMAT_VERSION) {
    throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `${file}: backup format version ${JSON.stringify(m.formatVersion)} is not supported (this build reads ${BACKUP_FORMAT_VERSION})`, { details: { file } });
  }
  checkShape(m, file);
  return m as unknown as BackupManifest;
}

// ---------------------------------------------------------------------------
// Shape checks: a manifest with a valid hash but a wrong shape is a writer bug
// or a forgery; either way it must not reach the code that trusts it.

type Check = (value: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string';
const isHex: Check = (v) => typeof v === 'string' && HEX_DIGEST.test(v);
const isCount: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isNullableCount: Check = (v) => v === null || isCount(v);
const isStringList: Check = (v) => Array.isArray(v) && v.every(isString);

function checkShape(m: Record<string, unknown>, file: string): void {
  const fail = (field: string): never => {
    throw corruptBackup(file, `manifest field ${field} is missing or malformed`, { field });
  };
  const need = (value: unknown, field: string, check: Check): void => {
    if (!check(value)) fail(field);
  };
  const obj = (value: unknown, field: string): Record<string, unknown> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field);
    return value as Record<string, unknown>;
  };
  need(m.backupId, 'backupId', (v) => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v));
  need(m.createdAt, 'createdAt', isString);
  need(m.clusterId, 'clusterId', isString);
  need(obj(m.source, 'source').nodeId, 'source.nodeId', isString);
  const raft = obj(m.raft, 'raft');
  need(raft.index, 'raft.index', isCount);
  need(raft.term, 'raft.term', isNullableCount);
  if (raft.membership !== null) {
    const membership = obj(raft.membership, 'raft.membership');
    need(membership.voters, 'raft.membership.voters', isStringList);
    need(membership.learners, 'raft.membership.learners', isStringList);
    const urls = obj(membership.peerUrls, 'raft.membership.peerUrls');
    for (const [id, url] of Object.entries(urls)) need(url, `raft.membership.peerUrls.${id}`, isString);
  }
  need(m.leaderTimeMs, 'leaderTimeMs', isCount);
  need(m.leaderTime, 'leaderTime', isString);
  need(m.seriesCount, 'seriesCount', isCount);
  need(m.pointCount, 'pointCount', isCount);
  const state = obj(m.state, 'state');
  need(state.format, 'state.format', (v) => v === 'TSSM');
  need(state.formatVersion, 'state.formatVersion', isCount);
  need(state.appliedIndex, 'state.appliedIndex', isCount);
  need(state.bytes, 'state.bytes', isCount);
  need(state.sha256, 'state.sha256', isHex);
  need(state.stateHash, 'state.stateHash', (v) => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v));
  const layout = obj(m.layout, 'layout');
  if (layoutProblem(layout as unknown as BackupLayout) !== null) fail('layout');
  if (m.encryption !== null) {
    const enc = obj(m.encryption, 'encryption');
    need(enc.algorithm, 'encryption.algorithm', (v) => v === 'AES-256-GCM');
    need(enc.kdf, 'encryption.kdf', (v) => v === 'HKDF-SHA256');
    need(enc.keyCheck, 'encryption.keyCheck', (v) => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v));
  }
  if (m.base !== null) {
    const base = obj(m.base, 'base');
    need(base.path, 'base.path', (v) => typeof v === 'string' && v !== '');
    need(base.backupId, 'base.backupId', isString);
    need(base.manifestSha256, 'base.manifestSha256', isHex);
  }
  if (!Array.isArray(m.files)) fail('files');
  const names = new Set<string>();
  let indexFiles = 0;
  let previous = '';
  for (const [i, entry] of (m.files as unknown[]).entries()) {
    const f = obj(entry, `files[${i}]`);
    need(f.name, `files[${i}].name`, (v) => typeof v === 'string' && /^data\/[0-9a-f]{64}\.(idx|grp|seg|ses)$/.test(v));
    need(f.role, `files[${i}].role`, (v) => FILE_ROLES.includes(v as FileRole));
    need(f.bytes, `files[${i}].bytes`, isCount);
    need(f.sha256, `files[${i}].sha256`, isHex);
    need(f.location, `files[${i}].location`, (v) => v === 'here' || v === 'base');
    const name = f.name as string;
    if (names.has(name) || name <= previous) fail(`files[${i}].name (duplicate or out of order)`);
    names.add(name);
    previous = name;
    if (f.location === 'base' && m.base === null) fail(`files[${i}].location (base without a base backup)`);
    if (f.role === 'index') indexFiles++;
  }
  if (indexFiles !== 1) fail('files (exactly one index file)');
  const totals = obj(m.totals, 'totals');
  for (const k of ['files', 'bytes', 'storedBytes', 'reusedBytes']) need(totals[k], `totals.${k}`, isCount);
  if (m.stateDigest !== undefined) {
    const d = obj(m.stateDigest, 'stateDigest');
    need(d.algorithm, 'stateDigest.algorithm', isString);
    need(d.index, 'stateDigest.index', isCount);
    need(d.digest, 'stateDigest.digest', (v) => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v));
  }
  if (m.schedule !== undefined) {
    const sch = obj(m.schedule, 'schedule');
    need(sch.slot, 'schedule.slot', isCount);
    need(sch.attempt, 'schedule.attempt', isCount);
    need(sch.kind, 'schedule.kind', (v) => v === 'full' || v === 'incremental');
  }
}
