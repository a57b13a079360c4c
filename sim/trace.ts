// The event trace of one run: every line goes into a running 64-bit FNV-1a
// hash (the run's fingerprint, `trace_hash`) and the last lines are kept to
// print when a checker fails, so a seed can be replayed and compared.
import type { Message } from '../src/raft/types.js';
import { describe } from './describe.js';

/** Lines kept for the failure report. */
export const TRACE_TAIL_LINES = 80;

interface TraceLine {
  timeMs: number;
  kind: string;
  /** A message is formatted only when the line is printed (the hot path). */
  detail: string | Message;
}

const TYPE_CODES: Readonly<Record<Message['type'], number>> = {
  prevote: 1,
  'prevote-resp': 2,
  vote: 3,
  'vote-resp': 4,
  append: 5,
  'append-resp': 6,
  heartbeat: 7,
  'heartbeat-resp': 8,
  snapshot: 9,
  'snapshot-resp': 10,
  'timeout-now': 11,
  'read-index': 12,
  'read-index-resp': 13,
};

export class Trace {
  // FNV-1a 64 in two 32-bit halves (no BigInt on the hot path).
  private hi = 0xcbf29ce4;
  private lo = 0x84222325;
  private readonly tail: TraceLine[] = [];
  private tailStart = 0;
  lines = 0;

  /** Receives every line when set (the CLI's --trace). */
  sink: ((line: string) => void) | null = null;

  constructor(private readonly clock: () => number) {}

  record(kind: string, detail: string): void {
    const timeMs = this.clock();
    this.mix32(Math.round(timeMs * 1000));
    this.mixString(kind);
    this.mixString(detail);
    this.keep({ timeMs, kind, detail });
  }

  /** A delivered message: hashed by its fields, formatted only if printed. */
  recordMessage(m: Message): void {
    const timeMs = this.clock();
    this.mix32(Math.round(timeMs * 1000));
    this.mix32(TYPE_CODES[m.type]);
    this.mixString(m.from);
    this.mixString(m.to);
    this.mix32(m.term);
    this.mix32(mainIndex(m));
    this.keep({ timeMs, kind: 'msg', detail: m });
  }

  private keep(line: TraceLine): void {
    this.lines++;
    if (this.sink !== null) this.sink(format(line));
    if (this.tail.length < TRACE_TAIL_LINES) {
      this.tail.push(line);
    } else {
      this.tail[this.tailStart] = line;
      this.tailStart = (this.tailStart + 1) % TRACE_TAIL_LINES;
    }
  }

  private mixString(text: string): void {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      this.step(c & 0xff);
      if (c > 0xff) this.step(c >>> 8);
    }
    this.step(0x0a);
  }

  private mix32(x: number): void {
    const v = x >>> 0;
    this.step(v & 0xff);
    this.step((v >>> 8) & 0xff);
    this.step((v >>> 16) & 0xff);
    this.step(v >>> 24);
    if (x > 0xffffffff || x < 0) this.mix32(Math.floor(x / 0x1_0000_0000));
  }

  /** The hash of every line so far, 16 hex digits. */
  hash(): string {
    return (this.hi >>> 0).toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }

  lastLines(): string[] {
    return [...this.tail.slice(this.tailStart), ...this.tail.slice(0, this.tailStart)].map(format);
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

function format(line: TraceLine): string {
  return `${line.timeMs.toFixed(3)} ${line.kind} ${typeof line.detail === 'string' ? line.detail : describe(line.detail)}`;
}

/** The index a message is about (0 when none), for the hash. */
function mainIndex(m: Message): number {
  switch (m.type) {
    case 'append':
      return m.prevIndex * 64 + m.entries.length;
    case 'append-resp':
    case 'read-index-resp':
      return m.index;
    case 'vote':
    case 'prevote':
      return m.lastIndex;
    case 'heartbeat':
      return m.commit;
    case 'snapshot':
      return m.offset;
    case 'snapshot-resp':
      return m.nextOffset;
    default:
      return 0;
  }
}
