// The follower's forwarder (src/api/leader-forwarder.ts) over injected
// connections: what a put learns when its connection goes away under it.
import { describe, expect, it } from 'vitest';
import { LeaderForwarder, type ForwardConnection } from '../../src/api/leader-forwarder.js';
import { TsraftError } from '../../src/errors.js';
import { TestClock } from './harness.js';

/** A connection whose requests wait until it is closed (then fail as the client library's do). */
class HangingConnection implements ForwardConnection {
  private readonly waiting: Array<(error: TsraftError) => void> = [];
  private readonly listeners: Array<(error: TsraftError) => void> = [];
  closed = false;

  constructor(readonly url: string) {}

  request(): Promise<unknown> {
    return new Promise((_resolve, reject) => this.waiting.push(reject));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const error = new TsraftError('TSR_ERR_CLIENT_CLOSED', `connection to ${this.url} closed by the client`, { details: { url: this.url } });
    for (const reject of this.waiting.splice(0)) reject(error);
    for (const listener of this.listeners) listener(error);
  }

  addCloseListener(listener: (error: TsraftError) => void): void {
    this.listeners.push(listener);
  }
}

const POINTS = { kind: 'objects' as const, points: [{ metric: 'm', timestamp: 1_700_000_000, value: 1, tags: { h: 'a' } }] };
const SESSION = { clientId: 'c', sequence: 1, firstUnackedSequence: 1 };

describe('the leader forwarder', () => {
  it('answers a put whose connection it closed for a newer leader with a retryable TSR_ERR_CONNECTION_LOST (outcome unknown)', async () => {
    const opened: HangingConnection[] = [];
    const forwarder = new LeaderForwarder({
      clock: new TestClock(),
      connectTimeoutMs: 1_000,
      maxInFlight: 8,
      openConnection: async (url) => {
        const conn = new HangingConnection(url);
        opened.push(conn);
        return conn;
      },
    });
    const first = forwarder.put('http://127.0.0.1:1', POINTS, SESSION, 60_000);
    // Four more leaders: the oldest connection makes room and closes.
    const later = [2, 3, 4, 5].map((n) => forwarder.put(`http://127.0.0.1:${n}`, POINTS, SESSION, 60_000));
    for (const p of later) p.catch(() => undefined);
    await expect(first).rejects.toMatchObject({ code: 'TSR_ERR_CONNECTION_LOST', retryable: true });
    expect(opened[0]!.closed).toBe(true);
    forwarder.close();
    for (const p of later) await expect(p).rejects.toMatchObject({ code: 'TSR_ERR_CONNECTION_LOST' });
  });
});
