// The pure part of live-data scrubbing (docs/backup-service.md,
// "Scrubbing"): checking a series' sealed segments (blocks) against their
// stored CRC-32C, and deciding whether a copy from elsewhere is exactly the
// block that was damaged, so a repair writes back the original bytes and
// nothing else. The scrubbing job itself (rate, walking the series, fetching
// copies) is src/node/scrubber.ts.
import { TsraftError, rethrowIfBug } from '../errors.js';
import { readBlockHeader, verifyBlockChecksum } from './codec/block-format.js';
import { storedBlockCrc, type SealedBlockRecord, type SeriesData } from './series-data.js';

export interface DamagedBlock {
  startMs: number;
  /** The series' record of the block: a repair replaces exactly this block. */
  record: SealedBlockRecord;
  problem: string;
}

/** Checks every sealed block of a series (in memory or read back from the
 *  store); returns the damaged ones and the bytes read. */
export function scrubSeries(series: SeriesData): { damaged: DamagedBlock[]; bytesChecked: number } {
  const damaged: DamagedBlock[] = [];
  let bytesChecked = 0;
  for (const record of series.sealedRecords()) {
    const bytes = series.storedBytesOf(record);
    bytesChecked += bytes?.length ?? 0;
    const problem = bytes === undefined ? 'the block is missing from the store' : recordProblem(record, bytes);
    if (problem !== null) damaged.push({ startMs: record.startMs, record, problem });
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

/** Null when `bytes` are sound and are the block `record` describes (length and stored CRC). */
function recordProblem(record: SealedBlockRecord, bytes: Uint8Array): string | null {
  const problem = blockProblem(bytes);
  if (problem !== null) return problem;
  if (bytes.length !== record.byteLength || storedBlockCrc(bytes) !== record.crc) {
    return `the block (${bytes.length} bytes) is not the one sealed (${record.byteLength} bytes, CRC ${record.crc})`;
  }
  return null;
}

/**
 * Whether `candidate` is the block `record` was sealed with: sound itself,
 * with the record's length and stored CRC (kept in memory since the block was
 * sealed, so damage to the stored copy, body or CRC, does not change them).
 * Another version of the block (rewritten by a later write) differs in length
 * or CRC and is refused.
 */
export function isOriginalOf(record: SealedBlockRecord, candidate: Uint8Array): boolean {
  return recordProblem(record, candidate) === null;
}

/** Whether the series still holds this very block, still damaged. */
export function stillDamaged(series: SeriesData, record: SealedBlockRecord): boolean {
  if (series.sealedRecordAt(record.startMs) !== record) return false;
  const bytes = series.storedBytesOf(record);
  return bytes === undefined || recordProblem(record, bytes) !== null;
}

/** The sealed block of `series` starting at startMs (checked against its record), or null. */
export function sealedBlockAt(series: SeriesData, startMs: number): Uint8Array | null {
  for (const block of series.sealedBlocks()) if (block.startMs === startMs) return block.bytes;
  return null;
}
