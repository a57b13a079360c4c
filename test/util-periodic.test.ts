import { describe, expect, it } from 'vitest';
import { PeriodicTask } from '../src/util/periodic.js';
import type { Clock } from '../src/util/clock.js';

class ManualClock implements Clock {
  timers: Array<{ at: number; fn: () => void }> = [];
  now = 0;
  nowMs(): number {
    return this.now;
  }
  setTimer(delayMs: number, fn: () => void): () => void {
    const t = { at: this.now + delayMs, fn };
    this.timers.push(t);
    return () => (this.timers = this.timers.filter((x) => x !== t));
  }
  async advance(ms: number): Promise<void> {
    this.now += ms;
    const due = this.timers.filter((t) => t.at <= this.now);
    this.timers = this.timers.filter((t) => t.at > this.now);
    for (const t of due) t.fn();
    await new Promise((r) => setImmediate(r));
  }
}

describe('PeriodicTask', () => {
  it('runs once per interval and never overlaps a slow run', async () => {
    const clock = new ManualClock();
    let runs = 0;
    let release: () => void = () => {};
    const task = new PeriodicTask(clock, 100, () => {
      runs++;
      return new Promise<void>((r) => (release = r));
    });
    task.start();
    await clock.advance(100);
    expect(runs).toBe(1);
    await clock.advance(500); // still running: nothing else is scheduled
    expect(runs).toBe(1);
    expect(clock.timers).toHaveLength(0);
    release();
    await new Promise((r) => setImmediate(r));
    await clock.advance(100);
    expect(runs).toBe(2);
    const stopping = task.stop();
    release();
    await stopping;
    await clock.advance(1000);
    expect(runs).toBe(2);
  });

  it('refuses a second start and a bad interval', () => {
    const clock = new ManualClock();
    const task = new PeriodicTask(clock, 10, async () => {});
    task.start();
    expect(() => task.start()).toThrow(/already started/);
    expect(() => new PeriodicTask(clock, 0, async () => {})).toThrow(/intervalMs/);
  });
});
