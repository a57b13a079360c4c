// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum LevelDB,
// ext4 and iSCSI use. One implementation for the whole code base: sealed
// blocks and series snapshots (docs/segment-format.md), write batches and
// commands, and outside src/tsdb the Raft log records, snapshot files, client
// frames and backups. It lives here because src/tsdb may import nothing but
// its own modules and must stay pure (no node:zlib, no node:crypto).
//
// Slicing-by-16 over one flat Int32Array of 16 tables: about 0.65 ns per byte
// here, twice as fast as slicing-by-8 over eight separate Uint32Arrays (V8
// keeps one int32 table in registers better than eight, and never boxes its
// values). Entries can be megabytes, and every save, load, seal and read
// checksums them.

const POLY = 0x82f63b78;
const TABLE_COUNT = 16;
/** TABLES[t * 256 + b]: the CRC of byte b followed by t zero bytes. */
const TABLES: Int32Array = buildTables();

function buildTables(): Int32Array {
  const tables = new Int32Array(TABLE_COUNT * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    tables[n] = c;
  }
  for (let t = 1; t < TABLE_COUNT; t++) {
    for (let n = 0; n < 256; n++) {
      const prev = tables[(t - 1) * 256 + n]!;
      tables[t * 256 + n] = (prev >>> 8) ^ tables[prev & 0xff]!;
    }
  }
  return tables;
}

/** CRC-32C of bytes[start, end). */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cContinue(0, bytes, start, end);
}

/**
 * CRC-32C of everything `previous` covered followed by bytes[start, end):
 * crc32cContinue(crc32c(a), b) === crc32c(a ++ b). `previous` 0 starts afresh.
 * For checksums over a stream of chunks.
 */
export function crc32cContinue(previous: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  const t = TABLES;
  let crc = ~previous;
  let i = start;
  const end16 = end - ((end - start) % 16);
  while (i < end16) {
    const a = crc ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    crc =
      t[0xf00 + (a & 0xff)]! ^
      t[0xe00 + ((a >>> 8) & 0xff)]! ^
      t[0xd00 + ((a >>> 16) & 0xff)]! ^
      t[0xc00 + (a >>> 24)]! ^
      t[0xb00 + bytes[i + 4]!]! ^
      t[0xa00 + bytes[i + 5]!]! ^
      t[0x900 + bytes[i + 6]!]! ^
      t[0x800 + bytes[i + 7]!]! ^
      t[0x700 + bytes[i + 8]!]! ^
      t[0x600 + bytes[i + 9]!]! ^
      t[0x500 + bytes[i + 10]!]! ^
      t[0x400 + bytes[i + 11]!]! ^
      t[0x300 + bytes[i + 12]!]! ^
      t[0x200 + bytes[i + 13]!]! ^
      t[0x100 + bytes[i + 14]!]! ^
      t[bytes[i + 15]!]!;
    i += 16;
  }
  while (i < end) crc = t[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
