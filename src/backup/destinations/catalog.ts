// `tsraft backup list DEST`: every backup of a destination with its chain —
// which full backup an incremental is built on, and how deep — so an operator
// sees what a restore needs and what pruning must keep.
import { formatBytes } from '../inspect.js';
import type { CatalogEntry } from './transfer.js';

export interface CatalogRow {
  name: string;
  status: 'complete' | 'incomplete' | 'unreadable' | 'broken-chain';
  index: number | null;
  createdAt: string | null;
  kind: 'full' | 'incremental' | null;
  base: string | null;
  /** The full backup at the bottom of the chain, and the number of incrementals above it. */
  chainRoot: string | null;
  chainDepth: number | null;
  seriesCount: number | null;
  pointCount: number | null;
  totalBytes: number | null;
  storedBytes: number | null;
  encrypted: boolean | null;
  problem: string | null;
}

export function catalogRows(entries: readonly CatalogEntry[]): CatalogRow[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  return entries.map((e): CatalogRow => {
    const m = e.manifest;
    if (m === null) {
      return { name: e.name, status: e.problem?.startsWith('incomplete') === true ? 'incomplete' : 'unreadable', index: null, createdAt: null, kind: null, base: null, chainRoot: null, chainDepth: null, seriesCount: null, pointCount: null, totalBytes: null, storedBytes: null, encrypted: null, problem: e.problem };
    }
    let root: string | null = e.name;
    let depth = 0;
    let problem: string | null = null;
    let at: CatalogEntry | undefined = e;
    while (at !== undefined && at.base !== null) {
      const below = byName.get(at.base);
      depth++;
      if (below === undefined || below.manifest === null || depth > entries.length) {
        problem = `its base ${at.base} is ${below === undefined ? 'missing' : 'not a complete backup'}: it cannot be restored`;
        root = null;
        break;
      }
      at = below;
      root = below.name;
    }
    return {
      name: e.name,
      status: problem === null ? 'complete' : 'broken-chain',
      index: m.raft.index,
      createdAt: m.createdAt,
      kind: m.base === null ? 'full' : 'incremental',
      base: e.base,
      chainRoot: root,
      chainDepth: problem === null ? depth : null,
      seriesCount: m.seriesCount,
      pointCount: m.pointCount,
      totalBytes: m.totals.bytes,
      storedBytes: m.totals.storedBytes,
      encrypted: m.encryption !== null,
      problem,
    };
  });
}

export function formatCatalog(url: string, rows: readonly CatalogRow[]): string {
  const header = ['NAME', 'INDEX', 'CREATED', 'KIND', 'CHAIN', 'POINTS', 'SIZE', 'STORED', 'STATUS'];
  const table: string[][] = [header];
  for (const r of rows) {
    const chain = r.kind === null ? '-' : r.kind === 'full' ? 'full' : r.chainRoot === null ? `on ${r.base} (broken)` : `on ${r.base} ← … ${r.chainRoot} (+${r.chainDepth})`;
    table.push([
      r.name,
      r.index === null ? '-' : String(r.index),
      r.createdAt ?? '-',
      r.kind ?? '-',
      r.kind === 'incremental' && r.chainDepth === 1 ? `on ${r.chainRoot}` : chain,
      r.pointCount === null ? '-' : String(r.pointCount),
      r.totalBytes === null ? '-' : formatBytes(r.totalBytes),
      r.storedBytes === null ? '-' : formatBytes(r.storedBytes),
      r.status + (r.problem !== null && r.status !== 'incomplete' ? `: ${r.problem}` : ''),
    ]);
  }
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const lines = table.map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
  return [`backups in ${url}: ${rows.filter((r) => r.status === 'complete').length} complete of ${rows.length}`, ...lines].join('\n');
}
