// Float64 ↔ 64-bit pattern as two unsigned 32-bit halves, independent of the
// platform's byte order, plus the 64-bit shifts the bit-level codecs need.

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = LITTLE_ENDIAN ? 0 : 1;

/** The IEEE-754 pattern of v: out[0] = high 32 bits, out[1] = low 32 bits. */
export function floatBits(v: number, out: Uint32Array): void {
  f64[0] = v;
  out[0] = u32[HI]!;
  out[1] = u32[LO]!;
}

export function bitsToFloat(hi: number, lo: number): number {
  u32[HI] = hi;
  u32[LO] = lo;
  return f64[0]!;
}

/** Count of leading zero bits of the 64-bit (hi, lo); 64 for zero. */
export function clz64(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

/** Count of trailing zero bits of the 64-bit (hi, lo); 64 for zero. */
export function ctz64(hi: number, lo: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  if (hi !== 0) return 63 - Math.clz32(hi & -hi);
  return 64;
}
