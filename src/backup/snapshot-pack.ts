// A captured state machine snapshot as a backup: its manifest, and the whole
// pack (the Raft snapshot payload of BackupFormatStateMachine), in memory or
// written out as it is cut, and back: a pack verified and rebuilt into the
// exact snapshot bytes.
import { assert } from '../errors.js';
import { BACKUP_FORMAT, BACKUP_FORMAT_VERSION, corruptBackup, sha256Hex, type FileRole } from './constants.js';
import { exportBackupFiles, type ExportOptions, type ExportSummary, type TssmParts } from './export.js';
import { decodeManifest, encodeManifest, sealManifest, type BackupManifest, type ManifestFile, type Membership } from './manifest.js';
import { PackWriter, encodePack, unpackSync, type PackEntry } from './pack.js';
import { rebuildStateBytes, type RebuildResult } from './rebuild.js';
import { MemorySource } from './source.js';

/** What the node knows about a captured state beyond the state itself. */
export interface CaptureInfo {
  clusterId: string;
  nodeId: string;
  /** The Raft index the state is exactly at. */
  raftIndex: number;
  /** Term of that entry; null when unknown (the Raft snapshot metadata has it). */
  raftTerm: number | null;
  membership: Membership | null;
  /** Wall-clock time of the capture, Unix ms (informational). */
  createdAtMs: number;
  /** The state digest of the captured state (docs/backup-service.md), recorded in the manifest when given. */
  stateDigest?: { algorithm: string; index: number; digest: string };
}

export interface ListedFile {
  name: string;
  role: FileRole;
  bytes: number;
  sha256: string;
}

export function backupIdOf(clusterId: string, raftIndex: number, stateSha256: string): string {
  return sha256Hex(new TextEncoder().encode(`${clusterId}\n${raftIndex}\n${stateSha256}`)).slice(0, 32);
}

/** The manifest of a full, unencrypted backup of a captured state. */
export function manifestFor(summary: ExportSummary, files: readonly ListedFile[], info: CaptureInfo): BackupManifest {
  assert(info.raftIndex >= summary.appliedIndex, `capture: raft index ${info.raftIndex} is below the state machine's applied index ${summary.appliedIndex}`);
  const entries: ManifestFile[] = files.map((f) => ({ name: f.name, role: f.role, bytes: f.bytes, sha256: f.sha256, location: 'here' }));
  return sealManifest({
    format: BACKUP_FORMAT,
    formatVersion: BACKUP_FORMAT_VERSION,
    backupId: backupIdOf(info.clusterId, info.raftIndex, summary.stateSha256),
    createdAt: new Date(info.createdAtMs).toISOString(),
    clusterId: info.clusterId,
    source: { nodeId: info.nodeId },
    raft: { index: info.raftIndex, term: info.raftTerm, membership: info.membership },
    leaderTimeMs: summary.lastLeaderTimeMs,
    leaderTime: new Date(summary.lastLeaderTimeMs).toISOString(),
    seriesCount: summary.seriesCount,
    pointCount: summary.pointCount,
    state: {
      format: 'TSSM',
      formatVersion: 1,
      appliedIndex: summary.appliedIndex,
      bytes: summary.stateBytes,
      sha256: summary.stateSha256,
      stateHash: summary.stateHash,
    },
    layout: summary.layout,
    encryption: null,
    base: null,
    files: entries,
    ...(info.stateDigest === undefined ? {} : { stateDigest: info.stateDigest }),
  });
}

export interface PackedState {
  pack: Uint8Array;
  manifest: BackupManifest;
}

/** The whole pack of a state, in memory. Files with the same content (rare:
 *  two identical group files) are stored once. */
export function packState(tssm: Uint8Array, info: CaptureInfo, options: ExportOptions = {}): PackedState {
  const generator = exportBackupFiles(tssm, options);
  const files = new Map<string, PackEntry>();
  const listed = new Map<string, ListedFile>();
  let step = generator.next();
  while (step.done !== true) {
    const f = step.value;
    if (f !== null) {
      files.set(f.name, { name: f.name, bytes: f.bytes });
      listed.set(f.name, { name: f.name, role: f.role, bytes: f.bytes.length, sha256: f.id });
    }
    step = generator.next();
  }
  const manifest = manifestFor(step.value, [...listed.values()], info);
  return { pack: encodePack([...files.values()], encodeManifest(manifest)), manifest };
}

export interface WrittenPack {
  sizeBytes: number;
  manifest: BackupManifest;
}

/**
 * The pack of a state written to `write` as it is cut (PackWriter): memory
 * holds one group's pages and files (and one series' snapshot when `tssm`
 * is streamed), never the pack. The bytes are packState()'s for the same
 * state. `pause`, when given, is awaited every `seriesPerPause` series, so
 * an event loop runs while a large group is cut.
 */
export async function writePackedState(
  tssm: Uint8Array | TssmParts,
  info: CaptureInfo,
  options: ExportOptions,
  write: (chunk: Uint8Array) => Promise<void>,
  pause: { every: number; wait: () => Promise<void> } | null = null,
): Promise<WrittenPack> {
  assert(pause === null || (Number.isSafeInteger(pause.every) && pause.every >= 1), 'writePackedState: pause.every must be ≥ 1');
  const generator = exportBackupFiles(tssm, options);
  const writer = new PackWriter(write);
  const listed = new Map<string, ListedFile>();
  await writer.start();
  let seriesSincePause = 0;
  let step = generator.next();
  while (step.done !== true) {
    const f = step.value;
    if (f === null) {
      if (pause !== null && ++seriesSincePause >= pause.every) {
        seriesSincePause = 0;
        await pause.wait();
      }
    } else {
      await writer.file(f.name, f.bytes);
      listed.set(f.name, { name: f.name, role: f.role, bytes: f.bytes.length, sha256: f.id });
    }
    step = generator.next();
  }
  const manifest = manifestFor(step.value, [...listed.values()], info);
  const sizeBytes = await writer.finish(encodeManifest(manifest));
  return { sizeBytes, manifest };
}

export interface UnpackedState {
  tssm: Uint8Array;
  manifest: BackupManifest;
  result: RebuildResult;
}

/** Verifies a pack end to end and rebuilds the exact snapshot bytes. */
export function unpackState(pack: Uint8Array): UnpackedState {
  const unpacked = unpackSync(pack);
  const manifest = decodeManifest(unpacked.manifest, 'pack:manifest.json');
  if (unpacked.refs.size > 0) throw corruptBackup('pack', `refers to ${unpacked.refs.size} file(s) it does not hold: only a full pack can be restored from memory`);
  const listed = new Set(manifest.files.map((f) => f.name));
  for (const name of unpacked.files.keys()) if (!listed.has(name)) throw corruptBackup(`pack:${name}`, 'the pack holds a file its manifest does not list');
  const { tssm, result } = rebuildStateBytes(new MemorySource(manifest, unpacked.files));
  return { tssm, manifest, result };
}
