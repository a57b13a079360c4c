// One series' snapshot (SeriesData.serialize(), docs/segment-format.md,
// "Series snapshot") taken apart into its header and blocks, each block cut
// into pages of time, and put back together byte for byte
// (docs/backup-format.md, "Data files").
//
// A block is stored as pages only when rebuilding it from those pages gives
// its exact bytes (checked when it is cut); otherwise it is stored raw. So a
// rebuild never depends on the encoder being the one that wrote the block.
import { createHash } from 'node:crypto';
import { TsraftError, assert } from '../errors.js';
import { decodeBlock, encodeBlock, readBlockHeader } from '../tsdb/codec/block-format.js';
import { ByteReader, ByteWriter } from '../tsdb/codec/byte-buffer.js';
import { crc32c } from '../tsdb/codec/crc32c.js';
import type { PointColumns } from '../tsdb/points.js';
import { bytesEqual } from './constants.js';

const SERIES_SNAPSHOT_VERSION = 1;
const HAS_NEWEST = 1;
const STATE_SEALED = 0;
const STATE_OPEN = 1;

export interface SeriesBlock {
  open: boolean;
  startMs: number;
  /** The block in the block format (a view). */
  bytes: Uint8Array;
}

export interface ParsedSeries {
  /** Bytes from the version byte up to (not including) the block count. */
  header: Uint8Array;
  blockSpanMs: number;
  blocks: SeriesBlock[];
}

export interface SeriesHeaderFields {
  blockSpanMs: number;
}

/** Reads the fields of a series header that the backup needs. Throws
 *  TSR_ERR_CORRUPT_SEGMENT when it is not a version-1 header. */
export function readSeriesHeader(header: Uint8Array): SeriesHeaderFields & { endOffset: number } {
  const r = new ByteReader(header, 0, header.length, 'series snapshot');
  const version = r.u8('snapshot version');
  if (version !== SERIES_SNAPSHOT_VERSION) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', `unsupported series snapshot version ${version}`, { details: { version } });
  const blockSpanMs = r.varint('blockSpanMs');
  r.varint('latenessMs');
  r.varint('maxPointsPerBlock');
  r.varint('maxOpenBlocks');
  const flags = r.u8('snapshot flags');
  if ((flags & ~HAS_NEWEST) !== 0) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', 'series snapshot has unknown flags', { details: { flags } });
  if ((flags & HAS_NEWEST) !== 0) r.svarint('newest timestamp');
  if (blockSpanMs < 1) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', `series snapshot block span ${blockSpanMs} ms is not positive`);
  return { blockSpanMs, endOffset: r.pos };
}

/** Splits serialize() bytes into header and blocks (views), checking the CRC. */
export function parseSeriesSnapshot(bytes: Uint8Array): ParsedSeries {
  if (bytes.length < 5) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', 'series snapshot is too short');
  const bodyEnd = bytes.length - 4;
  const stored = new ByteReader(bytes, bodyEnd, bytes.length, 'series snapshot').u32le('snapshot checksum');
  if (stored !== crc32c(bytes, 0, bodyEnd)) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', 'series snapshot checksum mismatch');
  const { blockSpanMs, endOffset } = readSeriesHeader(bytes.subarray(0, bodyEnd));
  const r = new ByteReader(bytes, endOffset, bodyEnd, 'series snapshot');
  const blockCount = r.varint('block count');
  const blocks: SeriesBlock[] = [];
  for (let b = 0; b < blockCount; b++) {
    const state = r.u8('block state');
    if (state !== STATE_SEALED && state !== STATE_OPEN) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', `series snapshot block ${b} has unknown state ${state}`);
    const startMs = r.svarint('block start');
    const length = r.varint('block length');
    blocks.push({ open: state === STATE_OPEN, startMs, bytes: r.bytes(length, 'block bytes') });
  }
  if (r.remaining !== 0) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', `series snapshot has ${r.remaining} trailing bytes`);
  return { header: bytes.subarray(0, endOffset), blockSpanMs, blocks };
}

/** The serialize() bytes of a series from its header and blocks. */
export function serializeSeries(header: Uint8Array, blocks: readonly SeriesBlock[]): Uint8Array {
  let size = header.length + 16;
  for (const b of blocks) size += b.bytes.length + 16;
  const w = new ByteWriter(size);
  w.bytes(header);
  w.varint(blocks.length);
  for (const b of blocks) {
    w.u8(b.open ? STATE_OPEN : STATE_SEALED);
    w.svarint(b.startMs);
    w.varint(b.bytes.length);
    w.bytes(b.bytes);
  }
  w.u32le(crc32c(w.view()));
  return w.finish();
}

/** Pages a block of this span is cut into: pagesPerBlock when it divides the span. */
export function effectivePages(blockSpanMs: number, pagesPerBlock: number): number {
  return blockSpanMs % pagesPerBlock === 0 ? pagesPerBlock : 1;
}

export interface StoredPage {
  /** Page index in its block (0 for a raw block). */
  index: number;
  bytes: Uint8Array;
  pointCount: number;
}

export interface StoredBlock {
  raw: boolean;
  pages: StoredPage[];
  pointCount: number;
}

/** Sealed blocks repeat from one snapshot to the next: remembers their pages
 *  by the SHA-256 of the block (least recently used first out), within
 *  bounds on entries and on the page bytes held. */
export class PageCache {
  private readonly entries = new Map<string, StoredBlock>();
  private bytes = 0;

  constructor(
    readonly maxEntries = 200_000,
    readonly maxBytes = 64 * 1024 * 1024,
  ) {
    assert(maxEntries >= 1 && maxBytes >= 1, 'PageCache needs room for an entry');
  }

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  get(key: string): StoredBlock | undefined {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      // Refresh: the map's insertion order is the eviction order.
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: StoredBlock): void {
    const size = storedBytes(value);
    if (size > this.maxBytes) return;
    const previous = this.entries.get(key);
    if (previous !== undefined) this.bytes -= storedBytes(previous);
    this.entries.set(key, value);
    this.bytes += size;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value!;
      this.bytes -= storedBytes(this.entries.get(oldest)!);
      this.entries.delete(oldest);
    }
  }
}

function storedBytes(block: StoredBlock): number {
  let n = 64;
  for (const p of block.pages) n += p.bytes.length + 32;
  return n;
}

/** Cuts one block into pages (or keeps it raw), see the file comment. */
export function splitBlock(block: SeriesBlock, blockSpanMs: number, pagesPerBlock: number, cache: PageCache | null = null): StoredBlock {
  const pages = effectivePages(blockSpanMs, pagesPerBlock);
  let key: string | null = null;
  if (cache !== null && !block.open) {
    key = `${pages}/${blockSpanMs}/${block.startMs}/` + createHash('sha256').update(block.bytes).digest('base64');
    const hit = cache.get(key);
    if (hit !== undefined) return hit;
  }
  const stored = splitUncached(block, blockSpanMs, pages);
  if (key !== null) cache!.set(key, stored);
  return stored;
}

function rawBlock(block: SeriesBlock): StoredBlock {
  const header = readBlockHeader(block.bytes);
  return { raw: true, pages: [{ index: 0, bytes: block.bytes.slice(), pointCount: header.pointCount }], pointCount: header.pointCount };
}

function splitUncached(block: SeriesBlock, blockSpanMs: number, pages: number): StoredBlock {
  if (pages === 1) return rawBlock(block);
  const cols = decodeBlock(block.bytes);
  // Pages hold sorted, distinct timestamps (what a rebuild checks); a block
  // in another order (the codec allows it) stays raw.
  for (let i = 1; i < cols.length; i++) if (!(cols.timestampsMs[i]! > cols.timestampsMs[i - 1]!)) return rawBlock(block);
  const pageSpanMs = blockSpanMs / pages;
  const stored: StoredPage[] = [];
  let from = 0;
  while (from < cols.length) {
    const index = Math.floor((cols.timestampsMs[from]! - block.startMs) / pageSpanMs);
    if (index < 0 || index >= pages) return rawBlock(block);
    const pageEnd = block.startMs + (index + 1) * pageSpanMs;
    let to = from + 1;
    while (to < cols.length && cols.timestampsMs[to]! < pageEnd) to++;
    stored.push({ index, bytes: encodeBlock(cols, from, to), pointCount: to - from });
    from = to;
  }
  // Keep the pages only if they give back this exact block. The codecs
  // round-trip exactly, so the pages decode to `cols` again and the rebuild
  // is encodeBlock(cols): the block must be that canonical encoding. An open
  // block is, by construction (serialize() encodes it just so); a sealed one
  // may come from an older encoder. Exact int64 values take the full check.
  if (cols.bigInts === null) {
    if (!block.open && !bytesEqual(encodeBlock(cols), block.bytes)) return rawBlock(block);
  } else {
    let rebuilt: Uint8Array;
    try {
      rebuilt = rebuildBlockFromPages(stored.map((p) => p.bytes), stored.map((p) => p.index), block.startMs, pageSpanMs, blockSpanMs).bytes;
    } catch (error) {
      if (error instanceof TsraftError) return rawBlock(block);
      throw error;
    }
    if (!bytesEqual(rebuilt, block.bytes)) return rawBlock(block);
  }
  return { raw: false, pages: stored, pointCount: cols.length };
}

/**
 * Decodes the pages of one block (each verified by its CRC and structure),
 * checks every point lies in its page and pages come in increasing order,
 * concatenates them and encodes the block. Throws TSR_ERR_CORRUPT_SEGMENT.
 * `pageSpanMs` null: the layout is not known yet (a streamed pack lists it
 * last), so points are checked against their block, not their page's slot
 * (the block's bytes are the same either way: slots only say where pages go).
 */
export function rebuildBlockFromPages(
  pages: readonly Uint8Array[],
  indexes: readonly number[],
  blockStartMs: number,
  pageSpanMs: number | null,
  blockSpanMs: number,
): { bytes: Uint8Array; pointCount: number; pagePoints: number[] } {
  assert(pages.length === indexes.length && pages.length > 0, 'rebuildBlockFromPages: pages and indexes differ');
  assert(pageSpanMs === null || (pageSpanMs > 0 && pageSpanMs <= blockSpanMs), `rebuildBlockFromPages: page span ${pageSpanMs} ms in a ${blockSpanMs} ms block`);
  const decoded: PointColumns[] = [];
  let total = 0;
  let anyBig = false;
  let previousIndex = -1;
  let previousTs = -Infinity;
  for (let p = 0; p < pages.length; p++) {
    const index = indexes[p]!;
    if (index <= previousIndex) throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', `page ${index} of block ${blockStartMs} is out of order`);
    previousIndex = index;
    const cols = decodeBlock(pages[p]!);
    const lo = pageSpanMs === null ? blockStartMs : blockStartMs + index * pageSpanMs;
    const hi = pageSpanMs === null ? blockStartMs + blockSpanMs : lo + pageSpanMs;
    for (let i = 0; i < cols.length; i++) {
      const ts = cols.timestampsMs[i]!;
      if (ts < lo || ts >= hi || !(ts > previousTs)) {
        throw new TsraftError('TSR_ERR_CORRUPT_SEGMENT', `page ${index} of block ${blockStartMs} holds timestamp ${ts} outside [${lo}, ${hi}) or out of order`);
      }
      previousTs = ts;
    }
    decoded.push(cols);
    total += cols.length;
    if (cols.bigInts !== null) anyBig = true;
  }
  const pagePoints = decoded.map((cols) => cols.length);
  if (decoded.length === 1) return { bytes: encodeBlock(decoded[0]!), pointCount: total, pagePoints };
  const out: PointColumns = {
    length: total,
    timestampsMs: new Float64Array(total),
    values: new Float64Array(total),
    isInteger: new Uint8Array(total),
    bigInts: anyBig ? new BigInt64Array(total) : null,
  };
  let at = 0;
  for (const cols of decoded) {
    out.timestampsMs.set(cols.timestampsMs.subarray(0, cols.length), at);
    out.values.set(cols.values.subarray(0, cols.length), at);
    out.isInteger.set(cols.isInteger.subarray(0, cols.length), at);
    if (out.bigInts !== null) {
      for (let i = 0; i < cols.length; i++) {
        out.bigInts[at + i] = cols.bigInts !== null ? cols.bigInts[i]! : cols.isInteger[i] === 1 ? BigInt(cols.values[i]!) : 0n;
      }
    }
    at += cols.length;
  }
  return { bytes: encodeBlock(out), pointCount: total, pagePoints };
}
