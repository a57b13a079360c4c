// `tsraft backup list DIR...` and `tsraft backup inspect DIR`: what a backup
// holds (index, time, series, points, size, base), read from its manifest.
// The manifest's own hash is checked; the data is not (that is verify's job).
import { resolve } from 'node:path';
import { rethrowIfBug } from '../errors.js';
import type { BackupManifest } from './manifest.js';
import { readManifestFile } from './source.js';

export interface BackupSummary {
  dir: string;
  backupId: string;
  clusterId: string;
  sourceNode: string;
  index: number;
  term: number | null;
  leaderTime: string;
  createdAt: string;
  seriesCount: number;
  pointCount: number;
  files: number;
  /** Bytes of all files the state needs (here and in bases). */
  totalBytes: number;
  /** Bytes stored in this directory. */
  storedBytes: number;
  reusedBytes: number;
  stateBytes: number;
  encrypted: boolean;
  /** Base directory as recorded (relative to this one), or null for a full backup. */
  base: string | null;
  baseBackupId: string | null;
}

export function summarize(dir: string, m: BackupManifest): BackupSummary {
  return {
    dir,
    backupId: m.backupId,
    clusterId: m.clusterId,
    sourceNode: m.source.nodeId,
    index: m.raft.index,
    term: m.raft.term,
    leaderTime: m.leaderTime,
    createdAt: m.createdAt,
    seriesCount: m.seriesCount,
    pointCount: m.pointCount,
    files: m.totals.files,
    totalBytes: m.totals.bytes,
    storedBytes: m.totals.storedBytes,
    reusedBytes: m.totals.reusedBytes,
    stateBytes: m.state.bytes,
    encrypted: m.encryption !== null,
    base: m.base?.path ?? null,
    baseBackupId: m.base?.backupId ?? null,
  };
}

export function inspectBackup(dir: string): { summary: BackupSummary; manifest: BackupManifest } {
  const root = resolve(dir);
  const { manifest } = readManifestFile(root);
  return { summary: summarize(root, manifest), manifest };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

export function formatInspect(summary: BackupSummary, manifest: BackupManifest): string {
  const m = manifest;
  const roles = new Map<string, { count: number; bytes: number; here: number }>();
  for (const f of m.files) {
    const r = roles.get(f.role) ?? { count: 0, bytes: 0, here: 0 };
    r.count++;
    r.bytes += f.bytes;
    if (f.location === 'here') r.here += f.bytes;
    roles.set(f.role, r);
  }
  const membership = m.raft.membership === null ? '(not recorded)' : `voters ${m.raft.membership.voters.join(', ') || '-'}${m.raft.membership.learners.length > 0 ? `; learners ${m.raft.membership.learners.join(', ')}` : ''}`;
  const lines = [
    `backup      ${summary.dir}`,
    `id          ${m.backupId}`,
    `cluster     ${m.clusterId} (streamed by node ${m.source.nodeId})`,
    `raft        index ${m.raft.index}, term ${m.raft.term ?? '-'}, ${membership}`,
    `time        ${m.leaderTime} (leader-stamped); captured ${m.createdAt}`,
    `contents    ${m.seriesCount} series, ${m.pointCount} points`,
    `state       ${formatBytes(m.state.bytes)} TSSM v${m.state.formatVersion}, sha256 ${m.state.sha256}, stateHash ${m.state.stateHash}`,
    `size        ${formatBytes(m.totals.bytes)} in ${m.totals.files} files; ${formatBytes(m.totals.storedBytes)} stored here, ${formatBytes(m.totals.reusedBytes)} reused from the base`,
    `base        ${m.base === null ? '(none: a full backup)' : `${m.base.path} (backup ${m.base.backupId})`}`,
    `encryption  ${m.encryption === null ? 'none' : `${m.encryption.algorithm}, key check ${m.encryption.keyCheck}`}`,
    `layout      ${m.layout.pagesPerBlock} pages per block, ${m.layout.seriesPerGroup} series per group, segments ≥ ${formatBytes(m.layout.minSegmentBytes)}`,
    'files:',
  ];
  for (const [role, r] of [...roles.entries()].sort()) lines.push(`  ${role.padEnd(9)} ${String(r.count).padStart(6)} files  ${formatBytes(r.bytes).padStart(10)}  (${formatBytes(r.here)} here)`);
  return lines.join('\n');
}

export interface ListedBackup {
  summary: BackupSummary | null;
  dir: string;
  /** Why the manifest could not be read. */
  problem: string | null;
}

export function listBackups(dirs: readonly string[]): ListedBackup[] {
  const rows = dirs.map((dir): ListedBackup => {
    try {
      return { dir: resolve(dir), summary: inspectBackup(dir).summary, problem: null };
    } catch (error) {
      rethrowIfBug(error);
      return { dir: resolve(dir), summary: null, problem: (error as Error).message };
    }
  });
  return rows.sort((a, b) => (a.summary?.index ?? -1) - (b.summary?.index ?? -1) || a.dir.localeCompare(b.dir));
}

export function formatList(rows: readonly ListedBackup[]): string {
  const header = ['DIR', 'INDEX', 'TIME', 'SERIES', 'POINTS', 'SIZE', 'STORED', 'BASE', 'ENC'];
  const table: string[][] = [header];
  for (const r of rows) {
    const s = r.summary;
    if (s === null) table.push([r.dir, '-', '-', '-', '-', '-', '-', '-', `unreadable: ${r.problem}`]);
    else table.push([s.dir, String(s.index), s.leaderTime, String(s.seriesCount), String(s.pointCount), formatBytes(s.totalBytes), formatBytes(s.storedBytes), s.base ?? '-', s.encrypted ? 'yes' : 'no']);
  }
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n');
}
