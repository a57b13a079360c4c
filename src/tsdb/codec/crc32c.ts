// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): the checksum of every
// sealed block and series snapshot (docs/segment-format.md). Pure TypeScript,
// table-driven with slicing-by-4, because src/tsdb may not import node:zlib or
// node:crypto and blocks are checksummed on every seal and every read.

const POLY = 0x82f63b78;
const [T0, T1, T2, T3] = buildTables();

function buildTables(): [Uint32Array, Uint32Array, Uint32Array, Uint32Array] {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  const next = (prev: Uint32Array): Uint32Array => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) t[n] = (prev[n]! >>> 8) ^ t0[prev[n]! & 0xff]!;
    return t;
  };
  const t1 = next(t0);
  const t2 = next(t1);
  const t3 = next(t2);
  return [t0, t1, t2, t3];
}

/** CRC-32C of bytes[start, end). */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  let i = start;
  const stop4 = end - ((end - start) & 3);
  for (; i < stop4; i += 4) {
    crc ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    crc = T3[crc & 0xff]! ^ T2[(crc >>> 8) & 0xff]! ^ T1[(crc >>> 16) & 0xff]! ^ T0[crc >>> 24]!;
  }
  for (; i < end; i++) crc = T0[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
