// Java `long` arithmetic for the query engine. OpenTSDB computes integer
// aggregates in int64 with truncating division; these helpers reproduce that
// exactly, using plain numbers while values stay within ±2^53 and bigint past it.

export const INT64_MAX = (1n << 63n) - 1n;
export const INT64_MIN = -(1n << 63n);

/** Wraps an exact integer to int64 as Java's overflowing `long` does. */
export function wrapInt64(value: bigint): bigint {
  return BigInt.asIntN(64, value);
}

/** Java's `long / long` (truncates toward zero) for safe-integer operands. */
export function truncDiv(dividend: number, divisor: number): number {
  // dividend - remainder is an exact multiple of divisor, so the division is
  // exact; Math.trunc(dividend / divisor) can be off by one when the rounded
  // quotient lands on an integer.
  const remainder = dividend % divisor;
  return (dividend - remainder) / divisor;
}

/** Java's `(long) d` cast: NaN → 0, clamps to the int64 range, truncates. */
export function doubleToInt64(d: number): bigint {
  if (Number.isNaN(d)) return 0n;
  if (d >= 9223372036854775807) return INT64_MAX;
  if (d <= -9223372036854775808) return INT64_MIN;
  return BigInt(Math.trunc(d));
}

/** A number when the int64 fits in ±2^53 (exact), else the bigint itself. */
export function narrowInt64(value: bigint): number | bigint {
  return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
}

/** Parses a base-10 int64 as Java's Long.parseLong would accept it, or null. */
export function parseInt64(text: string): bigint | null {
  if (!/^[+-]?[0-9]{1,19}$/.test(text)) return null;
  const value = BigInt(text);
  if (value > INT64_MAX || value < INT64_MIN) return null;
  return value;
}
