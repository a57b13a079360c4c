// A fast 32-bit FNV-1a digest of bytes, for comparing entries and snapshots
// across replicas (a mismatch is reported; equal digests of different bytes
// are astronomically unlikely for the few thousand values of one run).
export function digestBytes(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return `${bytes.length}:${(h >>> 0).toString(16)}`;
}
