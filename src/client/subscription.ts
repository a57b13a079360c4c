// A live subscription as an async iterator of points:
//
//   const sub = client.subscribe({ metric: 'sys.cpu.user', tags: { host: '*' } });
//   for await (const point of sub) { ... }      // break (or sub.close()) unsubscribes
//
// Points are buffered between the socket and the loop, up to
// maxBufferedPoints; a consumer slower than that ends the iteration with
// TSR_ERR_SUBSCRIPTION_OVERFLOW rather than growing memory. A lost
// connection ends it with TSR_ERR_CONNECTION_LOST (points committed while
// disconnected are not replayed: subscribe again, and query the gap).
import { TsraftError } from '../errors.js';

export interface LivePoint {
  metric: string;
  tags: Record<string, string>;
  /** Unix milliseconds. */
  timestamp: number;
  value: number | bigint;
  /** Log index of the entry that committed the point. */
  index: number;
}

export class LiveSubscription implements AsyncIterableIterator<LivePoint> {
  private readonly buffer: LivePoint[] = [];
  private head = 0;
  private ended: { error: TsraftError | null } | null = null;
  private wake: (() => void) | null = null;

  constructor(
    private readonly maxBufferedPoints: number,
    private readonly unsubscribe: () => void,
  ) {}

  /** Called by the client with each pushed batch. */
  push(points: unknown[], index: number): void {
    if (this.ended !== null) return;
    if (this.buffer.length - this.head + points.length > this.maxBufferedPoints) {
      this.end(new TsraftError('TSR_ERR_SUBSCRIPTION_OVERFLOW', `more than ${this.maxBufferedPoints} points buffered: the consumer is too slow`, { details: { lastIndex: index - 1 } }));
      this.unsubscribe();
      return;
    }
    for (const raw of points) {
      const p = raw as { metric: string; tags: Record<string, string>; timestamp: number; value: number | bigint };
      this.buffer.push({ metric: p.metric, tags: p.tags, timestamp: p.timestamp, value: p.value, index });
    }
    this.wakeUp();
  }

  /** Ends the iteration: normally (null) or with an error thrown to the loop. */
  end(error: TsraftError | null): void {
    if (this.ended !== null) return;
    this.ended = { error };
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  async next(): Promise<IteratorResult<LivePoint>> {
    for (;;) {
      if (this.head < this.buffer.length) {
        const value = this.buffer[this.head++]!;
        if (this.head > 1024 && this.head * 2 > this.buffer.length) {
          this.buffer.splice(0, this.head);
          this.head = 0;
        }
        return { value, done: false };
      }
      if (this.ended !== null) {
        if (this.ended.error !== null) {
          const error = this.ended.error;
          this.ended = { error: null };
          throw error;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  async return(): Promise<IteratorResult<LivePoint>> {
    this.close();
    return { value: undefined, done: true };
  }

  /** Unsubscribes; the loop ends after the points already buffered. */
  close(): void {
    if (this.ended === null) {
      this.end(null);
      this.unsubscribe();
    }
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LivePoint> {
    return this;
  }
}
