// The integer-sequence coder shared by timestamps and decimal values: pick
// the transform that leaves the smallest residuals (order-0 values, order-1
// deltas, order-2 delta-of-deltas, or values minus a regular slope), factor
// out the median and the common divisor, and range-code what is left. A
// perfectly regular or constant sequence costs a few header bytes whatever
// its length. Layout: docs/segment-format.md, "Integer sequence".
import { assert } from '../../errors.js';
import { AdaptiveUintDecoder, AdaptiveUintEncoder, MAX_BIT_LENGTH, bitLength, typicalBitLength } from './adaptive-int-coder.js';
import { BitReader, BitWriter } from './bit-stream.js';
import { ByteReader, ByteWriter, unzigzag, zigzag } from './byte-buffer.js';
import { corruptSegment } from './corrupt.js';
import { RangeDecoder, RangeEncoder } from './range-coder.js';

/** Largest |x| accepted: order-2 differences minus the centre stay ≤ 2^52. */
export const MAX_SEQUENCE_MAGNITUDE = 2 ** 49;
const MAX_ORDER = 2;
const SHAPE_ORDER_MASK = 0b11;
const SHAPE_HAS_SLOPE = 0b100;
const SHAPE_ALL_EQUAL = 0b1000;
const SHAPE_PACKED = 0b1_0000;
const SHAPE_KNOWN_BITS = 0b1_1111;
const TWO_POW_32 = 0x1_0000_0000;
/** Zigzagged residuals are ≤ 2^53: at most 54 bits. */
const MAX_PACKED_WIDTH = MAX_BIT_LENGTH;

interface Candidate {
  order: number;
  slope: number;
}

/** Reusable scratch arrays, grown on demand, so encoding a block allocates
 *  only its output. Not shared across calls that interleave. */
class Scratch {
  diffs = new Float64Array(1024);
  select = new Float64Array(1024);

  ensure(n: number): void {
    if (this.diffs.length >= n) return;
    let cap = this.diffs.length;
    while (cap < n) cap *= 2;
    this.diffs = new Float64Array(cap);
    this.select = new Float64Array(cap);
  }
}
const scratch = new Scratch();

function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** The k-th smallest of a[0..n) (a is reordered). Deterministic quickselect
 *  with a median-of-three pivot. */
function selectKth(a: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (hi > lo) {
    const mid = (lo + hi) >>> 1;
    const x = a[lo]!;
    const y = a[mid]!;
    const z = a[hi]!;
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return a[k]!;
  }
  return a[k]!;
}

/** Writes d[j], the order-th difference of (x[i] − i·slope), into out. The
 *  slope is only used with order 0. */
function differences(x: Float64Array, n: number, order: number, slope: number, out: Float64Array): void {
  const m = n - order;
  if (order === 0) {
    for (let i = 0; i < n; i++) out[i] = x[i]! - i * slope;
  } else if (order === 1) {
    for (let j = 0; j < m; j++) out[j] = x[j + 1]! - x[j]!;
  } else {
    for (let j = 0; j < m; j++) out[j] = x[j + 2]! - 2 * x[j + 1]! + x[j]!;
  }
}

interface Evaluation {
  cost: number;
  centre: number;
  divisor: number;
}

function evaluate(d: Float64Array, m: number): Evaluation {
  const sel = scratch.select;
  for (let j = 0; j < m; j++) sel[j] = d[j]!;
  const centre = selectKth(sel, m, (m - 1) >>> 1);
  let divisor = 0;
  for (let j = 0; j < m; j++) {
    const r = d[j]! - centre;
    if (r !== 0) {
      divisor = gcd(Math.abs(r), divisor);
      if (divisor === 1) break;
    }
  }
  if (divisor === 0) return { cost: 0, centre, divisor: 0 };
  let cost = 0;
  for (let j = 0; j < m; j++) {
    const r = (d[j]! - centre) / divisor;
    // Int32 fast path: zigzag and bit length with integer instructions.
    cost += r >= -0x4000_0000 && r < 0x4000_0000 ? 32 - Math.clz32((r << 1) ^ (r >> 31)) : bitLength(zigzag(r));
  }
  return { cost, centre, divisor };
}

/** Encodes x[0..n) (integers, |x| ≤ 2^49, n ≥ 1). `trySlope` adds the
 *  regular-grid transform that suits timestamps. */
export function encodeIntSequence(x: Float64Array, n: number, out: ByteWriter, trySlope: boolean): void {
  assert(n >= 1 && n <= x.length, 'integer sequence length');
  scratch.ensure(n);
  const candidates: Candidate[] = [{ order: 0, slope: 0 }];
  if (n > 1) candidates.push({ order: 1, slope: 0 });
  if (n > 2) candidates.push({ order: 2, slope: 0 });
  if (trySlope && n > 2) {
    // The typical interval as a slope: median delta, and the mean over the
    // whole span (which survives jitter better when no point is missing).
    const d = scratch.diffs;
    for (let j = 0; j < n - 1; j++) d[j] = x[j + 1]! - x[j]!;
    const median = selectKth(d, n - 1, (n - 2) >>> 1);
    const mean = Math.round((x[n - 1]! - x[0]!) / (n - 1));
    for (const slope of median === mean ? [median] : [median, mean]) {
      if (slope !== 0 && Math.abs(slope) * (n - 1) <= MAX_SEQUENCE_MAGNITUDE) candidates.push({ order: 0, slope });
    }
  }
  let best: Candidate = candidates[0]!;
  let bestEval: Evaluation | null = null;
  for (const c of candidates) {
    differences(x, n, c.order, c.slope, scratch.diffs);
    const e = evaluate(scratch.diffs, n - c.order);
    // Each head value costs about as much as a residual; prefer lower orders on ties.
    const cost = e.cost + c.order * 8;
    if (bestEval === null || cost < bestEval.cost + best.order * 8) {
      best = c;
      bestEval = e;
    }
  }
  assert(bestEval !== null, 'no integer sequence candidate');
  const { order, slope } = best;
  const { centre, divisor } = bestEval;
  const allEqual = divisor === 0;
  let residualBytes: Uint8Array | null = null;
  let packed = false;
  if (!allEqual) {
    differences(x, n, order, slope, scratch.diffs);
    const u = scratch.diffs;
    const m = n - order;
    let maxLength = 0;
    for (let j = 0; j < m; j++) {
      u[j] = zigzag((u[j]! - centre) / divisor);
      const length = bitLength(u[j]!);
      if (length > maxLength) maxLength = length;
    }
    const typicalLength = typicalBitLength(u, m);
    const enc = new RangeEncoder(m * 2 + 16);
    const coder = new AdaptiveUintEncoder(enc, typicalLength);
    for (let j = 0; j < m; j++) coder.encode(u[j]!);
    const coded = enc.finish();
    residualBytes = new Uint8Array(coded.length + 1);
    residualBytes[0] = typicalLength;
    residualBytes.set(coded, 1);
    // Short sequences give the adaptive model too little to learn from:
    // plain fixed-width packing is then smaller.
    if (1 + Math.ceil((m * maxLength) / 8) < residualBytes.length) {
      packed = true;
      residualBytes = packResiduals(u, m, maxLength);
    }
  }
  out.u8(order | (slope !== 0 ? SHAPE_HAS_SLOPE : 0) | (allEqual ? SHAPE_ALL_EQUAL : 0) | (packed ? SHAPE_PACKED : 0));
  if (slope !== 0) out.svarint(slope);
  for (let i = 0; i < order; i++) out.svarint(x[i]! - i * slope);
  out.svarint(centre);
  if (residualBytes === null) return;
  out.varint(divisor);
  out.bytes(residualBytes);
}

/** u[0..m) as a width byte and m fields of that many bits. */
function packResiduals(u: Float64Array, m: number, width: number): Uint8Array {
  const w = new BitWriter(2 + Math.ceil((m * width) / 8));
  w.writeBits(width, 8);
  for (let j = 0; j < m; j++) {
    const v = u[j]!;
    if (width > 32) {
      const hi = Math.floor(v / TWO_POW_32);
      w.writeBits(hi, width - 32);
      w.writeBits(v - hi * TWO_POW_32, 32);
    } else {
      w.writeBits(v, width);
    }
  }
  return w.finish();
}

function unpackResiduals(r: ByteReader, m: number, out: Float64Array, at: number): void {
  const bits = new BitReader(r.buf, r.pos, r.end);
  const width = bits.readBits(8);
  if (width > MAX_PACKED_WIDTH) throw corruptSegment('packed residual width out of range', { width });
  for (let j = 0; j < m; j++) {
    out[at + j] = width > 32 ? bits.readBits(width - 32) * TWO_POW_32 + bits.readBits(32) : bits.readBits(width);
  }
  if (!bits.atPaddedEnd()) throw corruptSegment('packed residuals have trailing bytes');
  r.pos = r.end;
}

/** Decodes n integers from r (which must end where the payload ends) into out. */
export function decodeIntSequence(r: ByteReader, n: number, out: Float64Array): void {
  assert(n >= 1 && n <= out.length, 'integer sequence length');
  const shape = r.u8('sequence shape');
  const order = shape & SHAPE_ORDER_MASK;
  if ((shape & ~SHAPE_KNOWN_BITS) !== 0 || order > MAX_ORDER || order >= n) {
    throw corruptSegment('integer sequence has an invalid shape byte', { shape, pointCount: n });
  }
  const slope = (shape & SHAPE_HAS_SLOPE) !== 0 ? r.svarint('sequence slope') : 0;
  for (let i = 0; i < order; i++) out[i] = r.svarint('sequence head');
  const centre = r.svarint('sequence centre');
  if ((shape & SHAPE_ALL_EQUAL) !== 0) {
    for (let i = order; i < n; i++) out[i] = centre;
    if (r.remaining !== 0) throw corruptSegment('integer sequence has trailing bytes', { trailingBytes: r.remaining });
  } else {
    const divisor = r.varint('sequence divisor');
    if (divisor === 0) throw corruptSegment('integer sequence has a zero divisor');
    if ((shape & SHAPE_PACKED) !== 0) {
      unpackResiduals(r, n - order, out, order);
      for (let i = order; i < n; i++) out[i] = unzigzag(out[i]!) * divisor + centre;
    } else {
      const typicalLength = r.u8('typical residual bit length');
      if (typicalLength > MAX_BIT_LENGTH) throw corruptSegment('typical residual bit length out of range', { typicalLength });
      const dec = new RangeDecoder(r.buf, r.pos, r.end);
      const coder = new AdaptiveUintDecoder(dec, typicalLength);
      for (let i = order; i < n; i++) out[i] = unzigzag(coder.decode()) * divisor + centre;
      dec.checkEnd('integer sequence');
      r.pos = r.end;
    }
  }
  if (order === 1) {
    for (let i = 1; i < n; i++) out[i] = out[i - 1]! + out[i]!;
  } else if (order === 2) {
    for (let i = 2; i < n; i++) out[i] = 2 * out[i - 1]! - out[i - 2]! + out[i]!;
  }
  if (slope !== 0) for (let i = 0; i < n; i++) out[i] = out[i]! + i * slope;
}
