// The event trace of one run: every line goes into a running 64-bit FNV-1a
// hash (the run's fingerprint, `trace_hash`) and the last lines are kept to
// print when a checker fails, so a seed can be replayed and compared.

/** Lines kept for the failure report. */
export const TRACE_TAIL_LINES = 80;

export class Trace {
  // FNV-1a 64 in two 32-bit halves (no BigInt on the hot path).
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;
  private readonly tail: string[] = [];
  private tailStart = 0;
  lines = 0;

  /** Receives every line when set (the CLI's --trace). */
  sink: ((line: string) => void) | null = null;

  constructor(private readonly clock: () => number) {}

  record(kind: string, detail: string): void {
    const line = `${this.clock().toFixed(3)} ${kind} ${detail}`;
    this.lines++;
    this.sink?.(line);
    for (let i = 0; i < line.length; i++) this.mix(line.charCodeAt(i) & 0xff, line.charCodeAt(i) >>> 8);
    this.mix(0x0a, 0);
    if (this.tail.length < TRACE_TAIL_LINES) {
      this.tail.push(line);
    } else {
      this.tail[this.tailStart] = line;
      this.tailStart = (this.tailStart + 1) % TRACE_TAIL_LINES;
    }
  }

  /** The hash of every line so far, 16 hex digits. */
  hash(): string {
    return (this.hi >>> 0).toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }

  lastLines(): string[] {
    return [...this.tail.slice(this.tailStart), ...this.tail.slice(0, this.tailStart)];
  }

  private mix(byte: number, high: number): void {
    this.step(byte);
    if (high !== 0) this.step(high & 0xff);
  }

  /** h = (h ^ byte) · 0x100000001b3 mod 2^64, on two 32-bit halves. */
  private step(byte: number): void {
    const lo = (this.lo ^ byte) >>> 0;
    // 0x100000001b3 = 2^40 + 0x1b3
    const loTimes = lo * 0x1b3;
    const newLo = loTimes >>> 0;
    const carry = Math.floor(loTimes / 0x1_0000_0000);
    const newHi = (Math.imul(this.hi, 0x1b3) + carry + ((lo << 8) >>> 0)) >>> 0;
    this.lo = newLo;
    this.hi = newHi;
  }
}
