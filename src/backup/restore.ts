// `tsraft backup restore DIR --config NODE_CONFIG` and `tsraft dev
// --restore-from DIR`: seeds one node's data directory from a verified backup,
// optionally rolled forward by the log archive to a point in time. The node
// then starts from that snapshot exactly as after a restart
// (docs/backup-format.md, "Rebuilding the state"). Run it for every founding
// node of the new cluster: each gets the same snapshot and membership.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NodeConfig } from '../config/types.js';
import { TsraftError, assert } from '../errors.js';
import type { ConfigState, SnapshotMeta } from '../raft/types.js';
import { FileSnapshotStore } from '../storage/file-snapshot-store.js';
import { LevelRaftLogStore } from '../storage/level-log-store.js';
import { TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import { sha256Hex } from './constants.js';
import type { BackupKey } from './crypto.js';
import { writeFileAtomically } from './fs-util.js';
import type { BackupManifest } from './manifest.js';
import { replayArchive, type ReplayResult, type RestoreTarget } from './pitr.js';
import { rebuildStateBytes } from './rebuild.js';
import { DirectorySource } from './source.js';

/** Subfolders of a node's data directory; must equal src/node/node.ts DB_FOLDER and SNAPSHOT_FOLDER. */
export const NODE_DB_FOLDER = 'db';
export const NODE_SNAPSHOT_FOLDER = 'snapshots';
/** A marker describing where the data came from (informational). */
export const RESTORED_FROM_FILE = 'restored-from.json';

export type RestoreNodeConfig = Pick<NodeConfig, 'nodeId' | 'clusterId' | 'dataDir' | 'peers' | 'join'>;

export interface RestoreOptions {
  key?: BackupKey | null;
  /** Replace existing data in the node's data directory. */
  force?: boolean;
  /** Allow the new cluster to keep the source cluster's id (only when the source is gone). */
  keepClusterId?: boolean;
  /** Roll forward to this target with the log archive. */
  until?: RestoreTarget | null;
  archiveDir?: string | null;
  onProgress?: (readBytes: number, totalBytes: number) => void;
}

export interface RestoreResult {
  dataDir: string;
  manifest: BackupManifest;
  /** Raft index and term of the restored snapshot. */
  index: number;
  term: number;
  seriesCount: number;
  pointCount: number;
  stateBytes: number;
  stateHash: string;
  replay: ReplayResult | null;
}

function hasData(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/** The rebuilt, verified state of a backup, rolled forward when asked. */
export function restoredState(backupDir: string, options: RestoreOptions = {}): { tssm: Uint8Array; manifest: BackupManifest; index: number; term: number; replay: ReplayResult | null } {
  const source = DirectorySource.open(backupDir, { key: options.key ?? null });
  const manifest = source.manifest;
  const total = manifest.totals.bytes;
  let tssm: Uint8Array = rebuildStateBytes(source, (read) => options.onProgress?.(read, total)).tssm;
  let index = manifest.raft.index;
  let term = Math.max(1, manifest.raft.term ?? 1);
  let replay: ReplayResult | null = null;
  if (options.until != null) {
    if (options.archiveDir == null) throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', '--until needs --archive DIR (the log archive of the source cluster)', { details: { field: 'archive', usage: true } });
    const sm = TimeSeriesStateMachine.restore(tssm);
    replay = replayArchive(sm, index, term, resolve(options.archiveDir), options.until, manifest.clusterId);
    if (replay.replayedEntries > 0) {
      tssm = sm.snapshot();
      index = replay.index;
      term = Math.max(term, replay.term);
    }
  }
  return { tssm, manifest, index, term, replay };
}

/** Seeds `nodeConfig.dataDir` from a backup (see the file comment). */
export async function restoreIntoDataDir(backupDir: string, nodeConfig: RestoreNodeConfig, options: RestoreOptions = {}): Promise<RestoreResult> {
  if (nodeConfig.join) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `node ${nodeConfig.nodeId} is configured to join a running cluster; restore the founding members only (a joining node receives the data from the leader)`, { details: { field: 'join' } });
  }
  const voters = Object.keys(nodeConfig.peers).sort();
  if (!voters.includes(nodeConfig.nodeId)) {
    throw new TsraftError('TSR_ERR_INVALID_ARGUMENT', `node ${nodeConfig.nodeId} is not among the founding members (peers) of its configuration`, { details: { field: 'peers' } });
  }
  const dataDir = resolve(nodeConfig.dataDir);
  const dbDir = join(dataDir, NODE_DB_FOLDER);
  const snapshotDir = join(dataDir, NODE_SNAPSHOT_FOLDER);
  // Refuse early, before the (long) rebuild.
  if ((hasData(dbDir) || hasData(snapshotDir)) && options.force !== true) {
    throw new TsraftError('TSR_ERR_TARGET_NOT_EMPTY', `the data directory ${dataDir} of node ${nodeConfig.nodeId} already holds data; pass --force to replace it`, { details: { dir: dataDir } });
  }
  const state = restoredState(backupDir, options);
  if (nodeConfig.clusterId === state.manifest.clusterId && options.keepClusterId !== true) {
    throw new TsraftError(
      'TSR_ERR_INVALID_ARGUMENT',
      `the configuration of node ${nodeConfig.nodeId} keeps the source cluster id ${JSON.stringify(state.manifest.clusterId)}; a restored cluster gets a new id so its nodes never mix with the source's (set another clusterId, or pass --keep-cluster-id when the source cluster is gone)`,
      { details: { field: 'clusterId' } },
    );
  }
  const sm = TimeSeriesStateMachine.restore(state.tssm);
  assert(sm.appliedIndex <= state.index, 'restored state machine is beyond its Raft index');
  if (options.force === true) {
    rmSync(dbDir, { recursive: true, force: true });
    rmSync(snapshotDir, { recursive: true, force: true });
  }
  const config: ConfigState = { voters, learners: [], contexts: { ...nodeConfig.peers } };
  const meta: SnapshotMeta = { index: state.index, term: state.term, config, sizeBytes: state.tssm.length };
  const snapshots = await FileSnapshotStore.open(snapshotDir);
  try {
    await snapshots.save(meta, state.tssm);
  } finally {
    await snapshots.close();
  }
  const log = await LevelRaftLogStore.open({ location: dbDir });
  try {
    await log.save({ hardState: { term: state.term, vote: null, commit: state.index }, entries: [], snapshot: meta });
  } finally {
    await log.close();
  }
  const stats = sm.stats();
  await writeFileAtomically(
    join(dataDir, RESTORED_FROM_FILE),
    new TextEncoder().encode(
      JSON.stringify(
        {
          backupDir: resolve(backupDir),
          backupId: state.manifest.backupId,
          sourceClusterId: state.manifest.clusterId,
          backupIndex: state.manifest.raft.index,
          index: state.index,
          term: state.term,
          stateSha256: sha256Hex(state.tssm),
          replayedEntries: state.replay?.replayedEntries ?? 0,
        },
        null,
        2,
      ) + '\n',
    ),
  );
  return {
    dataDir,
    manifest: state.manifest,
    index: state.index,
    term: state.term,
    seriesCount: stats.seriesCount,
    pointCount: stats.pointCount,
    stateBytes: state.tssm.length,
    stateHash: sm.stateHash(),
    replay: state.replay,
  };
}
