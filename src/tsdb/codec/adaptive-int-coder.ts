// Codes unsigned integers up to 2^53 (zigzagged residuals) through the range
// coder. The bit length L is coded relative to the block's typical length Lc
// (declared up front): one decision "L = Lc?", then the direction, then the
// distance in unary — two or three decisions for most values, where a plain
// 6-level tree over L always takes six. Then the bit below the leading one
// with a context per L, and the remaining bits as equiprobable bits.
// Every decision adapts, so the model learns the block's residual
// distribution as it goes, without a table in the header. Tried and measured
// worse on real data: more context bits per L (each costs more to learn than
// it saves in a 2-hour block) and sign-magnitude with sign contexts per L.
// Layout: docs/segment-format.md.
import { AssertionError, assert } from '../../errors.js';
import { MAX_DIRECT_BITS, RangeDecoder, RangeEncoder, newModel } from './range-coder.js';

/** Bit lengths are 0..54 (u ≤ 2^53). */
export const MAX_BIT_LENGTH = 54;
export const MAX_UINT = 2 ** 53;
const CTX_IS_TYPICAL = 0;
const CTX_IS_LONGER = 1;
/** Unary distance steps with their own context, per direction. */
const STEP_CONTEXTS = 16;
const CTX_STEPS_LONGER = 2;
const CTX_STEPS_SHORTER = CTX_STEPS_LONGER + STEP_CONTEXTS;
const CTX_SECOND_BIT = CTX_STEPS_SHORTER + STEP_CONTEXTS;
const CONTEXT_COUNT = CTX_SECOND_BIT + MAX_BIT_LENGTH + 1;

const POW2: Float64Array = (() => {
  const t = new Float64Array(64);
  for (let i = 0; i < 64; i++) t[i] = 2 ** i;
  return t;
})();

export function bitLength(u: number): number {
  if (u < 0x1_0000_0000) return 32 - Math.clz32(u);
  return 64 - Math.clz32(Math.floor(u / 0x1_0000_0000));
}

/** The typical bit length of u[0..m): the median of their bit lengths. */
export function typicalBitLength(u: Float64Array, m: number): number {
  const histogram = new Uint32Array(MAX_BIT_LENGTH + 1);
  for (let j = 0; j < m; j++) histogram[bitLength(u[j]!)]!++;
  let seen = 0;
  for (let length = 0; length <= MAX_BIT_LENGTH; length++) {
    seen += histogram[length]!;
    if (seen * 2 >= m) return length;
  }
  return MAX_BIT_LENGTH;
}

export class AdaptiveUintEncoder {
  private readonly model = newModel(CONTEXT_COUNT);

  constructor(
    private readonly enc: RangeEncoder,
    private readonly typicalLength: number,
  ) {
    assert(typicalLength >= 0 && typicalLength <= MAX_BIT_LENGTH, 'typical bit length out of range');
  }

  encode(u: number): void {
    if (!(u >= 0 && u <= MAX_UINT && Number.isInteger(u))) throw new AssertionError(`adaptive uint out of range: ${u}`);
    const enc = this.enc;
    const model = this.model;
    const length = bitLength(u);
    const typical = this.typicalLength;
    if (length === typical) {
      enc.encodeBit(model, CTX_IS_TYPICAL, 0);
    } else {
      enc.encodeBit(model, CTX_IS_TYPICAL, 1);
      // The direction is implied at either end of the range of lengths.
      const longer = length > typical;
      if (typical > 0 && typical < MAX_BIT_LENGTH) enc.encodeBit(model, CTX_IS_LONGER, longer ? 1 : 0);
      const distance = longer ? length - typical : typical - length;
      const room = longer ? MAX_BIT_LENGTH - typical : typical;
      const base = longer ? CTX_STEPS_LONGER : CTX_STEPS_SHORTER;
      // Unary: "is the distance beyond step?" until no, or no room is left.
      for (let step = 1; step < room; step++) {
        const more = distance > step ? 1 : 0;
        enc.encodeBit(model, base + (step < STEP_CONTEXTS ? step - 1 : STEP_CONTEXTS - 1), more);
        if (more === 0) break;
      }
    }
    if (length < 2) return;
    // u = 1 · 2^(L−1) + second · 2^(L−2) + low, low < 2^(L−2).
    let plainBits = length - 2;
    const rest = u - POW2[length - 1]!;
    const second = rest >= POW2[plainBits]! ? 1 : 0;
    enc.encodeBit(model, CTX_SECOND_BIT + length, second);
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

  constructor(
    private readonly dec: RangeDecoder,
    private readonly typicalLength: number,
  ) {
    assert(typicalLength >= 0 && typicalLength <= MAX_BIT_LENGTH, 'typical bit length out of range');
  }

  decode(): number {
    const dec = this.dec;
    const model = this.model;
    const typical = this.typicalLength;
    let length = typical;
    if (dec.decodeBit(model, CTX_IS_TYPICAL) === 1) {
      const longer = typical === 0 ? true : typical === MAX_BIT_LENGTH ? false : dec.decodeBit(model, CTX_IS_LONGER) === 1;
      const room = longer ? MAX_BIT_LENGTH - typical : typical;
      const base = longer ? CTX_STEPS_LONGER : CTX_STEPS_SHORTER;
      let distance = 1;
      while (distance < room && dec.decodeBit(model, base + (distance < STEP_CONTEXTS ? distance - 1 : STEP_CONTEXTS - 1)) === 1) distance++;
      length = longer ? typical + distance : typical - distance;
    }
    if (length < 2) return length;
    let plainBits = length - 2;
    let u = POW2[length - 1]! + dec.decodeBit(model, CTX_SECOND_BIT + length) * POW2[plainBits]!;
    while (plainBits > MAX_DIRECT_BITS) {
      plainBits -= MAX_DIRECT_BITS;
      u += dec.decodeDirect(MAX_DIRECT_BITS) * POW2[plainBits]!;
    }
    if (plainBits > 0) u += dec.decodeDirect(plainBits);
    return u;
  }
}
