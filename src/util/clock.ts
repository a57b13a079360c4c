// Time, injected. The real clock wraps Date/setTimeout; the simulator's clock
// is virtual. Nothing outside this file (and the simulator) reads the wall clock
// directly in code that the simulator drives.

export interface Clock {
  /** Milliseconds since the Unix epoch (virtual in the simulator). */
  nowMs(): number;
  /** Run `fn` after `delayMs`; returns a cancel function. */
  setTimer(delayMs: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(delayMs, fn) {
    const handle = setTimeout(fn, delayMs);
    return () => clearTimeout(handle);
  },
};
