// The state digest (docs/backup-service.md, "State digest"): a 64-bit
// fingerprint of a replica's state at an applied index, computed per segment
// and cheap enough to take at every checkpoint record.
//
// Cost: a sealed segment (block) contributes its start, length and the
// CRC-32C already stored in its last 4 bytes — no byte of it is re-read — so
// the digest costs O(series + sealed blocks + points in open blocks), not
// O(state bytes). Open blocks (the newest hours of each series) are hashed
// point by point. Checking the stored CRCs against the bytes is the
// scrubber's job; comparing digests across replicas catches replicas that
// applied the same log and still hold different data.
//
// Layout of what is hashed, in order (every integer as 32-bit little-endian
// words, numbers as their float64 bits, strings as UTF-8 bytes padded to 4):
//   per series (ascending id): id, key, then per sealed block [startMs,
//   byteLength, storedCrc32c], then the open points [timestampMs, value bits,
//   isInteger, (int64 when beyond 2^53)] → the series hash;
//   per group of DIGEST_GROUP_SERIES ids: the hashes of its series → the group hash;
//   root: version, appliedIndex, lastLeaderTimeMs, nextSeriesId, seriesCount,
//   every (group, group hash), then the sessions and snapshot sections
//   (their snapshot bytes) → the digest.
// Deterministic: no clock, no randomness; equal states give equal digests on
// every replica.
import { assert } from '../errors.js';
import { MAX_TIMESTAMP_MAGNITUDE_MS } from './codec/timestamp-codec.js';
import type { SeriesData } from './series-data.js';

export const DIGEST_ALGORITHM = 'tsraft-digest-v1';
/** Series per group digest: a mismatch names the groups that differ. */
export const DIGEST_GROUP_SERIES = 1024;
const VERSION = 1;

/** A streaming 64-bit hash over 32-bit words: two multiply–rotate lanes with a final avalanche. */
export class Hash64 {
  private h1 = 0x9747b28c;
  private h2 = 0x85ebca6b;
  private count = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  word(value: number): void {
    let k = value | 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    this.h1 ^= k;
    this.h1 = (this.h1 << 13) | (this.h1 >>> 19);
    this.h1 = (Math.imul(this.h1, 5) + 0xe6546b64) | 0;
    this.h2 = (Math.imul(this.h2 ^ k, 0x27d4eb2f) + this.h1) | 0;
    this.h2 = (this.h2 << 17) | (this.h2 >>> 15);
    this.count++;
  }

  /** A float64 (timestamps, values, indexes) as its two words. */
  number(value: number): void {
    this.scratch.setFloat64(0, value, true);
    this.word(this.scratch.getUint32(0, true));
    this.word(this.scratch.getUint32(4, true));
  }

  bytes(data: Uint8Array): void {
    this.word(data.length);
    let i = 0;
    for (; i + 4 <= data.length; i += 4) this.word(data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    if (i < data.length) {
      let last = 0;
      for (let j = 0; i + j < data.length; j++) last |= data[i + j]! << (8 * j);
      this.word(last);
    }
  }

  string(text: string): void {
    this.bytes(utf8.encode(text));
  }

  /** 16 lowercase hex digits. */
  hex(): string {
    let a = this.h1 ^ this.count;
    let b = this.h2 ^ Math.imul(this.count, 0x9e3779b1);
    a = (a + b) | 0;
    b = (b + a) | 0;
    a = fmix(a);
    b = fmix(b);
    a = (a + b) | 0;
    b = (b + a) | 0;
    return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
  }
}

const utf8 = new TextEncoder();

function fmix(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x;
}

/** What the digest reads from a state machine (TimeSeriesStateMachine implements it). */
export interface DigestSource {
  readonly appliedIndex: number;
  readonly lastLeaderTimeMs: number;
  readonly nextSeriesId: number;
  seriesDataOf(id: number): SeriesData | undefined;
  seriesKeyOf(id: number): string | undefined;
  /** The snapshot bytes after the series: sessions and sections. */
  snapshotTail(): Uint8Array;
}

export interface StateDigest {
  algorithm: typeof DIGEST_ALGORITHM;
  /** The applied index the digest describes. */
  index: number;
  /** 16 hex digits. */
  digest: string;
  seriesCount: number;
  /** Group number → its hash, for groups holding series. */
  groups: Record<string, string>;
  sealedBlocks: number;
  openPoints: number;
}

/** Hashes one series (see the file comment); returns counts for the caller's totals. */
export function hashSeries(h: Hash64, id: number, key: string, series: SeriesData): { sealedBlocks: number; openPoints: number } {
  h.number(id);
  h.string(key);
  // Summaries, not bytes: blocks that left memory are not read back.
  const sealed = series.sealedBlockSummaries();
  let newestSealedEnd = -MAX_TIMESTAMP_MAGNITUDE_MS;
  for (const block of sealed) {
    assert(block.byteLength >= 4, `sealed block of series ${id} is ${block.byteLength} bytes`);
    h.number(block.startMs);
    h.word(block.byteLength);
    // The block's own CRC-32C (stored little-endian in its last 4 bytes).
    h.word(block.crc | 0);
    newestSealedEnd = Math.max(newestSealedEnd, block.startMs + series.blockSpanMs);
  }
  let openPoints = 0;
  if (series.openBlockCount() > 0) {
    // Open blocks hold the newest points, after every sealed block.
    const cols = series.readPoints(newestSealedEnd, MAX_TIMESTAMP_MAGNITUDE_MS);
    h.word(cols.length);
    for (let i = 0; i < cols.length; i++) {
      h.number(cols.timestampsMs[i]!);
      h.number(cols.values[i]!);
      const isInteger = cols.isInteger[i]!;
      h.word(isInteger);
      if (isInteger === 1 && cols.bigInts !== null) {
        const big = cols.bigInts[i]!;
        h.word(Number(big & 0xffffffffn));
        h.word(Number((big >> 32n) & 0xffffffffn));
      }
    }
    openPoints = cols.length;
  }
  return { sealedBlocks: sealed.length, openPoints };
}

/** The digest of the whole state (see the file comment). */
export function computeStateDigest(source: DigestSource): StateDigest {
  const groups: Record<string, string> = {};
  const root = new Hash64();
  root.word(VERSION);
  root.number(source.appliedIndex);
  root.number(source.lastLeaderTimeMs);
  root.number(source.nextSeriesId);
  let seriesCount = 0;
  let sealedBlocks = 0;
  let openPoints = 0;
  const groupCount = Math.ceil(source.nextSeriesId / DIGEST_GROUP_SERIES);
  const groupHashes: Array<[number, string]> = [];
  for (let g = 0; g < groupCount; g++) {
    const h = new Hash64();
    let inGroup = 0;
    const end = Math.min(source.nextSeriesId, (g + 1) * DIGEST_GROUP_SERIES);
    for (let id = g * DIGEST_GROUP_SERIES; id < end; id++) {
      const series = source.seriesDataOf(id);
      if (series === undefined) continue;
      const key = source.seriesKeyOf(id);
      assert(key !== undefined, `series ${id} has data but no key`);
      const counts = hashSeries(h, id, key, series);
      sealedBlocks += counts.sealedBlocks;
      openPoints += counts.openPoints;
      inGroup++;
    }
    if (inGroup === 0) continue;
    seriesCount += inGroup;
    const hex = h.hex();
    groups[String(g)] = hex;
    groupHashes.push([g, hex]);
  }
  root.number(seriesCount);
  for (const [g, hex] of groupHashes) {
    root.number(g);
    root.string(hex);
  }
  root.bytes(source.snapshotTail());
  return { algorithm: DIGEST_ALGORITHM, index: source.appliedIndex, digest: root.hex(), seriesCount, groups, sealedBlocks, openPoints };
}

/** The groups whose hashes differ between two digests of the same index (for the alarm's message). */
export function differingGroups(a: StateDigest, b: StateDigest): number[] {
  const all = new Set([...Object.keys(a.groups), ...Object.keys(b.groups)]);
  return [...all].filter((g) => a.groups[g] !== b.groups[g]).map(Number).sort((x, y) => x - y);
}
