// The pure part of live-data scrubbing (docs/backup-service.md,
// "Scrubbing"): checking a series' sealed segments (blocks) against their
// stored CRC-32C, and deciding whether a copy from elsewhere is exactly the
// block that was damaged, so a repair writes back the original bytes and
// nothing else. The scrubbing job itself (rate, walking the series, fetching
// copies) is src/node/scrubber.ts.
import { TsraftError, assert, rethrowIfBug } from '../errors.js';
import { readBlockHeader, verifyBlockChecksum } from './codec/block-format.js';
import type { SeriesData } from './series-data.js';

export interface DamagedBlock {
  startMs: number;
  /** The block's bytes as held (shared with the series: a repair writes into them). */
  bytes: Uint8Array;
  problem: string;
}

const CRC_BYTES = 4;

/** Checks every sealed block of a series; returns the damaged ones and the bytes read. */
export function scrubSeries(series: SeriesData): { damaged: DamagedBlock[]; bytesChecked: number } {
  const damaged: DamagedBlock[] = [];
  let bytesChecked = 0;
  for (const block of series.sealedBlocks()) {
    bytesChecked += block.bytes.length;
    const problem = blockProblem(block.bytes);
    if (problem !== null) damaged.push({ startMs: block.startMs, bytes: block.bytes, problem });
  }
  return { damaged, bytesChecked };
}

/** Null when the block's checksum and header are sound, else what is wrong. */
export function blockProblem(bytes: Uint8Array): string | null {
  try {
    verifyBlockChecksum(bytes);
    readBlockHeader(bytes);
    return null;
  } catch (error) {
    rethrowIfBug(error);
    if (error instanceof TsraftError && error.code === 'TSR_ERR_CORRUPT_SEGMENT') return error.message;
    throw error;
  }
}

function storedCrc(bytes: Uint8Array): number {
  const at = bytes.length - CRC_BYTES;
  return (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24)) >>> 0;
}

/**
 * Whether `candidate` is the block `damaged` was before it was damaged: the
 * same length, sound itself, and either the same stored CRC (the damage hit
 * the body: the CRC still names the original) or the same body (the damage
 * hit the CRC). Another version of the block (rewritten by a later write)
 * differs in length or CRC and is refused.
 */
export function isOriginalOf(damaged: Uint8Array, candidate: Uint8Array): boolean {
  if (candidate.length !== damaged.length || candidate.length < CRC_BYTES + 1) return false;
  if (blockProblem(candidate) !== null) return false;
  if (storedCrc(candidate) === storedCrc(damaged)) return true;
  for (let i = 0; i < candidate.length - CRC_BYTES; i++) if (candidate[i] !== damaged[i]) return false;
  return true;
}

/** Writes the original bytes back into the damaged block (in place: the series keeps the same array). */
export function repairBlock(damaged: Uint8Array, original: Uint8Array): void {
  assert(isOriginalOf(damaged, original), 'repairBlock with bytes that are not the original');
  damaged.set(original);
  assert(blockProblem(damaged) === null, 'a repaired block fails its checksum');
}

/** The sealed block of `series` starting at startMs, or null. */
export function sealedBlockAt(series: SeriesData, startMs: number): Uint8Array | null {
  for (const block of series.sealedBlocks()) if (block.startMs === startMs) return block.bytes;
  return null;
}
