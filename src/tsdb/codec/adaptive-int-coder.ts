// Codes unsigned integers up to 2^53 (zigzagged residuals) through the range
// coder: the bit length L through an adaptive binary tree, the bit below the
// leading one with a context per L, the remaining bits as equiprobable bits.
// The model learns the residual distribution of the block as it goes, so it
// costs within a fraction of a bit per value of the block's entropy without a
// table in the header. Tried and measured worse on real data: more context
// bits per L (each costs more to learn than it saves in a 2-hour block),
// sign-magnitude with a sign context per L, and declaring the L range up
// front. Layout: docs/segment-format.md.
import { assert } from '../../errors.js';
import { MAX_DIRECT_BITS, RangeDecoder, RangeEncoder, newModel } from './range-coder.js';

const LENGTH_TREE_BITS = 6;
/** Bit lengths are 0..54 (u ≤ 2^53). */
const MAX_BIT_LENGTH = 54;
export const MAX_UINT = 2 ** 53;
const MANTISSA_BASE = 1 << LENGTH_TREE_BITS;
const CONTEXT_COUNT = MANTISSA_BASE + MAX_BIT_LENGTH + 1;

const POW2: Float64Array = (() => {
  const t = new Float64Array(64);
  for (let i = 0; i < 64; i++) t[i] = 2 ** i;
  return t;
})();

export function bitLength(u: number): number {
  if (u < 0x1_0000_0000) return 32 - Math.clz32(u);
  return 64 - Math.clz32(Math.floor(u / 0x1_0000_0000));
}

export class AdaptiveUintEncoder {
  private readonly model = newModel(CONTEXT_COUNT);

  constructor(private readonly enc: RangeEncoder) {}

  encode(u: number): void {
    assert(u >= 0 && u <= MAX_UINT && Number.isInteger(u), `adaptive uint out of range: ${u}`);
    const enc = this.enc;
    const model = this.model;
    const length = bitLength(u);
    let node = 1;
    for (let b = LENGTH_TREE_BITS - 1; b >= 0; b--) {
      const bit = (length >>> b) & 1;
      enc.encodeBit(model, node, bit);
      node = (node << 1) | bit;
    }
    if (length < 2) return;
    // u = 1 · 2^(L−1) + second · 2^(L−2) + low, low < 2^(L−2).
    let plainBits = length - 2;
    const rest = u - POW2[length - 1]!;
    const second = rest >= POW2[plainBits]! ? 1 : 0;
    enc.encodeBit(model, MANTISSA_BASE + length, second);
    if (plainBits === 0) return;
    let low = rest - second * POW2[plainBits]!;
    while (plainBits > MAX_DIRECT_BITS) {
      plainBits -= MAX_DIRECT_BITS;
      const chunk = Math.floor(low / POW2[plainBits]!);
      enc.encodeDirect(chunk, MAX_DIRECT_BITS);
      low -= chunk * POW2[plainBits]!;
    }
    enc.encodeDirect(low, plainBits);
  }
}

export class AdaptiveUintDecoder {
  private readonly model = newModel(CONTEXT_COUNT);

  constructor(private readonly dec: RangeDecoder) {}

  decode(): number {
    const dec = this.dec;
    const model = this.model;
    let node = 1;
    for (let b = 0; b < LENGTH_TREE_BITS; b++) node = (node << 1) | dec.decodeBit(model, node);
    // A corrupt stream may decode a length beyond 54; clamp so the arithmetic
    // stays exact (the block checksum reports the damage).
    let length = node - MANTISSA_BASE;
    if (length > MAX_BIT_LENGTH) length = MAX_BIT_LENGTH;
    if (length < 2) return length;
    let plainBits = length - 2;
    let u = POW2[length - 1]! + dec.decodeBit(model, MANTISSA_BASE + length) * POW2[plainBits]!;
    while (plainBits > MAX_DIRECT_BITS) {
      plainBits -= MAX_DIRECT_BITS;
      u += dec.decodeDirect(MAX_DIRECT_BITS) * POW2[plainBits]!;
    }
    if (plainBits > 0) u += dec.decodeDirect(plainBits);
    return u;
  }
}
