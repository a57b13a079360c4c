// Installs a Raft snapshot that is a backup pack (BackupFormatStateMachine's
// snapshot, docs/backup-format.md) straight into the state machine's store
// as it streams from the snapshot file, never holding the pack or the state:
// memory holds one backup group's segment files, one series and the read
// buffer (docs/storage.md, "Installing a snapshot").
//
// A pack lists each group's segment files, then its group file; after every
// group come the sessions file, the root index and the manifest. So:
//   - segment files are kept in memory until their group file arrives (the
//     spool; bounded by maxGroupBytes). Rebuilding a series needs all of its
//     group's segments at once (a series' pages are spread over every segment
//     of its group, sorted by time), so a spool on disk would be read back
//     whole anyway: the bound is the one the leader held when it cut the group;
//   - each group is rebuilt as soon as its group file arrives
//     (rebuildGroupSeries, the code a backup restore runs) and its series go
//     to SnapshotInstaller one at a time, under the restore marker;
//   - what can be checked only once the root index and the manifest arrive is
//     checked then: every file listed with its size and SHA-256, the groups
//     the index lists (file ids, series and point counts, which series each
//     may hold), the sessions file. The state digest (size, SHA-256 and
//     FNV-1a of the TSSM bytes) cannot be computed as the groups arrive (the
//     TSSM starts with a header taken from the root index, which comes last),
//     so it is computed over the installed state read back from the store,
//     before the marker is removed.
// Any mismatch rejects with TSR_ERR_BACKUP_CORRUPT (or TSR_ERR_CORRUPT_SNAPSHOT
// from the snapshot file's own checksum, or TSR_ERR_BACKUP_UNSUPPORTED) and
// leaves the marker: the next start clears the store and installs again.
import { TsraftError, assert } from '../errors.js';
import { SnapshotInstaller, installSnapshotStream } from '../replica/tsdb-persistence.js';
import type { StateMachineStore } from '../storage/types.js';
import { DEFAULT_STATE_MACHINE_OPTIONS, SNAPSHOT_FORMAT_VERSION, type TimeSeriesStateMachine } from '../tsdb/state-machine.js';
import { PACK_MAGIC, ROLE_EXTENSION, corruptBackup, startsWith, toHex, type FileRole } from './constants.js';
import { decodeGroupFile, decodeRootIndex, decodeSessionsFile, type GroupFile } from './data-files.js';
import { decodeManifest } from './manifest.js';
import { readPack, type PackHandler, type PackRecordHeader } from './pack.js';
import { checkGroupMembers, checkIndexAgainstManifest, checkStateAgainstManifest, rebuildGroupSeries } from './rebuild.js';
import { readSeriesHeader } from './series-pages.js';
import type { SourceFile } from './source.js';
import { TssmStream } from './tssm-stream.js';

/** Default bound on one group's segment files held during an install. */
export const DEFAULT_MAX_INSTALL_GROUP_BYTES = 1024 * 1024 * 1024;
const MANIFEST_PATH = 'pack:manifest.json';
const FILE_NAME = /^data\/([0-9a-f]{64})\.(idx|grp|seg|ses)$/;
const ROLE_OF_EXTENSION = new Map<string, FileRole>(Object.entries(ROLE_EXTENSION).map(([role, ext]) => [ext, role as FileRole]));

export interface SnapshotInstallTarget {
  /** The state machine; it holds the installed state once the install resolves. */
  machine: TimeSeriesStateMachine;
  /** The store `machine` is kept in (the node's LevelDB sublevel). */
  store: StateMachineStore;
  /** The Raft snapshot's index (recorded in the restore marker). */
  snapshotIndex: number;
  /** Bound on one group's segment files held at once. Default 1 GiB. */
  maxGroupBytes?: number;
  /** Awaited every `every` series while groups are rebuilt and the result is
   *  checked, so an event loop runs during a long install. */
  pause?: { every: number; wait: () => Promise<void> } | null;
}

export interface SnapshotInstallSummary {
  format: 'pack' | 'tssm';
  seriesCount: number;
  /** Groups rebuilt (packs only). */
  groups: number;
  /** Largest group's segment bytes held at once (packs only). */
  peakGroupBytes: number;
}

/** Installs a snapshot streamed as `chunks`: a backup pack, or raw TSSM bytes
 *  (a snapshot taken before snapshots were packs). */
export async function installSnapshotOrPack(chunks: AsyncIterable<Uint8Array>, target: SnapshotInstallTarget): Promise<SnapshotInstallSummary> {
  const { head, stream } = await peek(chunks, PACK_MAGIC.length);
  if (!startsWith(head, PACK_MAGIC)) {
    const installed = await installSnapshotStream(target.machine, target.store, stream, target.snapshotIndex);
    return { format: 'tssm', seriesCount: installed.seriesCount, groups: 0, peakGroupBytes: 0 };
  }
  return installPack(stream, target);
}

/** Installs a backup pack streamed as `chunks` (see the file comment). */
export async function installPack(chunks: AsyncIterable<Uint8Array>, target: SnapshotInstallTarget): Promise<SnapshotInstallSummary> {
  const maxGroupBytes = target.maxGroupBytes ?? DEFAULT_MAX_INSTALL_GROUP_BYTES;
  assert(Number.isSafeInteger(maxGroupBytes) && maxGroupBytes >= 1, `installPack: maxGroupBytes ${maxGroupBytes}`);
  const installer = await SnapshotInstaller.begin(target.store, target.snapshotIndex, target.machine);
  const install = new StreamedPackInstall(installer, maxGroupBytes, target.pause ?? null);
  await readPack(chunks, install);
  await install.finish(target.machine);
  return { format: 'pack', seriesCount: installer.seriesCount, groups: install.groupCount, peakGroupBytes: install.peakGroupBytes };
}

interface ArrivedGroup {
  group: number;
  file: string;
  fileId: string;
  pointCount: number;
  /** The first and last series (ids increasing): which ones it may hold is checked at the end. */
  series: GroupFile['series'];
  seriesCount: number;
}

class StreamedPackInstall implements PackHandler {
  /** Every file record of the pack: role, size, SHA-256 (checked against the manifest at the end). */
  private readonly files = new Map<string, { role: FileRole; bytes: number; sha256: string }>();
  /** Segment files waiting for their group file, by content id. */
  private readonly spool = new Map<string, SourceFile>();
  private spoolBytes = 0;
  peakGroupBytes = 0;
  private current: { role: FileRole; bytes: Uint8Array; filled: number } | null = null;
  private readonly groups: ArrivedGroup[] = [];
  private previousId = -1;
  private seriesSincePause = 0;
  private index: SourceFile | null = null;
  private sessions: (SourceFile & { id: string }) | null = null;
  private manifest: Uint8Array | null = null;

  constructor(
    private readonly installer: SnapshotInstaller,
    private readonly maxGroupBytes: number,
    private readonly pause: { every: number; wait: () => Promise<void> } | null,
  ) {}

  get groupCount(): number {
    return this.groups.length;
  }

  onFileStart(header: PackRecordHeader): void {
    const role = roleOf(header.name);
    if (this.files.has(header.name)) throw corruptBackup(`pack:${header.name}`, 'appears twice in the pack');
    if ((role === 'index' && this.index !== null) || (role === 'sessions' && this.sessions !== null)) throw corruptBackup(`pack:${header.name}`, `the pack holds a second ${role} file`);
    if (role === 'segment') {
      this.spoolBytes += header.size;
      this.peakGroupBytes = Math.max(this.peakGroupBytes, this.spoolBytes);
      if (this.spoolBytes > this.maxGroupBytes) {
        throw new TsraftError('TSR_ERR_SNAPSHOT_GROUP_TOO_LARGE', `installing the snapshot would hold ${this.spoolBytes} bytes of one group's segment files, more than the install bound maxGroupBytes (${this.maxGroupBytes})`, {
          details: { groupBytes: this.spoolBytes, limit: this.maxGroupBytes },
        });
      }
    }
    // The size is bounded by the pack reader (MAX_FILE_BYTES); the bytes are filled as they stream.
    this.current = { role, bytes: new Uint8Array(header.size), filled: 0 };
  }

  onFileData(chunk: Uint8Array): void {
    const current = this.current!;
    assert(current.filled + chunk.length <= current.bytes.length, 'pack reader handed more bytes than the record holds');
    current.bytes.set(chunk, current.filled);
    current.filled += chunk.length;
  }

  async onFileEnd(header: PackRecordHeader): Promise<void> {
    const current = this.current!;
    this.current = null;
    assert(current.filled === header.size, `pack record ${header.name}: ${current.filled} of ${header.size} bytes`);
    const id = toHex(header.sha256);
    const file: SourceFile = { bytes: current.bytes, file: `pack:${header.name}` };
    // A snapshot pack is unencrypted: a file's name is its content id.
    if (FILE_NAME.exec(header.name)![1] !== id) throw corruptBackup(file.file, 'content does not match its content id');
    this.files.set(header.name, { role: current.role, bytes: header.size, sha256: id });
    if (current.role === 'segment') this.spool.set(id, file);
    else if (current.role === 'group') await this.installGroup(file, id);
    else if (current.role === 'index') this.index = file;
    else this.sessions = { ...file, id };
  }

  onRef(header: PackRecordHeader): void {
    throw corruptBackup(`pack:${header.name}`, 'the pack refers to a file it does not hold: only a full pack can be installed');
  }

  onManifest(bytes: Uint8Array): void {
    this.manifest = bytes;
  }

  /** Rebuilds one group from the segment files spooled before it, series by series into the store. */
  private async installGroup(file: SourceFile, id: string): Promise<void> {
    const grp = decodeGroupFile(file.bytes, file.file, null, (header) => readSeriesHeader(header).blockSpanMs);
    const first = grp.series[0];
    if (first !== undefined && first.id <= this.previousId) throw corruptBackup(file.file, `series ${first.id} does not belong in group ${grp.group} (or is out of order)`);
    const readSegment = (segmentId: Uint8Array): SourceFile => {
      const hex = toHex(segmentId);
      const segment = this.spool.get(hex);
      if (segment === undefined) throw corruptBackup(`pack:data/${hex}.seg`, `group ${grp.group} needs this segment file, which does not come before its group file in the pack`, { contentId: hex });
      this.spool.delete(hex);
      return segment;
    };
    const series = rebuildGroupSeries(grp, file.file, readSegment, null);
    let step = series.next();
    for (; step.done !== true; step = series.next()) {
      await this.installer.addSeries(step.value.id, step.value.key, step.value.data);
      await this.maybePause();
    }
    const leftover = this.spool.keys().next();
    if (leftover.done !== true) throw corruptBackup(`pack:data/${leftover.value}.seg`, `segment file is not listed by the group file that follows it (group ${grp.group})`);
    this.spoolBytes = 0;
    const last = grp.series[grp.series.length - 1];
    if (last !== undefined) this.previousId = last.id;
    this.groups.push({ group: grp.group, file: file.file, fileId: id, pointCount: step.value, series: last === undefined ? [] : [first!, last], seriesCount: grp.series.length });
  }

  private async maybePause(): Promise<void> {
    if (this.pause === null || ++this.seriesSincePause < this.pause.every) return;
    this.seriesSincePause = 0;
    await this.pause.wait();
  }

  /** The checks that need the root index and the manifest, then the meta
   *  record, the state digest of what the store holds, and the marker's removal. */
  async finish(machine: TimeSeriesStateMachine): Promise<void> {
    assert(this.manifest !== null, 'readPack ends only after the manifest');
    const m = decodeManifest(this.manifest, MANIFEST_PATH);
    if (m.encryption !== null || m.base !== null) throw corruptBackup(MANIFEST_PATH, 'an encrypted or incremental backup is not a snapshot: only a full, unencrypted pack can be installed');
    for (const entry of m.files) {
      const held = this.files.get(entry.name);
      if (held === undefined || entry.location !== 'here') throw corruptBackup(`pack:${entry.name}`, 'the manifest lists this file but the pack does not hold it');
      if (held.role !== entry.role || held.bytes !== entry.bytes || held.sha256 !== entry.sha256) {
        throw corruptBackup(`pack:${entry.name}`, `the manifest says ${entry.role}, ${entry.bytes} bytes, SHA-256 ${entry.sha256.slice(0, 16)}…; the pack holds ${held.role}, ${held.bytes} bytes, ${held.sha256.slice(0, 16)}…`);
      }
    }
    if (m.files.length !== this.files.size) {
      const listed = new Set(m.files.map((f) => f.name));
      const extra = [...this.files.keys()].find((name) => !listed.has(name))!;
      throw corruptBackup(`pack:${extra}`, 'the pack holds a file its manifest does not list');
    }
    const spooled = this.spool.keys().next();
    if (spooled.done !== true) throw corruptBackup(`pack:data/${spooled.value}.seg`, 'segment file comes after the last group file: no group uses it');
    assert(this.index !== null, 'the manifest lists exactly one index file, and the pack holds every listed file');
    const root = decodeRootIndex(this.index.bytes, this.index.file);
    checkIndexAgainstManifest(root, this.index.file, m, MANIFEST_PATH);
    if (root.groups.length !== this.groups.length) throw corruptBackup(this.index.file, `the index lists ${root.groups.length} groups, the pack holds ${this.groups.length}`);
    root.groups.forEach((g, i) => {
      const arrived = this.groups[i]!;
      if (g.group !== arrived.group || toHex(g.fileId) !== arrived.fileId) throw corruptBackup(arrived.file, `group file ${i} of the pack is not the one the index ${this.index!.file} lists (group ${g.group})`);
      if (g.seriesCount !== arrived.seriesCount) throw corruptBackup(arrived.file, `group holds ${arrived.seriesCount} series, the index says ${g.seriesCount}`);
      if (g.pointCount !== arrived.pointCount) throw corruptBackup(arrived.file, `group holds ${arrived.pointCount} points, the index says ${g.pointCount}`);
      checkGroupMembers(arrived.file, g.group, arrived, root.layout.seriesPerGroup, root.nextSeriesId);
    });
    if (this.sessions === null || this.sessions.id !== toHex(root.sessionsId)) throw corruptBackup(this.index.file, 'the sessions file the index names is not in the pack');
    const sessions = decodeSessionsFile(this.sessions.bytes, this.sessions.file);
    if (root.stateFormatVersion !== SNAPSHOT_FORMAT_VERSION) {
      throw new TsraftError('TSR_ERR_BACKUP_UNSUPPORTED', `${this.index.file}: state format version ${root.stateFormatVersion} is not supported (this build reads ${SNAPSHOT_FORMAT_VERSION})`, { details: { file: this.index.file } });
    }
    assert(root.options.length === Object.keys(DEFAULT_STATE_MACHINE_OPTIONS).length, 'decodeRootIndex reads every state machine option');
    const header = { appliedIndex: root.appliedIndex, lastLeaderTimeMs: root.lastLeaderTimeMs, options: root.options, nextSeriesId: root.nextSeriesId, seriesCount: root.seriesCount };
    await this.installer.finish(header, sessions, machine, async (installed) => {
      // The state the store now holds, read back one series at a time.
      const records = new TssmStream(installed).records();
      let step = records.next();
      for (; step.done !== true; step = records.next()) await this.maybePause();
      checkStateAgainstManifest({ bytes: step.value.bytes, sha256: toHex(step.value.sha256), stateHash: step.value.fnv1a64 }, m, MANIFEST_PATH);
    });
  }
}

function roleOf(name: string): FileRole {
  const match = FILE_NAME.exec(name);
  assert(match !== null, `pack reader passed a record named ${name}`);
  return ROLE_OF_EXTENSION.get(match[2]!)!;
}

/** The first `n` bytes of a stream (fewer when it is shorter), and the whole stream again. */
async function peek(chunks: AsyncIterable<Uint8Array>, n: number): Promise<{ head: Uint8Array; stream: AsyncIterable<Uint8Array> }> {
  const iterator = chunks[Symbol.asyncIterator]();
  const taken: Uint8Array[] = [];
  let length = 0;
  let ended = false;
  while (length < n) {
    const next = await iterator.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    taken.push(next.value);
    length += next.value.length;
  }
  const head = new Uint8Array(Math.min(n, length));
  let at = 0;
  for (const chunk of taken) {
    if (at >= head.length) break;
    const part = chunk.subarray(0, head.length - at);
    head.set(part, at);
    at += part.length;
  }
  async function* again(): AsyncGenerator<Uint8Array, void, void> {
    yield* taken;
    if (ended) return;
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
  }
  return { head, stream: again() };
}
