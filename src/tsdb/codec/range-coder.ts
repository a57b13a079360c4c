// An adaptive binary range coder (LZMA-style, 32-bit low/range, carries
// propagated into the bytes already written) with count-based probability
// estimates. It is the entropy coder behind the integer sequences: it spends
// close to -log2(p) bits per decision, so skewed or near-constant residuals
// cost a fraction of a bit each. docs/segment-format.md specifies it exactly;
// changing any constant here changes the format.
import { assert } from '../../errors.js';
import { corruptSegment } from './corrupt.js';

const TOP = 1 << 24;
const TWO_POW_32 = 0x1_0000_0000;
/** Probabilities are 16-bit estimates that the next bit is 0. */
export const PROB_HALF = 32768;
/** Adaptation: after c observations a context moves 1/(c + 2) of the way to
 *  each new bit (a running frequency count), until c reaches RATE_LIMIT, from
 *  then on it moves 1/(RATE_LIMIT + 2): fast learning, then a stable estimate
 *  that still follows slow drift. */
export const RATE_LIMIT = 62;
/** Step sizes in 1/32768 units: floor(32768 / (c + 2)). Integer math keeps
 *  every product below 2^31. */
const STEP: Int32Array = (() => {
  const t = new Int32Array(RATE_LIMIT + 1);
  for (let c = 0; c <= RATE_LIMIT; c++) t[c] = Math.floor(32768 / (c + 2));
  return t;
})();
const P_MIN = 32;
const P_MAX = 65536 - 32;
/** Most equiprobable bits coded in one step. */
export const MAX_DIRECT_BITS = 16;

/** Context storage: per context a 16-bit estimate that the bit is 0 and an
 *  observation count. */
export function newModel(contextCount: number): Uint16Array {
  const m = new Uint16Array(contextCount * 2);
  for (let i = 0; i < m.length; i += 2) m[i] = PROB_HALF;
  return m;
}

/** The estimate after seeing a 0 (p grows) or a 1 (p shrinks) at count c. */
function afterZero(p: number, c: number): number {
  const next = p + (((65536 - p) * STEP[c]!) >> 15);
  return next > P_MAX ? P_MAX : next;
}

function afterOne(p: number, c: number): number {
  const next = p - ((p * STEP[c]!) >> 15);
  return next < P_MIN ? P_MIN : next;
}

export class RangeEncoder {
  private out: Uint8Array;
  private pos = 0;
  private low = 0;
  private range = 0xffffffff;

  constructor(initialCapacityBytes = 256) {
    this.out = new Uint8Array(Math.max(16, initialCapacityBytes));
  }

  /** Codes one bit in context `ctx` of `model` and updates the estimates. */
  encodeBit(model: Uint16Array, ctx: number, bit: number): void {
    const i = ctx << 1;
    const p = model[i]!;
    const c = model[i + 1]!;
    const bound = (this.range >>> 16) * p;
    if (bit === 0) {
      this.range = bound;
      model[i] = afterZero(p, c);
    } else {
      this.low += bound;
      this.range -= bound;
      model[i] = afterOne(p, c);
      if (this.low >= TWO_POW_32) this.carry();
    }
    if (c < RATE_LIMIT) model[i + 1] = c + 1;
    while (this.range < TOP) this.shiftByte();
  }

  /** Codes the low `bitCount` bits of `value` (1–16) as equiprobable bits. */
  encodeDirect(value: number, bitCount: number): void {
    const r = this.range >>> bitCount;
    this.low += value * r;
    this.range = r;
    if (this.low >= TWO_POW_32) this.carry();
    while (this.range < TOP) this.shiftByte();
  }

  private carry(): void {
    this.low -= TWO_POW_32;
    let i = this.pos - 1;
    while (i >= 0 && this.out[i] === 0xff) this.out[i--] = 0;
    // The coded value is always below 1.0, so a carry never leaves the stream.
    assert(i >= 0, 'range coder carry ran past the first byte');
    this.out[i]!++;
  }

  private shiftByte(): void {
    if (this.pos === this.out.length) {
      const next = new Uint8Array(this.out.length * 2);
      next.set(this.out);
      this.out = next;
    }
    this.out[this.pos++] = this.low >>> 24;
    this.low = (this.low & 0xffffff) * 256;
    this.range = this.range * 256;
  }

  /** Ends the stream with the fewest bytes that pin a value inside the final
   *  interval; trailing zero bytes are dropped (the decoder reads zeros past
   *  the end). */
  finish(): Uint8Array {
    // A multiple of 2^32 needs no byte beyond its carry; otherwise the next
    // multiple of 2^24 above low is inside [low, low + range) as range ≥ 2^24.
    if (this.low !== 0 && this.low + this.range > TWO_POW_32) {
      this.low = TWO_POW_32;
      this.carry();
    } else if (this.low !== 0) {
      const value = Math.ceil(this.low / TOP) * TOP;
      this.low = value;
      if (this.low >= TWO_POW_32) this.carry();
      else this.shiftByte();
    }
    let end = this.pos;
    while (end > 0 && this.out[end - 1] === 0) end--;
    return this.out.slice(0, end);
  }
}

export class RangeDecoder {
  private pos: number;
  private code = 0;
  private range = 0xffffffff;
  /** Set when a direct-bit symbol decodes out of range: the bytes are corrupt. */
  private damaged = false;

  constructor(
    private readonly buf: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    assert(start >= 0 && start <= end && end <= buf.length, 'range decoder bounds');
    this.pos = start;
    for (let k = 0; k < 4; k++) this.code = this.code * 256 + this.nextByte();
  }

  private nextByte(): number {
    const p = this.pos++;
    return p < this.end ? this.buf[p]! : 0;
  }

  decodeBit(model: Uint16Array, ctx: number): number {
    const i = ctx << 1;
    const p = model[i]!;
    const c = model[i + 1]!;
    const bound = (this.range >>> 16) * p;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      model[i] = afterZero(p, c);
      bit = 0;
    } else {
      this.code -= bound;
      this.range -= bound;
      model[i] = afterOne(p, c);
      bit = 1;
    }
    if (c < RATE_LIMIT) model[i + 1] = c + 1;
    while (this.range < TOP) {
      this.code = (this.code & 0xffffff) * 256 + this.nextByte();
      this.range = this.range * 256;
    }
    return bit;
  }

  decodeDirect(bitCount: number): number {
    const r = this.range >>> bitCount;
    let value = Math.floor(this.code / r);
    const limit = 1 << bitCount;
    if (value >= limit) {
      this.damaged = true;
      value = limit - 1;
    }
    this.code -= value * r;
    this.range = r;
    while (this.range < TOP) {
      this.code = (this.code & 0xffffff) * 256 + this.nextByte();
      this.range = this.range * 256;
    }
    return value;
  }

  /** Throws TSR_ERR_CORRUPT_SEGMENT if the stream could not have been written
   *  by the encoder (call once all symbols are decoded). */
  checkEnd(what: string): void {
    // Reading past the end is normal (trailing zero bytes are not stored), so
    // only an impossible symbol proves damage; the block checksum does the rest.
    if (this.damaged) throw corruptSegment(`${what}: range-coded stream is corrupt`);
  }
}
